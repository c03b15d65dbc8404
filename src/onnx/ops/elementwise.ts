// Elementwise ONNX ops: unary math, activations, arithmetic, comparisons and logic, bitwise ops,
// Where, and the variadic Sum/Mean/Max/Min.
import { isFloat } from '../../dtype.js';
import { fail } from '../../errors.js';
import { cast } from '../../ops/cast.js';
import { clip, where } from '../../ops/elementwise.js';
import { run1 } from '../../ops/run.js';
import { withTemps } from '../../ops/temps.js';
import { broadcastShapes } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { attrFloat, attrInt, attrString, attrFlag } from '../attrs.js';
import { defineOps, type OpContext, type OpHandler } from './registry.js';
import { binary, checkListInput, hostScalar, input, scalarLike, unary, variadicInputs, withScalar } from './util.js';

const same = (op: string, since = 1): OpHandler => ({ since, uses: [op], run: (ctx) => [unary(op, input(ctx, 0))] });
const arith = (op: string, out?: 'bool'): OpHandler => ({ since: 7, uses: [op], run: (ctx) => [binary(op, input(ctx, 0), input(ctx, 1), out)] });

/** Reduces a variadic op (Sum, Max, ...) pairwise. */
function variadic(op: string, ctx: OpContext): Tensor {
  const xs = variadicInputs(ctx);
  let acc = xs.length === 1 ? xs[0].clone() : binary(op, xs[0], xs[1]);
  for (const x of xs.slice(2)) {
    const next = binary(op, acc, x);
    acc.dispose();
    acc = next;
  }
  return acc;
}

defineOps({
  ...Object.fromEntries(['Relu', 'Sigmoid', 'Tanh', 'Sqrt', 'Neg', 'Log', 'Exp', 'Abs', 'Floor', 'Ceil', 'Reciprocal', 'Not'].map((op) => [op, same(op)])),
  // The opset each op entered ONNX in: a model that names it earlier is not a valid model.
  ...Object.fromEntries(['Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan'].map((op) => [op, same(op, 7)])),
  ...Object.fromEntries(['Erf', 'Sign', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh'].map((op) => [op, same(op, 9)])),
  Round: same('Round', 11),
  ...Object.fromEntries(['Add', 'Sub', 'Mul', 'Div'].map((op) => [op, arith(op)])),
  ...Object.fromEntries(['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual'].map((op) => [op, arith(op === 'LessOrEqual' ? 'LessOrEqual' : op, 'bool')])),
  ...Object.fromEntries(['And', 'Or', 'Xor'].map((op) => [op, arith(op, 'bool')])),
  ...Object.fromEntries(['BitwiseAnd', 'BitwiseOr', 'BitwiseXor'].map((op) => [op, { ...arith(op), since: 18 }])),
  BitwiseNot: same('BitwiseNot', 18),
  BitShift: {
    since: 11,
    uses: ['BitShift'],
    run: (ctx) => {
      const a = input(ctx, 0), b = input(ctx, 1);
      const direction = attrString(ctx.node, 'direction');
      if (direction !== 'LEFT' && direction !== 'RIGHT') fail('E_ARGUMENT', `direction must be 'LEFT' or 'RIGHT', got ${direction === undefined ? 'none' : `'${direction}'`}`);
      // ONNX types BitShift for unsigned integers only (onnxruntime has no signed kernel); Kiln's
      // leftShift/rightShift also shift int32 and int64.
      if (a.dtype !== 'uint8') fail('E_DTYPE', `BitShift takes unsigned integers (uint8 in Kiln), got ${a.describe()}`);
      return withTemps((t) => {
        const shape = broadcastShapes('BitShift', a.shape, b.shape);
        return [run1('BitShift', [t.expand(a, shape), t.expand(b, shape)], shape, a.dtype, { direction })];
      });
    },
  },
  Identity: { uses: [], run: (ctx) => [input(ctx, 0).withLayout('Identity', input(ctx, 0).shape, input(ctx, 0).strides)] },
  LeakyRelu: { uses: ['LeakyRelu'], run: (ctx) => [unary('LeakyRelu', input(ctx, 0), { alpha: attrFloat(ctx.node, 'alpha', 0.01) })] },
  Gelu: { since: 20, uses: ['Gelu'], run: (ctx) => [unary('Gelu', input(ctx, 0), { approximate: attrString(ctx.node, 'approximate', 'none') })] },
  HardSigmoid: {
    since: 6,
    uses: ['Mul', 'Add', 'Clip'],
    run: (ctx) => withTemps((t) => {
      const ax = t.add(withScalar('Mul', input(ctx, 0), attrFloat(ctx.node, 'alpha', 0.2)));
      return [unary('Clip', t.add(withScalar('Add', ax, attrFloat(ctx.node, 'beta', 0.5))), { min: 0, max: 1 })];
    }),
  },
  Clip: {
    since: 6,
    uses: ['Clip'],
    hostInputs: [1, 2],
    run: (ctx) => {
      const x = input(ctx, 0);
      if (ctx.opset < 11) return [clip(x, attrFloat(ctx.node, 'min', -Infinity), attrFloat(ctx.node, 'max', Infinity))];
      // an omitted bound is no bound; a given one is a scalar: 0-D or [1] (fuzz seed 676: a [1, 1] min ran)
      checkListInput(ctx, 1, 'min', { scalar: true });
      checkListInput(ctx, 2, 'max', { scalar: true });
      const min = ctx.inputs[1] ? hostScalar(ctx, 1) : -Infinity, max = ctx.inputs[2] ? hostScalar(ctx, 2) : Infinity;
      // ONNX: min > max gives max everywhere (numpy.clip order); Kiln's clip refuses it.
      if (min > max) return withTemps((t) => [binary('Max', t.add(binary('Min', x, scalarLike(x, max))), scalarLike(x, max))]);
      return [unary('Clip', x, { min, max })];
    },
  },
  Pow: {
    since: 7,
    uses: ['Pow', 'Cast'],
    run: (ctx) => withTemps((t) => {
      const x = input(ctx, 0), y = input(ctx, 1);
      return [binary('Pow', x, y.dtype === x.dtype ? y : t.add(cast(y, x.dtype)))];
    }),
  },
  Mod: {
    since: 10,
    uses: ['Mod', 'Div', 'Mul', 'Sub', 'Sign', 'Abs', 'Floor'],
    run: (ctx) => {
      const a = input(ctx, 0), b = input(ctx, 1);
      if (!attrFlag(ctx.node, 'fmod', 0)) {
        if (isFloat(a.dtype)) fail('E_ARGUMENT', `fmod must be 1 for floating-point inputs (${a.describe()}), as ONNX requires`);
        return [binary('Mod', a, b)];
      }
      // C fmod: a - trunc(a / b) * b (the sign of the dividend). Integer Div already truncates.
      return withTemps((t) => {
        const q = t.add(binary('Div', a, b));
        const whole = isFloat(a.dtype) ? t.add(binary('Mul', t.add(unary('Sign', q)), t.add(unary('Floor', t.add(unary('Abs', q)))))) : q;
        return [binary('Sub', a, t.add(binary('Mul', whole, b)))];
      });
    },
  },
  Where: { since: 9, uses: ['Where'], run: (ctx) => [where(input(ctx, 0), input(ctx, 1), input(ctx, 2))] },
  Sum: { since: 8, uses: ['Add'], run: (ctx) => [variadic('Add', ctx)] },
  Max: { since: 8, uses: ['Max'], run: (ctx) => [variadic('Max', ctx)] },
  Min: { since: 8, uses: ['Min'], run: (ctx) => [variadic('Min', ctx)] },
  Mean: {
    since: 8,
    uses: ['Add', 'Div'],
    run: (ctx) => withTemps((t) => [withScalar('Div', t.add(variadic('Add', ctx)), ctx.inputs.length)]),
  },
});
