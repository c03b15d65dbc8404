import { resolveDevice } from '../backends/backend.js';
import { copyBetweenCpuAndCuda } from '../backends/cuda.js';
import { checkDType, itemSize, type DType } from '../dtype.js';
import { fail } from '../errors.js';
import { Tensor, checkTensor, tensorOps } from '../tensor.js';
import { empty, run1 } from './run.js';

/**
 * Converts to `dtype` (always a new contiguous tensor). Float to integer truncates toward zero and
 * saturates at the integer range (NaN gives 0); integer to narrower integer wraps like NumPy; any
 * non-zero value is true for bool.
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  return run1('Cast', [x], checkTensor('cast', x).shape, checkDType(dtype, 'cast'));
}

/** The same values on `device`. */
export function copyTo(x: Tensor, device: string): Tensor {
  checkTensor('to', x);
  const target = resolveDevice(device).id;
  if (target === x.device) return x.withLayout('to', x.shape, x.strides);
  const from = x.device.split(':')[0], to = target.split(':')[0];
  if ((from === 'cpu' && to === 'cuda') || (from === 'cuda' && to === 'cpu')) {
    const src = x.isContiguous ? x : x.contiguous();
    const out = empty(x.shape, x.dtype, target, 'to');
    try {
      copyBetweenCpuAndCuda(src.view('to'), out.view('to'), from, itemSize(x.dtype));
    } catch (e) {
      out.dispose();
      throw e;
    } finally {
      if (src !== x) src.dispose();
    }
    return out;
  }
  fail('E_UNSUPPORTED', `to: this version of Kiln has no transfer path from ${x.device} to ${target}`);
}

tensorOps.cast = cast;
tensorOps.copy = copyTo;
