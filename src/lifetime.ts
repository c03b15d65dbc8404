import { AsyncLocalStorage } from 'node:async_hooks';
import type { BufferHandle, Backend } from './backends/backend.js';
import { fail } from './errors.js';
import type { Fault } from './faults.js';

/**
 * Storage: one device buffer shared by a tensor and all its views. Each live Tensor holds one
 * reference; the buffer is freed (stream-ordered) when the last reference is released.
 */
export class Storage {
  private refs = 0;
  /** False for Kiln's own cached constants (see internal()): kiln.memory() reports the user's tensors. */
  private readonly counted = counting;
  /** The data faults of the values in the buffer (faults.ts), set as work that writes it is enqueued. */
  faults: Fault[] | undefined;
  constructor(
    readonly backend: Backend,
    readonly deviceId: string,
    readonly buffer: BufferHandle,
  ) {
    this.account(buffer.nbytes, 0);
  }
  get alive(): boolean {
    return this.refs > 0;
  }
  retain(): void {
    this.refs++;
    this.account(0, 1);
  }
  release(): void {
    this.account(0, -1);
    if (--this.refs === 0) {
      this.account(-this.buffer.nbytes, 0);
      this.backend.free(this.buffer);
    }
  }
  private account(bytes: number, tensors: number): void {
    if (this.counted) account(this.deviceId, bytes, tensors);
  }
}

let counting = true;

interface DeviceUsage {
  tensors: number;
  bytes: number;
}

const usage = new Map<string, DeviceUsage>();
let reclaimed = 0;

function account(device: string, bytes: number, tensors: number): void {
  let u = usage.get(device);
  if (!u) usage.set(device, (u = { tensors: 0, bytes: 0 }));
  u.bytes += bytes;
  u.tensors += tensors;
}

export interface MemoryReport {
  /** Per device: live (not disposed, not collected) tensors and the bytes their storages hold. */
  devices: Record<string, DeviceUsage>;
  /** Tensors the safety net (FinalizationRegistry) freed because they were never disposed. */
  reclaimed: number;
}

/** Live tensors and bytes per device, and how many leaked tensors the safety net reclaimed. */
export function memory(): MemoryReport {
  const devices: Record<string, DeviceUsage> = {};
  for (const [k, v] of usage) devices[k] = { ...v };
  return { devices, reclaimed };
}

// The safety net: a tensor that is garbage collected without dispose() releases its reference here,
// and is counted so leaks are visible in kiln.memory().
const finalizer = new FinalizationRegistry<Storage>((storage) => {
  reclaimed++;
  storage.release();
});

export interface Disposable {
  dispose(): void;
}

/** Disposes every value of a record of tensors (a run's outputs nobody will receive). */
export function disposeAll(out: Record<string, Disposable>): void {
  for (const t of Object.values(out)) t.dispose();
}

export function track(owner: object, storage: Storage, token: object): void {
  finalizer.register(owner, storage, token);
  scopes.getStore()?.add(owner as Disposable);
}

export function untrack(token: object): void {
  finalizer.unregister(token);
}

const scopes = new AsyncLocalStorage<Set<Disposable>>();

/**
 * Runs fn outside any kiln.scope, with the storages it creates left out of kiln.memory(): for tensors
 * Kiln keeps for itself (src/ops/constants.ts), which no user scope may dispose and no user owns.
 */
export function internal<T>(fn: () => T): T {
  counting = false;
  try {
    return scopes.exit(fn);
  } finally {
    counting = true;
  }
}

/** Collects `Disposable`s found in a scope's return value so they survive it. */
function kept(value: unknown, out = new Set<unknown>(), depth = 0): Set<unknown> {
  if (value === null || typeof value !== 'object' || depth > 4) return out;
  if (out.has(value)) return out;
  out.add(value);
  if (Array.isArray(value)) for (const v of value) kept(v, out, depth + 1);
  else if (!(value instanceof Promise) && Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) kept(v, out, depth + 1);
  return out;
}

/**
 * Runs fn and disposes every tensor created inside it (including in awaited continuations when fn
 * is async), except the tensors it returns (directly, in an array, or in a plain object).
 */
export function scope<T>(fn: () => T): T {
  if (typeof fn !== 'function') fail('E_ARGUMENT', 'kiln.scope(fn): fn must be a function');
  const created = new Set<Disposable>();
  const finish = (result: unknown) => {
    const keep = kept(result);
    for (const t of created) if (!keep.has(t)) t.dispose();
    const outer = scopes.getStore();
    if (outer) for (const t of keep) if (created.has(t as Disposable)) outer.add(t as Disposable);
  };
  let result: T;
  try {
    result = scopes.run(created, fn);
  } catch (e) {
    finish(undefined); // a synchronous throw disposes like an async rejection does
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => {
        finish(v);
        return v;
      },
      (e) => {
        finish(undefined);
        throw e;
      },
    ) as T;
  }
  finish(result);
  return result;
}
