// Control flow: If (the condition is read on the host, then the chosen branch runs as a nested graph
// that sees the enclosing scope's values) and Loop (its body runs once per iteration with the
// iteration number, the condition and the loop-carried values bound to its inputs).
import { DTYPES, type DType } from '../../dtype.js';
import { fail } from '../../errors.js';
import { full, zeros } from '../../ops/creation.js';
import { concat } from '../../ops/shape-ops.js';
import type { Tensor } from '../../tensor.js';
import { attrGraph } from '../attrs.js';
import type { Graph } from '../model.js';
import { defineOps, type OpContext } from './registry.js';

/** One host value of input i, which must hold exactly one element (a trip count, a condition). */
function hostOne(ctx: OpContext, i: number, what: string): number | undefined {
  const h = ctx.host(i);
  if (!h) return undefined;
  if (h.values.length !== 1) fail('E_SHAPE', `${what} must have one element, got ${h.values.length}`);
  return Number(h.values[0]);
}

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
  const trips = hostOne(ctx, 0, 'the trip count M');
  const hasCond = !!ctx.inputs[1];
  let cond = hasCond ? hostOne(ctx, 1, 'the condition') !== 0 : true;
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
    const stacked = scans.map((parts, j) => {
      if (!parts.length) {
        // nothing ran: an empty stack of the declared element type (float32 when undeclared)
        const meta = body.outputs[1 + n + j];
        const dims = meta.shape?.every((d) => typeof d === 'number') ? (meta.shape as number[]) : [];
        const dtype = (DTYPES as readonly string[]).includes(meta.dtype) ? (meta.dtype as DType) : 'float32';
        return zeros([0, ...dims], { dtype, device: ctx.device });
      }
      const unsqueezed = parts.map((t) => t.unsqueeze(0));
      try {
        return concat(unsqueezed, 0);
      } finally {
        unsqueezed.forEach((t) => t.dispose());
      }
    });
    const finals = carried === initial ? initial.map((t) => t.clone()) : carried;
    return [...finals, ...stacked];
  } catch (e) {
    own(carried);
    throw e;
  } finally {
    scans.flat().forEach((t) => t.dispose());
  }
}

defineOps({
  If: {
    uses: [],
    hostInputs: [0],
    run: async (ctx) => {
      const cond = ctx.host(0) ?? fail('E_ARGUMENT', `missing condition`);
      if (cond.values.length !== 1) fail('E_SHAPE', `the condition must have one element, got ${cond.values.length}`);
      return ctx.runGraph(attrGraph(ctx.node, Number(cond.values[0]) ? 'then_branch' : 'else_branch'));
    },
  },
  Loop: { since: 11, uses: ['Fill', 'Cast'], hostInputs: [0, 1], run: loop },
});
