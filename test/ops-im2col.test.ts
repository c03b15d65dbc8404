// Im2Col (the patch matrix behind Conv and pooling) against a float64 reference: 1-D to 3-D
// windows with strides, dilations, padding values, odd sizes, every dtype and strided inputs; and
// the ONNX engine's composed fallback for devices without the native op.
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { runOp } from '../src/ops/run.js';
import { im2colComposed } from '../src/onnx/ops/conv.js';
import { forEachBackend } from './helpers/backends.js';
import { Cases, expectError, expectTensor } from './helpers/compare.js';
import { ALL_DTYPES, makeInput } from './helpers/inputs.js';
import { rngFor } from './helpers/random.js';
import { NdArray, forEachIndex, roundTo } from './helpers/reference.js';

const testName = () => expect.getState().currentTestName ?? 'test';

interface Win {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  out: number[];
}

function reference(x: NdArray, w: Win, value: number): NdArray {
  const d = w.kernel.length;
  const shape = [x.shape[0], x.shape[1], ...w.kernel, ...w.out];
  const y = new NdArray(shape);
  forEachIndex(shape, (idx, i) => {
    const at = idx.slice(2 + d).map((o, j) => o * w.strides[j] - w.pads[j] + idx[2 + j] * w.dilations[j]);
    const inside = at.every((a, j) => a >= 0 && a < x.shape[2 + j]);
    y.data[i] = inside ? x.at([idx[0], idx[1], ...at]) : value;
  });
  return y;
}

const CASES: { name: string; x: number[]; w: Omit<Win, 'out'> & { endPad?: number[] } }[] = [
  { name: '1-D stride 2', x: [2, 3, 11], w: { kernel: [3], strides: [2], dilations: [1], pads: [1] } },
  { name: '2-D 3x3 pad 1', x: [1, 4, 7, 9], w: { kernel: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1] } },
  { name: '2-D dilated, strided, asymmetric', x: [2, 2, 10, 8], w: { kernel: [2, 3], strides: [3, 2], dilations: [2, 1], pads: [0, 2], endPad: [1, 3] } },
  { name: '3-D', x: [1, 2, 5, 4, 6], w: { kernel: [2, 2, 3], strides: [1, 2, 1], dilations: [1, 1, 2], pads: [1, 0, 1] } },
  { name: 'window larger than the input', x: [1, 1, 2, 2], w: { kernel: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [2, 2] } },
];

forEachBackend('Im2Col', (device) => {
  it('matches the float64 reference for every dtype, layout and window', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    for (const c of CASES)
      for (const dtype of ALL_DTYPES)
        for (const layout of ['contiguous', 'strided'] as const)
          await cases.run(`${c.name} ${dtype} ${layout}`, async () => {
            const { t, ref } = makeInput(r, device, dtype, c.x, layout);
            const end = c.w.endPad ?? c.w.pads;
            const out = c.x.slice(2).map((n, j) => Math.floor((n + c.w.pads[j] + end[j] - c.w.dilations[j] * (c.w.kernel[j] - 1) - 1) / c.w.strides[j]) + 1);
            const w = { ...c.w, out };
            const value = dtype === 'bool' ? 1 : dtype === 'uint8' ? 7 : roundTo(dtype, -3.5);
            const want = reference(ref, w, value);
            const [y] = runOp('Im2Col', [t], [{ shape: [c.x[0], c.x[1], ...w.kernel, ...out], dtype }], { kernel: w.kernel, strides: w.strides, dilations: w.dilations, pads: w.pads, value });
            await expectTensor(y, want, dtype, { rtol: 0, atol: 0 });
            // the ONNX engine's path for devices without Im2Col: Pad, a strided view, one copy
            const composed = im2colComposed(t, { ...w, begin: w.pads }, value);
            await expectTensor(composed, want, dtype, { rtol: 0, atol: 0 });
            y.dispose();
            composed.dispose();
            t.dispose();
          });
    cases.done();
  });

  it('rejects bad attributes and shapes with stable codes', () => {
    const x = kiln.zeros([1, 1, 4, 4], { device });
    const run = (attrs: Record<string, number | number[]>, shape = [1, 1, 2, 2, 3, 3]) => () => runOp('Im2Col', [x], [{ shape, dtype: 'float32' }], { kernel: [2, 2], strides: [1, 1], dilations: [1, 1], pads: [0, 0], ...attrs });
    expectError(run({ kernel: [2] }), 'E_ARGUMENT');
    expectError(run({ strides: [0, 1] }), 'E_ARGUMENT');
    expectError(run({ pads: [-1, 0] }), 'E_ARGUMENT');
    expectError(run({}, [1, 1, 3, 3, 3, 3]), 'E_SHAPE');
    expectError(() => runOp('Im2Col', [kiln.zeros([4], { device })], [{ shape: [4], dtype: 'float32' }], { kernel: [1], strides: [1], dilations: [1], pads: [0] }), 'E_SHAPE');
    x.dispose();
  });
});
