// The float64 reference every op test compares against: an n-d array (shape + Float64Array) and the
// ops of kernels/OPS.md written plainly, with none of Kiln's code. Views (permute, slice, expand) are
// re-implemented here too, so a wrong stride in Kiln cannot hide behind the same wrong stride in the
// reference.

export type Shape = readonly number[];

export const numel = (s: Shape): number => s.reduce((a, b) => a * b, 1);

export function stridesOf(shape: Shape): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; --i) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

/** Row-major multi-index of flat index i. */
export function unravel(i: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; --d) {
    const n = shape[d];
    idx[d] = n === 0 ? 0 : i % n;
    i = n === 0 ? 0 : Math.floor(i / n);
  }
  return idx;
}

/** Calls fn(idx, i) for every multi-index of shape in row-major order (idx is reused: copy it to keep it). */
export function forEachIndex(shape: Shape, fn: (idx: number[], i: number) => void): void {
  const n = numel(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; ++i) {
    fn(idx, i);
    for (let d = shape.length - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

const normAxis = (a: number, rank: number): number => {
  if (!Number.isInteger(a) || a < -rank || a >= rank) throw new Error(`reference: axis ${a} out of range for rank ${rank}`);
  return a < 0 ? a + rank : a;
};

export class NdArray {
  readonly shape: number[];
  readonly data: Float64Array;
  /** Row-major strides of `shape`. */
  readonly strides: number[];
  constructor(shape: Shape, data?: ArrayLike<number>) {
    this.shape = [...shape];
    this.strides = stridesOf(shape);
    const n = numel(shape);
    this.data = data ? Float64Array.from(data) : new Float64Array(n);
    if (this.data.length !== n) throw new Error(`reference: ${this.data.length} values for shape [${shape}]`);
  }
  static fill(shape: Shape, fn: (i: number) => number): NdArray {
    const a = new NdArray(shape);
    for (let i = 0; i < a.data.length; ++i) a.data[i] = fn(i);
    return a;
  }
  static scalar(v: number): NdArray {
    return new NdArray([], [v]);
  }
  get size(): number {
    return this.data.length;
  }
  get rank(): number {
    return this.shape.length;
  }
  at(idx: readonly number[]): number {
    let off = 0;
    for (let d = 0; d < idx.length; ++d) off += idx[d] * this.strides[d];
    return this.data[off];
  }
  map(fn: (v: number, i: number) => number): NdArray {
    return NdArray.fill(this.shape, (i) => fn(this.data[i], i));
  }
  reshape(shape: Shape): NdArray {
    const s = [...shape];
    const free = s.indexOf(-1);
    if (free >= 0) s[free] = this.size / numel(s.filter((_, i) => i !== free));
    if (numel(s) !== this.size) throw new Error(`reference: reshape [${this.shape}] -> [${shape}]`);
    return new NdArray(s, this.data);
  }

  /** A general strided gather: out[idx] = data[offset + sum(idx[d] * strides[d])]. */
  private strided(shape: Shape, strides: Shape, offset: number): NdArray {
    const out = new NdArray(shape);
    forEachIndex(shape, (idx, i) => {
      let off = offset;
      for (let d = 0; d < idx.length; ++d) off += idx[d] * strides[d];
      out.data[i] = this.data[off];
    });
    return out;
  }
  permute(dims: readonly number[]): NdArray {
    const st = stridesOf(this.shape);
    const d = dims.map((x) => normAxis(x, this.rank));
    return this.strided(d.map((i) => this.shape[i]), d.map((i) => st[i]), 0);
  }
  transpose(a = -2, b = -1): NdArray {
    const order = [...Array(this.rank).keys()];
    const x = normAxis(a, this.rank), y = normAxis(b, this.rank);
    [order[x], order[y]] = [order[y], order[x]];
    return this.permute(order);
  }
  /** Python slicing semantics along one dim, written from the language reference. */
  slice(dim: number, start?: number, end?: number, step = 1): NdArray {
    const d = normAxis(dim, this.rank);
    const n = this.shape[d];
    const picked: number[] = [];
    if (step > 0) {
      let b = start ?? 0, e = end ?? n;
      if (b < 0) b = Math.max(b + n, 0);
      if (e < 0) e = Math.max(e + n, 0);
      b = Math.min(b, n);
      e = Math.min(e, n);
      for (let i = b; i < e; i += step) picked.push(i);
    } else {
      let b = start ?? n - 1, e = end ?? -n - 1;
      if (b < 0) b = Math.max(b + n, -1);
      else b = Math.min(b, n - 1);
      if (e < 0) e = Math.max(e + n, -1);
      else e = Math.min(e, n - 1);
      for (let i = b; i > e; i += step) picked.push(i);
    }
    return this.take(picked, d);
  }
  /** Picks indices (already non-negative) along dim d. */
  take(indices: readonly number[], d: number): NdArray {
    const shape = [...this.shape];
    shape[d] = indices.length;
    const out = new NdArray(shape);
    forEachIndex(shape, (idx, i) => {
      let off = 0;
      for (let k = 0; k < idx.length; ++k) off += (k === d ? indices[idx[k]] : idx[k]) * this.strides[k];
      out.data[i] = this.data[off];
    });
    return out;
  }
  broadcastTo(shape: Shape): NdArray {
    const lead = shape.length - this.rank;
    if (lead < 0) throw new Error(`reference: cannot broadcast [${this.shape}] to [${shape}]`);
    this.shape.forEach((s, i) => {
      if (s !== 1 && s !== shape[i + lead]) throw new Error(`reference: cannot broadcast [${this.shape}] to [${shape}]`);
    });
    const st = stridesOf(this.shape);
    const strides = shape.map((_, i) => (i < lead || this.shape[i - lead] === 1 ? 0 : st[i - lead]));
    return this.strided(shape, strides, 0);
  }
}

// ---- broadcasting and elementwise ------------------------------------------------------------------

export function broadcastShapes(...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes)
    s.forEach((d, i) => {
      const o = rank - s.length + i;
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) throw new Error(`reference: shapes do not broadcast: ${shapes.map((x) => `[${x}]`).join(' ')}`);
    });
  return out;
}

export const map1 = (x: NdArray, f: (v: number) => number): NdArray => x.map((v) => f(v));

export function map2(a: NdArray, b: NdArray, f: (x: number, y: number) => number): NdArray {
  const shape = broadcastShapes(a.shape, b.shape);
  const A = a.broadcastTo(shape), B = b.broadcastTo(shape);
  return NdArray.fill(shape, (i) => f(A.data[i], B.data[i]));
}

export function where(c: NdArray, x: NdArray, y: NdArray): NdArray {
  const shape = broadcastShapes(c.shape, x.shape, y.shape);
  const C = c.broadcastTo(shape), X = x.broadcastTo(shape), Y = y.broadcastTo(shape);
  return NdArray.fill(shape, (i) => (C.data[i] !== 0 ? X.data[i] : Y.data[i]));
}

// ---- scalar math --------------------------------------------------------------------------------------

/** erf to ~1e-15: Maclaurin series below 3, 1 - erfc above. */
export function erf(x: number): number {
  if (Number.isNaN(x) || x === 0) return x; // erf(-0) = -0
  const a = Math.abs(x);
  if (a < 3) {
    let term = x, sum = x;
    for (let n = 1; n < 200; ++n) {
      term *= (-x * x) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  return Math.sign(x) * (1 - erfc(a));
}

/** erfc, also deep in the tail: 1 - erf below 3 (>= 1e-8 relative there), the continued fraction above (~1e-15). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 3) return 1 - erf(x);
  if (x === Infinity) return 0;
  let t = x;
  for (let n = 80; n >= 1; --n) t = x + n / 2 / t;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / t;
}
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const f = Math.floor(x), d = x - f;
  const r = d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
  return r === 0 ? (x < 0 || Object.is(x, -0) ? -0 : 0) : r;
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
/** x * Phi(x), through erfc for x < 0 (1 + erf(x) would cancel in the tail). */
export const gelu = (x: number): number => 0.5 * x * (x < 0 ? erfc(-x / Math.SQRT2) : 1 + erf(x / Math.SQRT2));
/** 0.5 x (1 + tanh(z)) written as x / (1 + e^(-2z)), which keeps the x < 0 tail (1 + tanh cancels). */
export const geluTanh = (x: number): number => x / (1 + Math.exp(-2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

// ---- dtypes: rounding and Kiln's cast rules -----------------------------------------------------------

export type DTypeName = 'float32' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'uint8' | 'bool';

export const isFloatDType = (d: DTypeName) => d === 'float32' || d === 'float16' || d === 'bfloat16';
export const isIntDType = (d: DTypeName) => d === 'int32' || d === 'int64' || d === 'uint8';

/** Rounds a float64 to a binary float with `mant` fraction bits, minimum normal exponent `emin`, maximum exponent `emax` (nearest even, overflow to Infinity). */
function roundBinary(x: number, mant: number, emin: number, emax: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  if (e < emin) e = emin; // subnormals share the smallest normal's ulp
  const ulp = 2 ** (e - mant);
  const r = roundHalfEven(a / ulp) * ulp;
  const max = (2 - 2 ** -mant) * 2 ** emax;
  const out = r > max ? Infinity : r;
  return x < 0 ? -out : out;
}

export const toF32 = (x: number): number => Math.fround(x);
export const toF16 = (x: number): number => roundBinary(x, 10, -14, 15);
export const toBF16 = (x: number): number => roundBinary(x, 7, -126, 127);

const INT_LIMITS: Record<'int32' | 'int64' | 'uint8', [number, number]> = {
  int32: [-2147483648, 2147483647],
  int64: [-(2 ** 63), 2 ** 63], // 2^63 - 1 is not a float64; 2^63 is what it reads back as
  uint8: [0, 255],
};

/** An integer wrapped into the dtype's range (two's complement), exact for safe integers. */
export function wrapInt(dtype: 'int32' | 'int64' | 'uint8', v: number): number {
  if (dtype === 'int64') return Number(BigInt.asIntN(64, BigInt(v)));
  if (dtype === 'int32') return Number(BigInt.asIntN(32, BigInt(v)));
  return Number(BigInt.asUintN(8, BigInt(v)));
}

/** The value a dtype stores for float64 `v` when `v` is produced by a float computation (float rounding; integers truncate and saturate, NaN -> 0). */
export function roundTo(dtype: DTypeName, v: number): number {
  switch (dtype) {
    case 'float32': return toF32(v);
    case 'float16': return toF16(v);
    case 'bfloat16': return toBF16(v);
    case 'bool': return v !== 0 ? 1 : 0;
    default: {
      if (Number.isNaN(v)) return 0;
      const [lo, hi] = INT_LIMITS[dtype];
      const t = Math.trunc(v);
      return t <= lo ? lo : t >= hi ? hi : t + 0; // + 0 turns -0 into 0
    }
  }
}

/**
 * Kiln's Cast: to a float type rounds once, correctly (an int32/int64 source is exact in float64 here);
 * float -> integer truncates toward zero and saturates, NaN -> 0; integer -> narrower integer wraps;
 * anything -> bool is `!= 0` (NaN is true); bool -> anything is 0/1.
 */
export function castValue(v: number, from: DTypeName, to: DTypeName): number {
  if (to === 'bool') return v !== 0 ? 1 : 0;
  if (to === 'float32') return toF32(v);
  if (to === 'float16') return toF16(v);
  if (to === 'bfloat16') return toBF16(v);
  if (isFloatDType(from)) return roundTo(to, v);
  return wrapInt(to, v);
}

export const cast = (x: NdArray, from: DTypeName, to: DTypeName): NdArray => x.map((v) => castValue(v, from, to));

// ---- reductions -----------------------------------------------------------------------------------------

export function normAxes(axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : [...axes];
  return list.map((a) => normAxis(a, rank)).sort((a, b) => a - b);
}

/** For each output position (the kept dims), the values along the reduced axes in row-major order. */
export function groups(x: NdArray, axes: readonly number[]): { keptShape: number[]; groups: number[][] } {
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const redShape = axes.map((a) => x.shape[a]);
  const redStrides = axes.map((a) => x.strides[a]);
  const out: number[][] = [];
  forEachIndex(keptShape, (base) => {
    let off0 = 0;
    for (let d = 0; d < base.length; ++d) off0 += base[d] * x.strides[d];
    const vals: number[] = [];
    forEachIndex(redShape, (ri) => {
      let off = off0;
      for (let k = 0; k < ri.length; ++k) off += ri[k] * redStrides[k];
      vals.push(x.data[off]);
    });
    out.push(vals);
  });
  return { keptShape, groups: out };
}

export function reduce(x: NdArray, axesOpt: number | readonly number[] | undefined, keepdims: boolean, fn: (vals: number[]) => number): NdArray {
  const src = x.rank === 0 ? x.reshape([1]) : x;
  const axes = normAxes(axesOpt, src.rank);
  const { keptShape, groups: gs } = groups(src, axes);
  const out = new NdArray(keptShape, gs.map(fn));
  if (keepdims && x.rank > 0) return out;
  return out.reshape(x.rank === 0 ? [] : src.shape.filter((_, i) => !axes.includes(i)));
}

export const sumOf = (v: number[]): number => v.reduce((a, b) => a + b, 0);
export const prodOf = (v: number[]): number => v.reduce((a, b) => a * b, 1);
export const meanOf = (v: number[]): number => (v.length ? sumOf(v) / v.length : NaN);
export function maxOf(v: number[]): number {
  let m = -Infinity;
  for (const x of v) {
    if (Number.isNaN(x)) return NaN;
    if (x > m) m = x;
  }
  return m;
}
export function minOf(v: number[]): number {
  let m = Infinity;
  for (const x of v) {
    if (Number.isNaN(x)) return NaN;
    if (x < m) m = x;
  }
  return m;
}
export function varianceOf(v: number[], correction: number): number {
  if (v.length === 0) return NaN;
  const m = meanOf(v);
  const ss = v.reduce((a, b) => a + (b - m) * (b - m), 0);
  return ss / (v.length - correction);
}
/** First index of the largest value; a NaN counts as the largest (the first NaN wins). */
export function argmaxOf(v: number[]): number {
  let best = 0;
  for (let i = 0; i < v.length; ++i) {
    if (Number.isNaN(v[i])) return i;
    if (v[i] > v[best]) best = i;
  }
  return best;
}
export function argminOf(v: number[]): number {
  let best = 0;
  for (let i = 0; i < v.length; ++i) {
    if (Number.isNaN(v[i])) return i;
    if (v[i] < v[best]) best = i;
  }
  return best;
}

// ---- softmax and normalization ------------------------------------------------------------------------------

/** Applies fn to every 1-D lane along `axis` (fn returns the new lane). */
function lanes(x: NdArray, axis: number, fn: (lane: number[]) => number[]): NdArray {
  const a = normAxis(axis, x.rank);
  const out = new NdArray(x.shape);
  const { groups: gs } = groups(x, [a]);
  const st = stridesOf(x.shape);
  const outer = x.shape.map((d, i) => (i === a ? 1 : d));
  gs.forEach((lane, g) => {
    const res = fn(lane);
    const base = unravel(g, outer);
    let off = base.reduce((s, v, i) => s + v * st[i], 0);
    for (let k = 0; k < res.length; ++k, off += st[a]) out.data[off] = res[k];
  });
  return out;
}

export function softmax(x: NdArray, axis = -1): NdArray {
  return lanes(x, axis, (l) => {
    const m = Math.max(...l);
    const e = l.map((v) => Math.exp(v - m));
    const s = sumOf(e);
    return e.map((v) => v / s);
  });
}

export function logSoftmax(x: NdArray, axis = -1): NdArray {
  return lanes(x, axis, (l) => {
    const m = Math.max(...l);
    const lse = m + Math.log(sumOf(l.map((v) => Math.exp(v - m))));
    return l.map((v) => v - lse);
  });
}

/** Normalizes over dims axis..rank-1: (x - mean) / sqrt(var + eps) * scale + bias. */
export function layerNorm(x: NdArray, axis: number, eps: number, scale?: NdArray, bias?: NdArray): NdArray {
  const a = normAxis(axis, x.rank);
  const inner = numel(x.shape.slice(a));
  const normShape = x.shape.slice(a);
  const S = scale?.broadcastTo(normShape), B = bias?.broadcastTo(normShape);
  const out = new NdArray(x.shape);
  for (let o = 0; o * inner < x.size; ++o) {
    const lane = Array.from(x.data.subarray(o * inner, (o + 1) * inner));
    const m = meanOf(lane);
    const v = lane.reduce((s, t) => s + (t - m) * (t - m), 0) / inner;
    const r = 1 / Math.sqrt(v + eps);
    for (let k = 0; k < inner; ++k)
      out.data[o * inner + k] = (lane[k] - m) * r * (S ? S.data[k] : 1) + (B ? B.data[k] : 0);
  }
  return out;
}

/** x / sqrt(mean(x^2) + eps) * scale over dims axis..rank-1. */
export function rmsNorm(x: NdArray, axis: number, eps: number, scale?: NdArray): NdArray {
  const a = normAxis(axis, x.rank);
  const inner = numel(x.shape.slice(a));
  const S = scale?.broadcastTo(x.shape.slice(a));
  const out = new NdArray(x.shape);
  for (let o = 0; o * inner < x.size; ++o) {
    const lane = Array.from(x.data.subarray(o * inner, (o + 1) * inner));
    const r = 1 / Math.sqrt(lane.reduce((s, t) => s + t * t, 0) / inner + eps);
    for (let k = 0; k < inner; ++k) out.data[o * inner + k] = lane[k] * r * (S ? S.data[k] : 1);
  }
  return out;
}

// ---- matmul ------------------------------------------------------------------------------------------------

/** 2-D [M, K] @ [K, N], also returning sum |a||b| per output (the scale rounding error grows with). */
function mm2(a: Float64Array, b: Float64Array, M: number, K: number, N: number, out: Float64Array, absOut: Float64Array, o0: number): void {
  for (let i = 0; i < M; ++i)
    for (let j = 0; j < N; ++j) {
      let s = 0, sa = 0;
      for (let k = 0; k < K; ++k) {
        const p = a[i * K + k] * b[k * N + j];
        s += p;
        sa += Math.abs(p);
      }
      out[o0 + i * N + j] = s;
      absOut[o0 + i * N + j] = sa;
    }
}

/** NumPy matmul: 1-D operands become a row (left) / column (right) and lose that dim again; batch dims broadcast. */
export function matmul(a: NdArray, b: NdArray): { y: NdArray; scale: NdArray } {
  if (a.rank === 0 || b.rank === 0) throw new Error('reference matmul: 0-d operand');
  const A = a.rank === 1 ? a.reshape([1, a.shape[0]]) : a;
  const B = b.rank === 1 ? b.reshape([b.shape[0], 1]) : b;
  const [M, K] = A.shape.slice(-2), [K2, N] = B.shape.slice(-2);
  if (K !== K2) throw new Error(`reference matmul: K ${K} vs ${K2}`);
  const batch = broadcastShapes(A.shape.slice(0, -2), B.shape.slice(0, -2));
  const Ab = A.broadcastTo([...batch, M, K]), Bb = B.broadcastTo([...batch, K, N]);
  const nb = numel(batch);
  const y = new NdArray([...batch, M, N]), scale = new NdArray([...batch, M, N]);
  for (let t = 0; t < nb; ++t)
    mm2(Ab.data.subarray(t * M * K, (t + 1) * M * K), Bb.data.subarray(t * K * N, (t + 1) * K * N), M, K, N, y.data, scale.data, t * M * N);
  let shape = [...batch, M, N];
  if (b.rank === 1) shape.splice(shape.length - 1, 1);
  if (a.rank === 1) shape.splice(shape.length - (b.rank === 1 ? 1 : 2), 1);
  return { y: y.reshape(shape), scale: scale.reshape(shape) };
}

/** ONNX Gemm: alpha * op(A) @ op(B) + beta * C (C broadcast to [M, N]). */
export function gemm(a: NdArray, b: NdArray, o: { c?: NdArray; alpha?: number; beta?: number; transA?: boolean; transB?: boolean }): { y: NdArray; scale: NdArray } {
  const A = o.transA ? a.transpose() : a, B = o.transB ? b.transpose() : b;
  const { y, scale } = matmul(A, B);
  const alpha = o.alpha ?? 1, beta = o.beta ?? 1;
  const C = o.c?.broadcastTo(y.shape);
  return {
    y: y.map((v, i) => alpha * v + (C ? beta * C.data[i] : 0)),
    scale: scale.map((v, i) => Math.abs(alpha) * v + (C ? Math.abs(beta * C.data[i]) : 0)),
  };
}

// ---- shape ops ---------------------------------------------------------------------------------------------------

export function concat(list: readonly NdArray[], axis = 0): NdArray {
  const a = normAxis(axis, list[0].rank);
  const shape = [...list[0].shape];
  shape[a] = list.reduce((s, t) => s + t.shape[a], 0);
  return NdArray.fill(shape, (i) => {
    const idx = unravel(i, shape);
    let k = idx[a];
    for (const t of list) {
      if (k < t.shape[a]) {
        idx[a] = k;
        return t.at(idx);
      }
      k -= t.shape[a];
    }
    throw new Error('unreachable');
  });
}

export function stack(list: readonly NdArray[], axis = 0): NdArray {
  const a = normAxis(axis, list[0].rank + 1);
  return concat(list.map((t) => t.reshape([...t.shape.slice(0, a), 1, ...t.shape.slice(a)])), a);
}

export function split(x: NdArray, sizes: readonly number[], axis = 0): NdArray[] {
  const a = normAxis(axis, x.rank);
  let at = 0;
  return sizes.map((s) => {
    const part = x.take([...Array(s).keys()].map((k) => k + at), a);
    at += s;
    return part;
  });
}

/** Gather along axis; negative indices count from the end. Returns undefined when an index is out of range. */
export function gather(x: NdArray, indices: NdArray, axis = 0): NdArray | undefined {
  const a = normAxis(axis, x.rank);
  const n = x.shape[a];
  const idx = Array.from(indices.data, (v) => (v < 0 ? v + n : v));
  if (idx.some((v) => v < 0 || v >= n)) return undefined;
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  const ir = indices.rank;
  return NdArray.fill(shape, (i) => {
    const o = unravel(i, shape);
    const iIdx = o.slice(a, a + ir);
    const flatI = iIdx.reduce((s, v, k) => s * indices.shape[k] + v, 0);
    const src = [...o.slice(0, a), idx[flatI], ...o.slice(a + ir)];
    return x.at(src);
  });
}

/** NumPy pad: 'constant' (value), 'reflect' (mirror without repeating the edge), 'edge' (repeat the edge). */
export function pad(x: NdArray, widths: readonly (readonly [number, number])[], mode: 'constant' | 'reflect' | 'edge', value = 0): NdArray {
  const shape = x.shape.map((d, i) => d + widths[i][0] + widths[i][1]);
  return NdArray.fill(shape, (i) => {
    const o = unravel(i, shape);
    const src: number[] = [];
    for (let d = 0; d < o.length; ++d) {
      const n = x.shape[d];
      let k = o[d] - widths[d][0];
      if (k < 0 || k >= n) {
        if (mode === 'constant') return value;
        if (mode === 'edge') k = k < 0 ? 0 : n - 1;
        else {
          const period = 2 * (n - 1);
          if (period === 0) k = 0;
          else {
            k = ((k % period) + period) % period;
            if (k >= n) k = period - k;
          }
        }
      }
      src.push(k);
    }
    return x.at(src);
  });
}

/** NumPy tile. */
export function tile(x: NdArray, reps: readonly number[]): NdArray {
  const rank = Math.max(x.rank, reps.length);
  const xs = [...new Array(rank - x.rank).fill(1), ...x.shape];
  const r = [...new Array(rank - reps.length).fill(1), ...reps];
  const X = x.reshape(xs);
  const shape = xs.map((d, i) => d * r[i]);
  return NdArray.fill(shape, (i) => X.at(unravel(i, shape).map((v, d) => v % xs[d])));
}

/**
 * TopK along `axis`: the k first elements of each slice in the order "larger first" (largest) or
 * "smaller first", NaN counting as larger than everything, equal values by index. Values and indices.
 */
export function topk(x: NdArray, k: number, axis: number, largest: boolean): { values: NdArray; indices: NdArray } {
  const a = normAxis(axis, x.rank);
  const n = x.shape[a];
  const shape = x.shape.map((d, i) => (i === a ? k : d));
  const values = new NdArray(shape), indices = new NdArray(shape);
  forEachIndex(shape.map((d, i) => (i === a ? 1 : d)), (idx) => {
    const at = (r: number) => x.at(idx.map((v, i) => (i === a ? r : v)));
    const order = [...Array(n).keys()].sort((p, q) => {
      const u = at(p), w = at(q);
      const un = Number.isNaN(u), wn = Number.isNaN(w);
      let c = un !== wn ? (un ? 1 : -1) : un ? 0 : u < w ? -1 : u > w ? 1 : 0; // ascending, NaN last
      if (largest) c = -c;
      return c !== 0 ? c : p - q;
    });
    for (let p = 0; p < k; ++p) {
      const o = idx.map((v, i) => (i === a ? p : v));
      const flat = o.reduce((s, v, i) => s + v * values.strides[i], 0);
      values.data[flat] = at(order[p]);
      indices.data[flat] = order[p];
    }
  });
  return { values, indices };
}
