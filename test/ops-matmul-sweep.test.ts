// The matmul sweep every backend runs (and a GPU host runs on cuda with each kernel): sizes from 1
// to 4099 on every axis (skinny, so the float64 reference stays cheap), batched with broadcast
// batch dims, transposed and strided operands, every dtype, outputs poisoned first (helpers/
// backends.ts turns poisoning on). On cuda each kernel is forced in turn: simt, mma (float16,
// bfloat16, and float32 at precision 'high' = tf32), wgmma on sm_90 (float16, bfloat16, and float32
// at 'high' = tf32; at both tile widths, KILN_WGMMA_TILE_N=128 and 256), cublas when cuBLASLt loads,
// and 'auto'.
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType, MatmulOptions } from '../src/index.js';
import { loadCublasLt } from '../src/backends/cublas.js';
import { forEachBackend } from './helpers/backends.js';
import { Cases, expectError, expectTensor, tolFor, type CompareOptions } from './helpers/compare.js';
import { makeInput, type Layout } from './helpers/inputs.js';
import { rngFor } from './helpers/random.js';
import * as R from './helpers/reference.js';

const testName = () => expect.getState().currentTestName ?? 'test';
const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'int32', 'int64'];
const isInt = (d: DType) => d === 'int32' || d === 'int64';

/** [batch dims of A, of B, M, K, N]: every axis reaches past 4096 somewhere; batches broadcast. */
const SHAPES: [number[], number[], number, number, number][] = [
  [[], [], 4099, 3, 5],
  [[], [], 3, 4099, 2],
  [[], [], 2, 5, 4099],
  [[], [], 1, 4099, 1],
  [[], [], 129, 257, 130],
  [[3], [3], 65, 33, 17],
  [[2, 1], [3], 17, 129, 9],
  [[5], [], 1, 64, 127],
  // N a multiple of 8: wgmma reads a row-major B in place MN-major (N tail inside the first 64-wide
  // box of the last tile, the second box wholly past N, K tails); transposed, the B^T path. For
  // tf32 (float32 rows of K % 4 == 0 are 16-byte aligned): A and B^T in place, a row-major B packed.
  [[], [], 129, 200, 136],
  [[3], [3], 65, 72, 192],
  // N 264: at tile width 256, all four 64-wide MN-major boxes of the first tile, one of the second.
  [[2], [2], 70, 96, 264],
];
const LAYOUTS: [Layout, Layout][] = [
  ['contiguous', 'contiguous'],
  ['transposed', 'transposed'],
  ['strided', 'offset'],
  ['offset', 'transposed'],
];

/** A kernel to sweep: matmul's options, and the wgmma tile width (KILN_WGMMA_TILE_N) where not picked by shape. */
type Variant = MatmulOptions & { wgmmaTileN?: 128 | 256 };

/** The kernels a device can be asked for, per dtype. */
function variants(device: string, dtype: DType): Variant[] {
  if (!device.startsWith('cuda')) return [{}];
  const out: Variant[] = [{}, { impl: 'simt' }];
  if (dtype === 'float16' || dtype === 'bfloat16') out.push({ impl: 'mma' });
  const sm = kiln.devices().find((d) => d.id === device)?.details.sm;
  if ((dtype === 'float16' || dtype === 'bfloat16') && sm === '90') out.push({ impl: 'wgmma', wgmmaTileN: 128 }, { impl: 'wgmma', wgmmaTileN: 256 });
  if (dtype === 'float32') out.push({ precision: 'high' }, { impl: 'mma', precision: 'high' });
  if (dtype === 'float32' && sm === '90') out.push({ impl: 'wgmma', precision: 'high', wgmmaTileN: 128 }, { impl: 'wgmma', precision: 'high', wgmmaTileN: 256 });
  let cublas = false;
  try {
    loadCublasLt();
    cublas = true;
  } catch {
    // absent: the kernels are still swept
  }
  if (cublas && !isInt(dtype)) out.push({ impl: 'cublas' }, ...(dtype === 'float32' ? [{ impl: 'cublas' as const, precision: 'high' as const }] : []));
  return out;
}

/** kiln.matmul with a variant's options, its tile width set in KILN_WGMMA_TILE_N for the call (read when the op is enqueued). */
function matmulVariant(a: kiln.Tensor, b: kiln.Tensor, { wgmmaTileN, ...options }: Variant): kiln.Tensor {
  if (wgmmaTileN === undefined) return kiln.matmul(a, b, options);
  process.env.KILN_WGMMA_TILE_N = String(wgmmaTileN);
  try {
    return kiln.matmul(a, b, options);
  } finally {
    delete process.env.KILN_WGMMA_TILE_N;
  }
}

function tol(dtype: DType, o: MatmulOptions, scale: R.NdArray): CompareOptions {
  if (isInt(dtype)) return { rtol: 0, atol: 0 };
  const t = tolFor(dtype === 'float32' && o.precision === 'high' ? 'tf32' : dtype);
  return { ...t, scale: scale.data };
}

forEachBackend('matmul sweep', (device) => {
  for (const dtype of DTYPES)
    it(`${dtype}: sizes 1..4099, batched, transposed and strided, each kernel`, async () => {
      const r = rngFor(testName());
      const cases = new Cases();
      const gen = isInt(dtype) ? (q: typeof r) => q.int(-50, 50) : (q: typeof r) => q.uniform(-1, 1);
      for (const options of variants(device, dtype))
        for (const [ba, bb, M, K, N] of SHAPES)
          for (const [la, lb] of LAYOUTS) {
            const label = `${JSON.stringify(options)} ${dtype} [${[...ba, M, K]}] ${la} @ [${[...bb, K, N]}] ${lb}`;
            await cases.run(label, async () => {
              const a = makeInput(r, device, dtype, [...ba, M, K], la, gen), b = makeInput(r, device, dtype, [...bb, K, N], lb, gen);
              const { y, scale } = R.matmul(a.ref, b.ref);
              await expectTensor(matmulVariant(a.t, b.t, options), y, dtype, tol(dtype, options, scale));
              a.t.dispose();
              b.t.dispose();
            });
          }
      cases.done();
    }, 120_000);

  // tf32 operands must be rounded to nearest, not truncated: wgmma's .tf32 form truncates the low 13
  // bits itself (PTX ISA), which fails the tf32 tolerance above for small K; the wgmma path relies on
  // its TMA (CU_TENSOR_MAP_DATA_TYPE_TFLOAT32) rounding on the copy, as mma.sync relies on cvt.rna.
  // Each output is one product v * 1 (exact), so the stored value is the operand as the tensor core
  // saw it. Both operands, each read in place (A row-major, B transposed) and packed (A transposed,
  // B row-major: wgmma has no MN-major tf32). No value is a tie, so nearest-even and nearest-away agree.
  if (device.startsWith('cuda'))
    it("float32 at precision 'high': tf32 operands rounded to nearest on mma and wgmma; wgmma refuses 'highest'", async () => {
      const sm = kiln.devices().find((d) => d.id === device)?.details.sm;
      const u = 2 ** -10; // tf32's ulp at 1
      const v = [1 + 0.75 * u, 1 + 0.25 * u, 1 + 1.75 * u, -(1 + 0.75 * u)];
      const nearest = [1 + u, 1, 1 + 2 * u, -(1 + u)], truncated = [1, 1, 1 + u, -1];
      const K = 8; // float32 rows of 32 bytes: TMA reads them in place
      const cases = new Cases();
      for (const impl of ['mma', ...(sm === '90' ? ['wgmma' as const] : [])] as const)
        for (const side of ['a', 'b'] as const)
          for (const layout of ['contiguous', 'transposed'] as const)
            await cases.run(`${impl} ${side} ${layout}`, async () => {
              // A [4, K]: row i = (side a ? v[i] : 1, 0, ...); B [K, 4]: row 0 = (side b ? v : 1), then 0.
              const a = new Float64Array(4 * K), b = new Float64Array(K * 4);
              for (let i = 0; i < 4; ++i) (a[i * K] = side === 'a' ? v[i] : 1), (b[i] = side === 'b' ? v[i] : 1);
              const make = (data: Float64Array, rows: number, cols: number, t: boolean) => {
                if (!t) return kiln.tensor(data, { shape: [rows, cols], dtype: 'float32', device });
                const tr = new Float64Array(rows * cols);
                for (let r = 0; r < rows; ++r) for (let c = 0; c < cols; ++c) tr[c * rows + r] = data[r * cols + c];
                return kiln.tensor(tr, { shape: [cols, rows], dtype: 'float32', device }).transpose();
              };
              const ta = make(a, 4, K, side === 'a' && layout === 'transposed'), tb = make(b, K, 4, side === 'b' && layout === 'transposed');
              const y = Array.from((await kiln.matmul(ta, tb, { impl, precision: 'high' }).data()) as Float32Array);
              const want = Array.from({ length: 16 }, (_, e) => nearest[side === 'a' ? Math.floor(e / 4) : e % 4]);
              const trunc = Array.from({ length: 16 }, (_, e) => truncated[side === 'a' ? Math.floor(e / 4) : e % 4]);
              if (y.every((x, e) => x === trunc[e])) throw new Error(`operands truncated to tf32, not rounded: ${y.slice(0, 4)}`);
              expect(y).toEqual(want);
            });
      cases.done();
      const a = kiln.ones([4, K], { device }), b = kiln.ones([K, 4], { device });
      for (const precision of [undefined, 'highest'] as const) {
        const e = expectError(() => kiln.matmul(a, b, { impl: 'wgmma', ...(precision ? { precision } : {}) }), 'E_UNSUPPORTED');
        expect(e.message).toContain("precision 'high'");
        expect(e.message).toContain('no float32');
      }
      a.dispose();
      b.dispose();
    });
});
