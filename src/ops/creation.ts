import { resolveDevice } from '../backends/backend.js';
import { checkDType, holdsNumber, integerRange, isFloat, isInt, storageArray, type DType } from '../dtype.js';
import { describeValue, optionsArg } from '../args.js';
import { fail } from '../errors.js';
import { checkShape, fmtShape, numel, type Shape } from '../shape.js';
import { Tensor, checkTensor, type NestedArray } from '../tensor.js';
import { cast } from './cast.js';
import { empty, runInto } from './run.js';

export interface CreateOptions {
  dtype?: DType;
  /** 'cpu' (default), 'cuda:0', 'webgpu:0' */
  device?: string;
}

const CREATE_KEYS = ['dtype', 'device'] as const;

export interface TensorOptions extends CreateOptions {
  /** Reshape the data to this shape (its element count must match). */
  shape?: readonly number[];
}

type TypedInput = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array | Uint32Array | BigInt64Array;
export type TensorData = number | boolean | bigint | NestedArray | bigint[] | TypedInput;

const defaultDevice = (o?: CreateOptions) => o?.device ?? 'cpu';

function inferDType(data: TensorData): DType {
  if (data instanceof Float32Array || data instanceof Float64Array) return 'float32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Uint8Array) return 'uint8';
  if (ArrayBuffer.isView(data)) return 'int32';
  let probe: unknown = data;
  while (Array.isArray(probe)) probe = probe[0];
  if (typeof probe === 'boolean') return 'bool';
  if (typeof probe === 'bigint') return 'int64';
  return 'float32';
}

function element(v: unknown): number | boolean | bigint {
  const t = typeof v;
  if (t !== 'number' && t !== 'boolean' && t !== 'bigint') fail('E_ARGUMENT', `tensor: element ${describeValue(v)} is not a number, boolean or bigint`);
  return v as number | boolean | bigint;
}

/** Flattens nested arrays row-major and infers their shape; ragged input is E_SHAPE. */
function flatten(data: TensorData): { values: ArrayLike<number | boolean | bigint>; shape: number[] } {
  if (ArrayBuffer.isView(data)) return { values: data as ArrayLike<number | bigint>, shape: [data.length] };
  if (!Array.isArray(data)) return { values: [element(data)], shape: [] };
  const shape: number[] = [];
  for (let p: unknown = data; Array.isArray(p); p = p[0]) shape.push(p.length);
  const values: (number | boolean | bigint)[] = [];
  const walk = (node: unknown, depth: number) => {
    if (depth === shape.length) {
      if (Array.isArray(node)) fail('E_SHAPE', `tensor: ragged nested array (too deep at depth ${depth}, expected ${fmtShape(shape)})`);
      values.push(element(node));
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth])
      fail('E_SHAPE', `tensor: ragged nested array: expected ${shape[depth]} elements at depth ${depth} of ${fmtShape(shape)}`);
    for (const c of node) walk(c, depth + 1);
  };
  walk(data, 0);
  return { values, shape };
}

/** Host array in the dtype that is uploaded (float16/bfloat16 upload as float32 and convert on the device). */
function hostArray(values: ArrayLike<number | boolean | bigint>, dtype: DType) {
  const upload: DType = dtype === 'float16' || dtype === 'bfloat16' ? 'float32' : dtype;
  const out = storageArray(upload, values.length);
  for (let i = 0; i < values.length; ++i) {
    const v = values[i];
    if (upload === 'int64') {
      if (typeof v === 'bigint') (out as BigInt64Array)[i] = BigInt.asIntN(64, v) === v ? v : fail('E_ARGUMENT', `tensor: ${v} does not fit int64`);
      else {
        const n = Number(v);
        if (!Number.isSafeInteger(n)) fail('E_ARGUMENT', `tensor: ${describeValue(v)} is not an exact integer for int64 (use bigint beyond 2^53)`);
        (out as BigInt64Array)[i] = BigInt(n);
      }
      continue;
    }
    const n = Number(v);
    if (!holdsNumber(upload, n)) fail('E_ARGUMENT', `tensor: ${describeValue(v)} is not a valid ${dtype} value (${integerRange(upload)})`);
    (out as Float32Array)[i] = n;
  }
  return { upload, out };
}

/** A tensor from JS data: a number, boolean, nested arrays, or a typed array. */
export function tensor(data: TensorData, options?: TensorOptions): Tensor {
  options = optionsArg('tensor', options, ['dtype', 'device', 'shape']);
  const dtype = options.dtype === undefined ? inferDType(data) : checkDType(options.dtype, 'tensor');
  const { values, shape: inferred } = flatten(data);
  let shape = inferred;
  if (options.shape !== undefined) {
    shape = checkShape(options.shape, 'tensor');
    if (numel(shape) !== values.length) fail('E_SHAPE', `tensor: ${values.length} values do not fill shape ${fmtShape(shape)}`);
  }
  const { upload, out } = hostArray(values, dtype);
  const device = defaultDevice(options);
  const t = empty(shape, upload, device, 'tensor');
  if (out.length) {
    const s = t.storageFor('tensor');
    s.backend.write(s.buffer, out, 0);
  }
  if (upload === dtype) return t;
  try {
    return cast(t, dtype);
  } finally {
    t.dispose();
  }
}

/** A tensor of `shape` with every element `value`. */
export function full(shape: readonly number[], value: number | boolean, options?: CreateOptions): Tensor {
  options = optionsArg('full', options, CREATE_KEYS);
  const dtype = options.dtype === undefined ? (typeof value === 'boolean' ? 'bool' : 'float32') : checkDType(options.dtype, 'full');
  const s = checkShape(shape, 'full');
  if (typeof value !== 'number' && typeof value !== 'boolean' && typeof value !== 'bigint')
    fail('E_ARGUMENT', `full: value must be a number or boolean, got ${describeValue(value)}`);
  const v = Number(value);
  if (typeof value === 'bigint' && BigInt(v) !== value) fail('E_ARGUMENT', `full: ${value}n is not exact as a number; build it with kiln.tensor([...], { dtype: 'int64' })`);
  if (!isFloat(dtype) && !Number.isNaN(v) && dtype !== 'bool' && !Number.isInteger(v))
    fail('E_ARGUMENT', `full: ${describeValue(value)} is not an integer for ${dtype}`);
  if (!isFloat(dtype) && Number.isNaN(v)) fail('E_ARGUMENT', `full: NaN cannot be stored in ${dtype}`);
  if (isInt(dtype) && !holdsNumber(dtype, v)) fail('E_ARGUMENT', `full: ${describeValue(value)} does not fit ${dtype} (${integerRange(dtype)})`);
  const t = empty(s, dtype, defaultDevice(options), 'full');
  runInto('Fill', [], [t], { value: v });
  return t;
}

export const zeros = (shape: readonly number[], options?: CreateOptions): Tensor => full(shape, 0, options);
export const ones = (shape: readonly number[], options?: CreateOptions): Tensor => full(shape, 1, options);
/** A tensor of `value` with t's shape, and its dtype and device unless the options say otherwise. */
export function fullLike(t: Tensor, value: number | boolean, options?: CreateOptions): Tensor {
  const like = checkTensor('fullLike', t);
  return full(like.shape, value, { dtype: like.dtype, device: like.device, ...optionsArg('fullLike', options, CREATE_KEYS) });
}
export const zerosLike = (t: Tensor, options?: CreateOptions): Tensor => fullLike(t, 0, options);
export const onesLike = (t: Tensor, options?: CreateOptions): Tensor => fullLike(t, 1, options);

/**
 * Evenly spaced values in [start, end) like NumPy: arange(5) is 0..4. Integer arguments give int32,
 * any fractional one gives float32, unless a dtype is given.
 */
export function arange(start: number, end?: number, step = 1, options?: CreateOptions): Tensor {
  options = optionsArg('arange', options, CREATE_KEYS);
  if (end === undefined) [start, end] = [0, start];
  for (const v of [start, end, step]) if (typeof v !== 'number' || !Number.isFinite(v)) fail('E_ARGUMENT', `arange: ${describeValue(v)} is not a finite number`);
  if (step === 0) fail('E_ARGUMENT', 'arange: step must not be 0');
  const dtype = options.dtype ?? ([start, end, step].every(Number.isInteger) ? 'int32' : 'float32');
  checkDType(dtype, 'arange');
  if (dtype === 'bool') fail('E_DTYPE', 'arange: bool is not a numeric dtype');
  if (isInt(dtype) && ![start, step].every(Number.isInteger)) fail('E_ARGUMENT', `arange: fractional start or step for ${dtype}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const last = start + (n - 1) * step;
  if (n > 0 && isInt(dtype) && !(holdsNumber(dtype, start) && holdsNumber(dtype, last)))
    fail('E_ARGUMENT', `arange: values from ${start} to ${last} do not fit ${dtype} (${integerRange(dtype)}); ask for a wider dtype`);
  const t = empty([n], dtype, defaultDevice(options), 'arange');
  runInto('Range', [], [t], { start, delta: step });
  return t;
}

// ---- random ------------------------------------------------------------------------------------

export interface RandomOptions extends CreateOptions {
  /** A non-negative integer (< 2^64); the same seed gives the same numbers on every device. */
  seed?: number | bigint;
}
const RANDOM_KEYS = [...CREATE_KEYS, 'seed'] as const;

let globalState = BigInt(Math.floor(Math.random() * 2 ** 52));

/** Seeds the generator that rand/randn use when no seed is given. */
export function manualSeed(seed: number | bigint): void {
  globalState = toSeed(seed);
}

function toSeed(seed: number | bigint): bigint {
  const s = typeof seed === 'bigint' ? seed : Number.isSafeInteger(seed) && seed >= 0 ? BigInt(seed) : -1n;
  if (s < 0n || s >= 1n << 64n) fail('E_ARGUMENT', `seed must be an integer in [0, 2^64), got ${describeValue(seed)}`);
  return s;
}

function nextSeed(): bigint {
  // splitmix64: every call without a seed gets a fresh, well-mixed one
  globalState = (globalState + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
  let z = globalState;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
  return z ^ (z >> 31n);
}

function random(op: 'RandomUniform' | 'RandomNormal', shape: readonly number[], options: RandomOptions, attrs: Record<string, number>): Tensor {
  const dtype = checkDType(options.dtype ?? 'float32', op);
  if (!isFloat(dtype)) fail('E_DTYPE', `${op === 'RandomUniform' ? 'rand' : 'randn'}: dtype must be a float type, got ${dtype}`);
  const s = checkShape(shape, op);
  const seed = options.seed === undefined ? nextSeed() : toSeed(options.seed);
  const device = defaultDevice(options);
  const { backend } = resolveDevice(device);
  const target = backend.supports(op, [dtype]) ? device : 'cpu';
  const t = empty(s, dtype, target, op === 'RandomUniform' ? 'rand' : 'randn');
  runInto(op, [], [t], { ...attrs, seed_lo: Number(seed & 0xffffffffn), seed_hi: Number(seed >> 32n) });
  if (target === device) return t;
  try {
    return t.to(device);
  } finally {
    t.dispose();
  }
}

/** Uniform random numbers in [low, high) (default [0, 1)). */
export function rand(shape: readonly number[], options?: RandomOptions & { low?: number; high?: number }): Tensor {
  options = optionsArg('rand', options, [...RANDOM_KEYS, 'low', 'high']);
  return random('RandomUniform', shape, options, { low: options.low ?? 0, high: options.high ?? 1 });
}

/** Normal random numbers (default mean 0, std 1). */
export function randn(shape: readonly number[], options?: RandomOptions & { mean?: number; std?: number }): Tensor {
  options = optionsArg('randn', options, [...RANDOM_KEYS, 'mean', 'std']);
  return random('RandomNormal', shape, options, { mean: options.mean ?? 0, std: options.std ?? 1 });
}

export type { Shape };
