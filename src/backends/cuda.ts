import { parseBytes } from '../args.js';
import type { DType } from '../dtype.js';
import { KilnError, fail } from '../errors.js';
import { FaultLedger, type Fault } from '../faults.js';
import { native, nativeError, tryNative, type NativeHandle } from '../native.js';
import type { Attrs, Backend, BufferHandle, DeviceInfo, DeviceTimer, TensorView } from './backend.js';
import { handleOf, packViews } from './cpu.js';
import { loadCublasLt } from './cublas.js';

interface CudaBuffer extends BufferHandle {
  readonly handle: NativeHandle;
}

/**
 * The CUDA backend: a thin adapter over the addon's CUDA runtime (native/cuda/). One stream per
 * device; buffers from a stream-ordered pool with an optional cap (KILN_CUDA_MEMORY_CAP, or
 * setMemoryCap); reads and syncs resolve from CUDA event completion on a native thread.
 */
export class CudaBackend implements Backend {
  readonly kind = 'cuda' as const;
  #devices: DeviceInfo[] | undefined;
  #reason: string | undefined;
  #capped = new Set<number>();

  devices(): DeviceInfo[] {
    return (this.#devices ??= this.probe());
  }

  private probe(): DeviceInfo[] {
    const addon = tryNative();
    if (!addon) return [];
    const p = addon.cuda.probe();
    if (p.deviceCount === 0) {
      this.#reason = p.reason || 'no CUDA devices found';
      return [];
    }
    const out: DeviceInfo[] = [];
    for (let i = 0; i < p.deviceCount; ++i) {
      try {
        const d = addon.cuda.properties(i);
        out.push({
          id: `cuda:${i}`,
          kind: 'cuda',
          index: i,
          name: d.name,
          memory: d.memory,
          details: { sm: `${d.major}${d.minor}`, sms: d.smCount, clockMHz: Math.round(d.clockKhz / 1000), busBits: d.memoryBusBits },
        });
      } catch (e) {
        // A device that fails to initialize is reported, not fatal: the others stay usable.
        this.#reason = `cuda:${i} failed to initialize: ${(e as Error).message}`;
        break;
      }
    }
    return out;
  }

  reason(): string | undefined {
    this.devices();
    return nativeError() ?? this.#reason;
  }

  /** Caps the bytes of live buffers on `device` (0 removes the cap); the pool then caches at most that much. */
  setMemoryCap(device: number, bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0) fail('E_ARGUMENT', `setMemoryCap: bytes must be a non-negative integer, got ${bytes}`);
    this.#capped.add(device);
    native().cuda.setMemoryCap(device, bytes);
  }

  alloc(device: number, nbytes: number): BufferHandle {
    if (!this.#capped.has(device)) {
      const cap = parseBytes(process.env.KILN_CUDA_MEMORY_CAP, 'KILN_CUDA_MEMORY_CAP');
      if (cap !== undefined) this.setMemoryCap(device, cap);
      this.#capped.add(device);
    }
    const handle = native().cuda.alloc(device, nbytes);
    const buf: CudaBuffer = { device, nbytes, handle, deviceAddress: () => native().cuda.address(handle) };
    return buf;
  }

  free(buf: BufferHandle): void {
    native().cuda.free((buf as CudaBuffer).handle);
  }

  write(buf: BufferHandle, src: ArrayBufferView, byteOffset = 0): void {
    native().cuda.write((buf as CudaBuffer).handle, byteOffset, src);
  }

  async read(buf: BufferHandle, dst: ArrayBufferView, byteOffset = 0): Promise<void> {
    const upTo = this.#lastId(buf.device);
    await native().cuda.read((buf as CudaBuffer).handle, byteOffset, dst);
    this.#settle(buf.device, upTo);
  }

  run(op: string, inputs: TensorView[], outputs: TensorView[], attrs: Attrs, fault?: Fault): void {
    const device = (outputs[0] ?? inputs[0]).buffer.device;
    if (attrs.impl === 'cublas') loadCublasLt();  // E_UNSUPPORTED, naming what was tried, when absent
    const { buffers, desc } = packViews(inputs, outputs);
    const id = native().cuda.launch(device, op, buffers, desc, attrs, fault !== undefined);
    if (fault && id !== undefined) this.#ledger(device).track(id, fault);
  }

  /** Per device: the data faults of its tagged launches (ids from the device, process-wide). */
  #faults = new Map<number, FaultLedger>();
  #ledger(device: number): FaultLedger {
    let l = this.#faults.get(device);
    if (!l) this.#faults.set(device, (l = new FaultLedger()));
    return l;
  }

  /**
   * After a sync point of `device` resolved: every launch this environment tagged before it (ids up
   * to `upTo`) has completed, so its record says whether it failed.
   */
  #settle(device: number, upTo: number): void {
    const ledger = this.#faults.get(device);
    if (!ledger || ledger.empty) return;
    for (const id of ledger.idsUpTo(upTo)) {
      const found = native().cuda.faultFound(device, id);
      if (found !== undefined) ledger.fail(id, new KilnError('E_INDEX', found));
    }
    ledger.passUpTo(upTo);
  }

  /** The last fault id this environment got from `device` (faults up to it settle at the next sync point). */
  #lastId(device: number): number {
    return this.#faults.get(device)?.last ?? 0;
  }

  supports(op: string, _dtypes: DType[]): boolean {
    return tryNative()?.cuda.hasKernel(op) ?? false;
  }

  async sync(device: number): Promise<void> {
    const upTo = this.#lastId(device);
    await native().cuda.sync(device);
    this.#settle(device, upTo);
  }

  /** CUDA events on the device's stream. */
  timer(device: number): DeviceTimer {
    let start: NativeHandle | undefined;
    return {
      start: () => {
        start = native().cuda.timerStart(device);
      },
      stop: async () => {
        if (!start) fail('E_ARGUMENT', 'timer.stop() before timer.start()');
        return (await native().cuda.timerStop(start)) ?? 0;
      },
    };
  }

  memoryInfo(): Record<string, unknown> {
    const addon = tryNative();
    const out: Record<string, unknown> = {};
    for (const d of this.devices()) out[d.id] = addon?.cuda.memory(d.index);
    return out;
  }
}

/** Tensor.to between cpu and cuda: contiguous views of equal size, ordered on both devices' queues. */
export function copyBetweenCpuAndCuda(src: TensorView, dst: TensorView, srcKind: 'cpu' | 'cuda', bytesPerElement: number): void {
  const n = src.shape.reduce((a, b) => a * b, 1) * bytesPerElement;
  const s = handleOf(src), d = handleOf(dst);
  const cuda = native().cuda;
  if (srcKind === 'cpu') cuda.fromCpu(s, src.offset * bytesPerElement, n, d, dst.offset * bytesPerElement);
  else cuda.toCpu(s, src.offset * bytesPerElement, n, d, dst.offset * bytesPerElement);
}
