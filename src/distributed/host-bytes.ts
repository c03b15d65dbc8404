// Byte arrays for the CPU backend's payloads (the transport's receive buffers, tensor reads): large
// ones from the addon's huge-page memory, and recycled between calls, since a collective called again
// and again (a training step's gradients) wants the same sizes every time and fresh memory costs a
// page fault per page on first touch.
import { tryNative } from '../native.js';

/** Arrays of this size and more come from the addon's huge-page memory. */
const HOST_ARRAY_MIN = 4 << 20;
/** Arrays of this size and more are recycled: fresh ones would be fresh pages, a fault per 4 KiB on first touch. */
const RECYCLE_MIN = 64 << 10;
/** At most this many bytes of recycled arrays wait for reuse (oldest dropped first). */
const POOL_CAP = 256 << 20;

const pool: Uint8Array[] = [];
let pooled = 0;

/**
 * A byte array of n bytes whose contents are undefined. Large ones are recycled arrays of the same
 * size, or fresh from the addon's allocator (native/buffer.cc: 64-byte aligned, transparent huge
 * pages), whose first touch ran ~5x faster than V8's fresh pages on the build VM; others are
 * Buffers of their own memory, not zero-filled (every caller overwrites every byte).
 */
export function hostBytes(n: number): Uint8Array {
  if (n >= RECYCLE_MIN) {
    const i = pool.findIndex((b) => b.length === n);
    if (i >= 0) {
      pooled -= n;
      return pool.splice(i, 1)[0];
    }
  }
  const addon = n >= HOST_ARRAY_MIN ? tryNative() : undefined;
  return addon ? new Uint8Array(addon.hostArray(n)) : Buffer.allocUnsafeSlow(n);
}

/**
 * Hands arrays back for reuse by hostBytes. Only for arrays nothing refers to any more (sends taken,
 * writes staged or done); views of part of a buffer and small arrays are left to the GC.
 */
export function recycle(...arrays: Uint8Array[]): void {
  for (const b of new Set(arrays)) {
    if (b.length < RECYCLE_MIN || b.byteOffset !== 0 || b.byteLength !== b.buffer.byteLength || pool.some((p) => p.buffer === b.buffer)) continue;
    pool.push(new Uint8Array(b.buffer));
    pooled += b.length;
    while (pooled > POOL_CAP) pooled -= pool.shift()!.length;
  }
}

/** Lets the GC have every recycled array (the world group's destroy(): no collective will want them). */
export function dropRecycled(): void {
  pool.length = 0;
  pooled = 0;
}
