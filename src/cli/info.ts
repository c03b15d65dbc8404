import { info } from '../info.js';
import { parseArgs } from './args.js';

export function infoCommand(argv: string[]): number {
  const { flags } = parseArgs(argv, ['json'], []);
  const i = info();
  if (flags.json) {
    process.stdout.write(JSON.stringify(i, null, 2) + '\n');
    return 0;
  }
  const out: string[] = [];
  out.push(`kiln ${i.version} on node ${i.node} (${i.platform})`);
  out.push(i.native.loaded
    ? `native addon: ${i.native.builder} build, ${i.native.compiler}, N-API ${i.native.napiVersion}, CUDA ${i.native.cudaCompiled ? `compiled (runtime ${i.native.cudaRuntime})` : 'not compiled'}\n  ${i.native.path}`
    : 'native addon: not loaded');
  for (const [kind, b] of Object.entries(i.backends)) {
    if (b.available) {
      for (const d of b.devices) {
        const memory = d.memory !== undefined ? [`memory=${(d.memory / 2 ** 30).toFixed(1)}GiB`] : [];
        const details = [...memory, ...Object.entries(d.details).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`)].join(' ');
        out.push(`${d.id.padEnd(10)} ${d.name}${details ? `  (${details})` : ''}`);
      }
    } else out.push(`${kind.padEnd(10)} absent: ${b.reason}`);
  }
  out.push('libraries: ' + Object.entries(i.libraries).map(([k, v]) => `${k} ${v ?? 'absent'}`).join(', '));
  const mode = !i.nccl.nonblocking
    ? 'blocking communicators: Kiln uses nonblocking ones from NCCL 2.27'
    : process.env.NCCL_COMM_BLOCKING === '1'
      ? 'blocking communicators: NCCL_COMM_BLOCKING=1'
      : 'nonblocking communicators';
  out.push(i.nccl.version ? `nccl ${i.nccl.version} (${i.nccl.path}; ${mode})` : `nccl absent: ${i.nccl.reason}`);
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
