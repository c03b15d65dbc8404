// Dispatch of the elementwise family (kernels/wgsl/elementwise.wgsl with unary.wgsl, binary.wgsl,
// cast.wgsl, fill.wgsl): one generated `element` function per (op, dtypes).
import { holdsNumber, isInt, type DType } from '../../dtype.js';
import { fail } from '../../errors.js';
import { numel } from '../../shape.js';
import type { TensorView } from '../backend.js';
import { buffersOf, expectArity, num, sizeOf, unsupported, type Call, type Dispatcher } from './call.js';
import { convert, copyElementFn, inputBinding, kindOf, load, outputBinding, shader, store, type Kind } from './codegen.js';
import { GpuDevice, type Binding } from './device.js';
import { Meta, coalesce, splitF64 } from './meta.js';

const Y_BINDING = 4;

interface Spec {
  /** Function name in the .wgsl files (without the _<kind> suffix); default: the op name. */
  fn?: (c: Call) => string;
  /** The operand dtypes it takes: kernels/OPS.md's list for the op, as the CPU's kernels take them. */
  dtypes: readonly DType[];
  inputs: number;
  /** The op returns a bool (0/1 in I) instead of its operands' kind. */
  bool?: boolean;
  /** Parameter words (meta[2..10)) and the WGSL expressions that read them. */
  params?: (c: Call, m: Meta, k: Kind) => string[];
}

const FLOATS: readonly DType[] = ['float32', 'float16', 'bfloat16'];
const SIGNED: readonly DType[] = [...FLOATS, 'int32', 'int64'];
const NUMERIC: readonly DType[] = [...SIGNED, 'uint8'];
const INTS: readonly DType[] = ['int32', 'int64', 'uint8'];
const BOOL: readonly DType[] = ['bool'];

const INT32_MIN = -2147483648, INT32_MAX = 2147483647;
const INT64_MIN = -(2n ** 63n), INT64_MAX = 2n ** 63n - 1n;

/** Clip bounds in the operand's kind: floats as f32, integers as the integers inside [min, max]. */
function clipParams(c: Call, m: Meta, k: Kind): string[] {
  const lo = num(c, 'min', -Infinity), hi = num(c, 'max', Infinity);
  if (Number.isNaN(lo) || Number.isNaN(hi)) fail('E_ARGUMENT', 'Clip: min and max must not be NaN'); // as the CPU's Clip
  if (k === 'F') {
    m.setF32(2, lo).setF32(3, hi);
    return ['param_f(0u)', 'param_f(1u)'];
  }
  const ilo = Math.ceil(lo), ihi = Math.floor(hi);
  if (k === 'I') {
    m.set(2, Math.min(Math.max(ilo, INT32_MIN), INT32_MAX)).set(3, Math.max(Math.min(ihi, INT32_MAX), INT32_MIN));
    return ['param_i(0u)', 'param_i(1u)'];
  }
  // an infinite bound saturates by its sign, as the CPU's Clip does (clip(x, +Infinity) is INT64_MAX
  // everywhere; it read as "no bound" here: cpu/webgpu fuzz seed 5384)
  const big = (v: number) => (Number.isFinite(v) ? BigInt(v) : v > 0 ? INT64_MAX : INT64_MIN);
  const clamp = (v: bigint) => (v < INT64_MIN ? INT64_MIN : v > INT64_MAX ? INT64_MAX : v);
  m.setI64(2, clamp(big(ilo))).setI64(4, clamp(big(ihi)));
  return ['param_l(0u)', 'param_l(2u)'];
}

const unaryF = (fn?: string): Spec => ({ dtypes: FLOATS, inputs: 1, ...(fn ? { fn: () => fn } : {}) });
const arith: Spec = { dtypes: NUMERIC, inputs: 2 };
const compare: Spec = { dtypes: [...NUMERIC, 'bool'], inputs: 2, bool: true };
const logical: Spec = { dtypes: BOOL, inputs: 2, bool: true };
const bitwise: Spec = { dtypes: INTS, inputs: 2 };

/** BitShift's direction picks the function (the CPU's BitShift reads it per call likewise). */
function shiftFn(c: Call): string {
  const d = c.attrs.direction;
  if (d !== 'LEFT' && d !== 'RIGHT') fail('E_ARGUMENT', `BitShift: direction must be 'LEFT' or 'RIGHT', got '${String(d)}'`);
  return d === 'LEFT' ? 'BitShiftLeft' : 'BitShiftRight';
}

const SPECS: Record<string, Spec> = {
  ...Object.fromEntries(['Exp', 'Log', 'Sqrt', 'Rsqrt', 'Reciprocal', 'Sin', 'Cos', 'Tanh', 'Sigmoid', 'Erf', 'Silu', 'Floor', 'Ceil', 'Round',
    'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh'].map((op) => [op, unaryF()])),
  Gelu: {
    dtypes: FLOATS,
    inputs: 1,
    fn: (c) => {
      const a = c.attrs.approximate ?? 'none';
      if (a !== 'none' && a !== 'tanh') fail('E_ARGUMENT', `Gelu: approximate must be 'none' or 'tanh', got '${String(a)}'`);
      return a === 'tanh' ? 'GeluTanh' : 'Gelu';
    },
  },
  LeakyRelu: { dtypes: FLOATS, inputs: 1, params: (c, m) => (m.setF32(2, num(c, 'alpha', 0.01)), ['param_f(0u)']) },
  Neg: { dtypes: SIGNED, inputs: 1 },
  ...Object.fromEntries(['Abs', 'Relu', 'Sign'].map((op) => [op, { dtypes: NUMERIC, inputs: 1 }])),
  Clip: { dtypes: NUMERIC, inputs: 1, params: clipParams },
  Not: { dtypes: BOOL, inputs: 1, bool: true },
  Add: arith, Sub: arith, Mul: arith, Div: arith, Pow: arith, Max: arith, Min: arith, Mod: arith,
  Equal: compare, NotEqual: compare, Less: compare, LessOrEqual: compare, Greater: compare, GreaterOrEqual: compare,
  And: logical, Or: logical, Xor: logical,
  BitwiseAnd: bitwise, BitwiseOr: bitwise, BitwiseXor: bitwise,
  BitwiseNot: { dtypes: INTS, inputs: 1 },
  BitShift: { ...bitwise, fn: shiftFn },
};

/** Ops this family runs, and whether a dtype is one they compute in. */
export const ELEMENTWISE_OPS = [...Object.keys(SPECS), 'Where', 'Cast', 'Fill', 'Range'];
export function elementwiseSupports(op: string, dtypes: readonly DType[]): boolean {
  const s = SPECS[op];
  return !s || dtypes.every((d) => s.dtypes.includes(d) || (s.bool && d === 'bool'));
}

/** Encodes `element` over the output's index space with coalesced dims. */
function launch(c: Call, glue: string[], m: Meta): void {
  const y = c.outputs[0];
  const n = sizeOf(y);
  if (n === 0) return;
  const views: TensorView[] = [y, ...c.inputs];
  const { shape, strides } = coalesce(y.shape, views.map((v) => v.strides));
  m.set(0, n).set(1, shape.length);
  m.push(...shape);
  views.forEach((v, k) => m.push(v.offset, ...strides[k]));
  const { ins, outs } = buffersOf(c);
  const bindings: Binding[] = [c.dev.constants(m.build()), ...ins];
  bindings[Y_BINDING] = outs[0];
  const decls = [
    ...c.inputs.map((_, k) => inputBinding(`X${k + 1}`, k + 1)),
    outputBinding('Y', Y_BINDING, y.dtype),
  ];
  c.dev.dispatch(c.dev.pipeline(shader('elementwise', [...decls, ...glue])), bindings, GpuDevice.grid(n, 256));
}

const operandLoad = (c: Call, k: number) => load(`X${k + 1}`, c.inputs[k].dtype, `operand_offset(i, ${k + 1}u)`);
const element = (body: string) => `fn element(i: u32) {\n  let y = operand_offset(i, 0u);\n  ${body};\n}`;

const opDispatch: Dispatcher = (c) => {
  const s = SPECS[c.op];
  expectArity(c, s.inputs);
  const xd = c.inputs[0].dtype, yd = c.outputs[0].dtype;
  const k = kindOf(xd);
  if (c.inputs.some((v) => v.dtype !== xd)) fail('E_DTYPE', `${c.op}: inputs must share one dtype, got ${c.inputs.map((v) => v.dtype).join(', ')}`);
  if (!s.dtypes.includes(xd)) unsupported(c);
  const m = new Meta();
  const params = s.params?.(c, m, k) ?? [];
  const args = [...c.inputs.map((_, j) => operandLoad(c, j)), ...params].join(', ');
  const fn = `${s.fn?.(c) ?? c.op}_${k}`;
  const value = convert(`${fn}(${args})`, s.bool ? 'I' : k, yd);
  launch(c, [element(store('Y', yd, 'y', value))], m);
};

const whereDispatch: Dispatcher = (c) => {
  expectArity(c, 3);
  const [cond, x, y] = c.inputs, out = c.outputs[0];
  if (x.dtype !== out.dtype || y.dtype !== out.dtype) fail('E_DTYPE', `Where: x, y and the output must share one dtype, got ${x.dtype}, ${y.dtype}, ${out.dtype}`);
  const ck = kindOf(cond.dtype);
  const pick = `select(${operandLoad(c, 2)}, ${operandLoad(c, 1)}, ${convert(operandLoad(c, 0), ck, 'bool')} != 0)`;
  launch(c, [element(store('Y', out.dtype, 'y', pick))], new Meta());
};

const castDispatch: Dispatcher = (c) => {
  expectArity(c, 1);
  const x = c.inputs[0], y = c.outputs[0];
  if (numel(x.shape) !== numel(y.shape)) fail('E_SHAPE', `Cast: input and output sizes differ`);
  // a copy (contiguous(), clone(), concat's parts) moves each element's bits, as the CPU's does:
  // through f32, a float16 or bfloat16 NaN would come out as the canonical one
  if (x.dtype === y.dtype) return launch(c, [copyElementFn(y.dtype, 'Y', 'X1'), element('copy_element(y, operand_offset(i, 1u))')], new Meta());
  launch(c, [element(store('Y', y.dtype, 'y', convert(operandLoad(c, 0), kindOf(x.dtype), y.dtype)))], new Meta());
};

const fillDispatch: Dispatcher = (c) => {
  expectArity(c, 0);
  const y = c.outputs[0];
  const v = num(c, 'value');
  const m = new Meta();
  const k = kindOf(y.dtype);
  let expr: string;
  if (k === 'F') {
    m.setF32(2, v);
    expr = 'param_f(0u)';
  } else if (k === 'I') {
    m.set(2, y.dtype === 'bool' ? (v !== 0 ? 1 : 0) : Number.isNaN(v) ? 0 : v);
    expr = 'param_i(0u)';
  } else {
    m.setI64(2, BigInt(Number.isFinite(v) ? Math.trunc(v) : 0));
    expr = 'param_l(0u)';
  }
  launch(c, [element(store('Y', y.dtype, 'y', convert(expr, k, y.dtype)))], m);
};

const rangeDispatch: Dispatcher = (c) => {
  expectArity(c, 0);
  const y = c.outputs[0];
  if (y.shape.length !== 1) fail('E_SHAPE', 'Range writes a 1-D output');
  const start = num(c, 'start'), delta = num(c, 'delta');
  const m = new Meta();
  const k = kindOf(y.dtype);
  if (isInt(y.dtype)) {
    // as the CPU's range_check (kernels/cpu/fill.cc): integer start and delta, and every value fits
    if (!Number.isInteger(start) || !Number.isInteger(delta)) fail('E_ARGUMENT', `Range: an integer output takes integer start and delta, got ${start} and ${delta}`);
    const last = start + (y.shape[0] - 1) * delta;
    if (y.shape[0] > 0 && !(holdsNumber(y.dtype, start) && holdsNumber(y.dtype, last))) fail('E_ARGUMENT', `Range: values from ${start} to ${last} do not fit ${y.dtype}`);
  }
  let args: string;
  if (k === 'F') {
    const [sh, sl] = splitF64(start), [dh, dl] = splitF64(delta);
    m.setF32(2, sh).setF32(3, sl).setF32(4, dh).setF32(5, dl);
    args = 'param_f(0u), param_f(1u), param_f(2u), param_f(3u)';
  } else if (k === 'I') {
    m.set(2, start).set(3, delta);
    args = 'param_i(0u), param_i(1u)';
  } else {
    m.setI64(2, BigInt(start)).setI64(4, BigInt(delta));
    args = 'param_l(0u), param_l(2u)';
  }
  launch(c, [element(store('Y', y.dtype, 'y', convert(`Range_${k}(i, ${args})`, k, y.dtype)))], m);
};

export const ELEMENTWISE: Record<string, Dispatcher> = {
  ...Object.fromEntries(Object.keys(SPECS).map((op) => [op, opDispatch])),
  Where: whereDispatch,
  Cast: castDispatch,
  Fill: fillDispatch,
  Range: rangeDispatch,
};
