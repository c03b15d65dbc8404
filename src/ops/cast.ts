import { resolveDevice, type TensorView } from '../backends/backend.js';
import { copyBetweenCpuAndCuda } from '../backends/cuda.js';
import { checkDType, itemSize, type DType } from '../dtype.js';
import { KilnError, asKilnError, fail } from '../errors.js';
import { Tensor, checkTensor, tensorOps } from '../tensor.js';
import { empty, flowFaults, run1 } from './run.js';

/**
 * Converts to `dtype` (always a new contiguous tensor). Float to integer truncates toward zero and
 * saturates at the integer range (NaN gives 0); integer to narrower integer wraps like NumPy; any
 * non-zero value is true for bool.
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  return run1('Cast', [x], checkTensor('cast', x).shape, checkDType(dtype, 'cast'));
}

/**
 * The same values on `device`, ordered on both devices' queues; the JS thread never waits. cpu and
 * cuda copy natively; a copy to or from webgpu reads the source back (asynchronously) and the
 * destination's queue waits for the bytes (Backend.writeLater); between two non-cpu devices the
 * values go through the cpu.
 */
export function copyTo(x: Tensor, device: string): Tensor {
  checkTensor('to', x);
  const target = resolveDevice(device);
  if (target.id === x.device) return x.withLayout('to', x.shape, x.strides);
  const from = x.device.split(':')[0], to = target.id.split(':')[0];
  if (from !== 'cpu' && to !== 'cpu') {
    const staged = copyTo(x, 'cpu');
    try {
      return copyTo(staged, target.id);
    } finally {
      staged.dispose(); // stream-ordered: after the copy out of it
    }
  }
  if (from === 'cuda' || to === 'cuda') return copyWith(x, target.id, (src, out) => copyBetweenCpuAndCuda(src, out, from as 'cpu' | 'cuda', itemSize(x.dtype)));
  if (!target.backend.writeLater) fail('E_UNSUPPORTED', `to: ${target.id} cannot take bytes from ${x.device}`);
  const source = resolveDevice(x.device).backend;
  return copyWith(x, target.id, (src, out) => {
    const nbytes = x.size * itemSize(x.dtype);
    if (nbytes === 0) return; // nothing to move
    const bytes = new Uint8Array(nbytes);
    const read = source.read(src.buffer, bytes, src.offset * itemSize(x.dtype));
    const arrived = read.then(
      () => bytes,
      (e: unknown) => {
        const k = asKilnError(e);
        throw new KilnError(k.code, `to: copying from ${x.device} failed: ${k.message}`);
      },
    );
    target.backend.writeLater!(out.buffer, nbytes, arrived);
  });
}

/** A new contiguous tensor on `device` that `copy` fills from x's contiguous view. */
function copyWith(x: Tensor, device: string, copy: (src: TensorView, out: TensorView) => void): Tensor {
  const src = x.isContiguous ? x : x.contiguous();
  const out = empty(x.shape, x.dtype, device, 'to');
  try {
    copy(src.view('to'), out.view('to'));
    flowFaults([src], [out]);
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    if (src !== x) src.dispose();
  }
  return out;
}

tensorOps.cast = cast;
tensorOps.copy = copyTo;
