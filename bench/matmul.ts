// `kiln bench matmul`: GFLOP/s of Kiln's matmul on each device, beside onnxruntime-node's MatMul on
// the CPU measured in the same run on the same inputs. Every row is validated before it is timed.
import * as kiln from '../src/index.js';
import { backend } from '../src/backends/index.js';
import { loadCublasLt } from '../src/backends/cublas.js';
import { runOp } from '../src/ops/run.js';
import { loadOrt, matmulModel } from './ort-peer.js';
import { measure } from './timing.js';

export interface MatmulCase {
  name: string;
  batch: number;
  m: number;
  k: number;
  n: number;
}

export const QUICK_CASES: MatmulCase[] = [
  ...[256, 512, 1024, 2048].map((s) => ({ name: `${s}^3`, batch: 1, m: s, k: s, n: s })),
  { name: '1x768x3072', batch: 1, m: 1, k: 768, n: 3072 },
  { name: '128x768x768', batch: 1, m: 128, k: 768, n: 768 },
  { name: '12x(128x64@64x128)', batch: 12, m: 128, k: 64, n: 128 },
];

/** The GPU targets' sizes (issue 3): selectable with --case, not in the default run. */
export const LARGE_CASES: MatmulCase[] = [4096, 8192].map((s) => ({ name: `${s}^3`, batch: 1, m: s, k: s, n: s }));

export interface MatmulRow {
  case: string;
  device: string;
  dtype: kiln.DType;
  gflops: number;
  ms: number;
  /** Max |kiln - peer| / max |peer| (or vs the float32 result for other dtypes). */
  maxRelError: number;
  peer?: string;
  peerGflops?: number;
  /** kiln / peer */
  ratio?: number;
  /** The device's measured float32 FMA ceiling (GFLOP/s), where the backend can measure it. */
  peakGflops?: number;
  /** 'nk' when B was the transposed view of a row-major [N, K] (--b-layout nk). */
  bLayout?: 'nk';
}

/** The device's measured FMA ceiling in GFLOP/s (the PeakFlops op), or undefined if it has none. */
export async function measurePeak(device: string): Promise<number | undefined> {
  const be = backend(device.split(':')[0] as kiln.BackendKind);
  if (!be?.supports('PeakFlops', ['float32'])) return undefined;
  let best = 0;
  for (let i = 0; i < 3; ++i) {
    const [t] = runOp('PeakFlops', [], [{ shape: [1], dtype: 'float32' }], { iters: 5_000_000 }, device);
    best = Math.max(best, (await t.item()) as number);
    t.dispose();
  }
  return best;
}

export interface MatmulBenchOptions {
  devices?: string[];
  dtypes?: kiln.DType[];
  cases?: MatmulCase[];
  budgetMs?: number;
  /** float32 on cuda: 'high' lets Kiln (and the cuBLASLt peer) use tf32 tensor cores. */
  precision?: 'highest' | 'high';
  /** Force one of Kiln's kernels on cuda ('simt', 'mma', 'wgmma'); default 'auto'. */
  impl?: kiln.MatmulOptions['impl'];
  /** B's memory layout: 'kn' (default) a row-major [K, N]; 'nk' the transposed view of a row-major
   * [N, K] (a Linear layer's weight), which kernels that want K-contiguous operands read in place. */
  bLayout?: 'kn' | 'nk';
  log?: (line: string) => void;
}

const flops = (c: MatmulCase) => 2 * c.batch * c.m * c.n * c.k;

function shapes(c: MatmulCase) {
  const lead = c.batch > 1 ? [c.batch] : [];
  return { a: [...lead, c.m, c.k], b: [...lead, c.k, c.n], bT: [...lead, c.n, c.k], y: [...lead, c.m, c.n] };
}

/** Max |got - want| / max |want| (Infinity when anything is not finite). */
export function maxRelError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < want.length; ++i) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return Number.isFinite(diff) ? diff / (scale || 1) : Infinity;
}

/** Times `reps` back-to-back matmuls with the device's own timer. */
async function timeKiln(a: kiln.Tensor, b: kiln.Tensor, device: string, budgetMs: number, options: kiln.MatmulOptions = {}) {
  const be = a.backendFor('bench');
  const index = Number(device.split(':')[1] ?? 0);
  return measure(async (reps) => {
    const timer = be.timer!(index);
    const outs: kiln.Tensor[] = [];
    timer.start();
    for (let r = 0; r < reps; ++r) outs.push(kiln.matmul(a, b, options));
    const ms = await timer.stop();
    outs.forEach((o) => o.dispose());
    return ms;
  }, { budgetMs });
}

export async function benchMatmul(o: MatmulBenchOptions = {}): Promise<MatmulRow[]> {
  const log = o.log ?? (() => {});
  const devices = o.devices ?? kiln.devices().map((d) => d.id);
  const dtypes = o.dtypes ?? ['float32'];
  const cases = o.cases ?? QUICK_CASES;
  const budgetMs = o.budgetMs ?? 1500;
  const { ort, reason } = loadOrt();
  if (!ort) log(`peer: ${reason}`);
  const rows: MatmulRow[] = [];
  const peaks = new Map<string, number | undefined>();
  for (const d of devices) {
    peaks.set(d, await measurePeak(d));
    log(`${d}: measured FMA peak ${peaks.get(d)?.toFixed(1) ?? '?'} GFLOP/s`);
  }

  for (const c of cases) {
    const s = shapes(c);
    const seed = 1234;
    const nk = o.bLayout === 'nk';
    // B [K, N]: random values drawn in B's memory order, so 'nk' draws [N, K] and views it transposed
    const randB = (device?: string, dtype: kiln.DType = 'float32') => {
      const r = kiln.rand(nk ? s.bT : s.b, { seed: seed + 1, low: -1, high: 1, device }).cast(dtype);
      return nk ? r.transpose() : r;
    };
    const a32 = kiln.rand(s.a, { seed, low: -1, high: 1 });
    const b32 = randB();
    const [aData, bData] = [(await a32.data()) as Float32Array, (await b32.data()) as Float32Array];
    let reference: Float32Array | undefined; // Kiln's CPU float32 product, computed once per case when a row needs it

    // The peer: ORT on the same inputs, timed as wall time per session.run.
    let peerGflops: number | undefined;
    let peerOut: Float32Array | undefined;
    if (ort && devices.some((d) => !d.startsWith('cuda'))) { // the CPU peer, when a CPU row needs it
      const session = await ort.InferenceSession.create(matmulModel(s.a, s.b, s.y), { intraOpNumThreads: kiln.info().backends.cpu.devices[0]?.details.threads as number | undefined });
      const feeds = { A: new ort.Tensor('float32', aData, s.a), B: new ort.Tensor('float32', bData, s.b) };
      peerOut = (await session.run(feeds)).Y.data as Float32Array;
      const t = await measure(async (reps) => {
        const t0 = performance.now();
        for (let r = 0; r < reps; ++r) await session.run(feeds);
        return performance.now() - t0;
      }, { budgetMs });
      peerGflops = flops(c) / t.median / 1e6;
      await session.release();
    }

    for (const device of devices) {
      for (const dtype of dtypes) {
        await kiln.scope(async () => {
          // the same Philox numbers on every device for a seed: no transfer needed
          const a = kiln.rand(s.a, { seed, low: -1, high: 1, device }).cast(dtype);
          const b = randB(device, dtype);
          const options: kiln.MatmulOptions = {
            ...(o.precision ? { precision: o.precision } : {}),
            ...(o.impl && device.startsWith('cuda') ? { impl: o.impl } : {}),
          };
          const y = kiln.matmul(a, b, options);
          const got = (await y.data()) as Float32Array;
          // Validate before timing: float32 against ORT; other dtypes against Kiln's float32 result.
          const want: ArrayLike<number> = dtype === 'float32' && peerOut ? peerOut : (reference ??= (await kiln.matmul(a32, b32).data()) as Float32Array);
          const err = maxRelError(got, want);
          const tol = dtype === 'float32' && o.precision !== 'high' ? 1e-4 : 2e-2;
          if (!(err <= tol)) throw new kiln.KilnError('E_NATIVE', `bench matmul ${c.name} ${dtype} on ${device}: result differs from the reference (max rel error ${err.toExponential(2)})`);
          const t = await timeKiln(a, b, device, budgetMs, options);
          const gflops = flops(c) / t.median / 1e6;
          // On cuda the peer is cuBLASLt on the same device, inputs and precision, validated like Kiln.
          let peer: Pick<MatmulRow, 'peer' | 'peerGflops' | 'ratio'> = {};
          const cublas = device.startsWith('cuda') && dtype !== 'int32' && dtype !== 'int64' ? tryCublas(log) : false;
          if (cublas) {
            const pg = (await kiln.matmul(a, b, { ...options, impl: 'cublas' }).data()) as Float32Array;
            if (!(maxRelError(pg, want) <= tol)) throw new kiln.KilnError('E_NATIVE', `bench matmul ${c.name} ${dtype}: cuBLASLt's result differs from the reference`);
            const pt = await timeKiln(a, b, device, budgetMs, { ...options, impl: 'cublas' });
            const pgf = flops(c) / pt.median / 1e6;
            peer = { peer: 'cuBLASLt', peerGflops: pgf, ratio: gflops / pgf };
          } else if (dtype === 'float32' && peerGflops !== undefined && !device.startsWith('cuda')) {
            peer = { peer: 'onnxruntime-node cpu', peerGflops, ratio: gflops / peerGflops };
          }
          const row: MatmulRow = { case: c.name, device, dtype, gflops, ms: t.median, maxRelError: err, peakGflops: peaks.get(device), ...(nk ? { bLayout: 'nk' as const } : {}), ...peer };
          rows.push(row);
          log(formatRow(row));
        });
      }
    }
    a32.dispose();
    b32.dispose();
  }
  return rows;
}

/** cuBLASLt as the cuda peer, or false (said once) when it cannot be loaded. */
let cublasState: boolean | undefined;
function tryCublas(log: (line: string) => void): boolean {
  if (cublasState === undefined) {
    try {
      log(`cuda peer: cuBLASLt ${loadCublasLt().path}`);
      cublasState = true;
    } catch (e) {
      log(`cuda peer: none (${(e as Error).message.split('\n')[0]})`);
      cublasState = false;
    }
  }
  return cublasState;
}

const HEADER = ['case', 'device', 'dtype', 'kiln GFLOP/s', '% of peak', 'ms', 'peer GFLOP/s', 'kiln/peer', 'max rel err'];

function cells(r: MatmulRow): string[] {
  const pct = r.peakGflops ? `${((100 * r.gflops) / r.peakGflops).toFixed(0)}%` : '-';
  return [r.case, r.device, r.dtype, r.gflops.toFixed(1), pct, r.ms.toFixed(3), r.peerGflops?.toFixed(1) ?? '-', r.ratio ? `${r.ratio.toFixed(2)}x` : '-', r.maxRelError.toExponential(1)];
}

export function formatRow(r: MatmulRow): string {
  return cells(r).join('  ');
}

/** A Markdown table (the README embeds this output). */
export function formatTable(rows: MatmulRow[]): string {
  const lines = [HEADER, HEADER.map(() => '---'), ...rows.map(cells)];
  return lines.map((l) => `| ${l.join(' | ')} |`).join('\n');
}
