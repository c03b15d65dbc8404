// The ONNX fixtures of `kiln bench inference` and of the engine tests, built with Kiln's graph
// builder: an MLP, a small CNN (conv, batch norm, pooling), one transformer encoder block
// (pre-norm attention and an erf-GELU MLP, as exporters write them) and an LSTM classifier.
// Weights are deterministic.
import { GraphBuilder, float } from '../src/onnx/builder.js';
import type { Dim } from '../src/onnx/model.js';

export interface Fixture {
  name: string;
  bytes: Uint8Array;
  /** Input name, shape and values for a run. */
  input: { name: string; shape: number[]; data: Float32Array };
}

/** A small deterministic generator (xorshift32) mapped to [-scale, scale). */
export function values(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; ++i) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32 * 2 - 1) * scale;
  }
  return out;
}

let seed = 1;
const weights = (g: GraphBuilder, shape: number[], scale = 1 / Math.sqrt(shape[0])) => g.floats(shape, values(shape.reduce((a, b) => a * b, 1), seed++, scale));

export function mlp(batch: Dim = 'N', dims = [784, 1024, 1024, 10]): Fixture {
  seed = 11;
  const g = new GraphBuilder('mlp');
  let h = g.input('x', 'float32', [batch, dims[0]]);
  for (let i = 0; i + 1 < dims.length; ++i) {
    h = g.node('Gemm', [h, weights(g, [dims[i + 1], dims[i]], 1 / Math.sqrt(dims[i])), weights(g, [dims[i + 1]], 0.1)], { transB: 1 });
    if (i + 2 < dims.length) h = g.node('Relu', [h]);
  }
  g.node('Softmax', [h], { axis: -1 }, { outputs: ['probs'] });
  g.output('probs', 'float32', [batch, dims[dims.length - 1]]);
  const n = typeof batch === 'number' ? batch : 32;
  return { name: 'mlp', bytes: g.toBytes(), input: { name: 'x', shape: [n, dims[0]], data: values(n * dims[0], 7) } };
}

export function cnn(size = 128, channels = [3, 32, 64, 128], classes = 10): Fixture {
  seed = 21;
  const g = new GraphBuilder('cnn');
  let h = g.input('image', 'float32', [1, channels[0], size, size]);
  for (let i = 0; i + 1 < channels.length; ++i) {
    const [cin, cout] = [channels[i], channels[i + 1]];
    h = g.node('Conv', [h, weights(g, [cout, cin, 3, 3], 1 / Math.sqrt(cin * 9)), weights(g, [cout], 0.1)], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
    const ones = Float32Array.from(values(cout, seed++, 0.2), (v) => 1 + v);
    const variance = Float32Array.from(values(cout, seed++, 0.2), (v) => 1 + v);
    h = g.node('BatchNormalization', [h, g.floats([cout], ones), weights(g, [cout], 0.1), weights(g, [cout], 0.1), g.floats([cout], variance)], { epsilon: float(1e-5) });
    h = g.node('Relu', [h]);
    if (i + 2 < channels.length) h = g.node('MaxPool', [h], { kernel_shape: [2, 2], strides: [2, 2] });
  }
  h = g.node('GlobalAveragePool', [h]);
  h = g.node('Flatten', [h], { axis: 1 });
  const last = channels[channels.length - 1];
  g.node('Gemm', [h, weights(g, [classes, last], 1 / Math.sqrt(last)), weights(g, [classes], 0.1)], { transB: 1 }, { outputs: ['logits'] });
  g.output('logits', 'float32', [1, classes]);
  return { name: 'cnn', bytes: g.toBytes(), input: { name: 'image', shape: [1, channels[0], size, size], data: values(channels[0] * size * size, 5) } };
}

/** One pre-norm encoder block: x + Attn(LN(x)), then + MLP(LN(.)) with erf GELU. */
export function transformer(seq = 128, d = 768, heads = 12, ffn = 3072): Fixture {
  seed = 31;
  const g = new GraphBuilder('encoder');
  const x = g.input('x', 'float32', [1, seq, d]);
  const hd = d / heads;
  const ln = (v: string) => g.node('LayerNormalization', [v, g.floats([d], new Float32Array(d).fill(1)), g.floats([d], new Float32Array(d))], { axis: -1, epsilon: float(1e-5) });
  const dense = (v: string, din: number, dout: number) => g.node('Add', [g.node('MatMul', [v, weights(g, [din, dout], 1 / Math.sqrt(din))]), weights(g, [dout], 0.02)]);
  const heads4 = (v: string) => g.node('Transpose', [g.node('Reshape', [v, g.ints([1, seq, heads, hd])])], { perm: [0, 2, 1, 3] });
  const a = ln(x);
  const q = heads4(dense(a, d, d)), kk = heads4(dense(a, d, d)), v = heads4(dense(a, d, d));
  const scores = g.node('Div', [g.node('MatMul', [q, g.node('Transpose', [kk], { perm: [0, 1, 3, 2] })]), g.floats([], [Math.sqrt(hd)])]);
  const ctx = g.node('MatMul', [g.node('Softmax', [scores], { axis: -1 }), v]);
  const merged = g.node('Reshape', [g.node('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.ints([1, seq, d])]);
  const h1 = g.node('Add', [x, dense(merged, d, d)]);
  const u = dense(ln(h1), d, ffn);
  // GELU(u) = 0.5 * u * (1 + erf(u / sqrt(2)))
  const erf = g.node('Erf', [g.node('Div', [u, g.floats([], [Math.SQRT2])])]);
  const gelu = g.node('Mul', [g.node('Mul', [u, g.node('Add', [erf, g.floats([], [1])])]), g.floats([], [0.5])]);
  g.node('Add', [h1, dense(gelu, ffn, d)], {}, { outputs: ['y'] });
  g.output('y', 'float32', [1, seq, d]);
  return { name: 'transformer', bytes: g.toBytes(), input: { name: 'x', shape: [1, seq, d], data: values(seq * d, 3) } };
}

/** A small MLP at batch 1 (64-64-64-10): its latency is mostly per-run overhead, not arithmetic. */
export function smallMlp(): Fixture {
  return { ...mlp(1, [64, 64, 64, 10]), name: 'small-mlp' };
}

/**
 * One LSTM layer over a sequence (as a keyword-spotting or time-series model exports it), its last
 * hidden state into a dense layer: [steps, 1, features] -> [1, classes].
 */
export function lstm(steps = 100, features = 64, hidden = 128, classes = 10): Fixture {
  seed = 41;
  const g = new GraphBuilder('lstm');
  const x = g.input('x', 'float32', [steps, 1, features]);
  const W = weights(g, [1, 4 * hidden, features], 1 / Math.sqrt(features));
  const R = weights(g, [1, 4 * hidden, hidden], 1 / Math.sqrt(hidden));
  const [, yh] = g.nodeOutputs('LSTM', [x, W, R, weights(g, [1, 8 * hidden], 0.1)], { hidden_size: hidden }, { outputs: 3 });
  const last = g.node('Reshape', [yh, g.ints([1, hidden])]);
  g.node('Gemm', [last, weights(g, [classes, hidden], 1 / Math.sqrt(hidden)), weights(g, [classes], 0.1)], { transB: 1 }, { outputs: ['logits'] });
  g.output('logits', 'float32', [1, classes]);
  return { name: 'lstm', bytes: g.toBytes(), input: { name: 'x', shape: [steps, 1, features], data: values(steps * features, 13) } };
}

export const FIXTURES = { mlp, cnn, transformer, 'small-mlp': smallMlp, lstm } as const;
