// Control flow: If (the condition is read on the host, then the chosen branch runs as a nested graph
// that sees the enclosing scope's values), Loop (its body runs once per iteration with the
// iteration number, the condition and the loop-carried values bound to its inputs) and Scan (its
// body runs once per slice of the scan inputs, with the state values; opset 8's form scans each entry
// of a batch dim on its own, up to its sequence length).
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
 * The scan loop of both Scans: `steps` runs of the body, each with the states and slice t of each
 * scan input along its axis (slice steps - 1 - t where `dirs` says 1: a shorter sequence than the
 * input holds, opset 8's, is read from its own end). Returns the last states (the initial
 * ones when nothing ran) and each scan output's slices in iteration order; the caller stacks and
 * disposes them. A failure disposes everything made so far.
 */
async function scanSteps(ctx: OpContext, body: Graph, initial: readonly Tensor[], xs: readonly Tensor[], axes: readonly number[], dirs: readonly number[], steps: number): Promise<{ states: readonly Tensor[]; scans: Tensor[][] }> {
  const n = initial.length;
  let states: readonly Tensor[] = initial;
  const scans: Tensor[][] = Array.from({ length: body.outputs.length - n }, () => []);
  const own = (ts: readonly Tensor[]) => {
    if (ts !== initial) ts.forEach((t) => t.dispose());
  };
  try {
    for (let t = 0; t < steps; ++t) {
      const slices = xs.map((x, j) => {
        const at = dirs[j] ? steps - 1 - t : t;
        const s = x.slice(axes[j], at, at + 1);
        try {
          return s.squeeze(axes[j]);
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
    return { states, scans };
  } catch (e) {
    own(states);
    scans.flat().forEach((v) => v.dispose());
    throw e;
  }
}

/** The body's counts for n + m inputs of which m are scanned: k scan outputs; KilnErrors for a mismatch. */
function scanCounts(ctx: OpContext, body: Graph, inputs: number): { m: number; n: number; k: number } {
  const m = attrInt(ctx.node, 'num_scan_inputs') ?? fail('E_ARGUMENT', 'attribute num_scan_inputs is required');
  const n = inputs - m, k = body.outputs.length - n;
  if (!(m >= 1 && n >= 0)) fail('E_ARGUMENT', `num_scan_inputs ${m} must be in [1, ${inputs}] (the node has ${inputs} ${ctx.opset < 9 ? 'state and scan ' : ''}inputs)`);
  if (body.inputs.length !== n + m) fail('E_ARGUMENT', `the body takes ${body.inputs.length} inputs; it needs ${n} states + ${m} scan inputs`);
  if (k < 0) fail('E_ARGUMENT', `the body gives ${body.outputs.length} outputs; it needs at least the ${n} states`);
  return { m, n, k };
}

/** An integer-list attribute of `len` values (zeros when absent). */
function listAttr(ctx: OpContext, name: string, len: number, what: string): number[] {
  const v = attrInts(ctx.node, name) ?? new Array<number>(len).fill(0);
  if (v.length !== len) fail('E_ARGUMENT', `${name} has ${v.length} values for ${len} ${what}`);
  return v;
}

/**
 * Scan (opset 9+): N state values and M scan inputs; the body runs once per slice along each scan
 * input's axis (scan_input_axes, from the end when scan_input_directions says 1), with the states,
 * and gives the next states and K scan output slices, stacked along scan_output_axes (reversed where
 * scan_output_directions says 1). Returns the last states and the K stacks.
 */
async function scan(ctx: OpContext): Promise<Tensor[]> {
  if (ctx.opset < 9) return scan8(ctx);
  const body: Graph = attrGraph(ctx.node, 'body');
  const all = variadicInputs(ctx);
  const { m, n, k } = scanCounts(ctx, body, all.length);
  const xs = all.slice(n);
  const inAxes = listAttr(ctx, 'scan_input_axes', m, 'scan inputs').map((a, j) => normalizeAxis('Scan', a, xs[j].rank));
  const inDirs = listAttr(ctx, 'scan_input_directions', m, 'scan inputs'), outDirs = listAttr(ctx, 'scan_output_directions', k, 'scan outputs');
  const outAxes = listAttr(ctx, 'scan_output_axes', k, 'scan outputs');
  const steps = xs[0].shape[inAxes[0]];
  xs.forEach((x, j) => {
    if (x.shape[inAxes[j]] !== steps) fail('E_SHAPE', `scan input ${j} ${x.describe()} has ${x.shape[inAxes[j]]} slices along axis ${inAxes[j]}; scan input 0 has ${steps}`);
  });
  const initial = all.slice(0, n);
  const { states, scans } = await scanSteps(ctx, body, initial, xs, inAxes, inDirs, steps);
  try {
    const stacked = scans.map((parts, j) => {
      const meta = body.outputs[n + j];
      const axis = normalizeAxis('Scan', outAxes[j], (parts[0]?.rank ?? meta.shape?.length ?? 0) + 1);
      return stack(outDirs[j] ? [...parts].reverse() : parts, axis, meta, ctx.device);
    });
    return [...(states === initial ? initial.map((v) => v.clone()) : states), ...stacked];
  } catch (e) {
    if (states !== initial) states.forEach((v) => v.dispose());
    throw e;
  } finally {
    scans.flat().forEach((v) => v.dispose());
  }
}

/**
 * Scan (opset 8): every state and scan input has a leading batch dim, the scan inputs a sequence dim
 * after it (read from the end where `directions` says 1); sequence_lens (input 0, optional: int64
 * [batch], each in [1, the sequence length], as onnxruntime requires) gives each batch entry's
 * length. Each entry is scanned on its own; its scan outputs, stacked along the sequence dim in
 * iteration order, are zero past its length (onnxruntime), and the results are stacked along the
 * batch dim.
 */
async function scan8(ctx: OpContext): Promise<Tensor[]> {
  const body: Graph = attrGraph(ctx.node, 'body');
  const all = ctx.inputs.slice(1).map((t, i) => t ?? fail('E_ARGUMENT', `input ${i + 1} is empty: only sequence_lens (input 0) is optional`));
  const { m, n, k } = scanCounts(ctx, body, all.length);
  const xs = all.slice(n), initial = all.slice(0, n);
  const dirs = listAttr(ctx, 'directions', m, 'scan inputs');
  xs.forEach((x, j) => x.rank < 2 && fail('E_SHAPE', `scan input ${j} ${x.describe()} needs a batch and a sequence dim`));
  const batch = all[0].shape[0] ?? fail('E_SHAPE', `state 0 ${all[0].describe()} needs a batch dim`), maxLen = xs[0].shape[1];
  all.forEach((t, i) => t.shape[0] !== batch && fail('E_SHAPE', `input ${i + 1} ${t.describe()} has batch ${t.shape[0] ?? 'none'}; input 1 has ${batch}`));
  xs.forEach((x, j) => x.shape[1] !== maxLen && fail('E_SHAPE', `scan input ${j} ${x.describe()} has ${x.shape[1]} steps; scan input 0 has ${maxLen}`));
  let lens = new Array<number>(batch).fill(maxLen);
  const lensT = ctx.inputs[0];
  if (lensT) {
    if (lensT.dtype !== 'int64' || lensT.rank !== 1 || lensT.shape[0] !== batch) fail('E_SHAPE', `sequence_lens ${lensT.describe()} must be int64[${batch}]`);
    lens = Array.from((await lensT.data()) as BigInt64Array, Number);
    const bad = lens.findIndex((l) => !(l >= 1 && l <= maxLen));
    if (bad >= 0) fail('E_ARGUMENT', `sequence_lens[${bad}] is ${lens[bad]}; each must be in [1, ${maxLen}]`);
  }
  // batch entry b of t (a view); scanSteps reads a scan input's first `steps` slices only, from
  // steps - 1 down where reversed
  const entry = (t: Tensor, b: number) => {
    const row = t.slice(0, b, b + 1);
    try {
      return row.squeeze(0);
    } finally {
      row.dispose();
    }
  };
  const perBatch: Tensor[][] = Array.from({ length: n + k }, () => []);
  try {
    for (let b = 0; b < batch; ++b) {
      const init = initial.map((t) => entry(t, b)), seq = xs.map((x) => entry(x, b));
      let run: { states: readonly Tensor[]; scans: Tensor[][] };
      try {
        run = await scanSteps(ctx, body, init, seq, new Array<number>(m).fill(0), dirs, lens[b]);
      } catch (e) {
        init.forEach((t) => t.dispose());
        throw e;
      } finally {
        seq.forEach((t) => t.dispose());
      }
      try {
        run.states.forEach((t, i) => perBatch[i].push(run.states === init ? t.clone() : t));
        run.scans.forEach((parts, j) => {
          const stacked = stack(parts, 0, body.outputs[n + j], ctx.device);
          if (lens[b] === maxLen) return perBatch[n + j].push(stacked);
          try {
            const pad = zeros([maxLen - lens[b], ...stacked.shape.slice(1)], { dtype: stacked.dtype, device: ctx.device });
            try {
              perBatch[n + j].push(concat([stacked, pad], 0));
            } finally {
              pad.dispose();
            }
          } finally {
            stacked.dispose();
          }
        });
      } finally {
        init.forEach((t) => t.dispose()); // views of the states' entries (the states the run made are in perBatch)
        run.scans.flat().forEach((t) => t.dispose());
      }
    }
    if (batch === 0) {
      const shapeOf = (j: number) => body.outputs[n + j].shape?.every((d) => typeof d === 'number') ? (body.outputs[n + j].shape as number[]) : fail('E_SHAPE', `an empty batch, and scan output ${j} of the body has no static shape`);
      return [...initial.map((t) => t.clone()), ...Array.from({ length: k }, (_, j) => stack([], 0, { ...body.outputs[n + j], shape: [maxLen, ...shapeOf(j)] }, ctx.device))];
    }
    return perBatch.map((parts, i) => stack(parts, 0, body.outputs[i], ctx.device));
  } finally {
    perBatch.flat().forEach((t) => t.dispose());
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
  Scan: { since: 8, uses: ['Cast', 'Fill'], run: scan },
});
