// Host tensors (initializers, constants, fed test data, onnxruntime results) onto a device.
import { empty } from '../ops/run.js';
import type { Tensor } from '../tensor.js';
import type { HostTensor } from './proto.js';

/** A device tensor holding a host tensor's values (raw storage bits, float16 included). */
export function upload(h: HostTensor, device: string): Tensor {
  const t = empty(h.shape, h.dtype, device, 'onnx');
  if (h.data.length) {
    const s = t.storageFor('onnx');
    s.backend.write(s.buffer, h.data, 0);
  }
  return t;
}
