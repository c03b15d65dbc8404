// Resize (nearest, linear, cubic; every coordinate transformation, tf_crop_and_resize included) as
// separable per-axis Gathers: for each resized axis the source indices (and, for linear and cubic,
// the taps' weights) are computed on the host from the ONNX formulas, then applied with Kiln's
// Gather, Mul and Add on any device.
import { isFloat } from '../../dtype.js';
import { fail } from '../../errors.js';
import { tensor } from '../../ops/creation.js';
import { cast } from '../../ops/cast.js';
import { round, where } from '../../ops/elementwise.js';
import { gather } from '../../ops/shape-ops.js';
import { matmul } from '../../ops/matmul.js';
import { withTemps, type Temps } from '../../ops/temps.js';
import { normalizeAxis } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { attrFloat, attrInt, attrInts, attrString, attrFlag } from '../attrs.js';
import type { Node } from '../model.js';
import { defineOps, type OpContext } from './registry.js';
import { hostValues } from '../../host-memory.js';
import { binary, input } from './util.js';

const COORD = ['half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric'];

const f = Math.fround;

/**
 * The input coordinate of output coordinate x along an axis, computed in float32 one operation at a
 * time in onnxruntime's order (its upsamplebase.h; a double step where its C++ promotes), so that a
 * nearest pick that falls on a rounding boundary falls the same way: float64 took 0.4f * 3 + 0.3f
 * as 1.50000004 and rounded it up where onnxruntime has 1.5, a tie that rounds down (fuzz seed 1155).
 * `scale` is a float32.
 */
function source(mode: string, x: number, scale: number, inSize: number, outSize: number): number {
  switch (mode) {
    case 'asymmetric': return f(x / scale);
    case 'align_corners': return outSize === 1 ? 0 : f(f(x * (inSize - 1)) / (outSize - 1));
    case 'pytorch_half_pixel': return outSize > 1 ? f(f(f(x + 0.5) / scale) - 0.5) : 0;
    case 'half_pixel_symmetric': {
      const adjustment = f(outSize / f(scale * inSize));
      const offset = f(f(inSize / 2) * f(1 - adjustment));
      return f(offset + (x + 0.5) / scale - 0.5);
    }
    default: return f(f(f(x + 0.5) / scale) - 0.5);
  }
}

/** tf_crop_and_resize's input coordinate of output coordinate x, the crop being [lo, hi] (float32) of the axis; as source(). */
function cropSource(x: number, lo: number, hi: number, inSize: number, outSize: number): number {
  if (outSize === 1) return f(0.5 * f(lo + hi) * (inSize - 1));
  return f(f(lo * (inSize - 1)) + f(f(f(x * f(hi - lo)) * (inSize - 1)) / (outSize - 1)));
}

function nearest(mode: string, v: number): number {
  switch (mode) {
    case 'floor': return Math.floor(v);
    case 'ceil': return Math.ceil(v);
    case 'round_prefer_ceil': return Math.round(v);
    default: return v - Math.floor(v) === 0.5 ? Math.floor(v) : Math.round(v); // round_prefer_floor
  }
}

function check(n: Node): string | undefined {
  const mode = attrString(n, 'mode', 'nearest');
  if (!['nearest', 'linear', 'cubic'].includes(mode)) return `mode '${mode}'`;
  const coord = attrString(n, 'coordinate_transformation_mode', 'half_pixel');
  if (!COORD.includes(coord) && coord !== 'tf_crop_and_resize') return `coordinate_transformation_mode '${coord}'`;
  const aa = attrInt(n, 'antialias', 0);
  if (aa !== 0 && aa !== 1) return `antialias ${aa} (0 or 1)`;
  const nearestMode = attrString(n, 'nearest_mode', 'round_prefer_floor');
  if (!['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'].includes(nearestMode)) return `nearest_mode '${nearestMode}'`;
  const policy = attrString(n, 'keep_aspect_ratio_policy', 'stretch');
  if (!['stretch', 'not_larger', 'not_smaller'].includes(policy)) return `keep_aspect_ratio_policy '${policy}'`;
  return undefined;
}

function resize(ctx: OpContext): Tensor {
  const x = input(ctx, 0), n = ctx.node;
  const r = x.rank;
  const v10 = ctx.opset < 11;
  const scalesIn = v10 ? ctx.host(1) : ctx.host(2);
  const sizesIn = v10 ? undefined : ctx.host(3);
  const axes = (attrInts(n, 'axes') ?? [...Array(r).keys()]).map((a) => normalizeAxis('Resize', a, r));
  if (new Set(axes).size !== axes.length) fail('E_ARGUMENT', `axes [${attrInts(n, 'axes')}] name an axis more than once`);
  const scales = x.shape.map(() => 1), sizes = [...x.shape];
  if (sizesIn && sizesIn.values.length === 0) fail('E_ARGUMENT', `sizes is empty: omit it (an empty input name) to resize by scales`);
  const given = (v: typeof sizesIn) => (v && v.values.length ? v.values.length : 0);
  if (given(sizesIn) && given(scalesIn)) fail('E_ARGUMENT', 'scales and sizes are both given: one of them must be empty or omitted');
  for (const [name, v] of [['sizes', sizesIn], ['scales', scalesIn]] as const)
    if (given(v) && given(v) !== axes.length) fail('E_ARGUMENT', `${name} holds ${given(v)} values for ${axes.length} axes`);
  if (sizesIn && sizesIn.values.length) {
    const want = Array.from(sizesIn.values, Number);
    const policy = attrString(n, 'keep_aspect_ratio_policy', 'stretch');
    const ratios = axes.map((a, i) => f(want[i] / x.shape[a]));
    const common = policy === 'not_larger' ? Math.min(...ratios) : policy === 'not_smaller' ? Math.max(...ratios) : undefined;
    axes.forEach((a, i) => {
      scales[a] = common ?? ratios[i];
      sizes[a] = common === undefined ? want[i] : Math.round(common * x.shape[a]);
    });
  } else if (scalesIn && scalesIn.values.length) {
    axes.forEach((a, i) => {
      scales[a] = f(Number(scalesIn.values[i]));
      sizes[a] = Math.floor(x.shape[a] * scales[a]);
    });
  } else fail('E_ARGUMENT', `needs scales or sizes`);
  const mode = attrString(n, 'mode', 'nearest');
  // an integer input interpolates in float32 and converts back as onnxruntime does: truncated (its
  // linear), rounded with antialias (cubic, which onnxruntime refuses for uint8, truncates too);
  // Cast saturates what a cubic overshoots past the dtype's range
  const integer = mode !== 'nearest' && !isFloat(x.dtype);
  const coord = v10 ? 'asymmetric' : attrString(n, 'coordinate_transformation_mode', 'half_pixel');
  const nearestMode = v10 ? 'floor' : attrString(n, 'nearest_mode', 'round_prefer_floor');
  const A = attrFloat(n, 'cubic_coeff_a', -0.75);
  const exclude = attrFlag(n, 'exclude_outside', 0);
  const antialias = attrFlag(n, 'antialias', 0);
  const roi = coord === 'tf_crop_and_resize' ? Array.from(ctx.host(1)?.values ?? [], (v) => f(Number(v))) : undefined;
  const extrapolation = attrFloat(n, 'extrapolation_value', 0);
  // [start_1 .. start_k, end_1 .. end_k] over the resized axes (fuzz seed 808: a shorter roi ran)
  if (roi && roi.length !== 2 * axes.length) fail('E_SHAPE', `roi holds ${roi.length} values; tf_crop_and_resize needs 2 per resized axis (${2 * axes.length})`);
  return withTemps((t) => {
    let cur = integer ? t.add(cast(x, 'float32')) : x;
    for (let a = 0; a < r; ++a) {
      if (sizes[a] === x.shape[a] && scales[a] === 1 && !roi) continue;
      const inSize = x.shape[a], outSize = sizes[a];
      const clampIdx = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
      const k = roi ? axes.indexOf(a) : -1, [lo, hi] = !roi ? [0, 0] : k < 0 ? [0, 1] : [roi[k], roi[axes.length + k]];
      const coords = hostValues(outSize, `Resize's ${outSize} source coordinates along axis ${a}`);
      for (let o = 0; o < outSize; ++o) coords[o] = roi ? cropSource(o, lo, hi, inSize, outSize) : source(coord, o, scales[a], inSize, outSize);
      const along = (values: Float64Array, dtype = cur.dtype) => t.add(tensor(values, { dtype, device: cur.device, shape: Array.from({ length: r }, (_, d) => (d === a ? outSize : 1)) }));
      const indices = (values: Float64Array) => t.add(tensor(values, { dtype: 'int64', device: cur.device }));
      if (mode === 'nearest') cur = t.add(gather(cur, indices(coords.map((c) => clampIdx(nearest(nearestMode, c)))), a));
      else {
        const stretch = antialias && scales[a] < 1 && outSize > 0 ? scales[a] : undefined;
        if (stretch !== undefined && stretchedTaps(mode, stretch) > GATHER_TAPS) cur = antialiasProduct(cur, a, mode, coords, A, exclude, stretch, t);
        else {
          let sum: Tensor | undefined;
          for (const tap of stretch === undefined ? taps(mode, coords, inSize, A, exclude) : antialiasTaps(mode, coords, inSize, A, exclude, stretch)) {
            const term = t.add(binary('Mul', t.add(gather(cur, indices(tap.idx), a)), along(tap.w)));
            sum = sum ? t.add(binary('Add', sum, term)) : term;
          }
          cur = sum!;
        }
      }
      if (roi && coords.some((c) => c < 0 || c > inSize - 1)) {
        // a Where, not a blend: a NaN or infinite extrapolation_value (or sample) times 0 is NaN (seed 798)
        const inside = along(coords.map((c) => (c < 0 || c > inSize - 1 ? 0 : 1)), 'bool');
        cur = t.add(where(inside, cur, t.add(tensor(extrapolation, { dtype: cur.dtype, device: cur.device }))));
      }
    }
    if (integer) cur = t.add(cast(antialias ? t.add(round(cur)) : cur, x.dtype));
    return cur === x ? x.clone() : cur.withLayout('Resize', cur.shape, cur.strides);
  });
}

/** Keys' cubic convolution weight at distance d. */
function cubicWeight(d: number, A: number): number {
  d = Math.abs(d);
  if (d <= 1) return (A + 2) * d ** 3 - (A + 3) * d ** 2 + 1;
  if (d < 2) return A * d ** 3 - 5 * A * d ** 2 + 8 * A * d - 4 * A;
  return 0;
}

/** Per output position, the source indices and weights of each interpolation tap. */
function taps(mode: string, coords: Float64Array, inSize: number, A: number, exclude: boolean): { idx: Float64Array; w: Float64Array }[] {
  const clampIdx = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  const tap = () => ({ idx: hostValues(coords.length, 'Resize tap indices'), w: hostValues(coords.length, 'Resize tap weights') });
  if (mode === 'linear') {
    const out = [tap(), tap()];
    coords.forEach((c0, o) => {
      const c = Math.min(Math.max(c0, 0), inSize - 1), f = Math.floor(c);
      (out[0].idx[o] = f), (out[0].w[o] = 1 - (c - f));
      (out[1].idx[o] = clampIdx(f + 1)), (out[1].w[o] = c - f);
    });
    return out;
  }
  const out = [-1, 0, 1, 2].map(tap);
  coords.forEach((c, o) => {
    const f = Math.floor(c), ratio = c - f;
    const ws = [-1, 0, 1, 2].map((j) => (exclude && (f + j < 0 || f + j >= inSize) ? 0 : cubicWeight(ratio - j, A)));
    const total = exclude ? ws.reduce((p, q) => p + q, 0) : 1;
    [-1, 0, 1, 2].forEach((j, i) => ((out[i].idx[o] = clampIdx(f + j)), (out[i].w[o] = ws[i] / total)));
  });
  return out;
}

const stretchedStart = (mode: string, scale: number) => Math.floor((mode === 'linear' ? -1 : -2) / scale) + 1;
/** How many taps the stretched filter has: j in [start, 1 - start]. */
const stretchedTaps = (mode: string, scale: number) => 2 - 2 * stretchedStart(mode, scale);

/**
 * Downsampling with antialias=1 (opset 18): the linear (triangle) or cubic filter stretched by 1 / scale,
 * as ONNX's reference defines it (onnx/reference/ops/op_resize.py): for an input coordinate x, base =
 * floor(x) (x - 1 when x is a whole number, so that ratio = x - base is in (0, 1]); taps at base + j for
 * j in [start, 1 - start], start = floor(-1 / scale) + 1 (linear) or floor(-2 / scale) + 1 (cubic),
 * each weighted by the filter at scale * (j - ratio) and normalized to sum 1; a tap past the axis
 * reads its edge (or, with exclude_outside, weighs 0 and the rest renormalize).
 * `each(x, visit)` calls visit(k, index, weight) for tap k of input coordinate x.
 */
function stretchedFilter(mode: string, inSize: number, A: number, exclude: boolean, scale: number) {
  const start = stretchedStart(mode, scale), count = stretchedTaps(mode, scale);
  const filter = mode === 'linear' ? (d: number) => Math.max(1 - Math.abs(d), 0) : (d: number) => cubicWeight(d, A);
  const ws = hostValues(count, `Resize's ${count} antialias taps`);
  return {
    count,
    each(x: number, visit: (k: number, index: number, weight: number) => void): void {
      const base = Number.isInteger(x) ? x - 1 : Math.floor(x), ratio = x - base;
      let total = 0;
      for (let i = 0; i < count; ++i) {
        const at = base + start + i;
        ws[i] = exclude && (at < 0 || at >= inSize) ? 0 : filter(scale * (start + i - ratio));
        total += ws[i];
      }
      for (let i = 0; i < count; ++i) visit(i, Math.min(Math.max(base + start + i, 0), inSize - 1), ws[i] / total);
    },
  };
}

/** A stretched filter of this many taps or fewer runs as per-tap Gathers; a wider one as one MatMul. */
const GATHER_TAPS = 16;

/** The antialias taps as Gathers take them: per tap, each output position's source index and weight. */
function antialiasTaps(mode: string, coords: Float64Array, inSize: number, A: number, exclude: boolean, scale: number): { idx: Float64Array; w: Float64Array }[] {
  const f = stretchedFilter(mode, inSize, A, exclude, scale);
  const out = Array.from({ length: f.count }, () => ({ idx: hostValues(coords.length, 'Resize tap indices'), w: hostValues(coords.length, 'Resize tap weights') }));
  coords.forEach((x, o) => f.each(x, (k, index, weight) => ((out[k].idx[o] = index), (out[k].w[o] = weight))));
  return out;
}

/**
 * The antialias filter of a wide window (a large downscale: 1 / scale past 8 for linear, 4 for cubic)
 * as one product: x with the axis moved last, times the [inSize, outSize] weights (taps that clamp to
 * the same edge index add up), moved back. As Gathers it would take 2 / scale of them (a million for
 * 10^6 -> 1), each a pass over the output.
 */
function antialiasProduct(cur: Tensor, a: number, mode: string, coords: Float64Array, A: number, exclude: boolean, scale: number, t: Temps): Tensor {
  const inSize = cur.shape[a], outSize = coords.length, r = cur.rank;
  const wt = hostValues(inSize * outSize, `Resize's ${inSize} x ${outSize} antialias weights`);
  const f = stretchedFilter(mode, inSize, A, exclude, scale);
  coords.forEach((x, o) => f.each(x, (_k, index, weight) => (wt[index * outSize + o] += weight)));
  const order = [...Array(r).keys()].filter((d) => d !== a).concat(a);
  const back = order.map((_, d) => order.indexOf(d));
  const y = t.add(matmul(t.add(cur.permute(order)), t.add(tensor(wt, { dtype: cur.dtype, device: cur.device, shape: [inSize, outSize] }))));
  return t.add(y.permute(back));
}

defineOps({
  Resize: { since: 10, uses: ['Gather', 'Mul', 'Add', 'Where', 'MatMul', 'Cast', 'Round'], hostInputs: [1, 2, 3], check, run: (ctx) => [resize(ctx)] },
  Upsample: {
    since: 9,
    uses: ['Gather', 'Mul', 'Add', 'Cast'],
    hostInputs: [1],
    check: (n) => (['nearest', 'linear', 'cubic'].includes(attrString(n, 'mode', 'nearest')) ? undefined : `mode '${attrString(n, 'mode', 'nearest')}'`),
    run: (ctx) => [resize({ ...ctx, opset: 10 })],
  },
});
