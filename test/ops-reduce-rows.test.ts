// Row-wise ops on few long rows (LLM logits and hidden states) on every backend, against the float64
// reference: reductions, softmax/logSoftmax, layerNorm/rmsNorm over rows of 50257 and 4099 (not
// multiples of any workgroup), rows shorter than a workgroup, NaN at the first, last and middle
// elements and in several lanes' shares, ArgMax/ArgMin ties whose first occurrence sits in a later
// lane than a tie of lane 0, huge values and infinities for the norms, float16/bfloat16, transposed
// and strided views. On WebGPU each case runs on both of its row paths (row-path.ts), forced: one
// invocation per row, and one workgroup per row of 64 and of 256 lanes, as well as the automatic pick.
import { it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType, Tensor } from '../src/index.js';
import { forEachBackend } from './helpers/backends.js';
import { Cases, expectTensor, tolFor } from './helpers/compare.js';
import { FLOAT_DTYPES, makeInput, upload, type Gen, type Layout } from './helpers/inputs.js';
import { rngFor } from './helpers/random.js';
import { ROW_PATHS, underRowPath } from './helpers/row-paths.js';
import * as R from './helpers/reference.js';

const pathsFor = (device: string) => (device.startsWith('webgpu') ? ROW_PATHS : ROW_PATHS.slice(0, 1));
const under = underRowPath;

const EXACT = { rtol: 0, atol: 0 };
const isInt = (d: DType) => d === 'int32' || d === 'int64' || d === 'uint8' || d === 'bool';
const sumOut = (d: DType): DType => (isInt(d) ? 'int64' : d);
const meanOut = (d: DType): DType => (isInt(d) ? 'float32' : d);
const absSum = (v: number[]) => v.reduce((a, b) => a + Math.abs(b), 0);

/** Shapes, the reduced axes, and layouts: long rows, a row shorter than a workgroup, columns, two reduced dims. */
const REDUCE_CASES: [number[], number[], Layout[]][] = [
  [[1, 50257], [1], ['contiguous']],
  [[3, 4099], [1], ['contiguous', 'transposed', 'negstep']],
  [[2, 37], [1], ['contiguous', 'strided']],
  [[4099, 3], [0], ['contiguous']],
  [[2, 65, 63], [1, 2], ['contiguous', 'permuted']],
];

interface RowReduction {
  name: string;
  call: (x: Tensor, axes: number[]) => Tensor;
  f: (v: number[], d: DType) => number;
  out: (d: DType) => DType;
  gen?: (d: DType) => Gen | undefined;
  /** Extremes and indices are exact; sums may err with sum |x| (Variance: with sum x^2 / n). */
  scaled?: (v: number[]) => number;
  single?: boolean;
}

const varianceOf = (v: number[], c: number) => {
  const m = R.meanOf(v);
  return v.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(v.length - c, 0);
};
// products of +-1, +-2, +-0.5 are exact in float32 whatever the order of the multiplications
const prodGen = (d: DType): Gen =>
  d === 'uint8' ? (r) => (r.next() < 0.98 ? 1 : r.int(0, 3)) : isInt(d) ? (r) => (r.next() < 0.98 ? r.pick([-1, 1]) : r.int(-2, 2)) : (r) => (r.next() < 0.98 ? r.pick([-1, 1]) : r.pick([2, 0.5, -2, -0.5]));
/** Integer sums and products in int64 (wrapping), exactly: BigInt, not float64. */
const exactInt = (op: 'sum' | 'prod', f: (v: number[]) => number) => (v: number[], d: DType) =>
  !isInt(d) ? f(v) : Number(BigInt.asIntN(64, v.reduce((a, b) => (op === 'sum' ? a + BigInt(b) : a * BigInt(b)), op === 'sum' ? 0n : 1n)));
// few distinct values: ties in every lane's share
const tieGen = (d: DType): Gen => (d === 'bool' ? (r) => r.int(0, 1) : d === 'uint8' ? (r) => r.int(0, 3) : (r) => r.int(-2, 2));

const REDUCTIONS: RowReduction[] = [
  { name: 'sum', call: (x, axes) => x.sum({ axes }), f: exactInt('sum', R.sumOf), out: sumOut, scaled: absSum },
  { name: 'mean', call: (x, axes) => x.mean({ axes }), f: R.meanOf, out: meanOut, scaled: (v) => absSum(v) / v.length },
  { name: 'prod', call: (x, axes) => x.prod({ axes }), f: exactInt('prod', R.prodOf), out: sumOut, gen: prodGen },
  { name: 'variance', call: (x, axes) => x.variance({ axes }), f: (v) => varianceOf(v, 0), out: meanOut, scaled: (v) => v.reduce((a, b) => a + b * b, 0) / v.length, gen: (d) => (isInt(d) ? (r) => r.int(d === 'uint8' ? 0 : -1000, 1000) : undefined) },
  { name: 'variance(correction 1)', call: (x, axes) => x.variance({ axes, correction: 1 }), f: (v) => varianceOf(v, 1), out: meanOut, scaled: (v) => v.reduce((a, b) => a + b * b, 0) / (v.length - 1), gen: (d) => (isInt(d) ? (r) => r.int(0, 200) : undefined) },
  // past n on the rows of 37 and 4099: m2 / max(n - correction, 0) = inf
  { name: 'variance(correction 5000)', call: (x, axes) => x.variance({ axes, correction: 5000 }), f: (v) => varianceOf(v, 5000), out: meanOut, scaled: (v) => v.reduce((a, b) => a + b * b, 0) / Math.max(v.length - 5000, 1), gen: (d) => (isInt(d) ? (r) => r.int(0, 200) : undefined) },
  { name: 'max', call: (x, axes) => x.max({ axes }), f: R.maxOf, out: (d) => d, gen: tieGen },
  { name: 'min', call: (x, axes) => x.min({ axes }), f: R.minOf, out: (d) => d },
  { name: 'argmax', call: (x, axes) => x.argmax({ axis: axes[0] }), f: R.argmaxOf, out: () => 'int64', gen: tieGen, single: true },
  { name: 'argmin', call: (x, axes) => x.argmin({ axis: axes[0] }), f: R.argminOf, out: () => 'int64', gen: tieGen, single: true },
];

forEachBackend('row-wise ops on long rows', (device) => {
  for (const dtype of [...FLOAT_DTYPES, 'int32', 'int64', 'uint8'] as DType[])
    it(`reductions ${dtype}: long rows, short rows, columns, views`, async () => {
      const r = rngFor(`reductions ${dtype}`);
      const cases = new Cases();
      for (const s of REDUCTIONS)
        for (const [shape, axes, layouts] of REDUCE_CASES) {
          if (s.single && axes.length > 1) continue;
          for (const layout of dtype === 'float32' ? layouts : layouts.slice(0, 1)) {
            const { t, ref } = makeInput(r, device, dtype, shape, layout, s.gen?.(dtype));
            const want = R.reduce(ref, axes, false, (v) => s.f(v, dtype));
            const scale = s.scaled && R.reduce(ref, axes, false, s.scaled).data;
            for (const p of pathsFor(device))
              await cases.run(`${s.name} ${dtype} [${shape}] ${layout} axes [${axes}] (${p.label})`, async () => {
                const exact = isInt(s.out(dtype)) || !s.scaled;
                await expectTensor(under(p, () => s.call(t, axes)), want, s.out(dtype), exact ? EXACT : { scale });
              });
            t.dispose();
          }
        }
      cases.done();
    });

  it('sum of bool over a long row counts in int64', async () => {
    const r = rngFor('sum bool');
    const cases = new Cases();
    const { t, ref } = makeInput(r, device, 'bool', [2, 50257], 'contiguous', (q) => q.int(0, 1));
    for (const p of pathsFor(device))
      await cases.run(p.label, () => expectTensor(under(p, () => t.sum({ axes: 1 })), R.reduce(ref, 1, false, R.sumOf), 'int64', EXACT));
    cases.done();
  });

  it('empty rows: sum 0, prod 1, mean and variance NaN', async () => {
    const cases = new Cases();
    for (const dtype of ['float32', 'float16', 'int32', 'int64', 'bool'] as DType[])
      for (const p of pathsFor(device))
        await cases.run(`${dtype} (${p.label})`, async () => {
          const t = kiln.zeros([3, 0], { dtype, device });
          await expectTensor(under(p, () => t.sum({ axes: 1 })), new R.NdArray([3]), sumOut(dtype), EXACT);
          await expectTensor(under(p, () => t.prod({ axes: 1 })), R.NdArray.fill([3], () => 1), sumOut(dtype), EXACT);
          if (dtype === 'bool') return;
          await expectTensor(under(p, () => t.mean({ axes: 1 })), R.NdArray.fill([3], () => NaN), meanOut(dtype), EXACT);
          await expectTensor(under(p, () => t.variance({ axes: 1 })), R.NdArray.fill([3], () => NaN), meanOut(dtype), EXACT);
        });
    cases.done();
  });

  it('NaN at the first, last and middle elements and in several lanes propagates through every row op', async () => {
    const n = 4099;
    // row 0: none; 1: first; 2: last; 3: middle; 4: several, the first of them (63) in lane 63 while
    // lane 0 holds one at 64 and 256 (NaN beats the +inf at 0 for argmax and the -inf at 1 for argmin)
    const nans = [[], [0], [n - 1], [2050], [4000, 256, 64, 63, 1000]];
    const r = rngFor('nan rows');
    const vals = nans.flatMap((at) => {
      const row = Array.from({ length: n }, () => r.uniform(-4, 4));
      if (at.length > 1) [row[0], row[1]] = [Infinity, -Infinity];
      for (const i of at) row[i] = NaN;
      return row;
    });
    const cases = new Cases();
    for (const dtype of FLOAT_DTYPES) {
      const ref = new R.NdArray([nans.length, n], vals.map((v) => R.roundTo(dtype, v)));
      const x = upload(ref, dtype, device);
      const tol = { atol: tolFor(dtype).atol * 20 };
      for (const p of pathsFor(device))
        await cases.run(`${dtype} (${p.label})`, async () => {
          const y = under(p, () => ({
            max: x.max({ axes: 1 }), min: x.min({ axes: 1 }), argmax: x.argmax({ axis: 1 }), argmin: x.argmin({ axis: 1 }), sum: x.sum({ axes: 1 }),
            softmax: kiln.softmax(x, -1), logSoftmax: kiln.logSoftmax(x, -1), layerNorm: kiln.layerNorm(x), rmsNorm: kiln.rmsNorm(x),
          }));
          await expectTensor(y.max, R.reduce(ref, 1, false, R.maxOf), dtype, { ...EXACT, label: 'max' });
          await expectTensor(y.min, R.reduce(ref, 1, false, R.minOf), dtype, { ...EXACT, label: 'min' });
          await expectTensor(y.argmax, R.reduce(ref, 1, false, R.argmaxOf), 'int64', { ...EXACT, label: 'argmax' });
          await expectTensor(y.argmin, R.reduce(ref, 1, false, R.argminOf), 'int64', { ...EXACT, label: 'argmin' });
          await expectTensor(y.sum, R.reduce(ref, 1, false, R.sumOf), dtype, { label: 'sum', scale: R.reduce(ref, 1, false, absSum).data });
          // a row with a NaN is NaN throughout; the others are unaffected
          const nanRows = (a: R.NdArray) => a.map((v, i) => (nans[Math.floor(i / n)].length ? NaN : v));
          await expectTensor(y.softmax, nanRows(R.softmax(ref, -1)), dtype, { ...tol, label: 'softmax' });
          await expectTensor(y.logSoftmax, nanRows(R.logSoftmax(ref, -1)), dtype, { ...tol, label: 'logSoftmax' });
          await expectTensor(y.layerNorm, nanRows(R.layerNorm(ref, -1, 1e-5)), dtype, { ...tol, label: 'layerNorm' });
          await expectTensor(y.rmsNorm, nanRows(R.rmsNorm(ref, -1, 1e-6)), dtype, { ...tol, label: 'rmsNorm' });
        });
    }
    cases.done();
  });

  it('argmax and argmin ties: the first occurrence wins across lanes', async () => {
    const n = 4099;
    // the extreme at 255 (lane 255 of 256, lane 63 of 64), 256 (lane 0 of both), 1000 and 4000; or at 63 and 64
    const places = [[4000, 256, 1000, 255], [64, 63], [n - 1], [7]];
    const rows = places.length + 1;
    const r = rngFor('argmax ties');
    const cases = new Cases();
    for (const dtype of ['float32', 'bfloat16', 'int32', 'int64', 'uint8'] as DType[]) {
      const vals: number[] = [];
      for (const at of places) {
        const hi = Array.from({ length: n }, () => r.int(10, 100));
        for (const i of at) hi[i] = 200;
        vals.push(...hi);
      }
      vals.push(...Array.from({ length: n }, () => 42)); // a constant row: index 0
      const ref = new R.NdArray([rows, n], vals);
      const neg = ref.map((v) => 255 - v); // every value exact in each dtype (bfloat16 too)
      for (const [label, x] of [['argmax', ref], ['argmin', neg]] as const) {
        const t = upload(x, dtype, device);
        const fn = label === 'argmax' ? R.argmaxOf : R.argminOf;
        for (const p of pathsFor(device))
          await cases.run(`${label} ${dtype} (${p.label})`, async () => {
            const want = R.reduce(x, 1, false, fn);
            await expectTensor(under(p, () => (label === 'argmax' ? t.argmax({ axis: 1 }) : t.argmin({ axis: 1 }))), want, 'int64', EXACT);
            // transposed: the row is a column of a [n, rows] buffer
            const tt = upload(x.transpose(), dtype, device).transpose();
            await expectTensor(under(p, () => (label === 'argmax' ? tt.argmax({ axis: 1 }) : tt.argmin({ axis: 1 }))), want, 'int64', EXACT);
          });
      }
    }
    cases.done();
  });

  for (const dtype of FLOAT_DTYPES)
    it(`softmax and logSoftmax ${dtype} on long rows and views`, async () => {
      const r = rngFor(`softmax ${dtype}`);
      const cases = new Cases();
      const list: [number[], Layout][] = [[[1, 50257], 'contiguous'], [[3, 4099], 'contiguous'], [[3, 4099], 'transposed'], [[2, 4099], 'negstep'], [[2, 37], 'strided'], [[4099, 2], 'contiguous']];
      for (const [shape, layout] of list)
        for (const axis of shape[0] > shape[1] ? [0] : [-1]) {
          const { t, ref } = makeInput(r, device, dtype, shape, layout, (q) => q.uniform(-12, 12));
          for (const p of pathsFor(device))
            await cases.run(`[${shape}] ${layout} axis ${axis} (${p.label})`, async () => {
              const tol = { atol: tolFor(dtype).atol * 10 };
              await expectTensor(under(p, () => kiln.softmax(t, axis)), R.softmax(ref, axis), dtype, tol);
              await expectTensor(under(p, () => kiln.logSoftmax(t, axis)), R.logSoftmax(ref, axis), dtype, tol);
            });
        }
      // one logit of 1000 per row, each in another lane's share: exp(x - max) overflows unless the
      // maximum combines every lane's
      const n = 4099, at = [0, 63, 64, 255, 2050, n - 1];
      const big = new R.NdArray([at.length, n], at.flatMap((k) => Array.from({ length: n }, (_, i) => (i === k ? 1000 : R.roundTo(dtype, r.uniform(-12, 12))))));
      const x = upload(big, dtype, device);
      for (const p of pathsFor(device))
        await cases.run(`one large logit per row (${p.label})`, async () => {
          await expectTensor(under(p, () => kiln.softmax(x, -1)), R.softmax(big, -1), dtype, { atol: tolFor(dtype).atol });
          await expectTensor(under(p, () => kiln.logSoftmax(x, -1)), R.logSoftmax(big, -1), dtype, { atol: tolFor(dtype).atol });
        });
      cases.done();
    });

  for (const dtype of FLOAT_DTYPES)
    it(`layerNorm and rmsNorm ${dtype} on long rows, with scale and bias, and views`, async () => {
      const r = rngFor(`norm ${dtype}`);
      const cases = new Cases();
      const list: [number[], number, Layout][] = [[[1, 50257], -1, 'contiguous'], [[3, 4099], -1, 'transposed'], [[2, 65, 63], 1, 'permuted'], [[2, 37], -1, 'negstep']];
      const tol = { atol: tolFor(dtype).atol * 20 };
      for (const [shape, axis, layout] of list) {
        const { t, ref } = makeInput(r, device, dtype, shape, layout, (q) => q.uniform(-3, 5));
        const pshape = shape.slice(axis < 0 ? axis : axis - shape.length);
        const sc = makeInput(r, device, dtype, pshape, 'contiguous', (q) => q.uniform(-2, 2));
        const bi = makeInput(r, device, dtype, pshape, 'contiguous', (q) => q.uniform(-2, 2));
        for (const p of pathsFor(device))
          await cases.run(`[${shape}] ${layout} axis ${axis} (${p.label})`, async () => {
            await expectTensor(under(p, () => t.layerNorm({ axis, scale: sc.t, bias: bi.t })), R.layerNorm(ref, axis, 1e-5, sc.ref, bi.ref), dtype, tol);
            await expectTensor(under(p, () => t.rmsNorm({ axis, scale: sc.t })), R.rmsNorm(ref, axis, 1e-6, sc.ref), dtype, tol);
            await expectTensor(under(p, () => t.layerNorm({ axis, epsilon: 0.5 })), R.layerNorm(ref, axis, 0.5), dtype, tol);
          });
      }
      cases.done();
    });

  it('layerNorm of a constant row is 0 at every magnitude, and of a single-element row; rmsNorm of a zero row is 0', async () => {
    // webgpu normalizes a row of large values in units of a power of two s, and epsilon / s^2 fell
    // below float32's range: 0 / sqrt(0 + 0) gave NaN for a constant row past ~7e19 (cpu/webgpu fuzz seed 5496)
    const rows = [[5.710036981209582e25], [7e30, 7e30, 7e30], [-3e38, -3e38], [1e20, 1e20, 1e20, 1e20], [2.5, 2.5], [1e-30, 1e-30]];
    const cases = new Cases();
    for (const v of rows)
      for (const fill of [1, 300]) {
        const x = kiln.tensor(Array.from({ length: fill }, () => v).flat(), { device }).reshape([fill, v.length]);
        for (const p of pathsFor(device))
          await cases.run(`[${v}] x ${fill} rows, ${p.label}`, async () => {
            const got = Array.from((await under(p, () => kiln.layerNorm(x)).data()) as Float32Array);
            if (!got.every((g) => g === 0)) throw new Error(`layerNorm = ${got.slice(0, 4)}, want 0`);
          });
        x.dispose();
      }
    const zeros = kiln.zeros([3, 5], { device });
    for (const p of pathsFor(device))
      await cases.run(`rmsNorm of zeros, ${p.label}`, async () => {
        const got = Array.from((await under(p, () => kiln.rmsNorm(zeros)).data()) as Float32Array);
        if (!got.every((g) => g === 0)) throw new Error(`rmsNorm = ${got.slice(0, 4)}, want 0`);
      });
    zeros.dispose();
    cases.done();
  });

  it('layerNorm and rmsNorm float32 of long rows whose squares overflow float32 (|x| up to 3e38), with infinities', async () => {
    const n = 4099;
    const r = rngFor('norm huge');
    const rowScale = [1e20, 1e30, 3e38, 1, 1e25];
    const values = rowScale.flatMap((m) => Array.from({ length: n }, () => R.toF32(m * r.uniform(-1, 1))));
    values[4 * n + 3000] = Infinity; // a row with an infinity: 0 for the finite values, NaN for it
    values[4 * n + 17] = -Infinity;
    // a row where x - mean itself passes float32's largest; its largest |x| in the last lane's share
    values.push(...Array.from({ length: n }, (_, i) => (i === n - 2 ? 3e38 : -3e38)));
    // rows of |x| <= 1 but one 3e38 (or 1e25), each in another lane's share: the row's scale must
    // come from the largest |x| of every lane, or its square overflows
    for (const [k, big] of [[63, 3e38], [255, -3e38], [1000, 1e25], [n - 1, 3e38]]) values.push(...Array.from({ length: n }, (_, i) => (i === k ? big : R.toF32(r.uniform(-1, 1)))));
    const rows = values.length / n;
    const ref = new R.NdArray([rows, n], values);
    const x = kiln.tensor(values, { device }).reshape([rows, n]);
    const cases = new Cases();
    for (const p of pathsFor(device))
      await cases.run(p.label, async () => {
        await expectTensor(under(p, () => kiln.rmsNorm(x)), R.rmsNorm(ref, -1, 1e-6), 'float32', { atol: 2e-5 });
        await expectTensor(under(p, () => kiln.layerNorm(x)), R.layerNorm(ref, -1, 1e-5), 'float32', { atol: 2e-5 });
      });
    cases.done();
  });

  it('float32 sums, means and variances whose f32 accumulation leaves float32\'s range give the float64-accumulated result', async () => {
    // The CPU and CUDA accumulate float32 in float64; WebGPU's f32 sums overflowed to inf (and +inf
    // and -inf blocks to NaN) where theirs do not, and now sum such a row again scaled by 2^-64.
    const alt = (n: number, v: number) => Array.from({ length: n }, (_, i) => (i % 2 ? -v : v));
    const rows: number[][] = [
      [3e38, 3e38, -3e38], // the sum passes FLT_MAX, then comes back
      [3e38, 3e38], // the sum overflows, the mean does not
      [-3e38, -3e38, 2e38],
      alt(5000, 3e38), // blocks of +inf and -inf in the f32 sums
      alt(1001, 1e19), // squared deviations past FLT_MAX, a variance inside it
      [Infinity, 1],
      [-Infinity, 3e38, 3e38],
      [Infinity, -Infinity],
      [NaN, 3e38, 3e38],
      [1, 2, 3], // in range: one pass, as before
    ];
    const f64 = {
      sum: (v: number[]) => v.reduce((a, b) => a + b, 0),
      mean: (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length,
      variance: (v: number[]) => varianceOf(v, 1),
    };
    // what an f32 sum's rounding errors scale with (the cancellations above amplify them)
    const errScale = {
      sum: absSum,
      mean: (v: number[]) => absSum(v) / v.length,
      variance: (v: number[]) => v.reduce((a, b) => a + b * b, 0) / (v.length - 1),
    };
    const cases = new Cases();
    for (const v of rows)
      for (const zeros of [0, 3000]) {
        const all = [...v, ...new Array(zeros).fill(0)];
        const x = kiln.tensor(all, { device });
        for (const op of ['sum', 'mean', 'variance'] as const) {
          const want = Math.fround(f64[op](all)), scale = errScale[op](all);
          for (const p of pathsFor(device))
            await cases.run(`${op} [${v.length > 6 ? `${v.length} values` : v.join(', ')}] + ${zeros} zeros, ${p.label}`, async () => {
              const t = under(p, () => (op === 'variance' ? x.variance({ correction: 1 }) : op === 'sum' ? x.sum() : x.mean()));
              const got = (await t.data())[0] as number;
              const ok = Number.isFinite(want) ? Math.abs(got - want) <= 1e-6 * scale : Object.is(got, want);
              if (!ok) throw new Error(`${op} = ${got}, want ${want}`);
            });
        }
        x.dispose();
      }
    cases.done();
  });

  it('a float product has float64 range: a 0 among values whose product passes float32 is 0, not NaN; partial overflow and underflow cancel', async () => {
    // each row short (one invocation per row) and long (a workgroup per row: the ones after it
    // spread the values over lanes), on every row path
    const rows: [number[], number][] = [
      [Array.from({ length: 128 }, (_, i) => i), 0], // 127! passes FLT_MAX before the 0 is met (fuzz seeds 5140, 5251)
      [[1e30, 1e30, 1e-30, 1e-30], 1],
      [[1e-30, 1e-30, 1e30, 1e30], 1],
      [[3, -1e20, 1e20], -Infinity],
      [[Infinity, 0], NaN],
      [[-2, 3, Infinity, 1e-30, 1e-30], -Infinity],
      [[1e-30, 1e-30], 0],
      [[-0, 5], -0],
      [[NaN, 0], NaN],
      // a NaN with no 0 beside it (fuzz seeds 5369, 5372: webgpu gave 1, its NaN test compared s != 1)
      [[NaN], NaN],
      [[1, NaN], NaN],
      [[NaN, 2, 3], NaN],
      [[2, NaN, Infinity], NaN],
      // subnormal factors (lavapipe's frexp of one was not in [0.5, 1): [1e-45, 1] gave 2^-127)
      [[1e-45, 1], Math.fround(1e-45)],
      [[-1e-40, 3], Math.fround(Math.fround(-1e-40) * 3)],
      [[2 ** -140, 3, 2 ** 100], 3 * 2 ** -40], // exact: the last bits of an inexact one depend on the order
    ];
    // A WebGPU device that flushes float32 subnormals to zero (WGSL allows it; `kiln info` says
    // `subnormals: flushed`) multiplies a subnormal factor as a 0 of either sign.
    const flushes = kiln.devices().find((d) => d.id === device)?.details.subnormals === 'flushed';
    const subnormal = (v: number) => v !== 0 && Math.abs(v) < 2 ** -126;
    const cases = new Cases();
    for (const [v, want] of rows)
      for (const fill of [0, 5000]) {
        const x = kiln.tensor([...v, ...new Array(fill).fill(1)], { device });
        for (const p of pathsFor(device))
          await cases.run(`${v.length > 10 ? 'range(128)' : v.join(', ')} + ${fill} ones, ${p.label}`, async () => {
            const got = (await under(p, () => x.prod()).data())[0];
            if (flushes && v.some(subnormal)) {
              if (got !== 0) throw new Error(`prod = ${got}, want 0 (this device flushes subnormals)`);
            } else if (!Object.is(got, want)) throw new Error(`prod = ${got}, want ${want}`);
          });
      }
    cases.done();
  });
});
