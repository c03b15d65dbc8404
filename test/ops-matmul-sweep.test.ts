// The matmul sweep every backend runs (and a GPU host runs on cuda with each kernel): sizes from 1
// to 4099 on every axis (skinny, so the float64 reference stays cheap), batched with broadcast
// batch dims, transposed and strided operands, every dtype, outputs poisoned first (helpers/
// backends.ts turns poisoning on). On cuda each kernel is forced in turn: simt, mma (float16,
// bfloat16, and float32 at precision 'high' = tf32), cublas when cuBLASLt loads, and 'auto'.
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType, MatmulOptions } from '../src/index.js';
import { loadCublasLt } from '../src/backends/cublas.js';
import { forEachBackend } from './helpers/backends.js';
import { Cases, expectTensor, tolFor, type CompareOptions } from './helpers/compare.js';
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
  // box of the last tile, the second box wholly past N, K tails); transposed, the B^T path.
  [[], [], 129, 200, 136],
  [[3], [3], 65, 72, 192],
];
const LAYOUTS: [Layout, Layout][] = [
  ['contiguous', 'contiguous'],
  ['transposed', 'transposed'],
  ['strided', 'offset'],
  ['offset', 'transposed'],
];

/** The kernels a device can be asked for, per dtype. */
function variants(device: string, dtype: DType): MatmulOptions[] {
  if (!device.startsWith('cuda')) return [{}];
  const out: MatmulOptions[] = [{}, { impl: 'simt' }];
  if (dtype === 'float16' || dtype === 'bfloat16') out.push({ impl: 'mma' });
  const sm = kiln.devices().find((d) => d.id === device)?.details.sm;
  if ((dtype === 'float16' || dtype === 'bfloat16') && sm === '90') out.push({ impl: 'wgmma' });
  if (dtype === 'float32') out.push({ precision: 'high' }, { impl: 'mma', precision: 'high' });
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
              await expectTensor(kiln.matmul(a.t, b.t, options), y, dtype, tol(dtype, options, scale));
              a.t.dispose();
              b.t.dispose();
            });
          }
      cases.done();
    }, 120_000);
});
