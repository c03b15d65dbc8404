// Loading Dawn (the `webgpu` package) and finding adapters. Nothing here runs until init(): importing
// Kiln never loads dawn.node, so processes and worker threads that do not use WebGPU pay nothing.
import type {} from 'webgpu'; // the WebGPU types (GPUDevice, ...) as globals
import { isMainThread } from 'node:worker_threads';
import { KilnError, fail } from '../../errors.js';

/** WebGPU's numeric flags (the `GPUBufferUsage` / `GPUMapMode` globals, which Dawn does not install). */
export const Usage = { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, STORAGE: 128, QUERY_RESOLVE: 512 } as const;
export const MapMode = { READ: 1, WRITE: 2 } as const;

export interface WebGpuOptions {
  /** Which adapter comes first ('webgpu:0'); default 'high-performance'. */
  powerPreference?: GPUPowerPreference;
}

/**
 * dawn.node crashes the process when it is loaded in a worker thread while the main thread uses it
 * too (dawn-gpu/node-webgpu#13; reproduced with webgpu 0.6.2: SIGSEGV). Kiln therefore never loads it
 * outside the main thread and says so.
 */
export const WORKER_REASON =
  'the webgpu backend runs only on the main thread: dawn.node crashes the process when loaded in a worker thread (dawn-gpu/node-webgpu#13); run WebGPU work on the main thread';

export function refuseInWorker(what: string): void {
  if (!isMainThread) fail('E_UNSUPPORTED', `${what}: ${WORKER_REASON}`);
}

let gpu: Promise<GPU> | undefined;

async function loadGpu(): Promise<GPU> {
  refuseInWorker('webgpu');
  let mod: typeof import('webgpu');
  try {
    mod = await import('webgpu');
  } catch (e) {
    fail('E_UNSUPPORTED', `webgpu: the 'webgpu' package (Dawn) failed to load: ${(e as Error).message}`);
  }
  // exact timestamps for the device timer (Dawn quantizes them by default, as browsers must)
  return mod.create(['disable-dawn-features=timestamp_quantization']);
}

export interface FoundAdapter {
  adapter: GPUAdapter;
  info: GPUAdapterInfo;
}

/**
 * Every distinct adapter Dawn offers, the preferred power class first (WebGPU hands out one adapter
 * per request, so each power preference is asked once and duplicates are dropped).
 */
export async function findAdapters(o: WebGpuOptions = {}): Promise<FoundAdapter[]> {
  gpu ??= loadGpu();
  let g: GPU;
  try {
    g = await gpu;
  } catch (e) {
    gpu = undefined;
    throw e instanceof KilnError ? e : new KilnError('E_UNSUPPORTED', `webgpu: ${(e as Error).message}`);
  }
  const first = o.powerPreference ?? 'high-performance';
  const order: GPUPowerPreference[] = [first, first === 'high-performance' ? 'low-power' : 'high-performance'];
  const found: FoundAdapter[] = [];
  const seen = new Set<string>();
  for (const powerPreference of order) {
    const adapter = await g.requestAdapter({ powerPreference });
    if (!adapter) continue;
    const info = adapter.info;
    const key = `${info.vendor}|${info.architecture}|${info.device}|${info.description}`;
    if (seen.has(key)) continue;
    seen.add(key);
    found.push({ adapter, info });
  }
  return found;
}

/** The cache key of an adapter (autotune results are stored per key). */
export const adapterKey = (i: GPUAdapterInfo): string => `${i.vendor}|${i.architecture}|${i.device}|${i.description}`;

/** A software adapter running on the CPU (lavapipe, SwiftShader): few lanes, large caches. */
export const isCpuAdapter = (i: GPUAdapterInfo): boolean => i.isFallbackAdapter || /llvmpipe|swiftshader|lavapipe/i.test(i.description);
