// ONNX Det on the Kiln engine: one-node models on every available device against a float64
// determinant (Gaussian elimination with partial pivoting in float64), with a tolerance scaled by
// the product of the rows' norms (Hadamard's bound: what float32 rounding in the elimination grows
// with). Matrices that need pivoting, singular ones, batches, float16, empty ones, and NaN.
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType } from '../src/index.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { forEachBackend } from './helpers/backends.js';
import { Cases, expectRejection } from './helpers/compare.js';
import { rngFor } from './helpers/random.js';
import * as R from './helpers/reference.js';

/** det of the n x n matrix at `at` in a (row-major), in float64. */
function det64(a: ArrayLike<number>, at: number, n: number): number {
  const m = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => a[at + i * n + j]));
  let d = 1;
  for (let k = 0; k < n; ++k) {
    let p = k;
    for (let i = k + 1; i < n; ++i) if (Math.abs(m[i][k]) > Math.abs(m[p][k])) p = i;
    if (m[p][k] === 0) return 0;
    if (p !== k) ([m[p], m[k]] = [m[k], m[p]]), (d = -d);
    d *= m[k][k];
    for (let i = k + 1; i < n; ++i) {
      const f = m[i][k] / m[k][k];
      for (let j = k; j < n; ++j) m[i][j] -= f * m[k][j];
    }
  }
  return d;
}

/** Hadamard's bound on |det|: the product of the rows' Euclidean norms. */
function hadamard(a: ArrayLike<number>, at: number, n: number): number {
  let b = 1;
  for (let i = 0; i < n; ++i) b *= Math.hypot(...Array.from({ length: n }, (_, j) => a[at + i * n + j]));
  return b;
}

async function runDet(values: number[], shape: number[], dtype: DType, device: string): Promise<{ shape: number[]; values: number[] }> {
  const g = new GraphBuilder();
  g.node('Det', [g.input('x', dtype, shape)], {}, { outputs: ['y'] });
  g.output('y', dtype, shape.slice(0, -2));
  const s = await kiln.onnx.load(g.toBytes({ opset: 22 }), { device });
  try {
    const y = (await s.run({ x: kiln.tensor(values, { dtype, shape, device }) })).y;
    const out = { shape: [...y.shape], values: Array.from((await y.data()) as ArrayLike<number>, Number) };
    y.dispose();
    return out;
  } finally {
    await s.dispose();
  }
}

forEachBackend('onnx Det', (device) => {
  it('matches a float64 determinant within float32 rounding: pivoting, singular, batched, float16, empty', async () => {
    const r = rngFor('onnx det');
    const cases = new Cases();
    const random = (n: number) => Array.from({ length: n }, () => r.uniform(-2, 2));
    const inputs: [string, number[], number[], DType][] = [
      ['1x1', [1, 1], [-3.5], 'float32'],
      ['2x2 needing a swap (a zero at [0, 0])', [2, 2], [0, 2, 3, 4], 'float32'],
      ['3x3 permutation (two swaps)', [3, 3], [0, 1, 0, 0, 0, 1, 1, 0, 0], 'float32'],
      ['singular 4x4 (two equal rows)', [4, 4], [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 2, -1, 0, 5], 'float32'],
      ['a zero column', [3, 3], [1, 0, 3, 4, 0, 6, 7, 0, 9], 'float32'],
      ['random 9x9', [9, 9], random(81), 'float32'],
      ['random 33x33', [33, 33], random(33 * 33), 'float32'],
      ['batch [2, 3] of 5x5', [2, 3, 5, 5], random(150), 'float32'],
      ['float16 batch of 4x4', [3, 4, 4], random(48).map((v) => R.roundTo('float16', v)), 'float16'],
      ['bfloat16 3x3', [3, 3], random(9).map((v) => R.roundTo('bfloat16', v)), 'bfloat16'],
    ];
    for (const [name, shape, values, dtype] of inputs)
      await cases.run(name, async () => {
        const n = shape[shape.length - 1], count = values.length / (n * n);
        const got = await runDet(values, shape, dtype, device);
        expect(got.shape).toEqual(shape.slice(0, -2));
        const eps = dtype === 'float32' ? 2 ** -24 : dtype === 'float16' ? 2 ** -11 : 2 ** -8;
        for (let b = 0; b < count; ++b) {
          const want = det64(values, b * n * n, n), tol = 4 * n * n * eps * hadamard(values, b * n * n, n);
          if (!(Math.abs(got.values[b] - want) <= tol)) throw new Error(`matrix ${b}: det ${got.values[b]}, float64 ${want} (tolerance ${tol})`);
        }
      });
    await cases.run('0x0 matrices have det 1; an empty batch gives an empty result', async () => {
      expect((await runDet([], [2, 0, 0], 'float32', device)).values).toEqual([1, 1]);
      expect(await runDet([], [0, 3, 3], 'float32', device)).toEqual({ shape: [0], values: [] });
    });
    await cases.run('a NaN spreads to its matrix only', async () => {
      const got = await runDet([1, NaN, 3, 4, 1, 2, 3, 4], [2, 2, 2], 'float32', device);
      expect(Number.isNaN(got.values[0])).toBe(true);
      expect(got.values[1]).toBeCloseTo(-2, 5); // [[1, 2], [3, 4]]: rows swapped, 3 * (2 - 4 / 3) rounded
    });
    cases.done();
  });

  it('a non-square or integer X is a KilnError naming it', async () => {
    await expectRejection(runDet([1, 2, 3, 4, 5, 6], [2, 3], 'float32', device), 'E_SHAPE', 'must be [*, M, M]');
    await expectRejection(runDet([1, 2, 3, 4], [2, 2], 'int32', device), 'E_DTYPE', 'must be a float tensor');
  });
});
