import { LARGE_CASES, QUICK_CASES, benchMatmul, formatTable } from '../../bench/matmul.js';
import { checkDType, type DType } from '../dtype.js';
import { fail } from '../errors.js';
import { info } from '../info.js';
import { parseArgs } from './args.js';
import { benchCollectivesCommand } from './bench-collectives.js';
import { inferenceCommand } from './bench-inference.js';

const SUITES = ['matmul', 'inference'] as const;

export async function benchCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'collectives') return benchCollectivesCommand(argv.slice(1)); // its own options (ranks, sizes)
  const { flags, positional } = parseArgs(argv, ['json'], ['device', 'dtype', 'budget-ms', 'case', 'model', 'precision', 'impl', 'b-layout']);
  const suite = positional[0] ?? 'matmul';
  if (!SUITES.includes(suite as (typeof SUITES)[number])) fail('E_ARGUMENT', `unknown bench suite '${suite}'; suites: ${[...SUITES, 'collectives'].join(', ')}`);
  if (suite === 'inference') return inferenceCommand(flags, positional.slice(1));
  let devices = flags.device ? String(flags.device).split(',') : undefined;
  // an accelerator is shown beside Kiln's CPU backend, measured in the same run
  if (devices && !devices.includes('cpu') && devices.some((d) => d.startsWith('webgpu'))) devices = ['cpu', ...devices];
  const dtypes = flags.dtype ? String(flags.dtype).split(',').map((d) => checkDType(d, '--dtype') as DType) : undefined;
  const budgetMs = flags['budget-ms'] ? Number(flags['budget-ms']) : undefined;
  const json = !!flags.json;
  const precision = flags.precision ? String(flags.precision) : undefined;
  if (precision !== undefined && precision !== 'highest' && precision !== 'high') fail('E_ARGUMENT', `--precision: expected 'highest' or 'high', got '${precision}'`);
  const bLayout = flags['b-layout'] ? String(flags['b-layout']) : undefined;
  if (bLayout !== undefined && bLayout !== 'kn' && bLayout !== 'nk') fail('E_ARGUMENT', `--b-layout: expected 'kn' (B a row-major [K, N]) or 'nk' (B the transposed view of a row-major [N, K]), got '${bLayout}'`);
  let cases = QUICK_CASES;
  if (flags.case) {
    const names = String(flags.case).split(',');
    cases = [...QUICK_CASES, ...LARGE_CASES].filter((c) => names.includes(c.name));
    if (cases.length !== names.length) fail('E_ARGUMENT', `--case: unknown case in '${flags.case}'; cases: ${[...QUICK_CASES, ...LARGE_CASES].map((c) => c.name).join(', ')}`);
  }
  const host = info();
  const log = json ? undefined : (l: string) => process.stderr.write(`  ${l}\n`);
  if (!json) {
    const devs = Object.values(host.backends).flatMap((b) => b.devices.map((d) => `${d.id} (${d.name})`));
    process.stdout.write(`kiln bench ${suite}: ${devs.join(', ')}\n`);
    for (const [k, b] of Object.entries(host.backends)) if (!b.available) process.stdout.write(`  ${k} absent: ${b.reason}\n`);
  }
  const impl = flags.impl ? (String(flags.impl) as 'simt' | 'mma' | 'wgmma' | 'cublas') : undefined;
  const rows = await benchMatmul({ devices, dtypes, budgetMs, log, cases, precision: precision as 'highest' | 'high' | undefined, impl, bLayout: bLayout as 'kn' | 'nk' | undefined });
  if (json) process.stdout.write(JSON.stringify({ suite, host: { version: host.version, node: host.node, devices: host.backends }, rows }, null, 2) + '\n');
  else process.stdout.write(formatTable(rows) + '\n');
  return 0;
}
