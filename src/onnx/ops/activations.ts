// Activation functions ONNX defines as elementwise formulas, composed from Kiln ops, and the
// layout shuffles DepthToSpace / SpaceToDepth (a reshape, a transpose view and a reshape).
import { fail } from '../../errors.js';
import * as k from '../../ops/index.js';
import { withTemps, type Temps } from '../../ops/temps.js';
import type { Tensor } from '../../tensor.js';
import { attrFloat, attrInt, attrString, attrFlag } from '../attrs.js';
import { defineOps, type OpContext, type OpHandler } from './registry.js';
import { checkUnidirectional, input } from './util.js';

type Formula = (x: Tensor, t: Temps, ctx: OpContext) => Tensor;

const EXPM = ['Exp', 'Sub', 'Mul', 'Less', 'Where'];
const act = (uses: string[], f: Formula, since = 1): OpHandler => ({ since, uses, run: (ctx) => withTemps((t) => [f(input(ctx, 0), t, ctx)]) });
const a = (ctx: OpContext, name: string, dflt: number) => attrFloat(ctx.node, name, dflt);
/** exp(x) - 1, scaled */
const expm1 = (x: Tensor, t: Temps) => t.add(k.sub(t.add(k.exp(x)), 1));
const softplus = (x: Tensor, t: Temps) => k.log(t.add(k.add(t.add(k.exp(x)), 1)));

/** [N, C, H, W] and a block size that fits it: C divisible by b^2 (DepthToSpace), or H and W by b (SpaceToDepth). */
function blocks(ctx: OpContext, x: Tensor, depth: boolean): number {
  const b = attrInt(ctx.node, 'blocksize') ?? fail('E_ARGUMENT', 'blocksize is required');
  if (x.rank !== 4) fail('E_SHAPE', `needs an [N, C, H, W] input, got ${x.describe()}`);
  const [, c, h, w] = x.shape;
  if (!(Number.isInteger(b) && b >= 1)) fail('E_ARGUMENT', `blocksize ${b} must be a positive integer`);
  if (depth ? c % (b * b) : h % b || w % b)
    fail('E_SHAPE', `blocksize ${b} does not divide ${depth ? `the channels of ${x.describe()} into ${b * b} blocks` : `the height and width of ${x.describe()}`}`);
  return b;
}

function depthToSpace(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  const b = blocks(ctx, x, true);
  const [n, c, h, w] = x.shape;
  const mode = attrString(ctx.node, 'mode', 'DCR');
  if (mode !== 'DCR' && mode !== 'CRD') fail('E_ARGUMENT', `mode '${mode}' must be 'DCR' or 'CRD'`);
  const crd = mode === 'CRD';
  return withTemps((t) => {
    const v = crd ? t.add(t.add(x.reshape([n, c / (b * b), b, b, h, w])).permute([0, 1, 4, 2, 5, 3]))
      : t.add(t.add(x.reshape([n, b, b, c / (b * b), h, w])).permute([0, 3, 4, 1, 5, 2]));
    return v.reshape([n, c / (b * b), h * b, w * b]);
  });
}

function spaceToDepth(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  const b = blocks(ctx, x, false);
  const [n, c, h, w] = x.shape;
  return withTemps((t) => t.add(t.add(x.reshape([n, c, h / b, b, w / b, b])).permute([0, 3, 5, 1, 2, 4])).reshape([n, c * b * b, h / b, w / b]));
}

defineOps({
  Elu: act(EXPM, (x, t, ctx) => k.where(t.add(k.less(x, 0)), t.add(k.mul(expm1(x, t), a(ctx, 'alpha', 1))), x), 6),
  Selu: act([...EXPM, 'LessOrEqual'], (x, t, ctx) => {
    const alpha = a(ctx, 'alpha', 1.67326319217681884765625), gamma = a(ctx, 'gamma', 1.05070102214813232421875);
    return k.mul(t.add(k.where(t.add(k.lessEqual(x, 0)), t.add(k.mul(expm1(x, t), alpha)), x)), gamma);
  }, 6),
  Celu: act([...EXPM, 'Div', 'Max', 'Min'], (x, t, ctx) => {
    const alpha = a(ctx, 'alpha', 1);
    return k.add(t.add(k.maximum(x, 0)), t.add(k.minimum(t.add(k.mul(expm1(t.add(k.div(x, alpha)), t), alpha)), 0)));
  }, 12),
  Softplus: act(['Exp', 'Add', 'Log'], (x, t) => softplus(x, t)),
  Softsign: act(['Abs', 'Add', 'Div'], (x, t) => k.div(x, t.add(k.add(t.add(k.abs(x)), 1)))),
  ThresholdedRelu: act(['Greater', 'Where'], (x, t, ctx) => k.where(t.add(k.greater(x, a(ctx, 'alpha', 1))), x, 0), 10),
  HardSwish: act(['Mul', 'Add', 'Clip'], (x, t) => k.mul(x, t.add(k.clip(t.add(k.add(t.add(k.div(x, 6)), 0.5)), 0, 1))), 14),
  Mish: act(['Exp', 'Add', 'Log', 'Tanh', 'Mul'], (x, t) => k.mul(x, t.add(k.tanh(t.add(softplus(x, t))))), 18),
  Shrink: act(['Less', 'Greater', 'Add', 'Sub', 'Where'], (x, t, ctx) => {
    const lambd = a(ctx, 'lambd', 0.5), bias = a(ctx, 'bias', 0);
    const hi = t.add(k.where(t.add(k.greater(x, lambd)), t.add(k.sub(x, bias)), 0));
    return k.where(t.add(k.less(x, -lambd)), t.add(k.add(x, bias)), hi);
  }, 9),
  Swish: act(['Mul', 'Sigmoid'], (x, t, ctx) => k.mul(x, t.add(k.sigmoid(t.add(k.mul(x, a(ctx, 'alpha', 1)))))), 24),
  IsNaN: act(['NotEqual'], (x) => k.notEqual(x, x), 9),
  IsInf: act(['Equal', 'Or', 'Fill'], (x, t, ctx) => {
    const pos = attrFlag(ctx.node, 'detect_positive', 1), neg = attrFlag(ctx.node, 'detect_negative', 1);
    const p = pos ? t.add(k.equal(x, Infinity)) : undefined, n = neg ? t.add(k.equal(x, -Infinity)) : undefined;
    return p && n ? k.logicalOr(p, n) : p ? p.clone() : n ? n.clone() : k.full(x.shape, false, { dtype: 'bool', device: x.device });
  }, 10),
  PRelu: {
    since: 9,
    uses: ['Less', 'Mul', 'Where'],
    run: (ctx) => withTemps((t) => {
      const x = input(ctx, 0), slope = input(ctx, 1);
      checkUnidirectional('slope', slope, x); // Y has X's shape (opset 7 on)
      return [k.where(t.add(k.less(x, 0)), t.add(k.mul(x, slope)), x)];
    }),
  },
  DepthToSpace: { since: 11, uses: ['Cast'], run: (ctx) => [depthToSpace(ctx)] },
  SpaceToDepth: { uses: ['Cast'], run: (ctx) => [spaceToDepth(ctx)] },
});
