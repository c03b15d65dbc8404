import { promoteTypes, type DType } from '../dtype.js';
import { fail } from '../errors.js';
import { describeValue, intListArg, optionsArg } from '../args.js';
import { fmtShape, normalizeAxis, sameShape } from '../shape.js';
import { Tensor, checkTensor } from '../tensor.js';
import { cast } from './cast.js';
import { tensor } from './creation.js';
import { commonDevice, empty, run1, runInto } from './run.js';
import { withTemps } from './temps.js';

function tensors(name: string, list: readonly Tensor[]): Tensor[] {
  if (!Array.isArray(list) || list.length === 0) fail('E_ARGUMENT', `${name}: needs a non-empty array of tensors`);
  list.forEach((t, i) => checkTensor(name, t, `element ${i}`));
  return [...list];
}

/** Joins tensors along an existing axis; dtypes promote, other dims must match. */
export function concat(list: readonly Tensor[], axis = 0): Tensor {
  const xs = tensors('concat', list);
  const rank = xs[0].rank;
  if (rank === 0) fail('E_SHAPE', 'concat: 0-d tensors cannot be concatenated; use stack');
  const a = normalizeAxis('concat', axis, rank);
  for (const t of xs)
    if (t.rank !== rank || t.shape.some((d, i) => i !== a && d !== xs[0].shape[i]))
      fail('E_SHAPE', `concat: shapes ${xs.map((x) => fmtShape(x.shape)).join(', ')} differ outside axis ${a}`);
  const dtype = xs.map((t) => t.dtype).reduce(promoteTypes);
  const shape = [...xs[0].shape];
  shape[a] = xs.reduce((s, t) => s + t.shape[a], 0);
  const out = empty(shape, dtype, commonDevice('concat', xs), 'concat');
  try {
    let at = 0;
    for (const t of xs) {
      const n = t.shape[a];
      if (n > 0) withTemps((temps) => runInto('Cast', [t], [temps.add(out.slice(a, at, at + n))]));
      at += n;
    }
    return out;
  } catch (e) {
    out.dispose();
    throw e;
  }
}

/** Joins tensors of one shape along a new axis. */
export function stack(list: readonly Tensor[], axis = 0): Tensor {
  const xs = tensors('stack', list);
  const a = normalizeAxis('stack', axis, xs[0].rank + 1);
  for (const t of xs)
    if (!sameShape(t.shape, xs[0].shape)) fail('E_SHAPE', `stack: shapes ${xs.map((x) => fmtShape(x.shape)).join(', ')} differ`);
  return withTemps((temps) => concat(xs.map((t) => temps.add(t.unsqueeze(a))), a));
}

/**
 * Splits along `axis` into views (no copy): `splits` is either the number of equal parts (the dim
 * must divide evenly) or the list of part sizes (they must add up to the dim).
 */
export function split(x: Tensor, splits: number | readonly number[], axis = 0): Tensor[] {
  checkTensor('split', x);
  if (x.rank === 0) fail('E_SHAPE', 'split: cannot split a 0-d tensor');
  const a = normalizeAxis('split', axis, x.rank);
  const dim = x.shape[a];
  let sizes: number[];
  if (typeof splits === 'number') {
    // An empty axis splits into one empty part: any count would do, and a huge one exhausts memory.
    if (!Number.isInteger(splits) || splits <= 0 || splits > Math.max(dim, 1) || dim % splits !== 0)
      fail('E_SHAPE', `split: ${x.describe()} axis ${a} of size ${dim} cannot be split into ${describeValue(splits)} equal parts`);
    sizes = new Array(splits).fill(dim / splits);
  } else {
    sizes = intListArg('split', 'splits (a number of parts or a list of sizes)', splits);
    if (sizes.some((s) => !Number.isInteger(s) || s < 0) || sizes.reduce((p, s) => p + s, 0) !== dim)
      fail('E_SHAPE', `split: sizes [${sizes.join(', ')}] do not add up to ${dim}, the size of axis ${a} of ${x.describe()}`);
  }
  const parts: Tensor[] = [];
  let at = 0;
  for (const s of sizes) {
    parts.push(x.slice(a, at, at + s));
    at += s;
  }
  return parts;
}

/** Picks entries along `axis` by index (negative indices count from the end); int32/int64 indices or a JS array. */
export function gather(x: Tensor, indices: Tensor | readonly number[], axis = 0): Tensor {
  checkTensor('gather', x);
  if (x.rank === 0) fail('E_SHAPE', 'gather: cannot gather from a 0-d tensor');
  return withTemps((temps) => {
    const idx = indices instanceof Tensor ? indices : temps.add(tensor(indices as number[], { dtype: 'int64', device: x.device }));
    if (idx.dtype !== 'int32' && idx.dtype !== 'int64') fail('E_DTYPE', `gather: indices must be int32 or int64, got ${idx.describe()}`);
    const a = normalizeAxis('gather', axis, x.rank);
    const shape = [...x.shape.slice(0, a), ...idx.shape, ...x.shape.slice(a + 1)];
    if (x.shape[a] === 0 && idx.size > 0) fail('E_INDEX', `gather: axis ${a} of ${x.describe()} is empty`);
    return run1('Gather', [x, idx], shape, x.dtype, { axis: a });
  });
}

export interface PadOptions {
  mode?: 'constant' | 'reflect' | 'edge';
  /** The fill for mode 'constant' (default 0). */
  value?: number;
}

/** Pads each axis by [before, after] (NumPy's pad_width); reflect needs pads smaller than the dim. */
export function pad(x: Tensor, widths: readonly (readonly [number, number])[], o?: PadOptions): Tensor {
  o = optionsArg('pad', o, ['mode', 'value']);
  checkTensor('pad', x);
  const mode = o.mode ?? 'constant';
  if (!['constant', 'reflect', 'edge'].includes(mode)) fail('E_ARGUMENT', `pad: unknown mode ${describeValue(mode)}`);
  if (!Array.isArray(widths) || widths.length !== x.rank)
    fail('E_ARGUMENT', `pad: needs one [before, after] pair per dim of ${x.describe()}, got ${describeValue(widths)}`);
  const before: number[] = [], after: number[] = [];
  widths.forEach((w, i) => {
    if (!Array.isArray(w) || w.length !== 2 || !w.every((v) => Number.isInteger(v) && v >= 0))
      fail('E_ARGUMENT', `pad: widths for dim ${i} must be two non-negative integers, got ${describeValue(w)}`);
    const n = x.shape[i];
    if ((w[0] > 0 || w[1] > 0) && mode === 'reflect' && (w[0] >= n || w[1] >= n))
      fail('E_ARGUMENT', `pad: reflect padding [${w}] must be smaller than dim ${i} of ${x.describe()}`);
    if ((w[0] > 0 || w[1] > 0) && mode === 'edge' && n === 0) fail('E_ARGUMENT', `pad: edge padding of empty dim ${i} of ${x.describe()}`);
    before.push(w[0]);
    after.push(w[1]);
  });
  const shape = x.shape.map((d, i) => d + before[i] + after[i]);
  return run1('Pad', [x], shape, x.dtype, { pads: [...before, ...after], mode, value: o.value ?? 0 });
}

/** Repeats the tensor reps[i] times along each dim (NumPy's tile: shorter reps or shapes gain leading 1s). */
export function tile(x: Tensor, reps: readonly number[]): Tensor {
  checkTensor('tile', x);
  if (!Array.isArray(reps) || reps.some((r) => !Number.isInteger(r) || r < 0)) fail('E_ARGUMENT', `tile: reps must be non-negative integers, got ${describeValue(reps)}`);
  const rank = Math.max(x.rank, reps.length);
  const shape = [...new Array(rank - x.rank).fill(1), ...x.shape];
  const r = [...new Array(rank - reps.length).fill(1), ...reps];
  return withTemps((temps) => {
    // [d0, d1] -> [1, d0, 1, d1] -> expand to [r0, d0, r1, d1] -> copy -> [r0*d0, r1*d1]
    const interleaved = shape.flatMap((d) => [1, d]);
    const v = temps.add(temps.add(x.reshape(interleaved)).expand(r.flatMap((k, i) => [k, shape[i]])));
    const copy = temps.add(cast(v, x.dtype as DType));
    return copy.reshape(shape.map((d, i) => d * r[i]));
  });
}
