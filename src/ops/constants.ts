// 0-d constants for the JS numbers and booleans given as operands (add(x, 1), where(c, x, 0)), kept
// per device, dtype and value. A scalar operand then costs a Map lookup instead of a buffer, a Fill
// kernel and a Tensor per call, and a recorded ONNX replay reads the constant instead of refilling it.
// They are Kiln's own: handed only to op front ends as kernel inputs (never returned, never written,
// never disposed by a caller), outside every kiln.scope and left out of kiln.memory(). At most
// CAPACITY of them live; the least recently used is disposed, which frees it after its queued work.
import type { DType } from '../dtype.js';
import { internal } from '../lifetime.js';
import type { Tensor } from '../tensor.js';
import { full } from './creation.js';

const CAPACITY = 256;
const cache = new Map<string, Tensor>();

/** The cached 0-d tensor holding `value` as `dtype` on `device` (made on first use). */
export function scalarConstant(value: number | boolean, dtype: DType, device: string): Tensor {
  const key = `${device} ${dtype} ${Object.is(value, -0) ? '-0' : value}`;
  const hit = cache.get(key);
  if (hit && !hit.disposed) {
    cache.delete(key); // re-inserted below: Map order is recency order
    cache.set(key, hit);
    return hit;
  }
  const t = internal(() => full([], value, { dtype, device }));
  cache.delete(key);
  cache.set(key, t);
  if (cache.size > CAPACITY) {
    const [oldest, old] = cache.entries().next().value as [string, Tensor];
    cache.delete(oldest);
    old.dispose();
  }
  return t;
}

/** Tests: how many constants are cached. */
export const cachedConstants = (): number => cache.size;
