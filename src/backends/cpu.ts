import { dtypeCode, type DType } from '../dtype.js';
import { fail } from '../errors.js';
import { native, nativeError, tryNative, type NativeHandle, type NativeView } from '../native.js';
import type { Attrs, Backend, BufferHandle, DeviceInfo, DeviceTimer, TensorView } from './backend.js';

interface CpuBuffer extends BufferHandle {
  readonly handle: NativeHandle;
}

/** A view for the addon; every native backend's buffer carries its addon handle as `handle`. */
export const toNative = (v: TensorView): NativeView => ({
  buf: (v.buffer as CpuBuffer).handle,
  offset: v.offset,
  shape: v.shape,
  strides: v.strides,
  dtype: dtypeCode(v.dtype),
});

/** The CPU backend: a thin adapter over the native addon's queue and kernel table. */
export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  #devices: DeviceInfo[] | undefined;

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
    const buf: CpuBuffer = { device, nbytes, handle: native().alloc(nbytes) };
    return buf;
  }

  free(buf: BufferHandle): void {
    native().free((buf as CpuBuffer).handle);
  }

  write(buf: BufferHandle, src: ArrayBufferView, byteOffset = 0): void {
    native().write((buf as CpuBuffer).handle, byteOffset, src);
  }

  read(buf: BufferHandle, dst: ArrayBufferView, byteOffset = 0): Promise<void> {
    return native().read((buf as CpuBuffer).handle, byteOffset, dst);
  }

  run(op: string, inputs: TensorView[], outputs: TensorView[], attrs: Attrs): void {
    native().launch(op, inputs.map(toNative), outputs.map(toNative), attrs);
  }

  supports(op: string, _dtypes: DType[]): boolean {
    return tryNative()?.hasKernel(op) ?? false;
  }

  sync(_device: number): Promise<void> {
    return native().sync();
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
