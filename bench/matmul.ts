// `kiln bench matmul`: GFLOP/s of Kiln's matmul on each device, beside onnxruntime-node's MatMul on
// the CPU measured in the same run on the same inputs. Every row is validated before it is timed.
import * as kiln from '../src/index.js';
import { backend } from '../src/backends/index.js';
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
  log?: (line: string) => void;
}

const flops = (c: MatmulCase) => 2 * c.batch * c.m * c.n * c.k;

function shapes(c: MatmulCase) {
  const lead = c.batch > 1 ? [c.batch] : [];
  return { a: [...lead, c.m, c.k], b: [...lead, c.k, c.n], y: [...lead, c.m, c.n] };
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
async function timeKiln(a: kiln.Tensor, b: kiln.Tensor, device: string, budgetMs: number) {
  const be = a.backendFor('bench');
  const index = Number(device.split(':')[1] ?? 0);
  return measure(async (reps) => {
    const timer = be.timer!(index);
    const outs: kiln.Tensor[] = [];
    timer.start();
    for (let r = 0; r < reps; ++r) outs.push(kiln.matmul(a, b));
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
    const a32 = kiln.rand(s.a, { seed, low: -1, high: 1 });
    const b32 = kiln.rand(s.b, { seed: seed + 1, low: -1, high: 1 });
    const [aData, bData] = [(await a32.data()) as Float32Array, (await b32.data()) as Float32Array];

    // The peer: ORT on the same inputs, timed as wall time per session.run.
    let peerGflops: number | undefined;
    let peerOut: Float32Array | undefined;
    if (ort) {
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
          const a = a32.to(device).cast(dtype);
          const b = b32.to(device).cast(dtype);
          const y = kiln.matmul(a, b);
          const got = (await y.data()) as Float32Array;
          // Validate before timing: float32 against ORT; other dtypes against Kiln's float32 result.
          let want: ArrayLike<number> | undefined = peerOut;
          if (!want || dtype !== 'float32') want = (await kiln.matmul(a32, b32).data()) as Float32Array;
          const err = maxRelError(got, want);
          const tol = dtype === 'float32' ? 1e-4 : 2e-2;
          if (!(err <= tol)) throw new kiln.KilnError('E_NATIVE', `bench matmul ${c.name} ${dtype} on ${device}: result differs from the reference (max rel error ${err.toExponential(2)})`);
          const t = await timeKiln(a, b, device, budgetMs);
          const gflops = flops(c) / t.median / 1e6;
          const withPeer = dtype === 'float32' && peerGflops !== undefined;
          const row: MatmulRow = {
            case: c.name, device, dtype, gflops, ms: t.median, maxRelError: err, peakGflops: peaks.get(device),
            ...(withPeer ? { peer: 'onnxruntime-node cpu', peerGflops, ratio: gflops / peerGflops! } : {}),
          };
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

const HEADER = ['case', 'device', 'dtype', 'kiln GFLOP/s', '% of peak', 'ms', 'ORT GFLOP/s', 'kiln/ORT', 'max rel err'];

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
