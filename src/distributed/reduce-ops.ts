// Element-wise reductions over raw tensor bytes for the CPU backend. Each dtype reduces in an
// accumulator array: float32, float16 and bfloat16 in float32 (halves are widened once, combined in
// float32 and rounded once, to nearest even), integers in their own width with wrap-around (like
// NCCL), bool as logical or (max) and and (min). The element loop is native (combine).
import { itemSize, type DType } from '../dtype.js';
import { describeValue } from '../args.js';
import { fail } from '../errors.js';
import { native } from '../native.js';

export type ReduceOp = 'sum' | 'prod' | 'min' | 'max' | 'avg';
export const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'prod', 'min', 'max', 'avg'];

type Acc = Float32Array | Int32Array | Uint8Array | BigInt64Array;

/** Throws E_ARGUMENT / E_DTYPE unless op is a reduction defined for dtype. */
export function checkReduce(where: string, op: unknown, dtype: DType): ReduceOp {
  if (!REDUCE_OPS.includes(op as ReduceOp)) fail('E_ARGUMENT', `${where}: unknown reduce op ${describeValue(op)}; expected one of ${REDUCE_OPS.join(', ')}`);
  if (op === 'avg' && !['float32', 'float16', 'bfloat16'].includes(dtype))
    fail('E_DTYPE', `${where}: op 'avg' needs a float tensor, got ${dtype}`);
  if (dtype === 'bool' && (op === 'sum' || op === 'prod'))
    fail('E_DTYPE', `${where}: op '${op}' is not defined for bool; use 'max' (logical or) or 'min' (logical and)`);
  return op as ReduceOp;
}

// float16 -> float32 through a 64K-entry table (built on first use)
let f16Table: Float32Array | undefined;
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  f16Table = new Float32Array(65536);
  for (let h = 0; h < 65536; ++h) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    f16Table[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return f16Table;
}

/** float32 bits -> float16 bits, rounded to nearest even (overflow to infinity, NaN kept quiet). */
function halfBits(b: number): number {
  const sign = (b >>> 16) & 0x8000, e = (b >>> 23) & 0xff, m = b & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
  const exp = e - 112; // rebias 127 -> 15
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    const mant = m | 0x800000, shift = 14 - exp;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (exp << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is still right
  return sign | h;
}

/** float32 bits -> bfloat16 bits, rounded to nearest even (NaN kept quiet). */
const bfloatBits = (b: number): number =>
  (b & 0x7f800000) === 0x7f800000 && b & 0x7fffff ? ((b >>> 16) | 0x40) & 0xffff : ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;

/**
 * The values of raw bytes of dtype as an accumulator (halves widened to float32): a fresh copy, or
 * with `borrow` a view of the bytes themselves where their alignment allows.
 */
export function decode(dtype: DType, bytes: Uint8Array, borrow = false): Acc {
  // halves are widened into a fresh array anyway, so their bytes are only read in place
  const half = dtype === 'float16' || dtype === 'bfloat16';
  const aligned = (half || borrow) && bytes.byteOffset % itemSize(dtype) === 0;
  const { buffer, byteOffset, byteLength } = aligned ? bytes : copyAligned(bytes);
  switch (dtype) {
    case 'float32': return new Float32Array(buffer, byteOffset, byteLength / 4);
    case 'int32': return new Int32Array(buffer, byteOffset, byteLength / 4);
    case 'int64': return new BigInt64Array(buffer, byteOffset, byteLength / 8);
    case 'uint8': case 'bool': return new Uint8Array(buffer, byteOffset, byteLength);
    case 'float16': case 'bfloat16': {
      const h = new Uint16Array(buffer, byteOffset, byteLength / 2);
      const out = new Float32Array(h.length);
      if (dtype === 'float16') {
        const t = halfTable();
        for (let i = 0; i < h.length; ++i) out[i] = t[h[i]];
      } else {
        const w = new Uint32Array(out.buffer);
        for (let i = 0; i < h.length; ++i) w[i] = h[i] << 16;
      }
      return out;
    }
  }
}

/** The raw bytes of dtype for an accumulator (halves rounded to nearest even, once). */
export function encode(dtype: DType, acc: Acc): Uint8Array {
  if (dtype !== 'float16' && dtype !== 'bfloat16') return new Uint8Array(acc.buffer, acc.byteOffset, acc.byteLength);
  const bits = new Uint32Array(acc.buffer, acc.byteOffset, acc.length), out = new Uint16Array(acc.length);
  if (dtype === 'float16') for (let i = 0; i < bits.length; ++i) out[i] = halfBits(bits[i]);
  else for (let i = 0; i < bits.length; ++i) out[i] = bfloatBits(bits[i]);
  return new Uint8Array(out.buffer);
}

/** A copy of bytes in a buffer of its own, aligned for any typed array. */
function copyAligned(bytes: Uint8Array): Uint8Array {
  const c = new Uint8Array(bytes.length);
  c.set(bytes);
  return c;
}

/**
 * acc = acc (op) x, element-wise, in the accumulator's type. x is raw bytes of dtype (halves widened
 * on the fly). Native (native/reduce_bytes.cc): the JavaScript loops it replaced ran at ~2.3 GB/s.
 */
export function combine(dtype: DType, op: ReduceOp, acc: Acc, bytes: Uint8Array): void {
  const x = bytes.byteOffset % itemSize(dtype) === 0 ? bytes : copyAligned(bytes);
  native().reduceInto(dtype, op, acc, x);
}

/** The final step of 'avg': divide the float32 sum by the number of contributions. */
export function finish(op: ReduceOp, acc: Acc, contributions: number): void {
  if (op !== 'avg') return;
  const a = acc as Float32Array;
  for (let i = 0; i < a.length; ++i) a[i] /= contributions;
}

/**
 * Reduces every rank's raw bytes, in rank order, into raw bytes of dtype. The result may be parts[0]
 * itself, overwritten (the callers own every part and need none of them afterwards).
 */
export function reduceAll(dtype: DType, op: ReduceOp, parts: readonly Uint8Array[]): Uint8Array {
  const acc = decode(dtype, parts[0], true);
  for (let r = 1; r < parts.length; ++r) combine(dtype, op, acc, parts[r]);
  finish(op, acc, parts.length);
  return encode(dtype, acc);
}
