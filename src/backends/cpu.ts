import { parseBytes } from '../args.js';
import { dtypeCode, type DType } from '../dtype.js';
import { asKilnError, fail, KilnError, type KilnErrorCode } from '../errors.js';
import { FaultLedger, type Fault } from '../faults.js';
import { native, nativeError, tryNative, type NativeHandle, type PackedViews } from '../native.js';
import type { Attrs, Backend, BufferHandle, DeviceInfo, DeviceTimer, TensorView } from './backend.js';
import { activeRecorder } from './cpu-recorder.js';

interface CpuBuffer extends BufferHandle {
  readonly handle: NativeHandle;
}

/** A buffer's addon handle: every native backend's buffer carries it as `handle`. */
export const handleOf = (v: TensorView): NativeHandle => (v.buffer as CpuBuffer).handle;

// One descriptor array, reused: the addon reads it during launch() and keeps nothing of it.
let scratch = new Float64Array(256);

/** Packs a launch's views for the addon (see PackedViews): one typed array instead of an object per view. */
export function packViews(inputs: readonly TensorView[], outputs: readonly TensorView[]): PackedViews {
  const views = inputs.length + outputs.length;
  let need = 2;
  for (const v of inputs) need += 3 + 2 * v.shape.length;
  for (const v of outputs) need += 3 + 2 * v.shape.length;
  if (need > scratch.length) scratch = new Float64Array(Math.max(need, 2 * scratch.length));
  const d = scratch, buffers = new Array<NativeHandle>(views);
  d[0] = inputs.length;
  d[1] = outputs.length;
  let at = 2;
  for (let i = 0; i < views; ++i) {
    const v = i < inputs.length ? inputs[i] : outputs[i - inputs.length];
    buffers[i] = handleOf(v);
    const rank = v.shape.length;
    d[at] = dtypeCode(v.dtype);
    d[at + 1] = v.offset;
    d[at + 2] = rank;
    for (let k = 0; k < rank; ++k) {
      d[at + 3 + k] = v.shape[k];
      d[at + 3 + rank + k] = v.strides[k];
    }
    at += 3 + 2 * rank;
  }
  return { buffers, desc: d, length: at };
}

/**
 * The CPU's data faults: JS gives each tagged launch the next id; the native side reports the ids
 * that found an index out of range and the last tagged launch that has run (addon.cc ErrorSlot).
 */
class CpuFaults {
  readonly #ledger = new FaultLedger();
  #next = 1;

  /** Runs `launch` with the id it reports `fault` under (undefined: no fault). */
  tagged(fault: Fault | undefined, launch: (id: number | undefined) => void): void {
    if (!fault) return launch(undefined);
    const id = this.#next++;
    launch(id); // a launch that throws queued nothing, and its fault is never settled nor read
    this.#ledger.track(id, fault);
  }

  settle(): void {
    if (this.#ledger.empty) return;
    const { reached, failed } = native().takeFaults();
    for (const [id, code, message] of failed) this.#ledger.fail(id, new KilnError(code as KilnErrorCode, message));
    this.#ledger.passUpTo(reached);
  }
}

/** The CPU backend: a thin adapter over the native addon's queue and kernel table. */
export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  #devices: DeviceInfo[] | undefined;
  /** Whether KILN_CPU_MEMORY_CAP was applied (at the first allocation). */
  #capped = false;
  /** @internal Data faults of launches and replays (onnx/replay.ts tags its replays here). */
  readonly faults = new CpuFaults();

  /** Asked on every allocation, so computed once (the addon's info() walks the kernel table). */
  devices(): DeviceInfo[] {
    return (this.#devices ??= this.probe());
  }

  private probe(): DeviceInfo[] {
    const addon = tryNative();
    if (!addon) return [];
    const info = addon.info();
    return [
      {
        id: 'cpu',
        kind: 'cpu',
        index: 0,
        name: info.cpuModel,
        details: { threads: info.threads, isa: info.cpuIsa, features: info.cpuFeatures, build: info.builder, compiler: info.compiler },
      },
    ];
  }

  reason(): string | undefined {
    return nativeError();
  }

  alloc(device: number, nbytes: number): BufferHandle {
    if (device !== 0) fail('E_DEVICE', `cpu has one device, not ${device}`);
    if (!this.#capped) {
      this.#capped = true;
      const cap = parseBytes(process.env.KILN_CPU_MEMORY_CAP, 'KILN_CPU_MEMORY_CAP');
      if (cap !== undefined) native().setMemoryCap(cap);
    }
    const buf: CpuBuffer = { device, nbytes, handle: native().alloc(nbytes) };
    activeRecorder()?.alloc(buf);
    return buf;
  }

  free(buf: BufferHandle): void {
    native().free((buf as CpuBuffer).handle);
  }

  write(buf: BufferHandle, src: ArrayBufferView, byteOffset = 0): void {
    native().write((buf as CpuBuffer).handle, byteOffset, src);
    activeRecorder()?.write(buf, byteOffset, src);
  }

  async read(buf: BufferHandle, dst: ArrayBufferView, byteOffset = 0): Promise<void> {
    activeRecorder()?.read();
    try {
      await native().read((buf as CpuBuffer).handle, byteOffset, dst);
    } finally {
      this.faults.settle();
    }
  }

  writeLater(buf: BufferHandle, nbytes: number, bytes: Promise<Uint8Array>): void {
    activeRecorder()?.invalidate('the run copies values from another device');
    const w = native().writeLater((buf as CpuBuffer).handle, 0, nbytes);
    bytes
      .then((b) => native().landLater(w, b))
      .catch((e: unknown) => {
        const k = asKilnError(e);
        native().failLater(w, k.code, k.message);
      });
  }

  run(op: string, inputs: TensorView[], outputs: TensorView[], attrs: Attrs, fault?: Fault): void {
    const { buffers, desc, length } = packViews(inputs, outputs);
    this.faults.tagged(fault, (id) => native().launch(op, buffers, desc, attrs, id));
    activeRecorder()?.launch(op, inputs, outputs, desc, length, attrs);
  }

  supports(op: string, _dtypes: DType[]): boolean {
    return tryNative()?.hasKernel(op) ?? false;
  }

  async sync(_device: number): Promise<void> {
    try {
      await native().sync();
    } finally {
      this.faults.settle();
    }
  }

  /** Time between two points of the queue, read by the queue's own worker: the CPU's device timer. */
  timer(_device: number): DeviceTimer {
    let start: Promise<number> | undefined;
    return {
      start: () => {
        start = native().mark();
      },
      stop: async () => {
        if (!start) fail('E_ARGUMENT', 'timer.stop() before timer.start()');
        const end = await native().mark();
        return end - (await start);
      },
    };
  }

  memoryInfo(): Record<string, unknown> {
    return tryNative()?.memory() ?? {};
  }
}
