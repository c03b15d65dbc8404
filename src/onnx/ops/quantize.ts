// Linear quantization to and from uint8 (Kiln's 8-bit dtype): QuantizeLinear, DequantizeLinear and
// DynamicQuantizeLinear, per tensor, per axis or per block, rounding half to even and saturating; and
// the quantized products of uint8 matrices, MatMulInteger and QLinearMatMul, accumulated exactly in
// int32 as onnxruntime does.
import { isFloat } from '../../dtype.js';
import { fail } from '../../errors.js';
import * as k from '../../ops/index.js';
import { withTemps, type Temps } from '../../ops/temps.js';
import { fmtShape, normalizeAxis, sameShape } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { attrInt } from '../attrs.js';
import { kilnDType } from '../proto.js';
import { defineOps, type OpContext } from './registry.js';
import { input } from './util.js';

/**
 * A scale or zero point shaped to broadcast against x: scalar (or one value in 1-D), per `axis`, or per
 * block along it. Any other shape is E_SHAPE, a [1, 1] too, as in ONNX and onnxruntime.
 */
function along(t: Temps, ctx: OpContext, p: Tensor, x: Tensor, what: string): Tensor {
  if (p.rank === 0 || (p.rank === 1 && p.size === 1)) return t.add(p.reshape([]));
  const axis = normalizeAxis('QuantizeLinear', attrInt(ctx.node, 'axis', 1), x.rank);
  const block = attrInt(ctx.node, 'block_size', 0);
  if (block < 0) fail('E_ARGUMENT', `block_size ${block} is negative`);
  // per block: x's shape with dim `axis` divided by block_size (rounded up); per axis: [x.shape[axis]]
  const want = block > 0 ? x.shape.map((d, i) => (i === axis ? Math.ceil(d / block) : d)) : [x.shape[axis]];
  if (!sameShape(p.shape, want)) fail('E_SHAPE', `${what} ${p.describe()} must have shape ${fmtShape(want)} for input ${x.describe()} (axis ${axis}${block > 0 ? `, block_size ${block}` : ''})`);
  if (block > 0) {
    // p has x's shape with dim `axis` divided by block: repeat each entry block times along it
    const rep = t.add(t.add(p.unsqueeze(axis + 1)).expand([...p.shape.slice(0, axis + 1), block, ...p.shape.slice(axis + 1)]));
    return t.add(t.add(rep.reshape([...p.shape.slice(0, axis), p.shape[axis] * block, ...p.shape.slice(axis + 1)])).slice(axis, 0, x.shape[axis]));
  }
  return t.add(p.reshape(x.shape.map((d, i) => (i === axis ? d : 1))));
}

/** round_half_even(v) + zero point, saturated to uint8. */
function toUint8(t: Temps, v: Tensor, zp: Tensor | undefined): Tensor {
  const r = t.add(k.round(v));
  const shifted = zp ? t.add(k.add(r, t.add(k.cast(zp, r.dtype)))) : r;
  return k.cast(t.add(k.clip(shifted, 0, 255)), 'uint8');
}

function quantize(ctx: OpContext): Tensor {
  const x = input(ctx, 0), scale = input(ctx, 1), zp = ctx.inputs[2];
  const out = zp?.dtype ?? kilnDType(attrInt(ctx.node, 'output_dtype', 2));
  if (out !== 'uint8') fail('E_UNSUPPORTED', `output ${out ?? 'type'} (uint8 is implemented)`);
  return withTemps((t) => toUint8(t, t.add(k.div(x, along(t, ctx, scale, x, 'y_scale'))), zp && along(t, ctx, zp, x, 'y_zero_point')));
}

function dequantize(ctx: OpContext): Tensor {
  const x = input(ctx, 0), scale = input(ctx, 1), zp = ctx.inputs[2];
  return withTemps((t) => {
    const xf = t.add(k.cast(x, scale.dtype));
    const centered = zp ? t.add(k.sub(xf, t.add(k.cast(along(t, ctx, zp, x, 'x_zero_point'), scale.dtype)))) : xf;
    return k.mul(centered, along(t, ctx, scale, x, 'x_scale'));
  });
}

function dynamicQuantize(ctx: OpContext): Tensor[] {
  const x = input(ctx, 0);
  return withTemps((t) => {
    const hi = t.add(k.maximum(t.add(k.max(x)), 0)), lo = t.add(k.minimum(t.add(k.min(x)), 0));
    const scale = k.div(t.add(k.sub(hi, lo)), 255);
    const zp = toUint8(t, t.add(k.div(t.add(k.neg(lo)), scale)), undefined);
    return [toUint8(t, t.add(k.div(x, scale)), zp), scale, zp];
  });
}

/**
 * x (uint8) minus its zero point, in int32: one value, or for B one per column (last dim), the zero
 * points onnxruntime takes (ONNX allows A one per row too; onnxruntime refuses that, and so does this).
 */
function centered(t: Temps, x: Tensor, zp: Tensor | undefined, what: string, perColumn: boolean): Tensor {
  if (x.dtype !== 'uint8') fail('E_DTYPE', `${what} ${x.describe()} must be uint8 (Kiln has no int8)`);
  const xi = t.add(k.cast(x, 'int32'));
  if (!zp) return xi;
  if (zp.dtype !== x.dtype) fail('E_DTYPE', `${what}'s zero point ${zp.describe()} must be ${x.dtype}, as ${what} is`);
  const one = zp.size === 1 && zp.rank <= 1;
  if (!one && !(perColumn && zp.rank === 1 && zp.shape[0] === x.shape[x.rank - 1]))
    fail('E_UNSUPPORTED', `${what}'s zero point ${zp.describe()}: one value${perColumn ? `, or one per column (${x.shape[x.rank - 1]})` : ''} is implemented`);
  return t.add(k.sub(xi, t.add(k.cast(one ? t.add(zp.reshape([])) : zp, 'int32'))));
}

/** A scale as float32: one value, or for B one per column (the scales onnxruntime takes). */
function scaleOf(t: Temps, s: Tensor, x: Tensor | undefined, what: string): Tensor {
  if (!isFloat(s.dtype)) fail('E_DTYPE', `${what} ${s.describe()} must be a float tensor`);
  const one = s.size === 1 && s.rank <= 1;
  if (!one && !(x && s.rank === 1 && s.shape[0] === x.shape[x.rank - 1]))
    fail('E_UNSUPPORTED', `${what} ${s.describe()}: one value${x ? `, or one per column (${x.shape[x.rank - 1]})` : ''} is implemented`);
  const v = one ? t.add(s.reshape([])) : s;
  return s.dtype === 'float32' ? v : t.add(k.cast(v, 'float32'));
}

/** MatMulInteger: (A - a_zero_point) @ (B - b_zero_point), uint8 operands, int32 (wrapping) result. */
function matmulInteger(ctx: OpContext): Tensor {
  const a = input(ctx, 0), b = input(ctx, 1);
  return withTemps((t) => k.matmul(centered(t, a, ctx.inputs[2], 'A', false), centered(t, b, ctx.inputs[3], 'B', true)));
}

/**
 * QLinearMatMul: the int32 product of the centered uint8 operands, then y = saturate(round_half_even(
 * acc * (a_scale * b_scale / y_scale)) + y_zero_point), in float32 step by step as onnxruntime's
 * requantization does it (float16 scales, opset 21, converted first).
 */
function qlinearMatmul(ctx: OpContext): Tensor {
  const [a, as, azp, b, bs, bzp, ys, yzp] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => input(ctx, i));
  if (yzp.dtype !== 'uint8') fail('E_DTYPE', `y_zero_point ${yzp.describe()} must be uint8 (Kiln has no int8)`);
  if (yzp.size !== 1 || yzp.rank > 1) fail('E_UNSUPPORTED', `y_zero_point ${yzp.describe()}: one value is implemented`);
  return withTemps((t) => {
    const acc = t.add(k.matmul(centered(t, a, azp, 'a', false), centered(t, b, bzp, 'b', true)));
    const multiplier = t.add(k.div(t.add(k.mul(scaleOf(t, as, undefined, 'a_scale'), scaleOf(t, bs, b, 'b_scale'))), scaleOf(t, ys, undefined, 'y_scale')));
    return toUint8(t, t.add(k.mul(t.add(k.cast(acc, 'float32')), multiplier)), t.add(yzp.reshape([])));
  });
}

const QUANT = ['Div', 'Round', 'Add', 'Clip', 'Cast'];
defineOps({
  QuantizeLinear: { since: 10, uses: QUANT, run: (ctx) => [quantize(ctx)] },
  DequantizeLinear: { since: 10, uses: ['Cast', 'Sub', 'Mul'], run: (ctx) => [dequantize(ctx)] },
  DynamicQuantizeLinear: { since: 11, uses: [...QUANT, 'ReduceMax', 'ReduceMin', 'Max', 'Min', 'Sub', 'Neg'], run: dynamicQuantize },
  MatMulInteger: { since: 10, uses: ['Cast', 'Sub', 'MatMul'], run: (ctx) => [matmulInteger(ctx)] },
  QLinearMatMul: { since: 10, uses: [...QUANT, 'Sub', 'MatMul', 'Mul'], run: (ctx) => [qlinearMatmul(ctx)] },
});
