// RNN, GRU and LSTM composed from Kiln ops: the input projection of every time step is one MatMul
// (X @ W^T + Wb + Rb), then each step does one MatMul with the recurrence weights and its gates:
// a few elementwise ops, or fused kernels where the backend has them (LstmCell, GruCell, GruReset
// and GruUpdate). Forward, reverse and bidirectional; layout 0 and 1; sequence_lens; every ONNX
// activation, clip and input_forget.
import { KilnError, fail } from '../../errors.js';
import * as k from '../../ops/index.js';
import { hostValues } from '../../host-memory.js';
import { empty, runInto } from '../../ops/run.js';
import { withTemps, type Temps } from '../../ops/temps.js';
import type { Tensor } from '../../tensor.js';
import { attrFloat, attrFloats, attrInt, attrString, attrStrings, attrFlag } from '../attrs.js';
import type { Node } from '../model.js';
import { defineOps, type OpContext, type OpHandler } from './registry.js';
import { input } from './util.js';

type Kind = 'RNN' | 'GRU' | 'LSTM';
const GATES: Record<Kind, number> = { RNN: 1, GRU: 3, LSTM: 4 };
const DEFAULT_ACTS: Record<Kind, string[]> = { RNN: ['Tanh'], GRU: ['Sigmoid', 'Tanh'], LSTM: ['Sigmoid', 'Tanh', 'Tanh'] };

/** An activation function of ONNX's list, with the alpha and beta it takes (undefined: none). */
interface ActivationDef {
  alpha?: number;
  beta?: number;
  uses: string[];
  /** The backend op that is the whole function, where one is. */
  op?: string;
  apply(x: Tensor, t: Temps, alpha: number, beta: number): Tensor;
}
const ACTIVATIONS: Record<string, ActivationDef> = {
  relu: { uses: ['Relu'], op: 'Relu', apply: (x) => k.relu(x) },
  tanh: { uses: ['Tanh'], op: 'Tanh', apply: (x) => k.tanh(x) },
  sigmoid: { uses: ['Sigmoid'], op: 'Sigmoid', apply: (x) => k.sigmoid(x) },
  affine: { alpha: 0, beta: 0, uses: ['Mul', 'Add'], apply: (x, t, a, b) => k.add(t.add(k.mul(x, a)), b) },
  leakyrelu: { alpha: 0.01, uses: ['Less', 'Mul', 'Where'], apply: (x, t, a) => k.where(t.add(k.less(x, 0)), t.add(k.mul(x, a)), x) },
  thresholdedrelu: { alpha: 0, uses: ['Greater', 'Where'], apply: (x, t, a) => k.where(t.add(k.greater(x, a)), x, 0) },
  scaledtanh: { alpha: 0, beta: 0, uses: ['Mul', 'Tanh'], apply: (x, t, a, b) => k.mul(t.add(k.tanh(t.add(k.mul(x, b)))), a) },
  hardsigmoid: { alpha: 0.2, beta: 0.5, uses: ['Mul', 'Add', 'Clip'], apply: (x, t, a, b) => k.clip(t.add(k.add(t.add(k.mul(x, a)), b)), 0, 1) },
  elu: { alpha: 1, uses: ['Less', 'Exp', 'Sub', 'Mul', 'Where'], apply: (x, t, a) => k.where(t.add(k.less(x, 0)), t.add(k.mul(t.add(k.sub(t.add(k.exp(x)), 1)), a)), x) },
  softsign: { uses: ['Abs', 'Add', 'Div'], apply: (x, t) => k.div(x, t.add(k.add(t.add(k.abs(x)), 1))) },
  softplus: { uses: ['Exp', 'Add', 'Log'], apply: (x, t) => k.log(t.add(k.add(t.add(k.exp(x)), 1))) },
};

/** An activation function with its alpha and beta bound. */
interface Activation {
  op?: string;
  apply(x: Tensor, t: Temps): Tensor;
}

/**
 * The node's activation functions per direction (RNN: f; GRU: f, g; LSTM: f, g, h; the defaults
 * where the node lists none). Each function that takes an alpha (a beta) takes the next value of
 * activation_alpha (activation_beta) in list order, or its default, as onnxruntime reads them.
 */
function activationsOf(n: Node, kind: Kind, dirs: number): Activation[][] {
  const per = DEFAULT_ACTS[kind].length;
  const given = attrStrings(n, 'activations');
  if (given && given.length !== per * dirs) fail('E_ARGUMENT', `activations [${given.join(', ')}] must name ${per * dirs} functions (${per} per direction)`);
  const names = given ?? Array.from({ length: dirs }, () => DEFAULT_ACTS[kind]).flat();
  const alphas = attrFloats(n, 'activation_alpha') ?? [], betas = attrFloats(n, 'activation_beta') ?? [];
  let ai = 0, bi = 0;
  const fns = names.map((name): Activation => {
    const def = ACTIVATIONS[name.toLowerCase()] ?? fail('E_ARGUMENT', `activation '${name}' is not one of ${Object.keys(ACTIVATIONS).join(', ')} (case does not matter)`);
    const alpha = def.alpha === undefined ? 0 : ai < alphas.length ? alphas[ai++] : def.alpha;
    const beta = def.beta === undefined ? 0 : bi < betas.length ? betas[bi++] : def.beta;
    return { op: def.op, apply: (x, t) => def.apply(x, t, alpha, beta) };
  });
  return Array.from({ length: dirs }, (_, d) => fns.slice(d * per, (d + 1) * per));
}

/** The node's directions, each as `reversed`: forward [false], reverse [true], bidirectional [false, true]. */
function directionsOf(n: Node): boolean[] {
  const direction = attrString(n, 'direction', 'forward');
  if (direction === 'forward' || direction === 'reverse') return [direction === 'reverse'];
  if (direction === 'bidirectional') return [false, true];
  return fail('E_ARGUMENT', `direction '${direction}' is not forward, reverse or bidirectional`);
}

/** The load-time check: a direction or activation list the node cannot run with, as onnxruntime refuses it at load. */
function checkAttributes(n: Node, kind: Kind): string | undefined {
  try {
    activationsOf(n, kind, directionsOf(n).length);
    return undefined;
  } catch (e) {
    if (e instanceof KilnError) return e.message;
    throw e;
  }
}

/** Every op an activation list may launch. */
const ACTIVATION_OPS = [...new Set(Object.values(ACTIVATIONS).flatMap((a) => a.uses))];

interface Step {
  h: Tensor;
  c?: Tensor;
}

/** t's index i along axis 0, without that dim: a view. */
function at(t: Tensor, i: number): Tensor {
  const s = t.slice(0, i, i + 1);
  try {
    return s.squeeze(0);
  } finally {
    s.dispose();
  }
}
/** at(t, i), registered in `temps`. */
const row = (temps: Temps, t: Tensor, i: number) => temps.add(at(t, i));

/**
 * One direction over every step, writing each step's hidden state into y [S, N, H] (a view of the
 * output Y) and reading it back from there as the next step's h. A step's intermediates are freed
 * when the step ends and the state it replaces when the next one ends, so each lives for about one
 * step: holding every step's h until a final stack (as this did) made a replay's arena plan and the
 * first run superlinear in the steps (2000 LSTM steps: 1.9 s).
 * With `mask` (bool [S, N, 1]: whether step s is within row n's sequence length), a row past its
 * length keeps its state and gets zeros in y.
 */
function runDirection(t: Temps, kind: Kind, ctx: OpContext, x: Tensor, initial: { h0?: Tensor; c0?: Tensor }, d: number, reverse: boolean, y: Tensor, acts: Activation[], mask?: Tensor): Step {
  const [W, R] = [input(ctx, 1), input(ctx, 2)];
  const B = ctx.inputs[3], P = ctx.inputs[7], { h0, c0 } = initial;
  const H = y.shape[2];
  const G = GATES[kind];
  const [S, N] = x.shape;
  const Wd = row(t, W, d); // [G*H, I]
  const Rd = row(t, R, d); // [G*H, H]
  // Input projection of every step at once: [S, N, G*H]
  let bias: Tensor | undefined;
  let rbH: Tensor | undefined; // GRU's recurrence bias of the h gate, applied inside the reset
  const lbr = attrFlag(ctx.node, 'linear_before_reset', 0);
  if (B) {
    const Bd = row(t, B, d);
    const wb = t.add(Bd.slice(0, 0, G * H)), rb = t.add(Bd.slice(0, G * H, 2 * G * H));
    if (kind === 'GRU') {
      rbH = t.add(rb.slice(0, 2 * H, 3 * H));
      const rbZR = t.add(k.concat([t.add(rb.slice(0, 0, 2 * H)), t.add(k.zeros([H], { dtype: rb.dtype, device: rb.device }))]));
      bias = t.add(k.add(wb, rbZR));
    } else bias = t.add(k.add(wb, rb));
  }
  const xw = t.add(t.add(k.gemm(t.add(x.reshape([S * N, x.shape[2]])), Wd, { transB: true, c: bias })).reshape([S, N, G * H]));
  // The step after its product with R in fused kernels where the backend has them (the cpu:
  // LstmCell, GruCell for linear_before_reset = 1, GruReset and GruUpdate around the second product
  // for 0, in kernels/OPS.md), with the values of the composed ops below bit for bit. Other
  // activations than the defaults, clip or input_forget always take the composed ops.
  const clip = attrFloat(ctx.node, 'clip'), inputForget = kind === 'LSTM' && attrFlag(ctx.node, 'input_forget', 0);
  const general = !acts.every((a, i) => a.op === DEFAULT_ACTS[kind][i]) || clip !== undefined || inputForget;
  const cells = general ? [] : kind === 'LSTM' ? ['LstmCell'] : kind === 'GRU' ? (lbr ? ['GruCell'] : ['GruReset', 'GruUpdate']) : [];
  const fusedCell = cells.length > 0 && x.dtype === 'float32' && cells.every((op) => x.backendFor(op).supports(op, ['float32']));
  // Products with the recurrence weights, per gate group (all G; a GRU's z and r, and h, where r
  // comes between): h @ v^T [+ c] for v a block [C, H] of R's rows. A batch of one reads v^T in place
  // (on the cpu, dot products over R's rows); a larger batch gets a row-major copy of v^T, made once
  // a run: the cpu's small-M matmul reads that in place, where it would pack a transposed view again
  // at every step (LSTM, batch 16, 256 units: 8.9 -> 6.7 ms a run). A sliver-major copy (fuse.ts's
  // layout for Gemm weights) measured no faster here (4.7-5.0 ms against 4.7-5.0, the fused cell on).
  const productWith = (v: Tensor) => {
    const vt = t.add(v.transpose());
    const b = N === 1 ? vt : t.add(vt.contiguous());
    return (a: Tensor, c?: Tensor) => (c ? k.gemm(a, b, { c }) : k.matmul(a, b));
  };
  const split = kind === 'GRU' && !(fusedCell && lbr);
  const mulR = split ? undefined : productWith(Rd);
  const mulRzr = split ? productWith(t.add(Rd.slice(0, 0, 2 * H))) : undefined;
  const mulRh = split ? productWith(t.add(Rd.slice(0, 2 * H, 3 * H))) : undefined;
  // the peepholes: one [3, H] operand of the fused cell, or the composed step's i, o, f rows
  const peepRows = P ? t.add(row(t, P, d).reshape([3, H])) : undefined;
  const peep = peepRows && !fusedCell ? [0, 1, 2].map((i) => row(t, peepRows, i)) : undefined;
  const zeros = () => t.add(k.zeros([N, H], { dtype: x.dtype, device: x.device }));
  const zero = mask ? t.add(k.zeros([1, 1], { dtype: x.dtype, device: x.device })) : undefined;
  // The state: the initial one belongs to t; every later one to this loop, which frees it once replaced.
  let state: Step = { h: h0 ? row(t, h0, d) : zeros(), c: kind === 'LSTM' ? (c0 ? row(t, c0, d) : zeros()) : undefined };
  let ours = false;
  const release = () => {
    if (ours) state.h.dispose(), state.c?.dispose();
  };
  try {
    for (let s = 0; s < S; ++s) {
      const step = reverse ? S - 1 - s : s;
      const next = withTemps((st): Step => {
        const { h, c } = state;
        const xs = row(st, xw, step); // [N, G*H]
        const cols = (v: Tensor, from: number, to: number) => st.add(v.slice(1, from * H, to * H));
        // where this step's h goes: [N, H] of y, or with a mask a temporary that the mask then picks from
        const hOut = mask ? st.add(empty([N, H], x.dtype, x.device, kind)) : at(y, step);
        // this step's results (hOut, an LSTM's new cell), freed below if the step throws before
        // returning them: any op of the step may throw, not only the one that writes them
        const made = [hOut];
        const result = (v: Tensor) => (made.push(v), v);
        const write = (op: string, inputs: Tensor[], also?: Tensor) => runInto(op, inputs, also ? [hOut, also] : [hOut]);
        const g4 = () => st.add(mulR!(h, xs)); // LSTM's gates: [N, 4H] in i, o, f, c order
        const compute = (): Step => {
          if (kind === 'GRU' && fusedCell && lbr) {
            write('GruCell', [st.add(mulR!(h)), xs, h, ...(rbH ? [rbH] : [])]);
            return { h: hOut };
          }
          if (kind === 'GRU' && fusedCell) {
            // linear_before_reset = 0: z and r * h, then the product of r * h with R_h, then h'
            const [z, rh] = [0, 1].map(() => st.add(empty([N, H], x.dtype, x.device, 'GRU')));
            runInto('GruReset', [st.add(mulRzr!(h)), xs, h], [z, rh]);
            write('GruUpdate', [st.add(mulRh!(rh, rbH)), xs, z, h]);
            return { h: hOut };
          }
          if (kind === 'LSTM' && fusedCell) {
            const cNext = result(empty([N, H], x.dtype, x.device, 'LSTM'));
            write('LstmCell', peepRows ? [g4(), c!, peepRows] : [g4(), c!], cNext);
            return { h: hOut, c: cNext };
          }
          // Activation i of v, its input clipped to [-clip, clip] when the node has clip. clip bounds
          // the gates' inputs, not the cell state that LSTM's h reads (onnxruntime's reading, tested).
          const f = (i: number, v: Tensor) => st.add(acts[i].apply(clip === undefined ? v : st.add(k.clip(v, -clip, clip)), st));
          if (kind === 'RNN') {
            const pre = st.add(mulR!(h, xs));
            // straight into Y where the activation is one op
            if (acts[0].op && clip === undefined) write(acts[0].op, [pre]);
            else write('Cast', [f(0, pre)]);
            return { h: hOut };
          }
          if (kind === 'GRU') {
            // z and r together: f(x_zr + h R_zr^T) [N, 2H]
            const zr = f(0, st.add(mulRzr!(h, cols(xs, 0, 2))));
            const z = cols(zr, 0, 1), r = cols(zr, 1, 2);
            const hh = lbr
              ? st.add(k.mul(r, st.add(mulRh!(h, rbH))))
              : st.add(mulRh!(st.add(k.mul(r, h)), rbH));
            const cand = f(1, st.add(k.add(cols(xs, 2, 3), hh)));
            // h = (1 - z) * cand + z * h = cand + z * (h - cand)
            write('Add', [cand, st.add(k.mul(z, st.add(k.sub(h, cand))))]);
            return { h: hOut };
          }
          const g = g4();
          const gate = (i: number) => cols(g, i, i + 1);
          // without peepholes i, o and f are one activation over [N, 3H]
          const iof = peep ? undefined : f(0, cols(g, 0, 3));
          const sig = (i: number, p: number, cc: Tensor) => (iof ? cols(iof, i, i + 1) : f(0, st.add(k.add(gate(i), st.add(k.mul(peep![p], cc))))));
          const gi = sig(0, 0, c!);
          // input_forget couples the gates: f = 1 - i
          const gf = inputForget ? st.add(k.sub(1, gi)) : sig(2, 2, c!);
          const cNext = result(k.add(st.add(k.mul(gf, c!)), st.add(k.mul(gi, f(1, gate(3))))));
          write('Mul', [sig(1, 1, cNext), st.add(acts[2].apply(cNext, st))]);
          return { h: hOut, c: cNext };
        };
        let own: Step;
        try {
          own = compute();
        } catch (e) {
          for (const v of made) v.dispose();
          throw e;
        }
        if (!mask) return own;
        // with sequence lengths: a row past its length keeps its state and gives zeros in Y
        if (own.c) st.add(own.c);
        const m = st.expand(row(st, mask, step), [N, H]);
        runInto('Where', [m, own.h, st.expand(zero!, [N, H])], [row(st, y, step)]);
        const hKeep = k.where(m, own.h, h);
        try {
          return { h: hKeep, c: own.c ? k.where(m, own.c, c!) : undefined };
        } catch (e) {
          hKeep.dispose();
          throw e;
        }
      });
      release();
      state = next;
      ours = true;
    }
  } catch (e) {
    release();
    throw e;
  }
  if (ours) t.add(state.h), state.c && t.add(state.c);
  return state;
}

/**
 * The directions over sequences of per-row lengths (sequence_lens shorter than X's steps). A mask
 * [S, N, 1] says which steps are within each row's length; a row past it keeps its state and gets
 * zeros in Y. The reverse direction runs forward over each row's steps reversed within its length
 * (one Gather of X's rows), then puts its Y back in order (the same Gather: the order is its own
 * inverse).
 */
function shorterSequences(
  t: Temps,
  lens: readonly number[],
  direction: (x: Tensor, d: number, mask: Tensor, y: Tensor) => Step,
  x: Tensor,
  dirs: readonly boolean[],
  yd: (d: number) => Tensor,
): Step[] {
  const [S, N] = x.shape, H = yd(0).shape[2];
  const mask = hostValues(S * N, 'the sequence_lens mask');
  for (let s = 0; s < S; ++s) for (let n = 0; n < N; ++n) mask[s * N + n] = s < lens[n] ? 1 : 0;
  const m = t.add(k.tensor(mask, { dtype: 'bool', shape: [S, N, 1], device: x.device }));
  // a row of length 0 ends in a zero state, as in onnxruntime (not its initial one)
  const some = lens.includes(0) ? t.add(k.tensor(lens.map((l) => l > 0), { dtype: 'bool', shape: [N, 1], device: x.device })) : undefined;
  const zero = t.add(k.zeros([1, 1], { dtype: x.dtype, device: x.device }));
  const ended = (last: Step): Step => (some ? { h: t.add(k.where(some, last.h, zero)), c: last.c && t.add(k.where(some, last.c, zero)) } : last);
  return dirs.map((reverse, d) => {
    if (!reverse) return ended(direction(x, d, m, yd(d)));
    const order = hostValues(S * N, 'the sequence_lens order');
    for (let s = 0; s < S; ++s) for (let n = 0; n < N; ++n) order[s * N + n] = (s < lens[n] ? lens[n] - 1 - s : s) * N + n;
    const idx = t.add(k.tensor(order, { dtype: 'int64', shape: [S, N], device: x.device }));
    const rows = (v: Tensor) => t.add(v.reshape([S * N, v.shape[2]]));
    const reversed = t.add(k.gather(rows(x.isContiguous ? x : t.add(x.contiguous())), idx, 0)); // [S, N, I]
    const out = t.add(empty([S, N, H], x.dtype, x.device, 'sequence_lens'));
    const last = direction(reversed, d, m, out);
    runInto('Gather', [rows(out), idx], [yd(d)], { axis: 0 });
    return ended(last);
  });
}

function recurrent(kind: Kind): OpHandler {
  return {
    since: 7,
    uses: [...new Set(['MatMul', 'Add', 'Mul', 'Sub', 'Sigmoid', 'Tanh', 'Cast', 'Fill', 'Where', 'Gather', 'Clip', ...ACTIVATION_OPS])],
    hostInputs: [4],
    check: (n) => checkAttributes(n, kind),
    run: (ctx) => withTemps((t) => {
      const layout = +attrFlag(ctx.node, 'layout', 0);
      const raw = input(ctx, 0);
      const lens = ctx.ints(4), steps = raw.shape[layout];
      // layout 1 is batch first: X [N, S, I] and the states [N, dirs, H]; the steps run on [S, N, I] and [dirs, N, H]
      const seqFirst = (v: Tensor | undefined) => (v && layout === 1 ? t.add(v.transpose(0, 1)) : v);
      const x = seqFirst(raw)!; // [S, N, I]
      const initial = { h0: seqFirst(ctx.inputs[5]), c0: seqFirst(ctx.inputs[6]) };
      const dirs = directionsOf(ctx.node);
      const N = x.shape[1], H = attrInt(ctx.node, 'hidden_size', input(ctx, 2).shape[2]);
      // checked before anything runs, the empty case below too (fuzz seed 1297: hidden_size 0 ran)
      const W = input(ctx, 1), R = input(ctx, 2), G = kind === 'LSTM' ? 4 : kind === 'GRU' ? 3 : 1;
      if (!(H >= 1)) fail('E_ARGUMENT', `hidden_size ${H} must be at least 1`);
      for (const i of [1, 2, 3, 5, 6, 7]) {
        const v = ctx.inputs[i];
        if (v && v.dtype !== raw.dtype) fail('E_DTYPE', `input ${i} is ${v.describe()}, but X is ${raw.dtype}: every float input must have X's dtype`);
      }
      const fits = (v: Tensor, cols: number) => v.rank === 3 && v.shape[0] === dirs.length && v.shape[1] === G * H && v.shape[2] === cols;
      if (!fits(W, x.shape[2]) || !fits(R, H))
        fail('E_SHAPE', `W ${W.describe()} and R ${R.describe()} must be [${dirs.length}, ${G * H}, ${x.shape[2]}] and [${dirs.length}, ${G * H}, ${H}] (directions, ${G} x hidden_size ${H}, input size ${x.shape[2]})`);
      // B, the initial states and the peepholes too: a wrong one failed inside a step, with another
      // op's message (or, initial_h with extra directions, ran), and leaked that step's output views
      const D = dirs.length, states = layout === 1 ? `[${N}, ${D}, ${H}]` : `[${D}, ${N}, ${H}]`;
      const optional: [number, string, number[], string][] = [
        [3, 'B', [D, 2 * G * H], `[${D}, ${2 * G * H}]`],
        [5, 'initial_h', [D, N, H], states],
        [6, 'initial_c', [D, N, H], states],
        [7, 'P', [D, 3 * H], `[${D}, ${3 * H}]`],
      ];
      for (const [i, name, want, shown] of optional) {
        const v = i === 5 ? initial.h0 : i === 6 ? initial.c0 : ctx.inputs[i]; // the states as the steps read them: [D, N, H]
        if (v && (v.rank !== want.length || v.shape.some((d, j) => d !== want[j])))
          fail('E_SHAPE', `${name} ${ctx.inputs[i]!.describe()} must be ${shown} (directions ${D}, batch ${N}, hidden_size ${H})`);
      }
      const acts = activationsOf(ctx.node, kind, dirs.length);
      const clip = attrFloat(ctx.node, 'clip');
      if (clip !== undefined && !(clip >= 0)) fail('E_ARGUMENT', `clip ${clip} must be a number >= 0`);
      if (lens) {
        if (lens.length !== N) fail('E_SHAPE', `sequence_lens has ${lens.length} values for a batch of ${N}`);
        const bad = lens.find((l) => !(l >= 0 && l <= steps));
        if (bad !== undefined) fail('E_ARGUMENT', `sequence_lens value ${bad} is outside [0, ${steps}] (X has ${steps} steps)`);
      }
      if (N === 0) {
        // empty outputs, however many steps: stepping through 2^40 steps of nothing hung for hours
        const empty = (shape: number[]) => k.zeros(shape, { dtype: x.dtype, device: x.device });
        const state = layout === 1 ? [N, dirs.length, H] : [dirs.length, N, H];
        const out = [empty(layout === 1 ? [N, steps, dirs.length, H] : [steps, dirs.length, N, H]), empty(state)];
        if (kind === 'LSTM') out.push(empty(state));
        return out;
      }
      const y = empty([steps, dirs.length, N, H], x.dtype, x.device, kind); // Y [S, dirs, N, H]
      try {
        const yd = (d: number) => t.add(t.add(y.slice(1, d, d + 1)).squeeze(1)); // [S, N, H]
        const short = lens?.some((l) => l !== steps);
        const results = short
          ? shorterSequences(t, lens!, (xs, d, mask, out) => runDirection(t, kind, ctx, xs, initial, d, false, out, acts[d], mask), x, dirs, yd)
          : dirs.map((rev, d) => runDirection(t, kind, ctx, x, initial, d, rev, yd(d), acts[d]));
        // Y_h and Y_c [dirs, N, H]
        const yh = k.stack(results.map((r) => r.h), 0);
        const out = [layout === 1 ? t.add(y).permute([2, 0, 1, 3]) : y, layout === 1 ? t.add(yh).transpose(0, 1) : yh];
        if (kind === 'LSTM') {
          const yc = k.stack(results.map((r) => r.c!), 0);
          out.push(layout === 1 ? t.add(yc).transpose(0, 1) : yc);
        }
        return out;
      } catch (e) {
        if (!y.disposed) y.dispose();
        throw e;
      }
    }),
  };
}

defineOps({ RNN: recurrent('RNN'), GRU: recurrent('GRU'), LSTM: recurrent('LSTM') });
