// RNN, GRU and LSTM composed from Kiln ops: the input projection of every time step is one MatMul
// (X @ W^T + Wb + Rb), then each step does one MatMul with the recurrence weights and a few
// elementwise ops. Forward, reverse and bidirectional; layout 0 and 1; default activations.
import { fail } from '../../errors.js';
import * as k from '../../ops/index.js';
import { withTemps, type Temps } from '../../ops/temps.js';
import type { Tensor } from '../../tensor.js';
import { attrFloat, attrInt, attrString, attrStrings, attrFlag } from '../attrs.js';
import type { Node } from '../model.js';
import { defineOps, type OpContext, type OpHandler } from './registry.js';
import { input } from './util.js';

type Kind = 'RNN' | 'GRU' | 'LSTM';
const GATES: Record<Kind, number> = { RNN: 1, GRU: 3, LSTM: 4 };
const DEFAULT_ACTS: Record<Kind, string[]> = { RNN: ['Tanh'], GRU: ['Sigmoid', 'Tanh'], LSTM: ['Sigmoid', 'Tanh', 'Tanh'] };

function check(kind: Kind) {
  return (n: Node): string | undefined => {
    const acts = attrStrings(n, 'activations');
    const per = DEFAULT_ACTS[kind];
    if (acts && acts.some((a, i) => a.toLowerCase() !== per[i % per.length].toLowerCase())) return `activations [${acts.join(', ')}] (only the defaults are implemented)`;
    if (attrFloat(n, 'clip') !== undefined) return 'clip';
    if (attrFlag(n, 'input_forget', 0)) return 'input_forget=1';
    return undefined;
  };
}


interface Step {
  h: Tensor;
  c?: Tensor;
}

function runDirection(t: Temps, kind: Kind, ctx: OpContext, x: Tensor, d: number, reverse: boolean): { ys: Tensor[]; last: Step } {
  const [W, R] = [input(ctx, 1), input(ctx, 2)];
  const B = ctx.inputs[3], h0 = ctx.inputs[5], c0 = ctx.inputs[6], P = ctx.inputs[7];
  const H = attrInt(ctx.node, 'hidden_size', R.shape[2]);
  const G = GATES[kind];
  const [S, N] = x.shape;
  const Wd = t.add(W.slice(0, d, d + 1).squeeze(0)); // [G*H, I]
  const Rd = t.add(R.slice(0, d, d + 1).squeeze(0)); // [G*H, H]
  // Input projection of every step at once: [S, N, G*H]
  let bias: Tensor | undefined;
  let rbH: Tensor | undefined; // GRU's recurrence bias of the h gate, applied inside with linear_before_reset
  const lbr = attrFlag(ctx.node, 'linear_before_reset', 0);
  if (B) {
    const Bd = t.add(B.slice(0, d, d + 1).squeeze(0));
    const wb = t.add(Bd.slice(0, 0, G * H)), rb = t.add(Bd.slice(0, G * H, 2 * G * H));
    if (kind === 'GRU') {
      rbH = t.add(rb.slice(0, 2 * H, 3 * H));
      const rbZR = t.add(k.concat([t.add(rb.slice(0, 0, 2 * H)), t.add(k.zeros([H], { dtype: rb.dtype, device: rb.device }))]));
      bias = t.add(k.add(wb, rbZR));
    } else bias = t.add(k.add(wb, rb));
  }
  const xw = t.add(k.gemm(t.add(x.reshape([S * N, x.shape[2]])), Wd, { transB: true, c: bias })).reshape([S, N, G * H]);
  t.add(xw);
  let h = h0 ? t.add(h0.slice(0, d, d + 1).squeeze(0)) : t.add(k.zeros([N, H], { dtype: x.dtype, device: x.device }));
  let c = kind === 'LSTM' ? (c0 ? t.add(c0.slice(0, d, d + 1).squeeze(0)) : t.add(k.zeros([N, H], { dtype: x.dtype, device: x.device }))) : undefined;
  const peep = P ? [0, 1, 2].map((i) => t.add(t.add(P.slice(0, d, d + 1).squeeze(0)).slice(0, i * H, (i + 1) * H))) : undefined;
  const ys: Tensor[] = [];
  for (let s = 0; s < S; ++s) {
    const step = reverse ? S - 1 - s : s;
    const xs = t.add(xw.slice(0, step, step + 1).squeeze(0)); // [N, G*H]
    const part = (g: number) => t.add(xs.slice(1, g * H, (g + 1) * H));
    if (kind === 'RNN') {
      h = t.add(k.tanh(t.add(k.add(xs, t.add(k.matmul(h, t.add(Rd.transpose())))))));
    } else if (kind === 'GRU') {
      const rzr = t.add(k.matmul(h, t.add(t.add(Rd.slice(0, 0, 2 * H)).transpose()))); // [N, 2H]
      const z = t.add(k.sigmoid(t.add(k.add(part(0), t.add(rzr.slice(1, 0, H))))));
      const r = t.add(k.sigmoid(t.add(k.add(part(1), t.add(rzr.slice(1, H, 2 * H))))));
      const Rh = t.add(t.add(Rd.slice(0, 2 * H, 3 * H)).transpose());
      const hh = lbr
        ? t.add(k.mul(r, t.add(rbH ? k.gemm(h, Rh, { c: rbH }) : k.matmul(h, Rh))))
        : t.add(rbH ? k.add(t.add(k.matmul(t.add(k.mul(r, h)), Rh)), rbH) : k.matmul(t.add(k.mul(r, h)), Rh));
      const cand = t.add(k.tanh(t.add(k.add(part(2), hh))));
      // h = (1 - z) * cand + z * h = cand + z * (h - cand)
      h = t.add(k.add(cand, t.add(k.mul(z, t.add(k.sub(h, cand))))));
    } else {
      const g = t.add(k.add(xs, t.add(k.matmul(h, t.add(Rd.transpose()))))); // [N, 4H] in i, o, f, c order
      const gi = t.add(g.slice(1, 0, H)), go = t.add(g.slice(1, H, 2 * H)), gf = t.add(g.slice(1, 2 * H, 3 * H)), gc = t.add(g.slice(1, 3 * H, 4 * H));
      const i = t.add(k.sigmoid(peep ? t.add(k.add(gi, t.add(k.mul(peep[0], c!)))) : gi));
      const f = t.add(k.sigmoid(peep ? t.add(k.add(gf, t.add(k.mul(peep[2], c!)))) : gf));
      c = t.add(k.add(t.add(k.mul(f, c!)), t.add(k.mul(i, t.add(k.tanh(gc))))));
      const o = t.add(k.sigmoid(peep ? t.add(k.add(go, t.add(k.mul(peep[1], c)))) : go));
      h = t.add(k.mul(o, t.add(k.tanh(c))));
    }
    ys[step] = h;
  }
  return { ys, last: { h, c } };
}

function recurrent(kind: Kind): OpHandler {
  return {
    since: 7,
    uses: ['MatMul', 'Add', 'Mul', 'Sub', 'Sigmoid', 'Tanh', 'Cast', 'Fill'],
    check: check(kind),
    hostInputs: [4],
    run: (ctx) => withTemps((t) => {
      // Every sequence must be full length: per-batch lengths are not implemented.
      const layout = +attrFlag(ctx.node, 'layout', 0);
      const raw = input(ctx, 0);
      const lens = ctx.ints(4), steps = raw.shape[layout];
      if (lens?.some((l) => l !== steps)) fail('E_UNSUPPORTED', `sequence_lens shorter than the sequence (${lens.join(', ')} of ${steps})`);
      const x = layout === 1 ? t.add(raw.transpose(0, 1)) : raw; // [S, N, I]
      const direction = attrString(ctx.node, 'direction', 'forward');
      const dirs = direction === 'bidirectional' ? [false, true] : [direction === 'reverse'];
      const N = x.shape[1], H = attrInt(ctx.node, 'hidden_size', input(ctx, 2).shape[2]);
      // checked before anything runs, the empty case below too (fuzz seed 1297: hidden_size 0 ran)
      const W = input(ctx, 1), R = input(ctx, 2), G = kind === 'LSTM' ? 4 : kind === 'GRU' ? 3 : 1;
      if (!(H >= 1)) fail('E_ARGUMENT', `hidden_size ${H} must be at least 1`);
      const fits = (v: Tensor, cols: number) => v.rank === 3 && v.shape[0] === dirs.length && v.shape[1] === G * H && v.shape[2] === cols;
      if (!fits(W, x.shape[2]) || !fits(R, H))
        fail('E_SHAPE', `W ${W.describe()} and R ${R.describe()} must be [${dirs.length}, ${G * H}, ${x.shape[2]}] and [${dirs.length}, ${G * H}, ${H}] (directions, ${G} x hidden_size ${H}, input size ${x.shape[2]})`);
      if (N === 0) {
        // empty outputs, however many steps: stepping through 2^40 steps of nothing hung for hours
        const empty = (shape: number[]) => k.zeros(shape, { dtype: x.dtype, device: x.device });
        const state = layout === 1 ? [N, dirs.length, H] : [dirs.length, N, H];
        const out = [empty(layout === 1 ? [N, steps, dirs.length, H] : [steps, dirs.length, N, H]), empty(state)];
        if (kind === 'LSTM') out.push(empty(state));
        return out;
      }
      const results = dirs.map((rev, d) => runDirection(t, kind, ctx, x, d, rev));
      // Y [S, dirs, N, H]; Y_h and Y_c [dirs, N, H]
      const y = k.stack(results.map((r) => t.add(k.stack(r.ys, 0))), 1);
      const yh = k.stack(results.map((r) => r.last.h), 0);
      const out = [layout === 1 ? t.add(y).permute([2, 0, 1, 3]) : y, layout === 1 ? t.add(yh).transpose(0, 1) : yh];
      if (kind === 'LSTM') {
        const yc = k.stack(results.map((r) => r.last.c!), 0);
        out.push(layout === 1 ? t.add(yc).transpose(0, 1) : yc);
      }
      return out;
    }),
  };
}

defineOps({ RNN: recurrent('RNN'), GRU: recurrent('GRU'), LSTM: recurrent('LSTM') });
