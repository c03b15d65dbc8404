// The test helpers themselves: the float64 reference against known NumPy/IEEE values, the rounding
// and cast rules, the comparison (it must catch what it is meant to catch), the backend plan and
// KILN_REQUIRE, the seeded generator, and the input layouts (they must really be strided).
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { empty } from '../src/ops/run.js';
import { planBackends } from './helpers/backends.js';
import { expectTensor, mismatches, tolFor } from './helpers/compare.js';
import { layoutsFor, makeInput } from './helpers/inputs.js';
import { Rng, rngFor } from './helpers/random.js';
import * as R from './helpers/reference.js';

const arr = (a: R.NdArray) => Array.from(a.data);

describe('reference: rounding and casts', () => {
  it('rounds to float16, bfloat16 and float32 to nearest even, with subnormals and overflow', () => {
    expect(R.toF16(1 / 3)).toBe(0.333251953125);
    expect(R.toF16(65504)).toBe(65504);
    expect(R.toF16(65519)).toBe(65504);
    expect(R.toF16(65520)).toBe(Infinity);
    expect(R.toF16(-1e6)).toBe(-Infinity);
    expect(R.toF16(2 ** -24)).toBe(2 ** -24);
    expect(R.toF16(2 ** -26)).toBe(0);
    expect(R.toF16(1 + 2 ** -11)).toBe(1); // tie -> even
    expect(R.toF16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(R.toBF16(1 / 3)).toBe(0.333984375);
    expect(R.toBF16(1 + 2 ** -8)).toBe(1);
    expect(R.toBF16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
    expect(R.toBF16(3.4e38)).toBe(Infinity);
    expect(R.toF32(0.1)).toBe(0.10000000149011612);
    expect(Number.isNaN(R.toF16(NaN))).toBe(true);
    expect(Object.is(R.toBF16(-0), -0)).toBe(true);
  });

  it("implements Kiln's cast rules", () => {
    expect(R.castValue(-1.7, 'float32', 'int32')).toBe(-1);
    expect(R.castValue(NaN, 'float32', 'int64')).toBe(0);
    expect(R.castValue(300, 'float32', 'uint8')).toBe(255);
    expect(R.castValue(-5, 'float32', 'uint8')).toBe(0);
    expect(R.castValue(3e9, 'float32', 'int32')).toBe(2147483647);
    expect(R.castValue(-Infinity, 'bfloat16', 'int32')).toBe(-2147483648);
    expect(R.castValue(257, 'int32', 'uint8')).toBe(1);
    expect(R.castValue(-1, 'int32', 'uint8')).toBe(255);
    expect(R.castValue(2 ** 32 + 5, 'int64', 'int32')).toBe(5);
    expect(R.castValue(2 ** 31, 'int64', 'int32')).toBe(-(2 ** 31));
    expect(R.castValue(NaN, 'float32', 'bool')).toBe(1);
    expect(R.castValue(-0, 'float16', 'bool')).toBe(0);
    expect(R.castValue(16777217, 'int32', 'float32')).toBe(16777216);
    expect(R.castValue(0.1, 'float32', 'float16')).toBe(R.toF16(R.toF32(0.1)));
    expect(R.wrapInt('int32', 2 ** 31 + 1)).toBe(-(2 ** 31) + 1);
  });
});

describe('reference: ops against known values', () => {
  it('math helpers', () => {
    expect(R.erf(0.5)).toBeCloseTo(0.5204998778130465, 14);
    expect(R.erf(2)).toBeCloseTo(0.9953222650189527, 14);
    expect(R.erf(3.5)).toBeCloseTo(0.9999992569016276, 14);
    expect(R.erf(-1)).toBeCloseTo(-0.8427007929497149, 14);
    expect(R.erf(1e-3)).toBeCloseTo(0.0011283787909692363, 16);
    expect([2.5, 3.5, -2.5, 0.5, -0.4, 1.2].map(R.roundHalfEven)).toEqual([2, 4, -2, 0, -0, 1]);
    expect(R.gelu(1)).toBeCloseTo(0.8413447460685429, 12);
    expect(R.geluTanh(1)).toBeCloseTo(0.8411919906082768, 12);
  });

  it('Python slicing and views', () => {
    const x = new R.NdArray([10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(arr(x.slice(0, 7, 2, -2))).toEqual([7, 5, 3]);
    expect(arr(x.slice(0, undefined, undefined, -3))).toEqual([9, 6, 3, 0]);
    expect(arr(x.slice(0, -100, 3))).toEqual([0, 1, 2]);
    expect(arr(x.slice(0, -2, undefined, -4))).toEqual([8, 4, 0]);
    expect(arr(x.slice(0, 100, undefined, -4))).toEqual([9, 5, 1]);
    expect(arr(x.slice(0, 5, 5))).toEqual([]);
    const m = new R.NdArray([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(arr(m.transpose())).toEqual([1, 4, 2, 5, 3, 6]);
    expect(arr(m.slice(1, 0, 1).broadcastTo([2, 2, 3]))).toEqual([1, 1, 1, 4, 4, 4, 1, 1, 1, 4, 4, 4]);
  });

  it('broadcasting, reductions, softmax and norms', () => {
    const a = new R.NdArray([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(arr(R.map2(a, new R.NdArray([3], [10, 20, 30]), (x, y) => x + y))).toEqual([11, 22, 33, 14, 25, 36]);
    expect(arr(R.map2(a, new R.NdArray([2, 1], [100, 200]), (x, y) => x + y))).toEqual([101, 102, 103, 204, 205, 206]);
    expect(arr(R.reduce(a, 0, false, R.sumOf))).toEqual([5, 7, 9]);
    expect(R.reduce(a, [0, 1], true, R.sumOf).shape).toEqual([1, 1]);
    expect(arr(R.reduce(a, 1, false, (v) => R.varianceOf(v, 1)))).toEqual([1, 1]);
    expect(R.argmaxOf([1, 3, 3, 2])).toBe(1);
    expect(R.argmaxOf([1, NaN, 5, NaN])).toBe(1);
    expect(R.argminOf([2, 0, 0])).toBe(1);
    expect(Number.isNaN(R.maxOf([1, NaN, 3]))).toBe(true);
    const s = R.softmax(new R.NdArray([3], [1, 2, 3]));
    expect(arr(s).map((v) => +v.toFixed(8))).toEqual([0.09003057, 0.24472847, 0.66524096]);
    expect(arr(R.layerNorm(new R.NdArray([1, 2], [1, 3]), -1, 0)).map((v) => +v.toFixed(10))).toEqual([-1, 1]);
    expect(arr(R.rmsNorm(new R.NdArray([1, 2], [3, 4]), -1, 0)).map((v) => +v.toFixed(10))).toEqual([+(3 / Math.sqrt(12.5)).toFixed(10), +(4 / Math.sqrt(12.5)).toFixed(10)]);
  });

  it('matmul with NumPy 1-D and batch semantics, gemm', () => {
    const a = new R.NdArray([2, 3], [1, 2, 3, 4, 5, 6]);
    const b = new R.NdArray([3, 2], [7, 8, 9, 10, 11, 12]);
    expect(arr(R.matmul(a, b).y)).toEqual([58, 64, 139, 154]);
    expect(R.matmul(new R.NdArray([3], [1, 2, 3]), b).y.shape).toEqual([2]);
    expect(R.matmul(new R.NdArray([3], [1, 2, 3]), new R.NdArray([3], [4, 5, 6])).y.shape).toEqual([]);
    expect(R.matmul(new R.NdArray([4, 1, 2, 3]), new R.NdArray([5, 3, 7])).y.shape).toEqual([4, 5, 2, 7]);
    const g = R.gemm(b, a, { transA: true, transB: true, alpha: 2, beta: 3, c: new R.NdArray([1], [1]) });
    expect(arr(g.y)).toEqual([2 * 58 + 3, 2 * 139 + 3, 2 * 64 + 3, 2 * 154 + 3]); // (a @ b)^T * 2 + 3
  });

  it('concat, stack, split, gather, pad and tile like NumPy', () => {
    const x = new R.NdArray([3], [1, 2, 3]);
    expect(arr(R.pad(x, [[2, 2]], 'reflect'))).toEqual([3, 2, 1, 2, 3, 2, 1]);
    expect(arr(R.pad(x, [[2, 2]], 'edge'))).toEqual([1, 1, 1, 2, 3, 3, 3]);
    expect(arr(R.pad(x, [[1, 0]], 'constant', 9))).toEqual([9, 1, 2, 3]);
    expect(arr(R.tile(new R.NdArray([2], [1, 2]), [2, 2]))).toEqual([1, 2, 1, 2, 1, 2, 1, 2]);
    expect(R.tile(new R.NdArray([2], [1, 2]), [2, 2]).shape).toEqual([2, 4]);
    expect(arr(R.gather(x, new R.NdArray([2, 2], [0, -1, 2, 1]))!)).toEqual([1, 3, 3, 2]);
    expect(R.gather(x, new R.NdArray([1], [3]))).toBeUndefined();
    const m = new R.NdArray([2, 2], [1, 2, 3, 4]);
    expect(arr(R.concat([m, new R.NdArray([2, 1], [5, 6])], 1))).toEqual([1, 2, 5, 3, 4, 6]);
    expect(R.stack([m, m], 2).shape).toEqual([2, 2, 2]);
    expect(R.split(new R.NdArray([5], [1, 2, 3, 4, 5]), [2, 3]).map(arr)).toEqual([[1, 2], [3, 4, 5]]);
  });
});

describe('comparison', () => {
  it('catches value, NaN, infinity and shape mismatches and names where', async () => {
    const t = tolFor('float32');
    expect(mismatches([1, 2, 3], [1, 2, 3], [3], t).count).toBe(0);
    expect(mismatches([1, 2.0001, 3], [1, 2, 3], [3], t).count).toBe(1);
    expect(mismatches([NaN, 1], [NaN, 1], [2], t).count).toBe(0);
    expect(mismatches([NaN, 1], [0, 1], [2], t).count).toBe(1);
    expect(mismatches([0, 1], [NaN, 1], [2], t).count).toBe(1);
    expect(mismatches([Infinity], [-Infinity], [1], t).count).toBe(1);
    expect(mismatches([1e30], [Infinity], [1], t).count).toBe(1);
    expect(mismatches([1], [2], [1], tolFor('int32')).count).toBe(1);
    expect(mismatches([1.02], [1], [1], tolFor('float16')).count).toBe(1);
    expect(mismatches([1.005], [1], [1], tolFor('float16')).count).toBe(0);
    expect(mismatches([10.5], [10], [1], t, [1e6]).count, 'scale widens the tolerance').toBe(0);
    const got = kiln.tensor([[1, 2], [3, 4]]);
    await expect(expectTensor(got, new R.NdArray([2, 2], [1, 2, 3, 5]), 'float32')).rejects.toThrow(/1 of 4 elements differ.*\n.*at \[1, 1\]: expected 5, got 4/);
    await expect(expectTensor(got, new R.NdArray([4], [1, 2, 3, 4]), 'float32')).rejects.toThrow(/shape \[2, 2\], expected \[4\]/);
    await expect(expectTensor(got, new R.NdArray([2, 2], [1, 2, 3, 4]), 'int32')).rejects.toThrow(/dtype float32, expected int32/);
    await expectTensor(got, new R.NdArray([2, 2], [1, 2, 3, 4]), 'float32');
    got.dispose();
  });
});

describe('backends, seeds and layouts', () => {
  it('plans every backend kind: present ones run, absent ones skip unless KILN_REQUIRE names them', () => {
    const cpu: kiln.DeviceInfo = { id: 'cpu', kind: 'cpu', index: 0, name: 'x', details: {} };
    const cuda1: kiln.DeviceInfo = { id: 'cuda:0', kind: 'cuda', index: 0, name: 'y', details: {} };
    const plan = planBackends(['webgpu'], [cpu, cuda1], (k) => `no ${k} here`);
    expect(plan).toEqual([
      { kind: 'cpu', device: 'cpu', required: false },
      { kind: 'cuda', device: 'cuda:0', required: false },
      { kind: 'webgpu', reason: 'no webgpu here', required: true },
    ]);
    expect(kiln.requiredBackends('cuda, webgpu')).toEqual(['cuda', 'webgpu']);
    expect(kiln.requiredBackends('')).toEqual([]);
    expect(planBackends().find((p) => p.kind === 'cpu')!.device, 'the cpu backend is available').toBe('cpu');
  });

  it('poisoning is on: a fresh output reads NaN (floats) or a sentinel (integers) until a kernel writes it', async () => {
    expect(kiln.debug.poison).toBe(true);
    const f = empty([5], 'float16', 'cpu'), i = empty([3], 'int32', 'cpu'), u = empty([2], 'uint8', 'cpu');
    expect(Array.from((await f.data()) as Float32Array).every(Number.isNaN)).toBe(true);
    expect(Array.from((await i.data()) as Int32Array)).toEqual([-0x21524111, -0x21524111, -0x21524111]);
    expect(Array.from((await u.data()) as Uint8Array)).toEqual([0xab, 0xab]);
    for (const t of [f, i, u]) t.dispose();
  });

  it('the generator is deterministic per seed and per test name', () => {
    const a = new Rng(42), b = new Rng(42), c = new Rng(43);
    const sa = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(sa);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(sa);
    expect(rngFor('x').next()).toBe(rngFor('x').next());
    expect(rngFor('x').next()).not.toBe(rngFor('y').next());
    const r = new Rng(1);
    for (let i = 0; i < 1000; ++i) {
      const v = r.int(-3, 3);
      expect(v >= -3 && v <= 3 && Number.isInteger(v)).toBe(true);
    }
  });

  it('input layouts are really non-contiguous views with the reference values', async () => {
    const r = rngFor('layouts');
    for (const shape of [[4, 5, 6], [7], [3, 1]]) {
      for (const layout of layoutsFor(shape)) {
        const { t, ref } = makeInput(r, 'cpu', 'float32', shape, layout);
        expect(t.shape, `${layout} [${shape}]`).toEqual(shape);
        if (layout !== 'contiguous' && layout !== 'offset' && !shape.includes(1)) expect(t.isContiguous, `${layout} [${shape}] is strided`).toBe(false);
        if (layout === 'offset') expect(t.offset).toBeGreaterThan(0);
        if (layout === 'reversed' || layout === 'negstep') expect(t.strides.some((s) => s < 0)).toBe(true);
        if (layout === 'expanded') expect(t.strides).toContain(0);
        await expectTensor(t, ref, 'float32', { rtol: 0, atol: 0, label: `${layout} [${shape}]` });
        t.dispose();
      }
    }
  });
});
