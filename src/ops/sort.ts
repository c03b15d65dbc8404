// Ordering along one axis: topk, sort and argsort, all on the native TopK op (kernels/OPS.md).
import { describeValue, optionsArg } from '../args.js';
import { fail } from '../errors.js';
import { normalizeAxis } from '../shape.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { arange } from './creation.js';
import { add } from './elementwise.js';
import { runOp } from './run.js';
import { concat, gather } from './shape-ops.js';
import { withTemps, type Temps } from './temps.js';

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
  // k = 0 selects nothing: the direct op's empty result (blockwise would build an arange of step 0).
  if (!x.device.startsWith('cpu') && n > 2 * BLOCK && count > 0 && count * 4 <= BLOCK) {
    return withTemps((t) => {
      const r = blockwise(t, t.add(x.transpose(axis, -1)), count, largest);
      return { values: t.add(r.values).transpose(axis, -1), indices: t.add(r.indices).transpose(axis, -1) };
    });
  }
  const shape = x.shape.map((d, i) => (i === axis ? count : d));
  const [values, indices] = runOp('TopK', [x], [{ shape, dtype: x.dtype }, { shape, dtype: 'int64' }], { axis, k: count, largest: largest ? 1 : 0 });
  return { values, indices };
}

/**
 * Block length of the two-stage TopK. The cuda and webgpu kernels rank each element by counting the
 * elements of its slice before it, O(n^2) per slice: 2.5e9 steps for a 50k vocabulary. A long axis
 * with a small k goes instead through the top min(k, BLOCK) of every BLOCK-long block, then the top k
 * of those candidates (again in blocks while they are many): O(n * BLOCK) + the candidates' own cost.
 */
const BLOCK = 1024;

/**
 * TopK of the last dim of x in two stages. Candidates keep their blocks' order, and within a block
 * the kernel's (value, index) order, so among equal values the candidate order is the global index
 * order and the second stage's ties fall as the kernel's would.
 */
function blockwise(t: Temps, x: Tensor, k: number, largest: boolean): TopkResult {
  const lead = x.shape.slice(0, -1), n = x.shape[x.rank - 1];
  const full = Math.floor(n / BLOCK) * BLOCK;
  const stage = (part: Tensor, blocks: number, len: number, at: number) => {
    const r = ordered('topk', t.add(part.reshape([...lead, blocks, len])), Math.min(k, len), -1, largest);
    t.add(r.values), t.add(r.indices);
    // positions along x: block b's local index + at + b * len
    const starts = t.add(t.add(arange(at, at + blocks * len, len, { dtype: 'int64', device: x.device })).reshape([blocks, 1]));
    const m = blocks * Math.min(k, len);
    return { values: t.add(r.values.reshape([...lead, m])), at: t.add(t.add(add(r.indices, starts)).reshape([...lead, m])) };
  };
  const parts = [stage(t.add(x.slice(-1, 0, full)), full / BLOCK, BLOCK, 0)];
  if (full < n) parts.push(stage(t.add(x.slice(-1, full, n)), 1, n - full, full));
  const values = parts.length > 1 ? t.add(concat(parts.map((q) => q.values), -1)) : parts[0].values;
  const at = parts.length > 1 ? t.add(concat(parts.map((q) => q.at), -1)) : parts[0].at;
  const best = ordered('topk', values, k, -1, largest);
  t.add(best.indices);
  // indices = at[..., best.indices]: a gather from the flattened rows
  const rows = lead.reduce((p, d) => p * d, 1), m = at.shape[at.rank - 1];
  const offsets = t.add(t.add(arange(0, rows * m, m, { dtype: 'int64', device: x.device })).reshape([rows, 1]));
  const flat = t.add(add(t.add(best.indices.reshape([rows, k])), offsets));
  const indices = t.add(gather(t.add(at.reshape([rows * m])), flat, 0)).reshape([...lead, k]);
  return { values: best.values, indices };
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
