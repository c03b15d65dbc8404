// Ops composed from index arithmetic and reductions: Trilu, EyeLike, OneHot, Hardmax, CumSum,
// LpNormalization, MeanVarianceNormalization, CenterCropPad, Dropout in inference mode, the window
// functions (HannWindow, HammingWindow, BlackmanWindow) and MelWeightMatrix.
import type { DType } from '../../dtype.js';
import { fail } from '../../errors.js';
import * as k from '../../ops/index.js';
import { withTemps, type Temps } from '../../ops/temps.js';
import { normalizeAxis } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { attrFloat, attrInt, attrInts, attrFlag } from '../attrs.js';
import { kilnDType } from '../proto.js';
import { defineOps, type OpContext } from './registry.js';
import { hostValues } from '../../host-memory.js';
import { hostScalar, input, requireFloat } from './util.js';

/** col - row for an [n, m] grid (int64), the diagonal offset of every element. */
function diagonalOffset(t: Temps, n: number, m: number, device: string): Tensor {
  const rows = t.add(t.add(k.arange(0, n, 1, { dtype: 'int64', device })).reshape([n, 1]));
  const cols = t.add(t.add(k.arange(0, m, 1, { dtype: 'int64', device })).reshape([1, m]));
  return t.add(k.sub(cols, rows));
}

function trilu(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  if (x.rank < 2) fail('E_SHAPE', `input ${x.describe()} must have at least 2 dims`);
  const shift = ctx.inputs[1] ? hostScalar(ctx, 1) : 0;
  const [n, m] = x.shape.slice(-2);
  return withTemps((t) => {
    const d = diagonalOffset(t, n, m, x.device);
    const keep = t.add(attrFlag(ctx.node, 'upper', 1) ? k.greaterEqual(d, shift) : k.lessEqual(d, shift));
    return k.where(keep, x, t.add(k.zeros([], { dtype: x.dtype, device: x.device })));
  });
}

function eyeLike(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  if (x.rank !== 2) fail('E_SHAPE', `needs a 2-D input, got ${x.describe()}`);
  const to = attrInt(ctx.node, 'dtype');
  const dtype: DType = to === undefined ? x.dtype : kilnDType(to) ?? fail('E_DTYPE', `unsupported dtype ${to}`);
  return withTemps((t) => k.cast(t.add(k.equal(diagonalOffset(t, x.shape[0], x.shape[1], x.device), attrInt(ctx.node, 'k', 0))), dtype));
}

function oneHot(ctx: OpContext): Tensor {
  const idx = input(ctx, 0), values = input(ctx, 2);
  if (idx.rank === 0) fail('E_SHAPE', `indices must have rank >= 1, got ${idx.describe()}`);
  const depth = hostScalar(ctx, 1);
  return withTemps((t) => {
    const axis = normalizeAxis('OneHot', attrInt(ctx.node, 'axis', -1), idx.rank + 1);
    const i = t.add(k.cast(idx, 'int64'));
    const wrapped = t.add(k.where(t.add(k.less(i, 0)), t.add(k.add(i, depth)), i));
    const along = Array.from({ length: idx.rank + 1 }, (_, d) => (d === axis ? depth : 1));
    const hot = t.add(k.equal(t.add(wrapped.unsqueeze(axis)), t.add(t.add(k.arange(0, depth, 1, { dtype: 'int64', device: idx.device })).reshape(along))));
    const [off, on] = k.split(values, 2, 0).map((v) => t.add(t.add(v).reshape([])));
    return k.where(hot, on, off);
  });
}

function hardmax(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  const legacy = ctx.opset < 13;
  const axis = normalizeAxis('Hardmax', attrInt(ctx.node, 'axis', legacy ? 1 : -1), x.rank);
  return withTemps((t) => {
    const v = legacy ? t.add(x.reshape([x.shape.slice(0, axis).reduce((a, b) => a * b, 1), -1])) : x;
    const ax = legacy ? 1 : axis;
    const best = t.add(k.argmax(v, { axis: ax, keepdims: true }));
    const along = v.shape.map((d, i) => (i === ax ? d : 1));
    const y = t.add(k.cast(t.add(k.equal(best, t.add(t.add(k.arange(0, v.shape[ax], 1, { dtype: 'int64', device: x.device })).reshape(along)))), x.dtype));
    return y.reshape(x.shape);
  });
}

function lpNormalize(ctx: OpContext): Tensor {
  requireFloat(ctx, ['input']);
  const x = input(ctx, 0);
  const axes = [normalizeAxis('LpNormalization', attrInt(ctx.node, 'axis', -1), x.rank)];
  const p = attrInt(ctx.node, 'p', 2);
  if (p !== 1 && p !== 2) fail('E_UNSUPPORTED', `p must be 1 or 2, got ${p}`);
  return withTemps((t) => {
    const norm = p === 1 ? t.add(k.sum(t.add(k.abs(x)), { axes, keepdims: true })) : t.add(k.sqrt(t.add(k.sum(t.add(k.mul(x, x)), { axes, keepdims: true }))));
    // an all-zero slice has norm 0: dividing by 1 instead keeps its zeros (as onnxruntime does)
    return k.div(x, t.add(k.where(t.add(k.equal(norm, 0)), 1, norm)));
  });
}

function mvn(ctx: OpContext): Tensor {
  requireFloat(ctx, ['X']);
  const x = input(ctx, 0);
  const axes = attrInts(ctx.node, 'axes') ?? [0, 2, 3];
  return withTemps((t) => {
    const mean = t.add(k.mean(x, { axes, keepdims: true }));
    // mean((x - mean)^2), not ONNX's E[x^2] - E[x]^2: the same value, without the cancellation that
    // left only rounding noise (different on each device) for data whose spread is small next to its mean
    const variance = t.add(k.variance(x, { axes, keepdims: true, correction: 0 }));
    return k.div(t.add(k.sub(x, mean)), t.add(k.add(t.add(k.sqrt(variance)), 1e-9)));
  });
}

function centerCropPad(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  const want = ctx.ints(1) ?? [];
  const given = attrInts(ctx.node, 'axes');
  const axes = (given ?? x.shape.map((_, i) => i)).map((a) => normalizeAxis('CenterCropPad', a, x.rank));
  if (want.length !== axes.length || want.some((v) => v < 0))
    fail('E_ARGUMENT', `shape [${want}] must hold one size >= 0 per ${given ? `axis of [${given}]` : `dim of ${x.describe()}`}`);
  if (new Set(axes).size !== axes.length) fail('E_ARGUMENT', `axes [${given}] name an axis more than once`);
  return withTemps((t) => {
    let cur = x;
    const pads: [number, number][] = x.shape.map(() => [0, 0]);
    axes.forEach((a, i) => {
      const n = cur.shape[a], target = want[i];
      if (target < n) {
        const start = Math.floor((n - target) / 2);
        cur = t.add(cur.slice(a, start, start + target));
      } else if (target > n) {
        const before = Math.floor((target - n) / 2);
        pads[a] = [before, target - n - before];
      }
    });
    return k.pad(cur, pads);
  });
}

/**
 * CumSum along an axis as a scan in log2(n) steps (Hillis-Steele): y += y shifted by d along the axis
 * (zeros in front) for d = 1, 2, 4, ...: O(n log n) work in 2 ceil(log2 n) launches, any numeric
 * dtype (integers wrap, as onnxruntime's). Exclusive shifts x by one first; reverse scans the axis
 * read backwards (a view). A matmul with an n x n 0/1 triangle, as this was, cost O(n^2) time and
 * host memory: 11 s for 10^4 elements, and 3 * 10^4 ran the process out of JS heap.
 */
function cumSum(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  const axis = normalizeAxis('CumSum', hostScalar(ctx, 1), x.rank);
  const exclusive = attrFlag(ctx.node, 'exclusive', 0), reverse = attrFlag(ctx.node, 'reverse', 0);
  const n = x.shape[axis];
  return withTemps((t) => {
    const backwards = (v: Tensor) => t.add(v.slice(axis, undefined, undefined, -1));
    // v moved d places along the axis, its last d elements dropped and d zeros in front
    const shifted = (v: Tensor, d: number) => t.add(k.pad(t.add(v.slice(axis, 0, n - d)), v.shape.map((_, i) => (i === axis ? [d, 0] : [0, 0]))));
    let y = reverse ? backwards(x) : x;
    if (exclusive && n > 0) y = shifted(y, 1);
    for (let d = 1; d < n; d *= 2) y = t.add(k.add(y, shifted(y, d)));
    if (reverse) y = backwards(y);
    return y === x ? x.clone() : y.contiguous();
  });
}

/**
 * AffineGrid: the sampling grid [N, (D,) H, W, 2 or 3] of an affine map theta [N, 2 or 3, 3 or 4]:
 * the normalized base coordinates (x, y[, z], 1) of every output position, times theta^T.
 */
function affineGrid(ctx: OpContext): Tensor {
  const theta = input(ctx, 0);
  const size = ctx.ints(1) ?? [];
  const spatial = size.slice(2); // [H, W] or [D, H, W]
  const align = attrFlag(ctx.node, 'align_corners', 0);
  const line = (n: number) => (i: number) => (align ? (n > 1 ? -1 + (2 * i) / (n - 1) : 0) : (2 * i + 1) / n - 1);
  const axes = spatial.map(line);
  const positions = spatial.reduce((a, b) => a * b, 1);
  const k1 = spatial.length + 1;
  const base = hostValues(positions * k1, `the base grid of ${positions} positions`);
  for (let p = 0; p < positions; ++p) {
    // row-major over (D,) H, W; coordinates are listed x (W) first, then 1
    for (let r = p, d = spatial.length - 1; d >= 0; --d) (base[p * k1 + spatial.length - 1 - d] = axes[d](r % spatial[d])), (r = Math.floor(r / spatial[d]));
    base[p * k1 + spatial.length] = 1;
  }
  return withTemps((t) => {
    const b = t.add(k.tensor(base, { dtype: theta.dtype, device: theta.device, shape: [positions, k1] }));
    const grid = t.add(k.matmul(b, t.add(theta.transpose(1, 2)))); // [N, positions, dims]
    return grid.reshape([theta.shape[0], ...spatial, spatial.length]);
  });
}

/**
 * The generalized cosine windows of ONNX (opset 17): w[n] = a0 - a1 cos(2 pi n / D) + a2 cos(4 pi n / D)
 * for n in [0, size), D = size (periodic, the default) or size - 1 (symmetric); Hamming's a0 is
 * 25/46, as ONNX defines it. Computed on the host in float64 and rounded once into output_datatype.
 */
function cosineWindow(ctx: OpContext, a: readonly [number, number, number]): Tensor {
  const size = hostScalar(ctx, 0);
  // ONNX's shape inference (and onnxruntime) want a size above 0
  if (!Number.isSafeInteger(size) || size < 1) fail('E_ARGUMENT', `size must be a positive integer, got ${size}`);
  const to = attrInt(ctx.node, 'output_datatype', 1);
  const dtype: DType = kilnDType(to) ?? fail('E_DTYPE', `output_datatype ${to} is not a dtype Kiln has`);
  const d = attrFlag(ctx.node, 'periodic', 1) ? size : size - 1;
  const w = hostValues(size, `a window of ${size}`);
  for (let n = 0; n < size; ++n) w[n] = a[0] - a[1] * Math.cos((2 * Math.PI * n) / d) + a[2] * Math.cos((4 * Math.PI * n) / d);
  return k.tensor(w, { dtype, device: ctx.device, shape: [size] });
}

/**
 * MelWeightMatrix (opset 17): [floor(dft_length / 2) + 1, num_mel_bins] triangular filters, peak 1,
 * over num_mel_bins + 2 points evenly spaced on the mel scale (2595 log10(1 + f / 700)) from
 * lower_edge_hertz to upper_edge_hertz (ONNX's reference divides the range into num_mel_bins + 2
 * steps, and so does onnxruntime), each point the DFT bin floor((dft_length + 1) hz / sample_rate).
 * On the host in float64 as onnxruntime computes it, rounded once into output_datatype (float32,
 * or an integer type, truncated: onnxruntime's types that Kiln has).
 */
function melWeightMatrix(ctx: OpContext): Tensor {
  const [bins, dft, rate] = [0, 1, 2].map((i) => hostScalar(ctx, i, ['num_mel_bins', 'dft_length', 'sample_rate'][i]));
  const [lo, hi] = [3, 4].map((i) => hostScalar(ctx, i, i === 3 ? 'lower_edge_hertz' : 'upper_edge_hertz'));
  // no filters (num_mel_bins 0) is an empty [rows, 0], as onnxruntime gives it
  for (const [name, v, min] of [['num_mel_bins', bins, 0], ['dft_length', dft, 1], ['sample_rate', rate, 1]] as const)
    if (!Number.isSafeInteger(v) || v < min) fail('E_ARGUMENT', `${name} must be an integer of at least ${min}, got ${v}`);
  const to = attrInt(ctx.node, 'output_datatype', 1);
  const dtype = kilnDType(to);
  if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'int64' && dtype !== 'uint8') fail('E_UNSUPPORTED', `output_datatype ${to} (float32, int32, int64 and uint8 are implemented)`);
  const rows = Math.floor(dft / 2) + 1;
  const index = (hz: number) => Math.floor(((dft + 1) * hz) / rate);
  for (const [name, hz] of [['lower_edge_hertz', lo], ['upper_edge_hertz', hi]] as const)
    if (!(index(hz) >= 0 && index(hz) < rows)) fail('E_ARGUMENT', `${name} ${hz} falls outside the ${rows} DFT bins of dft_length ${dft} at sample_rate ${rate}`);
  // (onnxruntime runs edges out of order, through unsigned bin arithmetic that wraps: refused here)
  if (!(hi >= lo)) fail('E_ARGUMENT', `upper_edge_hertz ${hi} is below lower_edge_hertz ${lo}`);
  const mel = (f: number) => 2595 * Math.log10(1 + f / 700);
  const lowMel = mel(lo), step = (mel(hi) - lowMel) / (bins + 2);
  const point = Array.from({ length: bins + 2 }, (_, i) => index(700 * (10 ** ((lowMel + step * i) / 2595) - 1)));
  const w = hostValues(rows * bins, `a mel weight matrix of ${rows} x ${bins}`);
  for (let i = 0; i < bins; ++i) {
    const [left, center, right] = [point[i], point[i + 1], point[i + 2]];
    if (center === left) w[center * bins + i] = 1;
    else for (let j = left; j <= center; ++j) w[j * bins + i] = (j - left) / (center - left);
    for (let j = center; j < right; ++j) w[j * bins + i] = (right - j) / (right - center);
  }
  const f = k.tensor(w, { dtype: 'float32', device: ctx.device, shape: [rows, bins] });
  if (dtype === 'float32') return f;
  try {
    return k.cast(f, dtype);
  } finally {
    f.dispose();
  }
}

function dropout(ctx: OpContext): Tensor[] {
  const x = input(ctx, 0);
  // ratio and training_mode are scalars (rank 0, as ONNX's shape inference and onnxruntime require:
  // a [1] ratio is refused there too), and a ratio input lies in [0, 1) even in inference mode
  // (onnxruntime checks it whether or not it is used)
  for (const i of [1, 2]) {
    const h = ctx.host(i);
    if (h && h.shape.length !== 0) fail('E_SHAPE', `${i === 1 ? 'ratio' : 'training_mode'} must be a scalar (rank 0), got shape [${h.shape}]`);
  }
  const training = ctx.opset >= 12 ? Number(ctx.host(2)?.values[0] ?? 0) : 0;
  const ratio = ctx.opset >= 12 ? Number(ctx.host(1)?.values[0] ?? 0.5) : attrFloat(ctx.node, 'ratio', 0.5);
  if (ctx.opset >= 12 && ctx.host(1) && !(ratio >= 0 && ratio < 1)) fail('E_ARGUMENT', `ratio must be in [0, 1), got ${ratio}`);
  if (training && ratio > 0) fail('E_UNSUPPORTED', `training mode (random masks) is not implemented`);
  const out = [x.withLayout('Dropout', x.shape, x.strides)];
  if (ctx.node.outputs[1]) out.push(k.full(x.shape, true, { dtype: 'bool', device: x.device }));
  return out;
}

defineOps({
  Trilu: { since: 14, uses: ['Range', 'Sub', 'GreaterOrEqual', 'LessOrEqual', 'Where', 'Fill'], hostInputs: [1], run: (ctx) => [trilu(ctx)] },
  EyeLike: { since: 9, uses: ['Range', 'Sub', 'Equal', 'Cast'], run: (ctx) => [eyeLike(ctx)] },
  OneHot: { since: 11, uses: ['Cast', 'Less', 'Add', 'Where', 'Equal', 'Range'], hostInputs: [1], run: (ctx) => [oneHot(ctx)] },
  Hardmax: { uses: ['ArgMax', 'Equal', 'Range', 'Cast'], run: (ctx) => [hardmax(ctx)] },
  LpNormalization: { uses: ['Abs', 'Mul', 'ReduceSum', 'Sqrt', 'Div', 'Equal', 'Where'], run: (ctx) => [lpNormalize(ctx)] },
  MeanVarianceNormalization: { since: 9, uses: ['ReduceMean', 'ReduceVariance', 'Sub', 'Sqrt', 'Add', 'Div'], run: (ctx) => [mvn(ctx)] },
  CenterCropPad: { since: 18, uses: ['Pad'], hostInputs: [1], run: (ctx) => [centerCropPad(ctx)] },
  AffineGrid: { since: 20, uses: ['MatMul', 'Cast'], hostInputs: [1], run: (ctx) => [affineGrid(ctx)] },
  CumSum: { since: 11, uses: ['Add', 'Pad', 'Cast'], hostInputs: [1], run: (ctx) => [cumSum(ctx)] },
  Dropout: { since: 7, uses: ['Fill'], hostInputs: [1, 2], run: dropout },
  HannWindow: { since: 17, uses: [], hostInputs: [0], run: (ctx) => [cosineWindow(ctx, [0.5, 0.5, 0])] },
  HammingWindow: { since: 17, uses: [], hostInputs: [0], run: (ctx) => [cosineWindow(ctx, [25 / 46, 21 / 46, 0])] },
  BlackmanWindow: { since: 17, uses: [], hostInputs: [0], run: (ctx) => [cosineWindow(ctx, [0.42, 0.5, 0.08])] },
  MelWeightMatrix: { since: 17, uses: ['Cast'], hostInputs: [0, 1, 2, 3, 4], run: (ctx) => [melWeightMatrix(ctx)] },
});
