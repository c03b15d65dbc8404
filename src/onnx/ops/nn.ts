// Dense layers and normalization: MatMul (and KilnMatMul: fuse.ts's MatMul with a constant scale,
// a bias and, on the CPU, a following Relu or Gelu), Gemm (bias fused through MatMul's C operand),
// Softmax/LogSoftmax (opset < 13 flattens to 2-D at `axis`), BatchNormalization (inference, and
// opset 14's training_mode with the running statistics updated),
// LayerNormalization, InstanceNormalization, LRN.
import { fail } from '../../errors.js';
import * as k from '../../ops/index.js';
import { withTemps } from '../../ops/temps.js';
import { broadcastShapes, normalizeAxis, numel, sameShape } from '../../shape.js';
import { empty, run1, runInto } from '../../ops/run.js';
import type { Tensor } from '../../tensor.js';
import { attrFloat, attrInt, attrString, attrFlag } from '../attrs.js';
import type { Node } from '../model.js';
import { defineOps, type OpContext } from './registry.js';
import { binary, checkUnidirectional, input, requireFloat, scalarLike, singleOutput, usedOutputs } from './util.js';

function softmaxLike(ctx: OpContext, f: typeof k.softmax): Tensor {
  const x = input(ctx, 0);
  if (ctx.opset >= 13) return f(x, attrInt(ctx.node, 'axis', -1));
  const a = normalizeAxis('Softmax', attrInt(ctx.node, 'axis', 1), x.rank);
  return withTemps((t) => t.add(f(t.add(x.reshape([numel(x.shape.slice(0, a)), numel(x.shape.slice(a))])), 1)).reshape(x.shape));
}

/** x normalized per channel (dim 1): y = x * a + c with a = scale / sqrt(var + eps), c = bias - mean * a. */
function normalizeChannels(x: Tensor, scale: Tensor, b: Tensor, mean: Tensor, v: Tensor, eps: number): Tensor {
  return withTemps((t) => {
    const a = t.add(k.div(scale, t.add(k.sqrt(t.add(k.add(v, eps))))));
    const c = t.add(k.sub(b, t.add(k.mul(mean, a))));
    const per = [x.shape[1], ...Array(Math.max(0, x.rank - 2)).fill(1)];
    return binary('Add', t.add(binary('Mul', x, t.add(a.reshape(per)))), t.add(c.reshape(per)));
  });
}

/**
 * BatchNormalization with the given statistics (inference), or with training_mode = 1 (opset 14) the
 * batch's own: the mean and population variance over every dim but 1 normalize X, and the running
 * statistics come back updated, input * momentum + batch * (1 - momentum) (outputs 1 and 2; ONNX's
 * reference and onnxruntime).
 */
function batchNorm(ctx: OpContext): Tensor[] {
  requireFloat(ctx, ['X', 'scale', 'B', 'input_mean', 'input_var']);
  const [x, scale, b, mean, v] = [0, 1, 2, 3, 4].map((i) => input(ctx, i));
  const eps = attrFloat(ctx.node, 'epsilon', 1e-5);
  if (!attrFlag(ctx.node, 'training_mode', 0)) return [normalizeChannels(x, scale, b, mean, v, eps)];
  if (x.rank < 2) fail('E_SHAPE', `X ${x.describe()} must be [N, C, ...] in training mode`);
  const momentum = attrFloat(ctx.node, 'momentum', 0.9);
  const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
  return withTemps((t) => {
    const batchMean = t.add(k.mean(x, { axes }));
    const batchVar = t.add(k.variance(x, { axes }));
    const running = (r: Tensor, batch: Tensor) => {
      const inR = batch.dtype === r.dtype ? batch : t.add(k.cast(batch, r.dtype));
      return k.add(t.add(k.mul(r, momentum)), t.add(k.mul(inR, 1 - momentum)));
    };
    return [normalizeChannels(x, scale, b, batchMean, batchVar, eps), running(mean, batchMean), running(v, batchVar)];
  });
}

function instanceNorm(ctx: OpContext): Tensor {
  requireFloat(ctx, ['input', 'scale', 'B']);
  const [x, scale, b] = [0, 1, 2].map((i) => input(ctx, i));
  const eps = attrFloat(ctx.node, 'epsilon', 1e-5);
  return withTemps((t) => {
    const axes = x.shape.slice(2).map((_, i) => i + 2);
    const m = t.add(k.mean(x, { axes, keepdims: true }));
    const centered = t.add(binary('Sub', x, m));
    const v = t.add(k.mean(t.add(binary('Mul', centered, centered)), { axes, keepdims: true }));
    const inv = t.add(k.rsqrt(t.add(k.add(v, eps))));
    const per = [x.shape[1], ...Array(x.rank - 2).fill(1)];
    return binary('Add', t.add(binary('Mul', t.add(binary('Mul', centered, inv)), t.add(scale.reshape(per)))), t.add(b.reshape(per)));
  });
}

/**
 * `norm` (layerNorm or rmsNorm) with ONNX's scale and bias: unidirectionally broadcastable to X, not
 * only to the normalized shape X.shape[axis:] that the kernel takes. Those that fit the normalized
 * shape go to the kernel; others (a scale per batch row, say) are applied after it, by broadcasting.
 */
function normWithParams(
  norm: (x: Tensor, o: { axis: number; epsilon: number; scale?: Tensor; bias?: Tensor }) => Tensor,
  x: Tensor,
  axis: number,
  epsilon: number,
  params: { scale?: Tensor; bias?: Tensor },
): Tensor {
  const normShape = x.shape.slice(axis);
  const fits = (p?: Tensor) => !p || (p.rank <= normShape.length && p.shape.every((d, i) => d === 1 || d === normShape[normShape.length - p.rank + i]));
  if (fits(params.scale) && fits(params.bias)) return norm(x, { axis, epsilon, ...params });
  for (const [what, p] of Object.entries(params)) if (p) checkUnidirectional(what, p, x);
  const normed = norm(x, { axis, epsilon });
  return withTemps((t) => {
    t.add(normed);
    const scaled = params.scale && binary('Mul', normed, params.scale);
    if (!params.bias) return scaled!; // one of the two is there: it did not fit
    if (scaled) t.add(scaled);
    return binary('Add', scaled ?? normed, params.bias);
  });
}

/** Y, and when the graph asks for them the Mean and InvStdDev over the normalized axes (kept as size-1 dims). */
function layerNorm(ctx: OpContext): Tensor[] {
  requireFloat(ctx, ['X', 'Scale', 'B']);
  const x = input(ctx, 0);
  if (x.rank === 0) fail('E_SHAPE', `a 0-d input`);
  const axis = normalizeAxis('LayerNormalization', attrInt(ctx.node, 'axis', -1), x.rank);
  const epsilon = attrFloat(ctx.node, 'epsilon', 1e-5);
  const y = normWithParams(k.layerNorm, x, axis, epsilon, { scale: ctx.inputs[1], bias: ctx.inputs[2] });
  if (usedOutputs(ctx.node) === 1) return [y];
  const axes = x.shape.map((_, i) => i).filter((i) => i >= axis);
  const mean = k.mean(x, { axes, keepdims: true });
  const inv = withTemps((t) => k.rsqrt(t.add(k.add(t.add(k.variance(x, { axes, keepdims: true })), epsilon))));
  return [y, mean, inv];
}

/** GroupNormalization (opset 21): normalize each of num_groups channel groups, then per-channel scale and bias. */
function groupNorm(ctx: OpContext): Tensor {
  requireFloat(ctx, ['X', 'scale', 'bias']);
  const [x, scale, b] = [0, 1, 2].map((i) => input(ctx, i));
  const groups = attrInt(ctx.node, 'num_groups', 1);
  if (x.rank < 2) fail('E_SHAPE', `input ${x.describe()} must be [N, C, ...]`);
  const [N, C] = x.shape;
  return withTemps((t) => {
    const grouped = t.add(x.reshape([N, groups, -1]));
    const normalized = t.add(t.add(k.layerNorm(grouped, { axis: -1, epsilon: attrFloat(ctx.node, 'epsilon', 1e-5) })).reshape(x.shape));
    const per = [C, ...Array(x.rank - 2).fill(1)];
    return binary('Add', t.add(binary('Mul', normalized, t.add(scale.reshape(per)))), t.add(b.reshape(per)));
  });
}

// Opsets 9-13 asked for training by the number of outputs (five, with saved statistics): not implemented.
const bnCheck = (n: Node, opset: number) => {
  if (!attrFlag(n, 'training_mode', 0)) return singleOutput(n);
  if (opset < 14) return `training_mode is an attribute of opset 14 and later (this model's is ${opset})`;
  return n.outputs.length > 3 ? `training mode has 3 outputs (the node asks for ${n.outputs.length})` : undefined;
};

type Activation = 'relu' | 'gelu' | 'gelu_tanh';

/** The composed form of each epilogue activation. */
const ACTIVATIONS: Record<Activation, (y: Tensor) => Tensor> = {
  relu: (y) => k.relu(y),
  gelu: (y) => k.gelu(y),
  gelu_tanh: (y) => k.gelu(y, { approximate: 'tanh' }),
};

/**
 * act(alpha * MatMul(A, B) [+ Bias]) in one MatMul, with Bias as its C operand and act (attribute
 * kiln_activation, set by fuse.ts on the CPU only) as the CPU kernel's epilogue.
 */
function fusedMatmul(ctx: OpContext): Tensor {
  const act = attrString(ctx.node, 'kiln_activation', 'none');
  if (act === 'none') return fusedLinear(ctx);
  if (!(act in ACTIVATIONS)) fail('E_ARGUMENT', `unknown kiln_activation '${act}'`);
  if (input(ctx, 0).device === 'cpu') return fusedLinear(ctx, act as Activation);
  return withTemps((t) => ACTIVATIONS[act as Activation](t.add(fusedLinear(ctx))));  // a node fused for the CPU, run elsewhere
}

/** alpha * A @ B [+ Bias], then `activation` in the CPU kernel's epilogue. */
function fusedLinear(ctx: OpContext, activation?: Activation): Tensor {
  const a = input(ctx, 0), b = input(ctx, 1), bias = ctx.inputs[2];
  const alpha = attrFloat(ctx.node, 'alpha', 1);
  const native = activation ? { activation } : {};
  if (attrInt(ctx.node, 'kiln_b_slivers', 0)) return sliverMatmul(ctx, a, b, bias, alpha, native);
  return withTemps((t) => {
    if (a.rank >= 2 && b.rank >= 2 && a.dtype === b.dtype && (!bias || bias.dtype === a.dtype)) {
      const [M, K] = a.shape.slice(-2), [K2, N] = b.shape.slice(-2);
      const batch = broadcastShapes('MatMul', a.shape.slice(0, -2), b.shape.slice(0, -2));
      const out = [...batch, M, N];
      if (K === K2 && (!bias || sameShape(broadcastShapes('Add', bias.shape, out), out))) {
        const ins = [t.expand(a, [...batch, M, K]), t.expand(b, [...batch, K, N]), ...(bias ? [t.expand(bias, out)] : [])];
        return run1('MatMul', ins, out, a.dtype, { alpha, beta: bias ? 1 : 0, ...native });
      }
    }
    // shapes MatMul's own broadcasting handles (1-D operands): the unfused ops
    if (activation) return ACTIVATIONS[activation](t.add(fusedLinear(ctx)));
    if (alpha === 1 && !bias) return k.matmul(a, b);
    const product = t.add(k.matmul(a, b));
    const scaled = alpha === 1 ? product : binary('Mul', product, scalarLike(product, alpha));
    if (!bias) return scaled;
    if (scaled !== product) t.add(scaled);
    return binary('Add', scaled, bias);
  });
}

/**
 * alpha * A @ B [+ bias] with B stored sliver-major at load (fuse.ts): b is [S, K, w], sliver s
 * holding B's columns [s*w, (s+1)*w). One MatMul batched over the slivers: A broadcast to each,
 * and Y [..., M, S*w] written through a [S, M, w] view (sliver s at column s*w), as is the bias.
 */
function sliverMatmul(ctx: OpContext, a: Tensor, b: Tensor, bias: Tensor | undefined, alpha: number, act: { activation?: Activation }): Tensor {
  const [S, K, w] = b.shape, N = S * w;
  if (a.rank < 2 || a.shape[a.rank - 1] !== K)
    fail('E_SHAPE', `A ${a.describe()} does not fit B [${K}, ${N}]`);
  const lead = a.shape.slice(0, -1), M = numel(lead);
  const y = empty([...lead, N], a.dtype, a.device);
  try {
    withTemps((t) => {
      const a2 = t.add(a.reshape([M, K]));
      const av = t.add(a2.withLayout('matmul', [S, M, K], [0, a2.strides[0], a2.strides[1]]));
      const yv = t.add(y.withLayout('matmul', [S, M, w], [w, N, 1]));
      const ins = [av, b];
      if (bias) ins.push(t.add(bias.withLayout('matmul', [S, M, w], [w * bias.strides[0], 0, bias.strides[0]])));
      runInto('MatMul', ins, [yv], { alpha, beta: bias ? 1 : 0, ...act });
    });
    return y;
  } catch (e) {
    y.dispose();  // as runOp does: a failed launch leaves no output behind
    throw e;
  }
}

/**
 * LRN: y = x / (bias + alpha / size * s)^beta, s the sum of x^2 over the channels
 * [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)] (cut at the edges): the squares padded with
 * zeros along the channels, then a sliding-window sum of width w built by doubling (sums of 1, 2, 4,
 * ... neighbours, the ones w's bits pick added at their offsets): O(C log C) work per position in
 * 2 log2(w) Adds. A matmul with a 0/1 band matrix [C, C] built on the host, as this was, cost O(C^2):
 * C = 8000 took 7 s on 32 KB of data and 15000 threw a RangeError.
 */
function lrn(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  if (x.rank < 3) fail('E_SHAPE', `needs X of shape [N, C, D1, ...], got ${x.describe()}`);
  requireFloat(ctx, ['X']);
  const size = attrInt(ctx.node, 'size') ?? fail('E_ARGUMENT', 'attribute size is required');
  if (!Number.isInteger(size) || size < 1) fail('E_ARGUMENT', `size must be a positive integer, got ${size}`);
  const alpha = attrFloat(ctx.node, 'alpha', 1e-4), beta = attrFloat(ctx.node, 'beta', 0.75), bias = attrFloat(ctx.node, 'bias', 1);
  // a window reaching past every channel sums the same as one reaching just to the edge
  const c = x.shape[1], reach = Math.max(0, c - 1);
  const lo = Math.min(Math.floor((size - 1) / 2), reach), hi = Math.min(Math.ceil((size - 1) / 2), reach), w = lo + hi + 1;
  return withTemps((t) => {
    const sq = t.add(k.mul(x, x));
    // sums[j]: along the channels of `padded`, the sum of 2^j neighbours from each position
    const sums = [t.add(k.pad(sq, x.shape.map((_, d) => (d === 1 ? [lo, hi] : [0, 0]) as [number, number])))];
    while (2 ** sums.length <= w) {
      const m = 2 ** (sums.length - 1), prev = sums[sums.length - 1], n = prev.shape[1] - m;
      sums.push(t.add(k.add(t.add(prev.slice(1, 0, n)), t.add(prev.slice(1, m, m + n)))));
    }
    let s: Tensor | undefined;
    for (let j = sums.length - 1, at = 0; j >= 0; --j) {
      if (Math.floor(w / 2 ** j) % 2 === 0) continue;
      const part = t.add(sums[j].slice(1, at, at + c));
      s = s ? t.add(k.add(s, part)) : part;
      at += 2 ** j;
    }
    const base = t.add(k.add(t.add(k.mul(s!, alpha / size)), bias));
    return k.div(x, t.add(k.pow(base, beta)));
  });
}

defineOps({
  // MatMul with a constant scale and/or a bias folded in at load (fuse.ts)
  KilnMatMul: { uses: ['MatMul', 'Mul', 'Add', 'Fill'], run: (ctx) => [fusedMatmul(ctx)] },
  MatMul: { uses: ['MatMul'], run: (ctx) => [k.matmul(input(ctx, 0), input(ctx, 1))] },
  Gemm: {
    since: 7,
    uses: ['MatMul'],
    run: (ctx) => {
      const n = ctx.node;
      return [k.gemm(input(ctx, 0), input(ctx, 1), {
        c: ctx.inputs[2],
        alpha: attrFloat(n, 'alpha', 1),
        beta: attrFloat(n, 'beta', 1),
        transA: attrFlag(n, 'transA', 0),
        transB: attrFlag(n, 'transB', 0),
      })];
    },
  },
  Softmax: { uses: ['Softmax'], run: (ctx) => [softmaxLike(ctx, k.softmax)] },
  LogSoftmax: { uses: ['LogSoftmax'], run: (ctx) => [softmaxLike(ctx, k.logSoftmax)] },
  BatchNormalization: { since: 9, uses: ['Add', 'Sqrt', 'Div', 'Sub', 'Mul', 'ReduceMean', 'ReduceVariance', 'Cast'], check: bnCheck, run: batchNorm },
  GroupNormalization: { since: 21, uses: ['LayerNormalization', 'Mul', 'Add'], run: (ctx) => [groupNorm(ctx)] },
  InstanceNormalization: { since: 6, uses: ['ReduceMean', 'Sub', 'Mul', 'Rsqrt', 'Add'], run: (ctx) => [instanceNorm(ctx)] },
  RMSNormalization: {
    since: 23,
    uses: ['RMSNormalization'],
    run: (ctx) => {
      requireFloat(ctx, ['X', 'scale']);
      const x = input(ctx, 0);
      if (x.rank === 0) fail('E_SHAPE', `a 0-d input`);
      const axis = normalizeAxis('RMSNormalization', attrInt(ctx.node, 'axis', -1), x.rank);
      return [normWithParams(k.rmsNorm, x, axis, attrFloat(ctx.node, 'epsilon', 1e-5), { scale: ctx.inputs[1] })];
    },
  },
  LayerNormalization: { since: 17, uses: ['LayerNormalization', 'ReduceMean', 'ReduceVariance', 'Rsqrt', 'Add'], run: layerNorm },
  LRN: { uses: ['Mul', 'Pad', 'Add', 'Pow', 'Div', 'Cast'], run: (ctx) => [lrn(ctx)] },
});
