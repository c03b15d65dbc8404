// Fresh byte arrays for the CPU backend's payloads (the transport's receive buffers, tensor reads).
import { tryNative } from '../native.js';

/** Arrays of this size and more come from the addon's huge-page memory. */
const HOST_ARRAY_MIN = 4 << 20;

/**
 * A fresh byte array of n bytes. Large ones come from the addon's allocator (native/buffer.cc: 64-byte
 * aligned, transparent huge pages), whose first touch ran ~5x faster than V8's fresh pages on the
 * build VM; small ones are ordinary Uint8Arrays.
 */
export function hostBytes(n: number): Uint8Array {
  const addon = n >= HOST_ARRAY_MIN ? tryNative() : undefined;
  return addon ? new Uint8Array(addon.hostArray(n)) : new Uint8Array(n);
}
