// Test inputs: random values already rounded to the tested dtype (so Kiln and the reference see the
// same numbers), uploaded in a chosen memory layout. Non-contiguous layouts are built the way a user
// would build them (transpose, slice with steps, expand) and their expected values come from the
// reference's own view functions.
import * as kiln from '../../src/index.js';
import type { DType, Tensor } from '../../src/index.js';
import type { Rng } from './random.js';
import { NdArray, numel, roundTo, type Shape } from './reference.js';

export type Layout =
  | 'contiguous'
  | 'transposed' // the last two dims swapped (rank >= 2)
  | 'permuted' // all dims reversed (rank >= 3)
  | 'strided' // every other element of the last dim, starting at 1
  | 'reversed' // dim 0 walked backwards (a negative stride)
  | 'negstep' // the last dim with step -2
  | 'expanded' // a size-1 dim (or a missing leading dim) broadcast with stride 0
  | 'offset'; // a slice of dim 0 that starts at element 2 (a non-zero offset)

export const FLOAT_DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];
export const INT_DTYPES: readonly DType[] = ['int32', 'int64', 'uint8'];
export const ALL_DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool'];

export type Gen = (r: Rng) => number;

/** Spread-out values for each dtype (int64 stays within +-2^40 so float64 holds every result exactly). */
export function defaultGen(dtype: DType): Gen {
  switch (dtype) {
    case 'int32': return (r) => r.int(-2147483648, 2147483647);
    case 'int64': return (r) => r.int(-(2 ** 40), 2 ** 40);
    case 'uint8': return (r) => r.int(0, 255);
    case 'bool': return (r) => r.int(0, 1);
    default: return (r) => r.uniform(-4, 4);
  }
}

/** Values of `shape` drawn from gen and rounded to `dtype`. */
export function randomArray(r: Rng, dtype: DType, shape: Shape, gen: Gen = defaultGen(dtype)): NdArray {
  return NdArray.fill(shape, () => roundTo(dtype, gen(r)));
}

/** Uploads reference values as a contiguous tensor. */
export function upload(ref: NdArray, dtype: DType, device: string): Tensor {
  return kiln.tensor(ref.data, { shape: ref.shape, dtype, device });
}

/** The layouts that make sense for a shape (each gives a view of exactly `shape`). */
export function layoutsFor(shape: Shape): Layout[] {
  const r = shape.length;
  const out: Layout[] = ['contiguous'];
  if (r >= 2) out.push('transposed');
  if (r >= 3) out.push('permuted');
  if (r >= 1) out.push('strided', 'reversed', 'negstep', 'offset');
  if (shape.some((d) => d !== 1)) out.push('expanded');
  return out;
}

/**
 * A tensor of `shape` and `dtype` on `device` in `layout`, and its values in the reference. Base
 * tensors made on the way are disposed (the view keeps their buffer alive).
 */
export function makeInput(r: Rng, device: string, dtype: DType, shape: Shape, layout: Layout, gen: Gen = defaultGen(dtype)): { t: Tensor; ref: NdArray } {
  const rank = shape.length;
  const build = (baseShape: Shape, view: (t: Tensor) => Tensor, refView: (a: NdArray) => NdArray) => {
    const baseRef = randomArray(r, dtype, baseShape, gen);
    const base = upload(baseRef, dtype, device);
    try {
      const t = view(base);
      return { t, ref: refView(baseRef) };
    } finally {
      base.dispose();
    }
  };
  switch (layout) {
    case 'contiguous': {
      const ref = randomArray(r, dtype, shape, gen);
      return { t: upload(ref, dtype, device), ref };
    }
    case 'transposed': {
      const s = [...shape];
      [s[rank - 2], s[rank - 1]] = [s[rank - 1], s[rank - 2]];
      return build(s, (t) => t.transpose(), (a) => a.transpose());
    }
    case 'permuted': {
      const order = [...Array(rank).keys()].reverse();
      return build([...shape].reverse(), (t) => t.permute(order), (a) => a.permute(order));
    }
    case 'strided': {
      const s = [...shape];
      s[rank - 1] = 2 * shape[rank - 1] + 1;
      return build(s, (t) => t.slice(-1, 1, undefined, 2), (a) => a.slice(-1, 1, undefined, 2));
    }
    case 'reversed':
      return build(shape, (t) => t.slice(0, undefined, undefined, -1), (a) => a.slice(0, undefined, undefined, -1));
    case 'negstep': {
      const s = [...shape];
      s[rank - 1] = 2 * shape[rank - 1] + 1;
      return build(s, (t) => t.slice(-1, -2, undefined, -2), (a) => a.slice(-1, -2, undefined, -2));
    }
    case 'offset': {
      const s = [...shape];
      s[0] = shape[0] + 3;
      return build(s, (t) => t.slice(0, 2, 2 + shape[0]), (a) => a.slice(0, 2, 2 + shape[0]));
    }
    case 'expanded': {
      const d = shape.findIndex((x) => x !== 1);
      let s = [...shape];
      s[d] = 1;
      if (d === 0 && rank > 1) s = s.slice(1); // a missing leading dim: rank-extending expand
      return build(s, (t) => t.expand(shape), (a) => a.broadcastTo(shape));
    }
  }
}

/** layoutsFor, trimmed to contiguous, transposed/strided and one more for large shapes (they cost time, not coverage). */
export function layoutsForSize(shape: Shape): Layout[] {
  const all = layoutsFor(shape);
  return numel(shape) > 10_000 ? all.slice(0, 3) : all;
}

/** Pairs every layout of a with a layout of b (cycling the shorter list), contiguous pair first. */
export function layoutPairs(a: Shape, b: Shape): [Layout, Layout][] {
  const la = layoutsFor(a), lb = layoutsFor(b);
  const n = Math.max(la.length, lb.length);
  const out: [Layout, Layout][] = [['contiguous', 'contiguous']];
  for (let k = 0; k < n; ++k) out.push([la[k % la.length], lb[(k + 1) % lb.length]]);
  return numel(a) > 10_000 || numel(b) > 10_000 ? out.slice(0, 3) : out;
}

export const sizeOf = numel;
