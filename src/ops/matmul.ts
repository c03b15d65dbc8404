import { isBool, promoteTypes } from '../dtype.js';
import { fail } from '../errors.js';
import { describeValue, optionsArg } from '../args.js';
import { broadcastShapes } from '../shape.js';
import { Tensor, checkTensor } from '../tensor.js';
import { cast } from './cast.js';
import { run1 } from './run.js';
import { Temps, withTemps } from './temps.js';

function operands(temps: Temps, name: string, a: Tensor, b: Tensor): [Tensor, Tensor] {
  checkTensor(name, a, 'A');
  checkTensor(name, b, 'B');
  const dtype = promoteTypes(a.dtype, b.dtype);
  if (isBool(dtype)) fail('E_DTYPE', `${name}: bool operands (${a.describe()}, ${b.describe()}); cast them first`);
  return [a.dtype === dtype ? a : temps.add(cast(a, dtype)), b.dtype === dtype ? b : temps.add(cast(b, dtype))];
}

/** How a matmul may run (the cuda backend honours both; the cpu always computes in full precision). */
export interface MatmulOptions {
  /** 'highest' (default): float32 in true float32; 'high': tf32 tensor cores allowed for float32. */
  precision?: 'highest' | 'high';
  /** Which kernel: 'auto' (default) picks by device, dtype, precision and shape; 'simt', 'mma', 'wgmma' (sm_90; float32 only at precision 'high', as tf32) and 'cublas' are cuda's. */
  impl?: 'auto' | 'simt' | 'mma' | 'wgmma' | 'cublas';
}

const PRECISIONS = ['highest', 'high'];
const IMPLS = ['auto', 'simt', 'mma', 'wgmma', 'cublas'];

/**
 * KILN_WGMMA_TILE_N (cuda, for benchmarks and tests): the sm_90a wgmma kernel's output tile width,
 * 128 or 256 (the wide tile: one m64n256 wgmma per consumer warpgroup), or 'auto' / unset: picked by
 * shape (the wide tile where its waves over the SMs cost less: matmul_wgmma_layout.h's auto_tile_n).
 * Undefined for auto. Checked on every device, so a typo fails wherever it is made; only cuda reads it.
 */
function wgmmaTileN(): number | undefined {
  const v = process.env.KILN_WGMMA_TILE_N;
  if (v === undefined || v === '' || v === 'auto') return undefined;
  if (v === '128' || v === '256') return Number(v);
  return fail('E_ARGUMENT', `KILN_WGMMA_TILE_N must be 128, 256 or auto, got ${describeValue(v)}`);
}

/** The attrs a MatmulOptions adds (none for the defaults, so every backend sees the op table's attrs). */
function optionAttrs(name: string, a: Tensor, o: MatmulOptions): Record<string, string | number> {
  const attrs: Record<string, string | number> = {};
  const tileN = wgmmaTileN();
  if (tileN !== undefined && a.device.startsWith('cuda')) attrs.wgmma_tile_n = tileN;
  if (o.precision !== undefined) {
    if (!PRECISIONS.includes(o.precision)) fail('E_ARGUMENT', `${name}: precision must be 'highest' or 'high', got ${describeValue(o.precision)}`);
    attrs.precision = o.precision;
  }
  if (o.impl !== undefined && o.impl !== 'auto') {
    if (!IMPLS.includes(o.impl)) fail('E_ARGUMENT', `${name}: impl must be one of ${IMPLS.join(', ')}, got ${describeValue(o.impl)}`);
    if (!a.device.startsWith('cuda')) fail('E_UNSUPPORTED', `${name}: impl ${describeValue(o.impl)} is a cuda kernel; ${a.device} has 'auto' only`);
    attrs.impl = o.impl;
  }
  return attrs;
}

/**
 * Whether cuBLASLt can read a matrix operand in place: one of its two last strides is 1 and the other
 * spans the matrix (a leading dimension); `rowMajor` asks for the unit stride on the columns (C).
 * The same rule as `as_transpose` in kernels/cuda/matmul_cublas.cu, which refuses what this does not copy.
 */
function cublasReadable(t: Tensor, rowMajor = false): boolean {
  const [R, C] = t.shape.slice(-2), [rs, cs] = t.strides.slice(-2);
  return (cs === 1 && rs >= Math.max(C, 1)) || (!rowMajor && rs === 1 && cs >= Math.max(R, 1));
}

/** Enqueues MatMul on rank >= 2 operands: broadcasts batch dims, checks K, optional bias c. */
function batched(temps: Temps, name: string, a: Tensor, b: Tensor, attrs: Record<string, number | string>, c?: Tensor): Tensor {
  const [M, K] = a.shape.slice(-2), [K2, N] = b.shape.slice(-2);
  if (K !== K2) fail('E_SHAPE', `${name}: inner dims differ: ${a.describe()} @ ${b.describe()} (${K} vs ${K2})`);
  const batch = broadcastShapes(name, a.shape.slice(0, -2), b.shape.slice(0, -2));
  // Kiln's kernels read any strides; cuBLASLt needs a unit stride per matrix, so impl 'cublas' gets
  // a contiguous copy of an operand it cannot read in place (as torch.matmul does).
  const readable = (t: Tensor, rowMajor = false) => (attrs.impl !== 'cublas' || cublasReadable(t, rowMajor) ? t : temps.add(t.contiguous()));
  const ae = temps.expand(readable(a), [...batch, M, K]);
  const be = temps.expand(readable(b), [...batch, K, N]);
  const outShape = [...batch, M, N];
  const ins = [ae, be];
  if (c) {
    broadcastShapes(name, c.shape, outShape);
    const ce = temps.expand(c, outShape);
    ins.push(readable(ce, true));
  }
  return run1('MatMul', ins, outShape, ae.dtype, attrs);
}

/**
 * Matrix product with NumPy semantics: 1-D operands are promoted to a row (left) or column (right)
 * vector and the added dim removed again; batch dims broadcast.
 */
export function matmul(a: Tensor, b: Tensor, options?: MatmulOptions): Tensor {
  options = optionsArg('matmul', options, ['precision', 'impl']);
  return withTemps((temps) => {
    let [x, y] = operands(temps, 'matmul', a, b);
    const extra = optionAttrs('matmul', x, options);
    if (x.rank === 0 || y.rank === 0) fail('E_SHAPE', `matmul: operands must have at least one dim (${a.describe()}, ${b.describe()}); use mul for scalars`);
    const vecA = x.rank === 1, vecB = y.rank === 1;
    if (vecA) x = temps.add(x.unsqueeze(0));
    if (vecB) y = temps.add(y.unsqueeze(1));
    const out = temps.add(batched(temps, 'matmul', x, y, { alpha: 1, beta: 0, ...extra }));
    let shape = [...out.shape];
    if (vecB) shape.splice(shape.length - 1, 1);
    if (vecA) shape.splice(shape.length - (vecB ? 1 : 2), 1);
    return out.reshape(shape);
  });
}

export interface GemmOptions extends MatmulOptions {
  /** Bias, broadcast to [M, N]. */
  c?: Tensor;
  alpha?: number;
  beta?: number;
  transA?: boolean;
  transB?: boolean;
}

/** alpha * op(A) @ op(B) + beta * C for 2-D A and B (ONNX Gemm); transposes are views, never copies. */
export function gemm(a: Tensor, b: Tensor, o?: GemmOptions): Tensor {
  o = optionsArg('gemm', o, ['c', 'alpha', 'beta', 'transA', 'transB', 'precision', 'impl']);
  return withTemps((temps) => {
    let [x, y] = operands(temps, 'gemm', a, b);
    if (x.rank !== 2 || y.rank !== 2) fail('E_SHAPE', `gemm: A and B must be 2-D, got ${a.describe()} and ${b.describe()}`);
    if (o.transA) x = temps.add(x.transpose());
    if (o.transB) y = temps.add(y.transpose());
    const alpha = o.alpha ?? 1, beta = o.beta ?? 1;
    if (!Number.isFinite(alpha) || !Number.isFinite(beta)) fail('E_ARGUMENT', `gemm: alpha and beta must be finite numbers`);
    let c: Tensor | undefined;
    if (o.c) {
      checkTensor('gemm', o.c, 'c');
      c = o.c.dtype === x.dtype ? o.c : temps.add(cast(o.c, x.dtype));
    }
    return batched(temps, 'gemm', x, y, { alpha, beta: c ? beta : 0, ...optionAttrs('gemm', x, o) }, c);
  });
}
