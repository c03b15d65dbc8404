import { describeValue } from './args.js';
import { fail } from './errors.js';

/** Element types. float16 and bfloat16 are stored natively (2 bytes) and computed in float32. */
export type DType = 'float32' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'uint8' | 'bool';

export const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool'];

type Kind = 'float' | 'int' | 'bool';

interface DTypeInfo {
  code: number; // the native ABI code (native/dtype.h)
  bytes: number;
  kind: Kind;
}

const INFO: Record<DType, DTypeInfo> = {
  float32: { code: 0, bytes: 4, kind: 'float' },
  float16: { code: 1, bytes: 2, kind: 'float' },
  bfloat16: { code: 2, bytes: 2, kind: 'float' },
  int32: { code: 3, bytes: 4, kind: 'int' },
  int64: { code: 4, bytes: 8, kind: 'int' },
  uint8: { code: 5, bytes: 1, kind: 'int' },
  bool: { code: 6, bytes: 1, kind: 'bool' },
};

export function checkDType(d: unknown, where = 'dtype'): DType {
  if (typeof d !== 'string' || !(d in INFO)) fail('E_DTYPE', `${where}: unknown dtype ${describeValue(d)}; expected one of ${DTYPES.join(', ')}`);
  return d as DType;
}

export const dtypeCode = (d: DType): number => INFO[d].code;
export const itemSize = (d: DType): number => INFO[d].bytes;
export const isFloat = (d: DType): boolean => INFO[d].kind === 'float';
export const isInt = (d: DType): boolean => INFO[d].kind === 'int';
export const isBool = (d: DType): boolean => d === 'bool';

const INT_LIMITS: Partial<Record<DType, readonly [bigint, bigint]>> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint8: [0n, 255n],
  bool: [0n, 1n],
};

/** Whether a JS number is a value of d exactly: floats take any number (rounded); integers and bool their range. */
export function holdsNumber(d: DType, v: number): boolean {
  const r = INT_LIMITS[d];
  // Number(max) + 1 is exact for every range here (2^63 - 1 rounds up to 2^63 itself)
  return !r || (Number.isInteger(v) && v >= Number(r[0]) && v < Number(r[1]) + 1);
}

/** What an integer dtype (or bool) holds, for messages: 'integers in [0, 255]'. */
export const integerRange = (d: DType): string => (INT_LIMITS[d] ? `integers in [${INT_LIMITS[d]![0]}, ${INT_LIMITS[d]![1]}]` : 'any number');

/** Typed array that holds a dtype's raw storage. */
export type StorageArray = Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

/** A typed array of `length` elements of d's storage: new, or over `buffer` (which must hold them). */
export function storageArray(d: DType, length: number, buffer?: ArrayBuffer): StorageArray {
  const make = <T>(Ctor: { new (length: number): T; new (b: ArrayBuffer, offset: number, length: number): T }) =>
    buffer ? new Ctor(buffer, 0, length) : new Ctor(length);
  switch (d) {
    case 'float32': return make(Float32Array);
    case 'float16': case 'bfloat16': return make(Uint16Array);
    case 'int32': return make(Int32Array);
    case 'int64': return make(BigInt64Array);
    case 'uint8': case 'bool': return make(Uint8Array);
  }
}

/** What `data()` returns: float16/bfloat16 widen to Float32Array, bool is 0/1 in a Uint8Array. */
export type DataArray = Float32Array | Int32Array | BigInt64Array | Uint8Array;

/**
 * Type promotion for two tensor operands (the README's table): bool < integers < floats; within
 * integers the wider wins (uint8 with int32 is int32); within floats the wider wins, and float16
 * with bfloat16 is float32.
 */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return checkDType(a, 'promoteTypes');
  checkDType(a, 'promoteTypes');
  checkDType(b, 'promoteTypes');
  const ka = INFO[a].kind, kb = INFO[b].kind;
  if (ka !== kb) {
    const rank = { bool: 0, int: 1, float: 2 };
    return rank[ka] > rank[kb] ? a : b;
  }
  if (ka === 'float') return 'float32'; // two different floats: float16 with bfloat16, or either with float32
  const order: DType[] = ['uint8', 'int32', 'int64'];
  return order.indexOf(a) > order.indexOf(b) ? a : b;
}

/**
 * Promotion of a tensor with a JS scalar. Scalars are weak: they keep the tensor's dtype unless
 * they are of a higher kind (a fractional number with an integer tensor gives float32; a number
 * with a bool tensor gives int64, or float32 if fractional).
 */
export function promoteWithScalar(t: DType, s: number | boolean | bigint): DType {
  const kind: Kind = typeof s === 'boolean' ? 'bool' : typeof s === 'bigint' || Number.isInteger(s) ? 'int' : 'float';
  const tk = INFO[t].kind;
  if (kind === 'float' && tk !== 'float') return 'float32';
  if (kind === 'int' && tk === 'bool') return 'int64';
  return t;
}

/** The dtype an op that only computes in floats uses for this input (ints and bool -> float32). */
export const floatFor = (d: DType): DType => (isFloat(d) ? d : 'float32');
