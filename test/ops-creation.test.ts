// Creation on every backend: tensor() from nested arrays, typed arrays and with a dtype; zeros, ones,
// full and the *Like forms; arange; rand and randn (determinism per seed, the Philox stream of
// kernels/OPS.md, and loose statistical bounds).
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType } from '../src/index.js';
import { forEachBackend } from './helpers/backends.js';
import { Cases, expectTensor, readValues, type Tolerance } from './helpers/compare.js';
import { ALL_DTYPES, FLOAT_DTYPES } from './helpers/inputs.js';
import { rngFor } from './helpers/random.js';
import * as R from './helpers/reference.js';

const testName = () => expect.getState().currentTestName ?? 'test';
const EXACT: Partial<Tolerance> = { rtol: 0, atol: 0 };

forEachBackend('tensor()', (device) => {
  it('infers the dtype and shape of nested arrays, scalars and empty arrays', async () => {
    const cases = new Cases();
    const list: [unknown, DType, number[], number[]][] = [
      [[[1, 2, 3], [4, 5, 6]], 'float32', [2, 3], [1, 2, 3, 4, 5, 6]],
      [[[[1.5], [-2]]], 'float32', [1, 2, 1], [1.5, -2]],
      [[true, false, true], 'bool', [3], [1, 0, 1]],
      [[[5n, -7n]], 'int64', [1, 2], [5, -7]],
      [3.25, 'float32', [], [3.25]],
      [false, 'bool', [], [0]],
      [12n, 'int64', [], [12]],
      [[], 'float32', [0], []],
      [[[], []], 'float32', [2, 0], []],
      [[0.1, 1e-40, 3e38], 'float32', [3], [R.toF32(0.1), R.toF32(1e-40), R.toF32(3e38)]],
    ];
    for (const [data, dtype, shape, values] of list)
      await cases.run(JSON.stringify(data, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)), async () => {
        const t = kiln.tensor(data as never, { device });
        expect(t.device).toBe(device);
        await expectTensor(t, new R.NdArray(shape, values), dtype, EXACT);
      });
    cases.done();
  });

  it('infers the dtype of typed arrays and copies them (later writes to the array do not show)', async () => {
    const cases = new Cases();
    const list: [ArrayLike<number | bigint>, DType][] = [
      [new Float32Array([1.5, -2, 3e-39]), 'float32'],
      [new Float64Array([0.1, -1e300, 7]), 'float32'],
      [new Int32Array([-(2 ** 31), 2 ** 31 - 1, 0]), 'int32'],
      [new Int16Array([-32768, 32767, 5]), 'int32'],
      [new Int8Array([-128, 127, 0]), 'int32'],
      [new Uint16Array([0, 65535, 9]), 'int32'],
      [new Uint8Array([0, 255, 128]), 'uint8'],
      [new BigInt64Array([-(2n ** 40n), 2n ** 40n, 3n]), 'int64'],
    ];
    for (const [arr, dtype] of list)
      await cases.run(`${arr.constructor.name} -> ${dtype}`, async () => {
        const t = kiln.tensor(arr as never, { device });
        const want = new R.NdArray([arr.length], Array.from(arr, (v) => R.roundTo(dtype, Number(v))));
        (arr as unknown as (number | bigint)[])[0] = typeof arr[0] === 'bigint' ? 99n : 99;
        await expectTensor(t, want, dtype, EXACT);
      });
    cases.done();
  });

  it('converts to a requested dtype (float16/bfloat16 round to nearest even) and takes a shape', async () => {
    const cases = new Cases();
    const vals = [0.1, -2.5, 1 / 3, 65504, 1e-5, 300, 0, -0.75];
    for (const dtype of FLOAT_DTYPES)
      await cases.run(dtype, async () => {
        const t = kiln.tensor(vals, { dtype, shape: [2, 4], device });
        await expectTensor(t, new R.NdArray([2, 4], vals.map((v) => R.castValue(v, 'float32', dtype))), dtype, EXACT);
      });
    for (const [dtype, data] of [['int32', [[1, -2], [2147483647, -2147483648]]], ['int64', [[1, -2], [2 ** 53 - 1, -(2 ** 53) + 1]]], ['uint8', [[0, 255], [7, 128]]], ['bool', [[1, 0], [true, false]]]] as const)
      await cases.run(dtype, async () => {
        const t = kiln.tensor(data as never, { dtype, device });
        await expectTensor(t, new R.NdArray([2, 2], data.flat().map(Number)), dtype, EXACT);
      });
    await cases.run('shape option with a typed array', async () => {
      const t = kiln.tensor(new Int32Array([1, 2, 3, 4, 5, 6]), { shape: [3, 1, 2], device });
      await expectTensor(t, new R.NdArray([3, 1, 2], [1, 2, 3, 4, 5, 6]), 'int32', EXACT);
    });
    await cases.run('bigint values for int64 beyond 2^53', async () => {
      const t = kiln.tensor([2n ** 62n, -(2n ** 63n), 2n ** 63n - 1n], { dtype: 'int64', device });
      expect(Array.from((await t.data()) as BigInt64Array)).toEqual([2n ** 62n, -(2n ** 63n), 2n ** 63n - 1n]);
    });
    cases.done();
  });
});

forEachBackend('zeros, ones, full, arange', (device) => {
  it('zeros, ones and full for every dtype and shape (0-d, 0-size, odd sizes)', async () => {
    const cases = new Cases();
    const shapes = [[], [0], [1], [7], [13, 33], [3, 0, 5], [2, 3, 17], [100003]];
    const values: Record<DType, number[]> = {
      float32: [-2.5, NaN, Infinity, -Infinity, 1e-40, 3.3e38], float16: [0.1, NaN, -Infinity, 65504, 1e-7], bfloat16: [0.1, NaN, Infinity, 1e38],
      int32: [-7, 2147483647, -2147483648], int64: [2 ** 40 + 1, -(2 ** 53) + 1], uint8: [200, 255], bool: [1],
    };
    for (const dtype of ALL_DTYPES)
      for (const shape of shapes)
        await cases.run(`${dtype} [${shape}]`, async () => {
          await expectTensor(kiln.zeros(shape, { dtype, device }), new R.NdArray(shape), dtype, EXACT);
          await expectTensor(kiln.ones(shape, { dtype, device }), R.NdArray.fill(shape, () => 1), dtype, EXACT);
          for (const v of values[dtype]) await expectTensor(kiln.full(shape, v, { dtype, device }), R.NdArray.fill(shape, () => R.castValue(v, 'float32', dtype)), dtype, EXACT);
        });
    await cases.run('defaults: float32 on cpu; booleans give bool', async () => {
      const z = kiln.zeros([2]);
      expect([z.dtype, z.device]).toEqual(['float32', 'cpu']);
      await expectTensor(kiln.full([3], true, { device }), R.NdArray.fill([3], () => 1), 'bool', EXACT);
      await expectTensor(kiln.full([3], false, { device }), new R.NdArray([3]), 'bool', EXACT);
    });
    await cases.run('zerosLike, onesLike, fullLike keep dtype, shape and device (or override the dtype)', async () => {
      const t = kiln.full([2, 3], 4, { dtype: 'int32', device }).transpose();
      await expectTensor(kiln.zerosLike(t), new R.NdArray([3, 2]), 'int32', EXACT);
      await expectTensor(kiln.onesLike(t), R.NdArray.fill([3, 2], () => 1), 'int32', EXACT);
      await expectTensor(kiln.fullLike(t, 9), R.NdArray.fill([3, 2], () => 9), 'int32', EXACT);
      await expectTensor(kiln.fullLike(t, 0.5, { dtype: 'float16' }), R.NdArray.fill([3, 2], () => 0.5), 'float16', EXACT);
      expect(kiln.zerosLike(t).device).toBe(device);
    });
    cases.done();
  });

  it('float arange gives start + i * step rounded once from float64, for random starts and steps', async () => {
    // The reference is float64 start + i * step rounded to float32 (the CPU's own arithmetic).
    // WebGPU has no f64: it computes in double-f32 (fill.wgsl), whose two-sum Mesa simplified away
    // (22% of these elements were 1 ulp off on lavapipe); what may remain is an element within
    // ~2^-48 of a halfway point between two floats (11 in a million in a sweep like this one).
    const r = rngFor('arange random');
    let off = 0, total = 0;
    for (let t = 0; t < 60; ++t) {
      const start = (r.next() - 0.5) * 10 ** r.int(-2, 5), step = (r.next() + 0.01) * 10 ** r.int(-4, 1), n = 3000;
      const got = Array.from((await kiln.arange(start, start + n * step, step, { device }).data()) as Float32Array);
      for (let i = 0; i < got.length; ++i, ++total) {
        const want = Math.fround(start + i * step);
        if (got[i] === want) continue;
        ++off;
        const ulp = Math.abs(Math.fround(want * (1 + 2 ** -23)) - want) || 2 ** -149;
        expect(Math.abs(got[i] - want), `arange(${start}, ${step})[${i}]`).toBeLessThanOrEqual(ulp);
      }
    }
    expect(total).toBeGreaterThan(150_000);
    expect(off / total, `${off} of ${total} elements 1 ulp off`).toBeLessThan(1e-4);
  });

  it('arange like NumPy: defaults, steps, negative and fractional steps, empty ranges, dtypes', async () => {
    const cases = new Cases();
    const list: [number, number | undefined, number | undefined, DType | undefined, DType, number[] | undefined][] = [
      [5, undefined, undefined, undefined, 'int32', [0, 1, 2, 3, 4]],
      [2, 11, 3, undefined, 'int32', [2, 5, 8]],
      [10, 0, -3, undefined, 'int32', [10, 7, 4, 1]],
      [0, 1, 0.25, undefined, 'float32', [0, 0.25, 0.5, 0.75]],
      [1, -1, 0.5, undefined, 'float32', []],
      [5, 5, 1, undefined, 'int32', []],
      [-3.5, 2, 0.7, undefined, 'float32', undefined],
      [0, 1, 0.1, undefined, 'float32', undefined],
      [0, 7, 1, 'int64', 'int64', [0, 1, 2, 3, 4, 5, 6]],
      [0, 3.5, 0.5, 'float16', 'float16', [0, 0.5, 1, 1.5, 2, 2.5, 3]],
      [0, 300, 1, 'bfloat16', 'bfloat16', undefined],
      [250, 256, 1, 'uint8', 'uint8', [250, 251, 252, 253, 254, 255]],
      [2 ** 40, 2 ** 40 + 5, 2, 'int64', 'int64', [2 ** 40, 2 ** 40 + 2, 2 ** 40 + 4]],
      [0, 100003, 1, undefined, 'int32', undefined],
      [100003, 0, -7, 'float32', 'float32', undefined],
    ];
    for (const [start, end, step, dtype, want, literal] of list)
      await cases.run(`arange(${start}, ${end}, ${step}, ${dtype})`, async () => {
        const t = end === undefined ? kiln.arange(start, undefined, undefined, { device }) : kiln.arange(start, end, step, { dtype, device });
        const s = end === undefined ? 0 : start, e = end ?? start, st = step ?? 1;
        const n = Math.max(0, Math.ceil((e - s) / st));
        const ref = R.NdArray.fill([n], (i) => R.roundTo(want, s + i * st));
        if (literal) expect(Array.from(ref.data)).toEqual(literal.map((v) => R.roundTo(want, v)));
        await expectTensor(t, ref, want, EXACT);
      });
    cases.done();
  });
});

// ---- random ----------------------------------------------------------------------------------------------------

/** Philox4x32-10 (Salmon et al., Random123), as kernels/OPS.md specifies. */
function philox(counter: [number, number, number, number], key: [number, number]): number[] {
  let [c0, c1, c2, c3] = counter;
  let [k0, k1] = key;
  const mulhilo = (a: number, b: number): [number, number] => {
    const p = BigInt(a) * BigInt(b);
    return [Number(p >> 32n), Number(p & 0xffffffffn)];
  };
  for (let round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 = (k0 + 0x9e3779b9) >>> 0;
      k1 = (k1 + 0xbb67ae85) >>> 0;
    }
    const [hi0, lo0] = mulhilo(0xd2511f53, c0);
    const [hi1, lo1] = mulhilo(0xcd9e8d57, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

/** The 32-bit word for element i: counter = floor(i / 4), word i % 4, key = (seed_lo, seed_hi). */
function philoxWord(seed: bigint, i: number): number {
  const g = Math.floor(i / 4);
  const out = philox([g >>> 0, Math.floor(g / 2 ** 32) >>> 0, 0, 0], [Number(seed & 0xffffffffn), Number(seed >> 32n)]);
  return out[i % 4];
}

function stats(v: Float64Array) {
  let s = 0, s2 = 0, lo = Infinity, hi = -Infinity;
  for (const x of v) {
    s += x;
    s2 += x * x;
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  const mean = s / v.length;
  return { mean, std: Math.sqrt(s2 / v.length - mean * mean), lo, hi };
}

forEachBackend('rand and randn', (device) => {
  it('the same seed gives the same numbers, different seeds differ, unseeded calls differ', async () => {
    const r = rngFor(testName());
    for (const [name, fn] of [['rand', kiln.rand], ['randn', kiln.randn]] as const) {
      const seed = r.seed();
      for (const dtype of FLOAT_DTYPES) {
        const a = await readValues(fn([13, 33], { seed, dtype, device }));
        const b = await readValues(fn([13, 33], { seed, dtype, device }));
        expect(a, `${name} ${dtype} seed ${seed} twice`).toEqual(b);
        const c = await readValues(fn([13, 33], { seed: seed + 1, dtype, device }));
        expect(c.filter((v, i) => v !== a[i]).length, `${name} seeds ${seed} and ${seed + 1}`).toBeGreaterThan(a.length * 0.9);
      }
      const u1 = await readValues(fn([64], { device })), u2 = await readValues(fn([64], { device }));
      expect(u1.filter((v, i) => v !== u2[i]).length, `two unseeded ${name} calls`).toBeGreaterThan(60);
      // a prefix of a longer stream: element i depends only on (seed, i)
      const long = await readValues(fn([1000], { seed, device }));
      const short = await readValues(fn([37], { seed, device }));
      expect(Array.from(long.subarray(0, 37))).toEqual(Array.from(short));
    }
  });

  it('manualSeed makes unseeded calls reproducible; bigint seeds up to 2^64 - 1', async () => {
    kiln.manualSeed(1234);
    const a = [await readValues(kiln.rand([16], { device })), await readValues(kiln.randn([16], { device }))];
    kiln.manualSeed(1234);
    const b = [await readValues(kiln.rand([16], { device })), await readValues(kiln.randn([16], { device }))];
    expect(a).toEqual(b);
    const big = await readValues(kiln.rand([8], { seed: 2n ** 64n - 1n, device }));
    const big2 = await readValues(kiln.rand([8], { seed: 2n ** 64n - 2n, device }));
    expect(big).not.toEqual(big2);
    kiln.manualSeed(BigInt(Date.now()));
  });

  it('rand is the Philox4x32-10 stream of kernels/OPS.md: u = (x >> 8) * 2^-24, low + u * (high - low)', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    for (const [lowHigh, dtype] of [[[0, 1], 'float32'], [[-3, 5], 'float32'], [[0, 1], 'bfloat16'], [[-1, 1], 'float16']] as [[number, number], DType][]) {
      const seed = BigInt(r.seed()) * 2n ** 32n + BigInt(r.seed());
      await cases.run(`rand ${dtype} [${lowHigh}] seed ${seed}`, async () => {
        const n = 1031;
        const t = kiln.rand([n], { seed, dtype, low: lowHigh[0], high: lowHigh[1], device });
        const want = R.NdArray.fill([n], (i) => R.roundTo(dtype, lowHigh[0] + ((philoxWord(seed, i) >>> 8) * 2 ** -24) * (lowHigh[1] - lowHigh[0])));
        await expectTensor(t, want, dtype, { rtol: dtype === 'float32' ? 1e-6 : 0, atol: 0 });
      });
    }
    cases.done();
  });

  it('randn is Box-Muller on the Philox words of kernels/OPS.md: u1 = ((x >> 8) + 1) * 2^-24, u2 = (x >> 8) * 2^-24', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    const unit = (x: number) => (x >>> 8) * 2 ** -24;
    // each block of four words gives two pairs: (x0, x1) -> elements 4i, 4i+1 and (x2, x3) -> 4i+2, 4i+3
    const z = (seed: bigint, g: number) => {
      const base = g - (g % 2);
      const u1 = ((philoxWord(seed, base) >>> 8) + 1) * 2 ** -24, u2 = unit(philoxWord(seed, base + 1));
      const rad = Math.sqrt(-2 * Math.log(u1));
      return g % 2 === 0 ? rad * Math.cos(2 * Math.PI * u2) : rad * Math.sin(2 * Math.PI * u2);
    };
    for (const [mean, std] of [[0, 1], [3, 0.5]]) {
      const seed = BigInt(r.seed()) * 2n ** 32n + BigInt(r.seed());
      await cases.run(`randn float32 mean ${mean} std ${std} seed ${seed}`, async () => {
        const n = 1029;
        const t = kiln.randn([n], { seed, mean, std, device });
        await expectTensor(t, R.NdArray.fill([n], (g) => mean + std * z(seed, g)), 'float32', { rtol: 1e-6, atol: 1e-7 });
      });
    }
    cases.done();
  });

  it('rand and randn fill every element (0-d, 0-size, odd sizes) and stay in range, for every float dtype', async () => {
    const cases = new Cases();
    for (const dtype of FLOAT_DTYPES)
      for (const shape of [[], [0], [1], [7], [13, 33], [2, 0, 3], [257]])
        await cases.run(`${dtype} [${shape}]`, async () => {
          const u = kiln.rand(shape, { dtype, device, low: -2, high: 3 });
          const z = kiln.randn(shape, { dtype, device });
          expect(u.shape).toEqual(shape);
          expect(z.shape).toEqual(shape);
          const uv = await readValues(u), zv = await readValues(z);
          expect(uv.every((v) => v >= -2 && (dtype === 'float32' ? v < 3 : v <= 3))).toBe(true);
          expect(zv.every((v) => Number.isFinite(v) && Math.abs(v) < 7)).toBe(true);
        });
    cases.done();
  });

  it('uniform and normal statistics are within loose bounds (n = 200003)', async () => {
    const r = rngFor(testName());
    const n = 200_003;
    const failures: string[] = [];
    const check = (what: string, got: number, want: number, tol: number) => {
      if (!(Math.abs(got - want) <= tol)) failures.push(`${what}: ${got} (expected ${want} +- ${tol})`);
    };
    for (const dtype of FLOAT_DTYPES) {
      const u = stats(await readValues(kiln.rand([n], { seed: r.seed(), dtype, device })));
      check(`rand ${dtype} mean`, u.mean, 0.5, 0.005);
      check(`rand ${dtype} std`, u.std, Math.sqrt(1 / 12), 0.005);
      check(`rand ${dtype} min`, u.lo, 0, 0.001);
      check(`rand ${dtype} max`, u.hi, 1, 0.005);
      const uv = await readValues(kiln.rand([n], { seed: r.seed(), dtype, low: -3, high: 5, device }));
      const bins = new Array(8).fill(0);
      for (const v of uv) bins[Math.min(7, Math.floor(v + 3))]++;
      for (let b = 0; b < 8; ++b) check(`rand ${dtype} [-3, 5) bin ${b - 3}`, bins[b] / n, 1 / 8, 0.01);
      const z = await readValues(kiln.randn([n], { seed: r.seed(), dtype, device }));
      const zs = stats(z);
      check(`randn ${dtype} mean`, zs.mean, 0, 0.02);
      check(`randn ${dtype} std`, zs.std, 1, 0.02);
      check(`randn ${dtype} P(|z| < 1)`, z.filter((v) => Math.abs(v) < 1).length / n, 0.6827, 0.01);
      check(`randn ${dtype} P(z > 2)`, z.filter((v) => v > 2).length / n, 0.02275, 0.004);
      const w = stats(await readValues(kiln.randn([n], { seed: r.seed(), dtype, mean: 3, std: 0.5, device })));
      check(`randn ${dtype} mean 3`, w.mean, 3, 0.02);
      check(`randn ${dtype} std 0.5`, w.std, 0.5, 0.02);
    }
    expect(failures).toEqual([]);
  });
});

