// Item 5: an MLP, a small CNN, a transformer encoder block and an LSTM classifier built with the graph builder, saved
// as .onnx files, run by both engines: the Kiln engine (every available device) must agree with
// onnxruntime, and the MLP also with a float64 reference computed here from the file's weights.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { cnn, lstm, mlp, transformer, type Fixture } from '../bench/onnx-models.js';
import { GraphBuilder, float } from '../src/onnx/builder.js';
import { parseModel, readSource } from '../src/onnx/model.js';
import { hostFromProto } from '../src/onnx/proto.js';
import { hasNativeOp } from '../src/onnx/support.js';
import { resolveDevice } from '../src/backends/backend.js';
import { forEachBackend } from './helpers/backends.js';
import { expectRejection, expectValues } from './helpers/compare.js';
import { DIST_INDEX, ROOT, assertDistFresh, ending, runNode } from './helpers/dist.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-onnx-'));
const fixtures: Fixture[] = [mlp(5, [12, 20, 16, 6]), cnn(16, [3, 8, 16], 5), transformer(12, 32, 4, 64), lstm(20, 8, 16, 5)];
const paths = new Map<string, string>();
const ortResults = new Map<string, Float32Array>();

beforeAll(async () => {
  for (const f of fixtures) {
    const path = join(dir, `${f.name}.onnx`);
    writeFileSync(path, f.bytes);
    paths.set(f.name, path);
    const s = await kiln.onnx.load(path, { engine: 'ort' });
    const x = kiln.tensor(f.input.data, { shape: f.input.shape });
    const out = Object.values(await s.run({ [f.input.name]: x }))[0];
    ortResults.set(f.name, (await out.data()) as Float32Array);
    out.dispose();
    x.dispose();
    await s.dispose();
  }
});

/** float64 MLP forward pass from the model file's own initializers: Gemm(transB) + Relu ..., Softmax. */
function mlpReference(f: Fixture): Float64Array {
  const m = parseModel(readSource(f.bytes));
  const init = (name: string) => hostFromProto(m.graph.initializers.get(name)!, name);
  const [n, inDim] = f.input.shape;
  let h = Float64Array.from(f.input.data);
  let width = inDim;
  for (const node of m.graph.nodes) {
    if (node.opType === 'Gemm') {
      const w = init(node.inputs[1]), b = init(node.inputs[2]);
      const out = w.shape[0];
      const next = new Float64Array(n * out);
      for (let i = 0; i < n; ++i)
        for (let o = 0; o < out; ++o) {
          let acc = Number(b.data[o]);
          for (let k = 0; k < width; ++k) acc += h[i * width + k] * Number(w.data[o * width + k]);
          next[i * out + o] = acc;
        }
      h = next;
      width = out;
    } else if (node.opType === 'Relu') h = h.map((v) => Math.max(0, v));
    else if (node.opType === 'Softmax')
      for (let i = 0; i < n; ++i) {
        const row = h.subarray(i * width, (i + 1) * width);
        const mx = Math.max(...row);
        const e = row.map((v) => Math.exp(v - mx));
        const s = e.reduce((a, b) => a + b, 0);
        row.set(e.map((v) => v / s));
      }
  }
  return h;
}

describe('onnx fixtures', () => {
  it('the MLP under onnxruntime matches a float64 reference', () => {
    const f = fixtures[0];
    expectValues(ortResults.get('mlp')!, mlpReference(f), { rtol: 1e-4, atol: 1e-6 }, 'mlp ort vs float64');
  });
});

forEachBackend('onnx fixtures, kiln engine', (device) => {
  for (const f of fixtures) {
    it(`${f.name}: agrees with onnxruntime`, async () => {
      const s = await kiln.onnx.load(paths.get(f.name)!, { device });
      const x = kiln.tensor(f.input.data, { shape: f.input.shape, device });
      const before = kiln.memory().devices[device]?.tensors ?? 0;
      const outs = await s.run({ [f.input.name]: x });
      const out = Object.values(outs)[0];
      const got = (await out.data()) as Float32Array;
      expect(out.shape).toEqual({ mlp: [5, 6], cnn: [1, 5], transformer: [1, 12, 32], lstm: [1, 5] }[f.name]);
      expectValues(got, ortResults.get(f.name)!, { rtol: 1e-4, atol: 1e-5 }, `${f.name} kiln vs ort`);
      out.dispose();
      // every intermediate was freed: only the (disposed) output was added
      expect(kiln.memory().devices[device]?.tensors ?? 0).toBe(before);
      if (f.name === 'mlp') expectValues(got, mlpReference(f), { rtol: 1e-4, atol: 1e-6 }, 'mlp kiln vs float64');
      x.dispose();
      await s.dispose();
    });
  }

  it('fuses the encoder block (GELU, MatMul + scale + bias) and folds the CNN batch norms into its convs', async () => {
    // weights replaced by folded ones are freed at load: the session holds at most the file's weights
    const weightBytes = [...parseModel(readSource(fixtures[1].bytes)).graph.initializers.values()].reduce((n, t) => n + hostFromProto(t, 'w').data.byteLength, 0);
    const held = kiln.memory().devices[device]?.bytes ?? 0;
    const folded = await kiln.onnx.load(paths.get('cnn')!, { device });
    expect((kiln.memory().devices[device]?.bytes ?? 0) - held).toBeLessThanOrEqual(weightBytes);
    await folded.dispose();
    const enc = (await kiln.onnx.load(paths.get('transformer')!, { device })) as kiln.onnx.InferenceSession & { stats: { nodes: number } };
    const c = (await kiln.onnx.load(paths.get('cnn')!, { device })) as kiln.onnx.InferenceSession & { stats: { nodes: number } };
    // The block has 34 nodes as built: the erf-GELU (5 nodes) becomes 1, each of the 6 biased
    // MatMuls absorbs its Add, and the scores' MatMul its Div by sqrt(d). The CNN has 10: each of
    // its 2 BatchNormalizations folds into its Conv,
    // and where the device has the native Conv (the CPU) each Conv's Relu joins it, and so does the
    // first one's 2x2 MaxPool.
    // On the CPU the GELU then joins its MatMul's epilogue.
    expect(enc.stats.nodes).toBe(34 - 4 - 6 - 1 - (device === 'cpu' ? 1 : 0));
    expect(c.stats.nodes).toBe(10 - 2 - (hasNativeOp(resolveDevice(device).backend, 'Conv') ? 3 : 0));
    // The MLP's 6 (Gemm, Relu, Gemm, Relu, Gemm, Softmax): on the CPU each Relu joins its Gemm's epilogue.
    const m = (await kiln.onnx.load(paths.get('mlp')!, { device })) as kiln.onnx.InferenceSession & { stats: { nodes: number } };
    expect(m.stats.nodes).toBe(6 - (device === 'cpu' ? 2 : 0));
    await m.dispose();
    await enc.dispose();
    await c.dispose();
  });
});

forEachBackend('kiln engine: MatMul with a folded scale', (device) => {
  it('folds Div and Mul (constant on either side) by a scalar, with and without a bias, 1-D operands included', async () => {
    const a = [0.5, -1.25, 2, 3], w = Array.from({ length: 4 * 3 }, (_, i) => (i % 5) - 2), b = [0.25, -0.5, 1];
    for (const [op, constFirst, bias, rank1] of [['Div', false, true, false], ['Mul', true, false, false], ['Mul', false, true, true]] as const) {
      const g = new GraphBuilder('scaled');
      const x = g.input('x', 'float32', rank1 ? [4] : [1, 4]);
      const mm = g.node('MatMul', [x, g.floats([4, 3], w)]);
      const c = g.floats([], [op === 'Div' ? 4 : 0.75]);
      if (bias) g.node('Add', [g.node(op, constFirst ? [c, mm] : [mm, c]), g.floats([3], b)], {}, { outputs: ['y'] });
      else g.node(op, constFirst ? [c, mm] : [mm, c], {}, { outputs: ['y'] });
      g.output('y', 'float32', rank1 ? [3] : [1, 3]);
      const s = await kiln.onnx.load(g.toBytes(), { device });
      const y = (await s.run({ x: kiln.tensor(a, { shape: rank1 ? [4] : [1, 4], device }) })).y;
      const want = [0, 1, 2].map((j) => {
        const dot = a.reduce((acc, v, k) => acc + v * w[k * 3 + j], 0);
        return (op === 'Div' ? dot / 4 : dot * 0.75) + (bias ? b[j] : 0);
      });
      expect(y.shape).toEqual(rank1 ? [3] : [1, 3]);
      expectValues((await y.data()) as Float32Array, want, { rtol: 1e-6, atol: 1e-6 }, `${op} const ${constFirst ? 'first' : 'second'}`);
      y.dispose();
      await s.dispose();
    }
  });
});

forEachBackend('kiln engine: MatMul -> Relu or Gelu', (device) => {
  it('gives act(A @ W + b) for 2-D and 1-D operands (one fused kernel on the CPU)', async () => {
    const a = [0.5, -1.25, 2, 3], w = Array.from({ length: 4 * 3 }, (_, i) => (i % 5) - 2), b = [0.25, -0.5, 1];
    const dense = [0, 1, 2].map((j) => a.reduce((acc, v, k) => acc + v * w[k * 3 + j], 0) + b[j]);
    const acts = {
      Relu: (x: number) => Math.max(0, x),
      Gelu: (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
    };
    expect(dense.some((v) => v < 0)).toBe(true);  // the activations clip or bend something
    for (const [op, f] of Object.entries(acts))
      for (const rank1 of [false, true]) {
        const g = new GraphBuilder('dense-act');
        const x = g.input('x', 'float32', rank1 ? [4] : [1, 4]);
        g.node(op, [g.node('Add', [g.node('MatMul', [x, g.floats([4, 3], w)]), g.floats([3], b)])], op === 'Gelu' ? { approximate: 'tanh' } : {}, { outputs: ['y'] });
        g.output('y', 'float32', rank1 ? [3] : [1, 3]);
        const s = (await kiln.onnx.load(g.toBytes({ opset: 20 }), { device })) as kiln.onnx.InferenceSession & { stats: { nodes: number } };
        expect(s.stats.nodes).toBe(device === 'cpu' ? 1 : 2);
        for (let run = 0; run < 2; ++run) {
          const y = (await s.run({ x: kiln.tensor(a, { shape: rank1 ? [4] : [1, 4], device }) })).y;
          expect(y.shape).toEqual(rank1 ? [3] : [1, 3]);
          expectValues((await y.data()) as Float32Array, dense.map(f), { rtol: 1e-5, atol: 1e-6 }, `${op} rank ${rank1 ? 1 : 2} run ${run}`);
          y.dispose();
        }
        await s.dispose();
      }
  });
});

forEachBackend('kiln engine: fused Conv -> Relu -> MaxPool', (device) => {
  it('gives the unfused result in float32 (native where the device has Conv) and float16 (composed)', async () => {
    const build = (dtype: 'float32' | 'float16') => {
      const g = new GraphBuilder('conv-pool');
      let x = g.input('x', 'float32', [1, 3, 9, 10]);
      const cast = (v: string) => (dtype === 'float16' ? g.node('Cast', [v], { to: 10 }) : v);
      x = cast(x);
      const w = cast(g.floats([4, 3, 3, 3], Array.from({ length: 108 }, (_, i) => Math.sin(i) / 3)));
      const b = cast(g.floats([4], [0.1, -0.2, 0.3, 0]));
      const y = g.node('MaxPool', [g.node('Relu', [g.node('Conv', [x, w, b], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })])], { kernel_shape: [2, 2], strides: [2, 2] });
      g.node('Cast', [y], { to: 1 }, { outputs: ['y'] });
      g.output('y', 'float32', [1, 4, 4, 5]);
      return g.toBytes();
    };
    const xs = Float32Array.from({ length: 270 }, (_, i) => Math.cos(i * 0.37));
    // float64 reference: conv, relu, 2x2 max pool
    const want: number[] = [];
    for (let m = 0; m < 4; ++m)
      for (let py = 0; py < 4; ++py)
        for (let px = 0; px < 5; ++px) {
          let best = -Infinity;
          for (let r = 0; r < 2; ++r)
            for (let s = 0; s < 2; ++s) {
              const oy = 2 * py + r, ox = 2 * px + s;
              let acc = [0.1, -0.2, 0.3, 0][m];
              for (let c = 0; c < 3; ++c)
                for (let ky = 0; ky < 3; ++ky)
                  for (let kx = 0; kx < 3; ++kx) {
                    const iy = oy - 1 + ky, ix = ox - 1 + kx;
                    if (iy >= 0 && iy < 9 && ix >= 0 && ix < 10) acc += xs[(c * 9 + iy) * 10 + ix] * (Math.sin(((m * 3 + c) * 3 + ky) * 3 + kx) / 3);
                  }
              best = Math.max(best, Math.max(0, acc));
            }
          want.push(best);
        }
    for (const [dtype, tol] of [['float32', 1e-5], ['float16', 2e-2]] as const) {
      const s = await kiln.onnx.load(build(dtype), { device });
      const y = (await s.run({ x: kiln.tensor(xs, { shape: [1, 3, 9, 10], device }) })).y;
      expectValues((await y.data()) as Float32Array, want, { rtol: tol, atol: tol }, dtype);
      y.dispose();
      await s.dispose();
    }
  });
});

forEachBackend('kiln engine: constant MatMul weights', (device) => {
  it('gives the plain product when B is stored sliver-major (the CPU), with and without a bias, for 3-D A', async () => {
    const [K, N] = [5, 96];
    const w = Array.from({ length: K * N }, (_, i) => Math.sin(i * 0.7));
    const bias = Array.from({ length: N }, (_, j) => j / 50 - 1);
    const xs = Array.from({ length: 2 * 3 * K }, (_, i) => Math.cos(i * 1.3));
    for (const withBias of [false, true]) {
      const g = new GraphBuilder('weights');
      const x = g.input('x', 'float32', [2, 3, K]);
      const mm = g.node('MatMul', [x, g.floats([K, N], w)], {}, withBias ? {} : { outputs: ['y'] });
      if (withBias) g.node('Add', [mm, g.floats([N], bias)], {}, { outputs: ['y'] });
      g.output('y', 'float32', [2, 3, N]);
      const s = await kiln.onnx.load(g.toBytes(), { device });
      const y = (await s.run({ x: kiln.tensor(xs, { shape: [2, 3, K], device }) })).y;
      const want: number[] = [];
      for (let r = 0; r < 6; ++r)
        for (let j = 0; j < N; ++j) want.push(xs.slice(r * K, r * K + K).reduce((acc, v, k) => acc + v * w[k * N + j], withBias ? bias[j] : 0));
      expect(y.shape).toEqual([2, 3, N]);
      expectValues((await y.data()) as Float32Array, want, { rtol: 1e-5, atol: 1e-5 }, withBias ? 'with bias' : 'no bias');
      y.dispose();
      await s.dispose();
    }
  });

  it("gives Gemm's result when its weights take that layout too (alpha, transB, and a C of shape [N], [M, N] or none)", async () => {
    const [M, K, N] = [3, 7, 64];
    const w = Array.from({ length: K * N }, (_, i) => Math.sin(i * 0.3));  // as B [K, N]
    const wT = Array.from({ length: N * K }, (_, i) => w[(i % K) * N + Math.floor(i / K)]);  // as B^T [N, K]
    const xs = Array.from({ length: M * K }, (_, i) => Math.cos(i * 0.9));
    const cFull = Array.from({ length: M * N }, (_, i) => i / 100 - 1);
    for (const [cShape, transB, alpha] of [[[N], 1, 0.5], [[M, N], 0, 2], [undefined, 1, 1]] as const) {
      const g = new GraphBuilder('gemm');
      const x = g.input('x', 'float32', [M, K]);
      const ins = [x, transB ? g.floats([N, K], wT) : g.floats([K, N], w)];
      if (cShape) ins.push(g.floats([...cShape], cFull.slice(0, cShape.reduce((a, b) => a * b, 1))));
      g.node('Gemm', ins, { transB, alpha: float(alpha) }, { outputs: ['y'] });
      g.output('y', 'float32', [M, N]);
      const s = await kiln.onnx.load(g.toBytes(), { device });
      const y = (await s.run({ x: kiln.tensor(xs, { shape: [M, K], device }) })).y;
      const want: number[] = [];
      for (let r = 0; r < M; ++r)
        for (let j = 0; j < N; ++j) {
          const c = !cShape ? 0 : cShape.length === 1 ? cFull[j] : cFull[r * N + j];
          want.push(alpha * xs.slice(r * K, r * K + K).reduce((acc, v, k) => acc + v * w[k * N + j], 0) + c);
        }
      expectValues((await y.data()) as Float32Array, want, { rtol: 1e-5, atol: 1e-5 }, `C ${cShape ?? 'none'}, transB ${transB}`);
      y.dispose();
      await s.dispose();
    }
  });
});

forEachBackend('kiln engine: malformed attributes that a load-time fusion reads', (device) => {
  // fuse.ts reads them to match its patterns, some only on some devices (Gemm -> KilnMatMul on the
  // cpu): a malformed one leaves the node unfused, and its handler reports it at run on every device
  // alike (cpu/webgpu fuzz seed 5019: E_ARGUMENT at load on the cpu, E_DTYPE at run on webgpu)
  it('each is E_ARGUMENT naming it, at the same stage (load or run) as on the cpu', async () => {
    const ones = (n: number) => new Float32Array(n).fill(1);
    const cases: [string, (g: GraphBuilder, x: string) => void, string][] = [
      ['Gemm transA 2', (g, x) => g.node('Gemm', [x, g.floats([4, 3], ones(12))], { transA: 2 }, { outputs: ['y'] }), "'transA' must be 0 or 1, got 2"],
      ['Gemm transB -2^31', (g, x) => g.node('Gemm', [x, g.floats([3, 4], ones(12))], { transB: -(2 ** 31) }, { outputs: ['y'] }), "'transB' must be 0 or 1"],
      ['Conv -> BatchNormalization training_mode 3', (g, x) => {
        const c = g.node('Conv', [g.node('Reshape', [x, g.ints([1, 1, 4, 4])]), g.floats([1, 1, 1, 1], ones(1))]);
        g.node('BatchNormalization', [c, ...[1, 0, 0, 1].map((v) => g.floats([1], [v]))], { training_mode: 3 }, { outputs: ['y'] });
      }, "'training_mode' must be 0 or 1, got 3"],
      ['Conv -> Relu -> MaxPool ceil_mode 9', (g, x) => {
        const c = g.node('Relu', [g.node('Conv', [g.node('Reshape', [x, g.ints([1, 1, 4, 4])]), g.floats([1, 1, 1, 1], ones(1))])]);
        g.node('MaxPool', [c], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 9 }, { outputs: ['y'] });
      }, "'ceil_mode' must be 0 or 1, got 9"],
    ];
    const outcome = async (bytes: Uint8Array, on: string) => {
      let s: kiln.onnx.InferenceSession | undefined;
      try {
        s = await kiln.onnx.load(bytes, { device: on });
      } catch (e) {
        return { stage: 'load', code: (e as kiln.KilnError).code, message: (e as Error).message };
      }
      try {
        await s.run({ x: kiln.ones([4, 4], { device: on }) });
        return { stage: 'ran' };
      } catch (e) {
        return { stage: 'run', code: (e as kiln.KilnError).code, message: (e as Error).message };
      } finally {
        await s.dispose();
      }
    };
    for (const [name, build, mention] of cases) {
      const g = new GraphBuilder();
      build(g, g.input('x', 'float32', [4, 4]));
      g.output('y', 'float32');
      const here = await outcome(g.toBytes({ opset: 15 }), device), cpu = await outcome(g.toBytes({ opset: 15 }), 'cpu');
      expect(here, name).toMatchObject({ code: 'E_ARGUMENT', message: expect.stringContaining(mention) });
      expect(here.stage, name).toBe(cpu.stage);
    }
  });
});

forEachBackend('kiln engine: window attributes', (device) => {
  // Checked before a backend's path is chosen (native Conv and pooling on the CPU, Im2Col and
  // strided Adds elsewhere), so every device refuses the same model the same way; a stride of 0 in
  // ConvTranspose gave a different wrong answer on each (found by the cpu/webgpu ONNX fuzz).
  it('a stride or dilation below 1, a negative pad or a kernel_shape of the wrong length is refused, the same on every device', async () => {
    const cases: [string, Record<string, number[]>, kiln.KilnErrorCode, string][] = [
      ['Conv', { strides: [0, 1] }, 'E_ARGUMENT', 'strides [0,1]'],
      ['Conv', { kernel_shape: [3] }, 'E_SHAPE', 'kernel_shape [3]'],
      ['Conv', { pads: [0, -1, 0, 0] }, 'E_ARGUMENT', 'pads'],
      ['AveragePool', { kernel_shape: [2, 2], pads: [-1, 0, 0, 0] }, 'E_ARGUMENT', 'pads [-1,0,0,0]'],
      ['MaxPool', { kernel_shape: [2, 2], dilations: [1, 0] }, 'E_ARGUMENT', 'dilations'],
      ['ConvTranspose', { strides: [0, 2] }, 'E_ARGUMENT', 'strides [0,2]'],
      ['ConvTranspose', { output_padding: [-1, 0] }, 'E_ARGUMENT', 'output_padding'],
    ];
    const pads = [['Conv', 'edge'], ['MaxPool', 'same'], ['ConvTranspose', 'SAME']] as const;
    for (const [op, attrs, code, mention] of cases) {
      const g = new GraphBuilder();
      const x = g.input('x', 'float32', [1, 1, 5, 5]);
      const inputs = op.endsWith('Pool') ? [x] : [x, g.floats([1, 1, 3, 3], new Float32Array(9).fill(1))];
      g.node(op, inputs, attrs, { outputs: ['y'] });
      g.output('y', 'float32');
      const run = async () => {
        const s = await kiln.onnx.load(g.toBytes(), { device });
        try {
          await s.run({ x: kiln.ones([1, 1, 5, 5], { device }) });
        } finally {
          await s.dispose();
        }
      };
      await expect(run(), `${op} ${JSON.stringify(attrs)}`).rejects.toMatchObject({ code, message: expect.stringContaining(mention) });
    }
    for (const [op, autoPad] of pads) {
      const g = new GraphBuilder();
      const x = g.input('x', 'float32', [1, 1, 5, 5]);
      const inputs = op === 'MaxPool' ? [x] : [x, g.floats([1, 1, 3, 3], new Float32Array(9).fill(1))];
      g.node(op, inputs, { kernel_shape: [3, 3], auto_pad: autoPad }, { outputs: ['y'] });
      g.output('y', 'float32');
      const s = await kiln.onnx.load(g.toBytes(), { device });
      await expect(s.run({ x: kiln.ones([1, 1, 5, 5], { device }) })).rejects.toMatchObject({ code: 'E_ARGUMENT', message: expect.stringContaining(`got '${autoPad}'`) });
      await s.dispose();
    }
  });

  it('LpPool with a large p: no overflow to Infinity, no flush of tiny terms to 0, infinite entries give Infinity', async () => {
    const g = new GraphBuilder();
    g.node('LpPool', [g.input('x', 'float32', [1, 1, 2, 3])], { kernel_shape: [2, 2], p: 1000 }, { outputs: ['y'] });
    g.output('y', 'float32');
    const s = await kiln.onnx.load(g.toBytes(), { device });
    const xs = [1.5, 0.5, 0.9, 1.25, 0.25, Infinity];
    const { y } = await s.run({ x: kiln.tensor(xs, { shape: [1, 1, 2, 3], device }) });
    // windows {1.5, 0.5, 1.25, 0.25} and {0.5, 0.9, 0.25, Infinity}: (sum |x|^1000)^(1/1000) in float64
    const norm = (v: number[]) => { const m = Math.max(...v); return m * v.reduce((a, b) => a + (b / m) ** 1000, 0) ** (1 / 1000); };
    expectValues((await y.data()) as Float32Array, [norm([1.5, 0.5, 1.25, 0.25]), Infinity], { rtol: 1e-6, atol: 0 });
    await s.dispose();
  });
});

forEachBackend('kiln engine: MeanVarianceNormalization and Clip bounds', (device) => {
  it('MVN of data whose spread is small next to its mean matches the float64 reference (no E[x^2] - E[x]^2 cancellation)', async () => {
    const g = new GraphBuilder();
    g.node('MeanVarianceNormalization', [g.input('x', 'float32', [1, 2, 1, 8])], {}, { outputs: ['y'] });
    g.output('y', 'float32');
    const s = await kiln.onnx.load(g.toBytes(), { device });
    const xs = Array.from({ length: 16 }, (_, i) => Math.fround(1000 + 0.01 * Math.sin(i)));
    const { y } = await s.run({ x: kiln.tensor(xs, { shape: [1, 2, 1, 8], device }) });
    const want = [0, 8].flatMap((at) => {
      const row = xs.slice(at, at + 8), m = row.reduce((a, b) => a + b, 0) / 8;
      const sd = Math.sqrt(row.reduce((a, b) => a + (b - m) ** 2, 0) / 8);
      return row.map((v) => (v - m) / (sd + 1e-9));
    });
    // float32 inputs near 1000 carry ~3e-5 of rounding each, against a spread of ~7e-3
    expectValues((await y.data()) as Float32Array, want, { rtol: 0, atol: 2e-2 });
    await s.dispose();
  });

  it('a Clip bound given as an empty tensor is E_SHAPE (it read as NaN: refused on the CPU, ignored on WebGPU)', async () => {
    const g = new GraphBuilder();
    g.node('Clip', [g.input('x', 'float32', [3]), g.floats([0], [])], {}, { outputs: ['y'] });
    g.output('y', 'float32');
    const s = await kiln.onnx.load(g.toBytes(), { device });
    await expect(s.run({ x: kiln.ones([3], { device }) })).rejects.toMatchObject({ code: 'E_SHAPE', message: expect.stringContaining('input 1 must hold one value, got 0') });
    await s.dispose();
  });
});

forEachBackend('kiln engine: LayerNormalization and RMSNormalization scale and bias', (device) => {
  // ONNX: Scale and B are unidirectionally broadcastable to X, not only to X.shape[axis:] (the
  // onnxruntime comparison fuzz found a [3, 1, 2] scale refused for X [3, 2, 2], axis -1).
  it('a scale and bias broadcastable to X but not to the normalized shape match the float64 reference', async () => {
    const xs = [2, 3, 4];
    const x = Array.from({ length: 24 }, (_, i) => Math.fround(Math.sin(i * 1.7) * 3 + (i % 5)));
    const rows = Array.from({ length: 6 }, (_, r) => x.slice(r * 4, r * 4 + 4));
    const ref = (row: number[], rms: boolean) => {
      const m = rms ? 0 : row.reduce((a, b) => a + b, 0) / 4;
      const v = row.reduce((a, b) => a + (b - m) ** 2, 0) / 4;
      return row.map((e) => (e - m) / Math.sqrt(v + 1e-5));
    };
    const scale = [0.5, -2, 3], bias = [1, 0, -1]; // per dim 1 of X: shape [3, 1]
    for (const op of ['LayerNormalization', 'RMSNormalization'] as const) {
      const rms = op === 'RMSNormalization';
      const g = new GraphBuilder();
      const ins = [g.input('x', 'float32', xs), g.floats([3, 1], scale), ...(rms ? [] : [g.floats([3, 1], bias)])];
      g.node(op, ins, { axis: -1 }, { outputs: ['y'] });
      g.output('y', 'float32');
      const s = await kiln.onnx.load(g.toBytes({ opset: 23 }), { device });
      const { y } = await s.run({ x: kiln.tensor(x, { shape: xs, device }) });
      const want = rows.flatMap((row, r) => ref(row, rms).map((e) => e * scale[r % 3] + (rms ? 0 : bias[r % 3])));
      expectValues((await y.data()) as Float32Array, want, { rtol: 1e-5, atol: 1e-5 }, `${op} on ${device}`);
      await s.dispose();
    }
    // broadcastable neither way: refused, naming the shapes
    const g = new GraphBuilder();
    g.node('LayerNormalization', [g.input('x', 'float32', xs), g.floats([4, 4], Array(16).fill(1))], {}, { outputs: ['y'] });
    g.output('y', 'float32');
    const s = await kiln.onnx.load(g.toBytes({ opset: 17 }), { device });
    await expect(s.run({ x: kiln.tensor(x, { shape: xs, device }) })).rejects.toMatchObject({ code: 'E_SHAPE', message: expect.stringMatching(/scale: shapes \[2, 3, 4\] and \[4, 4\] cannot be broadcast/) });
    await s.dispose();
  });
});

forEachBackend('kiln engine: reductions over no axis', (device) => {
  // noop_with_empty_axes, or a 0-D input: each element is reduced alone, so the op's elementwise part
  // still applies ("ReduceSumSquare acts as a vanilla Square", ONNX); Kiln returned the input as it
  // was (the onnxruntime comparison fuzz, seed 291: a ReduceLogSum of a scalar constant).
  it('ReduceSumSquare squares, ReduceLogSum takes the log, ReduceL1 and ReduceL2 the absolute value', async () => {
    const each: Record<string, (v: number) => number> = {
      ReduceSumSquare: (v) => v * v, ReduceLogSum: Math.log, ReduceL1: Math.abs, ReduceL2: Math.abs, ReduceLogSumExp: (v) => v,
      ReduceSum: (v) => v, ReduceMean: (v) => v, ReduceMax: (v) => v, ReduceMin: (v) => v, ReduceProd: (v) => v,
    };
    for (const [op, fn] of Object.entries(each)) {
      for (const [shape, values, attrs] of [[[2], [-2, 0.5], { noop_with_empty_axes: 1 }], [[], [-3], {}]] as const) {
        const g = new GraphBuilder();
        g.node(op, [g.input('x', 'float32', shape)], attrs, { outputs: ['y'] });
        g.output('y', 'float32');
        const s = await kiln.onnx.load(g.toBytes({ opset: 18 }), { device });
        const { y } = await s.run({ x: kiln.tensor([...values], { shape: [...shape], device }) });
        expect(y.shape, `${op} ${JSON.stringify(shape)}`).toEqual(shape);
        expectValues((await y.data()) as Float32Array, values.map(fn), { rtol: 1e-6, atol: 1e-6 }, `${op} of ${JSON.stringify(values)} on ${device}`);
        await s.dispose();
      }
    }
    // but axes given for a 0-D input name no dim of it (fuzz seed 652: onnxruntime refuses them too)
    const g = new GraphBuilder();
    g.node('ReduceMean', [g.input('x', 'float32', []), g.ints([0])], {}, { outputs: ['y'], name: 'r' });
    g.output('y', 'float32');
    const s = await kiln.onnx.load(g.toBytes({ opset: 18 }), { device });
    await expectRejection(s.run({ x: kiln.tensor([1], { shape: [], device }) }), 'E_ARGUMENT', /axes \[0\] name dims of a 0-D input/);
    await s.dispose();
  });
});

forEachBackend('kiln engine: CumSum', (device) => {
  // A scan in log2(n) steps; it was a matmul with an n x n triangle, whose 3 * 10^4-element axis ran
  // the process out of JS heap. Against a sequential float64 reference: every mode, a middle axis of
  // 1000 (not a power of two), exactly for integers (wrapping) and to float32 rounding otherwise.
  it('inclusive, exclusive, reverse and both along a long middle axis; int32 wraps; a 10^5 axis', async () => {
    const [a, n, b] = [2, 1000, 3];
    const vals = Array.from({ length: a * n * b }, (_, i) => ((i * 7919) % 201) - 100);
    for (const dtype of ['float32', 'int32', 'int64'] as const)
      for (const [exclusive, reverse] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const g = new GraphBuilder('c');
        g.node('CumSum', [g.input('x', dtype, [a, n, b]), g.ints([-2])], { exclusive, reverse }, { outputs: ['y'] });
        g.output('y', dtype, [a, n, b]);
        const s = await kiln.onnx.load(g.toBytes({ opset: 14 }), { device });
        const scale = dtype === 'int32' ? 2 ** 24 : 1; // int32 sums past 2^31 wrap
        const x = kiln.tensor(vals.map((v) => v * scale), { dtype, shape: [a, n, b], device });
        const got = Array.from((await (await s.run({ x })).y.data()) as ArrayLike<number | bigint>, Number);
        const want: number[] = new Array(vals.length);
        for (let i = 0; i < a; ++i)
          for (let k = 0; k < b; ++k) {
            let acc = 0;
            for (let jj = 0; jj < n; ++jj) {
              const j = reverse ? n - 1 - jj : jj, at = (i * n + j) * b + k;
              if (exclusive) (want[at] = acc), (acc += vals[at] * scale);
              else (acc += vals[at] * scale), (want[at] = acc);
            }
          }
        const ref = dtype === 'int32' ? want.map((v) => v | 0) : want;
        expectValues(got, ref, dtype === 'float32' ? { rtol: 0, atol: 1e-3 } : { rtol: 0, atol: 0 }, `${dtype} exclusive ${exclusive} reverse ${reverse}`);
        await s.dispose();
      }
    const g = new GraphBuilder('c');
    g.node('CumSum', [g.input('x', 'float32', [100_000]), g.ints([0])], {}, { outputs: ['y'] });
    g.output('y', 'float32', [100_000]);
    const s = await kiln.onnx.load(g.toBytes({ opset: 14 }), { device });
    const y = (await s.run({ x: kiln.ones([100_000], { device }) })).y;
    const d = (await y.data()) as Float32Array;
    expect([d[0], d[49_999], d[99_999]]).toEqual([1, 50_000, 100_000]);
    await s.dispose();
  });
});

forEachBackend('kiln engine: host arrays sized by the model', (device) => {
  // A window, Resize's coordinates and AffineGrid's base grid are computed on the host, sized by the
  // model's data: a size the host cannot hold is E_OOM naming it. (They were JS arrays: HannWindow of
  // 4e8 overflowed the JS heap, which ends the process.)
  it('a window of 2^40, a Resize to 2^40 columns and an AffineGrid of 2^40 positions are E_OOM', async () => {
    const huge = 2 ** 40;
    const cases: [string, (g: GraphBuilder) => void, Record<string, kiln.Tensor>, RegExp][] = [
      ['HannWindow', (g) => g.node('HannWindow', [g.input('n', 'int64', [])], {}, { outputs: ['y'] }), { n: kiln.tensor(BigInt(huge), { dtype: 'int64', device }) }, /a window of 1099511627776/],
      ['Resize', (g) => g.node('Resize', [g.input('x', 'float32', [1, 1, 2, 2]), '', '', g.ints([1, 1, 2, huge])], { mode: 'linear' }, { outputs: ['y'] }), { x: kiln.ones([1, 1, 2, 2], { device }) }, /Resize's 1099511627776 source coordinates along axis 3/],
      ['AffineGrid', (g) => g.node('AffineGrid', [g.input('theta', 'float32', [1, 2, 3]), g.ints([1, 1, 2 ** 20, 2 ** 20])], {}, { outputs: ['y'] }), { theta: kiln.ones([1, 2, 3], { device }) }, /the base grid of 1099511627776 positions/],
    ];
    for (const [op, build, feeds, mention] of cases) {
      const g = new GraphBuilder(op);
      build(g);
      g.output('y', 'float32');
      const s = await kiln.onnx.load(g.toBytes({ opset: 20 }), { device });
      await expect(s.run(feeds), op).rejects.toMatchObject({ code: 'E_OOM', message: expect.stringMatching(mention) });
      await s.dispose();
    }
  });
});

forEachBackend('kiln engine: LRN', (device) => {
  // A sliding-window sum over the channels (doubling), O(C log C); it was a matmul with a [C, C] 0/1
  // band built on the host: 8000 channels took 7 s on 32 KB of data, 15000 threw a RangeError.
  it('odd, even and huge sizes against a float64 reference; 10^5 channels', async () => {
    const lrnRef = (x: number[], C: number, inner: number, size: number, alpha: number, beta: number, bias: number) => {
      const lo = Math.floor((size - 1) / 2), hi = Math.ceil((size - 1) / 2);
      return x.map((v, i) => {
        const c = Math.floor(i / inner) % C, base = i - c * inner;
        let s = 0;
        for (let j = Math.max(0, c - lo); j <= Math.min(C - 1, c + hi); ++j) s += x[base + j * inner] ** 2;
        return v / (bias + (alpha / size) * s) ** beta;
      });
    };
    for (const [shape, size] of [[[2, 7, 3], 3], [[1, 6, 2, 2], 4], [[1, 5, 2], 1], [[2, 9, 1], 2 ** 30]] as [number[], number][]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const vals = Array.from({ length: n }, (_, i) => (((i * 37) % 23) - 11) / 4);
      const g = new GraphBuilder('lrn');
      g.node('LRN', [g.input('x', 'float32', shape)], { size, alpha: 0.5, beta: 0.75, bias: float(2) }, { outputs: ['y'] });
      g.output('y', 'float32', shape);
      const s = await kiln.onnx.load(g.toBytes({ opset: 13 }), { device });
      const y = (await s.run({ x: kiln.tensor(vals, { shape, device }) })).y;
      expectValues(Array.from((await y.data()) as Float32Array), lrnRef(vals, shape[1], shape.slice(2).reduce((a, b) => a * b, 1), size, 0.5, 0.75, 2), { rtol: 1e-5, atol: 1e-6 }, `[${shape}] size ${size}`);
      await s.dispose();
    }
    const C = 100_000;
    const g = new GraphBuilder('lrn');
    g.node('LRN', [g.input('x', 'float32', [1, C, 1])], { size: 5, alpha: float(5), beta: float(1), bias: float(1) }, { outputs: ['y'] });
    g.output('y', 'float32', [1, C, 1]);
    const s = await kiln.onnx.load(g.toBytes({ opset: 13 }), { device });
    const d = (await (await s.run({ x: kiln.ones([1, C, 1], { device }) })).y.data()) as Float32Array;
    // 1 / (1 + 5/5 * the channels in the window): 3 at the edges, 5 inside
    expect([d[0], d[1], d[50_000], d[C - 1]]).toEqual([0.25, 0.2, 1 / 6, 0.25].map(Math.fround));
    await s.dispose();
  });
});

describe('kiln engine: host work sized by what an empty or expanded tensor costs nothing to hold', () => {
  // Each case in a child process with 96 MiB of JS heap, where a JS array the size of the data ends
  // the process: a tiny model makes an Expand of one value to 10^7, or an empty tensor with a dim of
  // 2^40. These were JS arrays (NonZero's hits, Unique's slices, Compress's picks, MaxPool's channel
  // starts, ReverseSequence's rows, toArray's nesting) or loops over every step (RNN with no batch).
  beforeAll(() => assertDistFresh());
  it('NonZero, Unique, Compress, MaxPool indices, ReverseSequence, empty RNNs and toArray', () => {
    const r = runNode(
      `
      import * as kiln from ${JSON.stringify(DIST_INDEX)};
      import { GraphBuilder } from ${JSON.stringify(join(ROOT, 'dist/src/onnx/builder.js'))};
      const big = 2 ** 40, n = 10_000_000, out = {};
      const cases = {
        NonZero: [(g) => g.node('NonZero', [g.node('Expand', [g.input('x', 'bool', []), g.ints([n])])], {}, { outputs: ['y'] }), { x: kiln.tensor(true) }],
        Unique: [(g) => g.node('Unique', [g.node('Expand', [g.input('x', 'float32', []), g.ints([n / 5])])], {}, { outputs: ['y'] }), { x: kiln.tensor(1) }],
        Compress: [(g) => g.node('Compress', [g.node('Expand', [g.input('d', 'float32', []), g.ints([n])]), g.node('Expand', [g.input('c', 'bool', []), g.ints([n])])], { axis: 0 }, { outputs: ['y'] }), { d: kiln.tensor(1), c: kiln.tensor(true) }],
        MaxPool: [(g) => g.node('MaxPool', [g.input('x', 'float32', [n, 1, 0])], { kernel_shape: [2], pads: [1, 1] }, { outputs: ['', 'y'] }), { x: kiln.zeros([n, 1, 0]) }],
        ReverseSequence: [(g) => g.node('ReverseSequence', [g.node('ConstantOfShape', [g.ints([big, 1, 0])]), g.ints([0])], {}, { outputs: ['y'] }), {}],
        ...Object.fromEntries(['RNN', 'GRU', 'LSTM'].map((op) => {
          const G = { RNN: 1, GRU: 3, LSTM: 4 }[op];
          return [op, [(g) => g.node(op, [g.node('ConstantOfShape', [g.ints([big, 0, 1])]), g.floats([1, G, 1], new Array(G).fill(1)), g.floats([1, G, 1], new Array(G).fill(1))], { hidden_size: 1 }, { outputs: ['y'] }), {}]];
        })),
      };
      for (const [op, [build, feeds]] of Object.entries(cases)) {
        const g = new GraphBuilder(op);
        build(g);
        g.output('y', op === 'NonZero' || op === 'MaxPool' ? 'int64' : 'float32');
        const s = await kiln.onnx.load(g.toBytes({ opset: 14 }), { device: 'cpu' });
        const y = (await s.run(feeds)).y;
        out[op] = y.shape;
        await s.dispose();
      }
      try { await kiln.zeros([big, 0]).toArray(); } catch (e) { out.toArray = [e.code, e.message]; }
      console.log(JSON.stringify(out));
    `,
      { NODE_OPTIONS: '--max-old-space-size=96' },
      120_000,
    );
    expect(r.status, ending(r)).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    const big = 2 ** 40, n = 10_000_000;
    expect(res).toEqual({
      NonZero: [1, n], Unique: [1], Compress: [n], MaxPool: [n, 1, 1], ReverseSequence: [big, 1, 0],
      RNN: [big, 1, 0, 1], GRU: [big, 1, 0, 1], LSTM: [big, 1, 0, 1],
      toArray: ['E_OOM', expect.stringMatching(/toArray: \[1099511627776, 0\] nests 1099511627776 arrays/)],
    });
  }, 180_000);
});

forEachBackend('kiln engine: Col2Im and ConvTranspose of nothing', (device) => {
  // One Add per kernel tap: an empty X (Col2Im) or W (ConvTranspose) of a 3000 x 3000 kernel made
  // 9 * 10^6 launches of nothing (minutes; 10^5 x 10^5 would take days). Now they add nothing.
  it('an empty X or W with a kernel of 3000 x 3000 is zeros at once', async () => {
    const k = 3000;
    const g = new GraphBuilder('c');
    g.node('Col2Im', [g.input('x', 'float32', [1, 0, 1]), g.ints([k, k]), g.ints([k, k])], {}, { outputs: ['y'] });
    g.node('ConvTranspose', [g.input('a', 'float32', [1, 0, 1, 1]), g.input('w', 'float32', [0, 1, k, k]), g.floats([1], [2])], {}, { outputs: ['z'] });
    g.output('y', 'float32');
    g.output('z', 'float32');
    const s = await kiln.onnx.load(g.toBytes({ opset: 18 }), { device });
    const { y, z } = await s.run({ x: kiln.zeros([1, 0, 1], { device }), a: kiln.zeros([1, 0, 1, 1], { device }), w: kiln.zeros([0, 1, k, k], { device }) });
    expect(y.shape).toEqual([1, 0, k, k]);
    expect(z.shape).toEqual([1, 1, k, k]);
    const d = (await z.data()) as Float32Array;
    expect([d[0], d[k * k - 1], d.every((v) => v === 2)]).toEqual([2, 2, true]);
    await s.dispose();
  }, 20_000);
});

forEachBackend('kiln engine: recurrent weights', (device) => {
  // checked before a node runs, an empty batch too (onnxruntime fuzz seed 1297: a GRU with
  // hidden_size 0 over an empty sequence ran, with W and R made for 5 hidden units)
  it('a hidden_size below 1, or W and R not shaped for it, is refused, with or without a batch', async () => {
    for (const [op, G] of [['RNN', 1], ['GRU', 3], ['LSTM', 4]] as const)
      for (const [hidden, batch, code, mention] of [[0, 3, 'E_ARGUMENT', 'hidden_size 0 must be at least 1'], [4, 0, 'E_SHAPE', `must be [1, ${G * 4}, 3] and [1, ${G * 4}, 4]`], [4, 2, 'E_SHAPE', 'hidden_size 4']] as const) {
        const g = new GraphBuilder(op);
        const x = g.input('x', 'float32', [2, batch, 3]);
        g.node(op, [x, g.floats([1, G * 5, 3], new Float32Array(G * 15)), g.floats([1, G * 5, 5], new Float32Array(G * 25))], { hidden_size: hidden }, { outputs: ['', 'y'] });
        g.output('y', 'float32');
        const s = await kiln.onnx.load(g.toBytes({ opset: 14 }), { device });
        await expect(s.run({ x: kiln.ones([2, batch, 3], { device }) }), `${op} hidden ${hidden} batch ${batch}`).rejects.toMatchObject({ code, message: expect.stringContaining(mention) });
        await s.dispose();
      }
  });
});
