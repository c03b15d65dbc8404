// Shape and data-movement ONNX ops. Most are views (Reshape, Transpose, Squeeze, Slice, Expand,
// Split); shapes, axes and pads come from host values, folded at load when they are constant.
import { fail } from '../../errors.js';
import { cast } from '../../ops/cast.js';
import { full } from '../../ops/creation.js';
import { empty, runInto } from '../../ops/run.js';
import { concat, gather, pad, tile } from '../../ops/shape-ops.js';
import * as k from '../../ops/index.js';
import { withTemps, type Temps } from '../../ops/temps.js';
import { normalizeAxis, numel } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { attrFloat, attrFloats, attrInt, attrInts, attrString, attrTensor, attrFlag } from '../attrs.js';
import { kilnDType, typeName } from '../proto.js';
import { defineOps, type OpContext } from './registry.js';
import { upload } from '../upload.js';
import { hostTensor } from '../builder.js';
import { hostValues } from '../../host-memory.js';
import { scatterInto } from './gather-nd.js';
import { canScatterSlices } from '../../ops/scatter.js';
import { checkListInput, checkedIndices, hostInput, hostInts, hostScalar, input, variadicInputs } from './util.js';

const view = (x: Tensor, op: string) => x.withLayout(op, x.shape, x.strides);

/** Axes from the attribute (older opsets) or from input 1 (newer). */
function axesOf(ctx: OpContext, inputSince: number, attr = 'axes', i = 1): number[] | undefined {
  return ctx.opset >= inputSince ? ctx.ints(i) : attrInts(ctx.node, attr);
}

function reshape(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  if (ctx.opset >= 5) checkListInput(ctx, 1, 'shape');
  const want = ctx.opset >= 5 ? ctx.ints(1) ?? fail('E_ARGUMENT', 'needs a shape') : attrInts(ctx.node, 'shape') ?? [];
  const allowzero = attrFlag(ctx.node, 'allowzero', 0);
  const shape = want.map((d, i) => (d === 0 && !allowzero ? x.shape[i] : d));
  return x.reshape(shape);
}

function squeeze(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  if (ctx.opset >= 13) checkListInput(ctx, 1, 'axes'); // onnxruntime's Squeeze (not its Unsqueeze) demands a 1-D one
  const axes = axesOf(ctx, 13);
  if (axes && new Set(axes.map((a) => normalizeAxis('Squeeze', a, x.rank))).size !== axes.length) fail('E_ARGUMENT', `axes [${axes}] name a dim more than once`);
  return x.squeeze(axes && axes.length ? axes : undefined);
}

function unsqueeze(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  if (ctx.opset >= 13) checkListInput(ctx, 1, 'axes', { scalar: true });
  const axes = axesOf(ctx, 13) ?? [];
  const rank = x.rank + axes.length;
  const norm = axes.map((a) => normalizeAxis('Unsqueeze', a, rank)).sort((a, b) => a - b);
  if (new Set(norm).size !== norm.length) fail('E_ARGUMENT', `axes [${axes}] name an axis more than once`);
  let shape = [...x.shape];
  for (const a of norm) shape.splice(a, 0, 1);
  return x.reshape(shape);
}

function slice(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  const v10 = ctx.opset >= 10;
  if (v10) ['starts', 'ends', 'axes', 'steps'].forEach((what, i) => checkListInput(ctx, i + 1, what));
  const starts = (v10 ? ctx.ints(1) : attrInts(ctx.node, 'starts')) ?? [];
  const ends = (v10 ? ctx.ints(2) : attrInts(ctx.node, 'ends')) ?? [];
  const axes = (v10 ? ctx.ints(3) : attrInts(ctx.node, 'axes')) ?? starts.map((_, i) => i);
  const steps = (v10 ? ctx.ints(4) : undefined) ?? starts.map(() => 1);
  if ([ends, axes, steps].some((v) => v.length !== starts.length))
    fail('E_ARGUMENT', `starts [${starts}], ends [${ends}], axes [${axes}] and steps [${steps}] must have one entry each per sliced axis`);
  const normalized = axes.map((a) => normalizeAxis('Slice', a, x.rank));
  if (new Set(normalized).size !== normalized.length) fail('E_ARGUMENT', `axes [${axes}] name an axis more than once`);
  let out = view(x, 'Slice');
  normalized.forEach((a, i) => {
    const next = out.slice(a, starts[i], ends[i], steps[i]);
    out.dispose();
    out = next;
  });
  return out;
}

function split(ctx: OpContext): Tensor[] {
  const x = input(ctx, 0);
  const axis = normalizeAxis('Split', attrInt(ctx.node, 'axis', 0), x.rank);
  const dim = x.shape[axis];
  const n = ctx.node.outputs.length;
  let sizes = ctx.opset >= 13 ? ctx.ints(1) : attrInts(ctx.node, 'split');
  const numOutputs = ctx.opset >= 18 ? attrInt(ctx.node, 'num_outputs') : undefined;
  // From opset 18 one of the two says how to split (ONNX), never both.
  if (ctx.opset >= 18 && (sizes === undefined) === (numOutputs === undefined))
    fail('E_ARGUMENT', sizes ? `both the split input and num_outputs are given` : `neither the split input nor num_outputs is given`);
  if (sizes?.some((v) => v < 0)) fail('E_ARGUMENT', `split sizes [${sizes}] hold a negative size`);
  if (!sizes || sizes.length === 0) {
    const parts = numOutputs ?? n;
    if (parts !== n) fail('E_SHAPE', `num_outputs ${parts} but the node has ${n} outputs`);
    const chunk = Math.ceil(dim / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
  }
  if (sizes.length !== n) fail('E_SHAPE', `${sizes.length} split sizes for ${n} outputs`);
  if (sizes.reduce((a, b) => a + b, 0) !== dim) fail('E_SHAPE', `sizes [${sizes.join(', ')}] do not add up to ${dim}`);
  let at = 0;
  return sizes.map((s) => x.slice(axis, at, (at += s)));
}

function constant(ctx: OpContext): Tensor {
  const n = ctx.node;
  const t = attrTensor(n, 'value', ctx.dir);
  if (t) return upload(t, ctx.device);
  const f = attrFloat(n, 'value_float'), fs = attrFloats(n, 'value_floats');
  const i = attrInt(n, 'value_int'), is = attrInts(n, 'value_ints');
  if (f !== undefined) return upload(hostTensor('float32', [], [f]), ctx.device);
  if (fs) return upload(hostTensor('float32', [fs.length], fs), ctx.device);
  if (i !== undefined) return upload(hostTensor('int64', [], [i]), ctx.device);
  if (is) return upload(hostTensor('int64', [is.length], is), ctx.device);
  fail('E_UNSUPPORTED', `only tensor, float(s) and int(s) values are supported`);
}

function shapeOf(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  const r = x.rank;
  const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
  const start = clampAxis(attrInt(ctx.node, 'start', 0)), end = clampAxis(attrInt(ctx.node, 'end', r));
  const dims = x.shape.slice(start, Math.max(start, end));
  return upload({ dtype: 'int64', shape: [dims.length], data: BigInt64Array.from(dims.map(BigInt)) }, ctx.device);
}

function castTo(ctx: OpContext, to: number): Tensor {
  const dtype = kilnDType(to) ?? fail('E_DTYPE', `target type ${typeName(to)} has no Kiln dtype`);
  return cast(input(ctx, 0), dtype);
}

function constantOfShape(ctx: OpContext): Tensor {
  checkListInput(ctx, 0, 'shape');
  const shape = ctx.ints(0) ?? [];
  const v = attrTensor(ctx.node, 'value', ctx.dir);
  if (v && v.data.length !== 1) fail('E_ARGUMENT', `attribute 'value' must hold one element, got ${v.data.length}`);
  const dtype = v?.dtype ?? 'float32';
  const value = v ? Number(v.data[0]) : 0;
  if (dtype === 'float16' || dtype === 'bfloat16') {
    const t = upload({ dtype, shape: [], data: v!.data }, ctx.device);
    try {
      return t.expand(shape).clone();
    } finally {
      t.dispose();
    }
  }
  return full(shape, value, { dtype, device: ctx.device });
}

function range(ctx: OpContext): Tensor {
  const [start, limit, delta] = [0, 1, 2].map((i) => hostScalar(ctx, i));
  const n = Math.max(Math.ceil((limit - start) / delta), 0);
  if (!Number.isSafeInteger(n)) fail('E_ARGUMENT', `start ${start}, limit ${limit} and delta ${delta} give no finite length`);
  const dtype = input(ctx, 0).dtype;
  const out = empty([n], dtype, ctx.device, 'Range');
  if (n > 0) out.backendFor('Range').run('Range', [], [out.view('Range')], { start, delta });
  return out;
}

function expand(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  checkListInput(ctx, 1, 'shape');
  const want = ctx.ints(1) ?? [];
  if (want.some((v) => v < 0)) fail('E_ARGUMENT', `shape [${want}] holds a negative size`);
  const rank = Math.max(x.rank, want.length);
  const a = [...Array(rank - x.rank).fill(1), ...x.shape], b = [...Array(rank - want.length).fill(1), ...want];
  const shape = a.map((d, i) => (d === 1 ? b[i] : b[i] === 1 ? d : b[i]));
  return x.expand(shape);
}

function padOp(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  const mode = attrString(ctx.node, 'mode', 'constant');
  if (!['constant', 'reflect', 'edge', 'wrap'].includes(mode)) fail('E_UNSUPPORTED', `mode '${mode}'`);
  const r = x.rank;
  let pads: number[], value: number;
  if (ctx.opset >= 11) {
    const raw = ctx.ints(1) ?? [];
    const axes = (ctx.ints(3) ?? [...Array(r).keys()]).map((a) => normalizeAxis('Pad', a, r));
    if (raw.length !== 2 * axes.length) fail('E_ARGUMENT', `pads [${raw}] must hold 2 values per padded axis (${axes.length})`);
    if (new Set(axes).size !== axes.length) fail('E_ARGUMENT', `axes [${ctx.ints(3)}] name an axis more than once`);
    pads = Array(2 * r).fill(0);
    axes.forEach((a, i) => ((pads[a] = raw[i]), (pads[r + a] = raw[axes.length + i])));
    value = ctx.inputs[2] ? hostScalar(ctx, 2) : 0;
  } else {
    pads = attrInts(ctx.node, 'pads') ?? [];
    value = attrFloat(ctx.node, 'value', 0);
  }
  // Negative pads crop: a slice view, then the non-negative remainder is padded.
  let cropped = view(x, 'Pad');
  for (let d = 0; d < r; ++d) {
    if (pads[d] >= 0 && pads[r + d] >= 0) continue;
    const next = cropped.slice(d, Math.max(0, -pads[d]), cropped.shape[d] - Math.max(0, -pads[r + d]));
    cropped.dispose();
    cropped = next;
  }
  if (mode === 'wrap') return wrapPad(cropped, pads);
  try {
    return pad(cropped, Array.from({ length: r }, (_, d) => [Math.max(0, pads[d]), Math.max(0, pads[r + d])] as [number, number]), { mode: mode as 'constant', value });
  } finally {
    cropped.dispose();
  }
}

/** Wrap padding: each padded dim becomes [x[n-b:], x, x[:e]] (pads below the dim size). */
function wrapPad(x: Tensor, pads: number[]): Tensor {
  const r = x.rank;
  let cur = x;
  for (let d = 0; d < r; ++d) {
    const b = Math.max(0, pads[d]), e = Math.max(0, pads[r + d]), n = cur.shape[d];
    if (!b && !e) continue;
    if (b > n || e > n) fail('E_UNSUPPORTED', `Pad: wrap padding (${b}, ${e}) larger than dim ${d} of size ${n}`);
    const parts = [cur.slice(d, n - b, n), cur, cur.slice(d, 0, e)];
    const next = concat(parts, d);
    parts[0].dispose();
    parts[2].dispose();
    cur.dispose();
    cur = next;
  }
  return cur;
}

/** GatherElements and ScatterElements: indices (and updates) of data's rank, no larger than data outside `axis`. */
function checkElementsShapes(data: Tensor, idx: Tensor, axis: number, upd?: Tensor): void {
  if (idx.rank !== data.rank || idx.shape.some((m, i) => i !== axis && m > data.shape[i]))
    fail('E_SHAPE', `indices ${idx.describe()} must have the rank of data ${data.describe()} and fit inside it outside axis ${axis}`);
  if (upd && upd.shape.join() !== idx.shape.join()) fail('E_SHAPE', `updates ${upd.describe()} must have the shape of indices ${idx.describe()}`);
}

/**
 * Flat positions (int64, idx's shape) into a contiguous tensor of `dims` of the elements that
 * GatherElements-style indices name: each element's own coordinates, except along `axis`, where its
 * index (negatives from the end, each checked against dims[axis]: checkedIndices) takes their place.
 */
function elementPositions(t: Temps, dims: readonly number[], idx: Tensor, axis: number, what: string): Tensor {
  const stride = dims.map((_, i) => numel(dims.slice(i + 1)));
  const device = idx.device;
  let pos = t.add(k.mul(checkedIndices(t, t.add(cast(idx, 'int64')), dims[axis], what), stride[axis]));
  idx.shape.forEach((m, i) => {
    if (i === axis || m === 1) return; // a dim of 1: coordinate 0 everywhere
    const coord = t.add(t.add(k.arange(0, m * stride[i], stride[i], { dtype: 'int64', device })).reshape(idx.shape.map((n, j) => (j === i ? n : 1))));
    pos = t.add(k.add(pos, coord));
  });
  return pos;
}

/**
 * GatherElements: out[.., j, ..] = data[.., index[.., j, ..], ..] along `axis`: a Gather from the
 * flattened data at each element's flat position (elementPositions), O(1) per output element.
 */
function gatherElements(ctx: OpContext): Tensor {
  const data = input(ctx, 0), idx = input(ctx, 1);
  const axis = normalizeAxis('GatherElements', attrInt(ctx.node, 'axis', 0), data.rank);
  checkElementsShapes(data, idx, axis);
  if (idx.size === 0) return empty(idx.shape, data.dtype, data.device);
  return withTemps((t) => gather(t.add(data.reshape([-1])), elementPositions(t, data.shape, idx, axis, 'GatherElements'), 0));
}

/**
 * ScatterElements: data with updates written (or combined by `reduction`) at the positions the
 * indices name along `axis`. Without a reduction, the native scatter at each index's flat position
 * (elementPositions, ScatterSlices of single elements: the last update naming one wins). Otherwise
 * (or on a backend without ScatterSlices) a one-hot match of each index against 0..n-1 along `axis`
 * (O(n) per index) and a masked reduction over the matches, or without a reduction each position's
 * last writer; the result block covering the indices' extent is copied into a clone of data.
 */
function scatterElements(ctx: OpContext, reduction = attrString(ctx.node, 'reduction', 'none')): Tensor {
  const data = input(ctx, 0), idx = input(ctx, 1), upd = input(ctx, 2);
  const axis = normalizeAxis('ScatterElements', attrInt(ctx.node, 'axis', 0), data.rank);
  checkElementsShapes(data, idx, axis, upd);
  if (reduction === 'none' && idx.size === 0) return data.clone();
  if (reduction === 'none' && canScatterSlices(data))
    return withTemps((t) => scatterInto(t, data, t.add(elementPositions(t, data.shape, idx, axis, 'ScatterElements').reshape([-1])), upd, 1));
  const n = data.shape[axis];
  return withTemps((t) => {
    let block = data; // data over the indices' extent outside `axis`
    idx.shape.forEach((m, i) => {
      if (i !== axis && m !== block.shape[i]) block = t.add(block.slice(i, 0, m));
    });
    const dT = t.add(block.transpose(axis, -1)); // [.., n]
    const i64 = t.add(cast(idx, 'int64'));
    const iT = t.add(checkedIndices(t, i64, n, 'ScatterElements').transpose(axis, -1)); // [.., m]
    const hot = t.add(k.equal(t.add(iT.unsqueeze(-1)), t.add(k.arange(0, n, 1, { dtype: 'int64', device: data.device })))); // [.., m, n]
    const uT = t.add(upd.transpose(axis, -1)); // [.., m]
    const hit = () => t.add(k.max(hot, { axes: [-2] })); // [.., n]
    const over = (fill: number, f: typeof k.sum) => t.add(f(t.add(k.where(hot, t.add(uT.unsqueeze(-1)), fill)), { axes: [-2] }));
    let combined: Tensor;
    if (reduction === 'add') combined = t.add(k.add(dT, over(0, k.sum)));
    else if (reduction === 'mul') combined = t.add(k.mul(dT, over(1, k.prod)));
    else if (reduction === 'max') combined = t.add(k.where(hit(), t.add(k.maximum(dT, over(-Infinity, k.max))), dT));
    else if (reduction === 'min') combined = t.add(k.where(hit(), t.add(k.minimum(dT, over(Infinity, k.min))), dT));
    else {
      // no reduction: each position's last writer, the largest j whose index names it, as onnxruntime
      const m = iT.shape[iT.rank - 1];
      const js = t.add(t.add(k.arange(0, m, 1, { dtype: 'int64', device: data.device })).reshape([m, 1]));
      const writer = t.add(k.max(t.add(k.where(hot, js, -1)), { axes: [-2] })); // [.., n]
      const at = elementPositions(t, uT.shape, t.add(k.maximum(writer, 0)), uT.rank - 1, 'ScatterElements');
      const picked = t.add(gather(t.add(uT.reshape([-1])), at, 0)); // [.., n]
      combined = t.add(k.where(t.add(k.greaterEqual(writer, 0)), picked, dT));
    }
    const out = data.clone();
    const region = idx.shape.reduce((v: Tensor, m, i) => (i !== axis && m !== v.shape[i] ? t.add(v.slice(i, 0, m)) : v), t.add(out.withLayout('ScatterElements', out.shape, out.strides)));
    runInto('Cast', [t.add(combined.transpose(axis, -1))], [region]);
    return out;
  });
}

/** Compress: the slices along `axis` (of the flattened input without one) where condition is true. */
function compress(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  const cond = hostInput(ctx, 1).values;
  const axisAttr = attrInt(ctx.node, 'axis');
  const src = axisAttr === undefined ? x.reshape([-1]) : x.withLayout('Compress', x.shape, x.strides);
  try {
    const axis = normalizeAxis('Compress', axisAttr ?? 0, src.rank);
    // typed and checked: the condition may be as long as the model makes it (a JS array of 3e8 picks
    // would overflow the JS heap, which ends the process)
    const m = Math.min(cond.length, src.shape[axis]);
    let count = 0;
    for (let i = 0; i < m; ++i) if (Number(cond[i]) !== 0) ++count;
    const picked = hostValues(count, `Compress's ${count} picked slices`);
    for (let i = 0, at = 0; i < m; ++i) if (Number(cond[i]) !== 0) picked[at++] = i;
    return withTemps((t) => gather(src, t.add(k.tensor(picked, { dtype: 'int64', device: x.device })), axis));
  } finally {
    src.dispose();
  }
}

/**
 * ReverseSequence: the first seq_lens[b] entries along time_axis of each batch entry b reversed,
 * the rest kept; time and batch are dims 0 and 1 (either way round). One Gather of [T * B] rows.
 */
function reverseSequence(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  checkListInput(ctx, 1, 'sequence_lens');
  const lens = hostInts(ctx, 1);
  const timeAxis = attrInt(ctx.node, 'time_axis', 0), batchAxis = attrInt(ctx.node, 'batch_axis', 1);
  if (!((timeAxis === 0 && batchAxis === 1) || (timeAxis === 1 && batchAxis === 0)))
    fail('E_ARGUMENT', `time_axis ${timeAxis} and batch_axis ${batchAxis} must be 0 and 1, either way round`);
  if (x.rank < 2) fail('E_SHAPE', `needs an input of rank >= 2, got ${x.describe()}`);
  const steps = x.shape[timeAxis], batch = x.shape[batchAxis];
  if (lens.length !== batch) fail('E_SHAPE', `sequence_lens has ${lens.length} values for a batch of ${batch} (${x.describe()})`);
  const bad = lens.find((l) => l < 0 || l > steps);
  if (bad !== undefined) fail('E_ARGUMENT', `sequence length ${bad} is outside [0, ${steps}] (the time dim of ${x.describe()})`);
  // an empty X has nothing to move, however long its time dim (a JS array of 2^40 rows, as this
  // was, ran the process out of JS heap)
  if (x.size === 0) return x.contiguous();
  const rows = hostValues(steps * batch, `ReverseSequence's ${steps * batch} rows (${steps} steps of ${batch})`);
  for (let i = 0; i < steps * batch; ++i) {
    // row i of the flattened [dim 0, dim 1] pair
    const [t, b] = timeAxis === 0 ? [Math.floor(i / batch), i % batch] : [i % steps, Math.floor(i / steps)];
    const from = t < lens[b] ? lens[b] - 1 - t : t;
    rows[i] = timeAxis === 0 ? from * batch + b : b * steps + from;
  }
  return withTemps((tmp) => {
    const idx = tmp.add(k.tensor(rows, { dtype: 'int64', device: x.device }));
    return tmp.add(gather(tmp.add(x.reshape([steps * batch, ...x.shape.slice(2)])), idx, 0)).reshape(x.shape);
  });
}

defineOps({
  GatherElements: { since: 11, uses: ['Cast', 'Gather', 'Range', 'Mul', 'Add'], run: (ctx) => [gatherElements(ctx)] },
  ScatterElements: {
    since: 11,
    uses: ['Cast', 'Gather', 'Add', 'Where', 'Range', 'Equal', 'ReduceMax', 'ReduceSum', 'ReduceProd', 'ReduceMin', 'Mul', 'Max', 'Min', 'GreaterOrEqual'],
    check: (n) => (['none', 'add', 'mul', 'max', 'min'].includes(attrString(n, 'reduction', 'none')) ? undefined : `reduction '${attrString(n, 'reduction', 'none')}'`),
    run: (ctx) => [scatterElements(ctx)],
  },
  // opsets 9 and 10: ScatterElements without reduction, under its first name (removed in opset 11)
  Scatter: {
    since: 9,
    uses: ['Cast', 'Gather', 'Where', 'Range', 'Equal', 'ReduceMax', 'Max', 'Add', 'Mul', 'GreaterOrEqual'],
    check: (_n, opset) => (opset >= 11 ? `Scatter was removed in opset 11 (ScatterElements replaces it); this model's opset is ${opset}` : undefined),
    run: (ctx) => [scatterElements(ctx, 'none')],
  },
  Compress: { since: 11, uses: ['Gather', 'Cast'], hostInputs: [1], run: (ctx) => [compress(ctx)] },
  ReverseSequence: { since: 10, uses: ['Gather', 'Cast'], hostInputs: [1], run: (ctx) => [reverseSequence(ctx)] },
  Reshape: { since: 5, uses: ['Cast'], hostInputs: [1], run: (ctx) => [reshape(ctx)] },
  Flatten: {
    uses: ['Cast'],
    run: (ctx) => {
      const x = input(ctx, 0);
      // axis lies in [-r, r]; a negative one counts from the end.
      const axis = attrInt(ctx.node, 'axis', 1);
      if (!(axis >= -x.rank && axis <= x.rank)) fail('E_ARGUMENT', `axis ${axis} is outside [-${x.rank}, ${x.rank}] for ${x.describe()}`);
      const a = normalizeAxis('Flatten', axis < 0 ? axis + x.rank : axis, x.rank + 1);
      return [x.reshape([numel(x.shape.slice(0, a)), numel(x.shape.slice(a))])];
    },
  },
  Transpose: {
    uses: [],
    run: (ctx) => {
      const x = input(ctx, 0);
      const perm = attrInts(ctx.node, 'perm') ?? [...Array(x.rank).keys()].reverse();
      if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i))
        fail('E_ARGUMENT', `perm [${perm}] is not a permutation of the ${x.rank} dims of ${x.describe()}`);
      return [x.permute(perm)];
    },
  },
  Squeeze: { uses: [], hostInputs: [1], run: (ctx) => [squeeze(ctx)] },
  Unsqueeze: { uses: ['Cast'], hostInputs: [1], run: (ctx) => [unsqueeze(ctx)] },
  Concat: {
    since: 4,
    uses: ['Cast'],
    run: (ctx) => {
      const xs = variadicInputs(ctx);
      const axis = attrInt(ctx.node, 'axis', 0);
      const odd = xs.find((t) => t.rank !== xs[0].rank);
      if (odd) fail('E_SHAPE', `every input needs one rank: ${xs.map((t) => t.describe()).join(', ')}`);
      // ONNX lets empty inputs join anything of the same rank.
      const nonEmpty = xs.filter((t) => t.size > 0);
      return [nonEmpty.length ? concat(nonEmpty, axis) : xs[0].clone()];
    },
  },
  Split: { since: 2, uses: [], hostInputs: [1], run: split },
  Slice: { uses: [], hostInputs: [1, 2, 3, 4], run: (ctx) => [slice(ctx)] },
  Gather: { uses: ['Gather'], run: (ctx) => [gather(input(ctx, 0), input(ctx, 1), attrInt(ctx.node, 'axis', 0))] },
  Shape: { uses: ['Fill'], run: (ctx) => [shapeOf(ctx)] },
  Size: { uses: ['Fill'], run: (ctx) => [full([], input(ctx, 0).size, { dtype: 'int64', device: ctx.device })] },
  // saturate matters only for float8 targets, which Kiln lacks; it is still a switch (0 or 1)
  Cast: { since: 6, uses: ['Cast'], run: (ctx) => (attrFlag(ctx.node, 'saturate', 1), [castTo(ctx, attrInt(ctx.node, 'to', 0))]) },
  CastLike: { since: 15, uses: ['Cast'], run: (ctx) => (attrFlag(ctx.node, 'saturate', 1), [cast(input(ctx, 0), input(ctx, 1).dtype)]) },
  Constant: { uses: [], run: (ctx) => [constant(ctx)] },
  ConstantOfShape: { since: 9, uses: ['Fill', 'Cast'], hostInputs: [0], run: (ctx) => [constantOfShape(ctx)] },
  Range: { since: 11, uses: ['Range'], hostInputs: [0, 1, 2], run: (ctx) => [range(ctx)] },
  Expand: { since: 8, uses: [], hostInputs: [1], run: (ctx) => [expand(ctx)] },
  Tile: {
    since: 6,
    uses: ['Cast'],
    hostInputs: [1],
    run: (ctx) => {
      checkListInput(ctx, 1, 'repeats');
      const x = input(ctx, 0), repeats = ctx.ints(1) ?? [];
      // ONNX: one repeat per dim (kiln.tile, like NumPy's, would prepend dims for a longer list)
      if (repeats.length !== x.rank) fail('E_SHAPE', `repeats [${repeats.join(', ')}] must have one value per dim of ${x.describe()}`);
      return [tile(x, repeats)];
    },
  },
  Pad: { since: 2, uses: ['Pad'], hostInputs: [1, 2, 3], run: (ctx) => [padOp(ctx)] },
});
