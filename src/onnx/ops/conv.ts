// Conv, ConvTranspose and pooling, on the native op table:
//   Conv           float32 1-D and 2-D convs on a device with the native Conv (the CPU): one direct
//                  convolution with the bias in its epilogue, and for fuse.ts's KilnConv the ReLU
//                  and a tiling max pool too.
//                  Otherwise composed, so it runs on every backend: Im2Col (native, padding fused; on
//                  a device without it, Pad + a strided view of the taps + one copy) -> columns
//                  [N, G, C/G*K, L] (skipped for 1x1 stride-1 unpadded convs, whose columns are X
//                  itself) -> one batched MatMul with the bias fused through MatMul's C operand.
//   ConvTranspose  Z = W^T X (one MatMul), then each kernel tap's slice of Z is added in place into
//                  a strided view of the output (col2im as k^d Adds), cropped by the pads.
//   Max/AveragePool  the native MaxPool / AveragePool where the device has them (the CPU); otherwise
//                  Im2Col (padding -inf or 0) -> ReduceMax / ReduceSum over the window axes;
//                  averages divide by a per-position count pooled the same way from a ones tensor.
import { fail } from '../../errors.js';
import { full } from '../../ops/creation.js';
import { run1, runInto } from '../../ops/run.js';
import { pad } from '../../ops/shape-ops.js';
import * as k from '../../ops/index.js';
import { withTemps } from '../../ops/temps.js';
import { numel } from '../../shape.js';
import { isFloat } from '../../dtype.js';
import type { Tensor } from '../../tensor.js';
import type { Node } from '../model.js';
import { attrInt, attrInts, attrString, attrFlag } from '../attrs.js';
import { defineOps, type OpContext, type OpHandler } from './registry.js';
import { hostValues } from '../../host-memory.js';
import { binary, checkedIndices, hostInts, input, singleOutput } from './util.js';
import { scatterInto } from './gather-nd.js';


const AUTO_PADS = ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'];

/** The auto_pad attribute, one of AUTO_PADS (E_ARGUMENT otherwise). */
function autoPadOf(n: Node): string {
  const a = attrString(n, 'auto_pad', 'NOTSET');
  if (!AUTO_PADS.includes(a)) fail('E_ARGUMENT', `auto_pad must be one of ${AUTO_PADS.join(', ')}, got '${a}'`);
  return a;
}

/** E_ARGUMENT unless the window attribute `name` holds `len` integers, each at least `min`. */
function checkInts(name: string, v: readonly number[], len: number, min: number): void {
  if (v.length !== len || v.some((x) => x < min)) fail('E_ARGUMENT', `${name} [${v}] must hold ${len} integers >= ${min} (one per spatial dim of X)`);
}

/** Output size and padding per spatial dim, for Conv and the pools. */
export function windowOf(n: Node, inShape: readonly number[], kernel: number[], ceil = false): Window {
  const d = kernel.length;
  const strides = attrInts(n, 'strides') ?? Array(d).fill(1);
  const dilations = attrInts(n, 'dilations') ?? Array(d).fill(1);
  const autoPad = autoPadOf(n);
  const pads = attrInts(n, 'pads') ?? Array(2 * d).fill(0);
  // refused here, before a backend's path is chosen, so every backend gives the same error
  checkInts('kernel_shape', kernel, inShape.length, 1);
  checkInts('strides', strides, d, 1);
  checkInts('dilations', dilations, d, 1);
  checkInts('pads', pads, 2 * d, 0);
  const begin: number[] = [], end: number[] = [], out: number[] = [], padEnd: number[] = [];
  for (let i = 0; i < d; ++i) {
    const span = dilations[i] * (kernel[i] - 1) + 1;
    const size = inShape[i];
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const o = Math.ceil(size / strides[i]);
      const total = Math.max(0, (o - 1) * strides[i] + span - size);
      const small = Math.floor(total / 2);
      begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
      end.push(autoPad === 'SAME_UPPER' ? total - small : small);
      padEnd.push(end[i]);
      out.push(o);
      continue;
    }
    const [b, e] = autoPad === 'VALID' ? [0, 0] : [pads[i], pads[d + i]];
    const padded = size + b + e;
    let o = (ceil ? Math.ceil : Math.floor)((padded - span) / strides[i]) + 1;
    // A window may not start inside the end padding only (PyTorch's and ORT's rule).
    if (ceil && (o - 1) * strides[i] >= size + b) o -= 1;
    if (o < 1) fail('E_ARGUMENT', `the window (kernel ${kernel[i]}, dilation ${dilations[i]}) does not fit spatial dim ${i} of size ${size} with pads ${b}, ${e}: no output`);
    begin.push(b);
    padEnd.push(e);
    end.push(Math.max(e, (o - 1) * strides[i] + span - size - b));
    out.push(o);
  }
  return { kernel, strides, dilations, begin, end, padEnd, out };
}

/** The window geometry Im2Col takes. */
export interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Padding before and after each spatial dim (after auto_pad and ceil_mode). */
  begin: number[];
  end: number[];
  /** `end` without the extra padding ceil_mode adds. */
  padEnd: number[];
  out: number[];
}

/**
 * The patches of X under the window: [N, C, k..., o...], padded with `value`. The native Im2Col
 * where the device has it; elsewhere im2colComposed.
 */
function im2col(x: Tensor, w: Window, value: number): Tensor {
  if (!x.backendFor('Im2Col').supports('Im2Col', [x.dtype])) return im2colComposed(x, w, value);
  return run1('Im2Col', [x], [...x.shape.slice(0, 2), ...w.kernel, ...w.out], x.dtype, {
    kernel: w.kernel, strides: w.strides, dilations: w.dilations, pads: w.begin, value,
  });
}

/** Im2Col from ops every backend has: Pad, a strided view of the window taps, one copy (Cast). */
export function im2colComposed(x: Tensor, w: Pick<Window, 'kernel' | 'strides' | 'dilations' | 'begin' | 'out'>, value: number): Tensor {
  const shape = [...x.shape.slice(0, 2), ...w.kernel, ...w.out];
  return withTemps((t) => {
    // pad only as far as the windows reach
    const end = w.out.map((o, i) => Math.max(0, (o - 1) * w.strides[i] + w.dilations[i] * (w.kernel[i] - 1) + 1 - x.shape[2 + i] - w.begin[i]));
    const padded = w.begin.some((b) => b > 0) || end.some((e) => e > 0)
      ? t.add(pad(x, [[0, 0], [0, 0], ...w.begin.map((b, i) => [b, end[i]] as [number, number])], { value }))
      : x;
    const sp = padded.strides.slice(2);
    const taps = t.add(padded.withLayout('Im2Col', shape, [...padded.strides.slice(0, 2), ...sp.map((s, i) => s * w.dilations[i]), ...sp.map((s, i) => s * w.strides[i])]));
    return taps.contiguous();
  });
}

/** Whether the device runs this Conv natively (Kiln's direct convolution). */
const nativeConv = (x: Tensor, wt: Tensor, bias: Tensor | undefined) =>
  (x.rank === 3 || x.rank === 4) && [x, wt, bias].every((t) => !t || t.dtype === 'float32') && x.backendFor('Conv').supports('Conv', ['float32']);

/**
 * Conv, and KilnConv: fuse.ts's Conv -> Relu (attribute kiln_activation 'relu') -> MaxPool with
 * windows equal to their strides (kiln_pool: the window), in one native Conv where the device has
 * it, else Conv, Relu and the pool one after another.
 */
function conv(ctx: OpContext): Tensor {
  const x = input(ctx, 0), wt = input(ctx, 1), bias = ctx.inputs[2];
  const n = ctx.node;
  const relu = attrString(n, 'kiln_activation', 'none') === 'relu';
  const poolWindow = attrInts(n, 'kiln_pool');
  if (x.rank < 3) fail('E_SHAPE', `X must be [N, C, spatial...], got ${x.describe()}`);
  const g = attrInt(n, 'group', 1);
  const [N, C] = x.shape;
  const M = wt.shape[0];
  const kernel = attrInts(n, 'kernel_shape') ?? wt.shape.slice(2);
  if (C % g || M % g || wt.shape[1] * g !== C || wt.rank !== x.rank || kernel.length !== wt.rank - 2 || kernel.some((kk, i) => kk !== wt.shape[2 + i]))
    fail('E_SHAPE', `X ${x.describe()}, W ${wt.describe()}, kernel_shape [${kernel}] and group ${g} do not fit`);
  const w = windowOf(n, x.shape.slice(2), kernel);
  if (poolWindow && poolWindow.length !== kernel.length) fail('E_SHAPE', `the fused pool window [${poolWindow}] does not fit X ${x.describe()}`);
  if (nativeConv(x, wt, bias)) {
    if (bias && (bias.rank !== 1 || bias.shape[0] !== M)) fail('E_SHAPE', `B must be [${M}], got ${bias.describe()}`);
    const out = poolWindow ? tiledWindows(w.out, poolWindow).out : w.out;
    return run1('Conv', bias ? [x, wt, bias] : [x, wt], [N, M, ...out], x.dtype, {
      strides: w.strides, dilations: w.dilations, pads: w.begin, group: g, activation: relu ? 'relu' : 'none', ...(poolWindow ? { pool: poolWindow } : {}),
    });
  }
  return withTemps((t) => {
    let y = t.add(composedConv(x, wt, bias, w, g));
    if (relu) y = t.add(k.relu(y));
    if (poolWindow) y = t.add(poolWindows(y, tiledWindows(y.shape.slice(2), poolWindow), 'max', false));
    return y.contiguous();
  });
}

/** Conv from Im2Col and one batched MatMul (bias as its C operand). */
function composedConv(x: Tensor, wt: Tensor, bias: Tensor | undefined, w: Window, g: number): Tensor {
  const [N, C] = x.shape, M = wt.shape[0], kernel = w.kernel;
  return withTemps((t) => {
    const K = (C / g) * numel(kernel), L = numel(w.out);
    const pointwise = kernel.every((k) => k === 1) && w.strides.every((s) => s === 1) && w.begin.every((b) => b === 0) && w.end.every((e) => e === 0);
    let cols: Tensor;
    if (pointwise) cols = t.add(x.reshape([N, g, K, L]));
    else cols = t.add(t.add(im2col(x, w, 0)).reshape([N, g, K, L]));
    const a = t.add(t.add(wt.reshape([g, M / g, K])).expand([N, g, M / g, K]));
    const ins = [a, cols];
    if (bias) ins.push(t.add(t.add(bias.reshape([1, g, M / g, 1])).expand([N, g, M / g, L])));
    const out = t.add(run1('MatMul', ins, [N, g, M / g, L], x.dtype, { alpha: 1, beta: bias ? 1 : 0 }));
    return out.reshape([N, M, ...w.out]);
  });
}

/**
 * col2im: y[lead.., k * dil + s * j] += z[lead.., k, j] for every kernel tap k (in place, one Add
 * per tap), z being [lead.., k..., in...] and y [lead.., spatial...].
 */
function addTaps(y: Tensor, z: Tensor, lead: number, kernel: number[], strides: number[], dil: number[]): void {
  const d = kernel.length;
  const inSp = z.shape.slice(lead + d);
  const shape = [...y.shape.slice(0, lead), ...inSp];
  const tap = Array(d).fill(0);
  withTemps((t) => {
    for (let i = 0; i < numel(kernel); ++i) {
      const yv = t.add(y.withLayout('col2im', shape, [...y.strides.slice(0, lead), ...y.strides.slice(lead).map((s, j) => s * strides[j])],
        y.offset + tap.reduce((o, kk, j) => o + kk * dil[j] * y.strides[lead + j], 0)));
      const zv = t.add(z.withLayout('col2im', shape, [...z.strides.slice(0, lead), ...z.strides.slice(lead + d)],
        z.offset + tap.reduce((o, kk, j) => o + kk * z.strides[lead + j], 0)));
      runInto('Add', [yv, zv], [yv]);
      for (let j = d - 1; j >= 0 && ++tap[j] === kernel[j]; --j) tap[j] = 0;
    }
  });
}

/** Col2Im: sums the columns [N, C * K, L] back into an image [N, C, image_shape], cropping the pads. */
function col2im(ctx: OpContext): Tensor {
  const x = input(ctx, 0), n = ctx.node;
  const image = hostInts(ctx, 1), kernel = hostInts(ctx, 2);
  const d = image.length;
  const strides = attrInts(n, 'strides') ?? Array(d).fill(1), dil = attrInts(n, 'dilations') ?? Array(d).fill(1);
  const pads = attrInts(n, 'pads') ?? Array(2 * d).fill(0);
  const padded = image.map((s, i) => s + pads[i] + pads[d + i]);
  const out = padded.map((p, i) => Math.floor((p - dil[i] * (kernel[i] - 1) - 1) / strides[i]) + 1);
  const [N, CK] = x.shape, C = CK / numel(kernel);
  return withTemps((t) => {
    const y = t.add(full([N, C, ...padded], 0, { dtype: x.dtype, device: x.device }));
    // an empty X adds nothing: one Add per kernel tap, as for any X, hung for hours on [1, 0, 1]
    // with a kernel of [10^5, 10^5]
    if (x.size > 0) addTaps(y, t.add(x.reshape([N, C, ...kernel, ...out])), 2, kernel, strides, dil);
    let cropped = y;
    for (let i = 0; i < d; ++i) cropped = t.add(cropped.slice(2 + i, pads[i], padded[i] - pads[d + i]));
    return cropped.contiguous();
  });
}

/**
 * ConvTranspose's output_shape: one positive size per spatial dim, each one that a convolution with
 * these parameters maps back to X's size there: the full result cropped, or extended by less than a
 * stride minus the output_padding (onnxruntime's rule).
 */
function checkOutputShape(out: readonly number[], inSp: readonly number[], full: readonly number[], strides: readonly number[], outPad: readonly number[]): void {
  const d = inSp.length;
  checkInts('output_shape', out, d, 1);
  out.forEach((o, i) => {
    const keff = full[i] - outPad[i] - (inSp[i] - 1) * strides[i]; // the dilated kernel's extent
    const needs = Math.floor((o + Math.max(0, full[i] - o) - keff) / strides[i]) + 1;
    if (needs !== inSp[i])
      fail('E_ARGUMENT', `output_shape [${out}]: ${o} along spatial dim ${i} needs an input of ${needs} there, X has ${inSp[i]} (full result ${full[i]}, stride ${strides[i]})`);
  });
}

function convTranspose(ctx: OpContext): Tensor {
  const x = input(ctx, 0), wt = input(ctx, 1), bias = ctx.inputs[2];
  const n = ctx.node;
  const g = attrInt(n, 'group', 1);
  // at least one spatial dim, as for Conv (fuzz seed 543: a 2-D X ran)
  if (x.rank < 3 || wt.rank !== x.rank) fail('E_SHAPE', `X must be [N, C, spatial...] and W of its rank, got X ${x.describe()} and W ${wt.describe()}`);
  const [N, C] = x.shape;
  const inSp = x.shape.slice(2), d = inSp.length;
  const kernel = attrInts(n, 'kernel_shape') ?? wt.shape.slice(2);
  const Mg = wt.shape[1], M = Mg * g;
  if (wt.shape[0] !== C || C % g) fail('E_SHAPE', `X ${x.describe()}, W ${wt.describe()} and group ${g} do not fit`);
  const strides = attrInts(n, 'strides') ?? Array(d).fill(1);
  const dil = attrInts(n, 'dilations') ?? Array(d).fill(1);
  const outPad = attrInts(n, 'output_padding') ?? Array(d).fill(0);
  const autoPad = autoPadOf(n);
  checkInts('kernel_shape', kernel, d, 1);
  if (kernel.some((kk, i) => kk !== wt.shape[2 + i])) fail('E_SHAPE', `W ${wt.describe()} does not fit kernel_shape [${kernel}]`);
  checkInts('strides', strides, d, 1);
  checkInts('dilations', dil, d, 1);
  checkInts('output_padding', outPad, d, 0);
  outPad.forEach((p, i) => {
    // more would not be the transpose of a convolution of the output: onnxruntime refuses it too
    if (p >= strides[i]) fail('E_ARGUMENT', `output_padding [${outPad}]: ${p} along spatial dim ${i} must be less than the stride there (${strides[i]})`);
  });
  const full_ = inSp.map((s, i) => (s - 1) * strides[i] + dil[i] * (kernel[i] - 1) + 1 + outPad[i]);
  let pads = attrInts(n, 'pads') ?? Array(2 * d).fill(0);
  checkInts('pads', pads, 2 * d, 0);
  const outShape = attrInts(n, 'output_shape');
  if (outShape) checkOutputShape(outShape, inSp, full_, strides, outPad);
  if (outShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const want = outShape ?? inSp.map((s, i) => s * strides[i]);
    pads = Array(2 * d).fill(0);
    want.forEach((o, i) => {
      const total = full_[i] - o;
      const half = Math.floor(total / 2);
      // An output_shape past the full result (by less than a stride) extends it with zeros at the end;
      // SAME asking for more than the full result gets the full result (onnxruntime does both).
      if (total < 0) [pads[i], pads[d + i]] = outShape ? [0, total] : [0, 0];
      else [pads[i], pads[d + i]] = autoPad === 'SAME_UPPER' ? [half, total - half] : [total - half, half];
    });
  }
  const extra = full_.map((_, i) => Math.max(0, -pads[d + i]));
  pads = pads.map((p) => Math.max(0, p));
  const alloc = full_.map((f, i) => f + extra[i]);
  alloc.forEach((a, i) => {
    if (a - pads[i] - pads[d + i] <= 0) fail('E_ARGUMENT', `pads [${pads}] leave no output along spatial dim ${i} (the full result there is ${full_[i]})`);
  });
  return withTemps((t) => {
    const L = numel(inSp), Kp = numel(kernel);
    // Z[N, g, Mg*Kp, L] = W_g^T [Mg*Kp, C/g] @ X_g [C/g, L]
    const wg = t.add(t.add(wt.reshape([g, C / g, Mg * Kp])).transpose(1, 2));
    const xg = t.add(x.reshape([N, g, C / g, L]));
    const z = t.add(run1('MatMul', [t.add(wg.expand([N, g, Mg * Kp, C / g])), xg], [N, g, Mg * Kp, L], x.dtype, { alpha: 1, beta: 0 }));
    const z6 = t.add(z.reshape([N, g, Mg, ...kernel, ...inSp]));
    const y = t.add(full([N, g, Mg, ...alloc], 0, { dtype: x.dtype, device: x.device }));
    // with an empty X or W, Z is zeros: one Add per kernel tap of them, as this did, took 20 minutes
    // for an empty W of [0, 1, 10^4, 10^4]
    if (x.size > 0 && wt.size > 0) addTaps(y, z6, 3, kernel, strides, dil);
    let cropped = t.add(y.reshape([N, M, ...alloc]));
    for (let i = 0; i < d; ++i) cropped = t.add(cropped.slice(2 + i, pads[i], alloc[i] - pads[d + i]));
    if (!bias) return cropped.contiguous();
    return binary('Add', cropped, t.add(bias.reshape([M, ...Array(d).fill(1)])));
  });
}

/** LpPool's and GlobalLpPool's p: a norm's order, 1 or more (below, padding zeros would weigh infinitely). */
function lpOrder(n: Node): number {
  const p = attrInt(n, 'p', 2);
  if (p < 1) fail('E_ARGUMENT', `p ${p} must be at least 1 (the order of an Lp norm)`);
  return p;
}

/**
 * LpPool: (sum over the window of |x|^p)^(1/p); the zero padding adds nothing to the sum. Computed
 * as m * (sum of (|x| / m)^p)^(1/p) with m the window's largest |x|, so |x|^p neither overflows
 * (1.1^1000 is past float32) nor underflows into subnormals that some devices flush to 0.
 */
function lpPool(ctx: OpContext): Tensor {
  const x = input(ctx, 0), n = ctx.node;
  const p = lpOrder(n);
  const kernel = attrInts(n, 'kernel_shape') ?? fail('E_ARGUMENT', `kernel_shape is required`);
  checkPoolPads(n, kernel);
  const w = windowOf(n, x.shape.slice(2), kernel, attrFlag(n, 'ceil_mode', 0));
  const axes = kernel.map((_, i) => 2 + i);
  return withTemps((t) => {
    const patches = t.add(im2col(t.add(k.abs(x)), w, 0));
    const m = t.add(k.max(patches, { axes, keepdims: true }));
    const safe = t.add(k.where(t.add(k.greater(m, 0)), m, 1)); // an all-zero window: 0 / 1, not 0 / 0
    // the largest entries' ratio is 1 exactly (also when m is infinite, where |x| / m would be NaN)
    const ratio = t.add(k.where(t.add(k.equal(patches, m)), 1, t.add(k.div(patches, safe))));
    const sum = t.add(k.sum(t.add(k.pow(ratio, p)), { axes, keepdims: true }));
    return t.add(k.mul(m, t.add(k.pow(sum, 1 / p)))).reshape([...x.shape.slice(0, 2), ...w.out]);
  });
}

/** A pooling window's pads must each be smaller than the kernel (onnxruntime's rule: else whole windows see only padding). */
function checkPoolPads(n: Node, kernel: readonly number[]): void {
  const pads = attrInts(n, 'pads');
  pads?.forEach((p, i) => {
    const dim = i % kernel.length;
    if (p >= kernel[dim]) fail('E_ARGUMENT', `pads [${pads}]: ${p} along spatial dim ${dim} must be smaller than the kernel there (${kernel[dim]})`);
  });
}

function pool(ctx: OpContext, kind: 'max' | 'avg'): Tensor {
  const x = input(ctx, 0), n = ctx.node;
  const kernel = attrInts(n, 'kernel_shape') ?? fail('E_ARGUMENT', `kernel_shape is required`);
  checkPoolPads(n, kernel);
  return poolWindows(x, windowOf(n, x.shape.slice(2), kernel, attrFlag(n, 'ceil_mode', 0)), kind, attrFlag(n, 'count_include_pad', 0));
}

/** Max or average over the windows `w` of X: the native pooling op, or Im2Col + a reduction. */
function poolWindows(x: Tensor, w: Window, kind: 'max' | 'avg', include: boolean): Tensor {
  const d = w.kernel.length;
  const axes = Array.from({ length: d }, (_, i) => 2 + i);
  const outShape = [...x.shape.slice(0, 2), ...w.out];
  const op = kind === 'max' ? 'MaxPool' : 'AveragePool';
  if (isFloat(x.dtype) && x.backendFor(op).supports(op, [x.dtype])) {
    return run1(op, [x], outShape, x.dtype, {
      kernel: w.kernel, strides: w.strides, dilations: w.dilations, pads: w.begin,
      ...(kind === 'avg' ? { pads_end: w.padEnd, count_include_pad: include ? 1 : 0 } : {}),
    });
  }
  return withTemps((t) => {
    if (kind === 'max') return t.add(k.max(t.add(im2col(x, w, -Infinity)), { axes })).reshape(outShape);
    const sum = t.add(k.sum(t.add(im2col(x, w, 0)), { axes }));
    // Divisor per output position: the window's elements inside X (and inside its pads with
    // count_include_pad), never the extra end padding of ceil_mode.
    const ones = t.add(full([1, 1, ...x.shape.slice(2)], 1, { dtype: x.dtype, device: x.device }));
    const area = include ? t.add(pad(ones, [[0, 0], [0, 0], ...w.begin.map((b, i) => [b, w.padEnd[i]] as [number, number])], { value: 1 })) : ones;
    const inArea = include ? { ...w, begin: w.begin.map(() => 0) } : w;
    const count = t.add(k.sum(t.add(im2col(area, inArea, 0)), { axes }));
    return t.add(binary('Div', sum, count)).reshape(outShape);
  });
}

/** The non-overlapping, unpadded max-pool windows (stride = window) of a fused KilnConv. */
export function tiledWindows(inShape: readonly number[], q: number[]): Window {
  const zeros = q.map(() => 0);
  return { kernel: q, strides: q, dilations: q.map(() => 1), begin: zeros, end: zeros, padEnd: zeros, out: q.map((p, i) => Math.floor(inShape[i] / p)) };
}

/**
 * MaxPool's Indices: the flat NCHW index of each window's maximum (the first one on ties): the
 * window-local argmax of the patches, decoded into input coordinates with int64 arithmetic.
 */
function maxPoolIndices(ctx: OpContext): Tensor {
  const x = input(ctx, 0), n = ctx.node;
  const kernel = attrInts(n, 'kernel_shape')!;
  const d = kernel.length;
  const w = windowOf(n, x.shape.slice(2), kernel, attrFlag(n, 'ceil_mode', 0));
  const [N, C] = x.shape;
  const L = numel(w.out), K = numel(kernel), S = numel(x.shape.slice(2));
  return withTemps((t) => {
    const cols = t.add(t.add(im2col(x, w, -Infinity)).reshape([N, C, K, L]));
    let rest = t.add(k.argmax(cols, { axis: 2 })); // [N, C, L] window-local flat index
    const i64 = (values: Float64Array, shape: number[]) => t.add(k.tensor(values, { dtype: 'int64', device: x.device, shape }));
    // flat = (n * C + c) * S + sum_j coord_j * stride_j, coord_j = o_j * s_j - p_j + tap_j * dil_j
    // (the channel starts counted on the device: N * C may be huge when X is empty, and a JS array
    // that long threw a RangeError)
    let flat = t.add(k.mul(t.add(t.add(k.arange(0, N * C, 1, { dtype: 'int64', device: x.device })).reshape([N, C, 1])), S));
    // storage_order 1 numbers the spatial dims column-major
    const sp = x.shape.slice(2), colMajor = attrFlag(n, 'storage_order', 0);
    for (let j = d - 1; j >= 0; --j) {
      const inner = colMajor ? numel(sp.slice(0, j)) : numel(sp.slice(j + 1));
      const tap = t.add(k.mod(rest, kernel[j]));
      rest = t.add(k.div(t.add(k.sub(rest, tap)), kernel[j]).cast('int64'));
      const base = hostValues(L, `MaxPool's ${L} output positions`), after = numel(w.out.slice(j + 1));
      for (let l = 0; l < L; ++l) base[l] = (Math.floor(l / after) % w.out[j]) * w.strides[j] - w.begin[j];
      const coord = t.add(k.add(t.add(k.mul(tap, w.dilations[j])), i64(base, [1, 1, L])));
      flat = t.add(k.add(flat, t.add(k.mul(coord, inner))));
    }
    return flat.reshape([N, C, ...w.out]);
  });
}

/**
 * MaxUnpool: zeros of the output shape (output_shape, or (in - 1) * stride + kernel - pads per
 * spatial dim) with each X value written at its index in Indices, a flat index into the whole
 * output as MaxPool's Indices are (negatives count from the end; one past the output is E_INDEX, a
 * data fault). Written by scatterInto (the native ScatterSlices of single elements: the last of
 * equal indices wins, as onnxruntime's loop does); where the backend lacks it, composed, which is
 * O(values x outputs) and refused past 2^26 of those pairs.
 */
function maxUnpool(ctx: OpContext): Tensor {
  const x = input(ctx, 0), idx = input(ctx, 1), n = ctx.node;
  const kernel = attrInts(n, 'kernel_shape') ?? fail('E_ARGUMENT', 'needs the attribute kernel_shape');
  const d = kernel.length;
  if (x.rank !== d + 2) fail('E_SHAPE', `X ${x.describe()} must have ${d + 2} dims for a ${d}-D kernel_shape`);
  if (idx.shape.join() !== x.shape.join()) fail('E_SHAPE', `Indices ${idx.describe()} must have the shape of X ${x.describe()}`);
  if (idx.dtype !== 'int64') fail('E_DTYPE', `Indices ${idx.describe()} must be int64`);
  const strides = attrInts(n, 'strides') ?? kernel.map(() => 1), pads = attrInts(n, 'pads') ?? [...kernel, ...kernel].map(() => 0);
  if (strides.length !== d || pads.length !== 2 * d) fail('E_ARGUMENT', `strides [${strides}] and pads [${pads}] must have ${d} and ${2 * d} entries`);
  const given = ctx.inputs[2] ? hostInts(ctx, 2) : undefined;
  const inferred = [x.shape[0], x.shape[1], ...kernel.map((kk, j) => (x.shape[j + 2] - 1) * strides[j] + kk - pads[j] - pads[d + j])];
  const shape = given ?? inferred;
  if (shape.length !== x.rank || shape.some((v) => !Number.isSafeInteger(v) || v < 0) || (given && (given[0] !== x.shape[0] || given[1] !== x.shape[1])))
    fail('E_SHAPE', `the output shape [${shape.join(', ')}] must be ${x.rank} non-negative dims with X's batch and channels (${x.shape[0]}, ${x.shape[1]})`);
  // as onnxruntime: output_shape may pad the unpooled output, not cut into it
  if (given && given.some((v, i) => i >= 2 && v < inferred[i]))
    fail('E_SHAPE', `output_shape [${given.join(', ')}] is smaller than the unpooled shape [${inferred.join(', ')}] ((in - 1) * stride + kernel - pads)`);
  const P = numel(shape);
  return withTemps((t) => scatterInto(t, t.add(k.zeros(shape, { dtype: x.dtype, device: x.device })), t.add(checkedIndices(t, idx, P, 'MaxUnpool').reshape([-1])), x, 1));
}

defineOps({
  Conv: { uses: ['MatMul', 'Pad', 'Cast'], run: (ctx) => [conv(ctx)] },
  // Conv -> Relu -> MaxPool, fused at load (fuse.ts) where the device has the native Conv
  KilnConv: { uses: ['Conv', 'MatMul', 'Pad', 'Cast', 'Relu', 'MaxPool'], run: (ctx) => [conv(ctx)] },
  ConvTranspose: { uses: ['MatMul', 'Add', 'Fill', 'Cast'], run: (ctx) => [convTranspose(ctx)] },
  MaxPool: {
    since: 8,
    uses: ['Pad', 'Cast', 'ReduceMax', 'ArgMax', 'Mod', 'Div', 'Sub', 'Mul', 'Add'],
    run: (ctx) => (ctx.node.outputs[1] ? [pool(ctx, 'max'), maxPoolIndices(ctx)] : [pool(ctx, 'max')]),
  },
  MaxUnpool: { since: 9, uses: ['Fill', 'Gather', 'Range', 'Cast', 'Equal', 'Where', 'ReduceMax', 'Max', 'GreaterOrEqual'], hostInputs: [2], run: (ctx) => [maxUnpool(ctx)] },
  AveragePool: { since: 7, uses: ['Pad', 'Cast', 'ReduceSum', 'Div', 'Fill'], check: (n) => singleOutput(n), run: (ctx) => [pool(ctx, 'avg')] },
  GlobalAveragePool: { uses: ['ReduceMean'], run: (ctx) => { const x = input(ctx, 0); return [k.mean(x, { axes: x.shape.slice(2).map((_, i) => i + 2), keepdims: true })]; } },
  Col2Im: { since: 18, uses: ['Add', 'Fill', 'Cast'], hostInputs: [1, 2], run: (ctx) => [col2im(ctx)] },
  LpPool: { since: 11, uses: ['Pad', 'Cast', 'Abs', 'Pow', 'ReduceSum'], run: (ctx) => [lpPool(ctx)] },
  GlobalLpPool: {
    since: 2,
    uses: ['Abs', 'Pow', 'ReduceSum'],
    run: (ctx) => withTemps((t) => {
      const x = input(ctx, 0), p = lpOrder(ctx.node);
      const sum = t.add(k.sum(t.add(k.pow(t.add(k.abs(x)), p)), { axes: x.shape.slice(2).map((_, i) => i + 2), keepdims: true }));
      return [k.pow(sum, 1 / p)];
    }),
  },
  GlobalMaxPool: { uses: ['ReduceMax'], run: (ctx) => { const x = input(ctx, 0); return [k.max(x, { axes: x.shape.slice(2).map((_, i) => i + 2), keepdims: true })]; } },
} satisfies Record<string, OpHandler>);
