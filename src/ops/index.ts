// Every op, and the Tensor methods that call them (x.add(y) is add(x, y)).
import type { DType } from '../dtype.js';
import { Tensor } from '../tensor.js';
import { cast } from './cast.js';
import * as ew from './elementwise.js';
import { gemm, matmul, type GemmOptions, type MatmulOptions } from './matmul.js';
import { layerNorm, logSoftmax, rmsNorm, softmax, type LayerNormOptions, type RmsNormOptions } from './normalization.js';
import * as red from './reduce.js';
import { gather, pad, split, tile, type PadOptions } from './shape-ops.js';
import { argsort, sort, topk, type SortOptions, type TopkOptions, type TopkResult } from './sort.js';

export * from './cast.js';
export * from './creation.js';
export * from './elementwise.js';
export { gridSample, type GridSampleMode, type GridSampleOptions, type GridSamplePadding } from './grid-sample.js';
export * from './matmul.js';
export * from './normalization.js';
export * from './reduce.js';
export * from './shape-ops.js';
export * from './sort.js';
export { debug } from './run.js';

type Operand = ew.Operand;
type ArgOptions = { axis?: number; keepdims?: boolean };

declare module '../tensor.js' {
  interface Tensor {
    add(b: Operand): Tensor;
    sub(b: Operand): Tensor;
    mul(b: Operand): Tensor;
    div(b: Operand): Tensor;
    pow(b: Operand): Tensor;
    maximum(b: Operand): Tensor;
    minimum(b: Operand): Tensor;
    mod(b: Operand): Tensor;
    equal(b: Operand): Tensor;
    notEqual(b: Operand): Tensor;
    less(b: Operand): Tensor;
    lessEqual(b: Operand): Tensor;
    greater(b: Operand): Tensor;
    greaterEqual(b: Operand): Tensor;
    logicalAnd(b: Operand): Tensor;
    logicalOr(b: Operand): Tensor;
    logicalXor(b: Operand): Tensor;
    logicalNot(): Tensor;
    bitwiseAnd(b: Operand): Tensor;
    bitwiseOr(b: Operand): Tensor;
    bitwiseXor(b: Operand): Tensor;
    bitwiseNot(): Tensor;
    leftShift(b: Operand): Tensor;
    rightShift(b: Operand): Tensor;
    neg(): Tensor;
    abs(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    reciprocal(): Tensor;
    sin(): Tensor;
    cos(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    erf(): Tensor;
    silu(): Tensor;
    tan(): Tensor;
    asin(): Tensor;
    acos(): Tensor;
    atan(): Tensor;
    sinh(): Tensor;
    cosh(): Tensor;
    asinh(): Tensor;
    acosh(): Tensor;
    atanh(): Tensor;
    floor(): Tensor;
    ceil(): Tensor;
    round(): Tensor;
    sign(): Tensor;
    leakyRelu(alpha?: number): Tensor;
    gelu(options?: { approximate?: 'none' | 'tanh' }): Tensor;
    clip(min?: number, max?: number): Tensor;
    sum(options?: red.ReduceOptions): Tensor;
    mean(options?: red.ReduceOptions): Tensor;
    prod(options?: red.ReduceOptions): Tensor;
    max(options?: red.ReduceOptions): Tensor;
    min(options?: red.ReduceOptions): Tensor;
    variance(options?: red.ReduceOptions & { correction?: number }): Tensor;
    argmax(options?: ArgOptions): Tensor;
    argmin(options?: ArgOptions): Tensor;
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
    layerNorm(options?: LayerNormOptions): Tensor;
    rmsNorm(options?: RmsNormOptions): Tensor;
    matmul(b: Tensor, options?: MatmulOptions): Tensor;
    gemm(b: Tensor, options?: GemmOptions): Tensor;
    cast(dtype: DType): Tensor;
    gather(indices: Tensor | readonly number[], axis?: number): Tensor;
    pad(widths: readonly (readonly [number, number])[], options?: PadOptions): Tensor;
    tile(reps: readonly number[]): Tensor;
    split(splits: number | readonly number[], axis?: number): Tensor[];
    topk(k: number, options?: TopkOptions): TopkResult;
    sort(options?: SortOptions): TopkResult;
    argsort(options?: SortOptions): Tensor;
  }
}

const methods: Record<string, (this: Tensor, ...args: never[]) => unknown> = {};
const binaries = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'mod', 'equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual', 'logicalAnd', 'logicalOr', 'logicalXor',
  'bitwiseAnd', 'bitwiseOr', 'bitwiseXor', 'leftShift', 'rightShift'] as const;
for (const name of binaries) methods[name] = function (this: Tensor, b: Operand) { return ew[name](this, b); } as never;
const unaries = ['logicalNot', 'bitwiseNot', 'neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'reciprocal', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'erf', 'silu', 'floor', 'ceil', 'round', 'sign',
  'tan', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'asinh', 'acosh', 'atanh'] as const;
for (const name of unaries) methods[name] = function (this: Tensor) { return ew[name](this); };
const reductions = ['sum', 'mean', 'prod', 'max', 'min', 'variance', 'argmax', 'argmin'] as const;
for (const name of reductions) methods[name] = function (this: Tensor, o?: object) { return (red[name] as (x: Tensor, o?: object) => Tensor)(this, o); } as never;

Object.assign(methods, {
  leakyRelu(this: Tensor, alpha?: number) { return ew.leakyRelu(this, alpha); },
  gelu(this: Tensor, o?: { approximate?: 'none' | 'tanh' }) { return ew.gelu(this, o); },
  clip(this: Tensor, lo?: number, hi?: number) { return ew.clip(this, lo, hi); },
  softmax(this: Tensor, axis?: number) { return softmax(this, axis); },
  logSoftmax(this: Tensor, axis?: number) { return logSoftmax(this, axis); },
  layerNorm(this: Tensor, o?: LayerNormOptions) { return layerNorm(this, o); },
  rmsNorm(this: Tensor, o?: RmsNormOptions) { return rmsNorm(this, o); },
  matmul(this: Tensor, b: Tensor, options?: MatmulOptions) { return matmul(this, b, options); },
  gemm(this: Tensor, b: Tensor, o?: GemmOptions) { return gemm(this, b, o); },
  cast(this: Tensor, dtype: DType) { return cast(this, dtype); },
  gather(this: Tensor, i: Tensor | readonly number[], axis?: number) { return gather(this, i, axis); },
  pad(this: Tensor, w: readonly (readonly [number, number])[], o?: PadOptions) { return pad(this, w, o); },
  tile(this: Tensor, reps: readonly number[]) { return tile(this, reps); },
  split(this: Tensor, s: number | readonly number[], axis?: number) { return split(this, s, axis); },
  topk(this: Tensor, k: number, o?: TopkOptions) { return topk(this, k, o); },
  sort(this: Tensor, o?: SortOptions) { return sort(this, o); },
  argsort(this: Tensor, o?: SortOptions) { return argsort(this, o); },
});

for (const [name, fn] of Object.entries(methods))
  Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true });
