// Control flow: If (the condition is read on the host, then the chosen branch runs as a nested graph
// that sees the enclosing scope's values), Loop (its body runs once per iteration with the
// iteration number, the condition and the loop-carried values bound to its inputs) and Scan (its
// body runs once per slice of the scan inputs, with the state values).
import { DTYPES, type DType } from '../../dtype.js';
import { fail } from '../../errors.js';
import { full, zeros } from '../../ops/creation.js';
import { concat } from '../../ops/shape-ops.js';
import type { Tensor } from '../../tensor.js';
import { normalizeAxis } from '../../shape.js';
import { attrGraph, attrInt, attrInts } from '../attrs.js';
import type { Graph } from '../model.js';
import { defineOps, type OpContext } from './registry.js';
import { hostScalar, optionalHostScalar, variadicInputs } from './util.js';

/** A tensor read back as one boolean (the body's condition output). */
async function truthy(t: Tensor, what: string): Promise<boolean> {
  if (t.size !== 1) fail('E_SHAPE', `${what} must have one element, got ${t.describe()}`);
  return Number((await t.data())[0]) !== 0;
}

/**
 * Loop: while (no trip count M or i < M) and (no condition input or cond): run the body with
 * (i, cond, v...), take its (cond, v..., scan...) outputs. Returns the last v... (the initial ones
 * when nothing ran) and each scan output stacked along a new first axis. The body's condition output
 * decides only when the node has a condition input (ONNX: with M alone it is a for loop).
 */
async function loop(ctx: OpContext): Promise<Tensor[]> {
  const body: Graph = attrGraph(ctx.node, 'body');
  const trips = optionalHostScalar(ctx, 0, 'the trip count M');
  const hasCond = !!ctx.inputs[1];
  let cond = hasCond ? optionalHostScalar(ctx, 1, 'the condition') !== 0 : true;
  const initial = ctx.inputs.slice(2).map((t, j) => t ?? fail('E_ARGUMENT', `loop-carried input ${j} is empty`));
  const n = initial.length, k = body.outputs.length - 1 - n;
  if (body.inputs.length !== 2 + n) fail('E_ARGUMENT', `the body takes ${body.inputs.length} inputs; it needs 2 + ${n} (iteration number, condition, the loop-carried values)`);
  if (k < 0) fail('E_ARGUMENT', `the body gives ${body.outputs.length} outputs; it needs at least 1 + ${n} (condition, the loop-carried values)`);
  if (ctx.node.outputs.length > n + k) fail('E_ARGUMENT', `the node has ${ctx.node.outputs.length} outputs; its body gives ${n} loop-carried values and ${k} scan outputs`);
  let carried: Tensor[] = initial;
  const scans: Tensor[][] = Array.from({ length: k }, () => []);
  const own = (ts: readonly Tensor[]) => {
    if (ts !== initial) ts.forEach((t) => t.dispose());
  };
  try {
    for (let i = 0; (trips === undefined || i < trips) && cond; ++i) {
      const feeds = new Map<string, Tensor>([
        [body.inputs[0].name, full([], i, { dtype: 'int64', device: ctx.device })],
        [body.inputs[1].name, full([], cond, { dtype: 'bool', device: ctx.device })],
        ...carried.map((t, j) => [body.inputs[2 + j].name, t] as [string, Tensor]),
      ]);
      let outs: Tensor[];
      try {
        outs = await ctx.runGraph(body, feeds);
      } finally {
        feeds.get(body.inputs[0].name)!.dispose();
        feeds.get(body.inputs[1].name)!.dispose();
      }
      own(carried);
      carried = outs.slice(1, 1 + n);
      outs.slice(1 + n).forEach((t, j) => scans[j].push(t));
      try {
        if (hasCond) cond = await truthy(outs[0], "the body's condition output");
      } finally {
        outs[0].dispose();
      }
    }
    // nothing ran: an empty stack of the declared element type (float32 when undeclared)
    const stacked = scans.map((parts, j) => stack(parts, 0, body.outputs[1 + n + j], ctx.device));
    const finals = carried === initial ? initial.map((t) => t.clone()) : carried;
    return [...finals, ...stacked];
  } catch (e) {
    own(carried);
    throw e;
  } finally {
    scans.flat().forEach((t) => t.dispose());
  }
}

/** parts (one per iteration) stacked along a new `axis`, or an empty stack of the body output `meta`'s type. */
function stack(parts: readonly Tensor[], axis: number, meta: Graph['outputs'][number], device: string): Tensor {
  if (!parts.length) {
    const dims = meta.shape?.every((d) => typeof d === 'number') ? [...(meta.shape as number[])] : [];
    dims.splice(Math.min(axis, dims.length), 0, 0);
    const dtype = (DTYPES as readonly string[]).includes(meta.dtype) ? (meta.dtype as DType) : 'float32';
    return zeros(dims, { dtype, device });
  }
  const spread = parts.map((t) => t.unsqueeze(axis));
  try {
    return concat(spread, axis);
  } finally {
    spread.forEach((t) => t.dispose());
  }
}

/**
 * Scan (opset 9+): N state values and M scan inputs; the body runs once per slice along each scan
 * input's axis (scan_input_axes, from the end when scan_input_directions says 1), with the states,
 * and gives the next states and K scan output slices, stacked along scan_output_axes (reversed where
 * scan_output_directions says 1). Returns the last states and the K stacks.
 */
async function scan(ctx: OpContext): Promise<Tensor[]> {
  const body: Graph = attrGraph(ctx.node, 'body');
  const all = variadicInputs(ctx);
  const m = attrInt(ctx.node, 'num_scan_inputs') ?? fail('E_ARGUMENT', 'attribute num_scan_inputs is required');
  const n = all.length - m, k = body.outputs.length - n;
  if (!(m >= 1 && n >= 0)) fail('E_ARGUMENT', `num_scan_inputs ${m} must be in [1, ${all.length}] (the node has ${all.length} inputs)`);
  if (body.inputs.length !== n + m) fail('E_ARGUMENT', `the body takes ${body.inputs.length} inputs; it needs ${n} states + ${m} scan inputs`);
  if (k < 0) fail('E_ARGUMENT', `the body gives ${body.outputs.length} outputs; it needs at least the ${n} states`);
  const listOf = (name: string, len: number, what: string) => {
    const v = attrInts(ctx.node, name) ?? new Array<number>(len).fill(0);
    if (v.length !== len) fail('E_ARGUMENT', `${name} has ${v.length} values for ${len} ${what}`);
    return v;
  };
  const xs = all.slice(n);
  const inAxes = listOf('scan_input_axes', m, 'scan inputs').map((a, j) => normalizeAxis('Scan', a, xs[j].rank));
  const inDirs = listOf('scan_input_directions', m, 'scan inputs'), outDirs = listOf('scan_output_directions', k, 'scan outputs');
  const outAxes = listOf('scan_output_axes', k, 'scan outputs');
  const steps = xs[0].shape[inAxes[0]];
  xs.forEach((x, j) => {
    if (x.shape[inAxes[j]] !== steps) fail('E_SHAPE', `scan input ${j} ${x.describe()} has ${x.shape[inAxes[j]]} slices along axis ${inAxes[j]}; scan input 0 has ${steps}`);
  });
  const initial = all.slice(0, n);
  let states: Tensor[] = initial;
  const scans: Tensor[][] = Array.from({ length: k }, () => []);
  const own = (ts: readonly Tensor[]) => {
    if (ts !== initial) ts.forEach((t) => t.dispose());
  };
  try {
    for (let t = 0; t < steps; ++t) {
      const slices = xs.map((x, j) => {
        const at = inDirs[j] ? steps - 1 - t : t;
        const s = x.slice(inAxes[j], at, at + 1);
        try {
          return s.squeeze(inAxes[j]);
        } finally {
          s.dispose();
        }
      });
      let outs: Tensor[];
      try {
        outs = await ctx.runGraph(body, new Map([...states, ...slices].map((v, i) => [body.inputs[i].name, v])));
      } finally {
        slices.forEach((v) => v.dispose());
      }
      own(states);
      states = outs.slice(0, n);
      outs.slice(n).forEach((v, j) => scans[j].push(v));
    }
    const stacked = scans.map((parts, j) => {
      const meta = body.outputs[n + j];
      const axis = normalizeAxis('Scan', outAxes[j], (parts[0]?.rank ?? meta.shape?.length ?? 0) + 1);
      return stack(outDirs[j] ? [...parts].reverse() : parts, axis, meta, ctx.device);
    });
    return [...(states === initial ? initial.map((v) => v.clone()) : states), ...stacked];
  } catch (e) {
    own(states);
    throw e;
  } finally {
    scans.flat().forEach((v) => v.dispose());
  }
}

defineOps({
  If: {
    uses: [],
    hostInputs: [0],
    run: async (ctx) => {
      const cond = hostScalar(ctx, 0, 'the condition');
      return ctx.runGraph(attrGraph(ctx.node, cond ? 'then_branch' : 'else_branch'));
    },
  },
  Loop: { since: 11, uses: ['Fill', 'Cast'], hostInputs: [0, 1], run: loop },
  // opset 8's Scan (a batch axis and sequence_lens) is another op
  Scan: { since: 9, uses: ['Cast'], run: scan },
});
