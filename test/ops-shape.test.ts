// Views (reshape permute transpose slice expand squeeze unsqueeze flatten), copies (contiguous clone
// to), cast between every pair of dtypes, and concat stack split gather pad tile, on every backend.
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType, Tensor } from '../src/index.js';
import { forEachBackend } from './helpers/backends.js';
import { Cases, expectError, expectRejection, expectTensor, type Tolerance } from './helpers/compare.js';
import { ALL_DTYPES, FLOAT_DTYPES, layoutsFor, layoutsForSize, makeInput, randomArray, upload, type Gen } from './helpers/inputs.js';
import { rngFor } from './helpers/random.js';
import * as R from './helpers/reference.js';

const testName = () => expect.getState().currentTestName ?? 'test';
const EXACT: Partial<Tolerance> = { rtol: 0, atol: 0 };
const bytesOn = (device: string) => kiln.memory().devices[device]?.bytes ?? 0;

forEachBackend('views and copies', (device) => {
  it('views share the buffer (no bytes allocated) and read the same values, for every dtype', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    for (const dtype of ALL_DTYPES)
      await cases.run(dtype, async () => {
        const ref = randomArray(r, dtype, [4, 6, 5]);
        const x = upload(ref, dtype, device);
        const before = bytesOn(device);
        const views: [string, Tensor, R.NdArray][] = [
          ['reshape', x.reshape([24, 5]), ref.reshape([24, 5])],
          ['reshape -1', x.reshape([2, -1, 3]), ref.reshape([2, 20, 3])],
          ['flatten', x.flatten(), ref.reshape([120])],
          ['flatten 1..2', x.flatten(1, 2), ref.reshape([4, 30])],
          ['permute', x.permute([2, 0, 1]), ref.permute([2, 0, 1])],
          ['permute negative', x.permute([-1, -3, -2]), ref.permute([2, 0, 1])],
          ['transpose', x.transpose(), ref.transpose(-2, -1)],
          ['transpose 0 2', x.transpose(0, 2), ref.transpose(0, 2)],
          ['slice', x.slice(1, 1, 5, 2), ref.slice(1, 1, 5, 2)],
          ['slice negative step', x.slice(2, undefined, undefined, -1), ref.slice(2, undefined, undefined, -1)],
          ['slice of a slice', x.slice(0, 3, 0, -1).slice(1, -1, 0, -2), ref.slice(0, 3, 0, -1).slice(1, -1, 0, -2)],
          ['expand', x.slice(1, 2, 3).expand([4, 3, 5]), ref.slice(1, 2, 3).broadcastTo([4, 3, 5])],
          ['expand rank', x.expand([2, 4, 6, 5]), ref.broadcastTo([2, 4, 6, 5])],
          ['expand -1', x.slice(0, 0, 1).expand([3, -1, -1]), ref.slice(0, 0, 1).broadcastTo([3, 6, 5])],
          ['unsqueeze', x.unsqueeze(1), ref.reshape([4, 1, 6, 5])],
          ['unsqueeze end', x.unsqueeze(-1), ref.reshape([4, 6, 5, 1])],
          ['squeeze', x.slice(1, 2, 3).squeeze(), ref.slice(1, 2, 3).reshape([4, 5])],
          ['squeeze axis', x.slice(0, 1, 2).squeeze(0), ref.slice(0, 1, 2).reshape([6, 5])],
          ['to same device', x.to(device), ref],
          ['contiguous of contiguous', x.contiguous(), ref],
          ['split', x.split(2, 1)[1], ref.slice(1, 3, 6)],
        ];
        expect(bytesOn(device), 'views allocate nothing').toBe(before);
        x.dispose(); // the views keep the buffer alive
        for (const [name, v, want] of views) await expectTensor(v, want, dtype, { ...EXACT, label: name });
        expect(views.find(([n]) => n === 'to same device')![1].device).toBe(device);
      });
    cases.done();
  });

  it('slice follows Python slicing: negative indices, clamping, negative steps, empty results', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    const ref = randomArray(r, 'int32', [9, 4], (q) => q.int(-1000, 1000));
    const x = upload(ref, 'int32', device);
    const specs: [number | undefined, number | undefined, number][] = [
      [undefined, undefined, 1], [2, 7, 1], [-3, undefined, 1], [undefined, -2, 3], [1, 100, 2], [-100, 4, 1], [7, 2, 1],
      [undefined, undefined, -1], [7, 2, -2], [-1, -10, -3], [100, undefined, -4], [2, 7, -1], [5, 5, 1], [0, 9, 9], [8, undefined, -100],
    ];
    for (const [start, end, step] of specs)
      await cases.run(`x[${start ?? ''}:${end ?? ''}:${step}]`, async () => {
        await expectTensor(x.slice(0, start, end, step), ref.slice(0, start, end, step), 'int32', EXACT);
        await expectTensor(x.slice(-1, start, end, step), ref.slice(-1, start, end, step), 'int32', EXACT);
      });
    cases.done();
    x.dispose();
  });

  it('contiguous() and clone() copy non-contiguous views correctly, for every dtype and layout', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    for (const dtype of ALL_DTYPES)
      for (const shape of [[0], [1], [7], [13, 33], [3, 0, 5], [2, 3, 17], [257], [300, 257]])
        for (const layout of layoutsForSize(shape))
          await cases.run(`${dtype} [${shape}] ${layout}`, async () => {
            const { t, ref } = makeInput(r, device, dtype, shape, layout);
            const c = t.contiguous();
            expect(c.isContiguous).toBe(true);
            await expectTensor(c, ref, dtype, { ...EXACT, label: 'contiguous()' });
            const before = bytesOn(device);
            const k = t.clone();
            expect(k.isContiguous).toBe(true);
            expect(bytesOn(device) - before, 'clone() allocates its own buffer').toBe(R.numel(shape) * ({ float32: 4, float16: 2, bfloat16: 2, int32: 4, int64: 8, uint8: 1, bool: 1 } as const)[dtype]);
            await expectTensor(k, ref, dtype, { ...EXACT, label: 'clone()' });
            await expectTensor(t.reshape([-1]), ref.reshape([-1]), dtype, { ...EXACT, label: 'reshape of a view' });
          });
    cases.done();
  });

  it('copies move bits: NaN payloads of every float dtype survive clone, contiguous, concat, gather and pad', async () => {
    // payloads made and read on the CPU (its casts keep a NaN's top payload bits); each op below
    // only moves elements, so every device must give back the bits it was given
    const f = new Float32Array(6).fill(1);
    const u = new Uint32Array(f.buffer);
    (u[1] = 0x7fe02000), (u[4] = 0xffd04000);
    const bits = async (t: kiln.Tensor) => Array.from(new Uint32Array(((await t.to('cpu').cast('float32').data()) as Float32Array).buffer), (v) => v.toString(16));
    for (const dtype of FLOAT_DTYPES) {
      const c = kiln.tensor(f, { shape: [2, 3] });
      const x = (dtype === 'float32' ? c : c.cast(dtype)).to(device);
      const b = await bits(x);
      const t = x.transpose();
      const ops: [string, () => kiln.Tensor, string[]][] = [
        ['clone', () => x.clone(), b],
        ['contiguous', () => t.contiguous(), [0, 3, 1, 4, 2, 5].map((i) => b[i])],
        ['concat', () => kiln.concat([x, x], 0), [...b, ...b]],
        ['gather', () => kiln.gather(x, kiln.tensor([1, 0], { dtype: 'int64', device }), 0), [...b.slice(3), ...b.slice(0, 3)]],
        ['pad', () => kiln.pad(x, [[0, 0], [1, 0]]), ['0', ...b.slice(0, 3), '0', ...b.slice(3)]],
      ];
      for (const [name, op, want] of ops) expect(await bits(op()), `${name} ${dtype}`).toEqual(want);
    }
  });

  it('data(), toArray() and item() read values back', async () => {
    const a = kiln.tensor([[1, 2, 3], [4, 5, 6]], { device });
    expect(await a.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(await a.transpose().toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(Array.from((await a.slice(1, undefined, undefined, -1).data()) as Float32Array)).toEqual([3, 2, 1, 6, 5, 4]);
    expect(await a.slice(0, 1, 2).slice(1, 2, 3).item()).toBe(6);
    expect(await kiln.tensor([true, false], { device }).toArray()).toEqual([true, false]);
    expect(await kiln.zeros([2, 0, 3], { device }).toArray()).toEqual([[], []]);
    expect(await kiln.zeros([0, 3], { device }).toArray()).toEqual([]);
    expect(await kiln.full([], 7, { dtype: 'int64', device }).item()).toBe(7);
    expect(await kiln.full([1, 1], 2.5, { dtype: 'bfloat16', device }).item()).toBe(2.5);
    expect((await kiln.tensor([2n ** 62n], { device }).data())[0]).toBe(2n ** 62n);
    await expect(kiln.tensor([2n ** 62n], { device }).toArray()).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    await expect(a.item()).rejects.toMatchObject({ code: 'E_SHAPE' });
  });
});

// ---- cast ----------------------------------------------------------------------------------------------------

/** Values for each source dtype that exercise truncation, saturation, wrapping, NaN and bool rules. */
const CAST_SPECIALS: Record<DType, number[]> = {
  float32: [NaN, Infinity, -Infinity, -0, 0, 0.5, -0.5, 0.99, -0.99, 1.5, -1.7, 2.5, 127.9, 128, 255.9, 256, 300, -1, -129, -200.7, 65504, 65520, 70000, 2 ** 31, -(2 ** 31) - 5000, 3e9, -3e9, 1e20, -1e20, 1e-8, 3.4e38,
    // ties and near-ties at float16 and bfloat16 precision (round to nearest even), float16 subnormals and its largest finite neighbours
    1 + 2 ** -11, 1 + 3 * 2 ** -11, -(1 + 3 * 2 ** -11), 2049, 2051, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, 6e-8, 1e-5, -3e-5, 2 ** -25, 3 * 2 ** -25, 2 ** -14, 65519, 65519.99, -65520],
  float16: [NaN, Infinity, -Infinity, -0, 0, 0.5, -0.5, 1.5, -1.7, 2.5, 127.9, 255.9, 256, 300, -1, -129, 65504, 6e-8, 1000.5],
  bfloat16: [NaN, Infinity, -Infinity, -0, 0.5, -0.5, 1.5, -1.7, 255.9, 256, 300, -129, 3e9, -3e9, 1e20, -1e20, 2 ** 31, 1e-30],
  int32: [0, 1, -1, 127, 128, 255, 256, 257, -128, -129, 2147483647, -2147483648, 16777217, 65504, 65520, 1000000],
  int64: [0, 1, -1, 255, 256, -129, 2 ** 31, 2 ** 32 + 5, -(2 ** 31) - 1, -(2 ** 33) + 7, 2 ** 40 + 3, -(2 ** 40), 16777217, 2 ** 53 - 1],
  uint8: [0, 1, 127, 128, 200, 255],
  bool: [0, 1],
};

const castGen = (d: DType): Gen =>
  d === 'bool' ? (r) => r.int(0, 1) : d === 'uint8' ? (r) => r.int(0, 255) : d === 'int32' ? (r) => r.int(-2147483648, 2147483647) : d === 'int64' ? (r) => r.int(-(2 ** 45), 2 ** 45) : (r) => r.normal() * r.pick([1, 100, 1e5]);

forEachBackend('cast', (device) => {
  for (const from of ALL_DTYPES)
    it(`cast from ${from} to every dtype: rounding, truncation, saturation, wrapping, NaN and bool rules`, async () => {
      const r = rngFor(testName());
      const cases = new Cases();
      const specials = new R.NdArray([CAST_SPECIALS[from].length], CAST_SPECIALS[from].map((v) => R.roundTo(from, v)));
      for (const to of ALL_DTYPES) {
        await cases.run(`${from} -> ${to} special values [${CAST_SPECIALS[from].join(', ')}]`, async () => {
          await expectTensor(upload(specials, from, device).cast(to), R.cast(specials, from, to), to, EXACT);
        });
        for (const shape of [[], [0], [13, 33], [2, 3, 17], [300, 257]])
          for (const layout of layoutsForSize(shape).filter((_, i) => i % 2 === 0 || shape.length === 3))
            await cases.run(`${from} -> ${to} [${shape}] ${layout}`, async () => {
              const { t, ref } = makeInput(r, device, from, shape, layout, castGen(from));
              const y = kiln.cast(t, to);
              expect(y.isContiguous).toBe(true);
              await expectTensor(y, R.cast(ref, from, to), to, EXACT);
            });
      }
      cases.done();
    });
});

/** Integer v rounded once to `bits` significant bits (nearest, ties to even), exactly. */
function roundToBits(v: bigint, bits: number): bigint {
  const a = v < 0n ? -v : v;
  const drop = a.toString(2).length - bits;
  if (drop <= 0) return v;
  const unit = 1n << BigInt(drop), rem = a & (unit - 1n);
  let q = a >> BigInt(drop);
  if (rem > unit / 2n || (rem === unit / 2n && (q & 1n) === 1n)) q += 1n;
  return (v < 0n ? -q : q) << BigInt(drop);
}

forEachBackend('cast int64 past 2^53', (device) => {
  it('int64 past 2^53 to float32, bfloat16 and float16 rounds once (a double on the way would round twice)', async () => {
    const M = 2n ** 63n;
    const vals = [2n ** 62n + 2n ** 54n + 1n, -(2n ** 62n + 2n ** 54n + 1n), 2n ** 62n + 2n ** 38n + 1n, 2n ** 53n + 1n, 2n ** 55n + 2n ** 47n,
      2n ** 55n + 3n * 2n ** 47n, 2n ** 60n + 2n ** 52n + 2n ** 8n, M - 1n, -M, -(M - 1n), 3n * 2n ** 58n + 2n ** 50n - 1n];
    const x = kiln.tensor(vals, { dtype: 'int64', device });
    for (const [dtype, bits] of [['float32', 24], ['bfloat16', 8], ['float16', 11]] as const) {
      const got = Array.from((await x.cast(dtype).data()) as Float32Array);
      // float16's largest is 65504: every value here is past it, so +-Infinity
      const want = vals.map((v) => (dtype === 'float16' ? (v < 0n ? -Infinity : Infinity) : Number(roundToBits(v, bits))));
      expect(got, `int64 -> ${dtype}`).toEqual(want);
    }
  });
});

// ---- concat stack split gather pad tile ---------------------------------------------------------------------

forEachBackend('shape ops', (device) => {
  for (const dtype of ALL_DTYPES)
    it(`concat, stack and split ${dtype}`, async () => {
      const r = rngFor(testName());
      const cases = new Cases();
      const concats: [number[][], number][] = [
        [[[3, 7], [5, 7]], 0],
        [[[3, 7], [3, 1], [3, 13]], 1],
        [[[2, 0, 4], [2, 3, 4], [2, 1, 4]], 1],
        [[[2, 3, 4], [2, 3, 5]], -1],
        [[[7]], 0],
        [[[0], [0]], 0],
        [[[257], [1], [13]], 0],
      ];
      for (const [shapes, axis] of concats)
        for (const layoutSet of [0, 1])
          await cases.run(`concat ${dtype} ${shapes.map((s) => `[${s}]`).join(' ')} axis ${axis} ${layoutSet ? 'views' : 'contiguous'}`, async () => {
            const parts = shapes.map((s, i) => makeInput(r, device, dtype, s, layoutSet ? layoutsFor(s)[(i + 1) % layoutsFor(s).length] : 'contiguous'));
            await expectTensor(kiln.concat(parts.map((p) => p.t), axis), R.concat(parts.map((p) => p.ref), axis), dtype, EXACT);
          });
      for (const [shape, axis] of [[[3, 7], 0], [[3, 7], 1], [[3, 7], -1], [[], 0], [[2, 0, 5], 1], [[2, 3, 17], 2]] as [number[], number][])
        await cases.run(`stack ${dtype} 3 x [${shape}] axis ${axis}`, async () => {
          const parts = [0, 1, 2].map((i) => makeInput(r, device, dtype, shape, layoutsFor(shape)[i % layoutsFor(shape).length]));
          await expectTensor(kiln.stack(parts.map((p) => p.t), axis), R.stack(parts.map((p) => p.ref), axis), dtype, EXACT);
        });
      for (const [shape, splits, axis] of [[[12, 5], 3, 0], [[4, 13], [6, 0, 7], 1], [[2, 3, 17], [1, 16], -1], [[0, 4], 2, 1], [[7], 7, 0]] as [number[], number | number[], number][])
        await cases.run(`split ${dtype} [${shape}] into ${JSON.stringify(splits)} along ${axis}`, async () => {
          const { t, ref } = makeInput(r, device, dtype, shape, layoutsFor(shape).at(-2)!);
          const before = bytesOn(device);
          const parts = kiln.split(t, splits, axis);
          expect(bytesOn(device), 'split returns views').toBe(before);
          const a = axis < 0 ? axis + shape.length : axis;
          const sizes = typeof splits === 'number' ? new Array(splits).fill(shape[a] / splits) : splits;
          const want = R.split(ref, sizes, a);
          expect(parts.length).toBe(want.length);
          for (let i = 0; i < parts.length; ++i) await expectTensor(parts[i], want[i], dtype, { ...EXACT, label: `part ${i}` });
        });
      await cases.run(`concat promotes ${dtype} with int32 and float16`, async () => {
        for (const other of ['int32', 'float16'] as DType[]) {
          const a = makeInput(r, device, dtype, [2, 3], 'contiguous', dtype === 'bool' ? undefined : (q) => q.int(0, 100));
          const b = makeInput(r, device, other, [1, 3], 'contiguous', (q) => q.int(-50, 50));
          const want = kiln.promoteTypes(dtype, other);
          await expectTensor(kiln.concat([a.t, b.t]), R.concat([R.cast(a.ref, dtype, want), R.cast(b.ref, other, want)]), want, EXACT);
        }
      });
      cases.done();
    });

  for (const dtype of ALL_DTYPES)
    it(`gather ${dtype}: int32/int64/array indices, negative indices, every axis, index shapes`, async () => {
      const r = rngFor(testName());
      const cases = new Cases();
      const list: [number[], number, number[]][] = [
        [[7], 0, [5]], [[13, 33], 0, [4]], [[13, 33], 1, [2, 3]], [[13, 33], -1, []], [[2, 3, 17], 1, [6]], [[2, 3, 17], 2, [3, 1, 2]], [[5, 4], 0, [0]], [[257], 0, [300]], [[3, 0, 2], 0, [2]],
        [[300, 257], 0, [400]], [[300, 257], 1, [2, 150]],
      ];
      for (const [shape, axis, ishape] of list)
        for (const idtype of ['int32', 'int64'] as DType[])
          for (const layout of layoutsForSize(shape).slice(0, 4))
            await cases.run(`gather ${dtype} [${shape}] ${layout} axis ${axis} ${idtype} indices [${ishape}]`, async () => {
              const { t, ref } = makeInput(r, device, dtype, shape, layout);
              const n = shape[axis < 0 ? axis + shape.length : axis];
              const idx = makeInput(r, device, idtype, ishape, layoutsFor(ishape).at(-1)!, (q) => q.int(-n, n - 1));
              await expectTensor(kiln.gather(t, idx.t, axis), R.gather(ref, idx.ref, axis)!, dtype, EXACT);
            });
      await cases.run(`gather ${dtype} with a JS array`, async () => {
        const { t, ref } = makeInput(r, device, dtype, [6, 5], 'transposed');
        await expectTensor(t.gather([0, -1, 3, 3, -6]), R.gather(ref, new R.NdArray([5], [0, -1, 3, 3, -6]), 0)!, dtype, EXACT);
        await expectTensor(t.gather([4, 0], 1), R.gather(ref, new R.NdArray([2], [4, 0]), 1)!, dtype, EXACT);
        await expectTensor(t.gather([], 1), new R.NdArray([6, 0]), dtype, EXACT);
      });
      await cases.run(`gather ${dtype}: an empty result still checks its indices`, async () => {
        const { t } = makeInput(r, device, dtype, [2, 0, 3], 'contiguous');
        const run = async (i: number[]) => kiln.gather(t, kiln.tensor(i, { dtype: 'int64', device }), 0).data();
        await expectRejection(run([1, 3]), 'E_INDEX', 'index 3', 'axis 0 of size 2');
        await expectRejection(run([-3]), 'E_INDEX', 'index -3');
        const fine = kiln.gather(t, kiln.tensor([1, -2], { dtype: 'int64', device }), 0);
        expect([fine.shape, (await fine.data()).length]).toEqual([[2, 0, 3], 0]);
      });
      cases.done();
    });

  for (const dtype of ALL_DTYPES)
    it(`pad ${dtype}: constant (with value), reflect and edge, every dim, views`, async () => {
      const r = rngFor(testName());
      const cases = new Cases();
      const list: [number[], [number, number][]][] = [
        [[7], [[2, 3]]], [[13, 33], [[1, 0], [0, 2]]], [[13, 33], [[0, 0], [5, 7]]], [[2, 3, 17], [[1, 1], [2, 1], [3, 16]]], [[5, 4], [[0, 0], [0, 0]]], [[1], [[0, 0]]], [[4, 6], [[3, 3], [5, 5]]], [[300, 257], [[1, 2], [3, 4]]],
      ];
      const value = dtype === 'bool' ? 1 : dtype === 'uint8' ? 200 : dtype.startsWith('int') ? -7 : -2.5;
      for (const [shape, widths] of list)
        for (const mode of ['constant', 'reflect', 'edge'] as const)
          for (const layout of layoutsForSize(shape).slice(0, 4)) {
            if (mode === 'reflect' && widths.some(([b, a], i) => (b || a) && (b >= shape[i] || a >= shape[i]))) continue;
            await cases.run(`pad ${dtype} [${shape}] ${layout} ${JSON.stringify(widths)} ${mode}`, async () => {
              const { t, ref } = makeInput(r, device, dtype, shape, layout);
              const y = mode === 'constant' ? t.pad(widths, { value }) : kiln.pad(t, widths, { mode });
              await expectTensor(y, R.pad(ref, widths, mode, value), dtype, EXACT);
            });
          }
      await cases.run(`pad ${dtype} constant default value 0, 0-size dims`, async () => {
        const { t, ref } = makeInput(r, device, dtype, [3, 0], 'contiguous');
        await expectTensor(kiln.pad(t, [[1, 1], [2, 0]]), R.pad(ref, [[1, 1], [2, 0]], 'constant', 0), dtype, EXACT);
      });
      cases.done();
    });

  for (const dtype of ALL_DTYPES)
    it(`tile ${dtype}`, async () => {
      const r = rngFor(testName());
      const cases = new Cases();
      const list: [number[], number[]][] = [[[7], [3]], [[3, 5], [2, 3]], [[3, 5], [2]], [[3, 5], [2, 1, 2]], [[], [4]], [[2, 0], [3, 2]], [[4, 3], [0, 1]], [[13], [1]]];
      for (const [shape, reps] of list)
        for (const layout of layoutsFor(shape).slice(0, 3))
          await cases.run(`tile ${dtype} [${shape}] ${layout} by [${reps}]`, async () => {
            const { t, ref } = makeInput(r, device, dtype, shape, layout);
            await expectTensor(t.tile(reps), R.tile(ref, reps), dtype, EXACT);
          });
      cases.done();
    });
});
