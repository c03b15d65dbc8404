// topk, sort and argsort (the native TopK op) on every backend and dtype, against the float64
// reference: strided views, ties (index order), NaN and the infinities, -0, k = 0 and empty axes.
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType } from '../src/index.js';
import { forEachBackend } from './helpers/backends.js';
import { Cases, expectError, expectTensor } from './helpers/compare.js';
import { FLOAT_DTYPES, layoutsForSize, makeInput, upload, type Gen } from './helpers/inputs.js';
import { rngFor } from './helpers/random.js';
import * as R from './helpers/reference.js';

const testName = () => expect.getState().currentTestName ?? 'test';
const EXACT = { rtol: 0, atol: 0 };
const NUMERIC: readonly DType[] = [...FLOAT_DTYPES, 'int32', 'int64', 'uint8'];

/** Shapes, and the axes ordered along in each. */
const SHAPES: [number[], number[]][] = [
  [[1], [0]],
  [[7], [0, -1]],
  [[13, 33], [0, 1]],
  [[2, 3, 17], [0, 1, 2]],
  [[3, 0, 5], [0, 2]],
  [[4, 1, 3, 5], [1, 3]],
  [[40, 300], [1]],
];

forEachBackend('sort', (device) => {
  for (const dtype of NUMERIC)
    it(`topk and sort ${dtype}: values and indices, ties in index order`, async () => {
      const r = rngFor(testName());
      const cases = new Cases();
      // few distinct values, so ties are everywhere; integers also at their extremes
      const gen: Gen = dtype === 'uint8' ? (q) => q.pick([0, 1, 2, 255]) : dtype === 'int32' ? (q) => q.pick([-2147483648, -1, 0, 1, 2147483647]) : dtype === 'int64' ? (q) => q.pick([-(2 ** 40), -1, 0, 3, 2 ** 40]) : (q) => q.int(-3, 3) / 2;
      for (const [shape, axes] of SHAPES)
        for (const axis of axes)
          for (const layout of layoutsForSize(shape).slice(0, 5)) {
            const n = shape[axis < 0 ? axis + shape.length : axis];
            for (const k of [...new Set([0, 1, Math.min(3, n), n])].filter((v) => v <= n))
              for (const largest of [true, false])
                await cases.run(`[${shape}] ${layout} axis ${axis} k ${k} largest ${largest}`, async () => {
                  const { t, ref } = makeInput(r, device, dtype, shape, layout, gen);
                  const want = R.topk(ref, k, axis, largest);
                  const got = kiln.topk(t, k, { axis, largest });
                  await expectTensor(got.values, want.values, dtype, EXACT);
                  await expectTensor(got.indices, want.indices, 'int64', EXACT);
                });
          }
      await cases.run('sort and argsort follow topk with k = n', async () => {
        const { t, ref } = makeInput(r, device, dtype, [5, 9], 'transposed', gen);
        const asc = R.topk(ref, 5, 0, false), desc = R.topk(ref, 9, 1, true);
        const s = kiln.sort(t, { axis: 0 });
        await expectTensor(s.values, asc.values, dtype, EXACT);
        await expectTensor(s.indices, asc.indices, 'int64', EXACT);
        await expectTensor(t.argsort({ descending: true }), desc.indices, 'int64', EXACT);
        await expectTensor(t.sort({ descending: true }).values, desc.values, dtype, EXACT);
      });
      cases.done();
    });

  it('topk on floats: NaN above +Infinity, -0 equal to +0, random values', async () => {
    const cases = new Cases();
    const x = new R.NdArray([3, 6], [1, NaN, -Infinity, Infinity, NaN, -1, -0, 0, -0, 2, -2, 0, 5, 3, 5, NaN, -Infinity, 3]);
    for (const dtype of FLOAT_DTYPES)
      for (const largest of [true, false])
        await cases.run(`${dtype} largest ${largest}`, async () => {
          const t = upload(x, dtype, device);
          const want = R.topk(x, 6, 1, largest);
          const got = t.topk(6, { largest });
          await expectTensor(got.values, want.values, dtype, EXACT);
          await expectTensor(got.indices, want.indices, 'int64', EXACT);
          // -0 keeps its sign bit (values are copied, not recomputed)
          const row = Array.from(await got.values.slice(0, 1, 2).reshape([6]).toArray() as number[]);
          expect(row.map((v) => Object.is(v, -0))).toEqual(Array.from(want.values.data.slice(6, 12), (v) => Object.is(v, -0)));
        });
    await cases.run('NaN payloads are kept, float16 and bfloat16 too (values are copied bits, not converted), along 5 and 40 (merged runs)', async () => {
      for (const dtype of FLOAT_DTYPES)
        for (const n of [5, 40]) {
          // payloads made and read on the CPU (its casts keep a NaN's top payload bits), moved as bytes
          const f = new Float32Array(n).fill(1);
          (new Uint32Array(f.buffer)[1] = 0x7fe02000), (new Uint32Array(f.buffer)[n - 1] = 0xffd04000);
          const c = kiln.tensor(f);
          const x = (dtype === 'float32' ? c : c.cast(dtype)).to(device);
          const bits = async (t: kiln.Tensor) => Array.from(new Uint32Array(((await t.to('cpu').data()) as Float32Array).buffer), (v) => v.toString(16));
          const want = await bits(x);
          expect(await bits(x.topk(2).values), `${dtype} n ${n}`).toEqual([want[1], want[n - 1]]);
        }
    });
    const r = rngFor(testName());
    await cases.run('long rows (the CPU scans them in blocks against a bound): a late NaN, infinities, -0', async () => {
      const data = new R.NdArray([4, 300], Array.from({ length: 1200 }, () => r.uniform(-1, 1)));
      data.data[250] = NaN, data.data[100] = Infinity, data.data[300 + 299] = -Infinity, data.data[600 + 280] = NaN;
      data.data[900 + 17] = -0, data.data[900 + 290] = 0;
      for (const [k, largest] of [[3, true], [3, false], [300, true]] as const) {
        const want = R.topk(data, k, 1, largest);
        const got = kiln.topk(upload(data, 'float32', device), k, { largest });
        await expectTensor(got.values, want.values, 'float32', EXACT);
        await expectTensor(got.indices, want.indices, 'int64', EXACT);
      }
    });
    await cases.run('float32 [64, 1000] random, top 10 along 1 and sort along 0', async () => {
      const { t, ref } = makeInput(r, device, 'float32', [64, 1000], 'contiguous');
      for (const [k, axis, largest] of [[10, 1, true], [64, 0, false]] as const) {
        const want = R.topk(ref, k, axis, largest);
        const got = kiln.topk(t, k, { axis, largest });
        await expectTensor(got.values, want.values, 'float32', EXACT);
        await expectTensor(got.indices, want.indices, 'int64', EXACT);
      }
    });
    cases.done();
  });

  it('every dtype along axes longer than 32 (cuda and webgpu merge sorted runs): strided views, ties, k around the run lengths', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    // lengths at and beside the run lengths 32, 64, 128, ..., so the last run is full, one short, one long
    for (const [shape, axis] of [[[2, 33], 1], [[64, 3], 0], [[3, 65], -1], [[2, 257, 2], 1], [[4097], 0]] as const)
      for (const dtype of NUMERIC)
        await cases.run(`${dtype} [${shape}] axis ${axis}`, async () => {
          const n = shape[axis < 0 ? axis + shape.length : axis];
          const gen: Gen = dtype === 'uint8' ? (q) => q.int(0, 9) : FLOAT_DTYPES.includes(dtype) ? (q) => (q.next() < 0.02 ? q.pick([NaN, -0, Infinity]) : q.int(-40, 40) / 4) : (q) => q.int(-40, 40);
          const layout = layoutsForSize(shape as unknown as number[]).find((l) => l !== 'contiguous') ?? 'contiguous';
          const { t, ref } = makeInput(r, device, dtype, shape as unknown as number[], layout, gen);
          for (const k of [...new Set([n, n - 1, 33, 32, 31, 1])].filter((v) => v <= n))
            for (const largest of [true, false]) {
              const want = R.topk(ref, k, axis, largest);
              const got = kiln.topk(t, k, { axis, largest });
              await expectTensor(got.values, want.values, dtype, { ...EXACT, label: `k ${k} largest ${largest} (${layout})` });
              await expectTensor(got.indices, want.indices, 'int64', { ...EXACT, label: `k ${k} largest ${largest} (${layout})` });
            }
        });
    cases.done();
  });

  it('long axes with a small k (cuda and webgpu place only the first k of each run): ties, NaN, a ragged last block, nothing left behind', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    for (const [shape, axis, k] of [[[3, 5000], 1, 5], [[2, 2049], -1, 7], [[4100, 2], 0, 3], [[2, 3, 9000], 2, 256], [[2, 3000], 1, 0]] as const)
      for (const dtype of ['float32', 'int32'] as DType[])
        for (const largest of [true, false])
          await cases.run(`${dtype} [${shape}] axis ${axis} k ${k} largest ${largest}`, async () => {
            const gen: Gen = dtype === 'int32' ? (q) => q.int(-50, 50) : (q) => (q.next() < 0.001 ? NaN : q.int(-400, 400) / 8);
            const { t, ref } = makeInput(r, device, dtype, shape as unknown as number[], 'contiguous', gen);
            const live = kiln.memory().devices[device]?.tensors ?? 0;
            const got = kiln.topk(t, k, { axis, largest });
            expect(kiln.memory().devices[device]?.tensors).toBe(live + 2); // the two results, no intermediates
            const want = R.topk(ref, k, axis, largest);
            await expectTensor(got.values, want.values, dtype, EXACT);
            await expectTensor(got.indices, want.indices, 'int64', EXACT);
          });
    cases.done();
  });

  it('bad arguments are KilnErrors naming what was wrong', () => {
    const x = kiln.zeros([2, 3], { device });
    expectError(() => kiln.topk(x, 4), 'E_ARGUMENT', 'k must be an integer in [0, 3]', 'got 4');
    expectError(() => kiln.topk(x, -1), 'E_ARGUMENT', 'got -1');
    expectError(() => kiln.topk(x, 1.5), 'E_ARGUMENT', 'got 1.5');
    expectError(() => kiln.topk(x, 1, { axis: 2 }), 'E_ARGUMENT', 'axis');
    expectError(() => kiln.topk(x, 1, { largest: 1 as unknown as boolean }), 'E_ARGUMENT', 'largest must be a boolean');
    expectError(() => kiln.sort(x, { axes: 0 } as never), 'E_ARGUMENT', "unknown option 'axes'");
    expectError(() => kiln.topk(kiln.zeros([], { device }), 1), 'E_SHAPE', 'at least one dim');
    expectError(() => kiln.argsort(kiln.zeros([3], { dtype: 'bool', device })), 'E_DTYPE', 'bool');
  });
});
