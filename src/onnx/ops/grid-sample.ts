// GridSample (opset 16: 4-D X, modes bilinear/nearest/bicubic; opset 20+: any spatial rank, modes
// linear/nearest/cubic) composed from Kiln ops, so it runs on every device. On the grid's small
// [N, P, K] tensors (P output positions, K taps per spatial dim) each dim's coordinate becomes integer
// taps with weights and a padded flat offset; X, laid out as [N * (S + 1), C] with a zero row after
// each sample's S positions, is then gathered once per tap and the weighted taps are summed.
//
// Padding applies to each integer tap, as in onnxruntime's CPU kernel and PyTorch's bicubic path
// (for linear taps this equals clamping or reflecting the coordinate first, as PyTorch's bilinear
// path does); nearest rounds half to even (std::nearbyint in onnxruntime). A NaN or infinite grid
// value makes linear and cubic results NaN (NaN in, NaN out) where onnxruntime 1.30 reads it as -1.
import { isFloat } from '../../dtype.js';
import { fail } from '../../errors.js';
import * as k from '../../ops/index.js';
import { withTemps, type Temps } from '../../ops/temps.js';
import { numel } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { attrFlag, attrString } from '../attrs.js';
import type { Node } from '../model.js';
import { defineOps, type OpContext } from './registry.js';
import { input } from './util.js';

type Mode = 'linear' | 'nearest' | 'cubic';
type Padding = 'zeros' | 'border' | 'reflection';

// opset 20 renamed the modes (and made them N-dimensional); each opset knows only its own names
const MODES_16: Record<string, Mode> = { bilinear: 'linear', nearest: 'nearest', bicubic: 'cubic' };
const MODES_20: Record<string, Mode> = { linear: 'linear', nearest: 'nearest', cubic: 'cubic' };
const PADDINGS: readonly Padding[] = ['zeros', 'border', 'reflection'];
/** Keys' cubic convolution coefficient, fixed by the spec (PyTorch's value). */
const A = -0.75;

const modeName = (n: Node, opset: number) => attrString(n, 'mode', opset < 20 ? 'bilinear' : 'linear');
const modesOf = (opset: number) => (opset < 20 ? MODES_16 : MODES_20);
const paddingName = (n: Node) => attrString(n, 'padding_mode', 'zeros');

function modeOf(n: Node, opset: number): Mode {
  const given = modeName(n, opset);
  return modesOf(opset)[given] ?? fail('E_ARGUMENT', `mode '${given}' is not one of ${Object.keys(modesOf(opset)).join(', ')} (opset ${opset})`);
}

function paddingOf(n: Node): Padding {
  const given = paddingName(n);
  return PADDINGS.includes(given as Padding) ? (given as Padding) : fail('E_ARGUMENT', `padding_mode '${given}' is not one of ${PADDINGS.join(', ')}`);
}

/** The native ops a node launches; a bad mode or padding_mode launches none (it fails when the node runs). */
function uses(n: Node, opset: number): readonly string[] {
  const mode = modesOf(opset)[modeName(n, opset)], padding = paddingName(n);
  if (!mode || !PADDINGS.includes(padding as Padding)) return [];
  const ops = ['Fill', 'Cast', 'Pad', 'Gather', 'Add', 'Sub', 'Mul', 'Clip', mode === 'nearest' ? 'Round' : 'Floor'];
  if (mode === 'cubic') ops.push('Abs', 'Where');
  if (padding === 'zeros') ops.push('GreaterOrEqual', 'LessOrEqual', 'And', 'Where', 'Min');
  if (padding === 'reflection') ops.push('Mod', 'Less', 'Where');
  return [...new Set(ops)];
}

/** A spatial dim's taps: their weights (none for nearest) and their offsets into a sample's S positions. */
interface DimTaps {
  weights?: Tensor; // [N, P, K] float32
  offsets: Tensor; // [N, P, K] int32 or int64
}

/**
 * The taps of one spatial dim of `size` (element stride `stride` in a sample) for the normalized
 * coordinates `g` [N, P, 1] (float32). A zeros-padded tap outside X gets offset S (the zero row),
 * which stays >= S whatever the other dims add.
 */
function dimTaps(t: Temps, g: Tensor, size: number, stride: number, S: number, o: { mode: Mode; padding: Padding; align: boolean; index: 'int32' | 'int64' }): DimTaps {
  // float32 in onnxruntime's order of operations, so that taps split at the same coordinates
  const x = o.align
    ? t.add(k.mul(t.add(k.mul(t.add(k.add(g, 1)), 0.5)), size - 1))
    : t.add(k.mul(t.add(k.sub(t.add(k.mul(t.add(k.add(g, 1)), size)), 1)), 0.5));
  const base = t.add(o.mode === 'nearest' ? k.round(x) : k.floor(x));
  const steps = o.mode === 'nearest' ? [0] : o.mode === 'linear' ? [0, 1] : [-1, 0, 1, 2];
  const tap = t.add(k.add(base, t.add(k.tensor(steps, { dtype: 'float32', device: g.device }))));
  let weights: Tensor | undefined;
  if (o.mode === 'linear') {
    const frac = t.add(k.sub(x, base)); // exact: the weight of the upper tap
    weights = t.add(k.concat([t.add(k.sub(1, frac)), frac], -1));
  } else if (o.mode === 'cubic') {
    const d = t.add(k.abs(t.add(k.sub(x, tap))));
    // Keys' kernel: one cubic for the two inner taps (d < 1), another for the two outer ones
    const inner = t.add(k.add(t.add(k.mul(t.add(k.mul(t.add(k.sub(t.add(k.mul(d, A + 2)), A + 3)), d)), d)), 1));
    const outer = t.add(k.sub(t.add(k.mul(t.add(k.add(t.add(k.mul(t.add(k.sub(t.add(k.mul(d, A)), 5 * A)), d)), 8 * A)), d)), 4 * A));
    const isInner = t.add(k.tensor([false, true, true, false], { dtype: 'bool', device: g.device }));
    weights = t.add(k.where(isInner, inner, outer));
  }
  const last = size - 1;
  const toIndex = (v: Tensor) => t.add(k.cast(v, o.index)); // v holds whole numbers already
  const scaled = (i: Tensor) => (stride === 1 ? i : t.add(k.mul(i, stride)));
  if (o.padding === 'zeros') {
    const inside = t.add(k.logicalAnd(t.add(k.greaterEqual(tap, 0)), t.add(k.lessEqual(tap, last))));
    return { weights, offsets: t.add(k.where(inside, scaled(toIndex(t.add(k.clip(tap, 0, last)))), S)) };
  }
  if (o.padding === 'border' || size === 1) return { weights, offsets: scaled(toIndex(t.add(k.clip(tap, 0, last)))) };
  // reflection: the taps repeat with a period of 2(size - 1) when the borders are the corner
  // pixels' centers (align_corners), of 2 size when they are the pixels' outer edges
  const period = o.align ? 2 * (size - 1) : 2 * size;
  const m = t.add(k.mod(toIndex(tap), period)); // a tap past the integer range saturates, NaN becomes 0
  const mirrored = t.add(k.sub(o.align ? period : period - 1, m));
  return { weights, offsets: scaled(t.add(k.where(t.add(k.less(m, size)), m, mirrored))) };
}

/** Per-dim [N, P, K] tensors combined over every tap of the r dims: [N, P, K^r], the last dim's taps varying fastest. */
function combine(t: Temps, parts: Tensor[], op: (a: Tensor, b: Tensor) => Tensor): Tensor {
  const [N, P] = parts[0].shape;
  const r = parts.length, K = parts[0].shape[2];
  let acc: Tensor | undefined;
  parts.forEach((p, d) => {
    const spread = t.add(p.reshape([N, P, ...Array.from({ length: r }, (_, e) => (e === d ? K : 1))]));
    acc = acc ? t.add(op(acc, spread)) : spread;
  });
  return t.add(acc!.reshape([N, P, K ** r]));
}

function gridSample(ctx: OpContext): Tensor {
  const x = input(ctx, 0), grid = input(ctx, 1), n = ctx.node;
  const mode = modeOf(n, ctx.opset), padding = paddingOf(n);
  const align = attrFlag(n, 'align_corners', 0);
  for (const [name, v] of [['X', x], ['grid', grid]] as const)
    if (!isFloat(v.dtype)) fail('E_DTYPE', `${name} ${v.describe()} must be float32, float16 or bfloat16`);
  if (x.rank < 3) fail('E_SHAPE', `X ${x.describe()} needs a batch, a channel and at least one spatial dim`);
  if (ctx.opset < 20 && x.rank !== 4) fail('E_SHAPE', `X ${x.describe()} must be 4-D [N, C, H, W] in opset ${ctx.opset} (opset 20 takes any spatial rank)`);
  const r = x.rank - 2;
  if (grid.rank !== x.rank || grid.shape[0] !== x.shape[0] || grid.shape[r + 1] !== r)
    fail('E_SHAPE', `grid ${grid.describe()} must be [${x.shape[0]}, ${Array(r).fill('out').join(', ')}, ${r}] for X ${x.describe()}: rank ${x.rank}, X's batch, and ${r} coordinates per position`);
  const [N, C] = x.shape;
  const sizes = x.shape.slice(2), S = numel(sizes);
  const outShape = [N, C, ...grid.shape.slice(1, -1)], P = numel(grid.shape.slice(1, -1));
  if (numel(outShape) === 0) return k.zeros(outShape, { dtype: x.dtype, device: x.device });
  // as onnxruntime: nothing to sample (though zeros padding could call it all zeros)
  if (S === 0) fail('E_SHAPE', `X ${x.describe()} has an empty spatial dim: there is nothing to sample`);
  const rows = S + 1; // each sample's positions, then its zero row
  const index = N * rows < 2 ** 31 ? 'int32' : 'int64'; // flat row indices reach N * rows - 1
  const strides = sizes.map((_, d) => numel(sizes.slice(d + 1)));
  return withTemps((t) => {
    const g3 = t.add(grid.reshape([N, P, r]));
    const g = g3.dtype === 'float32' ? g3 : t.add(k.cast(g3, 'float32'));
    // the grid lists coordinates innermost dim first
    const taps = sizes.map((size, d) => dimTaps(t, t.add(g.slice(2, r - 1 - d, r - d)), size, strides[d], S, { mode, padding, align, index }));
    let flat = combine(t, taps.map((p) => p.offsets), k.add);
    if (padding === 'zeros') flat = t.add(k.minimum(flat, S));
    const sampleStart = t.add(k.tensor(Array.from({ length: N }, (_, i) => i * rows), { dtype: index, device: x.device, shape: [N, 1, 1] }));
    flat = t.add(k.add(flat, sampleStart));
    // interpolation sums in float32 and rounds once into X's dtype; nearest copies X's values as they are
    const work = mode === 'nearest' || x.dtype === 'float32' ? x.dtype : 'float32';
    let xs = t.add(t.add(x.reshape([N, C, S])).transpose(1, 2));
    if (xs.dtype !== work) xs = t.add(k.cast(xs, work));
    const table = t.add(t.add(k.pad(xs, [[0, 0], [0, 1], [0, 0]])).reshape([N * rows, C]));
    let sum: Tensor;
    if (mode === 'nearest') sum = t.add(k.gather(table, flat, 0)); // [N, P, 1, C]
    else {
      const weights = combine(t, taps.map((p) => p.weights!), k.mul);
      let acc: Tensor | undefined;
      for (let i = 0; i < flat.shape[2]; ++i) {
        const picked = t.add(k.gather(table, t.add(flat.slice(2, i, i + 1)), 0)); // [N, P, 1, C]
        const term = t.add(k.mul(picked, t.add(t.add(weights.slice(2, i, i + 1)).unsqueeze(-1))));
        acc = acc ? t.add(k.add(acc, term)) : term;
      }
      sum = acc!;
    }
    const y = t.add(k.cast(t.add(t.add(sum.reshape([N, P, C])).transpose(1, 2)), x.dtype));
    return y.reshape(outShape);
  });
}

defineOps({
  GridSample: { since: 16, uses, run: (ctx) => [gridSample(ctx)] },
});
