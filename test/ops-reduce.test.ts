// Reductions (sum mean prod max min variance argmax argmin), softmax/logSoftmax, layerNorm and
// rmsNorm on every backend and dtype, against the float64 reference.
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType, Tensor } from '../src/index.js';
import { forEachBackend } from './helpers/backends.js';
import { Cases, expectError, expectTensor, tolFor, type Tolerance } from './helpers/compare.js';
import { FLOAT_DTYPES, layoutsFor, layoutsForSize, makeInput, upload, type Gen } from './helpers/inputs.js';
import { rngFor } from './helpers/random.js';
import * as R from './helpers/reference.js';

const testName = () => expect.getState().currentTestName ?? 'test';
const isInt = (d: DType) => d === 'int32' || d === 'int64' || d === 'uint8';
const EXACT: Partial<Tolerance> = { rtol: 0, atol: 0 };

/** Shapes and the axes reduced over each (undefined = all). */
const REDUCTIONS: [number[], (number | number[] | undefined)[]][] = [
  [[], [undefined, 0]],
  [[1], [undefined, 0]],
  [[7], [undefined, 0, -1]],
  [[257], [0]],
  [[13, 33], [undefined, 0, 1, [0, 1]]],
  [[3, 0, 5], [undefined, 0, 1, 2, [0, 2]]],
  [[2, 3, 17], [0, 1, 2, -1, [0, 2], [1, 2]]],
  [[4, 1, 3, 5], [[0, 3], [1], [-3, -1], undefined]],
  // large enough that the kernels split rows, columns and the reduced range across threads
  [[300, 257], [undefined, 0, 1]],
  [[200003], [0]],
];

interface ReduceSpec {
  name: string;
  call: (x: Tensor, axes: number | number[] | undefined, keepdims: boolean) => Tensor;
  dtypes: readonly DType[];
  out: (d: DType) => DType;
  f: (vals: number[], d: DType) => number;
  gen?: (d: DType) => Gen | undefined;
  /** Extreme-value reductions reject an empty reduced axis. */
  needsElements?: boolean;
  /** The error may grow with sum |x| rather than |result|. */
  scaled?: (vals: number[]) => number;
}

const ALL_NUMERIC: readonly DType[] = [...FLOAT_DTYPES, 'int32', 'int64', 'uint8'];
const sumOut = (d: DType): DType => (FLOAT_DTYPES.includes(d) ? d : 'int64');
const meanOut = (d: DType): DType => (FLOAT_DTYPES.includes(d) ? d : 'float32');
const absSum = (v: number[]) => v.reduce((a, b) => a + Math.abs(b), 0);

/** Integer sums are exact in int64; the reference adds with BigInt so float64 rounding cannot differ. */
function sumRef(v: number[], d: DType): number {
  if (FLOAT_DTYPES.includes(d)) return R.sumOf(v);
  return Number(v.reduce((a, b) => a + BigInt(b), 0n));
}

/** Integer products wrap in int64; the reference multiplies exactly with BigInt. */
function prodRef(v: number[], d: DType): number {
  if (FLOAT_DTYPES.includes(d)) return R.prodOf(v);
  return Number(BigInt.asIntN(64, v.reduce((a, b) => a * BigInt(b), 1n)));
}

const SPECS: ReduceSpec[] = [
  { name: 'sum', call: (x, axes, keepdims) => x.sum({ axes, keepdims }), dtypes: [...ALL_NUMERIC, 'bool'], out: sumOut, f: sumRef, scaled: absSum },
  { name: 'mean', call: (x, axes, keepdims) => x.mean({ axes, keepdims }), dtypes: ALL_NUMERIC, out: meanOut, f: R.meanOf, scaled: (v) => absSum(v) / Math.max(1, v.length) },
  {
    name: 'prod', call: (x, axes, keepdims) => x.prod({ axes, keepdims }), dtypes: [...ALL_NUMERIC, 'bool'], out: sumOut, f: prodRef,
    // factors near 1 keep float products in range; integers are mostly +-1 with a few +-2 and 0
    gen: (d) => (FLOAT_DTYPES.includes(d) ? (r) => r.pick([-1, 1]) * r.uniform(0.7, 1.4) : d === 'bool' ? (r) => +(r.next() < 0.9) : d === 'uint8' ? (r) => (r.next() < 0.95 ? 1 : r.int(0, 3)) : (r) => (r.next() < 0.95 ? r.pick([-1, 1]) : r.int(-2, 2))),
  },
  { name: 'max', call: (x, axes, keepdims) => x.max({ axes, keepdims }), dtypes: ALL_NUMERIC, out: (d) => d, f: R.maxOf, needsElements: true },
  { name: 'min', call: (x, axes, keepdims) => x.min({ axes, keepdims }), dtypes: ALL_NUMERIC, out: (d) => d, f: R.minOf, needsElements: true },
  {
    name: 'variance', call: (x, axes, keepdims) => x.variance({ axes, keepdims }), dtypes: ALL_NUMERIC, out: meanOut, f: (v) => R.varianceOf(v, 0),
    gen: (d) => (isInt(d) ? (r) => r.int(d === 'uint8' ? 0 : -1000, 1000) : undefined),
    scaled: (v) => v.reduce((a, b) => a + b * b, 0) / Math.max(1, v.length),
  },
  {
    name: 'variance(correction 1)', call: (x, axes, keepdims) => x.variance({ axes, keepdims, correction: 1 }), dtypes: ['float32', 'bfloat16', 'int32'], out: meanOut, f: (v) => R.varianceOf(v, 1),
    gen: (d) => (isInt(d) ? (r) => r.int(-1000, 1000) : undefined),
    scaled: (v) => v.reduce((a, b) => a + b * b, 0) / Math.max(1, v.length - 1),
  },
];

forEachBackend('reductions', (device) => {
  for (const s of SPECS)
    for (const dtype of s.dtypes)
      it(`${s.name} ${dtype}`, async () => {
        const r = rngFor(testName());
        const out = s.out(dtype);
        const cases = new Cases();
        for (const [shape, axesList] of REDUCTIONS)
          for (const axes of axesList)
            for (const keepdims of [false, true])
              for (const layout of layoutsForSize(shape).filter((_, i) => keepdims || i % 2 === 0)) {
                const norm = R.normAxes(axes, Math.max(1, shape.length));
                if (s.needsElements && norm.some((a) => (shape.length ? shape[a] : 1) === 0)) continue;
                await cases.run(`${s.name} ${dtype} [${shape}] ${layout} axes ${JSON.stringify(axes)} keepdims ${keepdims}`, async () => {
                  const { t, ref } = makeInput(r, device, dtype, shape, layout, s.gen?.(dtype));
                  const want = R.reduce(ref, axes, keepdims, (v) => s.f(v, dtype));
                  const scale = s.scaled ? R.reduce(ref, axes, keepdims, s.scaled).data : undefined;
                  const exact = isInt(out) || (!s.scaled && s.name !== 'prod');
                  await expectTensor(s.call(t, axes, keepdims), want, out, exact ? { ...EXACT, scale } : { scale });
                });
              }
        cases.done();
      });

  for (const [name, fn, refFn] of [
    ['argmax', (x: Tensor, o: { axis?: number; keepdims?: boolean }) => x.argmax(o), R.argmaxOf],
    ['argmin', (x: Tensor, o: { axis?: number; keepdims?: boolean }) => x.argmin(o), R.argminOf],
  ] as const)
    for (const dtype of [...ALL_NUMERIC, 'bool'] as DType[])
      it(`${name} ${dtype} (int64 result, first occurrence wins ties)`, async () => {
        const r = rngFor(testName());
        const cases = new Cases();
        // few distinct values, so ties are everywhere
        const gen: Gen = dtype === 'bool' ? (q) => q.int(0, 1) : dtype === 'uint8' ? (q) => q.int(0, 3) : (q) => q.int(-2, 2);
        const list: [number[], (number | undefined)[]][] = [[[], [undefined, 0]], [[1], [0]], [[7], [undefined, 0]], [[257], [0]], [[13, 33], [undefined, 0, 1, -1]], [[2, 3, 17], [0, 1, 2]], [[3, 0, 5], [0, 2]], [[300, 257], [undefined, 0, 1]]];
        for (const [shape, axes] of list)
          for (const axis of axes)
            for (const keepdims of [false, true])
              for (const layout of layoutsForSize(shape).slice(0, keepdims ? 8 : 3)) {
                if (shape.includes(0) && (axis === undefined || shape[axis] === 0)) continue;
                await cases.run(`${name} ${dtype} [${shape}] ${layout} axis ${axis} keepdims ${keepdims}`, async () => {
                  const { t, ref } = makeInput(r, device, dtype, shape, layout, gen);
                  const want = axis === undefined
                    ? R.reduce(ref.reshape([-1]), 0, keepdims, refFn).reshape(keepdims ? [1] : [])
                    : R.reduce(ref, axis, keepdims, refFn);
                  await expectTensor(fn(t, { axis, keepdims }), want, 'int64', EXACT);
                });
              }
        cases.done();
      });

  it('max, min, argmax and argmin propagate NaN; sum and mean of NaN and infinities', async () => {
    const cases = new Cases();
    const rows = [
      [1, NaN, 3, 7],
      [NaN, 2, NaN, -1],
      [-Infinity, 5, Infinity, 0],
      [Infinity, Infinity, -1, -Infinity],
    ];
    const x = new R.NdArray([4, 4], rows.flat());
    for (const dtype of FLOAT_DTYPES)
      await cases.run(dtype, async () => {
        const t = upload(x, dtype, device);
        await expectTensor(t.max({ axes: 1 }), R.reduce(x, 1, false, R.maxOf), dtype, EXACT);
        await expectTensor(t.min({ axes: 1 }), R.reduce(x, 1, false, R.minOf), dtype, EXACT);
        await expectTensor(t.argmax({ axis: 1 }), R.reduce(x, 1, false, R.argmaxOf), 'int64', EXACT);
        await expectTensor(t.argmin({ axis: 1 }), R.reduce(x, 1, false, R.argminOf), 'int64', EXACT);
        await expectTensor(t.sum({ axes: 1 }), R.reduce(x, 1, false, R.sumOf), dtype, EXACT);
        await expectTensor(t.mean({ axes: 0 }), R.reduce(x, 0, false, R.meanOf), dtype, EXACT);
        await expectTensor(t.max(), R.NdArray.scalar(NaN), dtype, EXACT);
      });
    cases.done();
  });

  it('reducing an empty axis: sum 0, prod 1, mean and variance NaN; max/min/argmax reject it', async () => {
    const cases = new Cases();
    for (const dtype of ['float32', 'float16', 'int32', 'bool'] as DType[])
      await cases.run(dtype, async () => {
        const t = kiln.zeros([3, 0, 2], { dtype });
        await expectTensor(t.sum({ axes: 1 }), new R.NdArray([3, 2]), sumOut(dtype), EXACT);
        await expectTensor(t.prod({ axes: [1] }), R.NdArray.fill([3, 2], () => 1), sumOut(dtype), EXACT);
        await expectTensor(t.sum(), R.NdArray.scalar(0), sumOut(dtype), EXACT);
        if (dtype !== 'bool') {
          await expectTensor(t.mean({ axes: 1 }), R.NdArray.fill([3, 2], () => NaN), meanOut(dtype), EXACT);
          await expectTensor(t.variance({ axes: [0, 1], keepdims: true }), R.NdArray.fill([1, 1, 2], () => NaN), meanOut(dtype), EXACT);
          for (const op of [() => t.max({ axes: 1 }), () => t.min(), () => t.argmax({ axis: 1 }), () => t.argmin()]) expectError(op, 'E_SHAPE');
        }
      });
    cases.done();
  });

  it('variance with a correction at or past n is m2 / max(n - correction, 0): NaN (0/0) or inf; large offsets do not lose precision', async () => {
    const cases = new Cases();
    await cases.run('n = 1', async () => {
      const t = kiln.tensor([[5], [7]], { device });
      await expectTensor(t.variance({ axes: 1, correction: 1 }), new R.NdArray([2], [NaN, NaN]), 'float32', EXACT);
      await expectTensor(t.variance({ axes: 1, correction: 7 }), new R.NdArray([2], [NaN, NaN]), 'float32', EXACT);
      await expectTensor(t.variance({ axes: 1 }), new R.NdArray([2], [0, 0]), 'float32', EXACT);
    });
    await cases.run('n = 2, correction 3: a positive m2 over 0', async () => {
      const t = kiln.tensor([[1, 2]], { device });
      await expectTensor(t.variance({ axes: 1, correction: 3 }), new R.NdArray([1], [Infinity]), 'float32', EXACT);
      await expectTensor(t.variance({ axes: 1, correction: 1.5 }), new R.NdArray([1], [1]), 'float32', EXACT);
    });
    await cases.run('offset 1e4', async () => {
      // a naive E[x^2] - E[x]^2 in float32 loses everything here; two-pass or Welford does not
      const vals = Array.from({ length: 1001 }, (_, i) => 10000 + (i % 7) * 0.25);
      const x = new R.NdArray([1001], vals.map(R.toF32));
      await expectTensor(upload(x, 'float32', device).variance(), R.NdArray.scalar(R.varianceOf(Array.from(x.data), 0)), 'float32', { rtol: 1e-4 });
    });
    cases.done();
  });
});

// ---- softmax and normalization ------------------------------------------------------------------------------

const SOFTMAX_CASES: [number[], number[]][] = [
  [[1], [0, -1]],
  [[7], [0, -1]],
  [[257], [-1]],
  [[13, 33], [0, 1, -1]],
  [[2, 3, 17], [0, 1, 2]],
  [[3, 0, 5], [1, 2]],
  [[4, 1], [1, 0]],
  [[300, 257], [-1, 0]],
];

/** Normalization cases: shape, first normalized axis, scale/bias shape (broadcastable to shape[axis:]). */
const NORM_CASES: [number[], number, number[] | undefined][] = [
  [[7], -1, [7]],
  [[13, 33], -1, [33]],
  [[13, 33], 0, [13, 33]],
  [[2, 3, 17], 1, [17]],
  [[2, 3, 17], -1, [17]],
  [[2, 3, 17], 1, [3, 17]],
  [[5, 1], -1, [1]],
  [[0, 7], -1, [7]],
  [[4, 257], -1, undefined],
  [[300, 257], -1, [257]],
];

forEachBackend('softmax and normalization', (device) => {
  for (const dtype of [...FLOAT_DTYPES, 'int32'] as DType[]) {
    const out: DType = FLOAT_DTYPES.includes(dtype) ? dtype : 'float32';
    const gen: Gen | undefined = isInt(dtype) ? (r) => r.int(-5, 5) : (r) => r.uniform(-8, 8);
    for (const [name, call, refFn] of [
      ['softmax', (x: Tensor, a: number) => kiln.softmax(x, a), R.softmax],
      ['logSoftmax', (x: Tensor, a: number) => x.logSoftmax(a), R.logSoftmax],
    ] as const)
      it(`${name} ${dtype}`, async () => {
        const r = rngFor(testName());
        const cases = new Cases();
        for (const [shape, axes] of SOFTMAX_CASES)
          for (const axis of axes)
            for (const layout of layoutsForSize(shape))
              await cases.run(`${name} ${dtype} [${shape}] ${layout} axis ${axis}`, async () => {
                const { t, ref } = makeInput(r, device, dtype, shape, layout, gen);
                await expectTensor(call(t, axis), refFn(ref, axis), out, { atol: tolFor(out).atol * 10 });
              });
        await cases.run(`${name} ${dtype} default axis is the last`, async () => {
          const { t, ref } = makeInput(r, device, dtype, [3, 5], 'contiguous', gen);
          await expectTensor(name === 'softmax' ? t.softmax() : t.logSoftmax(), refFn(ref, -1), out, { atol: tolFor(out).atol * 10 });
        });
        cases.done();
      });
  }

  it('softmax and logSoftmax are stable for large logits', async () => {
    const cases = new Cases();
    // logSoftmax of the largest logits is -log(count of them): (x - max) - log(sum), not x - (max + log(sum)), whose rounding at |max| = 3125 lost 3e-5
    const x = new R.NdArray([3, 4], [1000, 1000, -1000, 0, -1e4, -1e4 + 1, -1e4 + 2, -1e4 + 3, 3125, 0, 0, 3125]);
    for (const dtype of ['float32', 'bfloat16'] as DType[])
      await cases.run(dtype, async () => {
        const xs = x.map((v) => R.roundTo(dtype, v));
        await expectTensor(kiln.softmax(upload(xs, dtype, device), -1), R.softmax(xs, -1), dtype);
        await expectTensor(kiln.logSoftmax(upload(xs, dtype, device), -1), R.logSoftmax(xs, -1), dtype);
      });
    cases.done();
  });

  for (const dtype of [...FLOAT_DTYPES, 'int32'] as DType[]) {
    const out: DType = FLOAT_DTYPES.includes(dtype) ? dtype : 'float32';
    const gen: Gen | undefined = isInt(dtype) ? (r) => r.int(-20, 20) : (r) => r.uniform(-3, 5);
    const tol = { atol: tolFor(out).atol * 20 };
    it(`layerNorm ${dtype}: axes, scale and bias, epsilon, views`, async () => {
      const r = rngFor(testName());
      const cases = new Cases();
      for (const [shape, axis, pshape] of NORM_CASES)
        for (const layout of layoutsForSize(shape))
          for (const [withScale, withBias, eps] of [[false, false, 1e-5], [true, true, 1e-5], [true, false, 0.5], [false, true, 1e-3]] as const) {
            if ((withScale || withBias) && !pshape) continue;
            await cases.run(`layerNorm ${dtype} [${shape}] ${layout} axis ${axis} scale ${withScale} bias ${withBias} eps ${eps}`, async () => {
              const { t, ref } = makeInput(r, device, dtype, shape, layout, gen);
              const sc = withScale ? makeInput(r, device, dtype, pshape!, 'contiguous', (q) => q.uniform(-2, 2)) : undefined;
              const bi = withBias ? makeInput(r, device, dtype, pshape!, layoutsFor(pshape!).at(-1)!, (q) => q.uniform(-2, 2)) : undefined;
              const y = t.layerNorm({ axis, epsilon: eps, scale: sc?.t, bias: bi?.t });
              const cv = (a?: R.NdArray) => (a ? R.cast(a, dtype, out) : undefined);
              await expectTensor(y, R.layerNorm(R.cast(ref, dtype, out), axis, eps, cv(sc?.ref), cv(bi?.ref)), out, tol);
            });
          }
      await cases.run(`layerNorm ${dtype} defaults (last axis, eps 1e-5)`, async () => {
        const { t, ref } = makeInput(r, device, dtype, [4, 9], 'contiguous', gen);
        await expectTensor(kiln.layerNorm(t), R.layerNorm(R.cast(ref, dtype, out), -1, 1e-5), out, tol);
      });
      await cases.run(`layerNorm ${dtype} of a constant row is 0 (+ bias)`, async () => {
        const t = kiln.full([3, 8], 4, { dtype });
        const b = kiln.full([8], 0.5, { dtype: out });
        await expectTensor(t.layerNorm({ bias: b }), R.NdArray.fill([3, 8], () => 0.5), out, tol);
      });
      cases.done();
    });

    it(`rmsNorm ${dtype}: axes, scale, epsilon, views`, async () => {
      const r = rngFor(testName());
      const cases = new Cases();
      for (const [shape, axis, pshape] of NORM_CASES)
        for (const layout of layoutsForSize(shape))
          for (const [withScale, eps] of [[false, 1e-6], [true, 1e-6], [true, 0.5]] as const) {
            if (withScale && !pshape) continue;
            await cases.run(`rmsNorm ${dtype} [${shape}] ${layout} axis ${axis} scale ${withScale} eps ${eps}`, async () => {
              const { t, ref } = makeInput(r, device, dtype, shape, layout, gen);
              const sc = withScale ? makeInput(r, device, dtype, pshape!, layoutsFor(pshape!).at(-1)!, (q) => q.uniform(-2, 2)) : undefined;
              const y = t.rmsNorm({ axis, epsilon: eps, scale: sc?.t });
              await expectTensor(y, R.rmsNorm(R.cast(ref, dtype, out), axis, eps, sc ? R.cast(sc.ref, dtype, out) : undefined), out, tol);
            });
          }
      await cases.run(`rmsNorm ${dtype} defaults (last axis, eps 1e-6)`, async () => {
        const { t, ref } = makeInput(r, device, dtype, [4, 9], 'contiguous', gen);
        await expectTensor(kiln.rmsNorm(t), R.rmsNorm(R.cast(ref, dtype, out), -1, 1e-6), out, tol);
      });
      if (dtype === 'float32')
        await cases.run('rmsNorm and layerNorm float32 of rows whose squares overflow float32 (|x| up to 3e38)', async () => {
          // WGSL has no f64: these rows are normalized in units of a power of two near their largest |x|
          const rowScale = [1e20, 1e30, 3e38, 1, 1e25];
          const values = rowScale.flatMap((m) => Array.from({ length: 7 }, () => R.toF32(m * r.uniform(-1, 1))));
          values[4 * 7 + 2] = Infinity; // a row with an infinity: 0 for the finite values, NaN for it
          // and a row where x - mean itself passes float32's largest (3e38 - -2.1e38)
          values.push(3e38, -3e38, -3e38, -3e38, -3e38, -3e38, -3e38);
          const ref = new R.NdArray([6, 7], values);
          const x = kiln.tensor(values, { device }).reshape([6, 7]);
          await expectTensor(kiln.rmsNorm(x), R.rmsNorm(ref, -1, 1e-6), out, tol);
          await expectTensor(kiln.layerNorm(x), R.layerNorm(ref, -1, 1e-5), out, tol);
          // rows of 40 where x - mean passes float32's largest (3.3e38 - -1.1e37) while 1/rms stays a
          // normal float (1.8e-38): contiguous, and strided (the rows are the columns of a [40, 2])
          const wide = Array.from({ length: 80 }, (_, i) => R.toF32(i < 2 ? 3.3e38 * (1 - 0.01 * i) : -2e37 * r.uniform(1, 1.1)));
          const cols = new R.NdArray([2, 40], Array.from({ length: 80 }, (_, i) => wide[(i % 40) * 2 + Math.floor(i / 40)]));
          const w = kiln.tensor(wide, { device }).reshape([40, 2]);
          for (const v of [w.permute([1, 0]), w.permute([1, 0]).contiguous()]) {
            await expectTensor(kiln.layerNorm(v), R.layerNorm(cols, -1, 1e-5), out, tol);
            await expectTensor(kiln.rmsNorm(v), R.rmsNorm(cols, -1, 1e-6), out, tol);
          }
        });
      cases.done();
    });
  }
});
