import { isFloat, type DType } from '../dtype.js';
import { fail } from '../errors.js';
import { describeValue, optionsArg } from '../args.js';
import { normalizeAxes, normalizeAxis } from '../shape.js';
import { Tensor, checkTensor } from '../tensor.js';
import { run1 } from './run.js';
import { withTemps } from './temps.js';

export interface ReduceOptions {
  /** Axes to reduce (negative counts from the end); all axes when omitted. */
  axes?: number | readonly number[];
  keepdims?: boolean;
}

type Family = 'sum' | 'mean' | 'extreme' | 'arg';

function outDType(family: Family, dtype: DType): DType {
  if (family === 'arg') return 'int64';
  if (family === 'extreme') return dtype;
  if (isFloat(dtype)) return dtype;
  return family === 'mean' ? 'float32' : 'int64';
}

function reduce(op: string, name: string, family: Family, x: Tensor, axesOpt: ReduceOptions['axes'], keepdims: boolean, attrs: Record<string, number> = {}): Tensor {
  checkTensor(name, x);
  return withTemps((temps) => {
    // A 0-d tensor reduces as a 1-element vector.
    const input = x.rank === 0 ? temps.add(x.reshape([1])) : x;
    const axes = normalizeAxes(name, axesOpt, input.rank);
    if (axes.length === 0) fail('E_ARGUMENT', `${name}: no axes to reduce`);
    if ((family === 'extreme' || family === 'arg') && axes.some((a) => input.shape[a] === 0))
      fail('E_SHAPE', `${name}: cannot reduce ${x.describe()} over an empty axis (no identity for ${name})`);
    const kept = input.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const out = run1(op, [input], kept, outDType(family, input.dtype), { ...attrs, axes });
    if (keepdims && x.rank > 0) return out;
    const finalShape = x.rank === 0 ? [] : input.shape.filter((_, i) => !axes.includes(i));
    try {
      return out.reshape(finalShape);
    } finally {
      out.dispose();
    }
  });
}

const opts = (name: string, options?: ReduceOptions) => {
  const o = optionsArg(name, options, ['axes', 'keepdims']);
  return [o.axes, o.keepdims ?? false] as const;
};

/** Sum; integers and bool sum into int64. */
export const sum = (x: Tensor, o?: ReduceOptions) => reduce('ReduceSum', 'sum', 'sum', x, ...opts('sum', o));
/** Mean; integers give float32. */
export const mean = (x: Tensor, o?: ReduceOptions) => reduce('ReduceMean', 'mean', 'mean', x, ...opts('mean', o));
/** Product; integers and bool multiply into int64. */
export const prod = (x: Tensor, o?: ReduceOptions) => reduce('ReduceProd', 'prod', 'sum', x, ...opts('prod', o));
/** Maximum (NaN propagates). */
export const max = (x: Tensor, o?: ReduceOptions) => reduce('ReduceMax', 'max', 'extreme', x, ...opts('max', o));
/** Minimum (NaN propagates). */
export const min = (x: Tensor, o?: ReduceOptions) => reduce('ReduceMin', 'min', 'extreme', x, ...opts('min', o));

/** Variance with `correction` (0: population, 1: sample). Integers give float32. */
export function variance(x: Tensor, o?: ReduceOptions & { correction?: number }): Tensor {
  o = optionsArg('variance', o, ['axes', 'keepdims', 'correction']);
  const correction = o.correction ?? 0;
  if (!Number.isFinite(correction) || correction < 0) fail('E_ARGUMENT', `variance: correction must be a non-negative number, got ${describeValue(correction)}`);
  return reduce('ReduceVariance', 'variance', 'mean', x, o.axes, o.keepdims ?? false, { correction });
}

function arg(op: string, name: string, x: Tensor, o: { axis?: number; keepdims?: boolean }): Tensor {
  checkTensor(name, x);
  if (o.axis === undefined) {
    // Over the flattened tensor, like NumPy.
    return withTemps((temps) => reduce(op, name, 'arg', temps.add(x.reshape([-1])), 0, o.keepdims ?? false));
  }
  const axis = normalizeAxis(name, o.axis, Math.max(1, x.rank));
  return reduce(op, name, 'arg', x, axis, o.keepdims ?? false);
}

/** Index of the largest value along `axis` (the flattened tensor when omitted), as int64; the first one wins ties. */
export const argmax = (x: Tensor, o?: { axis?: number; keepdims?: boolean }) => arg('ArgMax', 'argmax', x, optionsArg('argmax', o, ['axis', 'keepdims']));
/** Index of the smallest value along `axis`, as int64. */
export const argmin = (x: Tensor, o?: { axis?: number; keepdims?: boolean }) => arg('ArgMin', 'argmin', x, optionsArg('argmin', o, ['axis', 'keepdims']));
