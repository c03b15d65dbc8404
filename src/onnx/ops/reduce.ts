// ONNX reductions: axes from the attribute (older opsets) or input 1 (ReduceSum from 13, the rest
// from 18), keepdims, noop_with_empty_axes; the composite reductions (L1, L2, LogSumExp, ...)
// from Kiln ops; ArgMax/ArgMin with select_last_index.
import { fail } from '../../errors.js';
import { cast } from '../../ops/cast.js';
import { full } from '../../ops/creation.js';
import { scalarConstant } from '../../ops/constants.js';
import * as k from '../../ops/index.js';
import { withTemps } from '../../ops/temps.js';
import { normalizeAxes, normalizeAxis } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { attrInt, attrInts, attrFlag } from '../attrs.js';
import { defineOps, type OpContext, type OpHandler } from './registry.js';
import { binary, checkListInput, input, unary } from './util.js';

type Reducer = (x: Tensor, o: { axes: number[]; keepdims: boolean }) => Tensor;

/** ONNX keeps the input dtype where Kiln widens (sum of int32 is int64, mean of ints float32). */
const keepType = (x: Tensor, y: Tensor): Tensor => {
  if (y.dtype === x.dtype) return y;
  try {
    return cast(y, x.dtype);
  } finally {
    y.dispose();
  }
};

function reduction(name: string, inputSince: number, uses: string[], f: Reducer, emptyValue?: number): OpHandler {
  return {
    uses,
    hostInputs: [1],
    run: (ctx: OpContext) => {
      const x = input(ctx, 0);
      const given = ctx.opset >= inputSince ? ctx.ints(1) : attrInts(ctx.node, 'axes');
      // A 1-D list, as onnxruntime's reductions demand (its Unsqueeze, and ONNX's own functions, take a 0-D axes).
      if (ctx.opset >= inputSince) checkListInput(ctx, 1, 'axes');
      const keepdims = attrFlag(ctx.node, 'keepdims', 1);
      // axes lie in [-r, r - 1]: a 0-D input has none to name (fuzz seed 652)
      if (x.rank === 0 && given?.length) fail('E_ARGUMENT', `axes [${given.join(', ')}] name dims of a 0-D input ${x.describe()}`);
      // No axis to reduce (noop_with_empty_axes, or a 0-D input): each element is reduced alone, so
      // the op's elementwise part still applies ("ReduceSumSquare acts as a vanilla Square", ONNX).
      // A unit axis appended and reduced away does exactly that.
      if (((!given || given.length === 0) && attrFlag(ctx.node, 'noop_with_empty_axes', 0)) || x.rank === 0) {
        return withTemps((t) => [keepType(x, f(t.add(x.unsqueeze(x.rank)), { axes: [x.rank], keepdims: false }))]);
      }
      const axes = normalizeAxes(name, given && given.length ? given : undefined, x.rank);
      if (emptyValue !== undefined && axes.some((a) => x.shape[a] === 0)) {
        const shape = x.shape.flatMap((d, i) => (axes.includes(i) ? (keepdims ? [1] : []) : [d]));
        return [full(shape, emptyValue, { dtype: x.dtype, device: x.device })];
      }
      return [keepType(x, f(x, { axes, keepdims }))];
    },
  };
}

const sq = (x: Tensor) => binary('Mul', x, x);

function arg(op: 'argmax' | 'argmin'): OpHandler {
  return {
    uses: [op === 'argmax' ? 'ArgMax' : 'ArgMin', 'Sub', 'Fill'],
    run: (ctx) => {
      const x = input(ctx, 0);
      const axis = normalizeAxis(op, attrInt(ctx.node, 'axis', 0), x.rank);
      const keepdims = attrFlag(ctx.node, 'keepdims', 1);
      if (!attrFlag(ctx.node, 'select_last_index', 0)) return [k[op](x, { axis, keepdims })];
      // The last occurrence: search the reversed axis, then map i to n - 1 - i.
      return withTemps((t) => {
        const i = t.add(k[op](t.add(x.slice(axis, undefined, undefined, -1)), { axis, keepdims }));
        return [binary('Sub', scalarConstant(x.shape[axis] - 1, 'int64', x.device), i)];
      });
    },
  };
}

defineOps({
  ReduceSum: reduction('ReduceSum', 13, ['ReduceSum'], k.sum),
  ReduceMean: reduction('ReduceMean', 18, ['ReduceMean'], k.mean),
  ReduceMax: reduction('ReduceMax', 18, ['ReduceMax'], k.max, -Infinity),
  ReduceMin: reduction('ReduceMin', 18, ['ReduceMin'], k.min, Infinity),
  ReduceProd: reduction('ReduceProd', 18, ['ReduceProd'], k.prod),
  ReduceSumSquare: reduction('ReduceSumSquare', 18, ['Mul', 'ReduceSum'], (x, o) => withTemps((t) => k.sum(t.add(sq(x)), o))),
  ReduceL1: reduction('ReduceL1', 18, ['Abs', 'ReduceSum'], (x, o) => withTemps((t) => k.sum(t.add(unary('Abs', x)), o))),
  ReduceL2: reduction('ReduceL2', 18, ['Mul', 'ReduceSum', 'Sqrt'], (x, o) =>
    withTemps((t) => k.sqrt(t.add(k.sum(t.add(sq(x)), o))))),
  ReduceLogSum: reduction('ReduceLogSum', 18, ['ReduceSum', 'Log'], (x, o) => withTemps((t) => k.log(t.add(k.sum(x, o)))), -Infinity),
  ReduceLogSumExp: reduction('ReduceLogSumExp', 18, ['ReduceMax', 'Sub', 'Exp', 'ReduceSum', 'Log', 'Add'], (x, o) =>
    withTemps((t) => {
      // max-shifted for stability: m + log(sum(exp(x - m)))
      const m = t.add(k.max(x, { axes: o.axes, keepdims: true }));
      const finite = t.add(k.where(t.add(k.equal(m, m)), m, 0));
      const s = t.add(k.sum(t.add(k.exp(t.add(binary('Sub', x, finite)))), { axes: o.axes, keepdims: true }));
      const r = t.add(binary('Add', t.add(k.log(s)), finite));
      return o.keepdims ? r.clone() : r.squeeze(o.axes);
    }), -Infinity),
  ArgMax: arg('argmax'),
  ArgMin: arg('argmin'),
});
