// Random calls for the fuzz tests (test/fuzz.test.ts): any JS value where the API expects a tensor,
// a shape, an axis, an option; and ONNX models mutated byte by byte or field by field.
import * as kiln from '../../src/index.js';
import { onnx } from '../../src/onnx/proto.js';
import type { Rng } from './random.js';

const pick = <T>(rng: Rng, list: readonly T[]): T => list[rng.int(0, list.length - 1)];

const NUMBERS = [0, 1, -1, 2, 3, -2, -3, 0.5, 1.5, 7, 100, NaN, Infinity, -Infinity, 1e20, -1e20, 2 ** 31, 2 ** 53 + 2, -0];
const cyclic = (): unknown[] => {
  const c: unknown[] = [1];
  c.push(c);
  return c;
};
const ODD_VALUES = (): unknown[] => [undefined, null, 'x', true, {}, [], -1n, 2n ** 70n, Symbol('s'), () => 1, new Float32Array(3), cyclic(), 'cpu', 'webgpu:0', 'cuda:0', 'tpu'];
const OPTION_KEYS = ['axis', 'axes', 'keepdims', 'dtype', 'device', 'correction', 'epsilon', 'scale', 'bias', 'approximate', 'mode', 'value', 'transA', 'transB', 'alpha', 'beta', 'c', 'precision', 'impl', 'shape', 'activation', 'largest', 'descending', 'low', 'high', 'mean', 'std', 'seed', 'op', 'root', 'tag', 'timeoutMs'];

// The options each entry point takes. Calls reject any other key (E_ARGUMENT), so options drawn from
// OPTION_KEYS alone would almost never reach a call's option values; most are drawn from these.
const REDUCE = ['axes', 'keepdims'], CREATE = ['dtype', 'device'];
const OPTIONS_OF: Record<string, readonly string[]> = {
  sum: REDUCE, mean: REDUCE, prod: REDUCE, max: REDUCE, min: REDUCE, '.sum': REDUCE, variance: [...REDUCE, 'correction'],
  argmax: ['axis', 'keepdims'], argmin: ['axis', 'keepdims'], topk: ['axis', 'largest'], '.topk': ['axis', 'largest'], sort: ['axis', 'descending'], argsort: ['axis', 'descending'], gelu: ['approximate'], pad: ['mode', 'value'], '.pad': ['mode', 'value'],
  layerNorm: ['axis', 'scale', 'bias', 'epsilon'], rmsNorm: ['axis', 'scale', 'epsilon'], matmul: ['precision', 'impl'], gridSample: ['mode', 'padding', 'alignCorners'],
  '.matmul': ['precision', 'impl'], gemm: ['c', 'alpha', 'beta', 'transA', 'transB', 'precision', 'impl'],
  tensor: [...CREATE, 'shape'], full: CREATE, zeros: CREATE, ones: CREATE, arange: CREATE, zerosLike: CREATE, onesLike: CREATE,
  fullLike: CREATE, rand: [...CREATE, 'seed', 'low', 'high'], randn: [...CREATE, 'seed', 'mean', 'std'],
  allReduce: ['op', 'timeoutMs'], broadcast: ['root', 'timeoutMs'], reduce: ['root', 'op', 'timeoutMs'], allGather: ['timeoutMs'],
  reduceScatter: ['op', 'timeoutMs'], allToAll: ['timeoutMs'], send: ['tag', 'timeoutMs'], recv: ['tag', 'timeoutMs'], barrier: ['timeoutMs'],
};

/** Every public function and Tensor method (a leading '.') the API fuzz calls. */
export const ENTRY_POINTS = [
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'mod', 'equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual',
  'logicalAnd', 'logicalOr', 'logicalXor', 'logicalNot', 'bitwiseAnd', 'bitwiseOr', 'bitwiseXor', 'bitwiseNot', 'leftShift', 'rightShift', 'neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'reciprocal', 'sin', 'cos', 'tanh',
  'tan', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'asinh', 'acosh', 'atanh',
  'sigmoid', 'relu', 'erf', 'silu', 'floor', 'ceil', 'round', 'sign', 'leakyRelu', 'gelu', 'clip', 'where', 'sum', 'mean', 'prod', 'max',
  'min', 'variance', 'argmax', 'argmin', 'topk', 'sort', 'argsort', 'softmax', 'logSoftmax', 'layerNorm', 'rmsNorm', 'matmul', 'gemm', 'gridSample', 'cast', 'copyTo', 'concat',
  'stack', 'split', 'gather', 'pad', 'tile', 'tensor', 'full', 'zeros', 'ones', 'arange', 'rand', 'randn', 'zerosLike', 'onesLike',
  'fullLike', 'broadcastShapes', 'promoteTypes',
  '.reshape', '.flatten', '.permute', '.transpose', '.slice', '.expand', '.squeeze', '.unsqueeze', '.contiguous', '.clone', '.to',
  '.toArray', '.item', '.data', '.add', '.matmul', '.sum', '.cast', '.gather', '.pad', '.split', '.softmax', '.topk',
] as const;

/** Every method of a process group (kiln.distributed) the fuzz calls. */
export const GROUP_METHODS = ['allReduce', 'broadcast', 'reduce', 'allGather', 'reduceScatter', 'allToAll', 'send', 'recv', 'barrier', 'newGroup'] as const;

/** A random tensor on `device`: any dtype, rank 0-4 with some empty dims, sometimes a strided view. */
export const randomTensor = (rng: Rng, device: string): kiln.Tensor => randomTensors(rng, [device])[0];

/** One random tensor (as randomTensor draws it) made on each of `devices`: same dtype, values and view. */
export function randomTensors(rng: Rng, devices: readonly string[]): kiln.Tensor[] {
  const dtype = pick(rng, kiln.DTYPES);
  const shape = Array.from({ length: rng.int(0, 4) }, () => (rng.next() < 0.1 ? 0 : rng.int(1, 4)));
  const n = shape.reduce((a, b) => a * b, 1);
  const value = () => (dtype === 'bool' ? rng.next() < 0.5 : dtype === 'uint8' ? rng.int(0, 255) : dtype.startsWith('int') ? rng.int(-5, 5) : rng.uniform(-4, 4));
  const values = Array.from({ length: n }, value);
  const r = rng.next();
  return devices.map((device) => {
    const t = kiln.tensor(dtype === 'int64' ? values.map((v) => BigInt(v as number)) : (values as number[]), { dtype, device, shape });
    let view: kiln.Tensor | undefined;
    if (r < 0.15 && shape.length >= 2) view = t.transpose();
    else if (r < 0.25 && shape.length >= 1 && shape[0] > 1) view = t.slice(0, 0, shape[0], 2);
    else if (r < 0.3) view = t.unsqueeze(0).expand([3, ...t.shape]);
    if (!view) return t;
    t.dispose();
    return view;
  });
}

/**
 * A random argument: often a tensor from `pool`, else a number, a list, a dtype, an odd value,
 * options (mostly with the keys `call` takes) or a list of those.
 */
export function randomArg(rng: Rng, pool: readonly kiln.Tensor[], depth = 0, call?: string): unknown {
  const r = rng.next();
  if (r < 0.45) return pick(rng, pool);
  if (r < 0.6) return pick(rng, NUMBERS);
  if (r < 0.72) return Array.from({ length: rng.int(0, 4) }, () => (rng.next() < 0.8 ? rng.int(-3, 3) : pick(rng, NUMBERS)));
  if (r < 0.78) return pick(rng, kiln.DTYPES);
  if (r < 0.84 || depth >= 2) return pick(rng, ODD_VALUES());
  if (r < 0.92) {
    const keys = call && OPTIONS_OF[call] && rng.next() < 0.85 ? OPTIONS_OF[call] : OPTION_KEYS;
    return Object.fromEntries(Array.from({ length: rng.int(1, 3) }, () => [pick(rng, keys), randomArg(rng, pool, depth + 1)]));
  }
  return Array.from({ length: rng.int(0, 3) }, () => (rng.next() < 0.6 ? pick(rng, pool) : randomArg(rng, pool, depth + 1)));
}

/** One random call: the entry point and its arguments (the receiver first for a method). */
export function randomCall(rng: Rng, pool: readonly kiln.Tensor[]): { name: string; args: unknown[] } {
  const name = pick(rng, ENTRY_POINTS);
  const args = Array.from({ length: rng.int(0, 3) }, (_, i) => (i === 0 && rng.next() < 0.8 ? pick(rng, pool) : randomArg(rng, pool, 0, name)));
  return { name, args };
}

/** Makes the call; a method on a receiver that is not a tensor is skipped (undefined). */
export function invoke(name: string, args: unknown[]): unknown {
  if (!name.startsWith('.')) return (kiln as unknown as Record<string, (...a: unknown[]) => unknown>)[name](...args);
  const [self, ...rest] = args;
  if (!(self instanceof kiln.Tensor)) return undefined;
  return (self as unknown as Record<string, (...a: unknown[]) => unknown>)[name.slice(1)](...rest);
}

/** A call as text for a failure message. */
export function describeCall(name: string, args: unknown[]): string {
  const show = (v: unknown, depth = 0): string => {
    if (v instanceof kiln.Tensor) return v.disposed ? `${v.dtype}[${v.shape}] (disposed)` : v.describe();
    if (Array.isArray(v)) return depth > 2 ? '[...]' : `[${v.map((x) => show(x, depth + 1)).join(', ')}]`;
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'symbol' || typeof v === 'function') return typeof v;
    if (v && typeof v === 'object' && !ArrayBuffer.isView(v)) return `{${Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(', ')}}`;
    return String(v);
  };
  return `${name}(${args.map((a) => show(a)).join(', ')})`;
}

/** `args` with every tensor replaced by its counterpart in `mirror` (lists, options and cycles kept). */
export function mirrorArgs(v: unknown, mirror: ReadonlyMap<kiln.Tensor, kiln.Tensor>, seen = new Map<object, unknown>()): unknown {
  if (v instanceof kiln.Tensor) return mirror.get(v) ?? v;
  if (Array.isArray(v)) {
    if (seen.has(v)) return seen.get(v);
    const out: unknown[] = [];
    seen.set(v, out);
    for (const x of v) out.push(mirrorArgs(x, mirror, seen));
    return out;
  }
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mirrorArgs(x, mirror, seen)]));
  return v;
}

/** What a call came to: its error code, or its result with every tensor read back as numbers. */
export type Outcome = { error: string } | { value: unknown };

/** A result with every tensor read back as numbers (dtype, shape, values), for comparison. */
export async function settled(v: unknown): Promise<unknown> {
  if (v instanceof kiln.Tensor)
    // a result too large to compare element by element (arange(2^31)) is compared by dtype and shape
    return { dtype: v.dtype, shape: v.shape.join(','), values: v.size > 1 << 20 ? 'not read' : Array.from(await v.data(), Number) };
  if (Array.isArray(v)) return Promise.all(v.map(settled));
  // a record of tensors (topk's { values, indices })
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype)
    return Object.fromEntries(await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await settled(x)])));
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>, Number);
  return typeof v === 'bigint' ? Number(v) : v;
}

/** Makes the call and reads its result; a thrown or rejected KilnError is its code, anything else its name. */
export async function outcome(name: string, args: unknown[]): Promise<{ outcome: Outcome; result: unknown }> {
  try {
    let result = invoke(name, args);
    if (result instanceof Promise) result = await result;
    return { outcome: { value: await settled(result) }, result };
  } catch (e) {
    return { outcome: { error: e instanceof kiln.KilnError ? e.code : `not a KilnError: ${(e as Error)?.name}: ${(e as Error)?.message}` }, result: undefined };
  }
}

// Floats may differ by rounding: operation order (sums, matmul), and transcendental functions of a
// few ulp on each side; relative to the larger magnitude, or to 1 near 0.
const FLOAT_TOLERANCE: Partial<Record<string, number>> = { float32: 3e-5, float16: 3e-3, bfloat16: 2e-2 };

/** Where two outcomes differ (undefined when they agree): values within the dtype's rounding, NaN equal to NaN. */
export function outcomeDifference(a: unknown, b: unknown, dtype?: string): string | undefined {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)) || a === b) return undefined;
    const tol = dtype ? FLOAT_TOLERANCE[dtype] : undefined;
    if (tol !== undefined && Number.isFinite(a) && Number.isFinite(b) && Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b))) return undefined;
    return `${a} vs ${b}`;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${a.length} vs ${b.length} elements`;
    for (let i = 0; i < a.length; ++i) {
      const d = outcomeDifference(a[i], b[i], dtype);
      if (d) return `[${i}] ${d}`;
    }
    return undefined;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const within = (a as { dtype?: string }).dtype ?? dtype;
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = outcomeDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], within);
      if (d) return `${k}: ${d}`;
    }
    return undefined;
  }
  return a === b ? undefined : `${String(a)} vs ${String(b)}`;
}

const SHORT_STRINGS = ['', 'x', 'linear', 'nearest', 'tanh', 'constant', 'reflect', 'edge', 'NOTSET', 'VALID', 'SAME_UPPER'];
const DIMS = [0, 1, -1, 2, 3, 7, 1000, -1000, 2 ** 31 - 1, -(2 ** 31), 2 ** 40];

/**
 * One field of a decoded model changed: an attribute value, a node's input or op type, an
 * initializer's dims or type, a graph input's dim or type, a node dropped, or the opset.
 */
function mutateField(rng: Rng, bytes: Uint8Array, ops: readonly string[]): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  const g = m.graph!;
  const nodes = g.node ?? [];
  const node = nodes.length ? pick(rng, nodes) : undefined;
  const dim = () => pick(rng, DIMS);
  const r = rng.next();
  if (r < 0.3 && node?.attribute?.length) {
    const a = pick(rng, node.attribute);
    if (a.ints?.length) a.ints[rng.int(0, a.ints.length - 1)] = dim();
    else if (a.floats?.length) a.floats[rng.int(0, a.floats.length - 1)] = pick(rng, NUMBERS);
    else if (a.s?.length) a.s = new TextEncoder().encode(pick(rng, SHORT_STRINGS));
    else if (a.t?.dims?.length) a.t.dims[rng.int(0, a.t.dims.length - 1)] = dim();
    else if (a.type === onnx.AttributeProto.AttributeType.INT) a.i = dim();
    else if (a.type === onnx.AttributeProto.AttributeType.FLOAT) a.f = pick(rng, NUMBERS);
  } else if (r < 0.45 && node) {
    const names = ['', ...(g.input ?? []).map((v) => v.name!), ...(g.initializer ?? []).map((t) => t.name!), ...nodes.flatMap((n) => n.output ?? [])];
    if (rng.next() < 0.5 && node.input?.length) node.input[rng.int(0, node.input.length - 1)] = pick(rng, names);
    else node.opType = pick(rng, ops);
  } else if (r < 0.6 && g.initializer?.length) {
    const t = pick(rng, g.initializer);
    if (rng.next() < 0.5 && t.dims?.length) t.dims[rng.int(0, t.dims.length - 1)] = dim();
    else t.dataType = rng.int(0, 20);
  } else if (r < 0.8 && g.input?.length) {
    const tt = pick(rng, g.input).type?.tensorType;
    const dims = tt?.shape?.dim;
    if (tt && dims?.length && rng.next() < 0.5) {
      const d = pick(rng, dims);
      if (rng.next() < 0.5) Object.assign(d, { dimValue: dim(), dimParam: '' });
      else Object.assign(d, { dimValue: 0, dimParam: 'N' });
    } else if (tt) tt.elemType = rng.int(0, 20);
  } else if (node && rng.next() < 0.5) nodes.splice(nodes.indexOf(node), 1);
  else if (m.opsetImport?.length) m.opsetImport[0].version = pick(rng, [0, 1, 6, 11, 13, 17, 18, 21, 30]);
  return onnx.ModelProto.encode(m).finish();
}

/** A mutated copy of a model: mostly one to four field changes, else flipped, overwritten or truncated bytes. */
export function mutateModel(rng: Rng, bytes: Uint8Array, ops: readonly string[]): Uint8Array {
  if (rng.next() < 0.75) {
    let out = bytes;
    for (let k = rng.int(1, 4); k > 0; --k) out = mutateField(rng, out, ops);
    return out;
  }
  const m = Uint8Array.from(bytes);
  for (let k = rng.int(1, 4); k > 0; --k) {
    const r = rng.next(), i = rng.int(0, m.length - 1);
    if (r < 0.4) m[i] ^= 1 << rng.int(0, 7);
    else if (r < 0.7) m[i] = pick(rng, [0, 1, 0x7f, 0x80, 0xff, rng.int(0, 255)]);
    else if (r < 0.85) return m.subarray(0, i);
    else {
      const from = rng.int(0, m.length - 1);
      m.copyWithin(i, from, from + rng.int(1, 8));
    }
  }
  return m;
}
