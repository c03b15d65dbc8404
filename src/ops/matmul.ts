import { isBool, promoteTypes } from '../dtype.js';
import { fail } from '../errors.js';
import { broadcastShapes } from '../shape.js';
import { Tensor } from '../tensor.js';
import { cast } from './cast.js';
import { run1 } from './run.js';
import { Temps, withTemps } from './temps.js';

function operands(temps: Temps, name: string, a: Tensor, b: Tensor): [Tensor, Tensor] {
  if (!(a instanceof Tensor) || !(b instanceof Tensor)) fail('E_ARGUMENT', `${name}: operands must be Tensors`);
  const dtype = promoteTypes(a.dtype, b.dtype);
  if (isBool(dtype)) fail('E_DTYPE', `${name}: bool operands (${a.describe()}, ${b.describe()}); cast them first`);
  return [a.dtype === dtype ? a : temps.add(cast(a, dtype)), b.dtype === dtype ? b : temps.add(cast(b, dtype))];
}

/** Enqueues MatMul on rank >= 2 operands: broadcasts batch dims, checks K, optional bias c. */
function batched(temps: Temps, name: string, a: Tensor, b: Tensor, attrs: { alpha: number; beta: number }, c?: Tensor): Tensor {
  const [M, K] = a.shape.slice(-2), [K2, N] = b.shape.slice(-2);
  if (K !== K2) fail('E_SHAPE', `${name}: inner dims differ: ${a.describe()} @ ${b.describe()} (${K} vs ${K2})`);
  const batch = broadcastShapes(name, a.shape.slice(0, -2), b.shape.slice(0, -2));
  const ae = temps.add(a.expand([...batch, M, K]));
  const be = temps.add(b.expand([...batch, K, N]));
  const outShape = [...batch, M, N];
  const ins = [ae, be];
  if (c) {
    broadcastShapes(name, c.shape, outShape);
    ins.push(temps.add(c.expand(outShape)));
  }
  return run1('MatMul', ins, outShape, ae.dtype, attrs);
}

/**
 * Matrix product with NumPy semantics: 1-D operands are promoted to a row (left) or column (right)
 * vector and the added dim removed again; batch dims broadcast.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  return withTemps((temps) => {
    let [x, y] = operands(temps, 'matmul', a, b);
    if (x.rank === 0 || y.rank === 0) fail('E_SHAPE', `matmul: operands must have at least one dim (${a.describe()}, ${b.describe()}); use mul for scalars`);
    const vecA = x.rank === 1, vecB = y.rank === 1;
    if (vecA) x = temps.add(x.unsqueeze(0));
    if (vecB) y = temps.add(y.unsqueeze(1));
    const out = temps.add(batched(temps, 'matmul', x, y, { alpha: 1, beta: 0 }));
    let shape = [...out.shape];
    if (vecB) shape.splice(shape.length - 1, 1);
    if (vecA) shape.splice(shape.length - (vecB ? 1 : 2), 1);
    return out.reshape(shape);
  });
}

export interface GemmOptions {
  /** Bias, broadcast to [M, N]. */
  c?: Tensor;
  alpha?: number;
  beta?: number;
  transA?: boolean;
  transB?: boolean;
}

/** alpha * op(A) @ op(B) + beta * C for 2-D A and B (ONNX Gemm); transposes are views, never copies. */
export function gemm(a: Tensor, b: Tensor, o: GemmOptions = {}): Tensor {
  return withTemps((temps) => {
    let [x, y] = operands(temps, 'gemm', a, b);
    if (x.rank !== 2 || y.rank !== 2) fail('E_SHAPE', `gemm: A and B must be 2-D, got ${a.describe()} and ${b.describe()}`);
    if (o.transA) x = temps.add(x.transpose());
    if (o.transB) y = temps.add(y.transpose());
    const alpha = o.alpha ?? 1, beta = o.beta ?? 1;
    if (!Number.isFinite(alpha) || !Number.isFinite(beta)) fail('E_ARGUMENT', `gemm: alpha and beta must be finite numbers`);
    let c: Tensor | undefined;
    if (o.c) {
      if (!(o.c instanceof Tensor)) fail('E_ARGUMENT', 'gemm: c must be a Tensor');
      c = o.c.dtype === x.dtype ? o.c : temps.add(cast(o.c, x.dtype));
    }
    return batched(temps, 'gemm', x, y, { alpha, beta: c ? beta : 0 }, c);
  });
}
