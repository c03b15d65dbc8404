// kiln.gridSample on every backend: the native GridSample op (1 to 3 spatial dims) against the
// float64 reference of test/helpers/grid-sample.ts for every mode x padding x align_corners, float16
// and bfloat16 rounding once, strided X and grid views, empty outputs, NaN and infinite coordinates
// and coordinates far outside X (reflections of taps past 2^31); the native op equal bit for bit to
// the composed path (src/ops/grid-sample-composed.ts, which 4 spatial dims take); bad arguments
// refused with a KilnError code. On the CPU, every vector ISA set gives the same bits.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType } from '../src/index.js';
import { composedGridSample } from '../src/ops/grid-sample-composed.js';
import { nativeGridSample } from '../src/ops/grid-sample.js';
import { cpuIsaSets, forEachBackend } from './helpers/backends.js';
import { Cases, expectError, mismatches, tolFor } from './helpers/compare.js';
import { ROOT, assertDistFresh } from './helpers/dist.js';
import { gridSampleReference, gridValues, type Mode, type Padding } from './helpers/grid-sample.js';
import { makeInput, type Layout } from './helpers/inputs.js';
import { rngFor, type Rng } from './helpers/random.js';
import { numel, roundTo } from './helpers/reference.js';

const MODES: Mode[] = ['linear', 'nearest', 'cubic'];
const PADDINGS: Padding[] = ['zeros', 'border', 'reflection'];
const testName = () => expect.getState().currentTestName ?? 'test';

/** Per spatial rank: X's shape and the output positions (sizes 1, odd sizes, N and C > 1). */
const SHAPES: Record<number, [number[], number[]][]> = {
  1: [[[2, 3, 7], [9]], [[1, 2, 1], [4]]],
  2: [[[2, 3, 5, 4], [6, 7]], [[1, 2, 1, 5], [3, 3]]],
  3: [[[2, 2, 3, 4, 5], [3, 2, 4]], [[1, 1, 2, 1, 3], [2, 3, 1]]],
};

interface Input {
  x: kiln.Tensor;
  grid: kiln.Tensor;
  xs: number[]; // X's values (rounded to its dtype), row-major
  gs: number[]; // the grid's, rounded to float32
}

function input(r: Rng, device: string, xShape: number[], out: number[], dtype: DType = 'float32', grid?: number[]): Input {
  const gridShape = [xShape[0], ...out, xShape.length - 2];
  const xs = Array.from({ length: numel(xShape) }, () => roundTo(dtype, r.uniform(-2, 2)));
  const gs = (grid ?? gridValues(r, numel(gridShape))).map(Math.fround);
  return { x: kiln.tensor(xs, { shape: xShape, dtype, device }), grid: kiln.tensor(gs, { shape: gridShape, device }), xs, gs };
}

const values = async (t: kiln.Tensor) => Array.from(await t.data(), Number);

/** Against the reference: exact for nearest (values are copied), else within the rounding of sum |w x| (float32), or one rounding more. */
async function expectReference(y: kiln.Tensor, inp: Input, mode: Mode, padding: Padding, align: boolean, label: string): Promise<void> {
  const want = gridSampleReference(inp.x.shape, inp.xs, inp.grid.shape, inp.gs, mode, padding, align);
  expect(y.shape, label).toEqual(want.shape);
  const dtype = y.dtype;
  const tol = mode === 'nearest' ? { rtol: 0, atol: 0 } : dtype === 'float32' ? { rtol: 1e-5, atol: 0 } : tolFor(dtype);
  const { count, first } = mismatches(await values(y), want.values, want.shape, tol, mode === 'nearest' ? undefined : want.scale);
  if (count) throw new Error(`${label}: ${count} of ${want.values.length} differ: ${first.map((m) => `[${m.index}] want ${m.expected} got ${m.got}`).join('; ')}`);
}

/** Equal bit for bit (NaN equal to NaN, -0 unequal to +0). */
async function expectSame(a: kiln.Tensor, b: kiln.Tensor, label: string): Promise<void> {
  expect(a.shape, label).toEqual(b.shape);
  const va = await values(a), vb = await values(b);
  const bad = va.findIndex((v, i) => !Object.is(v, vb[i]));
  if (bad >= 0) throw new Error(`${label}: element ${bad} is ${va[bad]}, the other ${vb[bad]}`);
}

forEachBackend('gridSample', (device) => {
  it('every mode x padding x alignCorners in 1 to 3 spatial dims matches the reference (float32)', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    for (const [rank, shapes] of Object.entries(SHAPES))
      for (const [xShape, out] of shapes)
        for (const mode of MODES)
          for (const padding of PADDINGS)
            for (const align of [false, true])
              await cases.run(`r=${rank} [${xShape}] -> [${out}] ${mode} ${padding} align=${align}`, async () => {
                const inp = input(r, device, xShape, out);
                await expectReference(kiln.gridSample(inp.x, inp.grid, { mode, padding, alignCorners: align }), inp, mode, padding, align, 'native');
              });
    cases.done();
  });

  it('the native op equals the composed path bit for bit: float32, float16, bfloat16, grids far outside, NaN and infinities', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    const far = [NaN, Infinity, -Infinity, 1e3, -977.3, 4.5e6, -3e9, 7e12, -1e20, 3.4e38];
    // (float16 and bfloat16 in 2-D only: each variant is a shader to compile on webgpu)
    for (const dtype of ['float32', 'float16', 'bfloat16'] as DType[])
      for (const rank of dtype === 'float32' ? [1, 2, 3] : [2])
        for (const mode of MODES)
          for (const padding of PADDINGS)
            for (const align of dtype === 'float32' ? [false, true] : [dtype === 'float16'])
              await cases.run(`${dtype} r=${rank} ${mode} ${padding} align=${align}`, async () => {
                const [xShape, out] = SHAPES[rank][0];
                const n = xShape[0] * numel(out) * rank;
                const grid = gridValues(r, n).map((v, i) => (i % 7 === 3 ? far[r.int(0, far.length - 1)] : v));
                const inp = input(r, device, xShape, out, dtype, grid);
                expect(nativeGridSample(inp.x, rank), 'the backend runs the native op').toBe(true);
                const native = kiln.gridSample(inp.x, inp.grid, { mode, padding, alignCorners: align });
                await expectSame(native, composedGridSample(inp.x, inp.grid, mode, padding, align), 'native vs composed');
              });
    cases.done();
  });

  it('float16 and bfloat16 interpolate in float32 and round once; nearest copies X', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    for (const dtype of ['float16', 'bfloat16'] as DType[])
      for (const mode of MODES)
        for (const rank of [1, 2, 3])
          await cases.run(`${dtype} ${mode} r=${rank}`, async () => {
            const [xShape, out] = SHAPES[rank][0];
            const inp = input(r, device, xShape, out, dtype);
            const y = kiln.gridSample(inp.x, inp.grid, { mode, padding: 'border' });
            expect(y.dtype).toBe(dtype);
            await expectReference(y, inp, mode, 'border', false, dtype);
            // a float16 grid is read as float32
            const g16 = inp.grid.cast('float16');
            const grid32 = g16.cast('float32');
            await expectSame(kiln.gridSample(inp.x, g16, { mode }), kiln.gridSample(inp.x, grid32, { mode }), 'float16 grid');
          });
    cases.done();
  });

  it('strided, transposed, reversed and broadcast X and grid views give the contiguous result', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    const layouts: Layout[] = ['transposed', 'permuted', 'strided', 'reversed', 'negstep', 'offset', 'expanded'];
    for (const [xShape, out] of [SHAPES[2][0], SHAPES[3][0], SHAPES[1][0]])
      for (const layout of layouts)
        for (const mode of MODES)
          await cases.run(`[${xShape}] ${layout} ${mode}`, async () => {
            const gridShape = [xShape[0], ...out, xShape.length - 2];
            const x = makeInput(r, device, 'float32', xShape, layout);
            const grid = makeInput(r, device, 'float32', gridShape, layouts[(layouts.indexOf(layout) + 2) % layouts.length], (q) => q.uniform(-1.3, 1.3));
            const want = kiln.gridSample(kiln.tensor(x.ref.data, { shape: xShape, device }), kiln.tensor(grid.ref.data, { shape: gridShape, device }), { mode, padding: 'reflection' });
            await expectSame(kiln.gridSample(x.t, grid.t, { mode, padding: 'reflection' }), want, layout);
          });
    await cases.run('a channels-last X (permuted from [N, H, W, C])', async () => {
      const inp = input(r, device, [2, 6, 5, 3], [4, 4]);
      const nhwc = inp.x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2]);
      await expectSame(kiln.gridSample(nhwc, inp.grid, { mode: 'cubic' }), kiln.gridSample(inp.x, inp.grid, { mode: 'cubic' }), 'NHWC');
    });
    cases.done();
  });

  it('more positions than the CPU takes in one chunk, and 4 spatial dims (the composed path), match the reference', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    for (const mode of MODES)
      await cases.run(`[1, 3, 40, 50] -> [90, 70] ${mode}`, async () => {
        const inp = input(r, device, [1, 3, 40, 50], [90, 70]);
        await expectReference(kiln.gridSample(inp.x, inp.grid, { mode, padding: 'zeros' }), inp, mode, 'zeros', false, 'big');
      });
    for (const mode of MODES)
      await cases.run(`4 spatial dims ${mode}`, async () => {
        const inp = input(r, device, [2, 2, 2, 3, 2, 3], [2, 3, 1, 2]);
        expect(nativeGridSample(inp.x, 4)).toBe(false);
        await expectReference(kiln.gridSample(inp.x, inp.grid, { mode, padding: 'reflection', alignCorners: true }), inp, mode, 'reflection', true, '4-D');
      });
    cases.done();
  });

  it('non-finite and far-away coordinates: NaN out of linear and cubic, the reflection of int64 taps for nearest', async () => {
    const x = kiln.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], { shape: [1, 1, 3, 4], device });
    const grid = kiln.tensor([NaN, 0, 0, NaN, Infinity, 0, 0, -Infinity, 0.5, 0.5], { shape: [1, 1, 5, 2], device });
    for (const mode of ['linear', 'cubic'] as Mode[])
      for (const padding of PADDINGS) {
        const got = await values(kiln.gridSample(x, grid, { mode, padding }));
        expect(got.slice(0, 4).every(Number.isNaN), `${mode} ${padding}`).toBe(true);
        expect(Number.isFinite(got[4])).toBe(true);
      }
    // nearest: NaN -> position 0, +-inf -> the int64 range's ends (clamped, or reflected with a period of
    // 2 size); y = 0 is row 1 of 3, x = 0 column 1.5 -> 2 (half to even), (0.5, 0.5) -> (2.5, 1.75) -> [2, 2]
    expect(await values(kiln.gridSample(x, grid, { mode: 'nearest' }))).toEqual([0, 0, 0, 0, 11]);
    expect(await values(kiln.gridSample(x, grid, { mode: 'nearest', padding: 'border' }))).toEqual([5, 3, 8, 3, 11]);
    // 2^63 - 1 mod 8 = 7 -> 8 - 1 - 7 = 0 along x (width 4), -2^63 mod 6 = 4 -> 6 - 1 - 4 = 1 along y (height 3)
    expect(await values(kiln.gridSample(x, grid, { mode: 'nearest', padding: 'reflection' }))).toEqual([5, 3, 5, 7, 11]);
    // taps past 2^31 reflect as the integers they are (an int32 tap would saturate)
    const wide = kiln.tensor([0, 1, 2, 3, 4, 5, 6], { shape: [1, 1, 7], device });
    const coords = [3e9, -3e9, 2 ** 40, 1e20].map(Math.fround);
    const at = await values(kiln.gridSample(wide, kiln.tensor(coords, { shape: [1, 4, 1], device }), { mode: 'nearest', padding: 'reflection', alignCorners: true }));
    const want = gridSampleReference([1, 1, 7], [0, 1, 2, 3, 4, 5, 6], [1, 4, 1], coords, 'nearest', 'reflection', true).values;
    expect(at).toEqual(want);
    expect(new Set(want).size).toBeGreaterThan(1);
  });

  it('empty outputs: no batch, no channels, no positions; X with an empty spatial dim is refused unless the output is empty', async () => {
    for (const [xShape, gridShape, yShape] of [[[0, 2, 3, 3], [0, 2, 2, 2], [0, 2, 2, 2]], [[2, 0, 3, 3], [2, 4, 1, 2], [2, 0, 4, 1]], [[2, 3, 3], [2, 0, 1], [2, 3, 0]], [[1, 2, 0, 3], [1, 0, 2, 2], [1, 2, 0, 2]]]) {
      const y = kiln.gridSample(kiln.zeros(xShape, { device }), kiln.zeros(gridShape, { device }), { mode: 'cubic' });
      expect(y.shape).toEqual(yShape);
      expect(await values(y)).toEqual([]);
    }
    expectError(() => kiln.gridSample(kiln.zeros([1, 2, 0, 3], { device }), kiln.zeros([1, 1, 1, 2], { device })), 'E_SHAPE', 'empty spatial dim');
  });

  it('bad arguments are KilnErrors naming what was wrong', () => {
    const x = kiln.zeros([1, 2, 3, 4], { device }), grid = kiln.zeros([1, 2, 2, 2], { device });
    expectError(() => kiln.gridSample(x, grid, { mode: 'bilinear' as Mode }), 'E_ARGUMENT', "mode 'bilinear'", 'linear, nearest, cubic');
    expectError(() => kiln.gridSample(x, grid, { padding: 'wrap' as Padding }), 'E_ARGUMENT', "padding 'wrap'", 'zeros, border, reflection');
    expectError(() => kiln.gridSample(x, grid, { alignCorners: 1 as unknown as boolean }), 'E_ARGUMENT', 'alignCorners must be a boolean');
    expectError(() => kiln.gridSample(x, grid, { padding_mode: 'zeros' } as never), 'E_ARGUMENT', "unknown option 'padding_mode'");
    expectError(() => kiln.gridSample(x, [1, 2] as never), 'E_ARGUMENT', 'grid must be a Tensor');
    expectError(() => kiln.gridSample(kiln.zeros([1, 2, 3, 4], { dtype: 'int32', device }), grid), 'E_DTYPE', 'X int32');
    expectError(() => kiln.gridSample(x, kiln.zeros([1, 2, 2, 2], { dtype: 'int64', device })), 'E_DTYPE', 'grid int64');
    expectError(() => kiln.gridSample(kiln.zeros([1, 2, 3, 4], { dtype: 'bool', device }), grid), 'E_DTYPE', 'bool');
    expectError(() => kiln.gridSample(kiln.zeros([2, 3], { device }), kiln.zeros([2, 1], { device })), 'E_SHAPE', 'at least one spatial dim');
    expectError(() => kiln.gridSample(x, kiln.zeros([1, 2, 2, 3], { device })), 'E_SHAPE', '2 coordinates per position');
    expectError(() => kiln.gridSample(x, kiln.zeros([1, 2, 2, 2, 2], { device })), 'E_SHAPE', 'rank 4');
    expectError(() => kiln.gridSample(x, kiln.zeros([2, 2, 2, 2], { device })), 'E_SHAPE', "X's batch");
    const disposed = kiln.zeros([1, 2, 2, 2], { device });
    disposed.dispose();
    expectError(() => kiln.gridSample(x, disposed), 'E_DISPOSED');
    if (device !== 'cpu') expectError(() => kiln.gridSample(x, kiln.zeros([1, 2, 2, 2])), 'E_DEVICE', 'different devices');
  });

  it('the native op refuses malformed launches with the same codes on every backend', () => {
    const x = kiln.zeros([1, 2, 3, 4], { device }), grid = kiln.zeros([1, 2, 2, 2], { device }), y = kiln.zeros([1, 2, 2, 2], { device });
    const be = x.backendFor('test');
    const attrs = { mode: 'linear', padding: 'zeros', align_corners: 0 };
    const launch = (ins: kiln.Tensor[], outs: kiln.Tensor[], a: Record<string, unknown> = attrs) => () => be.run('GridSample', ins.map((t) => t.view('test')), outs.map((t) => t.view('test')), a as never);
    expectError(launch([x, grid], [y], { ...attrs, mode: 'area' }), 'E_ARGUMENT', 'GridSample', "'area'");
    expectError(launch([x, grid], [y], { ...attrs, padding: 'wrap' }), 'E_ARGUMENT', 'GridSample', "'wrap'");
    expectError(launch([x, grid.cast('float16')], [y]), 'E_DTYPE', 'GridSample');
    expectError(launch([x, grid], [y.cast('float16')]), 'E_DTYPE', 'GridSample');
    expectError(launch([x, grid], [kiln.zeros([1, 2, 2, 3], { device })]), 'E_SHAPE', 'GridSample');
    expectError(launch([x, kiln.zeros([1, 2, 2, 3], { device })], [y]), 'E_SHAPE', 'GridSample');
    expectError(launch([kiln.zeros([1, 1, 2, 2, 2, 2], { device }), kiln.zeros([1, 1, 1, 1, 1, 4], { device })], [kiln.zeros([1, 1, 1, 1, 1, 1], { device })]), 'E_SHAPE', 'GridSample');
    expectError(launch([x], [y]), 'E_ARGUMENT', 'GridSample');
  });
});

describe('gridSample on the CPU vector ISA sets', () => {
  it('every set the host runs (gathers of 16, 8 lanes, or none) gives the same bits', () => {
    assertDistFresh();
    const outs = cpuIsaSets().map((isa) => {
      const r = spawnSync(process.execPath, [join(ROOT, 'test/fixtures/grid-sample-isa.mjs'), join(ROOT, 'dist/src/index.js')], {
        encoding: 'utf8', env: { ...process.env, KILN_CPU_ISA: isa }, timeout: 60_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(out.isa).toBe(isa);
      expect(out.cases).toBe(27);
      return out.digest as string;
    });
    expect(new Set(outs).size).toBe(1);
  });
});
