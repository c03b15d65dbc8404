import { describeValue, numberArg, optionsArg } from '../args.js';
import { floatFor, holdsNumber, integerRange, isBool, isFloat, isInt, promoteTypes, promoteWithScalar, type DType } from '../dtype.js';
import { fail } from '../errors.js';
import { broadcastShapes } from '../shape.js';
import { Tensor, checkTensor } from '../tensor.js';
import { cast } from './cast.js';
import { scalarConstant } from './constants.js';
import { full } from './creation.js';
import { run1 } from './run.js';
import { Temps, withTemps } from './temps.js';

export type Scalar = number | boolean;
export type Operand = Tensor | Scalar;

/** x in `dtype`, casting into a temporary when it is not. */
function as(temps: Temps, x: Tensor, dtype: DType): Tensor {
  return x.dtype === dtype ? x : temps.add(cast(x, dtype));
}

// ---- unary ---------------------------------------------------------------------------------------

type UnaryKind = 'float' | 'signed' | 'numeric' | 'bool';

function unary(op: string, name: string, kind: UnaryKind, x: Tensor, attrs: Record<string, number | string> = {}): Tensor {
  checkTensor(name, x);
  return withTemps((temps) => {
    if (kind === 'bool' && !isBool(x.dtype)) fail('E_DTYPE', `${name}: expects a bool tensor, got ${x.describe()}`);
    if (kind !== 'bool' && isBool(x.dtype)) fail('E_DTYPE', `${name}: bool tensors are not numbers; cast ${x.describe()} first`);
    if (kind === 'signed' && x.dtype === 'uint8') fail('E_DTYPE', `${name}: uint8 has no sign; cast ${x.describe()} first`);
    const input = kind === 'float' ? as(temps, x, floatFor(x.dtype)) : x;
    return run1(op, [input], input.shape, input.dtype, attrs);
  });
}

export const neg = (x: Tensor) => unary('Neg', 'neg', 'signed', x);
export const abs = (x: Tensor) => unary('Abs', 'abs', 'numeric', x);
export const sign = (x: Tensor) => unary('Sign', 'sign', 'numeric', x);
export const relu = (x: Tensor) => unary('Relu', 'relu', 'numeric', x);
export const exp = (x: Tensor) => unary('Exp', 'exp', 'float', x);
export const log = (x: Tensor) => unary('Log', 'log', 'float', x);
export const sqrt = (x: Tensor) => unary('Sqrt', 'sqrt', 'float', x);
export const rsqrt = (x: Tensor) => unary('Rsqrt', 'rsqrt', 'float', x);
export const reciprocal = (x: Tensor) => unary('Reciprocal', 'reciprocal', 'float', x);
export const sin = (x: Tensor) => unary('Sin', 'sin', 'float', x);
export const cos = (x: Tensor) => unary('Cos', 'cos', 'float', x);
export const tanh = (x: Tensor) => unary('Tanh', 'tanh', 'float', x);
export const sigmoid = (x: Tensor) => unary('Sigmoid', 'sigmoid', 'float', x);
export const erf = (x: Tensor) => unary('Erf', 'erf', 'float', x);
export const silu = (x: Tensor) => unary('Silu', 'silu', 'float', x);
export const tan = (x: Tensor) => unary('Tan', 'tan', 'float', x);
/** Inverse sine, in [-pi/2, pi/2]; NaN outside [-1, 1]. */
export const asin = (x: Tensor) => unary('Asin', 'asin', 'float', x);
/** Inverse cosine, in [0, pi]; NaN outside [-1, 1]. */
export const acos = (x: Tensor) => unary('Acos', 'acos', 'float', x);
/** Inverse tangent, in [-pi/2, pi/2]. */
export const atan = (x: Tensor) => unary('Atan', 'atan', 'float', x);
export const sinh = (x: Tensor) => unary('Sinh', 'sinh', 'float', x);
export const cosh = (x: Tensor) => unary('Cosh', 'cosh', 'float', x);
export const asinh = (x: Tensor) => unary('Asinh', 'asinh', 'float', x);
/** Inverse hyperbolic cosine, >= 0; NaN below 1. */
export const acosh = (x: Tensor) => unary('Acosh', 'acosh', 'float', x);
/** Inverse hyperbolic tangent; +-Infinity at +-1, NaN outside [-1, 1]. */
export const atanh = (x: Tensor) => unary('Atanh', 'atanh', 'float', x);
export const logicalNot = (x: Tensor) => unary('Not', 'logicalNot', 'bool', x);

/** Rounding is the identity on integers (a copy that keeps the dtype). */
function rounding(op: string, name: string, x: Tensor): Tensor {
  checkTensor(name, x);
  return isFloat(x.dtype) ? unary(op, name, 'float', x) : unary('Cast', name, 'numeric', x);
}
export const floor = (x: Tensor) => rounding('Floor', 'floor', x);
export const ceil = (x: Tensor) => rounding('Ceil', 'ceil', x);
/** Rounds half to even, like NumPy. */
export const round = (x: Tensor) => rounding('Round', 'round', x);

export const leakyRelu = (x: Tensor, alpha = 0.01) => unary('LeakyRelu', 'leakyRelu', 'float', x, { alpha: numberArg('leakyRelu', 'alpha', alpha) });

/** GELU, exact (erf) by default or with the tanh approximation. */
export function gelu(x: Tensor, options?: { approximate?: 'none' | 'tanh' }): Tensor {
  const approximate = optionsArg('gelu', options, ['approximate']).approximate ?? 'none';
  if (approximate !== 'none' && approximate !== 'tanh') fail('E_ARGUMENT', `gelu: approximate must be 'none' or 'tanh', got ${describeValue(approximate)}`);
  return unary('Gelu', 'gelu', 'float', x, { approximate });
}

/** Clamps into [min, max]; either bound may be omitted. */
export function clip(x: Tensor, min?: number, max?: number): Tensor {
  const lo = min ?? -Infinity, hi = max ?? Infinity;
  if (typeof lo !== 'number' || typeof hi !== 'number' || Number.isNaN(lo) || Number.isNaN(hi))
    fail('E_ARGUMENT', `clip: bounds must be numbers, got ${describeValue(min)} and ${describeValue(max)}`);
  if (lo > hi) fail('E_ARGUMENT', `clip: min ${lo} is greater than max ${hi}`);
  return unary('Clip', 'clip', 'numeric', x, { min: lo, max: hi });
}

// ---- binary --------------------------------------------------------------------------------------

type BinaryKind = 'arith' | 'truediv' | 'compare' | 'logical' | 'bitwise';

/** Common dtype of two operands, JS scalars being weak (see promoteWithScalar). */
function resultType(op: string, a: Operand, b: Operand): DType {
  if (a instanceof Tensor && b instanceof Tensor) return promoteTypes(a.dtype, b.dtype);
  if (a instanceof Tensor) return promoteWithScalar(a.dtype, b as Scalar);
  if (b instanceof Tensor) return promoteWithScalar(b.dtype, a as Scalar);
  return fail('E_ARGUMENT', `${op}: at least one operand must be a Tensor`);
}

function operand(temps: Temps, op: string, x: Operand, dtype: DType, device: string): Tensor {
  if (x instanceof Tensor) return as(temps, x, dtype);
  if (typeof x !== 'number' && typeof x !== 'boolean') fail('E_ARGUMENT', `${op}: operand must be a Tensor, number or boolean, got ${typeof x}`);
  if (typeof x === 'number' && isInt(dtype) && !holdsNumber(dtype, x))
    fail('E_ARGUMENT', `${op}: ${describeValue(x)} does not fit ${dtype}, the tensor operand's dtype (${integerRange(dtype)}); cast the tensor to a wider dtype first`);
  return scalarConstant(x, dtype, device);
}

const COMPARE: Record<string, (p: number, q: number) => boolean> = {
  Equal: (p, q) => p === q,
  NotEqual: (p, q) => p !== q,
  Less: (p, q) => p < q,
  LessOrEqual: (p, q) => p <= q,
  Greater: (p, q) => p > q,
  GreaterOrEqual: (p, q) => p >= q,
};

/**
 * An integer tensor compared with a JS integer its dtype cannot hold: the number lies beyond every
 * value of the dtype, so every element gets the same answer (as in NumPy 2), where converting the
 * number would change it. Undefined when the operands hold no such number.
 */
function compareBeyondRange(op: string, name: string, dtype: DType, a: Operand, b: Operand): Tensor | undefined {
  const beyond = (x: Operand) => (typeof x === 'number' && isInt(dtype) && !holdsNumber(dtype, x) ? Math.sign(x) * Infinity : undefined);
  const pa = beyond(a), pb = beyond(b);
  if (pa === undefined && pb === undefined) return undefined;
  const t = checkTensor(name, (a instanceof Tensor ? a : b) as Tensor);
  return full(t.shape, COMPARE[op](pa ?? 0, pb ?? 0), { dtype: 'bool', device: t.device });
}

function binary(op: string, name: string, kind: BinaryKind, a: Operand, b: Operand, attrs: Record<string, string> = {}): Tensor {
  return withTemps((temps) => {
    let dtype = resultType(name, a, b);
    const device = (a instanceof Tensor ? a : (b as Tensor)).device;
    if (kind === 'logical') dtype = 'bool';
    else if (kind === 'truediv' && !isFloat(dtype)) dtype = 'float32';
    else if (kind === 'arith' && isBool(dtype)) fail('E_DTYPE', `${name}: arithmetic on bool tensors; cast them or use the logical ops`);
    else if (kind === 'bitwise') integerBits(name, dtype);
    const constant = kind === 'compare' ? compareBeyondRange(op, name, dtype, a, b) : undefined;
    if (constant) return constant;
    const x = operand(temps, name, a, dtype, device);
    const y = operand(temps, name, b, dtype, device);
    const shape = broadcastShapes(name, x.shape, y.shape);
    const xe = temps.expand(x, shape);
    const ye = temps.expand(y, shape);
    return run1(op, [xe, ye], shape, kind === 'compare' ? 'bool' : dtype, attrs);
  });
}

export const add = (a: Operand, b: Operand) => binary('Add', 'add', 'arith', a, b);
export const sub = (a: Operand, b: Operand) => binary('Sub', 'sub', 'arith', a, b);
export const mul = (a: Operand, b: Operand) => binary('Mul', 'mul', 'arith', a, b);
/** True division: integer operands give float32. */
export const div = (a: Operand, b: Operand) => binary('Div', 'div', 'truediv', a, b);
export const pow = (a: Operand, b: Operand) => binary('Pow', 'pow', 'arith', a, b);
export const maximum = (a: Operand, b: Operand) => binary('Max', 'maximum', 'arith', a, b);
export const minimum = (a: Operand, b: Operand) => binary('Min', 'minimum', 'arith', a, b);
/** Remainder with the sign of the divisor (NumPy's mod); integer x mod 0 is 0. */
export const mod = (a: Operand, b: Operand) => binary('Mod', 'mod', 'arith', a, b);
export const equal = (a: Operand, b: Operand) => binary('Equal', 'equal', 'compare', a, b);
export const notEqual = (a: Operand, b: Operand) => binary('NotEqual', 'notEqual', 'compare', a, b);
export const less = (a: Operand, b: Operand) => binary('Less', 'less', 'compare', a, b);
export const lessEqual = (a: Operand, b: Operand) => binary('LessOrEqual', 'lessEqual', 'compare', a, b);
export const greater = (a: Operand, b: Operand) => binary('Greater', 'greater', 'compare', a, b);
export const greaterEqual = (a: Operand, b: Operand) => binary('GreaterOrEqual', 'greaterEqual', 'compare', a, b);
/** Logical ops treat any non-zero value as true. */
export const logicalAnd = (a: Operand, b: Operand) => binary('And', 'logicalAnd', 'logical', a, b);
export const logicalOr = (a: Operand, b: Operand) => binary('Or', 'logicalOr', 'logical', a, b);
export const logicalXor = (a: Operand, b: Operand) => binary('Xor', 'logicalXor', 'logical', a, b);

// ---- bitwise --------------------------------------------------------------------------------------

/** The logical op that does on bool what a bitwise op does on integers. */
const LOGICAL_FOR: Record<string, string> = { bitwiseAnd: 'logicalAnd', bitwiseOr: 'logicalOr', bitwiseXor: 'logicalXor', bitwiseNot: 'logicalNot' };

/** Bitwise ops take the integer dtypes only (as ONNX's Bitwise* and BitShift do). */
function integerBits(name: string, dtype: DType): void {
  if (isInt(dtype)) return;
  const instead = isBool(dtype) && LOGICAL_FOR[name] ? `use ${LOGICAL_FOR[name]} for bool` : 'cast to int32, int64 or uint8 first';
  fail('E_DTYPE', `${name}: expects integer operands (int32, int64, uint8), got ${dtype}; ${instead}`);
}

/** Bitwise AND of the two's-complement bits of integer tensors (or JS integers). */
export const bitwiseAnd = (a: Operand, b: Operand) => binary('BitwiseAnd', 'bitwiseAnd', 'bitwise', a, b);
/** Bitwise OR of integer tensors. */
export const bitwiseOr = (a: Operand, b: Operand) => binary('BitwiseOr', 'bitwiseOr', 'bitwise', a, b);
/** Bitwise XOR of integer tensors. */
export const bitwiseXor = (a: Operand, b: Operand) => binary('BitwiseXor', 'bitwiseXor', 'bitwise', a, b);
/** Flips every bit of an integer tensor (~x: -x - 1 for int32/int64, 255 - x for uint8). */
export function bitwiseNot(x: Tensor): Tensor {
  checkTensor('bitwiseNot', x);
  integerBits('bitwiseNot', x.dtype);
  return run1('BitwiseNot', [x], x.shape, x.dtype);
}
/**
 * a << b on integer tensors, as NumPy: the bits shift out (wrapping), and an amount outside
 * [0, bits of the dtype), a negative one too, gives 0.
 */
export const leftShift = (a: Operand, b: Operand) => binary('BitShift', 'leftShift', 'bitwise', a, b, { direction: 'LEFT' });
/**
 * a >> b on integer tensors, as NumPy: arithmetic on int32/int64 (the sign fills in, i.e.
 * floor(a / 2^b)), and an amount outside [0, bits of the dtype), a negative one too, gives 0, or -1
 * for a negative a.
 */
export const rightShift = (a: Operand, b: Operand) => binary('BitShift', 'rightShift', 'bitwise', a, b, { direction: 'RIGHT' });

/** Picks x where cond is true, else y; all three broadcast together. */
export function where(cond: Tensor, x: Operand, y: Operand): Tensor {
  checkTensor('where', cond, 'cond');
  return withTemps((temps) => {
    const bothScalars = !(x instanceof Tensor) && !(y instanceof Tensor);
    const dtype = bothScalars ? (typeof x === 'boolean' && typeof y === 'boolean' ? 'bool' : 'float32') : resultType('where', x, y);
    const c = as(temps, cond, 'bool');
    const xv = operand(temps, 'where', x, dtype, cond.device);
    const yv = operand(temps, 'where', y, dtype, cond.device);
    const shape = broadcastShapes('where', c.shape, xv.shape, yv.shape);
    const ins = [c, xv, yv].map((t) => temps.expand(t, shape));
    return run1('Where', ins, shape, dtype);
  });
}
