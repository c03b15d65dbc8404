// matmul (NumPy semantics) and gemm (ONNX) on every backend: odd M/K/N that are not multiples of any
// tile, K = 0, 1-D operands, broadcast batch dims, transposed and strided operands, every dtype.
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType } from '../src/index.js';
import { forEachBackend } from './helpers/backends.js';
import { runOp } from '../src/ops/run.js';
import { Cases, expectError, expectTensor, expectValues, tolFor, type CompareOptions } from './helpers/compare.js';
import { makeInput, type Gen, type Layout } from './helpers/inputs.js';
import { rngFor, type Rng } from './helpers/random.js';
import * as R from './helpers/reference.js';

const testName = () => expect.getState().currentTestName ?? 'test';
const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'uint8'];
const isInt = (d: DType) => d === 'int32' || d === 'int64' || d === 'uint8';

/** Signed integers stay small so every sum is exact; uint8 takes any value and wraps; floats in [-1, 1]. */
const genFor = (d: DType): Gen => (d === 'uint8' ? (r) => r.int(0, 255) : isInt(d) ? (r) => r.int(-100, 100) : (r) => r.uniform(-1, 1));

/** The exact product as the dtype stores it: uint8 wraps mod 256 (sums stay exact in float64). */
const stored = (d: DType, y: R.NdArray): R.NdArray => (d === 'uint8' ? y.map((v) => ((v % 256) + 256) % 256) : y);

/**
 * Tolerance for a product: accumulation error grows with sum |a_ik b_kj| (the reference's `scale`),
 * rounding of the stored result with |y|. Integers are exact.
 */
function mmTol(dtype: DType, scale: R.NdArray): CompareOptions {
  if (isInt(dtype)) return { rtol: 0, atol: 0 };
  const t = tolFor(dtype);
  return { rtol: t.rtol, atol: t.atol, scale: scale.data };
}

/** An operand of `shape` in `layout` (a view for every layout but 'contiguous'). */
function operand(r: Rng, device: string, dtype: DType, shape: number[], layout: Layout) {
  return makeInput(r, device, dtype, shape, layout, genFor(dtype));
}

/** M, K, N: 1, odd sizes that are no multiple of any tile, and sizes just past a power of two. */
const MKN: [number, number, number][] = [
  [1, 1, 1], [1, 3, 17], [3, 17, 65], [17, 65, 3], [65, 130, 17], [130, 17, 257], [257, 65, 33], [33, 257, 130], [2, 1, 7], [5, 4, 1],
  [3, 0, 5], [0, 4, 5], [4, 5, 0],
  [257, 257, 257], [1, 1031, 1], [1031, 1, 3], [2, 700, 129],
];

const LAYOUT_PAIRS: [Layout, Layout][] = [
  ['contiguous', 'contiguous'],
  ['transposed', 'contiguous'],
  ['contiguous', 'transposed'],
  ['transposed', 'transposed'],
  ['strided', 'reversed'],
  ['negstep', 'offset'],
  ['offset', 'strided'],
];

forEachBackend('matmul', (device) => {
  for (const dtype of DTYPES)
    it(`2-D ${dtype}: odd M/K/N, K = 0, empty M/N, transposed and strided operands`, async () => {
      const r = rngFor(testName());
      const cases = new Cases();
      for (const [M, K, N] of MKN)
        for (const [la, lb] of LAYOUT_PAIRS) {
          if (M * K * N > 300_000 && la !== 'contiguous' && lb !== 'contiguous') continue; // big cases: fewer layouts
          await cases.run(`matmul ${dtype} [${M}, ${K}] ${la} @ [${K}, ${N}] ${lb}`, async () => {
            const a = operand(r, device, dtype, [M, K], la), b = operand(r, device, dtype, [K, N], lb);
            const { y, scale } = R.matmul(a.ref, b.ref);
            await expectTensor(kiln.matmul(a.t, b.t), stored(dtype, y), dtype, mmTol(dtype, scale));
          });
        }
      cases.done();
    });

  for (const dtype of DTYPES)
    it(`1-D operands and batched ${dtype}: broadcast batch dims, expanded and permuted operands`, async () => {
      const r = rngFor(testName());
      const cases = new Cases();
      const shapes: [number[], number[], Layout?, Layout?][] = [
        [[17], [17]], // vector . vector -> 0-d
        [[0], [0]],
        [[17], [17, 5]],
        [[7, 13], [13]],
        [[13], [3, 13, 7], 'strided'],
        [[2, 7, 13], [13], 'transposed', 'reversed'],
        [[2, 1, 5, 13], [3, 13, 7]], // batch [2, 1] with [3] -> [2, 3]
        [[4, 5, 13], [13, 7], 'permuted'],
        [[5, 13], [4, 13, 7], 'offset', 'transposed'],
        [[1, 3, 5], [6, 1, 5, 2], 'expanded', 'expanded'],
        [[3, 33, 65], [3, 65, 17], 'transposed', 'strided'],
        // B read in place (M <= 128, unit column stride): two K panels, ragged last sliver, shared B
        [[2, 128, 300], [300, 70]],
        [[100, 257], [2, 257, 33], 'contiguous', 'offset'],
        [[2, 0, 4], [2, 4, 3]],
        [[0, 3, 4], [4, 2]],
        [[2, 3, 0], [2, 0, 5]],
      ];
      for (const [sa, sb, la = 'contiguous', lb = 'contiguous'] of shapes)
        await cases.run(`matmul ${dtype} [${sa}] ${la} @ [${sb}] ${lb}`, async () => {
          const a = operand(r, device, dtype, sa, la), b = operand(r, device, dtype, sb, lb);
          const { y, scale } = R.matmul(a.ref, b.ref);
          await expectTensor(a.t.matmul(b.t), stored(dtype, y), dtype, mmTol(dtype, scale));
        });
      cases.done();
    });

  for (const dtype of ['float32', 'float16', 'bfloat16', 'int32', 'uint8'] as DType[])
    it(`gemm ${dtype}: alpha, beta, transA, transB and a broadcast bias`, async () => {
      const r = rngFor(testName());
      const cases = new Cases();
      const sizes: [number, number, number][] = [[1, 1, 1], [3, 17, 65], [65, 33, 7], [17, 0, 5], [130, 65, 33]];
      const alphas = isInt(dtype) ? [1, 2, -3] : [1, 0.5, -2];
      const betas = isInt(dtype) ? [1, 0, 3] : [1, 0, -1.5];
      let k = 0;
      for (const [M, K, N] of sizes)
        for (const transA of [false, true])
          for (const transB of [false, true])
            for (const bias of ['none', 'row', 'col', 'full', 'scalar'] as const) {
              const alpha = alphas[k % 3], beta = betas[(k + 1) % 3];
              k++;
              await cases.run(`gemm ${dtype} M${M} K${K} N${N} transA ${transA} transB ${transB} bias ${bias} alpha ${alpha} beta ${beta}`, async () => {
                const a = operand(r, device, dtype, transA ? [K, M] : [M, K], k % 2 ? 'contiguous' : 'transposed');
                const b = operand(r, device, dtype, transB ? [N, K] : [K, N], k % 3 ? 'contiguous' : 'strided');
                const cShape = { none: undefined, row: [N], col: [M, 1], full: [M, N], scalar: [] }[bias];
                const c = cShape ? operand(r, device, dtype, cShape, 'contiguous') : undefined;
                const want = R.gemm(a.ref, b.ref, { c: c?.ref, alpha, beta, transA, transB });
                const got = kiln.gemm(a.t, b.t, { c: c?.t, alpha, beta, transA, transB });
                await expectTensor(got, stored(dtype, want.y), dtype, mmTol(dtype, want.scale));
              });
            }
      if (dtype === 'int32')
        await cases.run('gemm int32: alpha and beta of 2^31 and more wrap like every other int32 product (mod 2^32)', async () => {
          const a = operand(r, device, dtype, [6, 9], 'contiguous'), b = operand(r, device, dtype, [9, 4], 'contiguous');
          const c = operand(r, device, dtype, [4], 'contiguous');
          const want = R.gemm(a.ref, b.ref, { c: c.ref, alpha: 2, beta: -1 });
          await expectTensor(kiln.gemm(a.t, b.t, { c: c.t, alpha: 2 ** 32 + 2, beta: 2 ** 33 - 1 }), want.y, dtype, mmTol(dtype, want.scale));
        });
      await cases.run(`gemm ${dtype} defaults: alpha 1, beta 1, no transposes`, async () => {
        const a = operand(r, device, dtype, [5, 7], 'contiguous'), b = operand(r, device, dtype, [7, 3], 'contiguous');
        const c = operand(r, device, dtype, [3], 'contiguous');
        const want = R.gemm(a.ref, b.ref, { c: c.ref });
        await expectTensor(a.t.gemm(b.t, { c: c.t }), stored(dtype, want.y), dtype, mmTol(dtype, want.scale));
      });
      cases.done();
    });

  it('mixed dtypes promote: float16 @ bfloat16 -> float32, int32 @ float32 -> float32, uint8 @ float16 -> float16', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    for (const [da, db, want] of [['float16', 'bfloat16', 'float32'], ['int32', 'float32', 'float32'], ['uint8', 'float16', 'float16']] as [DType, DType, DType][])
      await cases.run(`${da} @ ${db}`, async () => {
        const gen = (d: DType): Gen => (d === 'uint8' ? (q) => q.int(0, 9) : d === 'int32' ? (q) => q.int(-9, 9) : (q) => q.uniform(-1, 1));
        const a = makeInput(r, device, da, [9, 17], 'contiguous', gen(da)), b = makeInput(r, device, db, [17, 5], 'transposed', gen(db));
        const { y, scale } = R.matmul(R.cast(a.ref, da, want), R.cast(b.ref, db, want));
        await expectTensor(kiln.matmul(a.t, b.t), y, want, mmTol(want, scale));
      });
    cases.done();
  });

  it('the result does not depend on poisoned or stale output memory (repeated products agree)', async () => {
    const r = rngFor(testName());
    const a = operand(r, device, 'float32', [67, 129], 'contiguous'), b = operand(r, device, 'float32', [129, 31], 'contiguous');
    const first = await kiln.matmul(a.t, b.t).data();
    for (let i = 0; i < 3; ++i) expect(await kiln.matmul(a.t, b.t).data()).toEqual(first);
    a.t.dispose();
    b.t.dispose();
  });

  it('shape errors: inner dims, batch dims, 0-d operands, gemm ranks', () => {
    const a = kiln.zeros([3, 4]), b = kiln.zeros([5, 6]);
    expect(expectError(() => kiln.matmul(a, b), 'E_SHAPE').message).toMatch(/matmul.*\[3, 4\].*\[5, 6\]/);
    expectError(() => kiln.matmul(kiln.zeros([2, 3, 4]), kiln.zeros([3, 4, 5])), 'E_SHAPE');
    expectError(() => kiln.matmul(kiln.zeros([]), a), 'E_SHAPE');
    expectError(() => kiln.gemm(kiln.zeros([2, 3, 4]), a), 'E_SHAPE');
    expectError(() => kiln.gemm(a, kiln.zeros([4, 2]), { c: kiln.zeros([3, 3]) }), 'E_SHAPE');
  });
});

// The CPU kernel's epilogue activation (the ONNX engine fuses Gemm -> Relu and dense -> Gelu into
// it): every kernel path (gemv, narrow N, small M with B in place, packed gemm, K = 0, integers)
// gives the activation of what the same product gives without it: relu exactly; gelu exactly in
// float32 (the same vectorized function as the Gelu op) and within rounding in float16/bfloat16
// (the fused form applies it before rounding Y).
it('cpu MatMul activation: relu, gelu and gelu_tanh on every kernel path and dtype, and nothing else', async () => {
  const r = rngFor('matmul-activation');
  const cases = new Cases();
  const shapes: [number, number, number, number][] = [[1, 1, 64, 40], [1, 40, 64, 1], [1, 32, 100, 10], [1, 16, 300, 96], [1, 150, 300, 70], [3, 9, 17, 33], [1, 5, 0, 7]];
  const acts = { relu: (y: kiln.Tensor) => kiln.relu(y), gelu: (y: kiln.Tensor) => kiln.gelu(y), gelu_tanh: (y: kiln.Tensor) => kiln.gelu(y, { approximate: 'tanh' }) };
  for (const dtype of ['float32', 'float16', 'bfloat16', 'int32'] as DType[])
    for (const [act, f] of Object.entries(acts))
      for (const [B, M, K, N] of shapes)
        for (const [alpha, bias] of [[1, false], [isInt(dtype) ? 2 : 0.5, true]] as const) {
          if (isInt(dtype) && act !== 'relu') continue;
          await cases.run(`${dtype} ${act} ${B}x${M}x${K}x${N} alpha ${alpha} bias ${bias}`, async () => {
            const a = operand(r, 'cpu', dtype, [B, M, K], 'contiguous'), b = operand(r, 'cpu', dtype, [B, K, N], 'contiguous');
            const c = bias ? operand(r, 'cpu', dtype, [B, M, N], 'contiguous') : undefined;
            const ins = [a.t, b.t, ...(c ? [c.t] : [])];
            const attrs = { alpha, beta: bias ? 1 : 0 };
            // the product without activation, in float32 where Y is rounded (the fused epilogue sees float32)
            const wide = dtype === 'float16' || dtype === 'bfloat16' ? 'float32' : dtype;
            const plain = runOp('MatMul', ins.map((t) => t.cast(wide)), [{ shape: [B, M, N], dtype: wide }], attrs)[0];
            const want = f(plain);
            const fused = runOp('MatMul', ins, [{ shape: [B, M, N], dtype }], { ...attrs, activation: act })[0];
            const w = Array.from((await want.data()) as ArrayLike<number>, Number);
            if (act === 'relu') expect(w.some((v) => v === 0) || M * N * K === 0).toBe(true);
            expectValues(Array.from((await fused.data()) as ArrayLike<number>, Number), w, wide === dtype ? { rtol: 0, atol: 0 } : tolFor(dtype));
            for (const t of [plain, want, fused, ...ins]) t.dispose();
          });
        }
  cases.done();
  const x = kiln.ones([2, 2]);
  expectError(() => runOp('MatMul', [x, x], [{ shape: [2, 2], dtype: 'float32' }], { activation: 'swish' }), 'E_ARGUMENT');
  const n = kiln.ones([2, 2], { dtype: 'int32' });
  expectError(() => runOp('MatMul', [n, n], [{ shape: [2, 2], dtype: 'int32' }], { activation: 'gelu' }), 'E_UNSUPPORTED');
});
