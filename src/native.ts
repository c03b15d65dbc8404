import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError, fail } from './errors.js';

/** An opaque native buffer handle (a napi External). */
export type NativeHandle = { readonly __native: unique symbol };

/**
 * A launch's tensor views, packed so the addon reads them in one call rather than a property read per
 * field: `buffers[i]` is view i's buffer handle (inputs first, then outputs), and `desc` holds
 * [inputs, outputs, then per view: dtype code, offset (elements), rank, shape..., strides...].
 */
export interface PackedViews {
  buffers: NativeHandle[];
  desc: Float64Array;
  /** How many entries of desc this launch uses (desc is a reused scratch array). */
  length: number;
}

/** A native program handle (a napi External). */
export type NativeProgram = { readonly __program: unique symbol };

/** A step of a program: a launch as launch() takes it, with a slot per view, or a write of bytes. */
export type ProgramStep =
  | { op: string; slots: number[]; desc: Float64Array; attrs: Record<string, unknown> }
  | { slot: number; offset: number; bytes: Uint8Array };

export interface NativeInfo {
  builder: 'cmake' | 'node-gyp' | string;
  version: string;
  compiler: string;
  napiVersion: number;
  threads: number;
  cpuModel: string;
  /** The vector ISA the CPU kernels run: 'avx512' | 'avx2' | 'portable' (KILN_CPU_ISA lowers it). */
  cpuIsa: string;
  cpuFeatures: string[];
  kernels: string[];
  cuda: { compiled: boolean; runtimeVersion: number; driverVersion: number; deviceCount: number; reason: string };
}

/** A CUDA device as the addon reports it (native/cuda/addon_cuda.inc). */
export interface NativeCudaProps {
  name: string;
  major: number;
  minor: number;
  memory: number;
  smCount: number;
  clockKhz: number;
  memoryBusBits: number;
}

/** The addon's CUDA surface; a build without nvcc has it too, with no devices and the reason. */
export interface NativeCuda {
  probe(): { deviceCount: number; reason: string };
  properties(device: number): NativeCudaProps;
  alloc(device: number, nbytes: number): NativeHandle;
  free(h: NativeHandle): void;
  /** The buffer's device address and its device's cudaStream_t, as BigInts (NCCL enqueues on it). */
  address(h: NativeHandle): { pointer: bigint; stream: bigint };
  write(h: NativeHandle, byteOffset: number, src: ArrayBufferView): void;
  read(h: NativeHandle, byteOffset: number, dst: ArrayBufferView): Promise<void>;
  sync(device: number): Promise<void>;
  timerStart(device: number): NativeHandle;
  /** Elapsed milliseconds since timerStart, once the device has reached this point. */
  timerStop(start: NativeHandle): Promise<number | undefined>;
  /** `tagged`: the launch reports an index out of range under the fault id it returns (see faultFound). */
  launch(device: number, op: string, buffers: NativeHandle[], desc: Float64Array, attrs: Record<string, unknown>, tagged?: boolean): number | undefined;
  /** Once the tagged launch `id` has completed: its E_INDEX message, or undefined when it found nothing. */
  faultFound(device: number, id: number): string | undefined;
  hasKernel(op: string): boolean;
  /**
   * A recorded launch sequence (native/program.h). slots: [kind, bytes, arenaOffset] per slot, kind
   * 0 constant, 1 input, 2 output, 3 arena; handles: the recorded buffer of every non-arena slot.
   */
  program(slots: Float64Array, handles: (NativeHandle | null)[], steps: ProgramStep[]): NativeProgram;
  /** Releases the program (queued replays keep what they need). */
  freeProgram(p: NativeProgram): void;
  /** One run of the program: this run's buffer for every input and output slot. */
  replay(p: NativeProgram, handles: (NativeHandle | null)[]): void;
  /** Tensor.to: bytes of a cpu buffer into a cuda buffer (ordered on both queues). */
  fromCpu(src: NativeHandle, srcByteOffset: number, nbytes: number, dst: NativeHandle, dstByteOffset: number): void;
  /** Tensor.to: bytes of a cuda buffer into a cpu buffer (ordered on both queues). */
  toCpu(src: NativeHandle, srcByteOffset: number, nbytes: number, dst: NativeHandle, dstByteOffset: number): void;
  setMemoryCap(device: number, bytes: number): void;
  /** Waits for the device's stream and returns the pool's cached free blocks to the driver. */
  releaseCached(device: number): void;
  /** dlopen()s the first of `paths` that is a usable cuBLASLt; E_UNSUPPORTED lists why each failed. */
  loadCublasLt(paths: readonly string[]): { path: string; version: number };
  memory(device: number): { bytes: number; buffers: number; reserved: number; cap: number };
}

/** The addon's surface (native/addon.cc). */
export interface NativeAddon {
  alloc(nbytes: number): NativeHandle;
  free(h: NativeHandle): void;
  /** An ArrayBuffer over fresh host memory (transparent huge pages from 4 MiB), freed when collected. */
  hostArray(nbytes: number): ArrayBuffer;
  /** acc = acc (op) x for the CPU collectives (native/reduce_bytes.cc); x holds raw bytes of dtype. */
  reduceInto(dtype: string, op: string, acc: ArrayBufferView, x: Uint8Array): void;
  write(h: NativeHandle, byteOffset: number, src: ArrayBufferView): void;
  read(h: NativeHandle, byteOffset: number, dst: ArrayBufferView): Promise<void>;
  /**
   * Queues a write of `nbytes` at `byteOffset` whose bytes arrive later (native/late_write.h): the
   * queue waits for landLater(w, bytes), or for failLater(w, code, message), whose error then rejects
   * the next sync point.
   */
  writeLater(h: NativeHandle, byteOffset: number, nbytes: number): NativeHandle;
  landLater(w: NativeHandle, bytes: Uint8Array): void;
  failLater(w: NativeHandle, code: string, message: string): void;
  sync(): Promise<void>;
  /** Resolves with the monotonic time (ms) read on the queue's worker when the queue reaches this point. */
  mark(): Promise<number>;
  /** `faultId` tags the launch: an index out of range it finds is reported by takeFaults(), not the next sync point. */
  launch(op: string, buffers: NativeHandle[], desc: Float64Array, attrs: Record<string, unknown>, faultId?: number): void;
  /** The tagged launches that failed since the last call, and the last tagged launch that has run. */
  takeFaults(): { reached: number; failed: [id: number, code: string, message: string][] };
  hasKernel(op: string): boolean;
  /**
   * A recorded launch sequence (native/program.h). slots: [kind, bytes, arenaOffset] per slot, kind
   * 0 constant, 1 input, 2 output, 3 arena; handles: the recorded buffer of every non-arena slot.
   */
  program(slots: Float64Array, handles: (NativeHandle | null)[], steps: ProgramStep[]): NativeProgram;
  /** Releases the program (queued replays keep what they need). */
  freeProgram(p: NativeProgram): void;
  /** One run of the program: this run's buffer for every input and output slot; `faultId` as for launch(). */
  replay(p: NativeProgram, handles: (NativeHandle | null)[], faultId?: number): void;
  info(): NativeInfo;
  /** Live buffers; the cap (0: none); the bytes the host can still give (-1: unknown; native/buffer.h). */
  memory(): { bytes: number; buffers: number; queued: number; cap: number; available: number };
  setMemoryCap(bytes: number): void;
  /** E_OOM naming `what` when the host cannot hold `bytes` more (checked from 64 MiB up; native/buffer.h). */
  checkHostMemory(bytes: number, what: string): void;
  /** The largest hostArray (Node's limit on external ArrayBuffers). */
  hostArrayMax: number;
  setErrorClass(ctor: typeof KilnError): void;
  setNumThreads(n: number): number;
  cuda: NativeCuda;
  /** NCCL loaded at run time (native/nccl.cc); src/distributed/nccl.ts is its only user. */
  nccl: NativeNccl;
  /** POSIX shared memory (native/shm.cc); src/distributed/shm-link.ts is its only user. */
  shm: NativeShm;
}

/** Shared-memory segments as ArrayBuffers, unmapped when collected. Names are "/kiln-" + 32 hex digits. */
export interface NativeShm {
  /** A new segment of this user (mode 0600), every page reserved: E_OOM when /dev/shm cannot hold it. */
  create(bytes: number): { name: string; buffer: ArrayBuffer };
  /** Maps an existing segment; E_UNSUPPORTED unless it exists, is this user's, and is exactly `bytes` long. */
  open(name: string, bytes: number): ArrayBuffer;
  /** Removes the name; mappings stay valid. */
  unlink(name: string): void;
}

/** An NCCL communicator handle (a napi External). */
export type NcclComm = { readonly __nccl: unique symbol };

/** NCCL's entry points; each returns an ncclResult_t (0 = success). Addresses and streams are BigInts. */
export interface NativeNccl {
  /** `nonblocking`: NCCL 2.27+ (with ncclCommInitRankConfig and ncclCommFinalize), whose communicators Kiln makes nonblocking. */
  load(paths: readonly string[]): { path?: string; version?: number; nonblocking?: boolean; error?: string };
  errorString(result: number): string;
  uniqueId(): { result: number; id?: Uint8Array };
  /** result 7 (ncclInProgress) with `comm`: a nonblocking init under way; poll asyncError until it is 0. */
  commInitRank(nranks: number, id: Uint8Array, rank: number, device: number): Promise<{ result: number; comm?: NcclComm }>;
  commInitAll(devices: readonly number[]): { result: number; comms?: NcclComm[] };
  groupStart(): number;
  groupEnd(): number;
  allReduce(comm: NcclComm, send: bigint, recv: bigint, count: number, dtype: number, op: number, stream: bigint): number;
  broadcast(comm: NcclComm, send: bigint, recv: bigint, count: number, dtype: number, root: number, stream: bigint): number;
  reduce(comm: NcclComm, send: bigint, recv: bigint, count: number, dtype: number, op: number, root: number, stream: bigint): number;
  allGather(comm: NcclComm, send: bigint, recv: bigint, sendCount: number, dtype: number, stream: bigint): number;
  reduceScatter(comm: NcclComm, send: bigint, recv: bigint, recvCount: number, dtype: number, op: number, stream: bigint): number;
  send(comm: NcclComm, buf: bigint, count: number, dtype: number, peer: number, stream: bigint): number;
  recv(comm: NcclComm, buf: bigint, count: number, dtype: number, peer: number, stream: bigint): number;
  asyncError(comm: NcclComm): number;
  /** Waits on this thread until the communicator is no longer ncclInProgress (or timeoutMs passes): its state then. */
  settle(comm: NcclComm, timeoutMs: number): number;
  /** ncclCommFinalize: 7 while a nonblocking one flushes (poll asyncError); 0 at once where NCCL has none. */
  finalize(comm: NcclComm): number;
  abort(comm: NcclComm): number;
  destroy(comm: NcclComm): number;
}

/** The kiln package folder (this file runs from src/ under vitest and from dist/src/ when built). */
export const packageRoot = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; ++i, dir = dirname(dir)) if (existsSync(join(dir, 'native', 'sources.txt'))) return dir;
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..');
})();

/**
 * Where the loader looks: $KILN_ADDON when set (and only there: an explicit choice that fails to
 * load is reported, never silently replaced by another build), else the local build (cmake-js and
 * node-gyp both write build/Release).
 */
export function addonCandidates(): string[] {
  if (process.env.KILN_ADDON) return [process.env.KILN_ADDON];
  return [join(packageRoot, 'build', 'Release', 'kiln.node')];
}

let loaded: { addon?: NativeAddon; path?: string; error?: string } | undefined;

function load(): { addon?: NativeAddon; path?: string; error?: string } {
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const path of addonCandidates()) {
    if (!existsSync(path)) {
      tried.push(`${path} (not found)`);
      continue;
    }
    try {
      const addon = require(path) as NativeAddon;
      addon.setErrorClass(KilnError);
      return { addon, path };
    } catch (e) {
      tried.push(`${path} (${(e as Error).message})`);
    }
  }
  return {
    error:
      `the Kiln native addon is not built or failed to load; tried ${tried.join('; ')}. ` +
      'Build it with `npm run build:native` in the kiln package (CMake >= 3.18 builds with cmake-js, ' +
      'otherwise node-gyp builds the CPU-only addon), or point KILN_ADDON at a built kiln.node.',
  };
}

/** The loaded addon, or undefined with `nativeError()` saying why. Loads once per thread. */
export function tryNative(): NativeAddon | undefined {
  loaded ??= load();
  return loaded.addon;
}

export function nativeError(): string | undefined {
  loaded ??= load();
  return loaded.error;
}

export function nativePath(): string | undefined {
  loaded ??= load();
  return loaded.path;
}

export function native(): NativeAddon {
  return tryNative() ?? fail('E_NATIVE', nativeError()!);
}
