// GatherND and ScatterND: index tuples [.., k] into the first k dims (after batch_dims) become flat
// positions (a dot product with the dims' strides, negatives wrapped, each entry range-checked), then
// a Gather (GatherND), a scatter (ScatterND without a reduction, scatterInto: the last update naming
// a slice wins; native ScatterSlices, or composed where a backend lacks it) or a one-hot match over
// the positions with a masked reduction (ScatterND's reductions: O(U x P x slice)).
import * as k from '../../ops/index.js';
import { withTemps, type Temps } from '../../ops/temps.js';
import { canScatterSlices, scatterSlicesInto } from '../../ops/scatter.js';
import { fail } from '../../errors.js';
import { normalizeAxis, numel } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { attrInt, attrString } from '../attrs.js';
import type { Node } from '../model.js';
import { defineOps, type OpContext } from './registry.js';
import { checkedIndices, input } from './util.js';

/**
 * Flat positions [..] of index tuples [.., k] over dims, negative entries counting from the end; an
 * entry outside its dim is the data fault of the result (checkedIndices).
 */
function flatPositions(t: Temps, idx: Tensor, dims: readonly number[], what: string): Tensor {
  const i64 = t.add(k.cast(idx, 'int64'));
  let pos: Tensor | undefined;
  dims.forEach((d, j) => {
    const entry = checkedIndices(t, t.add(i64.slice(-1, j, j + 1)), d, what);
    const term = t.add(k.mul(entry, numel(dims.slice(j + 1))));
    pos = pos ? t.add(k.add(pos, term)) : term;
  });
  return t.add(pos!.squeeze([-1]));
}

/** The length k of the index tuples, checked: ONNX requires 1 <= k <= rank(data) - batch_dims. */
function tupleLength(ctx: OpContext, data: Tensor, idx: Tensor, batchDims: number): number {
  if (!Number.isInteger(batchDims) || batchDims < 0 || batchDims >= Math.min(data.rank, idx.rank))
    fail('E_ARGUMENT', `batch_dims ${batchDims} must be below the ranks of data ${data.describe()} and indices ${idx.describe()}`);
  const kk = idx.shape[idx.rank - 1];
  if (kk < 1 || kk > data.rank - batchDims) fail('E_SHAPE', `index tuples of length ${kk} (indices ${idx.describe()}) do not fit data ${data.describe()}`);
  return kk;
}

function gatherND(ctx: OpContext): Tensor {
  const data = input(ctx, 0), idx = input(ctx, 1);
  const b = attrInt(ctx.node, 'batch_dims', 0);
  const kk = tupleLength(ctx, data, idx, b);
  const batch = data.shape.slice(0, b), B = numel(batch);
  const indexed = data.shape.slice(b, b + kk), rest = data.shape.slice(b + kk), P = numel(indexed);
  return withTemps((t) => {
    let pos = flatPositions(t, idx, indexed, 'GatherND'); // [batch.., m..]
    if (b > 0) {
      const offsets = t.add(t.add(k.arange(0, B * P, P, { dtype: 'int64', device: data.device })).reshape([...batch, ...Array(pos.rank - b).fill(1)]));
      pos = t.add(k.add(pos, offsets));
    }
    const flat = t.add(data.reshape([B * P, ...rest]));
    return t.add(k.gather(flat, pos, 0)).reshape([...idx.shape.slice(0, -1), ...rest]);
  });
}

function scatterND(ctx: OpContext): Tensor {
  const data = input(ctx, 0), idx = input(ctx, 1), upd = input(ctx, 2);
  const reduction = attrString(ctx.node, 'reduction', 'none');
  const kk = tupleLength(ctx, data, idx, 0);
  const indexed = data.shape.slice(0, kk), rest = data.shape.slice(kk), P = numel(indexed);
  const U = numel(idx.shape.slice(0, -1));
  const want = [...idx.shape.slice(0, -1), ...rest];
  if (upd.shape.join() !== want.join()) fail('E_SHAPE', `updates ${upd.describe()} must have shape [${want.join(', ')}] (indices' shape without its last dim, then data's dims after the first ${kk})`);
  if (reduction === 'none')
    return withTemps((t) => scatterInto(t, data, t.add(t.add(flatPositions(t, idx, indexed, 'ScatterND')).reshape([U])), upd, numel(rest)));
  return withTemps((t) => {
    const pos = t.add(t.add(flatPositions(t, idx, indexed, 'ScatterND')).reshape([U, 1]));
    const hot = t.add(t.add(k.equal(pos, t.add(k.arange(0, P, 1, { dtype: 'int64', device: data.device })))).reshape([U, P, ...rest.map(() => 1)])); // [U, P, 1..]
    const u = t.add(t.add(upd.reshape([U, ...rest])).unsqueeze(1)); // [U, 1, rest..]
    const d = t.add(data.reshape([P, ...rest]));
    const hit = t.add(k.max(hot, { axes: [0] })); // [P, 1..]
    const over = (fill: number, f: typeof k.sum) => t.add(f(t.add(k.where(hot, u, fill)), { axes: [0] }));
    let out: Tensor;
    if (reduction === 'add') out = k.add(d, over(0, k.sum));
    else if (reduction === 'mul') out = k.mul(d, over(1, k.prod));
    else if (reduction === 'max') out = k.where(hit, t.add(k.maximum(d, over(-Infinity, k.max))), d);
    else out = k.where(hit, t.add(k.minimum(d, over(Infinity, k.min))), d); // min (check() admits no other)
    return t.add(out).reshape(data.shape);
  });
}

/**
 * A contiguous copy of data whose slices (of `slice` elements) at `positions` (int64 [U], checked)
 * take updates' slices, the last naming a slice winning (ONNX leaves duplicates' order open;
 * onnxruntime's loop lets the last win). The native ScatterSlices where the backend has it (O(1) an
 * element); otherwise composed: each slice's last writer is the largest u whose position matches
 * (a one-hot [U, P] and a ReduceMax over U, O(U x P)), whose slice a Gather then picks.
 */
export function scatterInto(t: Temps, data: Tensor, positions: Tensor, updates: Tensor, slice: number): Tensor {
  if (slice === 0 || positions.size === 0) return data.clone(); // nothing to write (slices of no elements, or no updates)
  if (!canScatterSlices(data)) {
    const P = data.size / slice, U = positions.size, device = data.device;
    if (U * P > MAX_COMPOSED_PAIRS)
      fail('E_UNSUPPORTED', `a scatter of ${U} slices into ${P} needs the native scatter (ScatterSlices), which the ${data.backendFor('scatter').kind} backend lacks; composed, it matches every update against every slice (at most ${MAX_COMPOSED_PAIRS} pairs)`);
    const hot = t.add(k.equal(t.add(positions.reshape([U, 1])), t.add(k.arange(0, P, 1, { dtype: 'int64', device })))); // [U, P]
    const us = t.add(t.add(k.arange(0, U, 1, { dtype: 'int64', device })).reshape([U, 1]));
    const writer = t.add(k.max(t.add(k.where(hot, us, -1)), { axes: [0] })); // [P]: the last u naming each slice, or -1
    const picked = t.add(k.gather(t.add(updates.reshape([U, slice])), t.add(k.maximum(writer, 0)), 0)); // [P, slice]
    const hit = t.add(t.add(k.greaterEqual(writer, 0)).reshape([P, 1]));
    return t.add(k.where(hit, picked, t.add(data.reshape([P, slice])))).reshape(data.shape);
  }
  const out = data.clone();
  try {
    scatterSlicesInto(out, t.add(positions.contiguous()), t.add(updates.contiguous()), slice);
    return out;
  } catch (e) {
    out.dispose();
    throw e;
  }
}

/**
 * TensorScatter (opset 24, the KV-cache update): past_cache with update's sequence_length slices
 * written along `axis` (not the batch dim) at write_indices[b] + i for batch entry b (0 without
 * write_indices): in 'linear' mode each checked against max_sequence_length (negatives count from the
 * end, as in ONNX's reference), in 'circular' mode taken modulo it. The slices after `axis` move
 * whole: positions over (prefix row, sequence index), then scatterInto.
 */
function tensorScatter(ctx: OpContext): Tensor {
  const cache = input(ctx, 0), upd = input(ctx, 1), w = ctx.inputs[2] ? input(ctx, 2) : undefined;
  const axis = normalizeAxis('TensorScatter', attrInt(ctx.node, 'axis', -2), cache.rank);
  if (axis === 0) fail('E_ARGUMENT', `axis ${attrInt(ctx.node, 'axis', -2)} is the batch dim of past_cache ${cache.describe()}: the sequence axis must be another`);
  if (upd.dtype !== cache.dtype || upd.rank !== cache.rank || upd.shape.some((d, i) => (i === axis ? d > cache.shape[i] : d !== cache.shape[i])))
    fail('E_SHAPE', `update ${upd.describe()} must be past_cache ${cache.describe()} with at most its ${cache.shape[axis]} entries along axis ${axis}`);
  const B = cache.shape[0], M = cache.shape[axis], L = upd.shape[axis];
  if (w && (w.dtype !== 'int64' || w.rank !== 1 || w.shape[0] !== B)) fail('E_SHAPE', `write_indices ${w.describe()} must be int64[${B}], one per batch entry`);
  const Q = numel(cache.shape.slice(0, axis)), S = numel(cache.shape.slice(axis + 1));
  if (Q * L === 0) return cache.clone();
  const device = cache.device, circular = attrString(ctx.node, 'mode', 'linear') === 'circular';
  return withTemps((t) => {
    const steps = t.add(t.add(k.arange(0, L, 1, { dtype: 'int64', device })).reshape([1, 1, L]));
    const seq = w ? t.add(k.add(t.add(w.reshape([B, 1, 1])), steps)) : steps; // [B or 1, 1, L]
    const at = circular ? t.add(k.mod(seq, M)) : checkedIndices(t, seq, M, 'TensorScatter');
    const rows = t.add(k.mul(t.add(t.add(k.arange(0, Q, 1, { dtype: 'int64', device })).reshape([B, Q / B, 1])), M));
    return scatterInto(t, cache, t.add(t.add(k.add(rows, at)).reshape([-1])), upd, S);
  });
}

/** The most (update, slice) pairs scatterInto composes where the backend has no ScatterSlices (cuda, for now): its [U, P] int64 is 512 MiB. */
const MAX_COMPOSED_PAIRS = 2 ** 26;

const check = (n: Node) =>
  ['none', 'add', 'mul', 'max', 'min'].includes(attrString(n, 'reduction', 'none')) ? undefined : `reduction '${attrString(n, 'reduction', 'none')}'`;

defineOps({
  TensorScatter: {
    since: 24,
    uses: ['Cast', 'Gather', 'Add', 'Mul', 'Mod', 'Range', 'Equal', 'Where', 'ReduceMax', 'Max', 'GreaterOrEqual'],
    check: (n) => (['linear', 'circular'].includes(attrString(n, 'mode', 'linear')) ? undefined : `mode '${attrString(n, 'mode', 'linear')}' (linear or circular)`),
    run: (ctx) => [tensorScatter(ctx)],
  },
  GatherND: { since: 11, uses: ['Cast', 'Add', 'Mul', 'Range', 'Gather'], run: (ctx) => [gatherND(ctx)] },
  // without a reduction, ScatterSlices where the backend has it (else composed: scatterInto)
  ScatterND: { since: 11, uses: ['Cast', 'Gather', 'Add', 'Where', 'Mul', 'ReduceSum', 'ReduceProd', 'ReduceMax', 'ReduceMin', 'Range', 'Equal', 'GreaterOrEqual', 'Max', 'Min'], check, run: (ctx) => [scatterND(ctx)] },
});
