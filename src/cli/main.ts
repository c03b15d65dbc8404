#!/usr/bin/env node
// The `kiln` command: info, bench, launch.
import { initBackends } from '../backends/index.js';
import { KilnError } from '../errors.js';
import { benchCommand } from './bench.js';
import { infoCommand } from './info.js';
import { LAUNCH_USAGE, launchCommand } from './launch.js';

const USAGE = `usage: kiln <command> [options]

commands:
  info [--json]                        devices found, why a backend is absent, build and library versions
  bench [suite] [--device D[,D]] [--dtype T[,T]] [--case NAME[,NAME]] [--budget-ms MS] [--json]
                                       run a benchmark suite (default: the quick suite = matmul)
                                       suites: matmul, inference, collectives
                                       matmul also: [--precision highest|high] [--impl simt|mma|wgmma|cublas] [--b-layout kn|nk]
  bench collectives [--nproc N] [--backend cpu|nccl] [--dtype T] [--op sum] [--ops a,b] [--min-bytes B] [--max-bytes B] [--json]
                                       nccl-tests style table per collective (starts N cpu ranks unless under kiln launch)
  ${LAUNCH_USAGE}
                                       run script.js as N ranks of a distributed job (torchrun's variables)
  bench inference [model.onnx ...] [--model mlp,cnn,transformer,small-mlp,lstm] [--device D[,D]] [--budget-ms MS] [--json]
                                       ONNX latency (p50, p99) and throughput per engine and device,
                                       beside onnxruntime-node on the CPU
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // `kiln bench matmul --help`: a command's own help is the usage (launch's only before its script,
  // whose arguments are the script's)
  const help = (a: string | undefined) => a === '--help' || a === '-h';
  if (cmd === 'launch' ? help(rest[0]) : (cmd === 'info' || cmd === 'bench') && rest.some(help)) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd === 'info' || cmd === 'bench') await initBackends(); // WebGPU finds its adapters asynchronously
  switch (cmd) {
    case 'info':
      return infoCommand(rest);
    case 'bench':
      return benchCommand(rest);
    case 'launch':
      return launchCommand(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 1 : 0;
    default:
      process.stderr.write(`kiln: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const msg = e instanceof KilnError ? `${e.code}: ${e.message}` : e instanceof Error ? e.stack ?? e.message : String(e);
    process.stderr.write(`kiln: ${msg}\n`);
    process.exit(1);
  },
);
