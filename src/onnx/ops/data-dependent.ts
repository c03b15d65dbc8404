// Ops whose output shapes depend on the input's values: NonZero and Unique. The input is read on
// the host (a session that runs them is not replayed: replay.ts), the positions are found there,
// and values move on the device through Gather, bit for bit (a NaN keeps its payload, -0 its sign).
import { fail } from '../../errors.js';
import { tensor } from '../../ops/creation.js';
import { gather } from '../../ops/shape-ops.js';
import { withTemps } from '../../ops/temps.js';
import { normalizeAxis } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { attrFlag, attrInt } from '../attrs.js';
import { defineOps, type OpContext } from './registry.js';
import { hostInput, input } from './util.js';

type Value = number | bigint;

const int64 = (values: number[], shape: number[], device: string) => tensor(values, { dtype: 'int64', shape, device });

/** NonZero: the indices [rank, nnz] (int64) of the elements that are not zero, in row-major order; NaN counts. A 0-d input is read as 1-D (NumPy). */
function nonZero(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  const { values } = hostInput(ctx, 0);
  const shape = x.rank === 0 ? [1] : x.shape;
  const hits: number[] = [];
  for (let i = 0; i < values.length; ++i) if (values[i] !== 0 && values[i] !== 0n) hits.push(i);
  const rows: number[] = [];
  let stride = hits.length ? values.length : 1;
  for (const d of shape) {
    stride = d === 0 ? 1 : stride / d;
    for (const h of hits) rows.push(Math.floor(h / stride) % d);
  }
  return int64(rows, [shape.length, hits.length], x.device);
}

/** -1, 0, 1 for a before, equal to, after b in ascending order, NaN last and equal to NaN. */
function compareValues(a: Value, b: Value): number {
  const an = typeof a === 'number' && Number.isNaN(a), bn = typeof b === 'number' && Number.isNaN(b);
  if (an || bn) return an === bn ? 0 : an ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Unique: the distinct elements (no axis: of the flattened input) or distinct slices along `axis`,
 * ascending (sorted = 1; slices compare element by element in row-major order) or in order of first
 * occurrence, with the first occurrence of each (indices), the position of every element or slice of
 * X in Y (inverse_indices) and how often each occurs (counts). -0 equals 0; NaN equals NaN and sorts
 * last (NumPy's unique with equal_nan).
 */
function unique(ctx: OpContext): Tensor[] {
  const x = input(ctx, 0);
  const { values } = hostInput(ctx, 0);
  const axisAttr = attrInt(ctx.node, 'axis');
  const sorted = attrFlag(ctx.node, 'sorted', 1);
  return withTemps((t) => {
    const src = axisAttr === undefined ? t.add(x.reshape([-1])) : x;
    if (src.rank === 0) fail('E_SHAPE', `a 0-d input needs no axis attribute, got axis ${axisAttr}`);
    const axis = normalizeAxis('Unique', axisAttr ?? 0, src.rank);
    const n = src.shape[axis];
    // slice s of X along axis, as its values in row-major order
    const outer = src.shape.slice(0, axis).reduce((p, d) => p * d, 1), inner = src.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
    const slice = (s: number): Value[] => {
      const out: Value[] = [];
      for (let o = 0; o < outer; ++o) for (let i = 0; i < inner; ++i) out.push(values[(o * n + s) * inner + i]);
      return out;
    };
    const slices = Array.from({ length: n }, (_, s) => slice(s));
    const compare = (p: number, q: number) => {
      for (let e = 0; e < slices[p].length; ++e) {
        const c = compareValues(slices[p][e], slices[q][e]);
        if (c) return c;
      }
      return 0;
    };
    // first occurrences, in order of occurrence; then sorted when asked
    const firsts: number[] = [];
    const inverse = new Array<number>(n);
    const order = [...Array(n).keys()].sort((p, q) => compare(p, q) || p - q); // stable: the first of equals first
    for (let i = 0; i < n; ++i) if (i === 0 || compare(order[i - 1], order[i]) !== 0) firsts.push(order[i]);
    if (!sorted) firsts.sort((p, q) => p - q);
    const counts = new Array<number>(firsts.length).fill(0);
    const rank = new Map<number, number>(firsts.map((f, j) => [f, j]));
    let head = order[0];
    for (let i = 0; i < n; ++i) {
      if (i === 0 || compare(order[i - 1], order[i]) !== 0) head = order[i];
      const j = rank.get(head)!;
      inverse[order[i]] = j;
      counts[j]++;
    }
    const dev = x.device;
    return [gather(src, firsts, axis), int64(firsts, [firsts.length], dev), int64(inverse, [n], dev), int64(counts, [firsts.length], dev)];
  });
}

defineOps({
  NonZero: { since: 9, uses: [], hostInputs: [0], run: (ctx) => [nonZero(ctx)] },
  Unique: { since: 11, uses: ['Gather', 'Cast'], hostInputs: [0], run: unique },
});
