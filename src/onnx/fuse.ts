// Load-time graph rewrites that save whole passes over memory (what onnxruntime's graph
// optimizer does for the same patterns):
//   Conv -> BatchNormalization   with constant weights: BN folded into the Conv's W and B
//   MatMul -> Div or Mul by a constant scalar, then -> Add(bias)
//                                one KilnMatMul: the scale as MatMul's alpha, the bias as its C
//                                operand (attention's scores / sqrt(d), dense layers' biases)
//   x * 0.5 * (1 + erf(x / sqrt 2)), as exporters write GELU -> one native Gelu
//   Gemm with a constant B and transB=1: B stored transposed once at load, so the matmul reads a
//                                unit-stride B in place for small batches instead of packing it;
//                                on the CPU, with float32 B, no transA and beta 1, then a KilnMatMul
//   Conv -> Relu -> MaxPool      one KilnConv where the device has the native Conv: its epilogue
//                                applies the ReLU, and a max pool whose windows tile the output
//                                (window = stride, no padding) reduces the conv rows while they
//                                are in cache; either may be absent
//   MatMul/KilnMatMul with a constant 2-D B [K, N] (N a multiple of 32), on the CPU
//                                B stored sliver-major, [N/32, K, 32], and run as a batched MatMul
//                                over those slivers (kiln_b_slivers): each 32-column sliver of B is
//                                then one sequential run of memory, where in place its rows lie N
//                                floats apart (streamed from DRAM that way, a cold weight cost ~25%
//                                more), as onnxruntime pre-packs constant weights
//   KilnMatMul -> Relu or Gelu   on the CPU, one KilnMatMul whose epilogue applies the activation
//                                (kiln_activation 'relu', 'gelu' or 'gelu_tanh'; onnxruntime fuses
//                                Gemm -> Relu alike): an MLP's layers, a transformer's up-projection
//   Relu -> MaxPool              MaxPool -> Relu (equal, as Relu is monotonic; the Relu then
//                                touches the pooled, smaller tensor)
// A rewrite only applies when every intermediate it removes has a single consumer and is not a
// graph output, so no value the graph exposes changes.
import * as k from '../ops/index.js';
import { withTemps } from '../ops/temps.js';
import type { Tensor } from '../tensor.js';
import type { BackendKind } from '../backends/backend.js';
import { KilnError } from '../errors.js';
import { attrFloat, attrInt, attrInts, attrString, attrFlag } from './attrs.js';
import type { Graph, Node } from './model.js';

interface FuseContext {
  graph: Graph;
  constants: Map<string, Tensor>;
  /** Graph inputs (fed at run time even when they have a default). */
  fed: Set<string>;
  /** Whether the device has a native op (a fusion that needs one it lacks is skipped). */
  supports: (op: string) => boolean;
  /** The device's backend kind (layout choices that only pay off on one backend). */
  kind: BackendKind;
}

/** Column width of the sliver-major weight layout (kiln_b_slivers): a multiple of every CPU micro-kernel's NR. */
const SLIVER = 32;

/** A MaxPool whose windows tile its input: stride = window, no padding or dilation, floor mode, no Indices. */
function tiledPool(pool: Node, q: number[]): boolean {
  const ones = (v: number[] | undefined, want: number) => !v || v.every((x) => x === want);
  const strides = attrInts(pool, 'strides');
  return q.length >= 1 && q.length <= 2 && !!strides && strides.length === q.length && strides.every((s, i) => s === q[i]) &&
    ones(attrInts(pool, 'pads'), 0) && ones(attrInts(pool, 'dilations'), 1) && !attrFlag(pool, 'ceil_mode', 0) &&
    ['NOTSET', 'VALID'].includes(attrString(pool, 'auto_pad', 'NOTSET')) && !pool.outputs.slice(1).some(Boolean);
}

/**
 * A pattern's reading of a node's attributes, which judges nothing: a malformed attribute makes the
 * pattern not match (`otherwise`), and the node runs unfused, where its handler reports it the same
 * way on every device. (A throw here failed the load only where the fusion applies: a Gemm with
 * transA -2^31 was E_ARGUMENT at load on the cpu, which fuses Gemm, and E_DTYPE at run on webgpu,
 * whose input check came first: cpu/webgpu fuzz seed 5019.)
 */
function lenient<T>(read: () => T, otherwise: T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof KilnError) return otherwise;
    throw e;
  }
}

const isConst = (c: FuseContext, name: string | undefined) => !!name && c.constants.has(name) && !c.fed.has(name);

async function scalar(c: FuseContext, name: string): Promise<number | undefined> {
  if (!isConst(c, name)) return undefined;
  const t = c.constants.get(name)!;
  if (t.size !== 1 || t.dtype !== 'float32') return undefined;
  return Number((await t.data())[0]);
}

/** The kiln_activation attribute of a fused Conv or MatMul. */
const activationAttr = (name: string) => ({ name: 'kiln_activation', type: 3, s: new TextEncoder().encode(name) });

const near = (v: number | undefined, want: number) => v !== undefined && Math.abs(v - want) <= 1e-4 * Math.abs(want);

export async function fuse(c: FuseContext): Promise<void> {
  let nodes = c.graph.nodes;
  const consumers = () => {
    const m = new Map<string, Node[]>();
    for (const n of nodes) for (const i of [...n.inputs, ...[...n.subgraphs.values()].flatMap((g) => g.nodes.flatMap((x) => x.inputs))]) if (i) m.set(i, [...(m.get(i) ?? []), n]);
    return m;
  };
  const outputs = new Set(c.graph.outputs.map((o) => o.name));
  let uses = consumers();
  const only = (value: string): Node | undefined => {
    const u = uses.get(value);
    return !outputs.has(value) && u && u.length === 1 ? u[0] : undefined;
  };
  const removed = new Set<Node>();
  const other = (n: Node, name: string) => (n.inputs[0] === name ? n.inputs[1] : n.inputs[0]);

  for (const conv of nodes) {
    if (conv.opType !== 'Conv' || !isConst(c, conv.inputs[1]) || (conv.inputs[2] && !isConst(c, conv.inputs[2]))) continue;
    const bn = only(conv.outputs[0]);
    if (!bn || bn.opType !== 'BatchNormalization' || bn.outputs.slice(1).some(Boolean) || lenient(() => attrFlag(bn, 'training_mode', 0), true)) continue;
    if (!bn.inputs.slice(1, 5).every((i) => isConst(c, i))) continue;
    const eps = lenient(() => attrFloat(bn, 'epsilon', 1e-5), undefined);
    if (eps === undefined) continue;
    const [scale, beta, mean, variance] = bn.inputs.slice(1, 5).map((i) => c.constants.get(i)!);
    const w = c.constants.get(conv.inputs[1])!;
    withTemps((t) => {
      // a = scale / sqrt(var + eps); W' = W * a (per output channel); B' = (B - mean) * a + beta
      const a = t.add(k.div(scale, t.add(k.sqrt(t.add(k.add(variance, eps))))));
      const w2 = k.mul(w, t.add(a.reshape([a.size, ...Array(w.rank - 1).fill(1)])));
      const b0 = conv.inputs[2] ? c.constants.get(conv.inputs[2])! : t.add(k.zerosLike(mean));
      const b2 = k.add(t.add(k.mul(t.add(k.sub(b0, mean)), a)), beta);
      const wName = `${conv.name}/W_bn_folded`, bName = `${conv.name}/B_bn_folded`;
      c.constants.set(wName, w2);
      c.constants.set(bName, b2);
      conv.inputs = [conv.inputs[0], wName, bName];
    });
    conv.outputs = [bn.outputs[0]];
    removed.add(bn);
  }
  nodes = nodes.filter((n) => !removed.has(n));
  uses = consumers();

  for (const div of nodes) {
    // u / sqrt2 -> Erf -> + 1 -> * u -> * 0.5
    if (!c.supports('Gelu') || removed.has(div) || div.opType !== 'Div' || !near(await scalar(c, div.inputs[1]), Math.SQRT2)) continue;
    const u = div.inputs[0];
    const erf = only(div.outputs[0]);
    if (erf?.opType !== 'Erf') continue;
    const add = only(erf.outputs[0]);
    if (add?.opType !== 'Add' || !near(await scalar(c, other(add, erf.outputs[0])), 1)) continue;
    const mul = only(add.outputs[0]);
    if (mul?.opType !== 'Mul' || other(mul, add.outputs[0]) !== u) continue;
    const half = only(mul.outputs[0]);
    if (half?.opType !== 'Mul' || !near(await scalar(c, other(half, mul.outputs[0])), 0.5)) continue;
    for (const n of [erf, add, mul, half]) removed.add(n);
    Object.assign(div, { opType: 'Gelu', inputs: [u], outputs: [half.outputs[0]], attrs: new Map() });
  }
  nodes = nodes.filter((n) => !removed.has(n));
  uses = consumers();

  for (const gemm of nodes) {
    if (gemm.opType !== 'Gemm' || !lenient(() => attrFlag(gemm, 'transB', 0), false) || !isConst(c, gemm.inputs[1])) continue;
    const b = c.constants.get(gemm.inputs[1])!;
    if (b.rank !== 2) continue;
    const name = `${gemm.name}/B_transposed`;
    c.constants.set(name, withTemps((t) => t.add(b.transpose()).contiguous()));
    gemm.inputs = [gemm.inputs[0], name, ...gemm.inputs.slice(2)];
    gemm.attrs = new Map(gemm.attrs).set('transB', { name: 'transB', type: 2, i: 0 });
  }

  // On the CPU a Gemm with constant float32 weights, A untransposed and beta 1 is the KilnMatMul
  // alpha * A @ B + C, so that its weights take the sliver-major layout below (an MLP's layers)
  for (const gemm of nodes) {
    if (c.kind !== 'cpu' || gemm.opType !== 'Gemm' || lenient(() => attrFlag(gemm, 'transA', 0) || attrFlag(gemm, 'transB', 0), true) || !isConst(c, gemm.inputs[1])) continue;
    const alpha = lenient(() => attrFloat(gemm, 'alpha', 1), undefined), beta = lenient(() => attrFloat(gemm, 'beta', 1), undefined);
    if (c.constants.get(gemm.inputs[1])!.dtype !== 'float32' || alpha === undefined || beta === undefined || (gemm.inputs[2] && beta !== 1)) continue;
    Object.assign(gemm, { opType: 'KilnMatMul', attrs: new Map([['alpha', { name: 'alpha', type: 1, f: alpha }]]) });
  }

  for (const conv of nodes) {
    if (!c.supports('Conv') || conv.opType !== 'Conv') continue;
    const attrs = new Map(conv.attrs);
    let next = only(conv.outputs[0]);
    if (next?.opType === 'Relu') {
      removed.add(next);
      conv.outputs = [next.outputs[0]];
      attrs.set('kiln_activation', activationAttr('relu'));
      next = only(conv.outputs[0]);
    }
    const q = next?.opType === 'MaxPool' ? lenient(() => attrInts(next, 'kernel_shape'), undefined) : undefined;
    if (next && q && lenient(() => tiledPool(next, q), false)) {
      removed.add(next);
      conv.outputs = [next.outputs[0]];
      attrs.set('kiln_pool', { name: 'kiln_pool', type: 7, ints: q });
    }
    if (attrs.size > conv.attrs.size) Object.assign(conv, { opType: 'KilnConv', attrs });
  }
  nodes = nodes.filter((n) => !removed.has(n));
  uses = consumers();

  for (const relu of nodes) {
    if (relu.opType !== 'Relu') continue;
    const pool = only(relu.outputs[0]);
    if (pool?.opType !== 'MaxPool' || pool.outputs.slice(1).some(Boolean)) continue;
    const [x, r, p] = [relu.inputs[0], relu.outputs[0], pool.outputs[0]];
    pool.inputs = [x];
    pool.outputs = [r];
    relu.inputs = [r];
    relu.outputs = [p];
  }

  for (const mm of nodes) {
    if (mm.opType !== 'MatMul') continue;
    let alpha = 1;
    const scale = only(mm.outputs[0]);
    if ((scale?.opType === 'Div' && scale.inputs[0] === mm.outputs[0]) || (scale?.opType === 'Mul' && scale.inputs[0] !== scale.inputs[1])) {
      const v = await scalar(c, other(scale, mm.outputs[0]));
      if (v !== undefined && v !== 0 && Number.isFinite(v)) {
        alpha = scale.opType === 'Div' ? 1 / v : v;
        removed.add(scale);
        mm.outputs = [scale.outputs[0]];
      }
    }
    const add = only(mm.outputs[0]);
    const biased = add?.opType === 'Add' && add.inputs[0] !== add.inputs[1];
    if (!biased && alpha === 1) continue;
    if (biased) removed.add(add);
    Object.assign(mm, {
      opType: 'KilnMatMul',
      inputs: biased ? [...mm.inputs, other(add, mm.outputs[0])] : mm.inputs,
      outputs: biased ? [add.outputs[0]] : mm.outputs,
      attrs: new Map(mm.attrs).set('alpha', { name: 'alpha', type: 1, f: alpha }),
    });
  }
  nodes = nodes.filter((n) => !removed.has(n));

  uses = consumers();
  for (const mm of nodes) {
    if (c.kind !== 'cpu' || mm.opType !== 'KilnMatMul' || mm.attrs.has('kiln_activation')) continue;
    const act = only(mm.outputs[0]);
    const approximate = act?.opType === 'Gelu' ? lenient(() => attrString(act, 'approximate', 'none'), undefined) : undefined;
    const name = act?.opType === 'Relu' ? 'relu' : approximate === 'none' ? 'gelu' : approximate === 'tanh' ? 'gelu_tanh' : undefined;
    if (!act || !name) continue;
    removed.add(act);
    mm.outputs = [act.outputs[0]];
    mm.attrs = new Map(mm.attrs).set('kiln_activation', activationAttr(name));
  }
  nodes = nodes.filter((n) => !removed.has(n));

  for (const mm of nodes) {
    if (c.kind !== 'cpu' || (mm.opType !== 'MatMul' && mm.opType !== 'KilnMatMul') || !isConst(c, mm.inputs[1])) continue;
    const b = c.constants.get(mm.inputs[1])!;
    const bias = mm.inputs[2] ? c.constants.get(mm.inputs[2]) : undefined;
    if (b.rank !== 2 || b.dtype !== 'float32' || b.shape[1] % SLIVER || b.shape[1] < 2 * SLIVER) continue;
    if (mm.inputs[2] && !(isConst(c, mm.inputs[2]) && bias!.rank === 1 && bias!.shape[0] === b.shape[1] && bias!.dtype === 'float32')) continue;
    const [K, N] = b.shape;
    const name = `${mm.name}/B_slivers`;
    c.constants.set(name, withTemps((t) => t.add(t.add(b.reshape([K, N / SLIVER, SLIVER])).permute([1, 0, 2])).contiguous()));
    Object.assign(mm, {
      opType: 'KilnMatMul',
      inputs: [mm.inputs[0], name, ...mm.inputs.slice(2)],
      attrs: new Map(mm.attrs).set('kiln_b_slivers', { name: 'kiln_b_slivers', type: 2, i: SLIVER }),
    });
  }
  c.graph.nodes = nodes;
}
