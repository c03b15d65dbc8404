// Ordering along one axis: topk, sort and argsort, all on the native TopK op (kernels/OPS.md).
import { describeValue, optionsArg } from '../args.js';
import { fail } from '../errors.js';
import { normalizeAxis } from '../shape.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { runOp } from './run.js';

export interface TopkOptions {
  /** The axis to order along (negative counts from the end); default -1. */
  axis?: number;
  /** The k largest, in descending order (default); false: the k smallest, ascending. */
  largest?: boolean;
}

export interface SortOptions {
  /** The axis to order along (negative counts from the end); default -1. */
  axis?: number;
  /** Descending order; default false (ascending). */
  descending?: boolean;
}

/** Ordered values and their positions along the axis (int64). */
export interface TopkResult {
  values: Tensor;
  indices: Tensor;
}

function flag(op: string, what: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') fail('E_ARGUMENT', `${op}: ${what} must be a boolean, got ${describeValue(v)}`);
  return v;
}

function ordered(op: string, x: Tensor, k: number | undefined, axisOpt: number | undefined, largest: boolean): TopkResult {
  checkTensor(op, x);
  if (x.rank === 0) fail('E_SHAPE', `${op}: needs at least one dim, got ${x.describe()}`);
  if (x.dtype === 'bool') fail('E_DTYPE', `${op}: bool values have no order; cast ${x.describe()} to uint8 first`);
  const axis = normalizeAxis(op, axisOpt ?? -1, x.rank);
  const n = x.shape[axis];
  const count = k ?? n;
  if (!Number.isSafeInteger(count) || count < 0 || count > n)
    fail('E_ARGUMENT', `${op}: k must be an integer in [0, ${n}] (the size of axis ${axis} of ${x.describe()}), got ${describeValue(count)}`);
  const shape = x.shape.map((d, i) => (i === axis ? count : d));
  const [values, indices] = runOp('TopK', [x], [{ shape, dtype: x.dtype }, { shape, dtype: 'int64' }], { axis, k: count, largest: largest ? 1 : 0 });
  return { values, indices };
}

/**
 * The k largest (or, with `largest: false`, smallest) entries along `axis`, in order, and their
 * positions: ties keep index order; NaN ranks above +Infinity (first when largest, last otherwise).
 */
export function topk(x: Tensor, k: number, options?: TopkOptions): TopkResult {
  const o = optionsArg('topk', options, ['axis', 'largest']);
  return ordered('topk', x, k, o.axis, flag('topk', 'largest', o.largest, true));
}

/** Sorts along `axis` (ascending unless `descending`), stably; NaN sorts as the largest value. */
export function sort(x: Tensor, options?: SortOptions): TopkResult {
  const o = optionsArg('sort', options, ['axis', 'descending']);
  return ordered('sort', x, undefined, o.axis, flag('sort', 'descending', o.descending, false));
}

/** The positions (int64) that sort `x` along `axis`: `sort(x).indices`. */
export function argsort(x: Tensor, options?: SortOptions): Tensor {
  const o = optionsArg('argsort', options, ['axis', 'descending']);
  const { values, indices } = ordered('argsort', x, undefined, o.axis, flag('argsort', 'descending', o.descending, false));
  values.dispose();
  return indices;
}
