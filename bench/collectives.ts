// `kiln bench collectives`: the nccl-tests table for each collective of a process group, over sizes
// from 8 B up in powers of two. Each size is validated first (rank r contributes the value r + 1,
// so every expected element is a small exact integer), then timed; a row's time is the slowest
// rank's mean. algbw = size / time; busbw applies nccl-tests' factor for the op, so it is comparable
// to the link's bandwidth whatever the world size.
import { createServer, connect } from 'node:net';
import * as kiln from '../src/index.js';
import type { ProcessGroup, ReduceOp } from '../src/distributed/index.js';
import { itemSize } from '../src/dtype.js';

export const COLLECTIVES = ['allReduce', 'broadcast', 'reduce', 'allGather', 'reduceScatter', 'allToAll', 'sendRecv'] as const;
export type Collective = (typeof COLLECTIVES)[number];

/** nccl-tests' bus bandwidth factors (doc/PERFORMANCE.md there). */
export function busFactor(op: Collective, n: number): number {
  if (op === 'allReduce') return (2 * (n - 1)) / n;
  if (op === 'allGather' || op === 'reduceScatter' || op === 'allToAll') return (n - 1) / n;
  return 1;
}

export interface CollectiveRow {
  op: Collective;
  /** Bytes, nccl-tests style: the whole gathered/scattered buffer for allGather, reduceScatter, allToAll. */
  size: number;
  count: number;
  dtype: kiln.DType;
  redop: ReduceOp | 'none';
  worldSize: number;
  backend: string;
  timeUs: number;
  algbw: number;
  busbw: number;
  wrong: number;
}

export interface CollectiveBenchOptions {
  ops?: readonly Collective[];
  dtype?: kiln.DType;
  redop?: ReduceOp;
  minBytes?: number;
  maxBytes: number;
  device?: string;
  log?: (line: string) => void;
}

/**
 * Back-to-back iterations of one size, the same count on every rank (ranks must agree): about 64 MiB
 * moved, from 3 (large sizes) to 500 (latency-bound sizes, whose few-microsecond times need many).
 */
const itersFor = (bytes: number) => Math.max(3, Math.min(500, Math.floor((64 << 20) / Math.max(bytes, 1))));
/** Untimed iterations first (as nccl-tests' -w), so that no size is timed cold (JIT, first-touch buffers). */
const warmupFor = (iters: number) => Math.max(1, Math.ceil(iters / 2));
/** Extra untimed calls at an op's first size: until then small sizes measured 2-4x their steady time. */
const FIRST_SIZE_WARMUP = 3000;

async function wrongCount(t: kiln.Tensor, expected: (i: number) => number, tol: number): Promise<number> {
  const v = await t.data();
  let wrong = 0;
  for (let i = 0; i < v.length; ++i) {
    const e = expected(i);
    if (!(Math.abs(Number(v[i]) - e) <= tol * Math.abs(e))) wrong++;
  }
  return wrong;
}

/** Runs every op at every size on this rank; every rank of pg must call it with the same options. */
export async function benchCollectives(pg: ProcessGroup, o: CollectiveBenchOptions): Promise<CollectiveRow[]> {
  const W = pg.worldSize, me = pg.rank, dtype = o.dtype ?? 'float32', redop = o.redop ?? 'sum', device = o.device ?? 'cpu';
  const isz = itemSize(dtype);
  const tol = dtype === 'float16' || dtype === 'bfloat16' ? 1e-2 : 0;
  const rows: CollectiveRow[] = [];
  const mine = me + 1, total = (W * (W + 1)) / 2;
  const reduced = () => (redop === 'sum' ? total : redop === 'avg' ? total / W : redop === 'max' ? W : redop === 'min' ? 1 : Array.from({ length: W }, (_, r) => r + 1).reduce((a, b) => a * b, 1));
  for (const op of o.ops ?? COLLECTIVES) {
    if (op === 'sendRecv' && W < 2) continue;
    for (let target = Math.max(o.minBytes ?? 8, isz); target <= o.maxBytes; target *= 2) {
      const blocks = op === 'allGather' || op === 'reduceScatter' || op === 'allToAll';
      // like nccl-tests, a buffer split into blocks rounds down to a whole number of them
      const count = blocks ? Math.floor(target / isz / W) * W : Math.floor(target / isz);
      const size = count * isz;
      if (count === 0) continue;
      const per = blocks ? count / W : count;
      const shape = op === 'allGather' ? [per] : [count];
      const input = kiln.full(shape, mine, { dtype, device });
      // allToAll: block j of rank r holds 10 (r + 1) + j + 1, so block r of the result tells who sent it
      const a2a = op === 'allToAll' ? kiln.tensor(Float32Array.from({ length: count }, (_, i) => 10 * mine + Math.floor(i / per) + 1), { dtype, device }) : undefined;
      const next = (me + 1) % W, prev = (me + W - 1) % W;
      const runOnce = async (): Promise<kiln.Tensor | undefined> => {
        switch (op) {
          case 'allReduce': return pg.allReduce(input, { op: redop });
          case 'broadcast': return pg.broadcast(input, { root: 0 });
          case 'reduce': return pg.reduce(input, { root: 0, op: redop });
          case 'allGather': return pg.allGather(input);
          case 'reduceScatter': return pg.reduceScatter(input, { op: redop });
          case 'allToAll': return pg.allToAll(a2a!);
          case 'sendRecv': {
            await Promise.all([pg.send(input, next), pg.recv(input, prev)]);
            return input;
          }
        }
      };
      // validate on a fresh input (in-place ops change it)
      const out = await runOnce();
      let wrong = 0;
      if (out) {
        const expect = (i: number): number => {
          switch (op) {
            case 'allReduce': return reduced();
            case 'broadcast': return 1;
            case 'reduce': return me === 0 ? reduced() : mine;
            case 'allGather': return Math.floor(i / per) + 1;
            case 'reduceScatter': return reduced();
            case 'allToAll': return 10 * (Math.floor(i / per) + 1) + me + 1;
            case 'sendRecv': return prev + 1;
          }
        };
        wrong = await wrongCount(out, (i) => (redop === 'avg' ? Math.fround(expect(i)) : expect(i)), tol);
        if (out !== input && out !== a2a) out.dispose();
      }
      const iters = itersFor(size);
      const timed = async (n: number) => {
        for (let i = 0; i < n; ++i) {
          const r = await runOnce();
          if (r && r !== input && r !== a2a) r.dispose();
        }
      };
      // the first size of an op also warms the op's whole path (the JIT takes a few thousand calls)
      await timed(warmupFor(iters) + (target === Math.max(o.minBytes ?? 8, isz) ? FIRST_SIZE_WARMUP : 0));
      await pg.barrier();
      const t0 = performance.now();
      await timed(iters);
      const mine_us = ((performance.now() - t0) * 1000) / iters;
      const slowest = kiln.tensor([mine_us], { device }); // the group's own device: NCCL takes CUDA tensors only
      await pg.allReduce(slowest, { op: 'max' });
      const timeUs = (await slowest.item()) as number;
      const wrongAll = kiln.tensor([wrong], { device });
      await pg.allReduce(wrongAll, { op: 'sum' });
      const algbw = size / (timeUs * 1e-6) / 1e9;
      const row: CollectiveRow = {
        op,
        size,
        count,
        dtype,
        redop: op === 'allReduce' || op === 'reduce' || op === 'reduceScatter' ? redop : 'none',
        worldSize: W,
        backend: pg.backend,
        timeUs,
        algbw,
        busbw: algbw * busFactor(op, W),
        wrong: (await wrongAll.item()) as number,
      };
      rows.push(row);
      o.log?.(formatRow(row));
      for (const t of [input, a2a, slowest, wrongAll]) t?.dispose();
    }
  }
  return rows;
}

/**
 * The ceiling for the CPU backend between ranks on one host, whose links are shared-memory rings:
 * one core copying warm memory (the best of several 64 MiB copies), measured in the same run. Every
 * byte a collective moves is copied at least twice (into a ring, out of it), so busbw stays below it.
 */
export function memcpyGBps(bytes = 64 << 20): number {
  const src = Buffer.alloc(bytes, 1), dst = Buffer.alloc(bytes);
  let best = Infinity;
  for (let i = 0; i < 6; ++i) {
    const t0 = performance.now();
    src.copy(dst);
    best = Math.min(best, performance.now() - t0);
  }
  return bytes / (best * 1e6);
}

/**
 * The peer figure for the CPU backend across hosts (or with KILN_SHM_BYTES=0): a raw TCP stream over
 * loopback (one socket pair, bytes copied into a preallocated buffer as they arrive, as the CPU
 * backend does), measured on this host in the same run. Links that are TCP are such streams.
 */
export async function tcpLoopbackGBps(bytes = 64 << 20): Promise<number> {
  const payload = Buffer.alloc(bytes, 1);
  const sink = Buffer.allocUnsafe(bytes);
  return new Promise((resolve, reject) => {
    const server = createServer((s) => {
      let got = 0;
      const t0 = performance.now();
      s.on('data', (c: Buffer) => {
        c.copy(sink, got);
        got += c.length;
        if (got >= bytes) {
          resolve(bytes / ((performance.now() - t0) * 1e6));
          s.destroy();
          server.close();
        }
      });
    });
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const c = connect((server.address() as { port: number }).port, '127.0.0.1', () => c.end(payload));
      c.on('error', () => undefined);
    });
  });
}

const HEADER = `${'op'.padEnd(14)}${'size (B)'.padStart(12)}${'count'.padStart(12)}${'type'.padStart(10)}${'redop'.padStart(7)}${'time (us)'.padStart(12)}${'algbw GB/s'.padStart(12)}${'busbw GB/s'.padStart(12)}${'#wrong'.padStart(8)}`;

export function formatRow(r: CollectiveRow): string {
  return `${r.op.padEnd(14)}${String(r.size).padStart(12)}${String(r.count).padStart(12)}${r.dtype.padStart(10)}${r.redop.padStart(7)}${r.timeUs.toFixed(1).padStart(12)}${r.algbw.toFixed(3).padStart(12)}${r.busbw.toFixed(3).padStart(12)}${String(r.wrong).padStart(8)}`;
}

export function formatCollectives(rows: readonly CollectiveRow[]): string {
  return [HEADER, ...rows.map(formatRow)].join('\n');
}
