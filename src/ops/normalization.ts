import { floatFor } from '../dtype.js';
import { fail } from '../errors.js';
import { describeValue, optionsArg } from '../args.js';
import { fmtShape, normalizeAxis } from '../shape.js';
import { Tensor, checkTensor } from '../tensor.js';
import { cast } from './cast.js';
import { run1 } from './run.js';
import { Temps, withTemps } from './temps.js';

function floatInput(temps: Temps, name: string, x: Tensor): Tensor {
  checkTensor(name, x);
  const dtype = floatFor(x.dtype);
  return dtype === x.dtype ? x : temps.add(cast(x, dtype));
}

function softmaxLike(op: string, name: string, x: Tensor, axis: number): Tensor {
  return withTemps((temps) => {
    const input = floatInput(temps, name, x);
    if (input.rank === 0) fail('E_SHAPE', `${name}: needs at least one dim, got ${x.describe()}`);
    const a = normalizeAxis(name, axis, input.rank);
    return run1(op, [input], input.shape, input.dtype, { axis: a });
  });
}

/** Softmax along `axis` (default the last). */
export const softmax = (x: Tensor, axis = -1) => softmaxLike('Softmax', 'softmax', x, axis);
/** log(softmax(x)), computed stably. */
export const logSoftmax = (x: Tensor, axis = -1) => softmaxLike('LogSoftmax', 'logSoftmax', x, axis);

/** A per-feature parameter, broadcast to the normalized shape x.shape[axis:] and put in x's dtype. */
function param(temps: Temps, name: string, what: string, p: Tensor, x: Tensor, axis: number): Tensor {
  checkTensor(name, p, what);
  const normShape = x.shape.slice(axis);
  if (p.rank > normShape.length || p.shape.some((d, i) => d !== 1 && d !== normShape[normShape.length - p.rank + i]))
    fail('E_SHAPE', `${name}: ${what} ${p.describe()} does not match the normalized shape ${fmtShape(normShape)}`);
  const typed = p.dtype === x.dtype ? p : temps.add(cast(p, x.dtype));
  return temps.expand(typed, normShape);
}

export interface LayerNormOptions {
  /** First normalized dim; normalizes over dims axis..rank-1 (default -1, the last). */
  axis?: number;
  scale?: Tensor;
  bias?: Tensor;
  epsilon?: number;
}

/** (x - mean) / sqrt(var + eps) * scale + bias over the trailing dims from `axis`. */
export function layerNorm(x: Tensor, o?: LayerNormOptions): Tensor {
  o = optionsArg('layerNorm', o, ['axis', 'scale', 'bias', 'epsilon']);
  return withTemps((temps) => {
    const input = floatInput(temps, 'layerNorm', x);
    if (input.rank === 0) fail('E_SHAPE', `layerNorm: needs at least one dim, got ${x.describe()}`);
    const axis = normalizeAxis('layerNorm', o.axis ?? -1, input.rank);
    const epsilon = o.epsilon ?? 1e-5;
    if (typeof epsilon !== 'number' || !(epsilon >= 0)) fail('E_ARGUMENT', `layerNorm: epsilon must be >= 0, got ${describeValue(epsilon)}`);
    const ins = [input];
    if (o.scale) ins.push(param(temps, 'layerNorm', 'scale', o.scale, input, axis));
    if (o.bias) ins.push(param(temps, 'layerNorm', 'bias', o.bias, input, axis));
    return run1('LayerNormalization', ins, input.shape, input.dtype, { axis, epsilon, has_scale: o.scale ? 1 : 0, has_bias: o.bias ? 1 : 0 });
  });
}

export interface RmsNormOptions {
  axis?: number;
  scale?: Tensor;
  epsilon?: number;
}

/** x / sqrt(mean(x^2) + eps) * scale over the trailing dims from `axis`. */
export function rmsNorm(x: Tensor, o?: RmsNormOptions): Tensor {
  o = optionsArg('rmsNorm', o, ['axis', 'scale', 'epsilon']);
  return withTemps((temps) => {
    const input = floatInput(temps, 'rmsNorm', x);
    if (input.rank === 0) fail('E_SHAPE', `rmsNorm: needs at least one dim, got ${x.describe()}`);
    const axis = normalizeAxis('rmsNorm', o.axis ?? -1, input.rank);
    const epsilon = o.epsilon ?? 1e-6;
    if (typeof epsilon !== 'number' || !(epsilon >= 0)) fail('E_ARGUMENT', `rmsNorm: epsilon must be >= 0, got ${describeValue(epsilon)}`);
    const ins = [input];
    if (o.scale) ins.push(param(temps, 'rmsNorm', 'scale', o.scale, input, axis));
    return run1('RMSNormalization', ins, input.shape, input.dtype, { axis, epsilon, has_scale: o.scale ? 1 : 0 });
  });
}
