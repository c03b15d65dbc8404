// ONNX ops of the Kiln engine against onnxruntime: TopK (on the native TopK op), NonZero, Unique and
// NonMaxSuppression (read on the host), ReverseSequence, LRN and the window functions (composed),
// and cases the comparison fuzz found in older ops. Each model runs on every device with the
// Kiln engine and is compared with onnxruntime (the ort engine): exactly, or for LRN within float
// rounding; and with a reference written here where the two rules differ (NaN, -0). Bad models are
// KilnErrors naming what was wrong.
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType } from '../src/index.js';
import { GraphBuilder, float, hostTensor } from '../src/onnx/builder.js';
import { resolveDevice } from '../src/backends/backend.js';
import { canScatterSlices } from '../src/ops/scatter.js';
import { forEachBackend } from './helpers/backends.js';
import { expectRejection, expectValues } from './helpers/compare.js';
import { rngFor } from './helpers/random.js';
import * as R from './helpers/reference.js';

type Feed = { name: string; dtype: DType; shape: number[]; values: number[] };
type Model = { bytes: Uint8Array; feeds: Feed[]; outputs: number; rtol?: number; atol?: number };

/** A model over `feeds` whose outputs have `types`: by default the first feed's dtype, then int64 (TopK, Unique). */
const model = (opset: number, build: (g: GraphBuilder) => string[], feeds: Feed[], types?: DType[]): Model => {
  const g = new GraphBuilder('t');
  for (const f of feeds) g.input(f.name, f.dtype, f.shape);
  const outs = build(g);
  outs.forEach((o, i) => g.output(o, types?.[i] ?? (i === 0 ? feeds[0].dtype : 'int64')));
  return { bytes: g.toBytes({ opset }), feeds, outputs: outs.length };
};

type Outputs = { shape: number[]; values: number[] }[];

/** One run of session `s` on m's feeds, made on device `on`: every output's shape and values. */
async function runOnce(s: kiln.onnx.InferenceSession, m: Model, on: string): Promise<Outputs> {
  const feeds = Object.fromEntries(m.feeds.map((f) => [f.name, kiln.tensor(f.values, { dtype: f.dtype, shape: f.shape, device: on })]));
  const out = Object.values(await s.run(feeds));
  const res = await Promise.all(out.map(async (t) => ({ shape: [...t.shape], values: Array.from(await t.data(), Number) })));
  for (const t of [...out, ...Object.values(feeds)]) t.dispose();
  return res;
}

/** `runs` runs of m in one session of `engine` (the second and later replay on the cpu). */
async function runs(m: Model, engine: 'kiln' | 'ort', device: string, count: number): Promise<Outputs[]> {
  const s = await kiln.onnx.load(m.bytes, engine === 'ort' ? { engine } : { engine, device });
  try {
    const all: Outputs[] = [];
    for (let i = 0; i < count; ++i) all.push(await runOnce(s, m, engine === 'ort' ? 'cpu' : device));
    return all;
  } finally {
    await s.dispose();
  }
}

const run = async (m: Model, engine: 'kiln' | 'ort', device: string): Promise<Outputs> => (await runs(m, engine, device, 1))[0];

const same = (a: { shape: number[]; values: number[] }[], b: { shape: number[]; values: number[] }[], rtol = 0, atol = 0) => {
  expect(a.map((o) => o.shape)).toEqual(b.map((o) => o.shape));
  a.forEach((o, i) => {
    if (rtol || atol) expectValues(o.values, b[i].values, { rtol, atol });
    else expect(o.values.map((v) => (Object.is(v, -0) ? 0 : v))).toEqual(b[i].values.map((v) => (Object.is(v, -0) ? 0 : v)));
  });
};

/** onnxruntime's outputs for `cases`, run once before the tests of the enclosing block. */
function ortOutputsOf(cases: readonly [string, Model][]): Map<string, { shape: number[]; values: number[] }[]> {
  const want = new Map<string, { shape: number[]; values: number[] }[]>();
  beforeAll(async () => {
    for (const [name, m] of cases) want.set(name, await run(m, 'ort', 'cpu'));
  });
  return want;
}

/** Runs every model with the Kiln engine on `device` and compares it with onnxruntime's outputs in `want`. */
async function agreeWithOrt(cases: readonly [string, Model][], want: ReadonlyMap<string, { shape: number[]; values: number[] }[]>, device: string): Promise<void> {
  for (const [name, m] of cases) {
    const got = await run(m, 'kiln', device);
    expect(got.length, name).toBe(m.outputs);
    try {
      same(got, want.get(name)!, m.rtol, m.atol);
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
  }
}

const r = rngFor('onnx ordering');
const ties = (n: number) => Array.from({ length: n }, () => r.int(-3, 3) / 2);
const topkModel = (opset: number, x: Feed, k: number, attrs: Record<string, number> = {}) =>
  model(opset, (g) => g.nodeOutputs('TopK', opset < 10 ? ['x'] : ['x', g.ints([k])], opset < 10 ? { ...attrs, k } : attrs, { outputs: 2 }), [x]);

const lrnModel = (shape: number[], attrs: Parameters<GraphBuilder['node']>[2]): Model => ({
  ...model(13, (g) => [g.node('LRN', ['x'], attrs)], [{ name: 'x', dtype: 'float32', shape, values: Array.from({ length: R.numel(shape) }, () => r.uniform(-3, 3)) }]),
  rtol: 1e-5,
});

/** Boxes in [0, 10) that overlap a lot (corner pairs in either order, or centers and sizes), distinct scores. */
function nmsModel(batches: number, classes: number, n: number, o: { centered?: boolean; max?: number; iou?: number; score?: number }): Model {
  const boxes: number[] = [];
  for (let i = 0; i < batches * n; ++i) {
    const [a, b, w, h] = [r.uniform(0, 8), r.uniform(0, 8), r.uniform(0.5, 3), r.uniform(0.5, 3)];
    boxes.push(...(o.centered ? [a, b, w, h] : r.next() < 0.5 ? [a, b, a + h, b + w] : [a + h, b + w, a, b]));
  }
  const scores = [...Array(batches * classes * n).keys()].map((i) => (i * 7919) % 1009 / 1009).map((v) => Math.fround(v));
  return model(11, (g) => {
    const scalar = (name: string, v?: number) => (v === undefined ? '' : g.constant(name, hostTensor('float32', [1], [v])));
    const ins = ['boxes', 'scores', o.max === undefined ? '' : g.ints([o.max]), scalar('iou', o.iou), scalar('score', o.score)];
    while (ins[ins.length - 1] === '') ins.pop(); // trailing optional inputs omitted
    return [g.node('NonMaxSuppression', ins, o.centered ? { center_point_box: 1 } : {})];
  }, [
    { name: 'boxes', dtype: 'float32', shape: [batches, n, 4], values: boxes },
    { name: 'scores', dtype: 'float32', shape: [batches, classes, n], values: scores },
  ], ['int64']);
}

/** A window op of a constant size; its output dtype by output_datatype (1 float32, 10 float16, 6 int32). */
const windowModel = (op: string, size: number, attrs: Record<string, number>, dtype: DType = 'float32'): Model => ({
  ...model(17, (g) => [g.node(op, [g.constant('size', hostTensor('int64', [], [size]))], attrs)], [], [dtype]),
  // onnxruntime computes in float32: Blackman's w[0] = 0.42 - 0.5 + 0.08 is 1.5e-8 there, -1.4e-17 in float64
  rtol: 1e-6,
  atol: 1e-7,
});

// Models both engines run, and must agree on (exactly unless the model gives rtol).
const AGREED: [string, Model][] = [
  ['TopK opset 11, last axis, ties', topkModel(11, { name: 'x', dtype: 'float32', shape: [4, 9], values: ties(36) }, 4)],
  ['TopK opset 11, smallest along axis 0', topkModel(11, { name: 'x', dtype: 'float32', shape: [6, 5], values: ties(30) }, 3, { axis: 0, largest: 0 })],
  ['TopK opset 10 (floats only), negative axis', topkModel(10, { name: 'x', dtype: 'float32', shape: [3, 7, 2], values: ties(42) }, 7, { axis: -2 })],
  ['TopK opset 11, int64', topkModel(11, { name: 'x', dtype: 'int64', shape: [3, 7, 2], values: Array.from({ length: 42 }, () => r.int(-5, 5)) }, 7, { axis: -2 })],
  ['TopK opset 1 (k attribute)', topkModel(1, { name: 'x', dtype: 'float32', shape: [2, 12], values: ties(24) }, 5)],
  ['TopK opset 11, int32 smallest', topkModel(11, { name: 'x', dtype: 'int32', shape: [2, 12], values: Array.from({ length: 24 }, () => r.int(-4, 4)) }, 5, { largest: 0 })],
  ['TopK k = 0', topkModel(11, { name: 'x', dtype: 'float32', shape: [3, 4], values: ties(12) }, 0)],
  ['NonZero float32 2-D', model(13, (g) => [g.node('NonZero', ['x'])], [{ name: 'x', dtype: 'float32', shape: [3, 4], values: [0, 1, 0, 2, 0, 0, 0, 0, 3, 0, -1, 0.5] }], ['int64'])],
  ['NonZero int64 3-D, all zero', model(13, (g) => [g.node('NonZero', ['x'])], [{ name: 'x', dtype: 'int64', shape: [2, 2, 2], values: [0, 0, 0, 0, 0, 0, 0, 0] }], ['int64'])],
  ['NonZero bool 1-D', model(13, (g) => [g.node('NonZero', ['x'])], [{ name: 'x', dtype: 'bool', shape: [5], values: [1, 0, 1, 1, 0] }], ['int64'])],
  ['Unique sorted, no axis', model(11, (g) => g.nodeOutputs('Unique', ['x'], {}, { outputs: 4 }), [{ name: 'x', dtype: 'float32', shape: [2, 5], values: [2, 1, 1, 3, 4, 3, 2, 5, 1, 0] }])],
  ['Unique unsorted, no axis', model(11, (g) => g.nodeOutputs('Unique', ['x'], { sorted: 0 }, { outputs: 4 }), [{ name: 'x', dtype: 'int64', shape: [8], values: [7, -2, 7, 0, -2, 9, 0, 7] }])],
  ['Unique sorted slices along axis 1', model(11, (g) => g.nodeOutputs('Unique', ['x'], { axis: 1 }, { outputs: 4 }), [{ name: 'x', dtype: 'float32', shape: [2, 5], values: [1, 0, 1, 2, 0, 3, 4, 3, 1, 4] }])],
  ['ReverseSequence time-major', model(10, (g) => [g.node('ReverseSequence', ['x', g.ints([4, 0, 1, 2])], { time_axis: 0, batch_axis: 1 })], [{ name: 'x', dtype: 'float32', shape: [4, 4, 2], values: ties(32) }])],
  ['ReverseSequence batch-major', model(10, (g) => [g.node('ReverseSequence', ['x', 'lens'], { time_axis: 1, batch_axis: 0 })], [
    { name: 'x', dtype: 'int64', shape: [3, 5], values: [...Array(15).keys()] },
    { name: 'lens', dtype: 'int64', shape: [3], values: [5, 3, 1] },
  ])],
  ['LRN size 3', lrnModel([2, 5, 3, 3], { size: 3 })],
  ['LRN size 5, bias and beta', lrnModel([1, 6, 2, 2], { size: 5, alpha: 0.02, beta: 0.5, bias: float(2) })],
  ['LRN size past C', lrnModel([2, 3, 7, 1], { size: 7, alpha: 0.3 })],
  ['NonMaxSuppression corners, 2 batches x 3 classes x 40 boxes', nmsModel(2, 3, 40, { max: 10, iou: 0.3 })],
  ['NonMaxSuppression centers, score threshold', nmsModel(1, 2, 60, { centered: true, max: 100, iou: 0.5, score: 0.4 })],
  ['NonMaxSuppression iou 0 (any overlap suppresses), max past n', nmsModel(1, 1, 30, { max: 1000, iou: 0 })],
  ['NonMaxSuppression no limit given: no output', nmsModel(1, 1, 10, {})],
  ['NonMaxSuppression a negative limit: no output', nmsModel(2, 1, 10, { max: -3, iou: 0.5 })],
  ['HannWindow periodic, 10', windowModel('HannWindow', 10, {})],
  ['HannWindow symmetric, 7', windowModel('HannWindow', 7, { periodic: 0 })],
  ['HammingWindow periodic, 16, float16', windowModel('HammingWindow', 16, { output_datatype: 10 }, 'float16')],
  ['HammingWindow symmetric, 2', windowModel('HammingWindow', 2, { periodic: 0 })],
  ['BlackmanWindow periodic, 1', windowModel('BlackmanWindow', 1, {})],
  ['BlackmanWindow symmetric, 33', windowModel('BlackmanWindow', 33, { periodic: 0 })],
  ['HannWindow symmetric, 1', windowModel('HannWindow', 1, { periodic: 0 })],
  // a NaN extrapolation_value must not spread to the samples inside the image (fuzz seed 798)
  ['Resize tf_crop_and_resize, extrapolation_value NaN', {
    ...model(19, (g) => [g.node('Resize', ['x', g.constant('roi', hostTensor('float32', [8], [0, 0, 0.4, 0.6, 1, 1, 1.2, 1.7])), '', g.ints([1, 1, 3, 3])],
      { coordinate_transformation_mode: 'tf_crop_and_resize', mode: 'linear', extrapolation_value: float(NaN) })],
    [{ name: 'x', dtype: 'float32', shape: [1, 1, 4, 4], values: [...Array(16).keys()].map((v) => v + 1) }]),
    rtol: 1e-6,
  }],
  // source coordinates in float32, step by step as onnxruntime computes them: 0.4f * 3 + 1 * 0.2f * 3 / 2
  // is a tie (1.5) that rounds down, where float64 arithmetic gave 1.50000004 (fuzz seed 1155)
  ...(['tf_crop_and_resize', 'half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'half_pixel_symmetric'] as const).map((coord) => [
    `Resize nearest ${coord}: ties as onnxruntime's float32 coordinates make them`,
    model(19, (g) => [g.node('Resize', ['x', coord === 'tf_crop_and_resize' ? g.constant('roi', hostTensor('float32', [8], [0, 0, 0.4, 0.6, 1, 1, 0.6, 0.8])) : '', '', g.ints([1, 1, 3, 7])],
      { coordinate_transformation_mode: coord, mode: 'nearest' })],
    [{ name: 'x', dtype: 'float32', shape: [1, 1, 4, 5], values: [...Array(20).keys()].map((v) => v + 1) }]),
  ] as [string, ReturnType<typeof model>]),
  // antialias=1: the linear and cubic filters stretched by 1 / scale when downsampling (odd factors,
  // both axes, exclude_outside, sizes and scales, an upsampled axis that takes the plain filter)
  ...([
    ['linear', { }, [1, 1, 5, 3]],
    ['linear', { coordinate_transformation_mode: 'align_corners' }, [2, 3, 4, 4]],
    ['cubic', { }, [1, 1, 6, 5]],
    ['cubic', { exclude_outside: 1 }, [1, 2, 3, 9]],
    ['cubic', { cubic_coeff_a: float(-0.5), coordinate_transformation_mode: 'pytorch_half_pixel' }, [2, 1, 4, 7]],
  ] as const).map(([mode, attrs, sizes]) => [
    `Resize ${mode} antialias ${JSON.stringify(attrs)} 13x17 -> ${sizes.slice(2).join('x')}`,
    {
      ...model(18, (g) => [g.node('Resize', ['x', '', '', g.ints([...sizes])], { mode, antialias: 1, ...attrs })],
        [{ name: 'x', dtype: 'float32', shape: [sizes[0], sizes[1], 13, 17], values: Array.from({ length: sizes[0] * sizes[1] * 13 * 17 }, () => r.uniform(-4, 4)) }]),
      rtol: 1e-5,
      atol: 1e-5,
    },
  ] as [string, Model]),
  // windows past 16 taps (1 / scale past 8 for linear, 4 for cubic) run as one MatMul with the weights
  ...([['linear', [1, 1, 2, 3]], ['cubic', [1, 2, 1, 9]]] as const).map(([mode, sizes]) => [
    `Resize ${mode} antialias, a wide window: 40x300 -> ${sizes.slice(2).join('x')}`,
    {
      ...model(18, (g) => [g.node('Resize', ['x', '', '', g.ints([...sizes])], { mode, antialias: 1 })],
        [{ name: 'x', dtype: 'float32', shape: [sizes[0], sizes[1], 40, 300], values: Array.from({ length: sizes[0] * sizes[1] * 12000 }, () => r.uniform(-4, 4)) }]),
      rtol: 1e-5,
      atol: 1e-5,
    },
  ] as [string, Model]),
  // integer inputs interpolate in float32, then linear truncates back and antialias rounds, as
  // onnxruntime does; the two compute their weights differently in the last float32 bit, so a value
  // within that of a whole number (linear) or of a half (antialias; onnxruntime's uint8 antialias is
  // fixed point) may land 1 apart (seed 12: an align_corners weight of exactly 1/3)
  ...([['uint8', { mode: 'linear' }, [1, 1, 7, 5]], ['int32', { mode: 'linear', coordinate_transformation_mode: 'align_corners' }, [1, 1, 9, 4]], ['uint8', { mode: 'linear', antialias: 1 }, [1, 1, 5, 3]]] as const).map(([dtype, attrs, sizes]) => [
    `Resize ${dtype} ${JSON.stringify(attrs)} 6x8 -> ${sizes.slice(2).join('x')}`,
    {
      ...model(18, (g) => [g.node('Resize', ['x', '', '', g.ints([...sizes])], attrs)], [{ name: 'x', dtype, shape: [1, 1, 6, 8], values: Array.from({ length: 48 }, () => r.int(0, 255)) }]),
      atol: 1,
    },
  ] as [string, Model]),
  ['Resize linear antialias by scales 0.3 x 1.5', {
    ...model(18, (g) => [g.node('Resize', ['x', '', g.constant('scales', hostTensor('float32', [4], [1, 1, 0.3, 1.5]))], { mode: 'linear', antialias: 1 })],
      [{ name: 'x', dtype: 'float32', shape: [1, 2, 20, 6], values: Array.from({ length: 240 }, () => r.uniform(-4, 4)) }]),
    rtol: 1e-5,
    atol: 1e-5,
  }],
  // training_mode (opset 14+): normalized with the batch's own mean and population variance over
  // every dim but 1, and the running statistics updated by momentum
  ...([[[2, 3, 4, 5], {}], [[7, 4], { momentum: float(0.5), epsilon: float(1e-3) }], [[3, 2, 1], { momentum: float(0) }]] as const).map(([shape, attrs]) => {
    const C = shape[1], n = (shape as readonly number[]).reduce((a, b) => a * b, 1);
    const f = (name: string, values: number[]) => ({ name, dtype: 'float32' as const, shape: name === 'x' ? [...shape] : [C], values });
    return [
      `BatchNormalization training_mode [${shape}] ${JSON.stringify(attrs)}`,
      {
        ...model(15, (g) => g.nodeOutputs('BatchNormalization', ['x', 's', 'b', 'm', 'v'], { training_mode: 1, ...attrs }, { outputs: 3 }), [
          f('x', Array.from({ length: n }, () => r.uniform(-3, 5))), f('s', Array.from({ length: C }, () => r.uniform(0.5, 2))),
          f('b', Array.from({ length: C }, () => r.uniform(-1, 1))), f('m', Array.from({ length: C }, () => r.uniform(-1, 1))),
          f('v', Array.from({ length: C }, () => r.uniform(0.5, 2))),
        ], ['float32', 'float32', 'float32']),
        rtol: 1e-5,
        atol: 1e-5,
      },
    ] as [string, Model];
  }),
  // uint8 quantized products: int32 accumulation, per-column zero points and scales of B, requantized
  // with rounding half to even and saturation (exactly as onnxruntime)
  ...([[[3, 70], [70, 4], 'scalar'], [[2, 3, 33], [33, 5], 'per column']] as const).map(([aShape, bShape, kind]) => {
    const N = bShape[1], u8 = (name: string, shape: readonly number[]): Feed => ({ name, dtype: 'uint8', shape: [...shape], values: Array.from({ length: R.numel([...shape]) }, () => r.int(0, 255)) });
    const zpB = kind === 'scalar' ? u8('bzp', []) : u8('bzp', [N]);
    return [
      `MatMulInteger uint8 ${JSON.stringify(aShape)} x ${JSON.stringify(bShape)}, B's zero point ${kind}`,
      model(10, (g) => [g.node('MatMulInteger', ['a', 'b', 'azp', 'bzp'])], [u8('a', aShape), u8('b', bShape), u8('azp', []), zpB], ['int32']),
    ] as [string, Model];
  }),
  ...([[[4, 70], [70, 6], 13, 'float32'], [[2, 3, 40], [40, 5], 21, 'float16']] as const).map(([aShape, bShape, opset, scaleType]) => {
    const N = bShape[1], u8 = (name: string, shape: readonly number[]): Feed => ({ name, dtype: 'uint8', shape: [...shape], values: Array.from({ length: R.numel([...shape]) }, () => r.int(0, 255)) });
    const f = (name: string, shape: number[], lo: number, hi: number): Feed => ({ name, dtype: scaleType, shape, values: Array.from({ length: R.numel(shape) }, () => R.roundTo(scaleType, r.uniform(lo, hi))) });
    return [
      `QLinearMatMul uint8 ${JSON.stringify(aShape)} x ${JSON.stringify(bShape)}, ${scaleType} scales, B's per column (opset ${opset})`,
      model(opset, (g) => [g.node('QLinearMatMul', ['a', 'as', 'azp', 'b', 'bs', 'bzp', 'ys', 'yzp'])],
        [u8('a', aShape), f('as', [], 0.005, 0.02), u8('azp', []), u8('b', bShape), f('bs', [N], 0.005, 0.02), u8('bzp', [N]), f('ys', [], 0.05, 0.2), u8('yzp', [])], ['uint8']),
    ] as [string, Model];
  }),
  // ties (acc * 0.5 = k + 0.5) round to even, and the result saturates at both ends
  ['QLinearMatMul uint8: ties to even, saturation', model(10, (g) => [g.node('QLinearMatMul', ['a', 'as', 'azp', 'b', 'bs', 'bzp', 'ys', 'yzp'])], [
    { name: 'a', dtype: 'uint8', shape: [2, 2], values: [1, 0, 200, 200] },
    { name: 'as', dtype: 'float32', shape: [], values: [0.5] },
    { name: 'azp', dtype: 'uint8', shape: [], values: [0] },
    { name: 'b', dtype: 'uint8', shape: [2, 5], values: [1, 3, 5, 7, 0, 0, 0, 0, 0, 0] },
    { name: 'bs', dtype: 'float32', shape: [], values: [1] },
    { name: 'bzp', dtype: 'uint8', shape: [], values: [0] },
    { name: 'ys', dtype: 'float32', shape: [], values: [1] },
    { name: 'yzp', dtype: 'uint8', shape: [], values: [10] },
  ], ['uint8'])],
  // mel filter banks: onnxruntime's float64 arithmetic and ONNX's num_mel_bins + 2 steps
  ...([[8, 16, 8192, 0, 4096, 1], [40, 512, 16000, 20, 7600, 1], [13, 400, 16000, 125, 7000, 1], [10, 64, 8000, 300, 3000, 6]] as const).map(([bins, dft, rate, lo, hi, out]) => [
    `MelWeightMatrix ${bins} bins, dft ${dft}, ${rate} Hz, ${lo}-${hi} Hz${out === 6 ? ', int32' : ''}`,
    {
      ...model(17, (g) => [g.node('MelWeightMatrix', ['n', 'd', 'r', 'lo', 'hi'], out === 1 ? {} : { output_datatype: out })], [
        { name: 'n', dtype: 'int64', shape: [], values: [bins] }, { name: 'd', dtype: 'int64', shape: [], values: [dft] }, { name: 'r', dtype: 'int64', shape: [], values: [rate] },
        { name: 'lo', dtype: 'float32', shape: [], values: [lo] }, { name: 'hi', dtype: 'float32', shape: [], values: [hi] },
      ], [out === 6 ? 'int32' : 'float32']),
      rtol: 1e-6,
    },
  ] as [string, Model]),
  ['Det of a batch of 6x6 matrices', {
    ...model(22, (g) => [g.node('Det', ['x'])], [{ name: 'x', dtype: 'float32', shape: [2, 3, 6, 6], values: Array.from({ length: 216 }, () => r.uniform(-2, 2)) }]),
    rtol: 1e-4,
    atol: 1e-5,
  }],
  ['Unique unsorted slices along axis -1 (3-D)', model(11, (g) => g.nodeOutputs('Unique', ['x'], { axis: -1, sorted: 0 }, { outputs: 4 }), [{ name: 'x', dtype: 'int64', shape: [2, 1, 4], values: [5, 1, 5, 1, 2, 0, 2, 0] }])],
  // GatherElements gathers at flat positions: a long axis (the one-hot form it replaced was O(n) per
  // element), negative indices, indices smaller than data outside the axis, int32 indices, bool data
  ...([
    ['float32 along a long middle axis, negatives, smaller outside it', 'float32', [3, 500, 4], 'int64', [2, 700, 3], 1],
    ['int64 along the last axis, int32 indices', 'int64', [4, 6, 37], 'int32', [4, 5, 9], -1],
    ['bool along axis 0', 'bool', [9, 5], 'int64', [12, 5], 0],
  ] as [string, DType, number[], DType, number[], number][]).map(([what, dt, shape, it, ishape, axis]) => {
    const n = shape[axis < 0 ? axis + shape.length : axis];
    return [`GatherElements ${what}`, model(13, (g) => [g.node('GatherElements', ['x', 'i'], { axis })], [
      { name: 'x', dtype: dt, shape, values: Array.from({ length: R.numel(shape) }, () => (dt === 'bool' ? r.int(0, 1) : dt === 'int64' ? r.int(-1000, 1000) : r.uniform(-5, 5))) },
      { name: 'i', dtype: it, shape: ishape, values: Array.from({ length: R.numel(ishape) }, () => r.int(-n, n - 1)) },
    ])] as [string, Model];
  }),
  // MaxUnpool of MaxPool's values and indices: zeros with each maximum back at its place
  ...([
    ['2-D, output_shape given (odd sizes: the last row and column have no window)', [2, 3, 7, 9], [2, 2], [2, 2], true],
    ['1-D, overlapping windows (equal indices), the default output shape', [1, 2, 11], [3], [2], false],
  ] as [string, number[], number[], number[], boolean][]).map(([what, shape, kernel, strides, withShape]) => [`MaxUnpool ${what}`, model(11, (g) => {
    const [y, i] = g.nodeOutputs('MaxPool', ['x'], { kernel_shape: kernel, strides }, { outputs: 2 });
    return [g.node('MaxUnpool', withShape ? [y, i, g.ints(shape)] : [y, i], { kernel_shape: kernel, strides })];
  }, [{ name: 'x', dtype: 'float32', shape, values: Array.from({ length: R.numel(shape) }, () => r.int(-40, 40) / 4) }])] as [string, Model]),
  // TensorScatter (the KV-cache update of opset 24): linear, circular (wrapping), without write_indices
  ...([
    ['linear at per-batch write indices', [2, 3, 8, 4], [2, 3, 3, 4], -2, 'linear', [2, 5]],
    ['circular, wrapping past the end', [2, 3, 8, 4], [2, 3, 3, 4], -2, 'circular', [6, 15]],
    ['without write_indices, along axis 1, float16', [2, 6, 5], [2, 4, 5], 1, 'linear', undefined],
  ] as [string, number[], number[], number, string, number[] | undefined][]).map(([what, shape, ushape, axis, mode, w]) => {
    const dt: DType = what.includes('float16') ? 'float16' : 'float32';
    return [`TensorScatter ${what}`, model(24, (g) => [g.node('TensorScatter', w ? ['c', 'u', 'w'] : ['c', 'u'], { axis, mode })], [
      { name: 'c', dtype: dt, shape, values: Array.from({ length: R.numel(shape) }, () => r.int(-40, 40) / 4) },
      { name: 'u', dtype: dt, shape: ushape, values: Array.from({ length: R.numel(ushape) }, () => r.int(-40, 40) / 4) },
      ...(w ? [{ name: 'w', dtype: 'int64' as DType, shape: [w.length], values: w }] : []),
    ])] as [string, Model];
  }),
  // ScatterND and ScatterElements without a reduction scatter natively (ScatterSlices) on cpu and
  // webgpu: duplicates included, where onnxruntime's loop lets the last update win, as Kiln does
  ...([
    ['float32 slices of a [40, 16, 8] table, duplicates and negatives', 'float32', [40, 16, 8], [30, 1]],
    ['int64 rows of a [6, 5, 4] table by pairs', 'int64', [6, 5, 4], [7, 2]],
    ['bool elements', 'bool', [10], [4, 1]],
    ['float16 elements of a 3-D table', 'float16', [3, 4, 5], [9, 3]],
  ] as [string, DType, number[], number[]][]).map(([what, dt, shape, ishape]) => {
    const kk = ishape[ishape.length - 1], ushape = [...ishape.slice(0, -1), ...shape.slice(kk)];
    const vals = (n: number) => Array.from({ length: n }, () => (dt === 'bool' ? r.int(0, 1) : dt === 'int64' ? r.int(-1000, 1000) : r.int(-60, 60) / 4));
    return [`ScatterND ${what}`, model(16, (g) => [g.node('ScatterND', ['x', 'i', 'u'])], [
      { name: 'x', dtype: dt, shape, values: vals(R.numel(shape)) },
      { name: 'i', dtype: 'int64', shape: ishape, values: Array.from({ length: R.numel(ishape) }, (_, j) => r.int(-shape[j % kk], shape[j % kk] - 1)) },
      { name: 'u', dtype: dt, shape: ushape, values: vals(R.numel(ushape)) },
    ])] as [string, Model];
  }),
  ...([
    ['float32 along a long last axis, duplicates', 'float32', [5, 300], [4, 50], 1],
    ['float16 along axis 0, indices smaller outside it', 'float16', [30, 3], [40, 2], 0],
    ['int32 along a middle axis, negatives', 'int32', [3, 20, 4], [3, 25, 4], -2],
  ] as [string, DType, number[], number[], number][]).map(([what, dt, shape, ishape, axis]) => {
    const n = shape[axis < 0 ? axis + shape.length : axis];
    const vals = (m: number) => Array.from({ length: m }, () => (dt === 'int32' ? r.int(-1000, 1000) : r.int(-60, 60) / 4));
    return [`ScatterElements ${what}`, model(16, (g) => [g.node('ScatterElements', ['x', 'i', 'u'], { axis })], [
      { name: 'x', dtype: dt, shape, values: vals(R.numel(shape)) },
      { name: 'i', dtype: 'int64', shape: ishape, values: Array.from({ length: R.numel(ishape) }, () => r.int(-n, n - 1)) },
      { name: 'u', dtype: dt, shape: ishape, values: vals(R.numel(ishape)) },
    ])] as [string, Model];
  }),
];

const ortResults = ortOutputsOf(AGREED);

forEachBackend('onnx TopK, NonZero, Unique', (device) => {
  it('agree with onnxruntime exactly', async () => {
    await agreeWithOrt(AGREED, ortResults, device);
  });

  it('the scatters (and MaxUnpool, TensorScatter) agree with onnxruntime composed too, as on a backend without ScatterSlices (cuda)', async () => {
    kiln.debug.nativeScatter = false;
    try {
      await agreeWithOrt(AGREED.filter(([name]) => /^(Scatter|MaxUnpool|TensorScatter)/.test(name)), ortResults, device);
    } finally {
      kiln.debug.nativeScatter = true;
    }
  });

  it('TopK: NaN ranks above +Infinity; float16 along a middle axis', async () => {
    const vals = [1, NaN, -Infinity, Infinity, 0, -1, NaN, 2];
    for (const [largest, dtype] of [[1, 'float32'], [0, 'float16']] as const) {
      const m = topkModel(11, { name: 'x', dtype, shape: [2, 4, 1], values: vals }, 3, { axis: 1, largest });
      const want = R.topk(new R.NdArray([2, 4, 1], vals), 3, 1, largest === 1);
      const [v, i] = await run(m, 'kiln', device);
      expect(v.values).toEqual(Array.from(want.values.data));
      expect(i.values).toEqual(Array.from(want.indices.data));
    }
  });

  it('Resize cubic of uint8 (onnxruntime refuses it): the float32 result truncated, what overshoots saturated', async () => {
    const vals = [0, 255, 0, 255, 255, 0, 255, 0, 0, 0, 255, 255, 7, 99, 180, 250];
    const build = (dtype: DType) => model(18, (g) => [g.node('Resize', ['x', '', '', g.ints([1, 1, 3, 5])], { mode: 'cubic' })], [{ name: 'x', dtype, shape: [1, 1, 4, 4], values: vals }]);
    const [f] = await run(build('float32'), 'kiln', device);
    const [u] = await run(build('uint8'), 'kiln', device);
    expect(f.values.some((v) => v < 0) && f.values.some((v) => v > 255), 'the cubic overshoots both ways').toBe(true);
    expect(u.values).toEqual(f.values.map((v) => Math.min(255, Math.max(0, Math.trunc(v)))));
  });

  it('NonZero of a 0-d input reads it as 1-D; NaN and -0', async () => {
    for (const [x, rows] of [[5, [[0]]], [0, [[]]], [NaN, [[0]]], [-0, [[]]]] as const) {
      const [y] = await run(model(13, (g) => [g.node('NonZero', ['x'])], [{ name: 'x', dtype: 'float32', shape: [], values: [x] }], ['int64']), 'kiln', device);
      expect(y.shape).toEqual([1, rows[0].length]);
    }
  });

  it('LRN with an even size, 3-D (onnxruntime takes odd sizes and 4-D only): the window runs one channel longer after c', async () => {
    const shape = [2, 5, 3], size = 4, alpha = 0.1, beta = 0.75, bias = 1;
    const m = lrnModel(shape, { size, alpha: float(alpha), beta: float(beta), bias: float(bias) });
    const x = m.feeds[0].values, [n, c, w] = shape, want: number[] = [];
    for (let b = 0; b < n; ++b)
      for (let ch = 0; ch < c; ++ch)
        for (let i = 0; i < w; ++i) {
          let sq = 0;
          for (let j = Math.max(0, ch - 1); j <= Math.min(c - 1, ch + 2); ++j) sq += x[(b * c + j) * w + i] ** 2;
          want.push(x[(b * c + ch) * w + i] / (bias + (alpha / size) * sq) ** beta);
        }
    const [y] = await run(m, 'kiln', device);
    expectValues(y.values, want, { rtol: 1e-5, atol: 0 });
  });

  it('MaxUnpool: an index past the output rejects the read (E_INDEX, naming it); bad shapes and attributes are KilnErrors naming them', async () => {
    const m = (ishape: number[], idx: number[], attrs: Record<string, number[]> = { kernel_shape: [2] }, outShape?: number[]) => model(11, (g) => [g.node('MaxUnpool', outShape ? ['x', 'i', g.ints(outShape)] : ['x', 'i'], attrs)], [
      { name: 'x', dtype: 'float32', shape: [1, 1, 2], values: [5, 7] },
      { name: 'i', dtype: 'int64', shape: ishape, values: idx },
    ]);
    expect((await run(m([1, 1, 2], [0, 2]), 'kiln', device))[0]).toEqual({ shape: [1, 1, 3], values: [5, 0, 7] });
    await expectRejection(run(m([1, 1, 2], [0, 3]), 'kiln', device), 'E_INDEX', 'MaxUnpool', 'index 3');
    await expectRejection(run(m([1, 2], [0, 1]), 'kiln', device), 'E_SHAPE', 'Indices int64[1, 2]', 'shape of X');
    await expectRejection(run(m([1, 1, 2], [0, 1], { kernel_shape: [2, 2] }), 'kiln', device), 'E_SHAPE', '4 dims');
    await expectRejection(run(m([1, 1, 2], [0, 1], { kernel_shape: [2] }, [2, 1, 3]), 'kiln', device), 'E_SHAPE', 'output shape [2, 1, 3]');
    // an output_shape may pad the unpooled shape ((2 - 1) * 3 + 2 = 5 here), not cut into it (fuzz seeds 2241, 2246)
    expect((await run(m([1, 1, 2], [0, 4], { kernel_shape: [2], strides: [3] }, [1, 1, 6]), 'kiln', device))[0]).toEqual({ shape: [1, 1, 6], values: [5, 0, 0, 0, 7, 0] });
    await expectRejection(run(m([1, 1, 2], [0, 1], { kernel_shape: [2], strides: [3] }, [1, 1, 4]), 'kiln', device), 'E_SHAPE', 'output_shape [1, 1, 4] is smaller than the unpooled shape [1, 1, 5]');
    await expectRejection(run(m([1, 1, 2], [0, 1], { strides: [1] }), 'kiln', device), 'E_ARGUMENT', 'kernel_shape');
    // composed (a backend without ScatterSlices: cuda for now), a large unpool is refused rather than run at O(values x outputs)
    const big = model(11, (g) => [g.node('MaxUnpool', ['x', 'i'], { kernel_shape: [2, 2], strides: [2, 2] })], [
      { name: 'x', dtype: 'float32', shape: [1, 1, 128, 64], values: Array(8192).fill(1) },
      { name: 'i', dtype: 'int64', shape: [1, 1, 128, 64], values: Array.from({ length: 8192 }, (_, j) => 4 * j) },
    ]);
    kiln.debug.nativeScatter = false;
    try {
      await expectRejection(run(big, 'kiln', device), 'E_UNSUPPORTED', 'MaxUnpool', 'a scatter of 8192 slices into 32768', 'ScatterSlices');
    } finally {
      kiln.debug.nativeScatter = true;
    }
    if (canScatterSlices(kiln.zeros([1], { device }))) expect((await run(big, 'kiln', device))[0].values.filter((v) => v === 1).length).toBe(8192);
  });

  it('TensorScatter: a linear write past the cache rejects the read (E_INDEX); bad axes, shapes and modes are KilnErrors naming them', async () => {
    const m = (o: { ushape?: number[]; axis?: number; mode?: string; w?: number[]; wdtype?: DType } = {}) => {
      const ushape = o.ushape ?? [2, 2, 3];
      return model(24, (g) => [g.node('TensorScatter', ['c', 'u', 'w'], { axis: o.axis ?? 1, mode: o.mode ?? 'linear' })], [
        { name: 'c', dtype: 'float32', shape: [2, 4, 3], values: Array(24).fill(0) },
        { name: 'u', dtype: 'float32', shape: ushape, values: Array(R.numel(ushape)).fill(1) },
        { name: 'w', dtype: o.wdtype ?? 'int64', shape: [(o.w ?? [1, 2]).length], values: o.w ?? [1, 2] },
      ]);
    };
    expect((await run(m(), 'kiln', device))[0].values).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    await expectRejection(run(m({ w: [1, 3] }), 'kiln', device), 'E_INDEX', 'TensorScatter', 'index 4');
    await expectRejection(run(m({ axis: 0 }), 'kiln', device), 'E_ARGUMENT', 'axis 0 is the batch dim');
    await expectRejection(run(m({ ushape: [2, 5, 3] }), 'kiln', device), 'E_SHAPE', 'update float32[2, 5, 3]');
    await expectRejection(run(m({ ushape: [2, 2, 2] }), 'kiln', device), 'E_SHAPE', 'update float32[2, 2, 2]');
    await expectRejection(run(m({ w: [1] }), 'kiln', device), 'E_SHAPE', 'write_indices int64[1]');
    await expectRejection(run(m({ mode: 'ring' }), 'kiln', device), 'E_UNSUPPORTED', "mode 'ring'");
  });

  it("ScatterND's updates must have indices' shape without the last dim, then data's remaining dims (E_SHAPE naming them)", async () => {
    const m = (ushape: number[]) => model(16, (g) => [g.node('ScatterND', ['x', 'i', 'u'])], [
      { name: 'x', dtype: 'float32', shape: [3, 4], values: Array(12).fill(0) },
      { name: 'i', dtype: 'int64', shape: [1, 2], values: [2, 1] },
      { name: 'u', dtype: 'float32', shape: ushape, values: Array(R.numel(ushape)).fill(5) },
    ]);
    await expectRejection(run(m([1, 1]), 'kiln', device), 'E_SHAPE', 'updates float32[1, 1]', 'must have shape [1]');
    // slices of no elements: nothing to write, natively and composed
    for (const nativeScatter of [true, false]) {
      kiln.debug.nativeScatter = nativeScatter;
      try {
        const empty = model(16, (g) => [g.node('ScatterND', ['x', 'i', 'u'])], [
          { name: 'x', dtype: 'float32', shape: [3, 0], values: [] },
          { name: 'i', dtype: 'int64', shape: [2, 1], values: [2, 0] },
          { name: 'u', dtype: 'float32', shape: [2, 0], values: [] },
        ]);
        expect((await run(empty, 'kiln', device))[0]).toEqual({ shape: [3, 0], values: [] });
      } finally {
        kiln.debug.nativeScatter = true;
      }
    }
    await expectRejection(run(m([2]), 'kiln', device), 'E_SHAPE', 'updates float32[2]');
    expect((await run(m([1]), 'kiln', device))[0].values).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0]);
  });

  it('NonMaxSuppression: equal scores go by box index, NaN scores are never selected', async () => {
    // four disjoint boxes, then one overlapping box 0 completely
    const boxes = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 0, 0, 1, 1];
    const m = model(11, (g) => [g.node('NonMaxSuppression', ['b', 's', g.ints([10]), g.constant('iou', hostTensor('float32', [1], [0.5]))])], [
      { name: 'b', dtype: 'float32', shape: [1, 5, 4], values: boxes },
      { name: 's', dtype: 'float32', shape: [1, 1, 5], values: [0.5, NaN, 0.5, 0.9, 0.5] },
    ], ['int64']);
    const [y] = await run(m, 'kiln', device);
    expect(y.shape).toEqual([3, 3]);
    expect(y.values).toEqual([0, 0, 3, 0, 0, 0, 0, 0, 2]); // 3 (0.9), then 0 and 2 (0.5, by index); 4 overlaps 0
  });

  it('Unique: -0 equals 0, NaNs are one value and sort last; an empty input', async () => {
    const m = model(11, (g) => g.nodeOutputs('Unique', ['x'], {}, { outputs: 4 }), [{ name: 'x', dtype: 'float32', shape: [6], values: [NaN, 0, 1, -0, NaN, 1] }]);
    const [y, first, inverse, counts] = await run(m, 'kiln', device);
    expect(y.values.slice(0, 2)).toEqual([0, 1]);
    expect(Number.isNaN(y.values[2])).toBe(true);
    expect(first.values).toEqual([1, 2, 0]);
    expect(inverse.values).toEqual([2, 0, 1, 0, 2, 1]);
    expect(counts.values).toEqual([2, 2, 2]);
    const empty = await run(model(11, (g) => g.nodeOutputs('Unique', ['x'], {}, { outputs: 4 }), [{ name: 'x', dtype: 'float32', shape: [0, 3], values: [] }]), 'kiln', device);
    expect(empty.map((o) => o.shape)).toEqual([[0], [0], [0], [0]]);
  });

  it('bad MatMulInteger and QLinearMatMul zero points and scales are KilnErrors naming them', async () => {
    const u8 = (name: string, shape: number[]): Feed => ({ name, dtype: 'uint8', shape, values: new Array(shape.reduce((p, d) => p * d, 1)).fill(3) });
    const f32 = (name: string, shape: number[]): Feed => ({ name, dtype: 'float32', shape, values: new Array(shape.reduce((p, d) => p * d, 1)).fill(0.1) });
    const mmi = (azp: Feed, bzp: Feed) => model(10, (g) => [g.node('MatMulInteger', ['a', 'b', azp.name, bzp.name])], [u8('a', [2, 3]), u8('b', [3, 4]), azp, bzp], ['int32']);
    // one zero point per row of A: ONNX allows it, onnxruntime refuses it
    await expectRejection(run(mmi(u8('azp', [2]), u8('bzp', [])), 'kiln', device), 'E_UNSUPPORTED', "A's zero point uint8[2]", ': one value is implemented');
    await expectRejection(run(mmi(u8('azp', []), u8('bzp', [3])), 'kiln', device), 'E_UNSUPPORTED', "B's zero point uint8[3]", 'one per column (4)');
    await expectRejection(run(mmi({ ...f32('azp', []), dtype: 'int32', values: [1] }, u8('bzp', [])), 'kiln', device), 'E_DTYPE', "A's zero point int32[]", 'must be uint8');
    const ql = (as: Feed, ys: Feed) => model(10, (g) => [g.node('QLinearMatMul', ['a', 'as', 'azp', 'b', 'bs', 'bzp', 'ys', 'yzp'])], [u8('a', [2, 3]), as, u8('azp', []), u8('b', [3, 4]), f32('bs', [4]), u8('bzp', [4]), ys, u8('yzp', [])], ['uint8']);
    await expectRejection(run(ql(f32('as', [2]), f32('ys', [])), 'kiln', device), 'E_UNSUPPORTED', 'a_scale float32[2]', ': one value is implemented');
    await expectRejection(run(ql(f32('as', []), f32('ys', [4])), 'kiln', device), 'E_UNSUPPORTED', 'y_scale float32[4]');
    await expectRejection(run(ql({ ...u8('as', []) }, f32('ys', [])), 'kiln', device), 'E_DTYPE', 'a_scale uint8[]', 'must be a float tensor');
  });

  // ONNX types them float only, and onnxruntime refuses integers; kiln.rmsNorm and friends promote
  // them (the JS API), which ran a mutated RMSNormalization of an int64 shape (cpu/webgpu fuzz 5875)
  it('integer inputs of the float-only ops (normalizations, LRN, Det) are E_DTYPE naming the input', async () => {
    const i64 = (name: string, shape: number[]): Feed => ({ name, dtype: 'int64', shape, values: new Array(shape.reduce((p, d) => p * d, 1)).fill(3) });
    const f32 = (name: string, shape: number[]): Feed => ({ name, dtype: 'float32', shape, values: new Array(shape.reduce((p, d) => p * d, 1)).fill(0.5) });
    const one = (op: string, opset: number, feeds: Feed[], attrs = {}) => model(opset, (g) => [g.node(op, feeds.map((f) => f.name), attrs)], feeds, [feeds[0].dtype]);
    await expectRejection(run(one('RMSNormalization', 23, [i64('x', [1]), i64('s', [1])]), 'kiln', device), 'E_DTYPE', 'X int64[1]', 'must be a float tensor');
    await expectRejection(run(one('LayerNormalization', 17, [f32('x', [2, 3]), i64('s', [3])]), 'kiln', device), 'E_DTYPE', 'Scale int64[3]');
    await expectRejection(run(one('InstanceNormalization', 6, [i64('x', [1, 2, 3]), f32('s', [2]), f32('b', [2])]), 'kiln', device), 'E_DTYPE', 'input int64[1, 2, 3]');
    await expectRejection(run(one('Det', 11, [i64('x', [2, 2])]), 'kiln', device), 'E_DTYPE', 'X int64[2, 2]');
    await expectRejection(run(one('LRN', 13, [i64('x', [1, 2, 3])], { size: 3 }), 'kiln', device), 'E_DTYPE', 'X int64[1, 2, 3]');
  });

  it('a MelWeightMatrix edge past the DFT bins, edges out of order or a dft_length of 0 is a KilnError naming it; no filters is an empty matrix', async () => {
    const mel = (n: number, d: number, r: number, lo: number, hi: number) => model(17, (g) => [g.node('MelWeightMatrix', ['n', 'd', 'r', 'lo', 'hi'])], [
      { name: 'n', dtype: 'int64', shape: [], values: [n] }, { name: 'd', dtype: 'int64', shape: [], values: [d] }, { name: 'r', dtype: 'int64', shape: [], values: [r] },
      { name: 'lo', dtype: 'float32', shape: [], values: [lo] }, { name: 'hi', dtype: 'float32', shape: [], values: [hi] },
    ], ['float32']);
    // onnxruntime refuses an edge whose bin floor((dft_length + 1) hz / sample_rate) is not a DFT bin
    await expectRejection(run(mel(8, 16, 8192, 0, 8192), 'kiln', device), 'E_ARGUMENT', 'upper_edge_hertz 8192 falls outside the 9 DFT bins');
    await expectRejection(run(mel(8, 16, 8192, -700, 100), 'kiln', device), 'E_ARGUMENT', 'lower_edge_hertz -700');
    await expectRejection(run(mel(8, 16, 8192, 3000, 1000), 'kiln', device), 'E_ARGUMENT', 'upper_edge_hertz 1000 is below lower_edge_hertz 3000');
    await expectRejection(run(mel(8, 0, 8192, 0, 100), 'kiln', device), 'E_ARGUMENT', 'dft_length must be an integer of at least 1, got 0');
    const [empty] = await run(mel(0, 16, 8192, 0, 100), 'kiln', device);
    expect(empty.shape).toEqual([9, 0]); // no filters: onnxruntime gives [9, 0] too
  });

  it('bad TopK, Unique, NonMaxSuppression, ReverseSequence, LRN and window nodes are KilnErrors naming what was wrong', async () => {
    const x: Feed = { name: 'x', dtype: 'float32', shape: [2, 3], values: [1, 2, 3, 4, 5, 6] };
    await expectRejection(run(topkModel(11, x, 4), 'kiln', device), 'E_ARGUMENT', 'k must be an integer in [0, 3]');
    await expectRejection(run(topkModel(11, x, -1), 'kiln', device), 'E_ARGUMENT', 'got -1');
    await expectRejection(run(topkModel(11, x, 1, { axis: 2 }), 'kiln', device), 'E_ARGUMENT', 'axis');
    await expectRejection(run(topkModel(11, x, 1, { largest: 2 }), 'kiln', device), 'E_ARGUMENT', 'largest', 'must be 0 or 1');
    const twoK = model(11, (g) => g.nodeOutputs('TopK', ['x', g.ints([1, 2])], {}, { outputs: 2 }), [x]);
    await expectRejection(run(twoK, 'kiln', device), 'E_SHAPE', 'K must hold one value');
    const matK = model(11, (g) => g.nodeOutputs('TopK', ['x', g.constant('k', hostTensor('int64', [1, 1], [1]))], {}, { outputs: 2 }), [x]);
    await expectRejection(run(matK, 'kiln', device), 'E_SHAPE', 'K', '1-D');
    const b: Feed = { name: 'x', dtype: 'bool', shape: [3], values: [1, 0, 1] };
    await expectRejection(run(topkModel(11, b, 1), 'kiln', device), 'E_DTYPE', 'bool');
    await expectRejection(run(model(11, (g) => g.nodeOutputs('Unique', ['x'], { axis: 2 }, { outputs: 4 }), [x]), 'kiln', device), 'E_ARGUMENT', 'axis');
    const rev = (lens: number[], attrs: Record<string, number> = {}) => model(10, (g) => [g.node('ReverseSequence', ['x', g.ints(lens)], attrs)], [x]);
    await expectRejection(run(rev([1, 1]), 'kiln', device), 'E_SHAPE', 'sequence_lens has 2 values for a batch of 3');
    await expectRejection(run(rev([1, 3, 1]), 'kiln', device), 'E_ARGUMENT', 'sequence length 3 is outside [0, 2]');
    await expectRejection(run(rev([1, 1, 1], { time_axis: 1, batch_axis: 1 }), 'kiln', device), 'E_ARGUMENT', 'time_axis 1 and batch_axis 1');
    await expectRejection(run(model(13, (g) => [g.node('LRN', ['x'], { size: 3 })], [x]), 'kiln', device), 'E_SHAPE', '[N, C, D1, ...]');
    const nms = (boxShape: number[], scoreShape: number[], iou = 0.5) =>
      model(11, (g) => [g.node('NonMaxSuppression', ['b', 's', g.ints([3]), g.constant('iou', hostTensor('float32', [1], [iou]))])], [
        { name: 'b', dtype: 'float32', shape: boxShape, values: new Array(R.numel(boxShape)).fill(1) },
        { name: 's', dtype: 'float32', shape: scoreShape, values: new Array(R.numel(scoreShape)).fill(0.5) },
      ], ['int64']);
    await expectRejection(run(nms([1, 2, 3], [1, 1, 2]), 'kiln', device), 'E_SHAPE', 'boxes must be [num_batches, spatial_dimension, 4]');
    await expectRejection(run(nms([1, 2, 4], [1, 1, 3]), 'kiln', device), 'E_SHAPE', 'scores must be [num_batches, num_classes, spatial_dimension] = [1, C, 2]');
    await expectRejection(run(nms([1, 2, 4], [1, 1, 2], 1.5), 'kiln', device), 'E_ARGUMENT', 'iou_threshold must be in [0, 1], got 1.5');
    await expectRejection(run(windowModel('HannWindow', 0, {}), 'kiln', device), 'E_ARGUMENT', 'size must be a positive integer, got 0');
    // a ConvTranspose needs a spatial dim, as onnxruntime says (fuzz seed 543: a 2-D X ran)
    const convT = model(13, (g) => [g.node('ConvTranspose', ['x', g.constant('w', hostTensor('float32', [3, 1], [1, 1, 1]))])], [x]);
    await expectRejection(run(convT, 'kiln', device), 'E_SHAPE', 'X must be [N, C, spatial...]');
    await expectRejection(run(windowModel('HannWindow', 4, { output_datatype: 11 }), 'kiln', device), 'E_DTYPE', 'output_datatype 11');
    await expectRejection(run(model(13, (g) => [g.node('LRN', ['x'], { size: 0 })], [{ ...x, shape: [1, 2, 3] }]), 'kiln', device), 'E_ARGUMENT', 'size must be a positive integer, got 0');
  });
});

// Loop against onnxruntime: a body with the iteration number, the condition and two loop-carried
// values (a running sum and a vector it rescales), a scan output, and an outer-scope value.
describe('onnx Loop', () => {
  /** sum += i * step (step from the outer scope); vec = vec * 0.5 + sum; scan: sum; cond: sum < limit. */
  const loopModel = (o: { trips?: number; cond?: boolean; limit?: number }) => {
    const body = new GraphBuilder('body');
    const i = body.input('i', 'int64', []), cin = body.input('cond_in', 'bool', []);
    const sum = body.input('sum_in', 'float32', [1]), vec = body.input('vec_in', 'float32', [3]);
    const next = body.node('Add', [sum, body.node('Mul', [body.node('Cast', [i], { to: 1 }), 'step'])], {}, { outputs: ['sum_out'] });
    body.node('Add', [body.node('Mul', [vec, body.floats([1], [0.5])]), next], {}, { outputs: ['vec_out'] });
    body.node('Identity', [next], {}, { outputs: ['scan_out'] });
    body.node('Less', [next, body.floats([1], [o.limit ?? 1e9])], {}, { outputs: ['cond_out'] });
    void cin;
    body.output('cond_out', 'bool', [1]);
    body.output('sum_out', 'float32', [1]);
    body.output('vec_out', 'float32', [3]);
    body.output('scan_out', 'float32', [1]);
    return model(13, (g) => {
      g.constant('step', hostTensor('float32', [1], [1.5]));
      const m = o.trips === undefined ? '' : g.constant('M', hostTensor('int64', [], [o.trips]));
      const c = o.cond === undefined ? '' : g.constant('C', hostTensor('bool', [], [o.cond ? 1 : 0]));
      return g.nodeOutputs('Loop', [m, c, 'sum0', 'vec0'], { body }, { outputs: ['sum', 'vec', 'scan'] });
    }, [
      { name: 'sum0', dtype: 'float32', shape: [1], values: [0.25] },
      { name: 'vec0', dtype: 'float32', shape: [3], values: [1, -2, 4] },
    ], ['float32', 'float32', 'float32']);
  };
  const CASES: [string, Model][] = [
    ['a for loop of 5 (no condition input)', { ...loopModel({ trips: 5 }), rtol: 1e-6 }],
    ['a while loop: until the sum passes 10 (no trip count)', { ...loopModel({ cond: true, limit: 10 }), rtol: 1e-6 }],
    ['both: at most 3 trips while the sum stays under 100', { ...loopModel({ trips: 3, cond: true, limit: 100 }), rtol: 1e-6 }],
    ['a condition false from the start: nothing runs', loopModel({ trips: 4, cond: false })],
  ];
  const want = ortOutputsOf(CASES);
  forEachBackend('onnx Loop', (device) => {
    it('agrees with onnxruntime: for, while and both; zero iterations; leaves nothing behind', async () => {
      const live = kiln.memory().devices[device]?.tensors ?? 0;
      await agreeWithOrt(CASES, want, device);
      // the while loop ran until the sum passed 10: 0.25 + 1.5 * (0 + 1 + 2 + 3) = 9.25, then 15.25
      expect(want.get(CASES[1][0])![2].shape).toEqual([5, 1]);
      expect(kiln.memory().devices[device]?.tensors ?? 0).toBeLessThanOrEqual(live); // iterations' values all freed
    });

    it('a body whose inputs or outputs do not match the loop is a KilnError naming them', async () => {
      const body = new GraphBuilder('body');
      body.input('i', 'int64', []);
      body.input('c', 'bool', []);
      body.output(body.node('Identity', ['c'], {}, { outputs: ['c_out'] }), 'bool');
      const bad = model(13, (g) => g.nodeOutputs('Loop', [g.constant('M', hostTensor('int64', [], [2])), '', 'x'], { body }, { outputs: ['y'] }),
        [{ name: 'x', dtype: 'float32', shape: [1], values: [1] }], ['float32']);
      await expectRejection(run(bad, 'kiln', device), 'E_ARGUMENT', 'the body takes 2 inputs; it needs 2 + 1');
    });
  });
});

// Scan (opset 9+) against onnxruntime: a running sum over the rows of x (the state), a second scan
// input read in reverse, outputs stacked along axis 0 or 1, forward or reversed.
describe('onnx Scan', () => {
  /** state s [3]; per step: s' = s + x_t * y_t; outputs s' and x_t - y_t. */
  const scanModel = (steps: number, attrs: Record<string, number[]>, yRows = steps) => {
    const body = new GraphBuilder('body');
    const s = body.input('s_in', 'float32', [3]), x = body.input('x_t', 'float32', [3]), y = body.input('y_t', 'float32', [3]);
    body.node('Add', [s, body.node('Mul', [x, y])], {}, { outputs: ['s_out'] });
    body.node('Sub', [x, y], {}, { outputs: ['d_out'] });
    body.output('s_out', 'float32', [3]);
    body.output('d_out', 'float32', [3]);
    body.node('Identity', ['s_out'], {}, { outputs: ['e_out'] });
    body.output('e_out', 'float32', [3]);
    const xShape = attrs.scan_input_axes?.[0] === 1 ? [3, steps] : [steps, 3];
    return {
      ...model(11, (g) => g.nodeOutputs('Scan', ['s0', 'x', 'y'], { body, num_scan_inputs: 2, ...attrs }, { outputs: ['s', 'd', 'e'] }), [
        { name: 's0', dtype: 'float32', shape: [3], values: [0.5, -1, 2] },
        { name: 'x', dtype: 'float32', shape: xShape, values: Array.from({ length: 3 * steps }, (_, i) => (i % 7) - 3) },
        { name: 'y', dtype: 'float32', shape: [yRows, 3], values: Array.from({ length: 3 * yRows }, (_, i) => (i % 5) * 0.5) },
      ], ['float32', 'float32', 'float32']),
      rtol: 1e-6,
    };
  };
  /**
   * Opset 8: a batch dim on every input; state s [B, 2], scan inputs x [B, S, 2] and y [B, S, 2]
   * (y read in reverse where directions says 1); per step s' = s + x_t, outputs s' and x_t * y_t.
   */
  const scan8Model = (B: number, S: number, directions: number[], lens?: number[]) => {
    const body = new GraphBuilder('body');
    const s = body.input('s_in', 'float32', [2]), x = body.input('x_t', 'float32', [2]), y = body.input('y_t', 'float32', [2]);
    body.node('Add', [s, x], {}, { outputs: ['s_out'] });
    body.node('Mul', [x, y], {}, { outputs: ['p_out'] });
    body.output('s_out', 'float32', [2]);
    body.output('p_out', 'float32', [2]);
    const feeds: Feed[] = [
      { name: 's0', dtype: 'float32', shape: [B, 2], values: Array.from({ length: 2 * B }, (_, i) => i * 0.5) },
      { name: 'x', dtype: 'float32', shape: [B, S, 2], values: Array.from({ length: 2 * B * S }, (_, i) => (i % 7) - 3) },
      { name: 'y', dtype: 'float32', shape: [B, S, 2], values: Array.from({ length: 2 * B * S }, (_, i) => (i % 5) * 0.5 + 1) },
      ...(lens ? [{ name: 'L', dtype: 'int64' as const, shape: [B], values: lens }] : []),
    ];
    return { ...model(8, (g) => g.nodeOutputs('Scan', [lens ? 'L' : '', 's0', 'x', 'y'], { body, num_scan_inputs: 2, directions }, { outputs: ['s', 'p'] }), feeds, ['float32', 'float32']), rtol: 1e-6 };
  };
  const CASES: [string, Model][] = [
    ['opset 8: a batch of 3, every sequence whole', scan8Model(3, 4, [0, 0])],
    ['opset 8: sequence_lens [2, 4, 1], y read in reverse (within each length); outputs zero past it', scan8Model(3, 4, [0, 1], [2, 4, 1])],
    ['opset 8: sequence_lens [3, 1], x in reverse', scan8Model(2, 3, [1, 0], [3, 1])],
    ['4 steps, every default', scanModel(4, {})],
    ['y read in reverse, x along axis 1', scanModel(5, { scan_input_axes: [1, 0], scan_input_directions: [0, 1] })],
    ['outputs along axis 1, the second reversed', scanModel(3, { scan_output_axes: [1, 0], scan_output_directions: [0, 1] })],
    ['negative axes', scanModel(2, { scan_input_axes: [-2, -2], scan_output_axes: [-1, -2] })],
  ];
  const want = ortOutputsOf(CASES);
  forEachBackend('onnx Scan', (device) => {
    it('agrees with onnxruntime: directions, axes, several scan inputs; leaves nothing behind', async () => {
      const live = kiln.memory().devices[device]?.tensors ?? 0;
      await agreeWithOrt(CASES, want, device);
      expect(kiln.memory().devices[device]?.tensors ?? 0).toBeLessThanOrEqual(live); // no slice or step left alive
    });

    it('zero steps give the initial state and empty stacks; mismatched inputs are KilnErrors', async () => {
      const [s, d] = await run(scanModel(0, {}), 'kiln', device);
      expect(s.values).toEqual([0.5, -1, 2]);
      expect(d.shape).toEqual([0, 3]);
      await expectRejection(run(scanModel(4, {}, 5), 'kiln', device), 'E_SHAPE', 'scan input 1 float32[5, 3]', 'has 5 slices along axis 0; scan input 0 has 4');
      await expectRejection(run(scanModel(2, { scan_input_axes: [0] }), 'kiln', device), 'E_ARGUMENT', 'scan_input_axes has 1 values for 2 scan inputs');
      // opset 8: onnxruntime refuses a length of 0 too ("Invalid entries in sequence_lens")
      await expectRejection(run(scan8Model(2, 3, [0, 0], [0, 3]), 'kiln', device), 'E_ARGUMENT', 'sequence_lens[0] is 0; each must be in [1, 3]');
      await expectRejection(run(scan8Model(2, 3, [0, 0], [3, 4]), 'kiln', device), 'E_ARGUMENT', 'sequence_lens[1] is 4');
      await expectRejection(run(scan8Model(2, 3, [0]), 'kiln', device), 'E_ARGUMENT', 'directions has 1 values for 2 scan inputs');
      const [s8, p8] = await run(scan8Model(0, 3, [0, 0]), 'kiln', device);
      expect([s8.shape, p8.shape]).toEqual([[0, 2], [0, 3, 2]]);
    });
  });
});

describe('onnx RNN, GRU and LSTM', () => {
  // every direction and layout, GRU's linear_before_reset, with and without bias, initial state and
  // peepholes, over 9 steps and (forward only) 300. onnxruntime takes layout 0 only: a layout-1 case
  // is compared with its layout-0 twin, batch and sequence (or direction) dims swapped
  const rr = rngFor('onnx recurrent');
  const f32 = (name: string, shape: number[], scale = 0.5): Feed => ({ name, dtype: 'float32', shape, values: Array.from({ length: R.numel(shape) }, () => rr.uniform(-scale, scale)) });
  const swap01 = (f: Feed): Feed => {
    const x = new R.NdArray(f.shape, f.values).transpose(0, 1);
    return { ...f, shape: [...x.shape], values: Array.from(x.data) };
  };
  type Case = { name: string; kiln: Model; ort: Model; layout: number };
  type Attrs = Parameters<GraphBuilder['node']>[2];
  const recurrentCase = (kind: 'RNN' | 'GRU' | 'LSTM', o: { S: number; dir: string; layout: number; lbr?: number; full: boolean; lens?: number[]; attrs?: Attrs; H?: number }): Case => {
    const [N, I, H, D] = [o.lens?.length ?? 3, 5, o.H ?? 4, o.dir === 'bidirectional' ? 2 : 1], G = { RNN: 1, GRU: 3, LSTM: 4 }[kind];
    const feeds = [f32('X', [o.S, N, I], 1), f32('W', [D, G * H, I]), f32('R', [D, G * H, H])];
    if (o.full) feeds.push(f32('B', [D, 2 * G * H]), f32('h0', [D, N, H]), ...(kind === 'LSTM' ? [f32('c0', [D, N, H]), f32('P', [D, 3 * H])] : []));
    if (o.lens) feeds.push({ name: 'L', dtype: 'int32', shape: [N], values: o.lens });
    const names = feeds.map((f) => f.name).filter((f) => f !== 'L');
    const lens = o.lens ? 'L' : '';
    const ins = o.full ? [...names.slice(0, 4), lens, ...names.slice(4)] : o.lens ? [...names, '', 'L'] : names;
    const outs = ['Y', 'Y_h', ...(kind === 'LSTM' ? ['Y_c'] : [])];
    const make = (layout: number, fs: Feed[]): Model => ({
      ...model(14, (g) => g.nodeOutputs(kind, ins, { hidden_size: H, direction: o.dir, layout, ...(o.lbr ? { linear_before_reset: 1 } : {}), ...o.attrs }, { outputs: outs.length }), fs, outs.map(() => 'float32')),
      rtol: 2e-5,
      atol: 2e-6,
    });
    const extra = o.attrs ? ` ${JSON.stringify(o.attrs)}` : '';
    const name = `${kind}${o.H ? ` hidden ${o.H}` : ''} ${o.S} steps ${o.dir} layout ${o.layout}${o.lbr ? ' linear_before_reset' : ''}${o.full ? ' with B, initial state, peepholes' : ''}${o.lens ? ` sequence_lens ${o.lens}` : ''}${extra}`;
    const batchFirst = feeds.map((f) => (['X', 'h0', 'c0'].includes(f.name) ? swap01(f) : f));
    return { name, kiln: make(o.layout, o.layout ? batchFirst : feeds), ort: make(0, feeds), layout: o.layout };
  };
  const CASES: Case[] = [];
  for (const kind of ['RNN', 'GRU', 'LSTM'] as const) {
    for (const dir of ['forward', 'reverse', 'bidirectional'])
      for (const layout of [0, 1])
        for (const lbr of kind === 'GRU' ? [0, 1] : [0])
          for (const full of [false, true]) CASES.push(recurrentCase(kind, { S: 9, dir, layout, lbr, full }));
    CASES.push(recurrentCase(kind, { S: 300, dir: 'forward', layout: 0, full: true }));
    if (kind === 'GRU') CASES.push(recurrentCase(kind, { S: 300, dir: 'forward', layout: 0, lbr: 1, full: true }));
    // other activations (alpha and beta taken in list order by the functions that use them), clip, input_forget
    const acts: Record<string, Attrs[]> = {
      RNN: [{ activations: ['Relu'] }, { activations: ['LeakyRelu', 'Affine'], activation_alpha: float([0.2, 0.5]), activation_beta: float([0.1]) }],
      GRU: [
        { activations: ['HardSigmoid', 'ScaledTanh'], activation_alpha: float([0.3, 0.8]), activation_beta: float([0.4, 1.2]), clip: float(0.7) },
        // gates bounded (Softsign, Sigmoid), so the state cannot grow past float range over the steps
        { activations: ['Softsign', 'Softplus', 'Sigmoid', 'Elu'] },
      ],
      LSTM: [
        { activations: ['HardSigmoid', 'Tanh', 'ThresholdedRelu'], activation_alpha: float([0.25, 0.1]), clip: float(0.5), input_forget: 1 },
        { activations: ['Sigmoid', 'Tanh', 'Tanh', 'Sigmoid', 'Softsign', 'Relu'], clip: float(0.3) },
      ],
    };
    acts[kind].forEach((attrs, i) => CASES.push(recurrentCase(kind, { S: 9, dir: i ? 'bidirectional' : 'forward', layout: 0, full: true, lbr: kind === 'GRU' ? i : 0, attrs })));
    // gate groups of a multiple of 32 rows: the recurrence weights sliver-major at batch > 1
    for (const lbr of kind === 'GRU' ? [0, 1] : [0]) CASES.push(recurrentCase(kind, { S: 9, dir: 'bidirectional', layout: 0, full: true, lbr, H: kind === 'LSTM' ? 8 : 32 }));
    // per-row lengths, 0 and the full 9 among them
    for (const dir of ['forward', 'reverse', 'bidirectional'])
      for (const [layout, full] of [[0, true], [1, false]] as const)
        CASES.push(recurrentCase(kind, { S: 9, dir, layout, full, lbr: kind === 'GRU' ? layout : 0, lens: [9, 4, 0, 1] }));
  }
  const want = ortOutputsOf(CASES.map((c) => [c.name, c.ort]));
  /** onnxruntime's layout-0 outputs in the case's layout: Y [S, D, N, H] -> [N, S, D, H], states [D, N, H] -> [N, D, H]. */
  const expected = (c: Case) =>
    want.get(c.name)!.map((o, i) => {
      if (!c.layout) return o;
      const x = new R.NdArray(o.shape, o.values).permute(i === 0 ? [2, 0, 1, 3] : [1, 0, 2]);
      return { shape: [...x.shape], values: Array.from(x.data) };
    });

  it("on the cpu, the fused steps (LstmCell, GruCell, GruReset and GruUpdate) give the composed ops' values bit for bit", async () => {
    const cpu = resolveDevice('cpu').backend;
    const cells = ['LstmCell', 'GruCell', 'GruReset', 'GruUpdate'];
    for (const op of cells) expect(cpu.supports(op, ['float32'])).toBe(true);
    const cases = CASES.filter((c) => !c.name.startsWith('RNN') && !c.name.includes('activations'));
    expect(cases.length).toBe(20 + 34);
    const fused = await Promise.all(cases.map((c) => run(c.kiln, 'kiln', 'cpu')));
    // the same backend with the cells hidden: the handler composes each step from Sigmoid, Tanh, Mul, Add, Sub
    const supports = cpu.supports;
    cpu.supports = (op, dtypes) => !cells.includes(op) && supports.call(cpu, op, dtypes);
    try {
      for (const [i, c] of cases.entries()) expect(fused[i], c.name).toEqual(await run(c.kiln, 'kiln', 'cpu'));
    } finally {
      cpu.supports = supports;
    }
  });

  forEachBackend('onnx RNN, GRU and LSTM', (device) => {
    it('agree with onnxruntime, recorded and replayed', async () => {
      for (const c of CASES) {
        const [first, second] = await runs(c.kiln, 'kiln', device, 2);
        for (const [pass, got] of [['first run', first], ['second run', second]] as const) {
          try {
            same(got, expected(c), c.kiln.rtol, c.kiln.atol);
          } catch (e) {
            throw new Error(`${c.name} (${pass}): ${(e as Error).message}`);
          }
        }
      }
    });

    it('sequence_lens of the wrong count or outside [0, steps] is a KilnError naming it', async () => {
      for (const [lens, code, what] of [[[9, 4], 'E_SHAPE', /sequence_lens has 2 values for a batch of 3/], [[9, 10, 1], 'E_ARGUMENT', /sequence_lens value 10 is outside \[0, 9\]/], [[-1, 0, 1], 'E_ARGUMENT', /value -1/]] as const) {
        const c = recurrentCase('LSTM', { S: 9, dir: 'forward', layout: 0, full: false, lens: [1, 2, 3] });
        const feeds = c.kiln.feeds.map((f) => (f.name === 'L' ? { ...f, shape: [lens.length], values: [...lens] } : f));
        // L declared [n], so that the session takes any count and the node judges it
        const g = new GraphBuilder('t');
        for (const f of feeds) g.input(f.name, f.dtype, f.name === 'L' ? ['n'] : f.shape);
        g.nodeOutputs('LSTM', ['X', 'W', 'R', '', 'L'], { hidden_size: 4 }, { outputs: ['Y'] });
        g.output('Y', 'float32');
        const s = await kiln.onnx.load(g.toBytes({ opset: 14 }), { engine: 'kiln', device });
        try {
          const ts = Object.fromEntries(feeds.map((f) => [f.name, kiln.tensor(f.values, { dtype: f.dtype, shape: f.shape, device })]));
          await expectRejection(s.run(ts), code, what);
          for (const t of Object.values(ts)) t.dispose();
        } finally {
          await s.dispose();
        }
      }
    });

    it('an unknown activation, a list of the wrong length or an unknown direction is refused at load, as onnxruntime refuses it', async () => {
      const bad: [Attrs, RegExp][] = [
        [{ activations: ['Sigmoid', 'Swish', 'Tanh'] }, /node '.*' \(op LSTM, opset 14\): activation 'Swish' is not one of relu, tanh/],
        [{ activations: ['Sigmoid', 'Tanh'] }, /activations \[Sigmoid, Tanh\] must name 3 functions \(3 per direction\)/],
        [{ direction: 'sideways' }, /direction 'sideways' is not forward, reverse or bidirectional/], // ran as forward before
      ];
      for (const [attrs, what] of bad) {
        const c = recurrentCase('LSTM', { S: 2, dir: 'forward', layout: 0, full: false, attrs });
        await expectRejection(kiln.onnx.load(c.kiln.bytes, { engine: 'kiln', device }), 'E_UNSUPPORTED', what);
        await expect(kiln.onnx.load(c.ort.bytes, { engine: 'ort' })).rejects.toThrow();
      }
    });

    it('a negative clip is E_ARGUMENT naming it', async () => {
      const bad: [Attrs, RegExp][] = [[{ clip: float(-1) }, /clip -1 must be a number >= 0/]];
      for (const [attrs, what] of bad) {
        const c = recurrentCase('LSTM', { S: 2, dir: 'forward', layout: 0, full: false, attrs });
        const s = await kiln.onnx.load(c.kiln.bytes, { engine: 'kiln', device });
        try {
          const ts = Object.fromEntries(c.kiln.feeds.map((f) => [f.name, kiln.tensor(f.values, { dtype: f.dtype, shape: f.shape, device })]));
          await expectRejection(s.run(ts), 'E_ARGUMENT', what);
          for (const t of Object.values(ts)) t.dispose();
        } finally {
          await s.dispose();
        }
      }
    });

    it('an initial state of another dtype than X is E_DTYPE naming it', async () => {
      const feeds = recurrentCase('GRU', { S: 2, dir: 'forward', layout: 0, full: true }).kiln.feeds;
      feeds[4] = { ...feeds[4], dtype: 'float16' };
      const m = model(14, (g) => g.nodeOutputs('GRU', ['X', 'W', 'R', 'B', '', 'h0'], { hidden_size: 4 }, { outputs: 2 }), feeds, ['float32', 'float32']);
      const s = await kiln.onnx.load(m.bytes, { engine: 'kiln', device });
      try {
        const ts = Object.fromEntries(feeds.map((f) => [f.name, kiln.tensor(f.values, { dtype: f.dtype, shape: f.shape, device })]));
        await expectRejection(s.run(ts), 'E_DTYPE', /input 5 is float16\[1, 3, 4\].*X is float32/);
        for (const t of Object.values(ts)) t.dispose();
      } finally {
        await s.dispose();
      }
    });

    it('a B, initial state or peepholes of the wrong shape is E_SHAPE naming it, and leaks nothing', async () => {
      // these failed inside the first step with another op's message, leaking its views of Y, or
      // (an initial_h with more directions than the node's) ran, as onnxruntime does not
      const bad: ['GRU' | 'LSTM', string, number[], RegExp][] = [
        ['GRU', 'h0', [1, 3, 5], /initial_h float32\[1, 3, 5\].* must be \[1, 3, 4\]/],
        ['LSTM', 'h0', [1, 1, 4], /initial_h float32\[1, 1, 4\].* must be \[1, 3, 4\]/],
        ['GRU', 'h0', [2, 3, 4], /initial_h float32\[2, 3, 4\].* must be \[1, 3, 4\]/],
        ['LSTM', 'c0', [1, 1, 4], /initial_c float32\[1, 1, 4\].* must be \[1, 3, 4\]/],
        ['LSTM', 'B', [1, 3], /B float32\[1, 3\].* must be \[1, 32\]/],
        ['LSTM', 'P', [1, 5], /P float32\[1, 5\].* must be \[1, 12\]/],
      ];
      for (const [kind, name, shape, what] of bad) {
        const feeds = recurrentCase(kind, { S: 2, dir: 'forward', layout: 0, full: true }).kiln.feeds.map((f) =>
          f.name === name ? { ...f, shape, values: new Array(R.numel(shape)).fill(0.1) } : f,
        );
        const ins = kind === 'LSTM' ? ['X', 'W', 'R', 'B', '', 'h0', 'c0', 'P'] : ['X', 'W', 'R', 'B', '', 'h0'];
        const m = model(14, (g) => g.nodeOutputs(kind, ins, { hidden_size: 4 }, { outputs: 2 }), feeds, ['float32', 'float32']);
        const s = await kiln.onnx.load(m.bytes, { engine: 'kiln', device });
        try {
          const ts = Object.fromEntries(feeds.map((f) => [f.name, kiln.tensor(f.values, { dtype: f.dtype, shape: f.shape, device })]));
          const before = kiln.memory().devices[device]?.tensors ?? 0;
          await expectRejection(s.run(ts), 'E_SHAPE', what);
          expect(kiln.memory().devices[device]?.tensors ?? 0, `${kind} ${name} [${shape}]`).toBe(before);
          for (const t of Object.values(ts)) t.dispose();
        } finally {
          await s.dispose();
        }
      }
    });
  });
});
