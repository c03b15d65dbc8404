// The CPU's Conv (direct, and Winograd F(2x2, 3x3)) and its MaxPool / AveragePool (kernels/cpu/conv.cc,
// pool.cc) against float64 references: 1-D and 2-D, strides, dilations, asymmetric and over-wide
// padding, groups (depthwise too), bias and the fused ReLU, strided input views, every tile edge;
// the weights it keeps prepared between calls; each vector ISA set (KILN_CPU_ISA) in a child
// process; and their errors. Other backends run Conv and pooling through
// the ONNX engine's composed path, which the ONNX conformance suite covers on every device.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { runInto, runOp } from '../src/ops/run.js';
import { writeBytes } from '../src/distributed/tensor-io.js';
import { cpuIsaSets } from './helpers/backends.js';
import { Cases, expectError, expectTensor, readValues } from './helpers/compare.js';
import { FLOAT_DTYPES, makeInput, type Layout } from './helpers/inputs.js';
import { rngFor } from './helpers/random.js';
import { NdArray, forEachIndex, roundTo } from './helpers/reference.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const testName = () => expect.getState().currentTestName ?? 'test';

interface ConvCase {
  name: string;
  x: number[];  // [N, C, (H,) W]
  m: number;
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];     // begin
  padEnd: number[];
  group: number;
  bias: boolean;
  relu: boolean;
}

const conv = (c: Partial<ConvCase> & Pick<ConvCase, 'name' | 'x' | 'm' | 'kernel'>): ConvCase => {
  const d = c.kernel.length;
  const pads = c.pads ?? Array(d).fill(0);
  return { strides: Array(d).fill(1), dilations: Array(d).fill(1), pads, padEnd: c.padEnd ?? pads, group: 1, bias: true, relu: false, ...c };
};

const CONV_CASES: ConvCase[] = [
  conv({ name: '3x3 pad 1, odd sizes', x: [1, 3, 9, 37], m: 5, kernel: [3, 3], pads: [1, 1] }),
  conv({ name: 'many channels, tile tails (M 29, Wo 70)', x: [1, 16, 5, 70], m: 29, kernel: [3, 3], pads: [1, 1], relu: true }),
  conv({ name: 'strided, dilated, asymmetric end pads', x: [2, 4, 11, 23], m: 6, kernel: [2, 3], strides: [2, 3], dilations: [1, 2], pads: [0, 2], padEnd: [1, 4] }),
  conv({ name: 'groups', x: [1, 6, 6, 19], m: 9, kernel: [3, 1], group: 3, pads: [1, 0], relu: true }),
  conv({ name: 'depthwise', x: [1, 5, 7, 8], m: 5, kernel: [3, 3], group: 5, dilations: [2, 2], pads: [2, 2] }),
  conv({ name: '1-D, no bias', x: [3, 4, 50], m: 7, kernel: [5], strides: [2], pads: [2], bias: false }),
  conv({ name: '1x1', x: [1, 8, 4, 33], m: 17, kernel: [1, 1], bias: false, relu: true }),
  conv({ name: 'kernel wider than the input', x: [1, 2, 2, 3], m: 3, kernel: [3, 5], pads: [2, 3] }),
  conv({ name: 'narrow output (one vector)', x: [1, 3, 4, 7], m: 4, kernel: [3, 3], pads: [1, 1] }),
];

const outSize = (n: number, k: number, s: number, dil: number, p: number, e: number) => Math.floor((n + p + e - dil * (k - 1) - 1) / s) + 1;

function convReference(x: NdArray, w: NdArray, b: NdArray | undefined, c: ConvCase): { y: NdArray; scale: NdArray } {
  const d = c.kernel.length, [N, C] = x.shape, M = c.m, Cg = C / c.group, Mg = M / c.group;
  const out = c.kernel.map((k, i) => outSize(x.shape[2 + i], k, c.strides[i], c.dilations[i], c.pads[i], c.padEnd[i]));
  const y = new NdArray([N, M, ...out]), scale = new NdArray([N, M, ...out]);
  forEachIndex(y.shape, (idx, i) => {
    const [n, m] = idx, g = Math.floor(m / Mg);
    let s = b ? b.data[m] : 0, a = Math.abs(s);
    forEachIndex([Cg, ...c.kernel], (t) => {
      const at = t.slice(1).map((j, q) => idx[2 + q] * c.strides[q] - c.pads[q] + j * c.dilations[q]);
      if (at.some((v, q) => v < 0 || v >= x.shape[2 + q])) return;
      const v = x.at([n, g * Cg + t[0], ...at]) * w.at([m, ...t]);
      s += v, a += Math.abs(v);
    });
    y.data[i] = c.relu ? Math.max(0, s) : s;
    scale.data[i] = a;
  });
  void N, void d;
  return { y, scale };
}

describe('Conv (cpu)', () => {
  it('matches the float64 reference for every geometry and input layout', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    for (const c of CONV_CASES)
      for (const layout of ['contiguous', 'strided', 'offset'] as Layout[])
        await cases.run(`${c.name} ${layout}`, async () => {
          const { t: x, ref: xr } = makeInput(r, 'cpu', 'float32', c.x, layout);
          const { t: w, ref: wr } = makeInput(r, 'cpu', 'float32', [c.m, c.x[1] / c.group, ...c.kernel], layout === 'offset' ? 'transposed' : 'contiguous');
          const { t: b, ref: br } = makeInput(r, 'cpu', 'float32', [c.m], 'contiguous');
          const { y: want, scale } = convReference(xr, wr, c.bias ? br : undefined, c);
          const [y] = runOp('Conv', c.bias ? [x, w, b] : [x, w], [{ shape: want.shape, dtype: 'float32' }],
            { strides: c.strides, dilations: c.dilations, pads: c.pads, group: c.group, activation: c.relu ? 'relu' : 'none' });
          await expectTensor(y, want, 'float32', { scale: scale.data, label: c.name });
        });
    cases.done();
  });

  it('fuses a max pool whose windows tile the output (floor mode), after the ReLU', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    for (const [c, pool] of [
      [conv({ name: '3x3 pad 1, 2x2 pool', x: [2, 5, 10, 37], m: 17, kernel: [3, 3], pads: [1, 1], relu: true }), [2, 2]],
      [conv({ name: 'strided, 3x2 pool over odd sizes', x: [1, 3, 13, 29], m: 6, kernel: [2, 2], strides: [1, 2], group: 1 }), [3, 2]],
      [conv({ name: '1-D, pool 4', x: [2, 4, 41], m: 5, kernel: [3], pads: [1], relu: true }), [4]],
    ] as [ConvCase, number[]][])
      await cases.run(c.name, async () => {
        const { t: x, ref: xr } = makeInput(r, 'cpu', 'float32', c.x, 'contiguous');
        const { t: w, ref: wr } = makeInput(r, 'cpu', 'float32', [c.m, c.x[1] / c.group, ...c.kernel], 'contiguous');
        const { t: b, ref: br } = makeInput(r, 'cpu', 'float32', [c.m], 'contiguous');
        const { y: full } = convReference(xr, wr, br, c);
        const win: PoolCase = { name: '', x: full.shape as number[], kernel: pool, strides: pool, dilations: pool.map(() => 1), pads: pool.map(() => 0), padEnd: pool.map(() => 0) };
        const want = poolReference(full, win, 'max', false);
        const [y] = runOp('Conv', [x, w, b], [{ shape: want.shape, dtype: 'float32' }],
          { strides: c.strides, dilations: c.dilations, pads: c.pads, group: c.group, activation: c.relu ? 'relu' : 'none', pool });
        await expectTensor(y, want, 'float32', { rtol: 1e-5, atol: 1e-5, label: c.name });
      });
    cases.done();
  });

  it('propagates NaN through the ReLU and the fused pool, as Relu and MaxPool do', async () => {
    const xs = new Float32Array(2 * 6 * 40).fill(0.5);
    xs[3 * 40 + 17] = NaN;  // channel 0, row 3, column 17
    const x = kiln.tensor(xs, { shape: [1, 2, 6, 40] }), w = kiln.ones([3, 2, 3, 3]);
    for (const pool of [undefined, [2, 2]]) {
      const [y] = runOp('Conv', [x, w], [{ shape: pool ? [1, 3, 3, 20] : [1, 3, 6, 40], dtype: 'float32' }],
        { strides: [1, 1], dilations: [1, 1], pads: [1, 1], group: 1, activation: 'relu', ...(pool ? { pool } : {}) });
      const got = await y.data(), [H, W] = y.shape.slice(2);
      for (let m = 0; m < 3; ++m)
        for (let i = 0; i < H; ++i)
          for (let j = 0; j < W; ++j) {
            // the conv outputs within one row/column of the NaN are NaN; pooling covers 2x2 of them
            const near = pool ? [0, 1].some((r) => [0, 1].some((s) => Math.abs(2 * i + r - 3) <= 1 && Math.abs(2 * j + s - 17) <= 1)) : Math.abs(i - 3) <= 1 && Math.abs(j - 17) <= 1;
            expect(Number.isNaN(got[(m * H + i) * W + j]), `${pool ? 'pooled' : 'conv'} [${m}, ${i}, ${j}]`).toBe(near);
          }
      y.dispose();
    }
  });

  it("computes 3x3 stride-1 convolutions by Winograd F(2x2, 3x3) ('auto' or 'winograd') as exactly as the direct path", async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    const WINO: [ConvCase, number[] | undefined][] = [
      [conv({ name: 'odd sizes, pad 1 (tile and vector tails)', x: [2, 5, 11, 37], m: 7, kernel: [3, 3], pads: [1, 1] }), undefined],
      [conv({ name: 'many channels, ReLU (auto picks it)', x: [1, 24, 9, 40], m: 30, kernel: [3, 3], pads: [1, 1], relu: true }), undefined],
      [conv({ name: 'no padding, no bias', x: [1, 3, 8, 19], m: 17, kernel: [3, 3], bias: false }), undefined],
      [conv({ name: 'asymmetric and wide pads', x: [1, 4, 6, 9], m: 3, kernel: [3, 3], pads: [2, 0], padEnd: [0, 3] }), undefined],
      [conv({ name: 'one output row and column', x: [1, 2, 3, 3], m: 4, kernel: [3, 3] }), undefined],
      [conv({ name: '2x2 pool, odd conv size (floor)', x: [2, 16, 13, 35], m: 20, kernel: [3, 3], pads: [1, 1], relu: true }), [2, 2]],
    ];
    for (const [c, pool] of WINO)
      for (const layout of ['contiguous', 'strided', 'offset'] as Layout[])
        await cases.run(`${c.name} ${layout}`, async () => {
          const { t: x, ref: xr } = makeInput(r, 'cpu', 'float32', c.x, layout);
          const { t: w, ref: wr } = makeInput(r, 'cpu', 'float32', [c.m, c.x[1], 3, 3], layout === 'offset' ? 'transposed' : 'contiguous');
          const { t: b, ref: br } = makeInput(r, 'cpu', 'float32', [c.m], 'contiguous');
          let { y: want, scale } = convReference(xr, wr, c.bias ? br : undefined, c);
          if (pool) {
            const win: PoolCase = { name: '', x: want.shape as number[], kernel: pool, strides: pool, dilations: [1, 1], pads: [0, 0], padEnd: [0, 0] };
            want = poolReference(want, win, 'max', false), scale = poolReference(scale, win, 'max', false);
          }
          for (const algorithm of ['winograd', 'direct', 'auto']) {
            const [y] = runOp('Conv', c.bias ? [x, w, b] : [x, w], [{ shape: want.shape, dtype: 'float32' }],
              { strides: [1, 1], dilations: [1, 1], pads: c.pads, group: 1, activation: c.relu ? 'relu' : 'none', algorithm, ...(pool ? { pool } : {}) });
            await expectTensor(y, want, 'float32', { scale: scale.data, label: `${c.name} (${algorithm})` });
          }
        });
    cases.done();
  });

  it('keeps prepared weights only while W is unchanged: a rewrite by a kernel or an upload is seen', async () => {
    const r = rngFor(testName());
    for (const algorithm of ['direct', 'winograd']) {
      const c = conv({ name: algorithm, x: [1, 16, 6, 21], m: 18, kernel: [3, 3], pads: [1, 1] });
      const { t: x, ref: xr } = makeInput(r, 'cpu', 'float32', c.x, 'contiguous');
      const { t: w, ref: wr } = makeInput(r, 'cpu', 'float32', [c.m, 16, 3, 3], 'contiguous');
      const run = () => runOp('Conv', [x, w], [{ shape: [1, 18, 6, 21], dtype: 'float32' }], { strides: [1, 1], dilations: [1, 1], pads: [1, 1], group: 1, activation: 'none', algorithm })[0];
      const check = async (wRef: NdArray, label: string) => {
        const { y: want, scale } = convReference(xr, wRef, undefined, { ...c, bias: false });
        for (let i = 0; i < 3; ++i) await expectTensor(run(), want, 'float32', { scale: scale.data, label: `${algorithm}: ${label}, call ${i + 1}` });
      };
      await check(wr, 'as uploaded');  // the second and third calls use the kept copy
      const two = kiln.full(w.shape, 2);
      runInto('Mul', [w, two], [w]);  // W as a kernel's output, in place
      await check(new NdArray(wr.shape, wr.data.map((v) => v * 2)), 'doubled in place');
      const fresh = Float32Array.from({ length: wr.data.length }, (_, i) => Math.sin(i));
      writeBytes(w, new Uint8Array(fresh.buffer), 'test');  // W uploaded over
      await check(new NdArray(wr.shape, Float64Array.from(fresh)), 'written over');
      const half = w.slice(0, 0, 9);  // another view of the same buffer: its own key
      const [yh] = runOp('Conv', [x, half], [{ shape: [1, 9, 6, 21], dtype: 'float32' }], { strides: [1, 1], dilations: [1, 1], pads: [1, 1], group: 1, activation: 'none', algorithm });
      const { y: wantHalf, scale: sHalf } = convReference(xr, new NdArray([9, 16, 3, 3], Float64Array.from(fresh.subarray(0, 9 * 144))), undefined, { ...c, m: 9, bias: false });
      await expectTensor(yh, wantHalf, 'float32', { scale: sHalf.data, label: `${algorithm}: a slice of W` });
    }
  });

  it('rejects bad operands and attributes with stable codes', () => {
    const x = kiln.zeros([1, 4, 5, 5]), w = kiln.zeros([6, 2, 3, 3]), b = kiln.zeros([6]);
    const attrs = { strides: [1, 1], dilations: [1, 1], pads: [1, 1], group: 2, activation: 'none' };
    const run = (ins: kiln.Tensor[], a: Record<string, unknown> = {}, shape = [1, 6, 5, 5], dtype: kiln.DType = 'float32') =>
      () => runOp('Conv', ins, [{ shape, dtype }], { ...attrs, ...a } as never);
    run([x, w, b])();
    expectError(run([x, w, b], { group: 3 }), 'E_SHAPE');
    expectError(run([x, w, kiln.zeros([5])]), 'E_SHAPE');
    expectError(run([x, w, b], {}, [1, 5, 5, 5]), 'E_SHAPE');
    expectError(run([x, w, b], { strides: [1] }), 'E_ARGUMENT');
    expectError(run([x, w, b], { strides: [0, 1] }), 'E_ARGUMENT');
    expectError(run([x, w, b], { pads: [-1, 0] }), 'E_ARGUMENT');
    expectError(run([x, w, b], { activation: 'gelu' }), 'E_ARGUMENT');
    expectError(run([x, w, b], { algorithm: 'fft' }), 'E_ARGUMENT');
    expectError(run([x, w, b], { algorithm: 'winograd' }), 'E_ARGUMENT');  // two groups
    expectError(run([x, kiln.zeros([6, 4, 3, 3]), b], { group: 1, strides: [2, 2], algorithm: 'winograd' }, [1, 6, 3, 3]), 'E_ARGUMENT');
    expectError(run([x, w, b], { pool: [2] }, [1, 6, 2, 2]), 'E_ARGUMENT');
    expectError(run([x, w, b], { pool: [0, 2] }, [1, 6, 2, 2]), 'E_ARGUMENT');
    expectError(run([x.cast('float16'), w, b], {}, [1, 6, 5, 5], 'float16'), 'E_DTYPE');
    expectError(run([kiln.zeros([1, 4, 2, 2, 2]), kiln.zeros([6, 2, 1, 1, 1])], {}, [1, 6, 2, 2, 2]), 'E_SHAPE');
  });

  it('a stride whose row panel no host can hold is E_OOM at the call, and leaves nothing for the next sync point', async () => {
    // The panel grows with the stride (conv.cc, DirectSizes): 2^40 asks for petabytes. conv_check
    // sizes it at enqueue; it used to fail on the workers, rejecting Y and then the next kiln.sync()
    // as well (pads of 2^31 did the same: cpu/webgpu fuzz seed 5491).
    const x = kiln.ones([1, 1, 4, 4]), w = kiln.ones([1, 1, 1, 1]);
    const huge = () => runOp('Conv', [x, w], [{ shape: [1, 1, 4, 1], dtype: 'float32' }], { strides: [1, 2 ** 40], dilations: [1, 1], pads: [0, 0], group: 1 });
    expectError(huge, 'E_OOM', /Conv scratch: cannot allocate \d+ bytes/);
    await kiln.sync();
    const [ok] = runOp('Conv', [x, w], [{ shape: [1, 1, 4, 1], dtype: 'float32' }], { strides: [1, 4], dilations: [1, 1], pads: [0, 0], group: 1 });
    expect(Array.from(await readValues(ok))).toEqual([1, 1, 1, 1]);
  });
});

interface PoolCase {
  name: string;
  x: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  padEnd: number[];
  /** Extra reach at the end (ceil_mode): windows may extend past padEnd. */
  extra?: number[];
}

const POOL_CASES: PoolCase[] = [
  { name: '2x2 stride 2', x: [2, 3, 8, 10], kernel: [2, 2], strides: [2, 2], dilations: [1, 1], pads: [0, 0], padEnd: [0, 0] },
  { name: '3x3 stride 1 pad 1', x: [1, 2, 5, 9], kernel: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1], padEnd: [1, 1] },
  { name: 'dilated, asymmetric pads, ceil reach', x: [1, 2, 9, 11], kernel: [2, 3], strides: [2, 2], dilations: [2, 1], pads: [1, 0], padEnd: [0, 2], extra: [1, 1] },
  { name: '1-D', x: [2, 3, 17], kernel: [4], strides: [3], dilations: [1], pads: [2], padEnd: [1] },
  { name: '3-D', x: [1, 2, 4, 5, 6], kernel: [2, 2, 3], strides: [1, 2, 2], dilations: [1, 1, 1], pads: [1, 0, 1], padEnd: [0, 1, 1] },
  // windows far wider than X and far apart: each output walks its own taps (pool.cc's sparse path)
  { name: 'wide windows far apart', x: [1, 2, 3, 4], kernel: [3, 50], strides: [1, 40], dilations: [1, 1], pads: [1, 45], padEnd: [1, 45] },
  { name: 'wide dilated windows', x: [2, 1, 5], kernel: [30], strides: [33], dilations: [3], pads: [80], padEnd: [80] },
];

function poolReference(x: NdArray, c: PoolCase, kind: 'max' | 'avg', includePad: boolean): NdArray {
  const d = c.kernel.length;
  const out = c.kernel.map((k, i) => outSize(x.shape[2 + i], k, c.strides[i], c.dilations[i], c.pads[i], c.padEnd[i] + (c.extra?.[i] ?? 0)));
  const y = new NdArray([x.shape[0], x.shape[1], ...out]);
  forEachIndex(y.shape, (idx, i) => {
    let acc = kind === 'max' ? -Infinity : 0, count = 0;
    forEachIndex(c.kernel, (t) => {
      const at = t.map((j, q) => idx[2 + q] * c.strides[q] - c.pads[q] + j * c.dilations[q]);
      const inside = at.every((v, q) => v >= 0 && v < x.shape[2 + q]);
      const inPadded = at.every((v, q) => v >= -c.pads[q] && v < x.shape[2 + q] + c.padEnd[q]);
      if (includePad ? inPadded : inside) count++;
      if (!inside) return;
      const v = x.at([idx[0], idx[1], ...at]);
      acc = kind === 'max' ? (Number.isNaN(acc) || Number.isNaN(v) ? NaN : Math.max(acc, v)) : acc + v;
    });
    y.data[i] = kind === 'max' ? acc : acc / count;
  });
  void d;
  return y;
}

describe('MaxPool and AveragePool (cpu)', () => {
  it('match the float64 reference for every window, dtype and layout, NaN included', async () => {
    const r = rngFor(testName());
    const cases = new Cases();
    for (const c of POOL_CASES)
      for (const dtype of FLOAT_DTYPES)
        for (const layout of ['contiguous', 'strided'] as Layout[])
          for (const [op, kind, include] of [['MaxPool', 'max', false], ['AveragePool', 'avg', false], ['AveragePool', 'avg', true]] as const)
            await cases.run(`${op}${include ? ' count_include_pad' : ''} ${c.name} ${dtype} ${layout}`, async () => {
              const { t, ref } = makeInput(r, 'cpu', dtype, c.x, layout, (g) => (g.next() < 0.03 ? NaN : roundTo(dtype, g.next() * 8 - 4)));
              const want = poolReference(ref, c, kind, include);
              const attrs = { kernel: c.kernel, strides: c.strides, dilations: c.dilations, pads: c.pads, ...(kind === 'avg' ? { pads_end: c.padEnd, count_include_pad: include ? 1 : 0 } : {}) };
              const [y] = runOp(op, [t], [{ shape: want.shape, dtype }], attrs);
              await expectTensor(y, want, dtype);
            });
    cases.done();
  });

  it('a window 2^40 wide over 3 elements costs only the taps inside X', async () => {
    const x = kiln.tensor([[[5, -1, 2]]]);
    const big = 2 ** 40;
    const attrs = { kernel: [big], strides: [big], dilations: [1], pads: [big - 1], pads_end: [big - 1] };
    // output 0 reads x[0] alone (its last tap), output 1 reads x[1] and x[2] (its first two)
    expect(Array.from(await readValues(runOp('MaxPool', [x], [{ shape: [1, 1, 2], dtype: 'float32' }], attrs)[0]))).toEqual([5, 2]);
    expect(Array.from(await readValues(runOp('AveragePool', [x], [{ shape: [1, 1, 2], dtype: 'float32' }], attrs)[0]))).toEqual([5, 0.5]);
    const counted = await readValues(runOp('AveragePool', [x], [{ shape: [1, 1, 2], dtype: 'float32' }], { ...attrs, count_include_pad: 1 })[0]);
    expect(Array.from(counted)).toEqual([5 / big, 1 / big]); // every tap lies in the padded range
    expectError(() => runOp('MaxPool', [x], [{ shape: [1, 1, 2], dtype: 'float32' }], { ...attrs, strides: [2 ** 62] }), 'E_ARGUMENT');
  });

  it('reject bad attributes and shapes with stable codes', () => {
    const x = kiln.zeros([1, 1, 4, 4]);
    const run = (op: string, a: Record<string, unknown>, shape = [1, 1, 2, 2], dtype: kiln.DType = 'float32', input = x) =>
      () => runOp(op, [input], [{ shape, dtype }], { kernel: [2, 2], strides: [2, 2], dilations: [1, 1], pads: [0, 0], pads_end: [0, 0], ...a } as never);
    run('MaxPool', {})();
    run('AveragePool', {})();
    expectError(run('MaxPool', { kernel: [2] }), 'E_ARGUMENT');
    expectError(run('MaxPool', { strides: [0, 2] }), 'E_ARGUMENT');
    expectError(run('AveragePool', { pads_end: [-1, 0] }), 'E_ARGUMENT');
    expectError(run('MaxPool', {}, [1, 2, 2, 2]), 'E_SHAPE');
    expectError(run('MaxPool', {}, [1, 1, 2, 2], 'int32', kiln.zeros([1, 1, 4, 4], { dtype: 'int32' })), 'E_DTYPE');
    expectError(run('MaxPool', {}, [4], 'float32', kiln.zeros([4])), 'E_SHAPE');
  });
});

describe('KILN_TRACE', () => {
  it('prints one line per CPU kernel with its run time and queue latency', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'test/fixtures/cpu-isa.mjs'), join(ROOT, 'dist/src/index.js')], {
      encoding: 'utf8', env: { ...process.env, KILN_TRACE: '1' }, timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('kiln trace: '));
    const ops = lines.map((l) => l.split(' ')[2]);
    expect(ops.filter((o) => o === 'Conv').length).toBe(5);  // cpu-isa.mjs: 3 direct, 2 Winograd
    expect(ops).toContain('MatMul');
    for (const l of lines) expect(l).toMatch(/^kiln trace: \w+ \d+\.\d us \((queued|inline on the JS thread, launched) \d+\.\d us, queue idle \d+\.\d us before\)$/);
  });
});

describe('CPU vector ISA sets', () => {
  for (const isa of cpuIsaSets())
    it(`KILN_CPU_ISA=${isa} runs Conv (direct and Winograd, pooled too) and MatMul correctly`, () => {
      const r = spawnSync(process.execPath, [join(ROOT, 'test/fixtures/cpu-isa.mjs'), join(ROOT, 'dist/src/index.js')], {
        encoding: 'utf8', env: { ...process.env, KILN_CPU_ISA: isa }, timeout: 60_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(out.isa).toBe(isa);
      expect(out.cases).toBe(6);
      expect(out.worst).toBeLessThan(1e-5);
    });
});
