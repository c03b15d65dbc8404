// GridSample composed from Kiln ops, for what the native GridSample op does not take (more than 3
// spatial dims, a backend without the op): the same results, in the same float32 steps (kernels/OPS.md
// states them; kernels/cpu/grid_sample_taps.h is the native twin). On the grid's small [N, P, K]
// tensors (P output positions, K taps per spatial dim) each dim's coordinate becomes integer taps
// with weights and a padded flat offset; X, laid out as [N * (S + 1), C] with a zero row after each
// sample's S positions, is then gathered once per tap and the weighted taps are summed.
import type { Tensor } from '../tensor.js';
import { numel } from '../shape.js';
import { cast } from './cast.js';
import { tensor } from './creation.js';
import * as ew from './elementwise.js';
import { concat, gather, pad } from './shape-ops.js';
import { withTemps, type Temps } from './temps.js';

export type GridSampleMode = 'linear' | 'nearest' | 'cubic';
export type GridSamplePadding = 'zeros' | 'border' | 'reflection';

/** Keys' cubic convolution coefficient (PyTorch's and ONNX's value). */
const A = -0.75;

/** The native ops the composed path launches for a mode and padding. */
export function composedOps(mode: GridSampleMode, padding: GridSamplePadding): string[] {
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

interface TapOptions {
  mode: GridSampleMode;
  padding: GridSamplePadding;
  align: boolean;
  index: 'int32' | 'int64';
}

/**
 * The taps of one spatial dim of `size` (element stride `stride` in a sample) for the normalized
 * coordinates `g` [N, P, 1] (float32). A zeros-padded tap outside X gets offset S (the zero row),
 * which stays >= S whatever the other dims add.
 */
function dimTaps(t: Temps, g: Tensor, size: number, stride: number, S: number, o: TapOptions): DimTaps {
  // float32 in onnxruntime's order of operations, so that taps split at the same coordinates
  const x = o.align
    ? t.add(ew.mul(t.add(ew.mul(t.add(ew.add(g, 1)), 0.5)), size - 1))
    : t.add(ew.mul(t.add(ew.sub(t.add(ew.mul(t.add(ew.add(g, 1)), size)), 1)), 0.5));
  const base = t.add(o.mode === 'nearest' ? ew.round(x) : ew.floor(x));
  const steps = o.mode === 'nearest' ? [0] : o.mode === 'linear' ? [0, 1] : [-1, 0, 1, 2];
  const tap = t.add(ew.add(base, t.add(tensor(steps, { dtype: 'float32', device: g.device }))));
  let weights: Tensor | undefined;
  if (o.mode === 'linear') {
    const frac = t.add(ew.sub(x, base)); // exact: the weight of the upper tap
    weights = t.add(concat([t.add(ew.sub(1, frac)), frac], -1));
  } else if (o.mode === 'cubic') {
    const d = t.add(ew.abs(t.add(ew.sub(x, tap))));
    // Keys' kernel: one cubic for the two inner taps (d < 1), another for the two outer ones
    const inner = t.add(ew.add(t.add(ew.mul(t.add(ew.mul(t.add(ew.sub(t.add(ew.mul(d, A + 2)), A + 3)), d)), d)), 1));
    const outer = t.add(ew.sub(t.add(ew.mul(t.add(ew.add(t.add(ew.mul(t.add(ew.sub(t.add(ew.mul(d, A)), 5 * A)), d)), 8 * A)), d)), 4 * A));
    const isInner = t.add(tensor([false, true, true, false], { dtype: 'bool', device: g.device }));
    weights = t.add(ew.where(isInner, inner, outer));
  }
  const last = size - 1;
  const toIndex = (v: Tensor, dtype: 'int32' | 'int64' = o.index) => t.add(cast(v, dtype)); // v holds whole numbers already
  const scaled = (i: Tensor) => (stride === 1 ? i : t.add(ew.mul(i, stride)));
  if (o.padding === 'zeros') {
    const inside = t.add(ew.logicalAnd(t.add(ew.greaterEqual(tap, 0)), t.add(ew.lessEqual(tap, last))));
    return { weights, offsets: t.add(ew.where(inside, scaled(toIndex(t.add(ew.clip(tap, 0, last)))), S)) };
  }
  if (o.padding === 'border' || size === 1) return { weights, offsets: scaled(toIndex(t.add(ew.clip(tap, 0, last)))) };
  // reflection: the taps repeat with a period of 2(size - 1) when the borders are the corner
  // pixels' centers (align_corners), of 2 size when they are the pixels' outer edges. The tap
  // becomes an int64 first (NaN -> 0, saturating), as in the native kernel, whatever the index dtype.
  const period = o.align ? 2 * (size - 1) : 2 * size;
  const m = toIndex(t.add(ew.mod(toIndex(tap, 'int64'), period)));
  const mirrored = t.add(ew.sub(o.align ? period : period - 1, m));
  return { weights, offsets: scaled(t.add(ew.where(t.add(ew.less(m, size)), m, mirrored))) };
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

/**
 * GridSample of validated arguments (src/ops/grid-sample.ts checks them): X [N, C, ...S] (float),
 * grid [N, ...P, r] (float), with S and the output non-empty.
 */
export function composedGridSample(x: Tensor, grid: Tensor, mode: GridSampleMode, padding: GridSamplePadding, align: boolean): Tensor {
  const [N, C] = x.shape, r = x.rank - 2;
  const sizes = x.shape.slice(2), S = numel(sizes);
  const outShape = [N, C, ...grid.shape.slice(1, -1)], P = numel(grid.shape.slice(1, -1));
  const rows = S + 1; // each sample's positions, then its zero row
  const index = N * rows < 2 ** 31 ? 'int32' : 'int64'; // flat row indices reach N * rows - 1
  const strides = sizes.map((_, d) => numel(sizes.slice(d + 1)));
  return withTemps((t) => {
    const g3 = t.add(grid.reshape([N, P, r]));
    const g = g3.dtype === 'float32' ? g3 : t.add(cast(g3, 'float32'));
    // the grid lists coordinates innermost dim first
    const taps = sizes.map((size, d) => dimTaps(t, t.add(g.slice(2, r - 1 - d, r - d)), size, strides[d], S, { mode, padding, align, index }));
    let flat = combine(t, taps.map((p) => p.offsets), ew.add);
    if (padding === 'zeros') flat = t.add(ew.minimum(flat, S));
    const sampleStart = t.add(tensor(Array.from({ length: N }, (_, i) => i * rows), { dtype: index, device: x.device, shape: [N, 1, 1] }));
    flat = t.add(ew.add(flat, sampleStart));
    // interpolation sums in float32 and rounds once into X's dtype; nearest copies X's values as they are
    const work = mode === 'nearest' || x.dtype === 'float32' ? x.dtype : 'float32';
    let xs = t.add(t.add(x.reshape([N, C, S])).transpose(1, 2));
    if (xs.dtype !== work) xs = t.add(cast(xs, work));
    const table = t.add(t.add(pad(xs, [[0, 0], [0, 1], [0, 0]])).reshape([N * rows, C]));
    let sum: Tensor;
    if (mode === 'nearest') sum = t.add(gather(table, flat, 0)); // [N, P, 1, C]
    else {
      const weights = combine(t, taps.map((p) => p.weights!), ew.mul);
      let acc: Tensor | undefined;
      for (let i = 0; i < flat.shape[2]; ++i) {
        const picked = t.add(gather(table, t.add(flat.slice(2, i, i + 1)), 0)); // [N, P, 1, C]
        const term = t.add(ew.mul(picked, t.add(t.add(weights.slice(2, i, i + 1)).unsqueeze(-1))));
        acc = acc ? t.add(ew.add(acc, term)) : term;
      }
      sum = acc!;
    }
    const y = t.add(cast(t.add(t.add(sum.reshape([N, P, C])).transpose(1, 2)), x.dtype));
    return y.reshape(outShape);
  });
}
