// GridSample written plainly for the tests (kernels/OPS.md states it): a float64 sum over each
// output's taps, with the coordinate and the taps in float32 as the op defines them (so taps split
// where the kernels' do), padding applied to each integer tap as an int64 (NaN -> 0, saturating),
// nearest rounding half to even. Used by test/ops-grid-sample.test.ts and test/onnx-grid-sample.test.ts.
import type { Rng } from './random.js';
import { numel, roundHalfEven } from './reference.js';

export type Mode = 'linear' | 'nearest' | 'cubic';
export type Padding = 'zeros' | 'border' | 'reflection';

const f32 = Math.fround;

/** The unnormalized coordinate in float32, in the order of operations of onnxruntime (and Kiln): taps split where theirs do. */
export const unnormalize = (g: number, size: number, align: boolean) => (align ? f32(f32(f32(g + 1) * 0.5) * f32(size - 1)) : f32(f32(f32(f32(g + 1) * f32(size)) - 1) * 0.5));

const INT64_MAX = 2n ** 63n - 1n, INT64_MIN = -(2n ** 63n);
/** A float32 tap as the int64 it becomes: NaN -> 0, saturating. */
function tapIndex(t: number): bigint {
  if (Number.isNaN(t)) return 0n;
  if (t >= 2 ** 63) return INT64_MAX;
  if (t <= -(2 ** 63)) return INT64_MIN;
  return BigInt(Math.trunc(t));
}

/** Where tap t reads along a dim of `size`, or undefined for a zeros-padded tap outside X. */
function padTap(t: number, size: number, padding: Padding, align: boolean): number | undefined {
  if (padding === 'zeros') return t >= 0 && t <= size - 1 ? t : undefined;
  const i = tapIndex(t), last = BigInt(size - 1);
  if (padding === 'border' || size === 1) return Number(i < 0n ? 0n : i > last ? last : i);
  // reflection: a period of 2 (size - 1) between the corner pixels' centers (align_corners), of 2 size between their outer edges
  const period = align ? 2n * last : 2n * BigInt(size);
  const m = ((i % period) + period) % period;
  return Number(m < BigInt(size) ? m : (align ? period : period - 1n) - m);
}

/** Keys' cubic convolution kernel, A = -0.75. */
function keys(d: number): number {
  const A = -0.75;
  d = Math.abs(d);
  return d <= 1 ? (A + 2) * d ** 3 - (A + 3) * d ** 2 + 1 : d < 2 ? A * d ** 3 - 5 * A * d ** 2 + 8 * A * d - 4 * A : 0;
}

/** One dim's taps at coordinate x: where each reads (undefined: zeros padding outside X), its weight, and the size of its rounding error. */
function dimTaps(x: number, size: number, mode: Mode, padding: Padding, align: boolean) {
  const base = mode === 'nearest' ? roundHalfEven(x) : Math.floor(x);
  const steps = mode === 'nearest' ? [0] : mode === 'linear' ? [0, 1] : [-1, 0, 1, 2];
  return steps.map((s, k) => {
    const tap = f32(base + s);
    // linear: 1 - f and f, f = x - floor(x) (for coordinates whose taps are exact, 1 - |x - tap|)
    const w = mode === 'nearest' ? 1 : mode === 'linear' ? (k === 0 ? 1 - (x - base) : x - base) : keys(x - tap);
    // a float32 cubic weight sums terms up to ~12 (8A d): its error, a few ulps of those, is absolute, not relative to w
    return { at: padTap(tap, size, padding, align), w, size: mode === 'cubic' ? Math.abs(w) + 1 : Math.abs(w) };
  });
}

/**
 * GridSample of X (`xShape` [N, C, ...S], row-major values) at `grid` (`gridShape` [N, ...P, r],
 * row-major): the values of [N, C, ...P] in float64, and per output the sum of |weight * value| (the
 * size of its float32 rounding error; with an absolute term per cubic weight).
 */
export function gridSampleReference(xShape: readonly number[], x: ArrayLike<number>, gridShape: readonly number[], grid: ArrayLike<number>, mode: Mode, padding: Padding, align: boolean): { shape: number[]; values: number[]; scale: number[] } {
  const [N, C, ...sizes] = xShape;
  const r = sizes.length, out = gridShape.slice(1, -1), P = numel(out), S = numel(sizes);
  const values: number[] = [], scale: number[] = [];
  for (let n = 0; n < N; ++n) {
    // per position, per dim (X's order): the taps (the grid lists coordinates innermost dim first)
    const taps = Array.from({ length: P }, (_, p) => sizes.map((size, d) => dimTaps(unnormalize(grid[(n * P + p) * r + (r - 1 - d)], size, align), size, mode, padding, align)));
    for (let c = 0; c < C; ++c)
      for (let p = 0; p < P; ++p) {
        let sum = 0, mag = 0;
        const visit = (d: number, offset: number | undefined, w: number, size: number) => {
          if (d === r) {
            const v = offset === undefined ? 0 : x[(n * C + c) * S + offset];
            sum += w * v;
            mag += size * Math.abs(v);
            return;
          }
          const stride = numel(sizes.slice(d + 1));
          for (const t of taps[p][d]) visit(d + 1, offset === undefined || t.at === undefined ? undefined : offset + t.at * stride, w * t.w, size * t.size);
        };
        visit(0, 0, 1, 1);
        values.push(sum);
        scale.push(mag);
      }
  }
  return { shape: [N, C, ...out], values, scale };
}

/**
 * Grid coordinates: random ones in [-1.6, 1.6] (a fifth of each past the borders), exact eighths
 * (the borders -1 and 1, and half-pixel ties for nearest rounding at small sizes), and a few far
 * outside (several reflections).
 */
export function gridValues(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => {
    const u = rng.next();
    if (u < 0.35) return rng.int(-12, 12) / 8;
    if (u < 0.4) return rng.uniform(-7.5, 7.5);
    return rng.uniform(-1.6, 1.6);
  });
}
