// `kiln bench collectives`: run as one rank when started by a launcher (WORLD_SIZE is set), else
// start --nproc ranks of itself on this host (the cpu backend) and print rank 0's table.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { freemem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { COLLECTIVES, benchCollectives, formatCollectives, memcpyGBps, tcpLoopbackGBps, type Collective } from '../../bench/collectives.js';
import { init } from '../distributed/init.js';
import { checkReduce } from '../distributed/reduce-ops.js';
import { checkDType } from '../dtype.js';
import { fail } from '../errors.js';
import { info } from '../info.js';
import { parseArgs } from './args.js';
import { freePort, rankEnv } from './launch.js';

const VALUES = ['nproc', 'backend', 'dtype', 'op', 'ops', 'min-bytes', 'max-bytes', 'timeout-ms'];

/** The largest power of two up to `want` for which every rank's buffers (about 6 copies of a size) fit in free memory. */
export function maxBytesFor(want: number, nproc: number, memory = freemem()): number {
  const cap = Math.max(8, memory / (6 * nproc));
  return 2 ** Math.floor(Math.log2(Math.min(want, cap)));
}

export async function benchCollectivesCommand(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, ['json'], VALUES);
  const num = (name: string, dflt: number) => {
    const v = flags[name] === undefined ? dflt : Number(flags[name]);
    if (!Number.isSafeInteger(v) || v < 1) fail('E_ARGUMENT', `bench collectives: --${name} must be a positive integer, got '${flags[name]}'`);
    return v;
  };
  const dtype = checkDType(flags.dtype ?? 'float32', '--dtype');
  const redop = checkReduce('bench collectives --op', flags.op ?? 'sum', dtype);
  const ops = flags.ops ? String(flags.ops).split(',') : [...COLLECTIVES];
  for (const op of ops) if (!COLLECTIVES.includes(op as Collective)) fail('E_ARGUMENT', `bench collectives: unknown op '${op}'; ops: ${COLLECTIVES.join(', ')}`);
  const backend = String(flags.backend ?? 'cpu');
  if (backend !== 'cpu' && backend !== 'nccl') fail('E_ARGUMENT', `bench collectives: --backend must be cpu or nccl, got '${backend}'`);
  const nproc = num('nproc', 2);

  if (process.env.WORLD_SIZE === undefined) {
    // not under a launcher: start the ranks here; rank 0 prints, the others only report errors
    const self = fileURLToPath(new URL('./main.js', import.meta.url));
    const token = randomBytes(16).toString('hex');
    const plan = { nprocPerNode: nproc, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 0, graceMs: 0, script: self, args: [] };
    const port = await freePort(plan.masterAddr);
    const codes = await Promise.all(
      Array.from({ length: nproc }, (_, r) => {
        const env = { ...process.env, ...rankEnv(plan, r, port, token) };
        const child = spawn(process.execPath, [self, 'bench', 'collectives', ...argv], { env, stdio: ['ignore', r === 0 ? 'inherit' : 'ignore', 'inherit'] });
        return new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
      }),
    );
    return codes.find((c) => c !== 0) ?? 0;
  }

  const pg = await init({ backend, timeoutMs: num('timeout-ms', 600_000) });
  const worldSize = pg.worldSize;
  const maxBytes = maxBytesFor(num('max-bytes', 2 ** 30), Number(process.env.LOCAL_WORLD_SIZE ?? worldSize));
  const json = !!flags.json;
  const lead = pg.rank === 0;
  // the references (cpu backend only), measured by rank 0 while the others wait: a raw TCP loopback
  // stream (the peer of TCP links) and one core's memcpy (the ceiling of shared-memory links)
  const links = pg.links?.() ?? [];
  const peer = backend === 'cpu' && lead ? { name: 'tcp-loopback', gbps: await tcpLoopbackGBps() } : undefined;
  const ceiling = backend === 'cpu' && lead ? { name: 'memcpy', gbps: memcpyGBps() } : undefined;
  await pg.barrier();
  if (lead && !json) {
    process.stdout.write(`kiln bench collectives: ${worldSize} ranks, ${backend} backend, ${dtype}, sizes ${num('min-bytes', 8)} B .. ${maxBytes} B\n`);
    if (links.length) process.stdout.write(`rank 0's links: ${links.map((l) => `${l.rank}:${l.transport}`).join(' ')}${links.some((l) => l.reason) ? ` (tcp: ${links.find((l) => l.reason)!.reason})` : ''}\n`);
    if (peer) process.stdout.write(`peer: a raw TCP loopback stream on this host, same run: ${peer.gbps.toFixed(3)} GB/s\n`);
    if (ceiling) process.stdout.write(`ceiling: one core's warm memcpy on this host, same run: ${ceiling.gbps.toFixed(3)} GB/s\n`);
  }
  const rows = await benchCollectives(pg, {
    ops: ops as Collective[],
    dtype,
    redop,
    minBytes: num('min-bytes', 8),
    maxBytes,
    device: backend === 'nccl' ? `cuda:${process.env.LOCAL_RANK ?? 0}` : 'cpu',
    log: lead && !json ? (l) => process.stderr.write(`  ${l}\n`) : undefined,
  });
  await pg.barrier();
  await pg.destroy();
  if (lead) {
    if (json) {
      const host = info();
      process.stdout.write(JSON.stringify({ suite: 'collectives', host: { version: host.version, node: host.node, nccl: host.nccl }, worldSize, backend, links, peer, ceiling, rows }, null, 2) + '\n');
    } else {
      process.stdout.write(formatCollectives(rows) + '\n');
      const big = rows.filter((r) => r.size === Math.max(...rows.map((x) => x.size)));
      for (const r of big) {
        if (peer) process.stdout.write(`${r.op} at ${r.size} B: busbw ${(r.busbw / peer.gbps).toFixed(2)}x the TCP loopback peer`);
        if (ceiling) process.stdout.write(`, ${(r.busbw / ceiling.gbps).toFixed(2)}x the memcpy ceiling\n`);
      }
    }
  }
  return rows.some((r) => r.wrong > 0) ? 1 : 0;
}
