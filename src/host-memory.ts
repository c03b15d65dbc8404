// Host memory for work sized by data a caller or a model controls: typed arrays checked against the
// host's memory, and a check of the JS heap, whose exhaustion ends the process (no error to catch).
import { getHeapStatistics } from 'node:v8';
import { fail } from './errors.js';
import { tryNative } from './native.js';

/**
 * n float64 values for the host side of a node sized by the model's data (window samples, Resize
 * coordinates and weights, AffineGrid's base grid): typed, and checked against the host's memory
 * first, so a size the host cannot hold is E_OOM naming `what`. A JS array that long would overflow
 * the JS heap, which ends the process (HannWindow of 4e8 did).
 */
export function hostValues(n: number, what: string): Float64Array {
  // twice the array: the tensor made from it follows, and filling an array the host only just holds
  // brings the OOM killer (a window of 3e9 on a 24 GiB host)
  tryNative()?.checkHostMemory(n * 16, what);
  try {
    return new Float64Array(n);
  } catch {
    return fail('E_OOM', `${what}: ${n} values are more than one host array holds`);
  }
}

/**
 * E_OOM naming `what` unless the JS heap has `bytes` to spare: for work that must use JS arrays (a
 * sort with a comparator), sized by the model's data. Running out of JS heap ends the process.
 */
export function checkJsHeap(bytes: number, what: string): void {
  const h = getHeapStatistics();
  const spare = h.heap_size_limit - h.used_heap_size;
  if (bytes > spare) fail('E_OOM', `${what}: needs about ${bytes} bytes of JS heap, ${spare} are left (node --max-old-space-size raises the limit)`);
}
