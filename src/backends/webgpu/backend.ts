// The WebGPU backend (Dawn through the `webgpu` package) behind THE backend contract. Devices are
// 'webgpu:0', 'webgpu:1', ... in the order of findAdapters(); they exist after `await kiln.init()`
// (WebGPU hands out adapters asynchronously, and the contract's devices() is synchronous).
import { isMainThread } from 'node:worker_threads';
import { itemSize, type DType } from '../../dtype.js';
import { fail } from '../../errors.js';
import type { Fault } from '../../faults.js';
import { checkLaunchView, type Attrs, type Backend, type BufferHandle, type DeviceInfo, type DeviceTimer, type TensorView } from '../backend.js';
import type { Dispatcher, GpuBuffer } from './call.js';
import { unsupported } from './call.js';
import { DATA } from './data-ops.js';
import { WORKER_REASON, adapterKey, findAdapters, isCpuAdapter, refuseInWorker, type WebGpuOptions } from './dawn.js';
import { GpuDevice } from './device.js';
import { ELEMENTWISE, elementwiseSupports } from './elementwise-ops.js';
import { GRID_SAMPLE } from './grid-sample-ops.js';
import { MATMUL, autotune, candidatesFor, setTile, tileFor, tileName, type TileConfig } from './matmul.js';
import { REDUCE } from './reduce-ops.js';
import { SORT } from './sort-ops.js';
import { deviceTimer } from './timer.js';

const OPS: Record<string, Dispatcher> = { ...ELEMENTWISE, ...REDUCE, ...DATA, ...MATMUL, ...SORT, ...GRID_SAMPLE };

export interface WebGpuInitOptions extends WebGpuOptions {
  /** Tune the matmul tiles now when no cached choice exists (default true; KILN_WEBGPU_AUTOTUNE=0 turns it off). */
  autotune?: boolean;
}

export class WebGpuBackend implements Backend {
  readonly kind = 'webgpu' as const;
  #devices: GpuDevice[] = [];
  #infos: DeviceInfo[] = [];
  #reason: string = isMainThread ? 'not initialized: call `await kiln.init()` first (WebGPU finds adapters asynchronously)' : WORKER_REASON;
  #init: Promise<void> | undefined;

  devices(): DeviceInfo[] {
    return this.#infos;
  }

  reason(): string | undefined {
    return this.#infos.length ? undefined : this.#reason;
  }

  /** Finds adapters and opens one device per adapter (once; later calls wait for the first). */
  init(options: WebGpuInitOptions = {}, required = false): Promise<void> {
    if (!isMainThread) {
      if (required) refuseInWorker('kiln.init');
      return Promise.resolve();
    }
    this.#init ??= this.#open(options).catch((e: Error) => {
      this.#reason = e.message;
      this.#init = undefined;
    });
    return this.#init.then(() => {
      if (required && !this.#infos.length) fail('E_DEVICE', `webgpu: no device: ${this.#reason}`);
    });
  }

  async #open(options: WebGpuInitOptions): Promise<void> {
    const found = await findAdapters(options);
    if (!found.length) {
      this.#reason = 'Dawn found no WebGPU adapter (a GPU with Vulkan, Metal or D3D12 drivers, or Mesa lavapipe on the CPU)';
      return;
    }
    const devices: GpuDevice[] = [];
    for (const [i, f] of found.entries()) devices.push(await GpuDevice.open(f, i));
    this.#devices = devices;
    const tune = options.autotune ?? process.env.KILN_WEBGPU_AUTOTUNE !== '0';
    for (const d of devices) if (tune) await this.tune(d.index);
    this.#infos = devices.map((d) => this.#describe(d));
  }

  /** Picks the matmul tile configuration of a device (cached per adapter; `force` measures again). */
  async tune(index: number, opts: { force?: boolean; size?: number } = {}) {
    const d = this.#devices[index] ?? fail('E_DEVICE', `webgpu:${index} does not exist`);
    const timer = deviceTimer(d);
    const size = opts.size ?? (isCpuAdapter(d.found.info) ? 256 : 1024);
    const r = await autotune(d, adapterKey(d.found.info), async (run) => {
      timer.start();
      run();
      return timer.stop();
    }, { ...opts, size });
    if (this.#infos[index]) this.#infos[index] = this.#describe(d);
    return r;
  }

  #describe(d: GpuDevice): DeviceInfo {
    const i = d.found.info;
    return {
      id: d.id,
      kind: 'webgpu',
      index: d.index,
      name: i.description || `${i.vendor} ${i.device}`.trim() || 'WebGPU adapter',
      memory: undefined,
      details: {
        vendor: i.vendor,
        architecture: i.architecture,
        fallback: i.isFallbackAdapter,
        'shader-f16': d.features.has('shader-f16'),
        'timestamp-query': d.features.has('timestamp-query'),
        subgroups: d.features.has('subgroups'),
        maxBufferSize: d.limits.maxBufferSize,
        matmulTile: tileName(tileFor(d)),
        subnormals: d.floats.subnormals,
        fmaContraction: d.floats.fmaContraction,
        roundedProducts: d.floats.roundedProducts,
      },
    };
  }

  #dev(index: number, what: string): GpuDevice {
    const d = this.#devices[index];
    if (!d) fail('E_DEVICE', `${what}: webgpu:${index} does not exist (${this.#devices.length} device(s))`);
    d.assertAlive(what);
    return d;
  }

  alloc(device: number, nbytes: number): BufferHandle {
    const buf: GpuBuffer = { device, nbytes, gpu: this.#dev(device, 'alloc').alloc(nbytes) };
    return buf;
  }

  free(buf: BufferHandle): void {
    this.#devices[buf.device]?.release((buf as GpuBuffer).gpu);
  }

  write(buf: BufferHandle, src: ArrayBufferView, byteOffset = 0): void {
    this.#dev(buf.device, 'write').write((buf as GpuBuffer).gpu, src, byteOffset);
  }

  async read(buf: BufferHandle, dst: ArrayBufferView, byteOffset = 0): Promise<void> {
    await this.#dev(buf.device, 'read').read((buf as GpuBuffer).gpu, dst, byteOffset, 'read');
  }

  writeLater(buf: BufferHandle, nbytes: number, bytes: Promise<Uint8Array>): void {
    this.#dev(buf.device, 'to').writeLater((buf as GpuBuffer).gpu, nbytes, bytes);
  }

  run(op: string, inputs: TensorView[], outputs: TensorView[], attrs: Attrs, fault?: Fault): void {
    const device = (outputs[0] ?? inputs[0])?.buffer.device ?? 0;
    const dev = this.#dev(device, op);
    for (const v of inputs) checkLaunchView(v, itemSize(v.dtype));
    for (const v of outputs) checkLaunchView(v, itemSize(v.dtype));
    const call = { dev, op, inputs, outputs, attrs, fault };
    const f = OPS[op];
    if (!f) unsupported(call, 'no such op on webgpu');
    f(call);
  }

  supports(op: string, dtypes: DType[]): boolean {
    if (!(op in OPS)) return false;
    if (op === 'MatMul' || op === 'TopK') return !dtypes.includes('bool');
    return elementwiseSupports(op, dtypes);
  }

  sync(device: number): Promise<void> {
    return this.#dev(device, 'sync').settle('sync');
  }

  timer(device: number): DeviceTimer {
    return deviceTimer(this.#dev(device, 'timer'));
  }

  memoryInfo(): Record<string, unknown> {
    return Object.fromEntries(this.#devices.map((d) => [d.id, d.memory()]));
  }

  /** The matmul tile configurations a device can run, and a way to pin one (tests, experiments). */
  matmulTiles(index: number): TileConfig[] {
    return candidatesFor(this.#dev(index, 'matmulTiles'));
  }

  setMatmulTile(index: number, tile: TileConfig): void {
    const d = this.#dev(index, 'setMatmulTile');
    setTile(d, tile);
    this.#infos[index] = this.#describe(d);
  }

  /** Dawn's compilation messages for every shader variant compiled on a device so far. */
  compilation(index: number) {
    return this.#dev(index, 'compilation').compilation();
  }

  /** Destroys a device (testing device loss, or shutdown): every later call on it fails with E_DEVICE_LOST. */
  destroyDevice(index: number): void {
    this.#devices[index]?.destroy();
  }
}
