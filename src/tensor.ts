import { constants } from 'node:buffer';
import type { Backend, TensorView } from './backends/backend.js';
import { itemSize, storageArray, type DataArray, type DType } from './dtype.js';
import { describeValue, intListArg } from './args.js';
import { checkJsHeap } from './host-memory.js';
import { fail } from './errors.js';
import { tryNative } from './native.js';
import { checkFaults } from './faults.js';
import { Storage, track, untrack } from './lifetime.js';
import { checkRank, contiguousStrides, fmtShape, isContiguous, normalizeAxis, numel, type Shape } from './shape.js';

/** Nested JS arrays as `toArray()` returns them. */
export type NestedArray = number | boolean | NestedArray[];

// Ops the Tensor class needs but that live in src/ops (they import this file). Filled in by
// src/ops/index.ts at load, so tensor.ts stays free of device logic.
export const tensorOps = {} as {
  cast(x: Tensor, dtype: DType): Tensor;
  copy(x: Tensor, device: string): Tensor;
};

/**
 * A typed, shaped, strided view of a device buffer. Views (reshape, permute, slice, expand, ...)
 * share the buffer without copying; each Tensor is one reference to it, released by dispose().
 */
export class Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** In elements. */
  readonly strides: readonly number[];
  /** Element offset of [0, ..., 0] in the buffer. */
  readonly offset: number;
  #storage: Storage | undefined;
  readonly #token = {};

  /** @internal Use the creation functions (kiln.tensor, kiln.zeros, ...) instead. */
  constructor(storage: Storage, dtype: DType, shape: Shape, strides: Shape, offset: number, tracked = true) {
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze([...strides]);
    this.offset = offset;
    storage.retain();
    this.#storage = storage;
    if (tracked) track(this, storage, this.#token);
  }

  /** 'cpu', 'cuda:0', 'webgpu:0' */
  get device(): string {
    return this.storageFor('device').deviceId;
  }
  get rank(): number {
    return this.shape.length;
  }
  /** Number of elements. */
  get size(): number {
    return numel(this.shape);
  }
  get disposed(): boolean {
    return this.#storage === undefined;
  }
  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /** @internal The live storage, or E_DISPOSED naming the op that wanted it. */
  storageFor(op: string): Storage {
    const s = this.#storage;
    if (!s) fail('E_DISPOSED', `${op}: tensor ${this.describe()} was disposed`);
    return s;
  }

  /** @internal */
  backendFor(op: string): Backend {
    return this.storageFor(op).backend;
  }

  /** @internal What a kernel receives. */
  view(op: string): TensorView {
    return { buffer: this.storageFor(op).buffer, offset: this.offset, shape: this.shape, strides: this.strides, dtype: this.dtype };
  }

  /** "float32[2, 3] on cpu" */
  describe(): string {
    return `${this.dtype}${fmtShape(this.shape)}${this.#storage ? ` on ${this.#storage.deviceId}` : ' (disposed)'}`;
  }

  toString(): string {
    return `Tensor(${this.describe()})`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /** Releases this tensor's reference to its buffer; the buffer is freed after queued work on it. Idempotent. */
  dispose(): void {
    const s = this.#storage;
    if (!s) return;
    this.#storage = undefined;
    untrack(this.#token);
    s.release();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- views (no copy) ---------------------------------------------------------------------------

  /** @internal A new reference to the same buffer with another layout. */
  withLayout(op: string, shape: Shape, strides: Shape, offset = this.offset, dtype = this.dtype): Tensor {
    checkRank(op, shape);
    return new Tensor(this.storageFor(op), dtype, shape, strides, offset);
  }

  /** Same data, new shape; one dim may be -1. A view when the layout allows, a copy otherwise. */
  reshape(shape: readonly number[]): Tensor {
    const target = inferShape('reshape', shape, this.size, this.shape);
    if (this.isContiguous) return this.withLayout('reshape', target, contiguousStrides(target));
    const c = this.contiguous();
    try {
      return c.reshape(target);
    } finally {
      c.dispose();
    }
  }

  /** Collapses dims start..end (inclusive) into one. */
  flatten(start = 0, end = -1): Tensor {
    if (this.rank === 0) return this.reshape([1]);
    const s = normalizeAxis('flatten', start, this.rank);
    const e = normalizeAxis('flatten', end, this.rank);
    if (e < s) fail('E_ARGUMENT', `flatten: end axis ${describeValue(end)} comes before start axis ${describeValue(start)}`);
    const mid = this.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
    return this.reshape([...this.shape.slice(0, s), mid, ...this.shape.slice(e + 1)]);
  }

  /** Reorders dims: result dim i is this dim dims[i]. */
  permute(dims: readonly number[]): Tensor {
    const norm = intListArg('permute', 'dims', dims).map((d) => normalizeAxis('permute', d, this.rank));
    if (norm.length !== this.rank || new Set(norm).size !== norm.length)
      fail('E_ARGUMENT', `permute: [${dims.join(', ')}] is not a permutation of the ${this.rank} dims of ${this.describe()}`);
    return this.withLayout('permute', norm.map((d) => this.shape[d]), norm.map((d) => this.strides[d]));
  }

  /** Swaps two dims (the last two by default). */
  transpose(dim0 = -2, dim1 = -1): Tensor {
    if (this.rank < 2 && dim0 === -2 && dim1 === -1) return this.withLayout('transpose', this.shape, this.strides);
    const a = normalizeAxis('transpose', dim0, this.rank), b = normalizeAxis('transpose', dim1, this.rank);
    const order = [...Array(this.rank).keys()];
    [order[a], order[b]] = [order[b], order[a]];
    return this.permute(order);
  }

  /**
   * Python-style slice of one dim: start, end (exclusive) and step, negatives counting from the
   * end, clamped like NumPy. A negative step walks backwards.
   */
  slice(dim: number, start?: number, end?: number, step = 1): Tensor {
    const d = normalizeAxis('slice', dim, this.rank);
    if (!Number.isInteger(step) || step === 0) fail('E_ARGUMENT', `slice: step must be a non-zero integer, got ${describeValue(step)}`);
    for (const [n, v] of [['start', start], ['end', end]] as const)
      if (v !== undefined && !Number.isInteger(v)) fail('E_ARGUMENT', `slice: ${n} must be an integer, got ${describeValue(v)}`);
    const n = this.shape[d];
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    let b: number, e: number;
    if (step > 0) {
      b = start === undefined ? 0 : clamp(start < 0 ? start + n : start, 0, n);
      e = end === undefined ? n : clamp(end < 0 ? end + n : end, 0, n);
    } else {
      b = start === undefined ? n - 1 : clamp(start < 0 ? start + n : start, -1, n - 1);
      e = end === undefined ? -1 : clamp(end < 0 ? end + n : end, -1, n - 1);
    }
    const len = step > 0 ? Math.max(0, Math.ceil((e - b) / step)) : Math.max(0, Math.ceil((b - e) / -step));
    const shape = [...this.shape];
    const strides = [...this.strides];
    shape[d] = len;
    strides[d] = this.strides[d] * step;
    const offset = len === 0 ? this.offset : this.offset + b * this.strides[d];
    return this.withLayout('slice', shape, strides, offset);
  }

  /** Broadcast view: size-1 dims (and new leading dims) repeat with stride 0; -1 keeps a dim. */
  expand(shape: readonly number[]): Tensor {
    intListArg('expand', 'shape', shape);
    if (shape.length < this.rank)
      fail('E_SHAPE', `expand: cannot expand ${this.describe()} to fewer dims ${fmtShape(shape)}`);
    const lead = shape.length - this.rank;
    const outShape: number[] = [], outStrides: number[] = [];
    shape.forEach((want, i) => {
      const src = i - lead;
      const have = src >= 0 ? this.shape[src] : 1;
      const size = want === -1 && src >= 0 ? have : want;
      if (!Number.isInteger(size) || size < 0) fail('E_SHAPE', `expand: invalid size ${describeValue(want)} in ${fmtShape(shape)}`);
      if (src >= 0 && have === size) {
        outShape.push(size);
        outStrides.push(this.strides[src]);
      } else if (have === 1) {
        outShape.push(size);
        outStrides.push(0);
      } else fail('E_SHAPE', `expand: cannot expand ${this.describe()} to ${fmtShape(shape)} (dim ${i}: ${have} -> ${size})`);
    });
    return this.withLayout('expand', outShape, outStrides);
  }

  /**
   * @internal This tensor broadcast to `shape`, for an op front end's own use (src/ops/temps.ts):
   * outside kiln.scope and the safety net, so its maker must dispose it. `shape` comes from
   * broadcastShapes; a shape this tensor cannot broadcast to is still refused.
   */
  broadcastView(op: string, shape: Shape): Tensor {
    const lead = shape.length - this.rank;
    let fits = lead >= 0;
    const strides = shape.map((want, i) => {
      if (i < lead) return 0;
      const have = this.shape[i - lead];
      if (have === want) return this.strides[i - lead];
      if (have !== 1) fits = false;
      return 0;
    });
    if (!fits) fail('E_SHAPE', `${op}: cannot broadcast ${this.describe()} to ${fmtShape(shape)}`);
    checkRank(op, shape);
    return new Tensor(this.storageFor(op), this.dtype, shape, strides, this.offset, false);
  }

  /** Removes size-1 dims (all of them, or those named). */
  squeeze(axes?: number | readonly number[]): Tensor {
    const list = axes === undefined ? this.shape.map((s, i) => (s === 1 ? i : -1)).filter((i) => i >= 0)
      : (typeof axes === 'number' ? [axes] : intListArg('squeeze', 'axes', axes)).map((a) => normalizeAxis('squeeze', a, this.rank));
    for (const a of list) if (this.shape[a] !== 1) fail('E_SHAPE', `squeeze: dim ${a} of ${this.describe()} has size ${this.shape[a]}, not 1`);
    const keep = (_: number, i: number) => !list.includes(i);
    return this.withLayout('squeeze', this.shape.filter(keep), this.strides.filter(keep));
  }

  /** Inserts a size-1 dim at `axis` (in the result's numbering). */
  unsqueeze(axis: number): Tensor {
    const a = normalizeAxis('unsqueeze', axis, this.rank + 1);
    const shape = [...this.shape], strides = [...this.strides];
    const stride = a < this.rank ? this.shape[a] * this.strides[a] : 1;
    shape.splice(a, 0, 1);
    strides.splice(a, 0, stride);
    return this.withLayout('unsqueeze', shape, strides);
  }

  /** A contiguous tensor with the same values: a view when already contiguous, else a copy. */
  contiguous(): Tensor {
    if (this.isContiguous) return this.withLayout('contiguous', this.shape, this.strides);
    return tensorOps.cast(this, this.dtype);
  }

  /** A contiguous copy with its own buffer. */
  clone(): Tensor {
    return tensorOps.cast(this, this.dtype);
  }

  /** The same values on another device (a new reference when it is already there). */
  to(device: string): Tensor {
    return tensorOps.copy(this, device);
  }

  // ---- reading back (the sync points) --------------------------------------------------------------

  /**
   * The values in row-major order. float16/bfloat16 widen to Float32Array, bool is 0/1 in a
   * Uint8Array, int64 is a BigInt64Array. Resolves when the device has finished the work before it,
   * and rejects with the KilnError of any device failure since the last sync point, or of an index out
   * of range found in computing these values (a data fault, src/faults.ts).
   */
  async data(): Promise<DataArray> {
    this.storageFor('data');
    if (this.size > MAX_LENGTH) fail('E_ARGUMENT', `data: ${this.describe()} has ${this.size} elements, more than one JS typed array holds (${MAX_LENGTH}); read it in slices`);
    const half = this.dtype === 'float16' || this.dtype === 'bfloat16';
    const src = half ? tensorOps.cast(this, 'float32') : this.contiguous();
    try {
      const out = readTarget(src);
      await src.readInto(out, 'data');
      return out;
    } finally {
      src.dispose();
    }
  }

  /**
   * @internal The one read-back of elements (a sync point of the device): this contiguous tensor's
   * elements as raw bytes into `out`; rejects with a device failure or with the data faults of these
   * values (src/faults.ts).
   */
  async readInto(out: ArrayBufferView, op: string): Promise<void> {
    const s = this.storageFor(op);
    const faults = s.faults; // the lineage as of this read: later writes do not concern it
    if (out.byteLength > 0) await s.backend.read(s.buffer, out, this.offset * itemSize(this.dtype));
    else await s.backend.sync(s.buffer.device);
    await checkFaults(faults);
  }

  /** Nested JS arrays (numbers; booleans for bool). int64 values beyond 2^53 throw E_ARGUMENT: use data(). */
  async toArray(): Promise<NestedArray> {
    const flat = await this.data();
    const values: (number | boolean)[] = new Array(flat.length);
    if (flat instanceof BigInt64Array) {
      flat.forEach((v, i) => {
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
          fail('E_ARGUMENT', `toArray: int64 value ${v} is not exactly representable as a number; use data()`);
        values[i] = Number(v);
      });
    } else if (this.dtype === 'bool') flat.forEach((v, i) => (values[i] = v !== 0));
    else (flat as Float32Array).forEach((v, i) => (values[i] = v));
    return nest(values, this.shape);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number | boolean> {
    if (this.size !== 1) fail('E_SHAPE', `item: needs exactly one element, ${this.describe()} has ${this.size}`);
    let v = await this.toArray();
    while (Array.isArray(v)) v = v[0];
    return v;
  }
}

const { MAX_LENGTH } = constants;
/** Reads of this many bytes and more land in memory from the addon's allocator. */
const LARGE_READ = 4 << 20;

/**
 * The array a read of `t` lands in. Large ones come from the addon's allocator (native/buffer.h):
 * it refuses with E_OOM a request the host cannot hold, where a JS array would be overcommitted and
 * the process killed on first touch, and its huge pages fill faster.
 */
function readTarget(t: Tensor): DataArray {
  const bytes = t.size * itemSize(t.dtype);
  const addon = bytes >= LARGE_READ ? tryNative() : undefined;
  if (addon && bytes > addon.hostArrayMax) addon.checkHostMemory(bytes, 'data');
  const external = addon && bytes <= addon.hostArrayMax ? addon.hostArray(bytes) : undefined;
  return storageArray(t.dtype, t.size, external) as DataArray;
}

function nest(values: (number | boolean)[], shape: Shape): NestedArray {
  if (shape.length === 0) return values[0];
  // the nested arrays, checked against the JS heap (about 64 bytes each): an empty tensor's leading
  // dims cost no data, and [2^40, 0] as 2^40 empty arrays ran the process out of JS heap
  let arrays = 0;
  for (let d = 1; d < shape.length; ++d) arrays += numel(shape.slice(0, d));
  checkJsHeap(arrays * 64, `toArray: ${fmtShape(shape)} nests ${arrays} arrays (read it with data())`);
  let level: NestedArray[] = values;
  for (let d = shape.length - 1; d >= 1; --d) {
    const n = shape[d];
    const next: NestedArray[] = [];
    for (let i = 0; i < level.length; i += n) next.push(level.slice(i, i + n));
    if (n === 0) for (let i = 0; i < numel(shape.slice(0, d)); ++i) next.push([]);
    level = next;
  }
  return level;
}

/** Resolves one -1 and checks the element count. */
/** `v` itself when it is a Tensor; otherwise E_ARGUMENT naming the op, the argument and the value. */
export function checkTensor(op: string, v: unknown, what = 'input'): Tensor {
  if (!(v instanceof Tensor)) fail('E_ARGUMENT', `${op}: ${what} must be a Tensor, got ${describeValue(v)}`);
  return v;
}

export function inferShape(op: string, shape: readonly number[], size: number, from: Shape): number[] {
  if (!Array.isArray(shape)) fail('E_SHAPE', `${op}: shape must be an array`);
  const out = [...shape];
  const free = out.indexOf(-1);
  if (out.indexOf(-1, free + 1) !== -1 && free !== -1) fail('E_SHAPE', `${op}: only one dim may be -1 in ${fmtShape(shape)}`);
  // safe integers, as every shape Kiln makes (checkShape): 1e20 is an integer to JavaScript, and a
  // reshape of 0 elements to [1, 1e20, 0] ran on webgpu where the cpu refused it (fuzz seed 5800)
  for (const d of out) if (!Number.isSafeInteger(d) || d < -1) fail('E_SHAPE', `${op}: invalid dim ${describeValue(d)} in ${fmtShape(shape)}`);
  if (free !== -1) {
    const rest = out.reduce((a, d, i) => (i === free ? a : a * d), 1);
    if (rest === 0 || size % rest !== 0) fail('E_SHAPE', `${op}: cannot infer -1 in ${fmtShape(shape)} for ${size} elements from ${fmtShape(from)}`);
    out[free] = size / rest;
  }
  if (numel(out) !== size) fail('E_SHAPE', `${op}: ${fmtShape(from)} (${size} elements) cannot become ${fmtShape(shape)}`);
  return out;
}
