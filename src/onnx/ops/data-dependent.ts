// Ops whose output shapes depend on the input's values: NonZero, Unique and NonMaxSuppression. The
// inputs are read on the host (a session that runs them is not replayed: replay.ts), the positions
// are found there, and values move on the device through Gather, bit for bit (a NaN keeps its
// payload, -0 its sign).
import { isFloat } from '../../dtype.js';
import { fail } from '../../errors.js';
import { tensor } from '../../ops/creation.js';
import { gather } from '../../ops/shape-ops.js';
import { withTemps } from '../../ops/temps.js';
import { normalizeAxis } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { attrFlag, attrInt } from '../attrs.js';
import { defineOps, type OpContext } from './registry.js';
import { checkJsHeap, hostValues } from '../../host-memory.js';
import { hostInput, input, optionalHostScalar } from './util.js';

type Value = number | bigint;

const int64 = (values: number[] | Float64Array, shape: number[], device: string) => tensor(values, { dtype: 'int64', shape, device });

/** NonZero: the indices [rank, nnz] (int64) of the elements that are not zero, in row-major order; NaN counts. A 0-d input is read as 1-D (NumPy). */
function nonZero(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  const { values } = hostInput(ctx, 0);
  const shape = x.rank === 0 ? [1] : x.shape;
  // typed and checked, counted first: X may be as long as the model makes it (an Expand of one value
  // to 3e8 made JS arrays that ran the process out of JS heap)
  const nonzero = (i: number) => values[i] !== 0 && values[i] !== 0n;
  let nnz = 0;
  for (let i = 0; i < values.length; ++i) if (nonzero(i)) ++nnz;
  const rows = hostValues(shape.length * nnz, `NonZero's ${nnz} indices of rank ${shape.length}`);
  for (let i = 0, at = 0; i < values.length; ++i) {
    if (!nonzero(i)) continue;
    for (let r = i, d = shape.length - 1; d >= 0; --d) (rows[d * nnz + at] = r % shape[d]), (r = Math.floor(r / shape[d]));
    ++at;
  }
  return tensor(rows, { dtype: 'int64', shape: [shape.length, nnz], device: x.device });
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
    // slices compared in place: a JS array per slice, as this was, took some 50 bytes of JS heap for
    // each element, so a Unique of 3e7 values (an Expand of one) ran the process out of JS heap
    const len = outer * inner;
    const at = (s: number, e: number) => values[(Math.floor(e / inner) * n + s) * inner + (e % inner)];
    const compare = (p: number, q: number) => {
      for (let e = 0; e < len; ++e) {
        const c = compareValues(at(p, e), at(q, e));
        if (c) return c;
      }
      return 0;
    };
    // the sort works on JS arrays (two of n elements): checked against the JS heap first
    checkJsHeap(24 * n, `Unique's sort of ${n} ${axisAttr === undefined ? 'values' : 'slices'}`);
    const order = [...Array(n).keys()].sort((p, q) => compare(p, q) || p - q); // stable: the first of equals first
    // first occurrences, in order of occurrence; then sorted when asked
    let distinct = 0;
    for (let i = 0; i < n; ++i) if (i === 0 || compare(order[i - 1], order[i]) !== 0) ++distinct;
    const firsts = hostValues(distinct, `Unique's ${distinct} distinct values`);
    for (let i = 0, j = 0; i < n; ++i) if (i === 0 || compare(order[i - 1], order[i]) !== 0) firsts[j++] = order[i];
    if (!sorted) firsts.sort();
    const inverse = hostValues(n, `Unique's ${n} inverse indices`), counts = hostValues(distinct, `Unique's ${distinct} counts`);
    firsts.forEach((f, j) => (inverse[f] = j)); // the position in Y of each first occurrence
    let head = order[0];
    for (let i = 0; i < n; ++i) {
      if (i === 0 || compare(order[i - 1], order[i]) !== 0) head = order[i];
      const j = inverse[head];
      inverse[order[i]] = j;
      counts[j]++;
    }
    const dev = x.device;
    const idx = t.add(int64(firsts, [distinct], dev));
    return [gather(src, idx, axis), idx.clone(), int64(inverse, [n], dev), int64(counts, [distinct], dev)];
  });
}

/** A box as its x and y extents (float32, as onnxruntime computes them). */
interface Extent {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

const f32 = Math.fround;

/** Box i of `b` (4 values each): corners [y1, x1, y2, x2] in either order, or [x_center, y_center, width, height]. */
function extentOf(b: ArrayLike<number | bigint>, i: number, centered: boolean): Extent {
  const v = [0, 1, 2, 3].map((j) => f32(Number(b[4 * i + j])));
  if (centered) {
    const hw = f32(v[2] / 2), hh = f32(v[3] / 2);
    return { x0: f32(v[0] - hw), x1: f32(v[0] + hw), y0: f32(v[1] - hh), y1: f32(v[1] + hh) };
  }
  return { x0: Math.min(v[1], v[3]), x1: Math.max(v[1], v[3]), y0: Math.min(v[0], v[2]), y1: Math.max(v[0], v[2]) };
}

/** Whether b overlaps a by more than `threshold` (intersection over union, in float32); boxes of no area never do. */
function overlaps(a: Extent, b: Extent, threshold: number): boolean {
  const ix0 = Math.max(a.x0, b.x0), ix1 = Math.min(a.x1, b.x1), iy0 = Math.max(a.y0, b.y0), iy1 = Math.min(a.y1, b.y1);
  if (!(ix1 > ix0) || !(iy1 > iy0)) return false;
  const inter = f32(f32(ix1 - ix0) * f32(iy1 - iy0));
  const areaA = f32(f32(a.x1 - a.x0) * f32(a.y1 - a.y0)), areaB = f32(f32(b.x1 - b.x0) * f32(b.y1 - b.y0));
  const union = f32(f32(areaA + areaB) - inter);
  if (!(inter > 0) || !(areaA > 0) || !(areaB > 0) || !(union > 0)) return false;
  return f32(inter / union) > threshold;
}

/**
 * NonMaxSuppression: per batch entry and class, boxes in descending score order (equal scores by
 * box index; a NaN score is never selected), each kept unless it overlaps a kept one by more than
 * iou_threshold, up to max_output_boxes_per_class; with score_threshold, only scores above it.
 * Selected [num_selected, 3] int64 rows (batch, class, box), batch then class then selection order.
 */
function nonMaxSuppression(ctx: OpContext): Tensor {
  const boxes = input(ctx, 0), scores = input(ctx, 1);
  if (boxes.rank !== 3 || boxes.shape[2] !== 4) fail('E_SHAPE', `boxes must be [num_batches, spatial_dimension, 4], got ${boxes.describe()}`);
  if (scores.rank !== 3 || scores.shape[0] !== boxes.shape[0] || scores.shape[2] !== boxes.shape[1])
    fail('E_SHAPE', `scores must be [num_batches, num_classes, spatial_dimension] = [${boxes.shape[0]}, C, ${boxes.shape[1]}] for boxes ${boxes.describe()}, got ${scores.describe()}`);
  for (const t of [boxes, scores]) if (!isFloat(t.dtype)) fail('E_DTYPE', `boxes and scores must be float, got ${t.describe()}`);
  const maxPerClass = Math.max(0, optionalHostScalar(ctx, 2, 'max_output_boxes_per_class') ?? 0);
  const iou = optionalHostScalar(ctx, 3, 'iou_threshold') ?? 0;
  if (!(iou >= 0 && iou <= 1)) fail('E_ARGUMENT', `iou_threshold must be in [0, 1], got ${iou}`);
  const scoreThreshold = optionalHostScalar(ctx, 4, 'score_threshold');
  const centered = attrInt(ctx.node, 'center_point_box', 0);
  if (centered !== 0 && centered !== 1) fail('E_ARGUMENT', `center_point_box must be 0 or 1, got ${centered}`);
  const b = hostInput(ctx, 0).values, s = hostInput(ctx, 1).values;
  const [batches, classes, n] = scores.shape;
  const rows: number[] = [];
  for (let bi = 0; bi < batches && maxPerClass > 0; ++bi) {
    const extents = Array.from({ length: n }, (_, i) => extentOf(b, bi * n + i, centered === 1));
    for (let c = 0; c < classes; ++c) {
      const at = (bi * classes + c) * n;
      const score = (i: number) => Number(s[at + i]);
      const order = [...Array(n).keys()]
        .filter((i) => !Number.isNaN(score(i)) && (scoreThreshold === undefined || score(i) > scoreThreshold))
        .sort((p, q) => score(q) - score(p) || p - q);
      const kept: number[] = [];
      for (const i of order) {
        if (kept.length >= maxPerClass) break;
        if (kept.every((j) => !overlaps(extents[j], extents[i], iou))) kept.push(i);
      }
      for (const i of kept) rows.push(bi, c, i);
    }
  }
  return int64(rows, [rows.length / 3, 3], boxes.device);
}

defineOps({
  NonZero: { since: 9, uses: [], hostInputs: [0], run: (ctx) => [nonZero(ctx)] },
  Unique: { since: 11, uses: ['Gather', 'Cast'], hostInputs: [0], run: unique },
  NonMaxSuppression: { since: 10, uses: [], hostInputs: [0, 1, 2, 3, 4], run: (ctx) => [nonMaxSuppression(ctx)] },
});
