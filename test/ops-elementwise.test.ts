// Unary, binary, comparison, logical, bitwise and where ops of kernels/OPS.md, on every backend and dtype,
// against the float64 reference: shapes with 0, 1 and odd sizes, broadcasting, non-contiguous views.
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType, Tensor } from '../src/index.js';
import { forEachBackend } from './helpers/backends.js';
import { Cases, expectError, expectTensor, ulpError, type Tolerance } from './helpers/compare.js';
import { ALL_DTYPES, FLOAT_DTYPES, layoutPairs, layoutsFor, layoutsForSize, makeInput, upload, type Gen } from './helpers/inputs.js';
import { rngFor, type Rng } from './helpers/random.js';
import * as R from './helpers/reference.js';
import { run1 } from '../src/ops/run.js';

/** Large enough (77100 elements) that kernels split the work across threads. */
const LARGE = [300, 257];
const SHAPES: number[][] = [[], [0], [1], [7], [13, 33], [3, 0, 5], [2, 3, 17], [257], LARGE];

/** Broadcasting pairs: equal, scalar, row, column, rank-extending on both sides, 0-size, 1 vs n. */
const PAIRS: [number[], number[]][] = [
  [[13, 33], [13, 33]],
  [[], [7]],
  [[7], []],
  [[3, 7], [7]],
  [[3, 7], [3, 1]],
  [[2, 1, 13], [3, 1]],
  [[2, 3, 1, 5], [3, 4, 1]],
  [[4, 0, 3], [3]],
  [[1], [257]],
  [[257], [257]],
  [LARGE, [257]],
  [[300, 1], LARGE],
];

const testName = () => expect.getState().currentTestName ?? 'test';
const isInt = (d: DType) => d === 'int32' || d === 'int64' || d === 'uint8';
const EXACT: Partial<Tolerance> = { rtol: 0, atol: 0 };

// ---- unary ---------------------------------------------------------------------------------------------

interface UnarySpec {
  name: string;
  call: (x: Tensor) => Tensor;
  dtypes: readonly DType[];
  /** Reference on a value already in the input dtype (ints arrive as exact integers). */
  f: (v: number, dtype: DType) => number;
  /** A float generator for the op's domain (rounded to the dtype, so integers truncate). */
  gen?: Gen;
  /** The result is exactly representable: compare exactly. */
  exact?: boolean;
  /** Float-only ops give float32 for integer inputs. */
  floatOnly?: boolean;
  /** Values for the special-value test (NaN, infinities, signed zeros, ties). */
  specials?: number[];
}

const SPECIALS = [NaN, Infinity, -Infinity, -0, 0, 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5, 1e-3, -7.25];
const NAN_ONLY = [NaN, Infinity, -0, 0, 1, -1, 0.5, -2.5];
const FLOAT_IN: readonly DType[] = [...FLOAT_DTYPES, 'int32'];
const SIGNED: readonly DType[] = [...FLOAT_DTYPES, 'int32', 'int64'];
const NUMERIC: readonly DType[] = [...FLOAT_DTYPES, 'int32', 'int64', 'uint8'];
const wrap = (d: DType, v: number) => (isInt(d) ? R.wrapInt(d as 'int32', v) : v);
const INT_DTYPES: readonly DType[] = ['int32', 'int64', 'uint8'];
const intBits = (d: DType) => (d === 'uint8' ? 8 : d === 'int32' ? 32 : 64);
/** An exact integer result (BigInt) wrapped to the dtype, as a number (int64 within +-2^53 stays exact). */
const wrapBig = (d: DType, v: bigint) => Number(d === 'uint8' ? BigInt.asUintN(8, v) : BigInt.asIntN(intBits(d), v));
const withHalves: Gen = (r) => (r.next() < 0.3 ? r.int(-10, 10) + 0.5 : r.uniform(-10, 10));

const hugeAngle: Gen = (r) => (r.next() < 0.5 ? -1 : 1) * (r.next() < 0.3 ? r.int(1, 2 ** 20) * (Math.PI / 2) : 10 ** r.uniform(0, 38));
const sgn = (r: Rng) => (r.next() < 0.5 ? -1 : 1);
/** Any magnitude from 1e-8 to 1e30 (decades drawn evenly), or a plain value in [-lo, lo]. */
const wide = (lo: number): Gen => (r) => (r.next() < 0.5 ? sgn(r) * 10 ** r.uniform(-8, 30) : r.uniform(-lo, lo));
/** [-1, 1], crowded toward the ends (1 - 1e-7 ...); small integers (+-2 out of the domain) for integer inputs. */
const unitGen: Gen = (r) => {
  const u = r.next();
  return u < 0.1 ? r.int(-2, 2) : u < 0.35 ? sgn(r) * (1 - 10 ** r.uniform(-7, -1)) : r.uniform(-1, 1);
};
/** [1, 1000], crowded toward 1 where acosh ~ sqrt(2 (x - 1)); a few below 1 (NaN). */
const acoshGen: Gen = (r) => (r.next() < 0.05 ? r.uniform(-2, 1) : 1 + 10 ** r.uniform(-7, 3));
/** Mostly |x| < 10, some up to 95: float32's sinh and cosh overflow past 89.4, float16's past 11.8. */
const hyperGen: Gen = (r) => (r.next() < 0.2 ? sgn(r) * r.uniform(10, 95) : r.uniform(-10, 10));
/** SPECIALS, and out-of-domain, near-edge, overflowing and tiny arguments of the inverse and hyperbolic functions. */
const TRIG_SPECIALS = [...SPECIALS, 2, -1.5, 0.999, -0.999, 1e-6, -1e-6, 20, -20, 89.41, -89.42, 100, 1e30, -1e30];

const UNARY: UnarySpec[] = [
  { name: 'neg', call: (x) => x.neg(), dtypes: SIGNED, f: (v, d) => wrap(d, -v), exact: true, specials: SPECIALS },
  { name: 'abs', call: (x) => x.abs(), dtypes: NUMERIC, f: (v, d) => wrap(d, Math.abs(v)), exact: true, specials: SPECIALS },
  { name: 'relu', call: (x) => x.relu(), dtypes: NUMERIC, f: (v) => (v < 0 ? 0 : v), exact: true, specials: SPECIALS },
  { name: 'sign', call: (x) => x.sign(), dtypes: NUMERIC, f: (v) => (Number.isNaN(v) ? NaN : Math.sign(v)), exact: true, specials: SPECIALS },
  { name: 'exp', call: (x) => x.exp(), dtypes: [...FLOAT_IN, 'int64', 'uint8'], f: Math.exp, gen: (r) => r.uniform(-6, 6), floatOnly: true, specials: SPECIALS },
  { name: 'log', call: (x) => x.log(), dtypes: FLOAT_IN, f: Math.log, gen: (r) => r.uniform(0.01, 100), floatOnly: true, specials: SPECIALS },
  { name: 'sqrt', call: (x) => x.sqrt(), dtypes: [...FLOAT_IN, 'uint8'], f: Math.sqrt, gen: (r) => r.uniform(0, 100), floatOnly: true, specials: SPECIALS },
  { name: 'rsqrt', call: (x) => x.rsqrt(), dtypes: FLOAT_IN, f: (v) => 1 / Math.sqrt(v), gen: (r) => r.uniform(0.01, 100), floatOnly: true, specials: SPECIALS },
  { name: 'reciprocal', call: (x) => x.reciprocal(), dtypes: FLOAT_IN, f: (v) => 1 / v, gen: (r) => (r.next() < 0.5 ? -1 : 1) * r.uniform(0.05, 20), floatOnly: true, specials: SPECIALS },
  { name: 'sin', call: (x) => x.sin(), dtypes: FLOAT_IN, f: Math.sin, gen: (r) => r.uniform(-10, 10), floatOnly: true, specials: SPECIALS },
  { name: 'cos', call: (x) => x.cos(), dtypes: FLOAT_IN, f: Math.cos, gen: (r) => r.uniform(-10, 10), floatOnly: true, specials: SPECIALS },
  // any magnitude up to float32's largest, and the floats nearest to multiples of pi/2 (where the reduction cancels most)
  { name: 'sin (large x)', call: (x) => x.sin(), dtypes: ['float32'], f: Math.sin, gen: hugeAngle, floatOnly: true },
  { name: 'cos (large x)', call: (x) => x.cos(), dtypes: ['float32', 'bfloat16'], f: Math.cos, gen: hugeAngle, floatOnly: true },
  { name: 'tan', call: (x) => x.tan(), dtypes: FLOAT_IN, f: Math.tan, gen: (r) => r.uniform(-10, 10), floatOnly: true, specials: TRIG_SPECIALS },
  { name: 'tan (large x)', call: (x) => x.tan(), dtypes: ['float32', 'float16'], f: Math.tan, gen: hugeAngle, floatOnly: true },
  { name: 'asin', call: (x) => x.asin(), dtypes: FLOAT_IN, f: Math.asin, gen: unitGen, floatOnly: true, specials: TRIG_SPECIALS },
  { name: 'acos', call: (x) => x.acos(), dtypes: FLOAT_IN, f: Math.acos, gen: unitGen, floatOnly: true, specials: TRIG_SPECIALS },
  { name: 'atan', call: (x) => x.atan(), dtypes: FLOAT_IN, f: Math.atan, gen: wide(5), floatOnly: true, specials: TRIG_SPECIALS },
  { name: 'sinh', call: (x) => x.sinh(), dtypes: FLOAT_IN, f: Math.sinh, gen: hyperGen, floatOnly: true, specials: TRIG_SPECIALS },
  { name: 'cosh', call: (x) => x.cosh(), dtypes: FLOAT_IN, f: Math.cosh, gen: hyperGen, floatOnly: true, specials: TRIG_SPECIALS },
  { name: 'asinh', call: (x) => x.asinh(), dtypes: FLOAT_IN, f: Math.asinh, gen: wide(10), floatOnly: true, specials: TRIG_SPECIALS },
  { name: 'acosh', call: (x) => x.acosh(), dtypes: FLOAT_IN, f: Math.acosh, gen: acoshGen, floatOnly: true, specials: TRIG_SPECIALS },
  { name: 'atanh', call: (x) => x.atanh(), dtypes: FLOAT_IN, f: Math.atanh, gen: unitGen, floatOnly: true, specials: TRIG_SPECIALS },
  { name: 'tanh', call: (x) => x.tanh(), dtypes: FLOAT_IN, f: Math.tanh, gen: (r) => r.uniform(-6, 6), floatOnly: true, specials: SPECIALS },
  { name: 'sigmoid', call: (x) => x.sigmoid(), dtypes: FLOAT_IN, f: R.sigmoid, gen: (r) => r.uniform(-12, 12), floatOnly: true, specials: SPECIALS },
  { name: 'erf', call: (x) => x.erf(), dtypes: FLOAT_IN, f: R.erf, gen: (r) => r.uniform(-4, 4), floatOnly: true, specials: SPECIALS },
  { name: 'silu', call: (x) => x.silu(), dtypes: FLOAT_IN, f: (v) => v * R.sigmoid(v), gen: (r) => r.uniform(-8, 8), floatOnly: true, specials: NAN_ONLY },
  { name: 'gelu', call: (x) => x.gelu(), dtypes: FLOAT_IN, f: R.gelu, gen: (r) => r.uniform(-6, 6), floatOnly: true, specials: NAN_ONLY },
  { name: 'gelu(tanh)', call: (x) => x.gelu({ approximate: 'tanh' }), dtypes: FLOAT_IN, f: R.geluTanh, gen: (r) => r.uniform(-6, 6), floatOnly: true, specials: NAN_ONLY },
  { name: 'leakyRelu', call: (x) => x.leakyRelu(), dtypes: FLOAT_IN, f: (v) => (v < 0 ? R.toF32(0.01) * v : v), floatOnly: true, specials: SPECIALS },
  // alpha = x < 0 ? alpha * x : x for every alpha: an infinite or NaN slope leaves x >= 0 alone
  { name: 'leakyRelu(-Infinity)', call: (x) => x.leakyRelu(-Infinity), dtypes: ['float32', 'float16'], f: (v) => (v < 0 ? -Infinity * v : v), floatOnly: true, specials: SPECIALS },
  { name: 'leakyRelu(NaN)', call: (x) => x.leakyRelu(NaN), dtypes: ['float32', 'bfloat16'], f: (v) => (v < 0 ? NaN : v), floatOnly: true, specials: SPECIALS },
  { name: 'leakyRelu(0.2)', call: (x) => x.leakyRelu(0.2), dtypes: FLOAT_IN, f: (v) => (v < 0 ? R.toF32(0.2) * v : v), floatOnly: true, specials: SPECIALS },
  { name: 'floor', call: (x) => x.floor(), dtypes: NUMERIC, f: Math.floor, gen: withHalves, exact: true, specials: SPECIALS },
  { name: 'ceil', call: (x) => x.ceil(), dtypes: NUMERIC, f: Math.ceil, gen: withHalves, exact: true, specials: SPECIALS },
  { name: 'round', call: (x) => x.round(), dtypes: NUMERIC, f: R.roundHalfEven, gen: withHalves, exact: true, specials: SPECIALS },
  { name: 'logicalNot', call: (x) => x.logicalNot(), dtypes: ['bool'], f: (v) => (v ? 0 : 1), exact: true },
  { name: 'bitwiseNot', call: (x) => x.bitwiseNot(), dtypes: INT_DTYPES, f: (v, d) => wrapBig(d, ~BigInt(v)), exact: true },
];

/** Result dtype of a unary op: float-only ops turn integers into float32. */
const unaryOut = (s: UnarySpec, d: DType): DType => (s.name === 'logicalNot' ? 'bool' : s.floatOnly && !FLOAT_DTYPES.includes(d) ? 'float32' : d);

/** The reference for input value v: integers convert to float32 first for float-only ops. */
function unaryRef(s: UnarySpec, v: number, d: DType): number {
  const x = s.floatOnly && !FLOAT_DTYPES.includes(d) ? R.toF32(v) : v;
  return s.f(x, d);
}

// ---- binary ----------------------------------------------------------------------------------------------

interface BinarySpec {
  name: string;
  call: (a: Tensor | number, b: Tensor | number) => Tensor;
  dtypes: readonly DType[];
  f: (a: number, b: number, dtype: DType) => number;
  genA?: (d: DType) => Gen | undefined;
  genB?: (d: DType) => Gen | undefined;
  exact?: boolean;
  /** Result dtype for the input dtype (default: the same). */
  out?: (d: DType) => DType;
}

const big = (v: number) => BigInt(v);

function intPow(a: number, b: number, d: DType): number {
  if (b < 0) return a === 1 ? 1 : a === -1 ? (b % 2 ? -1 : 1) : 0;
  return wrapBig(d, big(a) ** big(b));
}

/** C/NumPy pow: pow(1, y) and pow(x, 0) are 1 even for NaN, pow(-1, +-Infinity) is 1 (Math.pow says NaN). */
function cpow(a: number, b: number): number {
  if (a === 1 || b === 0) return 1;
  if (a === -1 && (b === Infinity || b === -Infinity)) return 1;
  return Math.pow(a, b);
}

/** NumPy's mod: the remainder takes the divisor's sign; integer x % 0 is 0. */
function npMod(a: number, b: number, d: DType): number {
  if (isInt(d)) {
    if (b === 0) return 0;
    const r = a % b;
    return r !== 0 && r < 0 !== b < 0 ? r + b : r + 0;
  }
  const r = a % b;
  if (r !== 0 && !Number.isNaN(r)) return r < 0 !== b < 0 ? r + b : r;
  return Number.isNaN(r) ? NaN : b < 0 || Object.is(b, -0) ? -0 : 0;
}

const ARITH_DTYPES: readonly DType[] = [...FLOAT_DTYPES, 'int32', 'int64', 'uint8'];
const awayFromZero: Gen = (r) => (r.next() < 0.5 ? -1 : 1) * r.uniform(0.25, 4);

const BINARY: BinarySpec[] = [
  { name: 'add', call: kiln.add, dtypes: ARITH_DTYPES, f: (a, b, d) => (isInt(d) ? wrapBig(d, big(a) + big(b)) : a + b) },
  { name: 'sub', call: kiln.sub, dtypes: ARITH_DTYPES, f: (a, b, d) => (isInt(d) ? wrapBig(d, big(a) - big(b)) : a - b) },
  { name: 'mul', call: kiln.mul, dtypes: ARITH_DTYPES, f: (a, b, d) => (isInt(d) ? wrapBig(d, big(a) * big(b)) : a * b) },
  {
    name: 'div', call: kiln.div, dtypes: ARITH_DTYPES,
    f: (a, b, d) => (isInt(d) ? R.toF32(a) / R.toF32(b) : a / b),
    genB: (d) => (isInt(d) ? undefined : awayFromZero),
    out: (d) => (isInt(d) ? 'float32' : d),
  },
  {
    name: 'pow', call: kiln.pow, dtypes: ARITH_DTYPES,
    f: (a, b, d) => (isInt(d) ? intPow(a, b, d) : cpow(a, b)),
    genA: (d) => (d === 'uint8' ? (r) => r.int(0, 6) : isInt(d) ? (r) => r.int(-6, 6) : (r) => r.uniform(0.05, 3)),
    genB: (d) => (d === 'uint8' ? (r) => r.int(0, 5) : isInt(d) ? (r) => r.int(-2, 13) : (r) => r.uniform(-3, 3)),
  },
  { name: 'maximum', call: kiln.maximum, dtypes: ARITH_DTYPES, f: (a, b) => Math.max(a, b), exact: true },
  { name: 'minimum', call: kiln.minimum, dtypes: ARITH_DTYPES, f: (a, b) => Math.min(a, b), exact: true },
  {
    name: 'mod', call: kiln.mod, dtypes: ARITH_DTYPES, f: npMod,
    genA: (d) => (isInt(d) ? undefined : (r) => r.uniform(-20, 20)),
    genB: (d) => (d === 'uint8' ? (r) => r.int(0, 20) : isInt(d) ? (r) => r.int(-20, 20) : awayFromZero),
  },
];

/** NumPy's shifts on exact integers: amounts outside [0, bits) shift every bit out (sign fill to the right). */
function npShift(a: bigint, b: bigint, bits: number, left: boolean): bigint {
  if (b < 0n || b >= BigInt(bits)) return left || a >= 0n ? 0n : -1n;
  return left ? a << b : a >> b;
}
/** Shift amounts in and just outside [0, bits), negative ones for the signed dtypes. */
const shiftAmounts = (d: DType): Gen => (d === 'uint8' ? (r) => r.int(0, 12) : (r) => r.int(-3, intBits(d) + 3));

const BITWISE: BinarySpec[] = [
  { name: 'bitwiseAnd', call: kiln.bitwiseAnd, dtypes: INT_DTYPES, f: (a, b, d) => wrapBig(d, big(a) & big(b)) },
  { name: 'bitwiseOr', call: kiln.bitwiseOr, dtypes: INT_DTYPES, f: (a, b, d) => wrapBig(d, big(a) | big(b)) },
  { name: 'bitwiseXor', call: kiln.bitwiseXor, dtypes: INT_DTYPES, f: (a, b, d) => wrapBig(d, big(a) ^ big(b)) },
  { name: 'leftShift', call: kiln.leftShift, dtypes: INT_DTYPES, f: (a, b, d) => wrapBig(d, npShift(big(a), big(b), intBits(d), true)), genB: shiftAmounts },
  { name: 'rightShift', call: kiln.rightShift, dtypes: INT_DTYPES, f: (a, b, d) => wrapBig(d, npShift(big(a), big(b), intBits(d), false)), genB: shiftAmounts },
];

/** Values with many ties, so == and <= are exercised on equal operands. */
const tieGen = (d: DType): Gen => (d === 'bool' ? (r) => r.int(0, 1) : d === 'uint8' ? (r) => r.int(0, 4) : isInt(d) ? (r) => r.int(-3, 3) : (r) => r.int(-4, 4) / 2);

const COMPARE: BinarySpec[] = [
  { name: 'equal', call: kiln.equal, dtypes: ALL_DTYPES, f: (a, b) => +(a === b), genA: tieGen, genB: tieGen, out: () => 'bool' },
  { name: 'notEqual', call: kiln.notEqual, dtypes: ALL_DTYPES, f: (a, b) => +(a !== b), genA: tieGen, genB: tieGen, out: () => 'bool' },
  { name: 'less', call: kiln.less, dtypes: ALL_DTYPES, f: (a, b) => +(a < b), genA: tieGen, genB: tieGen, out: () => 'bool' },
  { name: 'lessEqual', call: kiln.lessEqual, dtypes: ALL_DTYPES, f: (a, b) => +(a <= b), genA: tieGen, genB: tieGen, out: () => 'bool' },
  { name: 'greater', call: kiln.greater, dtypes: ALL_DTYPES, f: (a, b) => +(a > b), genA: tieGen, genB: tieGen, out: () => 'bool' },
  { name: 'greaterEqual', call: kiln.greaterEqual, dtypes: ALL_DTYPES, f: (a, b) => +(a >= b), genA: tieGen, genB: tieGen, out: () => 'bool' },
];

/** Logical ops take any dtype and treat non-zero (NaN included) as true. */
const zeroish = (d: DType): Gen => (d === 'bool' ? (r) => r.int(0, 1) : (r) => (r.next() < 0.5 ? 0 : r.int(1, 3) * (d === 'uint8' ? 1 : r.pick([-1, 1]))));
const LOGICAL: BinarySpec[] = [
  { name: 'logicalAnd', call: kiln.logicalAnd, dtypes: ['bool', 'float32', 'int32', 'uint8'], f: (a, b) => +(a !== 0 && b !== 0), genA: zeroish, genB: zeroish, out: () => 'bool' },
  { name: 'logicalOr', call: kiln.logicalOr, dtypes: ['bool', 'float16', 'int64'], f: (a, b) => +(a !== 0 || b !== 0), genA: zeroish, genB: zeroish, out: () => 'bool' },
  { name: 'logicalXor', call: kiln.logicalXor, dtypes: ['bool', 'bfloat16', 'int32'], f: (a, b) => +((a !== 0) !== (b !== 0)), genA: zeroish, genB: zeroish, out: () => 'bool' },
];

async function binaryCases(device: string, s: BinarySpec, dtype: DType, r: Rng): Promise<void> {
  const cases = new Cases();
  const out = s.out?.(dtype) ?? dtype;
  const exact = s.exact || isInt(out) || out === 'bool';
  for (const [sa, sb] of PAIRS)
    for (const [la, lb] of layoutPairs(sa, sb))
      await cases.run(`${s.name} ${dtype} [${sa}] ${la} with [${sb}] ${lb}`, async () => {
        const a = makeInput(r, device, dtype, sa, la, s.genA?.(dtype));
        const b = makeInput(r, device, dtype, sb, lb, s.genB?.(dtype));
        const want = R.map2(a.ref, b.ref, (x, y) => s.f(x, y, dtype));
        await expectTensor(s.call(a.t, b.t), want, out, exact ? EXACT : {});
      });
  cases.done();
}

forEachBackend('unary ops', (device) => {
  for (const s of UNARY)
    for (const dtype of s.dtypes)
      it(`${s.name} ${dtype}`, async () => {
        const r = rngFor(testName());
        const out = unaryOut(s, dtype);
        const cases = new Cases();
        for (const shape of SHAPES)
          for (const layout of layoutsForSize(shape))
            await cases.run(`${s.name} ${dtype} [${shape}] ${layout}`, async () => {
              const { t, ref } = makeInput(r, device, dtype, shape, layout, s.gen);
              await expectTensor(s.call(t), ref.map((v) => unaryRef(s, v, dtype)), out, s.exact ? EXACT : {});
            });
        cases.done();
      });

  for (const s of UNARY.filter((u) => u.specials))
    for (const dtype of FLOAT_DTYPES)
      it(`${s.name} ${dtype}: NaN, infinities, signed zeros and ties`, async () => {
        const x = new R.NdArray([s.specials!.length], s.specials!.map((v) => R.roundTo(dtype, v)));
        const cases = new Cases();
        await cases.run(`${s.name} ${dtype} of [${s.specials!.join(', ')}]`, async () => {
          await expectTensor(s.call(upload(x, dtype, device)), x.map((v) => s.f(v, dtype)), dtype, s.exact ? EXACT : {});
        });
        cases.done();
      });

  // Exact results: signed zeros kept by the odd functions, values at the ends of each domain, NaN
  // outside it, overflow to infinity, and tiny (also subnormal) arguments returned as they are.
  it('inverse and hyperbolic functions: signed zeros, domain ends and overflow, exactly', async () => {
    const TINY = [0, -0, 1e-10, -1e-10, 1e-40, -1e-40];
    const odd = [...TINY, Infinity, -Infinity, NaN];
    const cases = new Cases();
    const table: [string, (x: Tensor) => Tensor, (v: number) => number, number[]][] = [
      ['asin', kiln.asin, Math.asin, [...TINY, 1, -1, 1.5, -2, Infinity, -Infinity, NaN]],
      ['acos', kiln.acos, Math.acos, [1, -1, 0, -0, 1.5, -2, Infinity, -Infinity, NaN]],
      ['atan', kiln.atan, Math.atan, [...odd, 1e30, -1e30]],
      ['sinh', kiln.sinh, Math.sinh, [...odd, 100, -100, 1e30, -1e30]],
      ['cosh', kiln.cosh, Math.cosh, [0, -0, 1e-10, -1e-40, 100, -100, Infinity, -Infinity, NaN]],
      ['tan', kiln.tan, Math.tan, [...TINY, Infinity, -Infinity, NaN]],
      ['asinh', kiln.asinh, Math.asinh, odd],
      ['acosh', kiln.acosh, Math.acosh, [1, Infinity, 0.5, 0, -0, -1, -Infinity, NaN]],
      ['atanh', kiln.atanh, Math.atanh, [...odd, 1, -1, 1.5, -2]],
    ];
    const show = (v: number) => (Object.is(v, -0) ? '-0' : String(v));
    for (const dtype of FLOAT_DTYPES)
      for (const [name, call, f, xs] of table)
        await cases.run(`${name} ${dtype} of [${xs.map(show).join(', ')}]`, async () => {
          const x = xs.map((v) => R.roundTo(dtype, v));
          const got = Array.from(await call(kiln.tensor(x, { dtype, device })).data(), Number);
          const want = x.map((v) => R.roundTo(dtype, f(v)));
          const bad = want.flatMap((w, i) => (Object.is(w, got[i]) ? [] : [`${name}(${show(x[i])}) = ${show(got[i])}, expected ${show(w)}`]));
          if (bad.length) throw new Error(bad.join('; '));
        });
    cases.done();
  });

  // Where the textbook formulas cancel or overflow: relative precision, with no absolute slack.
  it('inverse and hyperbolic functions and tan keep relative precision at small, large and near-edge arguments', async () => {
    const both = (...v: number[]) => v.flatMap((x) => [x, -x]);
    const SMALL = both(1e-3, 2 ** -12 * (1 + 2 ** -10), 2 ** -12 * (1 - 2 ** -10), 1e-5, 1e-8, 1e-20, 1e-37);
    const table: [string, (x: Tensor) => Tensor, (v: number) => number, number[]][] = [
      ['asin', kiln.asin, Math.asin, [...SMALL, ...both(1 - 2 ** -24, 1 - 2 ** -20, 0.5, 0.4999)]],
      ['acos', kiln.acos, Math.acos, [...SMALL, ...both(1 - 2 ** -24, 1 - 2 ** -20, 1 - 1e-3, 0.5)]],
      ['atan', kiln.atan, Math.atan, [...SMALL, ...both(0.41, 0.42, 1, 2.41, 2.42, 1e5, 3e38)]],
      ['sinh', kiln.sinh, Math.sinh, [...SMALL, ...both(0.999, 1.001, 9, 80, 88.7, 89.4)]],
      ['cosh', kiln.cosh, Math.cosh, [...SMALL, ...both(0.999, 1.001, 9, 80, 88.7, 89.4)]],
      ['tan', kiln.tan, Math.tan, [...SMALL, ...both(0.785, 0.786, 1.5707963, 3.1415927, 4096.5, 1e5, 1e10, 3e38, 2 ** 20 * Math.PI)]],
      ['asinh', kiln.asinh, Math.asinh, [...SMALL, ...both(0.5, 4095, 4097, 1e20, 3e38)]],
      ['acosh', kiln.acosh, Math.acosh, [1 + 2 ** -23, 1 + 2 ** -20, 1 + 1e-4, 1.5, 2, 4095, 4097, 1e20, 3e38]],
      ['atanh', kiln.atanh, Math.atanh, [...SMALL, ...both(1 - 2 ** -24, 1 - 2 ** -12, 0.4999, 0.5001)]],
    ];
    const cases = new Cases();
    for (const dtype of FLOAT_DTYPES)
      for (const [name, call, f, xs] of table)
        await cases.run(`${name} ${dtype}`, async () => {
          const x = new R.NdArray([xs.length], xs.map((v) => R.roundTo(dtype, v)));
          await expectTensor(call(upload(x, dtype, device)), x.map(f), dtype, { atol: 0, label: `${name} ${dtype} of [${x.data.join(', ')}]` });
        });
    cases.done();
  });

  // exp, log and pow (and what is built on them) to a few ulp over the whole float32 range on every
  // device: WGSL bounds its builtins loosely, and lavapipe's were off by up to 64 (exp), 474 (log,
  // near 1) and 84 (pow) ulp. Subnormal inputs and results are left out: a GPU may flush them to zero.
  it('exp, log, tanh, sigmoid and pow stay within 2-3 ulp of float64 from the smallest normal float32 to overflow', async () => {
    const xs: number[] = [];
    const b = new Float32Array(1), u = new Uint32Array(b.buffer);
    for (let bits = 0; bits < 2 ** 32; bits += 4099) {
      u[0] = bits;
      if (!(Math.abs(b[0]) < 2 ** -126)) xs.push(b[0]);
    }
    for (const v of [1, 1 - 2 ** -24, 1 + 2 ** -23, 0.5, 2, 88.72, 88.73, -87.33, -103.9, 2 ** -126, 3.4e38]) xs.push(R.toF32(v), -R.toF32(v));
    const r = rngFor(testName());
    for (let i = 0; i < 20_000; ++i) xs.push(R.toF32(r.uniform(-20, 20)), R.toF32(1 + r.uniform(-0.01, 0.01)));
    const table: [string, (x: Tensor) => Tensor, (v: number) => number, number][] = [
      ['exp', kiln.exp, Math.exp, 2],
      ['log', kiln.log, Math.log, 2],
      ['tanh', kiln.tanh, Math.tanh, 2.5],
      ['sigmoid', kiln.sigmoid, R.sigmoid, 3],
    ];
    const x = kiln.tensor(xs, { device });
    const cases = new Cases();
    for (const [name, call, f, ulps] of table)
      await cases.run(name, async () => {
        const got = (await call(x).data()) as Float32Array;
        const bad: string[] = [];
        xs.forEach((v, i) => {
          const want = f(v);
          if (Math.abs(want) < 2 ** -126 && want !== 0) return; // a subnormal result
          const e = ulpError(got[i], want);
          if (e > ulps && bad.length < 5) bad.push(`${name}(${v}) = ${got[i]}, float64 ${want}: ${e.toFixed(1)} ulp`);
        });
        if (bad.length) throw new Error(`beyond ${ulps} ulp: ${bad.join('; ')}`);
      });
    // pow: where b ln a nears +-88 (the result's error is that of b ln a, so float32's own ln a is not
    // enough), bases near 1 with exponents in the thousands, subnormal bases, negative bases with
    // integer exponents
    const f32 = R.toF32;
    const pairs: [string, () => [number, number]][] = [
      ['wide', () => [f32(Math.exp(r.uniform(-20, 20))), f32(r.uniform(-8, 8))]],
      ['near 1', () => [f32(1 + r.uniform(-0.005, 0.005)), f32(r.uniform(-1e4, 1e4))]],
      ['huge or tiny a', () => [f32(Math.exp(r.uniform(-85, 85))), f32(r.uniform(-2, 2))]],
      ['subnormal a', () => [f32(r.uniform(0, 1e-38)), f32(r.uniform(0.1, 1))]],
      ['integer b', () => [f32(r.uniform(-50, 50)), r.int(-12, 12)]],
    ];
    // a WebGPU device that flushes float32 subnormals (WGSL allows it; `kiln info` says `subnormals:
    // flushed`: NVIDIA's) reads a subnormal a as 0, and 0^b is 0 for these b > 0
    const flushes = kiln.devices().find((d) => d.id === device)?.details.subnormals === 'flushed';
    for (const [name, gen] of pairs)
      await cases.run(`pow, ${name}`, async () => {
        const ab = Array.from({ length: 20_000 }, gen);
        const got = (await kiln.pow(kiln.tensor(ab.map((p) => p[0]), { device }), kiln.tensor(ab.map((p) => p[1]), { device })).data()) as Float32Array;
        const bad: string[] = [];
        ab.forEach(([a, b], i) => {
          if (flushes && a !== 0 && Math.abs(a) < 2 ** -126) {
            if (got[i] !== 0 && bad.length < 5) bad.push(`pow(${a}, ${b}) = ${got[i]}, want 0 (this device flushes subnormals)`);
            return;
          }
          const want = Math.pow(a, b);
          if (Math.abs(want) < 2 ** -126 || Math.abs(want) > 3.4e38) return; // subnormal, or past float32
          const e = ulpError(got[i], want);
          if (e > 2.5 && bad.length < 5) bad.push(`pow(${a}, ${b}) = ${got[i]}, float64 ${want}: ${e.toFixed(1)} ulp`);
        });
        if (bad.length) throw new Error(`beyond 2.5 ulp: ${bad.join('; ')}`);
      });
    cases.done();
  });

  // Below the front end's own checks, each backend's kernels hold the native op table's dtype lists
  // (kernels/OPS.md), so a caller that reaches them (an ONNX handler) gets the same answer on every
  // device: WebGPU once took uint8 and bool for Neg, which has no kernel for them on the CPU.
  it('each elementwise kernel takes exactly the dtypes kernels/OPS.md lists for it', async () => {
    const FLOATS: DType[] = ['float32', 'float16', 'bfloat16'], SIGNED: DType[] = [...FLOATS, 'int32', 'int64'];
    const NUMERIC: DType[] = [...SIGNED, 'uint8'], INTS: DType[] = ['int32', 'int64', 'uint8'];
    const table: [ops: string[], inputs: number, takes: readonly DType[], out?: DType][] = [
      ['Exp Log Sqrt Rsqrt Reciprocal Sin Cos Tan Asin Acos Atan Sinh Cosh Tanh Asinh Acosh Atanh Sigmoid Erf Silu Floor Ceil Round Gelu LeakyRelu'.split(' '), 1, FLOATS],
      [['Neg'], 1, SIGNED],
      [['Abs', 'Relu', 'Sign', 'Clip'], 1, NUMERIC],
      [['Not'], 1, ['bool']],
      [['BitwiseNot'], 1, INTS],
      [['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Mod'], 2, NUMERIC],
      [['BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'BitShift'], 2, INTS],
      [['Equal', 'NotEqual', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual'], 2, ALL_DTYPES, 'bool'],
      [['And', 'Or', 'Xor'], 2, ['bool'], 'bool'],
    ];
    const wrong: string[] = [];
    for (const [ops, arity, takes, out] of table)
      for (const op of ops)
        for (const dtype of ALL_DTYPES) {
          const x = kiln.zeros([3], { dtype, device });
          let took: boolean;
          try {
            const y = run1(op, Array(arity).fill(x), [3], out ?? dtype, op === 'BitShift' ? { direction: 'LEFT' } : {});
            await y.data();
            took = true;
          } catch (e) {
            if (!(e instanceof kiln.KilnError) || e.code !== 'E_UNSUPPORTED') throw e;
            took = false;
          }
          if (took !== takes.includes(dtype)) wrong.push(`${op}(${dtype}) ${took ? 'ran' : 'was refused'}`);
        }
    expect(wrong).toEqual([]);
  });

  it('clip with both, one or no bounds, infinite and fractional bounds', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    const bounds: [number | undefined, number | undefined][] = [[-1.5, 2.5], [0, undefined], [undefined, 0.25], [undefined, undefined], [-Infinity, Infinity], [2, 2], [-3.7, 100.2], [-1e10, 1e10], [Infinity, undefined], [undefined, -Infinity]]; // the last two: every value is the bound (integers: saturated)
    for (const dtype of NUMERIC)
      for (const [lo, hi] of bounds)
        for (const shape of [[7], [13, 33], [0], []])
          for (const layout of layoutsFor(shape).slice(0, 3))
            await cases.run(`clip ${dtype} [${shape}] ${layout} to [${lo}, ${hi}]`, async () => {
              const { t, ref } = makeInput(r, device, dtype, shape, layout, dtype === 'uint8' ? undefined : (q) => q.uniform(-8, 8));
              // integer tensors clip to the integers inside [lo, hi]; float bounds are float32 and the result rounds to the dtype once
              const L = lo === undefined ? -Infinity : isInt(dtype) ? Math.ceil(lo) : R.roundTo('float32', lo);
              const H = hi === undefined ? Infinity : isInt(dtype) ? Math.floor(hi) : R.roundTo('float32', hi);
              await expectTensor(t.clip(lo, hi), ref.map((v) => (Number.isNaN(v) ? v : R.roundTo(dtype, Math.min(Math.max(v, L), H)))), dtype, EXACT);
            });
    for (const dtype of FLOAT_DTYPES)
      await cases.run(`clip ${dtype} keeps NaN`, async () => {
        const x = new R.NdArray([4], [NaN, -5, 5, Infinity]);
        await expectTensor(upload(x, dtype, device).clip(-1, 1), new R.NdArray([4], [NaN, -1, 1, 1]), dtype, EXACT);
      });
    cases.done();
  });

  for (const s of BINARY)
    for (const dtype of s.dtypes)
      it(`${s.name} ${dtype}`, async () => {
        await binaryCases(device, s, dtype, rngFor(testName()));
      });

  for (const s of [...COMPARE, ...LOGICAL, ...BITWISE])
    for (const dtype of s.dtypes)
      it(`${s.name} ${dtype}`, async () => {
        await binaryCases(device, s, dtype, rngFor(testName()));
      });

  it('binary ops on NaN, infinities and signed zeros (float32, float16, bfloat16)', async () => {
    const vals = [NaN, Infinity, -Infinity, 0, -0, 1, -2.5];
    const a = vals.flatMap((x) => vals.map(() => x));
    const b = vals.flatMap(() => vals);
    const cases = new Cases();
    for (const dtype of FLOAT_DTYPES) {
      const A = new R.NdArray([a.length], a), B = new R.NdArray([b.length], b);
      for (const s of [...BINARY, ...COMPARE])
        await cases.run(`${s.name} ${dtype}`, async () => {
          const out = s.out?.(dtype) ?? dtype;
          await expectTensor(s.call(upload(A, dtype, device), upload(B, dtype, device)), R.map2(A, B, (x, y) => s.f(x, y, dtype)), out, out === 'bool' || s.exact ? EXACT : {});
        });
    }
    cases.done();
  });

  // The CPU's x < lo ? lo : x, bit for bit: -0 is not below 0, and a NaN of either sign passes. A
  // driver may compile a plain select into fmax / fmin (NVIDIA's Vulkan driver did: relu(NaN) was 0).
  it('relu and clip keep -0 and a NaN of either sign, bit for bit', async () => {
    const bits = [0x80000000, 0x00000000, 0x7fc00000, 0xffc00000, 0xbf800000, 0xff800000, 0x40000000]; // -0 0 NaN -NaN -1 -inf 2
    const x = kiln.tensor(new Float32Array(new Uint32Array(bits).buffer), { device });
    const hex = async (t: Tensor) => Array.from(new Uint32Array(Float32Array.from((await t.data()) as Float32Array).buffer), (b) => b.toString(16));
    expect(await hex(x.relu()), 'relu').toEqual(['80000000', '0', '7fc00000', 'ffc00000', '0', '0', '40000000']);
    expect(await hex(x.clip(0, 1)), 'clip(0, 1)').toEqual(['80000000', '0', '7fc00000', 'ffc00000', '0', '0', '3f800000']);
    expect(await hex(x.clip(-0.5, 0)), 'clip(-0.5, 0)').toEqual(['80000000', '0', '7fc00000', 'ffc00000', 'bf000000', 'bf000000', '0']);
    x.dispose();
  });

  it('maximum and minimum of equal operands give the first (NumPy): the sign of a zero follows a', async () => {
    const a = [-0, 0, -0, 0, 1], b = [0, -0, -0, 0, 1];
    for (const dtype of FLOAT_DTYPES)
      for (const op of [kiln.maximum, kiln.minimum]) {
        const got = Array.from((await op(kiln.tensor(a, { dtype, device }), kiln.tensor(b, { dtype, device })).data()) as ArrayLike<number>);
        expect(got.map((v) => (Object.is(v, -0) ? '-0' : String(v))), `${op.name} ${dtype}`).toEqual(['-0', '0', '-0', '0', '1']);
      }
  });

  it('float mod with quotients past 2^24 (2^31 mod 2.5, 3e38 mod 1e-3) is exact, as C fmod is', async () => {
    const as = [2 ** 31, 3e38, -1e30, 2 ** 24 + 1, 1e10, -123456789, 7.5];
    const bs = [2.5, -3.3, 1e-3, 7, -1e-30, 0.1];
    const a = new R.NdArray([as.length, 1], as.map((v) => R.toF32(v))), b = new R.NdArray([1, bs.length], bs.map((v) => R.toF32(v)));
    // JS % on the float32 values is exact; moving it to the divisor's sign rounds once, as in float32
    const want = R.map2(a, b, (x, y) => R.toF32(npMod(x, y, 'float32')));
    await expectTensor(kiln.mod(upload(a, 'float32', device), upload(b, 'float32', device)), want, 'float32', EXACT);
  });

  it('float mod with divisors past 2^116 (3e38 mod 2e38, 1e36 mod 3e35) is exact, not NaN', async () => {
    // the exact product q * b behind it must split b without overflowing (4097 b is infinite past 8.3e34)
    const as = [3e38, -3e38, 1e36, 3.4e38, 1e35], bs = [2e38, -3e35, 9e34, 1e-3];
    const a = new R.NdArray([as.length, 1], as.map((v) => R.toF32(v))), b = new R.NdArray([1, bs.length], bs.map((v) => R.toF32(v)));
    const want = R.map2(a, b, (x, y) => R.toF32(npMod(x, y, 'float32')));
    await expectTensor(kiln.mod(upload(a, 'float32', device), upload(b, 'float32', device)), want, 'float32', EXACT);
  });

  it('integer edge cases: wrap-around, division and modulo by zero and by -1, negative powers', async () => {
    const cases = new Cases();
    const ints: Record<string, number[]> = {
      int32: [-2147483648, 2147483647, -1, 0, 1, 7, -7, 46341],
      int64: [-(2 ** 40), 2 ** 40, -1, 0, 1, 7, -7, 3],
      uint8: [0, 1, 7, 128, 200, 255, 16, 3],
    };
    for (const [dtype, vals] of Object.entries(ints) as [DType, number[]][]) {
      const a = vals.flatMap((x) => vals.map(() => x));
      const b = vals.flatMap(() => vals);
      const A = new R.NdArray([a.length], a), B = new R.NdArray([b.length], b);
      for (const s of BINARY.filter((x) => x.name !== 'pow'))
        await cases.run(`${s.name} ${dtype}`, async () => {
          await expectTensor(s.call(upload(A, dtype, device), upload(B, dtype, device)), R.map2(A, B, (x, y) => s.f(x, y, dtype)), s.out?.(dtype) ?? dtype, s.name === 'div' ? {} : EXACT);
        });
      const P = new R.NdArray([b.length], b.map((v) => (dtype === 'uint8' ? v % 9 : (v % 9) - 2)));
      await cases.run(`pow ${dtype}`, async () => {
        await expectTensor(kiln.pow(upload(A, dtype, device), upload(P, dtype, device)), R.map2(A, P, (x, y) => intPow(x, y, dtype)), dtype, EXACT);
      });
    }
    cases.done();
  });

  // Every bit of every dtype, compared as BigInt: int64 words past 2^53 (where data() -> number
  // would round), the high word alone, the sign bit, and shift amounts at and past each word edge.
  it('bitwise ops and shifts on bit patterns across the whole range, exactly', async () => {
    const cases = new Cases();
    const i64 = [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 32n, 2n ** 32n - 1n, -(2n ** 32n), 0x5555_5555_aaaa_aaaan, -0x1234_5678_9abc_def0n, 0x7fff_ffffn, 0x8000_0000n];
    const vals: Record<string, bigint[]> = {
      int32: [0n, 1n, -1n, 2n ** 31n - 1n, -(2n ** 31n), 0x5555_aaaan, -0x1234_5678n, 0xffffn, -65536n],
      int64: i64,
      uint8: [0n, 1n, 127n, 128n, 255n, 0x55n, 0xaan, 7n],
    };
    const amounts: Record<string, bigint[]> = {
      int32: [0n, 1n, 7n, 31n, 32n, 33n, 100n, -1n, -32n, -(2n ** 31n), 2n ** 31n - 1n],
      int64: [0n, 1n, 8n, 31n, 32n, 33n, 63n, 64n, 65n, -1n, -64n, 2n ** 32n, 2n ** 32n + 3n, -(2n ** 63n), 2n ** 63n - 1n],
      uint8: [0n, 1n, 7n, 8n, 9n, 31n, 32n, 33n, 255n],
    };
    const wrapTo = (d: DType, v: bigint) => (d === 'uint8' ? BigInt.asUintN(8, v) : BigInt.asIntN(intBits(d), v));
    const make = (d: DType, xs: bigint[]) => kiln.tensor(d === 'int64' ? xs : xs.map(Number), { dtype: d, device });
    const read = async (t: Tensor) => Array.from((await t.data()) as ArrayLike<number | bigint>, (v) => BigInt(v));
    const check = async (label: string, got: Tensor, want: bigint[], a: bigint[], b: bigint[]) => {
      const g = await read(got);
      const bad = want.flatMap((w, i) => (g[i] === w ? [] : [`(${a[i]}, ${b[i] ?? ''}) -> ${g[i]}, expected ${w}`]));
      if (bad.length) throw new Error(`${label}: ${bad.length} of ${want.length} wrong: ${bad.slice(0, 5).join('; ')}`);
    };
    for (const d of INT_DTYPES) {
      const xs = vals[d];
      const a = xs.flatMap((x) => xs.map(() => x)), b = xs.flatMap(() => xs);
      const ops: [string, (p: Tensor, q: Tensor) => Tensor, (p: bigint, q: bigint) => bigint][] = [
        ['bitwiseAnd', kiln.bitwiseAnd, (p, q) => p & q],
        ['bitwiseOr', kiln.bitwiseOr, (p, q) => p | q],
        ['bitwiseXor', kiln.bitwiseXor, (p, q) => p ^ q],
      ];
      for (const [name, call, f] of ops)
        await cases.run(`${name} ${d}`, () => check(`${name} ${d}`, call(make(d, a), make(d, b)), a.map((p, i) => wrapTo(d, f(p, b[i]))), a, b));
      await cases.run(`bitwiseNot ${d}`, () => check(`bitwiseNot ${d}`, make(d, xs).bitwiseNot(), xs.map((p) => wrapTo(d, ~p)), xs, []));
      const sh = amounts[d];
      const sa = xs.flatMap((x) => sh.map(() => x)), sb = xs.flatMap(() => sh);
      for (const left of [true, false]) {
        const name = left ? 'leftShift' : 'rightShift';
        await cases.run(`${name} ${d}`, () =>
          check(`${name} ${d}`, (left ? kiln.leftShift : kiln.rightShift)(make(d, sa), make(d, sb)), sa.map((p, i) => wrapTo(d, npShift(p, sb[i], intBits(d), left))), sa, sb));
      }
    }
    cases.done();
  });

  it('bitwise ops: integer promotion, JS integers, and E_DTYPE for floats and bool', async () => {
    const cases = new Cases();
    await cases.run('int32 with uint8 gives int32; JS integers on either side', async () => {
      const a = kiln.tensor([-1, 256, 0x7fffffff, -8], { dtype: 'int32', device });
      const u = kiln.tensor([0xf0, 3, 255, 1], { dtype: 'uint8', device });
      await expectTensor(kiln.bitwiseAnd(a, u), new R.NdArray([4], [0xf0, 0, 255, 0]), 'int32', EXACT);
      await expectTensor(a.bitwiseXor(-1), new R.NdArray([4], [0, -257, -(2 ** 31), 7]), 'int32', EXACT);
      await expectTensor(kiln.bitwiseOr(1, u), new R.NdArray([4], [0xf1, 3, 255, 1]), 'uint8', EXACT);
      await expectTensor(u.leftShift(4), new R.NdArray([4], [0, 0x30, 0xf0, 0x10]), 'uint8', EXACT);
      await expectTensor(kiln.rightShift(a, 1), new R.NdArray([4], [-1, 128, 0x3fffffff, -4]), 'int32', EXACT);
      await expectTensor(kiln.leftShift(1, kiln.tensor([0, 31, 32, -1], { dtype: 'int32', device })), new R.NdArray([4], [1, -(2 ** 31), 0, 0]), 'int32', EXACT);
    });
    await cases.run('floats and bool are refused, naming the op (and the logical op for bool)', () => {
      const f = kiln.tensor([1.5, 2], { device });
      const h = kiln.tensor([1, 2], { dtype: 'float16', device });
      const b = kiln.tensor([true, false], { device });
      const i = kiln.tensor([1, 2], { dtype: 'int32', device });
      expectError(() => kiln.bitwiseAnd(f, f), 'E_DTYPE', 'bitwiseAnd', 'float32');
      expectError(() => kiln.bitwiseOr(i, h), 'E_DTYPE', 'bitwiseOr', 'float16');
      expectError(() => i.bitwiseXor(0.5), 'E_DTYPE', 'bitwiseXor', 'float32');
      expectError(() => h.bitwiseNot(), 'E_DTYPE', 'bitwiseNot', 'float16');
      expectError(() => kiln.leftShift(f, i), 'E_DTYPE', 'leftShift', 'float32');
      expectError(() => kiln.rightShift(i, 1.5), 'E_DTYPE', 'rightShift', 'float32');
      expectError(() => kiln.bitwiseAnd(b, b), 'E_DTYPE', 'bitwiseAnd', 'bool', 'logicalAnd');
      expectError(() => b.bitwiseOr(true), 'E_DTYPE', 'bitwiseOr', 'bool', 'logicalOr');
      expectError(() => kiln.bitwiseXor(b, b), 'E_DTYPE', 'bitwiseXor', 'bool', 'logicalXor');
      expectError(() => b.bitwiseNot(), 'E_DTYPE', 'bitwiseNot', 'bool', 'logicalNot');
      expectError(() => kiln.leftShift(b, b), 'E_DTYPE', 'leftShift', 'bool');
      expectError(() => kiln.tensor([1], { dtype: 'uint8', device }).leftShift(256), 'E_ARGUMENT', 'leftShift', '256', 'uint8');
    });
    cases.done();
  });

  it('JS numbers as operands (weak scalars) on either side', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    const f32 = (v: number) => R.toF32(v);
    for (const shape of [[13, 33], [0], [], [7]]) {
      for (const layout of layoutsFor(shape).slice(0, 3)) {
        await cases.run(`float32 [${shape}] ${layout}`, async () => {
          const { t, ref } = makeInput(r, device, 'float32', shape, layout);
          await expectTensor(t.add(2.5), ref.map((v) => v + 2.5), 'float32');
          await expectTensor(kiln.sub(3, t), ref.map((v) => 3 - v), 'float32');
          await expectTensor(kiln.mul(t, -0.5), ref.map((v) => v * -0.5), 'float32');
          await expectTensor(kiln.div(1, t), ref.map((v) => 1 / v), 'float32');
          await expectTensor(t.pow(2), ref.map((v) => v * v), 'float32');
          await expectTensor(t.maximum(0), ref.map((v) => Math.max(v, 0)), 'float32', EXACT);
          await expectTensor(t.greater(0.5), ref.map((v) => +(v > 0.5)), 'bool', EXACT);
          await expectTensor(t.mod(1.5), ref.map((v) => npMod(v, f32(1.5), 'float32')), 'float32');
        });
        await cases.run(`int32 [${shape}] ${layout}`, async () => {
          const { t, ref } = makeInput(r, device, 'int32', shape, layout, (q) => q.int(-1000, 1000));
          await expectTensor(t.add(3), ref.map((v) => v + 3), 'int32', EXACT); // an integer keeps int32
          await expectTensor(t.mul(0.5), ref.map((v) => f32(v) * 0.5), 'float32'); // a fraction gives float32
          await expectTensor(kiln.sub(7, t), ref.map((v) => 7 - v), 'int32', EXACT);
          await expectTensor(t.div(4), ref.map((v) => f32(v) / 4), 'float32'); // true division
          await expectTensor(t.mod(7), ref.map((v) => npMod(v, 7, 'int32')), 'int32', EXACT);
          await expectTensor(t.lessEqual(0), ref.map((v) => +(v <= 0)), 'bool', EXACT);
        });
        await cases.run(`uint8 and float16 keep their dtype [${shape}] ${layout}`, async () => {
          const u = makeInput(r, device, 'uint8', shape, layout);
          await expectTensor(u.t.add(10), u.ref.map((v) => (v + 10) % 256), 'uint8', EXACT);
          const h = makeInput(r, device, 'float16', shape, layout);
          await expectTensor(h.t.mul(3), h.ref.map((v) => v * 3), 'float16');
        });
        await cases.run(`a whole number beyond the integer dtype [${shape}] ${layout}`, async () => {
          // arithmetic refuses it (converting would change it); a comparison has one answer per element
          const u = makeInput(r, device, 'uint8', shape, layout);
          expectError(() => u.t.add(300), 'E_ARGUMENT', 'add', '300', 'uint8', '[0, 255]');
          expectError(() => kiln.sub(-1, u.t), 'E_ARGUMENT', 'sub', '-1', 'uint8');
          expectError(() => kiln.where(kiln.onesLike(u.t, { dtype: 'bool' }), u.t, 256), 'E_ARGUMENT', 'where', '256');
          await expectTensor(u.t.less(300), u.ref.map(() => 1), 'bool', EXACT);
          await expectTensor(kiln.equal(u.t, -1), u.ref.map(() => 0), 'bool', EXACT);
          await expectTensor(kiln.greaterEqual(-1, u.t), u.ref.map(() => 0), 'bool', EXACT);
          await expectTensor(kiln.notEqual(2 ** 40, u.t), u.ref.map(() => 1), 'bool', EXACT);
          const i = makeInput(r, device, 'int32', shape, layout);
          expectError(() => i.t.mul(2 ** 31), 'E_ARGUMENT', 'mul', '2147483648', 'int32');
          await expectTensor(i.t.greater(-(2 ** 31) - 1), i.ref.map(() => 1), 'bool', EXACT);
          await expectTensor(i.t.add(2 ** 31 - 1).sub(2 ** 31 - 1), i.ref, 'int32', EXACT); // the edge fits (wrapping there and back)
          const b = makeInput(r, device, 'bool', shape, layout);
          expectError(() => b.t.add(2 ** 63), 'E_ARGUMENT', 'add', 'int64');
          await expectTensor(b.t.lessEqual(2 ** 64), b.ref.map(() => 1), 'bool', EXACT);
        });
        await cases.run(`bool tensor with a number [${shape}] ${layout}`, async () => {
          const { t, ref } = makeInput(r, device, 'bool', shape, layout);
          await expectTensor(t.add(1), ref.map((v) => v + 1), 'int64', EXACT);
          await expectTensor(t.mul(0.5), ref.map((v) => v * 0.5), 'float32');
          await expectTensor(t.logicalAnd(true), ref, 'bool', EXACT);
        });
      }
    }
    cases.done();
  });

  it('type promotion between tensors', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    const table: [DType, DType, DType][] = [
      ['float16', 'bfloat16', 'float32'], ['float16', 'float32', 'float32'], ['bfloat16', 'float32', 'float32'],
      ['uint8', 'int32', 'int32'], ['int32', 'int64', 'int64'], ['uint8', 'int64', 'int64'],
      ['int32', 'float16', 'float16'], ['int64', 'bfloat16', 'bfloat16'], ['uint8', 'float32', 'float32'],
      ['bool', 'uint8', 'uint8'], ['bool', 'float16', 'float16'], ['bool', 'int32', 'int32'],
    ];
    const gen = (d: DType): Gen => (d === 'bool' ? (q) => q.int(0, 1) : d === 'uint8' ? (q) => q.int(0, 100) : isInt(d) ? (q) => q.int(-100, 100) : (q) => q.uniform(-4, 4));
    for (const [da, db, want] of table)
      for (const [sa, sb] of [[[3, 7], [7]], [[13, 33], [13, 33]], [[], [5]]] as [number[], number[]][])
        await cases.run(`add(${da} [${sa}], ${db} [${sb}]) -> ${want}`, async () => {
          const a = makeInput(r, device, da, sa, 'contiguous', gen(da));
          const b = makeInput(r, device, db, sb, 'contiguous', gen(db));
          // each operand converts to the result dtype first (float16/bfloat16 through float32), then adds
          const conv = (x: R.NdArray, from: DType) => R.cast(x, from, want);
          await expectTensor(kiln.add(a.t, b.t), R.map2(conv(a.ref, da), conv(b.ref, db), (x, y) => x + y), want, isInt(want) ? EXACT : {});
          await expectTensor(kiln.equal(a.t, b.t), R.map2(conv(a.ref, da), conv(b.ref, db), (x, y) => +(x === y)), 'bool', EXACT);
        });
    cases.done();
  });

  it('where: bool condition, every dtype, three-way broadcasting, views and JS numbers', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    const triples: [number[], number[], number[]][] = [
      [[13, 33], [13, 33], [13, 33]], [[3, 1], [1, 7], [7]], [[7], [], [3, 7]], [[2, 1, 5], [4, 1], [5]], [[0, 3], [3], []], [[257], [1], [257]],
    ];
    for (const dtype of ALL_DTYPES)
      for (const [sc, sx, sy] of triples)
        for (const [lc, lx] of layoutPairs(sc, sx).slice(0, 4))
          await cases.run(`where ${dtype} cond [${sc}] ${lc}, x [${sx}] ${lx}, y [${sy}]`, async () => {
            const c = makeInput(r, device, 'bool', sc, lc);
            const x = makeInput(r, device, dtype, sx, lx);
            const y = makeInput(r, device, dtype, sy, layoutsFor(sy).at(-1)!);
            await expectTensor(kiln.where(c.t, x.t, y.t), R.where(c.ref, x.ref, y.ref), dtype, EXACT);
          });
    for (const shape of [[13, 33], [0], []])
      await cases.run(`where with numbers [${shape}]`, async () => {
        const c = makeInput(r, device, 'bool', shape, 'contiguous');
        const x = makeInput(r, device, 'int32', shape, 'contiguous', (q) => q.int(-50, 50));
        await expectTensor(kiln.where(c.t, 1.5, -2), c.ref.map((v) => (v ? 1.5 : -2)), 'float32', EXACT);
        await expectTensor(kiln.where(c.t, x.t, 7), R.where(c.ref, x.ref, R.NdArray.scalar(7)), 'int32', EXACT);
        await expectTensor(kiln.where(c.t, true, false), c.ref, 'bool', EXACT);
      });
    await cases.run('where with a non-bool condition (non-zero is true)', async () => {
      const c = new R.NdArray([6], [0, 1, -2, 0.5, NaN, 0]);
      const x = new R.NdArray([6], [1, 2, 3, 4, 5, 6]);
      await expectTensor(kiln.where(upload(c, 'float32', device), upload(x, 'float32', device), -1), new R.NdArray([6], [-1, 2, 3, 4, 5, -1]), 'float32', EXACT);
    });
    cases.done();
  });
});

// The CPU's float mod computes fmod exactly through float64 while |a / b| < 2^24 (elementwise_ops.h
// fmod_f32), libm beyond: the remainder must be exact on both sides of that line, at quotients one
// ulp either side of an integer, for subnormal and huge operands, zeros, infinities and NaN.
it('cpu mod (float32) is exactly NumPy\'s: fmod then the divisor\'s sign, at every quotient size', async () => {
  const f = Math.fround;
  const divisors = [1.5, -1.5, f(0.1), f(-3e-5), 7, f(1e10), f(3e-39), f(-2.5e-42), 65504];
  const a: number[] = [], b: number[] = [];
  const r = rngFor('cpu mod exact');
  for (const y of divisors) {
    const near = (x: number) => [x, f(x * (1 + 2 ** -23)), f(x * (1 - 2 ** -23))];
    const xs = [0, -0, Infinity, -Infinity, NaN, y, -y, ...near(f(3 * y)), ...near(f(-1000 * y)), ...near(f(2 ** 23 * y)), ...near(f(2 ** 24 * y)), f(2 ** 30 * y), 3e38, -3e38, 1e-45];
    for (let i = 0; i < 40; ++i) xs.push(f(y * (r.next() - 0.5) * 2 ** (r.next() * 40)));
    for (const x of xs) a.push(f(x)), b.push(y);
  }
  for (const x of [1, -2.5, 0, NaN]) for (const y of [0, -0, Infinity, -Infinity, NaN]) a.push(x), b.push(y);
  const got = (await kiln.mod(kiln.tensor(a), kiln.tensor(b)).data()) as Float32Array;
  const want = a.map((x, i) => f(npMod(x, b[i], 'float32')));
  const bad = want.map((w, i) => (Object.is(w, got[i]) ? -1 : i)).filter((i) => i >= 0);
  expect(bad.map((i) => `mod(${a[i]}, ${b[i]}) = ${got[i]}, expected ${want[i]}`)).toEqual([]);
});
