import type { DType } from '../dtype.js';
import { describeValue, optionsArg } from '../args.js';
import { fail } from '../errors.js';
import type { Fault } from '../faults.js';

export type BackendKind = 'cpu' | 'cuda' | 'webgpu';
export const BACKEND_KINDS: readonly BackendKind[] = ['cpu', 'cuda', 'webgpu'];

/** One device a backend can run on. */
export interface DeviceInfo {
  /** 'cpu', 'cuda:0', 'webgpu:0' */
  id: string;
  kind: BackendKind;
  index: number;
  name: string;
  /** Total memory in bytes where the backend knows it. */
  memory?: number;
  /** Backend-specific details shown by `kiln info`. */
  details: Record<string, unknown>;
}

/** A backend's buffer. Backends put their own handle inside; the front end treats it as opaque. */
export interface BufferHandle {
  readonly device: number;
  readonly nbytes: number;
  /**
   * (optional; the CUDA backend provides it) The buffer's raw device address and the cudaStream_t of
   * its device's compute queue, both as BigInts, for libraries that enqueue on that stream themselves
   * (NCCL, src/distributed/nccl-group.ts). Work they enqueue there is ordered with Kiln's kernels.
   */
  deviceAddress?(): { pointer: bigint; stream: bigint };
}

/** What a kernel receives: a strided view of a buffer. `offset` and `strides` count elements. */
export interface TensorView {
  buffer: BufferHandle;
  offset: number;
  shape: readonly number[];
  strides: readonly number[];
  dtype: DType;
}

/** The most dims a kernel's view may have (the native kernels' limit, kMaxRank). */
export const MAX_VIEW_RANK = 16;

/**
 * E_ARGUMENT unless `v` has at most MAX_VIEW_RANK dims and every element it can reach lies inside
 * its buffer: a wrong view is refused at launch rather than read or written wild (the native
 * backends check the same in addon.cc, with the same messages).
 */
export function checkLaunchView(v: TensorView, itemBytes: number): void {
  if (v.shape.length > MAX_VIEW_RANK) fail('E_ARGUMENT', `launch: bad rank (at most ${MAX_VIEW_RANK} dims) in the view descriptor`);
  let lo = v.offset, hi = v.offset;
  for (let i = 0; i < v.shape.length; ++i) {
    if (v.shape[i] === 0) return;
    const span = (v.shape[i] - 1) * v.strides[i];
    if (span < 0) lo += span;
    else hi += span;
  }
  if (lo < 0 || (hi + 1) * itemBytes > v.buffer.nbytes)
    fail('E_ARGUMENT', `a view reaches outside its buffer (elements ${lo}..${hi} of a ${v.buffer.nbytes}-byte buffer)`);
}

export type Attrs = Record<string, number | boolean | string | readonly number[] | undefined>;

/** Device-side timing for benchmarks: elapsed milliseconds of the work enqueued between start and stop. */
export interface DeviceTimer {
  start(): void;
  stop(): Promise<number>;
}

/**
 * THE backend contract. Every call except `read` and `sync` only enqueues work on the device's
 * ordered queue and returns at once; `read` and `sync` are the sync points, and they reject with
 * the KilnError of any failure that happened on the device since the previous sync point (except a
 * data fault, which `run` settles instead).
 */
export interface Backend {
  readonly kind: BackendKind;
  /** Empty when the backend is unavailable; `reason()` says why. */
  devices(): DeviceInfo[];
  reason(): string | undefined;
  alloc(device: number, nbytes: number): BufferHandle;
  /** Stream-ordered: work already queued on the buffer completes first. */
  free(buf: BufferHandle): void;
  write(buf: BufferHandle, src: ArrayBufferView, byteOffset?: number): void;
  read(buf: BufferHandle, dst: ArrayBufferView, byteOffset?: number): Promise<void>;
  /**
   * (optional) Queues a write of the first `nbytes` of `buf` with bytes that arrive later (another
   * device's read-back, for Tensor.to): work queued after it sees them, and the JS thread never
   * waits. A rejected `bytes` becomes the error of the device's next sync point.
   */
  writeLater?(buf: BufferHandle, nbytes: number, bytes: Promise<Uint8Array>): void;
  /**
   * Enqueue an op from kernels/OPS.md. Throws synchronously on what it can check at once. `fault`
   * (ops that check the values they read, faults.ts) is settled by the device's next sync point: failed
   * with the error the op found, else passed.
   */
  run(op: string, inputs: TensorView[], outputs: TensorView[], attrs: Attrs, fault?: Fault): void;
  supports(op: string, dtypes: DType[]): boolean;
  sync(device: number): Promise<void>;
  /** (optional) device-side timing for benchmarks */
  timer?(device: number): DeviceTimer;
  /** (optional) bytes the backend holds per device, for kiln.memory() */
  memoryInfo?(): Record<string, unknown>;
  /**
   * (optional) finds devices that can only be found asynchronously (WebGPU adapters); devices() is
   * empty until it resolves. `required`: reject when no device can be had instead of recording why.
   */
  init?(options?: Record<string, unknown>, required?: boolean): Promise<void>;
}

const registry = new Map<BackendKind, () => Backend>();
const instances = new Map<BackendKind, Backend>();

/** Backends register a lazy factory; the backend is created on first use. */
export function registerBackend(kind: BackendKind, factory: () => Backend): void {
  registry.set(kind, factory);
  instances.delete(kind);
}

export function backend(kind: BackendKind): Backend | undefined {
  let b = instances.get(kind);
  if (!b) {
    const f = registry.get(kind);
    if (!f) return undefined;
    b = f();
    instances.set(kind, b);
  }
  return b;
}

/** Options of kiln.init(): per-backend options, and the backends that must come up. */
export interface InitOptions {
  webgpu?: { powerPreference?: 'high-performance' | 'low-power'; autotune?: boolean };
  /** Reject unless these backends have a device (otherwise an absent backend only records why). */
  require?: BackendKind[];
}

/**
 * Prepares the backends whose devices are found asynchronously (WebGPU); idempotent, and cheap once
 * done. Before it resolves, 'webgpu:N' devices do not exist.
 */
export async function initBackends(options?: InitOptions): Promise<void> {
  options = optionsArg('init', options, ['webgpu', 'require']);
  optionsArg('init: webgpu', options.webgpu, ['powerPreference', 'autotune']);
  const kinds = options.require ?? [];
  if (!Array.isArray(kinds) || kinds.some((k) => !BACKEND_KINDS.includes(k)))
    fail('E_ARGUMENT', `init: require must be an array of backend kinds (${BACKEND_KINDS.join(', ')}), got ${describeValue(kinds)}`);
  const required = new Set(kinds);
  for (const k of BACKEND_KINDS) {
    const b = backend(k);
    if (b?.init) await b.init(options[k as 'webgpu'] as Record<string, unknown> | undefined, required.has(k));
  }
}

/** Why a backend kind has no devices ('not built into this version' when nothing registered it). */
export function backendReason(kind: BackendKind): string | undefined {
  const b = backend(kind);
  if (!b) return `the ${kind} backend is not part of this version of Kiln`;
  return b.devices().length ? undefined : b.reason() ?? `no ${kind} devices found`;
}

/** Every device of every available backend, cpu first. */
export function listDevices(): DeviceInfo[] {
  return BACKEND_KINDS.flatMap((k) => backend(k)?.devices() ?? []);
}

/** Parses 'cpu', 'cuda', 'cuda:1', 'webgpu:0' into a backend and device index, or throws E_DEVICE. */
export function resolveDevice(spec: string): { backend: Backend; index: number; id: string } {
  const m = typeof spec === 'string' ? /^(cpu|cuda|webgpu)(?::(\d+))?$/.exec(spec) : null;
  if (!m) fail('E_DEVICE', `unknown device ${describeValue(spec)}; expected 'cpu', 'cuda[:N]' or 'webgpu[:N]'`);
  const kind = m[1] as BackendKind;
  const index = m[2] === undefined ? 0 : Number(m[2]);
  const b = backend(kind);
  const devs = b?.devices() ?? [];
  if (!b || index >= devs.length) {
    const why = backendReason(kind) ?? `it has ${devs.length} device(s)`;
    // The cpu device exists whenever the native addon loads, so its absence is E_NATIVE (the addon is
    // not built or failed to load), not a missing device.
    fail(kind === 'cpu' && b && devs.length === 0 ? 'E_NATIVE' : 'E_DEVICE', `device '${spec}' is not available: ${why}`);
  }
  return { backend: b, index, id: devs[index].id };
}

/** KILN_REQUIRE=cuda,webgpu: the backends a test run or service insists on. */
export function requiredBackends(env = process.env.KILN_REQUIRE): BackendKind[] {
  if (!env) return [];
  return env
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      if (!BACKEND_KINDS.includes(s as BackendKind)) fail('E_ARGUMENT', `KILN_REQUIRE: unknown backend '${s}'`);
      return s as BackendKind;
    });
}
