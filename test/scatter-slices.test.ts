// ScatterSlices (kernels/OPS.md), the native scatter behind the ONNX engine's ScatterND and
// ScatterElements without a reduction: the slices that Positions name take Updates' slices in place,
// the last update naming a slice winning (on WebGPU through an owner pass, so as deterministic as
// the CPU's serial loop), positions outside the output writing nothing. Every dtype (raw bits), a
// random case with many duplicates against a reference, and bad arguments. CUDA has no kernel yet
// (it awaits a GPU to be tested on): there the ONNX ops keep their one-hot composition.
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { canScatterSlices, scatterSlicesInto } from '../src/ops/scatter.js';
import { forEachBackend } from './helpers/backends.js';
import { expectError } from './helpers/compare.js';
import { rngFor } from './helpers/random.js';

/** The reference: y (P x S, row-major) with slice positions[u] := updates' slice u, in order. */
function reference(y: number[], positions: number[], updates: number[], S: number): number[] {
  const out = [...y], P = y.length / S;
  positions.forEach((p, u) => {
    if (p >= 0 && p < P) for (let j = 0; j < S; ++j) out[p * S + j] = updates[u * S + j];
  });
  return out;
}

const VALUES: Record<string, (i: number) => number | bigint> = {
  float32: (i) => i * 1.5 - 7,
  float16: (i) => i - 20,
  bfloat16: (i) => 2 * i - 40,
  int32: (i) => i * 100003 - 2 ** 30,
  int64: (i) => 2 ** 40 + i * 3,
  uint8: (i) => (i * 37) % 256,
  bool: (i) => i % 3 === 0 ? 1 : 0,
};

forEachBackend('ScatterSlices', (device) => {
  const native = canScatterSlices(kiln.zeros([1], { device }));

  it('the backends that scatter natively: cpu and webgpu (cuda composes)', () => {
    expect(native).toBe(!device.startsWith('cuda'));
  });

  it.skipIf(!native)('writes the named slices in place, the last update naming one winning, in every dtype; positions outside write nothing', async () => {
    const S = 3, P = 5;
    const positions = [4, 1, 4, -1, 5, 0, 2 ** 40];
    for (const [dtype, value] of Object.entries(VALUES) as [kiln.DType, (i: number) => number | bigint][]) {
      const y0 = Array.from({ length: P * S }, (_, i) => Number(value(i)));
      const upd = Array.from({ length: positions.length * S }, (_, i) => Number(value(100 + i)));
      const y = kiln.tensor(y0, { dtype, shape: [P, S], device });
      scatterSlicesInto(y, kiln.tensor(positions, { dtype: 'int64', device }), kiln.tensor(upd, { dtype, shape: [positions.length, S], device }), S);
      const got = Array.from(await y.data(), Number);
      expect(got, dtype).toEqual(reference(y0, positions, upd, S)); // every value exact in its dtype
    }
  });

  it.skipIf(!native)('thousands of updates with many duplicates match the serial reference', async () => {
    const r = rngFor(`scatter slices ${device}`);
    for (const [P, S, U] of [[1000, 7, 3000], [50, 1, 20000], [3, 1000, 10]]) {
      const y0 = Array.from({ length: P * S }, (_, i) => i);
      const positions = Array.from({ length: U }, () => r.int(-2, P + 1));
      const upd = Array.from({ length: U * S }, (_, i) => -1 - i);
      const y = kiln.tensor(y0, { dtype: 'int32', shape: [P * S], device });
      scatterSlicesInto(y, kiln.tensor(positions, { dtype: 'int64', device }), kiln.tensor(upd, { dtype: 'int32', device }), S);
      expect(Array.from(await y.data(), Number), `P ${P}, S ${S}, U ${U}`).toEqual(reference(y0, positions, upd, S));
    }
  });

  it.skipIf(!native)('bad arguments are KilnErrors naming what was wrong', () => {
    const y = kiln.zeros([4, 2], { device });
    const pos = kiln.tensor([1], { dtype: 'int64', device }), upd = kiln.ones([1, 2], { device });
    expectError(() => scatterSlicesInto(y, kiln.tensor([1], { dtype: 'int32', device }), upd, 2), 'E_DTYPE', 'ScatterSlices', 'int64');
    expectError(() => scatterSlicesInto(y, pos, kiln.ones([1, 2], { dtype: 'int32', device }), 2), 'E_DTYPE', 'ScatterSlices');
    expectError(() => scatterSlicesInto(y, pos, upd, 3), 'E_SHAPE', 'ScatterSlices', 'slice 3');
    expectError(() => scatterSlicesInto(y, pos, kiln.ones([2, 2], { device }), 2), 'E_SHAPE', 'ScatterSlices');
    expectError(() => scatterSlicesInto(kiln.zeros([2, 4], { device }).transpose(), pos, upd, 2), 'E_ARGUMENT', 'ScatterSlices', 'contiguous');
  });
});
