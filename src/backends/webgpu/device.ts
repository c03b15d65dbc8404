// One WebGPU device: its command stream, buffer pool, pipeline cache and error capture.
//
// Ordering: every op, upload and copy is encoded into one command encoder in call order (consecutive
// dispatches in one compute pass) and submitted when a sync point needs it (or every
// FLUSH_DISPATCHES dispatches), so the device's queue is the stream of the execution model. A freed
// buffer returns to the pool at once: later work on the same queue runs after the work already
// encoded on it.
//
// Held work: a write whose bytes arrive later (writeLater: a transfer from another device) holds
// back every submission after it until they land, in order, on a promise chain; a sync point waits
// for what was held before it, never for what came after (so two devices' transfers in opposite
// directions cannot wait on each other).
//
// Errors: two error scopes (validation, out-of-memory) stay pushed at all times and are popped and
// pushed again at each submission; their promises, the `uncapturederror` event, the `lost` promise
// are what `settle()` turns into the KilnError of the next sync point. Its checks (Gather's status
// words) settle their ops' data faults (src/faults.ts), or, for an untagged launch, become that error.
import { KilnError, asKilnError, fail, type KilnErrorCode } from '../../errors.js';
import { MapMode, Usage, type FoundAdapter } from './dawn.js';
import { probeFloatSemantics, type FloatSemantics } from './float-probe.js';
import { WGSL } from './kernels.generated.js';

const FLUSH_DISPATCHES = 64;
/**
 * Op constants (shapes, strides, offsets) are gathered per submission in one buffer, written by one
 * queue.writeBuffer just before the submit: creating, mapping and destroying a buffer per op took
 * about half of an op's encoding time on lavapipe. The arena starts small and doubles, up to the
 * cap (or to what one op needs), whenever it fills before a submission's FLUSH_DISPATCHES dispatches.
 */
const CONSTANTS_ARENA_START = 4096, CONSTANTS_ARENA_MAX = 64 * 1024;

/**
 * An op's constant words, placed into the submission's constants arena when its dispatch is encoded.
 * The binding holds one word more than `words`, always 0: the zero that common.wgsl's `opaque()`
 * reads where a compiler cannot see it.
 */
export class Constants {
  constructor(readonly words: Int32Array) {}
  /** Its binding size: whole words and the trailing zero, at least 16 bytes (the size a buffer of its own had). */
  get size(): number {
    return Math.max(16, (Math.ceil(this.words.byteLength / 4) + 1) * 4);
  }
}

/** What dispatch binds at each binding index: a buffer, an op's constants, or nothing. */
export type Binding = GPUBuffer | Constants | undefined;

/** Pooled bytes kept for reuse beyond this are destroyed on free. */
const POOL_LIMIT = 512 * 2 ** 20;

/** Size classes: four per power of two (at most 25% slack), 256 bytes minimum. */
export function sizeClass(nbytes: number): number {
  if (nbytes <= 256) return 256;
  const p = 2 ** Math.floor(Math.log2(nbytes));
  const step = p / 4;
  return Math.ceil(nbytes / step) * step;
}

export interface DeviceError {
  code: KilnErrorCode;
  message: string;
}

/** A deferred check run at the next sync point: resolves to an error or undefined. */
type Check = () => Promise<DeviceError | undefined>;

export class GpuDevice {
  readonly device: GPUDevice;
  readonly features: ReadonlySet<string>;
  readonly id: string;
  #encoder: GPUCommandEncoder | undefined;
  #dispatches = 0;
  /** The compute pass consecutive dispatches share, until anything else needs the encoder. */
  #pass: GPUComputePassEncoder | undefined;
  #passPipeline: GPUComputePipeline | undefined;
  readonly #layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();
  #afterSubmit: GPUBuffer[] = [];
  #scopes: Promise<GPUError | null>[] = [];
  #checks: Check[] = [];
  #errors: DeviceError[] = [];
  #lost: string | undefined;
  readonly #pool = new Map<number, GPUBuffer[]>();
  #pooledBytes = 0;
  #liveBytes = 0;
  readonly #modules = new Map<string, GPUShaderModule>();
  readonly #pipelines = new Map<string, Map<string, GPUComputePipeline>>();
  #pipelineCount = 0;
  #arena: GPUBuffer | undefined;
  #arenaBytes = new Uint8Array(CONSTANTS_ARENA_START);
  #arenaUsed = 0;
  /** Held steps (submissions, late writes) in queue order, and how many have not run yet. */
  #held: Promise<void> = Promise.resolve();
  #heldSteps = 0;

  private constructor(
    readonly found: FoundAdapter,
    device: GPUDevice,
    readonly index: number,
    /** What the device does with subnormals and a * b + c (float-probe.ts), read once at open. */
    readonly floats: FloatSemantics,
  ) {
    this.device = device;
    this.id = `webgpu:${index}`;
    this.features = new Set([...device.features].map(String));
    device.lost.then((info) => {
      this.#lost = `${this.id} was lost (${info.reason}): ${info.message}`;
    });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => this.#record(ev.error);
    this.#pushScopes();
  }

  static async open(found: FoundAdapter, index: number): Promise<GpuDevice> {
    const a = found.adapter;
    const wanted: GPUFeatureName[] = ['shader-f16', 'timestamp-query', 'subgroups'];
    const requiredFeatures = wanted.filter((f) => a.features.has(f));
    const requiredLimits = {
      maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
      maxBufferSize: a.limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(a.limits.maxStorageBuffersPerShaderStage, 10),
      maxComputeWorkgroupStorageSize: a.limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: a.limits.maxComputeInvocationsPerWorkgroup,
    };
    const device = await a.requestDevice({ requiredFeatures, requiredLimits });
    return new GpuDevice(found, device, index, await probeFloatSemantics(device));
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  // ---- liveness and errors --------------------------------------------------------------------------

  /** E_DEVICE_LOST once the device is gone: every later call fails. */
  assertAlive(what: string): void {
    if (this.#lost) fail('E_DEVICE_LOST', `${what}: ${this.#lost}`);
  }

  #record(e: GPUError): void {
    const oom = e.constructor?.name === 'GPUOutOfMemoryError' || /out of memory/i.test(e.message);
    this.#errors.push({ code: oom ? 'E_OOM' : 'E_NATIVE', message: `${this.id}: ${oom ? 'out of memory' : 'WebGPU error'}: ${e.message}` });
  }

  #pushScopes(): void {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
  }

  #popScopes(): void {
    this.#scopes.push(this.device.popErrorScope(), this.device.popErrorScope());
    this.#pushScopes();
  }

  /** Registers a check for the next sync point (Gather's out-of-range flag; see data-ops.ts). */
  addCheck(check: Check): void {
    this.#checks.push(check);
  }

  /**
   * The sync point: submits, waits for the queue, then rejects with the first error captured since
   * the previous sync point (the device is lost: E_DEVICE_LOST).
   */
  async settle(what: string): Promise<void> {
    this.assertAlive(what);
    this.flush();
    // This sync point's checks: one registered while it waits reads back a copy that is not yet
    // submitted (running it would map, then destroy, a buffer a later submission writes).
    const checks = this.#checks.splice(0);
    if (this.#heldSteps > 0) {
      await this.#held;
      this.#popScopes(); // the held submissions' errors belong to this sync point
    }
    await this.device.queue.onSubmittedWorkDone();
    const scopes = this.#scopes.splice(0);
    for (const e of await Promise.all(scopes)) if (e) this.#record(e);
    for (const r of await Promise.all(checks.map((c) => c()))) if (r) this.#errors.push(r);
    this.assertAlive(what);
    const first = this.#errors[0];
    this.#errors = [];
    if (first) throw new KilnError(first.code, `${what}: ${first.message}`);
  }

  // ---- command stream --------------------------------------------------------------------------------

  /** The open command encoder, for commands outside compute passes (the shared pass is ended first). */
  encoder(): GPUCommandEncoder {
    this.#endPass();
    return (this.#encoder ??= this.device.createCommandEncoder());
  }

  #endPass(): void {
    this.#pass?.end();
    this.#pass = this.#passPipeline = undefined;
  }

  /**
   * Submits what is encoded (or, behind a late write, queues its submission); buffers retired since
   * then are destroyed after it (after their use, by WebGPU rules).
   */
  flush(keep?: ReadonlySet<GPUBuffer>): void {
    const holding = this.#heldSteps > 0;
    if (this.#arenaUsed > 0) {
      // queue order: the constants land before the commands that read them, and after every
      // submission that read the arena's previous contents. A held submission keeps this arena to
      // itself (the next one gets a fresh arena), since its commands run after later writes.
      this.device.queue.writeBuffer(this.#arena!, 0, this.#arenaBytes, 0, this.#arenaUsed);
      this.#arenaUsed = 0;
      if (holding) {
        this.retire(this.#arena!);
        this.#arena = undefined;
      }
    }
    let commands: GPUCommandBuffer | undefined;
    if (this.#encoder) {
      this.#endPass();
      commands = this.#encoder.finish();
      this.#encoder = undefined;
      this.#dispatches = 0;
    }
    // `keep`: retired buffers the dispatch being encoded still binds (a flush in its #place)
    const retired = keep ? this.#afterSubmit.filter((b) => !keep.has(b)) : this.#afterSubmit;
    this.#afterSubmit = keep ? this.#afterSubmit.filter((b) => keep.has(b)) : [];
    const submit = () => {
      if (commands) this.device.queue.submit([commands]);
      for (const b of retired) b.destroy();
    };
    if (holding) this.#hold(submit);
    else submit();
    this.#popScopes();
  }

  /** Appends a step to the held chain; a step that throws becomes the next sync point's error. */
  #hold(step: () => void | Promise<void>): void {
    ++this.#heldSteps;
    this.#held = this.#held
      .then(step)
      .catch((e: unknown) => {
        const k = asKilnError(e);
        this.#errors.push({ code: k.code, message: e instanceof KilnError ? k.message : `${this.id}: ${k.message}` });
      })
      .finally(() => --this.#heldSteps);
  }

  /**
   * Writes the first `nbytes` of `dst` with bytes that arrive later (Tensor.to from another device):
   * what is encoded so far goes ahead, and every submission after this waits until they land.
   */
  writeLater(dst: GPUBuffer, nbytes: number, bytes: Promise<Uint8Array>): void {
    this.flush();
    this.#hold(async () => {
      const b = await bytes;
      if (b.byteLength !== nbytes) fail('E_NATIVE', `writeLater: expected ${nbytes} bytes, got ${b.byteLength}`);
      if (this.#lost || nbytes === 0) return;
      // writeBuffer moves whole words; the buffer's size class always has room for the last one
      const words = Math.ceil(nbytes / 4) * 4;
      const src = words === nbytes ? b : new Uint8Array(words);
      if (src !== b) src.set(b);
      this.device.queue.writeBuffer(dst, 0, src, 0, words);
    });
  }

  /** Destroys `b` once the work encoded so far has been submitted. */
  retire(b: GPUBuffer): void {
    this.#afterSubmit.push(b);
  }

  /** `words` as a read-only storage binding of the op dispatched with it. */
  constants(words: Int32Array): Constants {
    return new Constants(words);
  }

  /**
   * Buffer bindings for an op's constants: ranges of the submission's arena. When they do not fit,
   * the arena is flushed first (before anything of this op is encoded) and grown.
   */
  #place(all: Constants[], bindings: readonly Binding[]): GPUBufferBinding[] {
    const align = this.limits.minStorageBufferOffsetAlignment;
    const end = (from: number) => all.reduce((at, c) => Math.ceil(at / align) * align + c.size, from);
    if (end(this.#arenaUsed) > this.#arenaBytes.length) {
      // full before FLUSH_DISPATCHES dispatches: submit now, and double the arena for the next
      // submissions. A buffer this dispatch binds may already be retired (a snapshot): it must
      // outlive the next submission, not this one.
      this.flush(new Set(bindings.filter((b): b is GPUBuffer => !!b && !(b instanceof Constants))));
      let size = Math.min(2 * this.#arenaBytes.length, CONSTANTS_ARENA_MAX);
      while (size < end(0)) size *= 2;
      if (size > this.#arenaBytes.length) {
        if (this.#arena) this.retire(this.#arena);
        this.#arena = undefined;
        this.#arenaBytes = new Uint8Array(size);
      }
    }
    this.#arena ??= this.device.createBuffer({ size: this.#arenaBytes.length, usage: Usage.STORAGE | Usage.COPY_DST });
    return all.map((c) => {
      const offset = Math.ceil(this.#arenaUsed / align) * align;
      this.#arenaBytes.fill(0, offset, offset + c.size);
      this.#arenaBytes.set(new Uint8Array(c.words.buffer, c.words.byteOffset, c.words.byteLength), offset);
      this.#arenaUsed = offset + c.size;
      return { buffer: this.#arena!, offset, size: c.size };
    });
  }

  /** The pipeline of `code`'s entry point (a shader may hold several: reduce-ops.ts) with its override constants. */
  pipeline(code: string, constants: Record<string, number> = {}, entryPoint = 'main'): GPUComputePipeline {
    // keyed by the code string itself, then its entry point and override constants: no key is built from the code
    let variants = this.#pipelines.get(code);
    if (!variants) this.#pipelines.set(code, (variants = new Map()));
    const key = `${entryPoint} ${JSON.stringify(constants)}`;
    let p = variants.get(key);
    if (!p) {
      let module = this.#modules.get(code);
      if (!module) this.#modules.set(code, (module = this.device.createShaderModule({ code })));
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint, constants } });
      variants.set(key, p);
      ++this.#pipelineCount;
    }
    return p;
  }

  /** Every shader module compiled so far, with Dawn's compilation messages (errors and warnings). */
  async compilation(): Promise<{ code: string; messages: { type: string; message: string; line: number }[] }[]> {
    return Promise.all(
      [...this.#modules].map(async ([code, m]) => ({
        code,
        messages: (await m.getCompilationInfo()).messages.map((x) => ({ type: x.type, message: x.message, line: x.lineNum })),
      })),
    );
  }

  /** Encodes one compute dispatch; `bindings[i]` is bound at binding i (gaps allowed). */
  dispatch(pipeline: GPUComputePipeline, bindings: Binding[], groups: [number, number, number], timestampWrites?: GPUComputePassTimestampWrites): void {
    const placed = this.#place(bindings.filter((b): b is Constants => b instanceof Constants), bindings);
    const entries: GPUBindGroupEntry[] = [];
    bindings.forEach((b, binding) => {
      if (b) entries.push({ binding, resource: b instanceof Constants ? placed.shift()! : { buffer: b } });
    });
    let layout = this.#layouts.get(pipeline);
    if (!layout) this.#layouts.set(pipeline, (layout = pipeline.getBindGroupLayout(0)));
    const group = this.device.createBindGroup({ layout, entries });
    // Consecutive dispatches share one pass: each dispatch is a usage scope of its own, so WebGPU
    // orders one dispatch's storage writes before the next one's reads, as between passes. A timed
    // dispatch gets a pass of its own (timestamps mark a pass's beginning and end).
    const timed = timestampWrites ? this.encoder().beginComputePass({ timestampWrites }) : undefined;
    const pass = timed ?? (this.#pass ??= this.encoder().beginComputePass());
    if (timed || this.#passPipeline !== pipeline) pass.setPipeline(pipeline);
    if (!timed) this.#passPipeline = pipeline;
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(...groups);
    timed?.end();
    if (++this.#dispatches >= FLUSH_DISPATCHES) this.flush();
  }

  /** Workgroup counts for `n` invocations of `size`-wide groups (y takes what x's 65535 cannot). */
  static grid(n: number, size: number): [number, number, number] {
    const groups = Math.ceil(n / size);
    const x = Math.min(groups, 65535);
    return [x, Math.ceil(groups / x), 1];
  }

  // ---- memory --------------------------------------------------------------------------------------

  alloc(nbytes: number): GPUBuffer {
    const size = sizeClass(nbytes);
    if (size > this.limits.maxBufferSize || size > this.limits.maxStorageBufferBindingSize)
      fail('E_OOM', `${this.id} buffers hold at most ${Math.min(this.limits.maxBufferSize, this.limits.maxStorageBufferBindingSize)} bytes`);
    const free = this.#pool.get(size);
    const reused = free?.pop();
    this.#liveBytes += size;
    if (reused) {
      this.#pooledBytes -= size;
      return reused;
    }
    return this.device.createBuffer({ size, usage: Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST });
  }

  release(b: GPUBuffer): void {
    this.#liveBytes -= b.size;
    if (this.#lost || this.#pooledBytes + b.size > POOL_LIMIT) {
      this.retire(b);
      return;
    }
    const list = this.#pool.get(b.size) ?? [];
    list.push(b);
    this.#pool.set(b.size, list);
    this.#pooledBytes += b.size;
  }

  memory(): { liveBytes: number; pooledBytes: number; pipelines: number; constantsBytes: number } {
    return { liveBytes: this.#liveBytes, pooledBytes: this.#pooledBytes, pipelines: this.#pipelineCount, constantsBytes: this.#arenaBytes.length };
  }

  /**
   * Copies bytes into `dst` at any `byteOffset`: the whole words through a staging buffer mapped at
   * creation (copyBufferToBuffer moves whole words only), and a partial word at either edge through
   * patch_words.wgsl, which keeps the bytes around the range as they were.
   */
  write(dst: GPUBuffer, src: ArrayBufferView, byteOffset: number): void {
    const len = src.byteLength;
    if (len === 0) return;
    if (!Number.isSafeInteger(byteOffset) || byteOffset < 0 || byteOffset + len > dst.size)
      fail('E_ARGUMENT', `webgpu write: bytes [${byteOffset}, ${byteOffset + len}) are outside a buffer of ${dst.size} bytes`);
    const bytes = new Uint8Array(src.buffer, src.byteOffset, len);
    const end = byteOffset + len, lo = Math.ceil(byteOffset / 4) * 4, hi = Math.floor(end / 4) * 4;
    if (hi > lo) {
      const staging = this.device.createBuffer({ size: hi - lo, usage: Usage.COPY_SRC, mappedAtCreation: true });
      new Uint8Array(staging.getMappedRange()).set(bytes.subarray(lo - byteOffset, hi - byteOffset));
      staging.unmap();
      this.encoder().copyBufferToBuffer(staging, 0, dst, lo, hi - lo);
      this.retire(staging);
    }
    // the partial words: the one holding byteOffset (unless aligned) and the one holding end - 1
    const words = [...new Set([byteOffset % 4 ? byteOffset >> 2 : -1, end % 4 ? (end - 1) >> 2 : -1])].filter((w) => w >= 0 && (w * 4 < lo || w * 4 >= hi));
    if (!words.length) return;
    const meta = new Uint32Array(1 + 3 * words.length);
    meta[0] = words.length;
    words.forEach((w, i) => {
      let bits = 0, mask = 0;
      for (let b = 0; b < 4; ++b) {
        const at = w * 4 + b;
        if (at < byteOffset || at >= end) continue;
        bits |= bytes[at - byteOffset] << (8 * b);
        mask |= 0xff << (8 * b);
      }
      meta.set([w, bits >>> 0, mask >>> 0], 1 + 3 * i);
    });
    this.dispatch(this.pipeline(WGSL.patch_words), [dst, this.constants(new Int32Array(meta.buffer))], [1, 1, 1]);
  }

  /** Reads bytes back through a MAP_READ staging buffer (mapAsync: the JS thread never blocks). */
  async read(src: GPUBuffer, dst: ArrayBufferView, byteOffset: number, what: string): Promise<void> {
    const len = dst.byteLength;
    const start = Math.floor(byteOffset / 4) * 4;
    const size = Math.ceil((byteOffset + len - start) / 4) * 4;
    const staging = len > 0 ? this.device.createBuffer({ size, usage: Usage.MAP_READ | Usage.COPY_DST }) : undefined;
    if (staging) this.encoder().copyBufferToBuffer(src, start, staging, 0, size);
    try {
      await this.settle(what);
      if (!staging) return;
      await staging.mapAsync(MapMode.READ);
      new Uint8Array(dst.buffer, dst.byteOffset, len).set(new Uint8Array(staging.getMappedRange(), byteOffset - start, len));
      staging.unmap();
    } finally {
      staging?.destroy();
    }
  }

  /** Whole-buffer snapshot, for an op that reads the buffer it writes (WebGPU forbids that binding). */
  snapshot(b: GPUBuffer): GPUBuffer {
    const copy = this.device.createBuffer({ size: b.size, usage: Usage.STORAGE | Usage.COPY_DST });
    this.encoder().copyBufferToBuffer(b, 0, copy, 0, b.size);
    this.retire(copy);
    return copy;
  }

  /** Tests and shutdown: destroys the device (it is lost afterwards). */
  destroy(): void {
    this.#lost ??= `${this.id} was destroyed`;
    this.device.destroy();
  }
}
