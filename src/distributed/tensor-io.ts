// Moving tensor bytes between a device and host memory for the CPU backend, in the device's queue
// order: reading waits for the work queued before it; writing is queued after it.
import { itemSize, type DType } from '../dtype.js';
import { fail } from '../errors.js';
import { empty } from '../ops/run.js';
import type { Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { checkLiveTensor } from './group.js';
import { hostBytes } from './host-bytes.js';

/** The tensor's elements as raw bytes of its dtype, row-major (a sync point of its device). */
export async function readBytes(t: Tensor, op: string): Promise<Uint8Array> {
  t.storageFor(op);
  const src = t.isContiguous ? t : t.contiguous();
  try {
    const out = hostBytes(src.size * itemSize(src.dtype));
    await src.readInto(out, op);
    return out;
  } finally {
    if (src !== t) src.dispose();
  }
}

/** Throws unless the results of an in-place call can land in t (it must be contiguous). */
export function checkWritable(t: Tensor, op: string): void {
  checkLiveTensor(op, t);
  if (!t.isContiguous) fail('E_ARGUMENT', `${op}: works in place and needs a contiguous tensor, got a strided view of ${t.describe()}; pass t.contiguous()`);
}

/** Queues bytes into t's elements starting at element `at` (t contiguous). */
export function writeBytes(t: Tensor, bytes: Uint8Array, op: string, at = 0): void {
  if (!bytes.length) return;
  const s = t.storageFor(op);
  s.backend.write(s.buffer, bytes, (t.offset + at) * itemSize(t.dtype));
}

/** A new tensor on device holding bytes. */
export function tensorFromBytes(shape: Shape, dtype: DType, device: string, bytes: Uint8Array, op: string): Tensor {
  const t = empty(shape, dtype, device, op);
  writeBytes(t, bytes, op);
  return t;
}
