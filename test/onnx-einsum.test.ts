// ONNX Einsum on the Kiln engine: one-node models built with the graph builder, run on every
// available device, checked against a float64 reference that is einsum's definition (a loop over
// every assignment of the letters, size-1 dims broadcast); every malformed equation must be refused
// with a KilnError. The ONNX node tests of Einsum hold float64 data (Kiln has no float64), so their
// equations and data also run here in float32.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType } from '../src/index.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { einsumShape } from '../src/onnx/ops/einsum.js';
import { onnx, toNumber } from '../src/onnx/proto.js';
import { forEachBackend } from './helpers/backends.js';
import { Cases, expectRejection, expectTensor, expectValues } from './helpers/compare.js';
import { makeInput, type Gen, type Layout } from './helpers/inputs.js';
import { SUITE_DIR } from './helpers/onnx-conformance.js';
import { rngFor } from './helpers/random.js';
import { NdArray, forEachIndex, numel, type Shape } from './helpers/reference.js';

/**
 * numpy.einsum by its definition, in float64: the '...' dims become digit labels (right-aligned
 * across operands), and the sum runs over every assignment of every label; a dim of size 1 reads
 * index 0 whatever its label's value. Returns the result and the sum of |products| (the scale
 * a float error grows with).
 */
function reference(equation: string, xs: NdArray[]): { value: NdArray; scale: NdArray } {
  const eq = equation.replace(/\s/g, '');
  const [lhs, rhs] = eq.includes('->') ? eq.split('->') : [eq, undefined];
  const terms = lhs.split(',');
  const ell = Math.max(0, ...terms.map((t, i) => (t.includes('...') ? xs[i].rank - (t.length - 3) : 0)));
  const expand = (t: string, rank: number) => (t.includes('...') ? t.replace('...', [...Array(rank).keys()].map((j) => String(ell - rank + j)).join('')) : t);
  const labels = terms.map((t, i) => [...expand(t, t.includes('...') ? xs[i].rank - (t.length - 3) : 0)]);
  const ellLabels = [...Array(ell).keys()].map(String);
  const out = rhs !== undefined ? [...(rhs.includes('...') ? rhs.replace('...', ellLabels.join('')) : rhs)]
    : [...ellLabels, ...[...new Set(labels.flat())].filter((c) => /[A-Za-z]/.test(c) && labels.flat().filter((d) => d === c).length === 1).sort()];
  const size = new Map<string, number>();
  labels.forEach((ls, i) => ls.forEach((c, d) => {
    if (!size.has(c) || size.get(c) === 1) size.set(c, xs[i].shape[d]);
  }));
  const all = [...size.keys()];
  const value = new NdArray(out.map((c) => size.get(c)!)), scale = new NdArray(value.shape);
  forEachIndex(all.map((c) => size.get(c)!), (idx) => {
    const at = (c: string) => idx[all.indexOf(c)];
    let p = 1;
    xs.forEach((x, i) => (p *= x.at(labels[i].map((c, d) => (x.shape[d] === 1 ? 0 : at(c))))));
    const o = value.strides.reduce((s, st, d) => s + st * at(out[d]), 0);
    value.data[o] += p;
    scale.data[o] += Math.abs(p);
  });
  return { value, scale };
}

/** A one-node model: Einsum over inputs x0, x1, ... of the given dtypes (or an explicit attribute set). */
function model(equation: string | undefined, dtypes: DType[], opset = 12): Uint8Array {
  const g = new GraphBuilder('einsum');
  const ins = dtypes.map((d, i) => g.input(`x${i}`, d));
  g.node('Einsum', ins, equation === undefined ? {} : { equation }, { outputs: ['y'] });
  g.output('y', dtypes[0]);
  return g.toBytes({ opset });
}

async function run(device: string, equation: string | undefined, feeds: kiln.Tensor[], opset = 12): Promise<kiln.Tensor> {
  const s = await kiln.onnx.load(model(equation, feeds.map((t) => t.dtype), opset), { device });
  try {
    return (await s.run(Object.fromEntries(feeds.map((t, i) => [`x${i}`, t])))).y;
  } finally {
    await s.dispose();
  }
}

/** Small integers: exact in every dtype and in every sum these shapes make. */
const smallInts: Gen = (r) => r.int(-3, 3);
const gen = (dtype: DType): Gen => (dtype === 'uint8' ? (r) => r.int(0, 2) : dtype.startsWith('int') ? smallInts : (r) => r.uniform(-2, 2));

/** [equation, input shapes] checked on float32 (and each input also in a non-contiguous layout). */
const CASES: [string, Shape[]][] = [
  ['ij,jk->ik', [[3, 4], [4, 5]]],
  ['ij,jk', [[2, 7], [7, 3]]], // implicit: 'ik'
  ['ij,jk->ki', [[2, 3], [3, 4]]],
  ['bij, bjk -> bik', [[5, 2, 3], [5, 3, 4]]],
  ['...ij,...jk->...ik', [[2, 3, 4], [2, 4, 5]]],
  ['...ij,...jk', [[4, 1, 3, 5], [2, 5, 2]]], // the '...' dims broadcast to [4, 2]
  ['...ij,jk->...ik', [[2, 3, 2, 3], [3, 2]]],
  ['a...b,b...c->...ac', [[2, 3, 4], [4, 3, 5]]],
  ['bn,anm,bm->ba', [[2, 3], [4, 3, 5], [2, 5]]],
  ['ii', [[4, 4]]], // trace
  ['ii->i', [[5, 5]]],
  ['iii->i', [[3, 3, 3]]],
  ['bii->bi', [[2, 3, 3]]],
  ['...ii ->...i', [[3, 5, 5]]],
  ['iij,jk->ik', [[3, 3, 4], [4, 2]]],
  ['i,j->ij', [[3], [4]]],
  ['i,j', [[3], [4]]],
  ['ij,ij->ij', [[3, 4], [3, 4]]],
  ['i,i', [[5], [5]]],
  ['ij->', [[3, 4]]],
  ['ij->i', [[3, 4]]],
  ['ij->ji', [[3, 4]]],
  ['ba', [[3, 4]]], // implicit: 'ab', a transpose
  ['aB', [[3, 4]]], // implicit: 'Ba' (ASCII order: upper case first, as NumPy)
  ['Ab,bC->AC', [[2, 3], [3, 4]]],
  ['->', [[]]],
  [',i->i', [[], [4]]],
  ['ij,jk,kl->il', [[2, 3], [3, 4], [4, 5]]],
  ['ab,bc,ca->', [[2, 3], [3, 4], [4, 2]]],
  ['ij,jk,k->ij', [[2, 3], [3, 4], [4]]],
  ['abcd,cdbe->bae', [[2, 3, 4, 2], [4, 2, 3, 5]]], // several letters in each of batch, M, K, N
  ['ij,ij->', [[3, 4], [3, 4]]],
  ['ij,j->j', [[3, 4], [4]]], // i summed from the first operand alone
  // size-1 dims broadcast against the same letter in another operand
  ['ij,ij->ij', [[2, 1], [1, 4]]],
  ['i,i->i', [[1], [3]]],
  ['ij,jk->ik', [[2, 1], [3, 4]]], // a contracted letter of size 1 on one side
  ['bij,bjk->bik', [[1, 2, 3], [4, 3, 5]]],
  ['ij,jk,kl->il', [[2, 1], [3, 4], [1, 5]]],
  // 0-size dims: an empty contraction is 0, an empty output has no elements
  ['ij,jk->ik', [[2, 0], [0, 3]]],
  ['ij,jk->ik', [[0, 3], [3, 2]]],
  ['i->', [[0]]],
  ['bii->bi', [[0, 2, 2]]],
  ['ij,ij->ij', [[0, 1], [1, 4]]],
];

/** Equations per dtype: the batched matmul (MatMul), a diagonal, a sum and an outer product (Mul). */
const DTYPE_CASES: [string, Shape[]][] = [
  ['bij,bjk->bik', [[2, 3, 4], [2, 4, 5]]],
  ['bii->bi', [[2, 3, 3]]],
  ['ij->', [[3, 4]]],
  ['ij->j', [[3, 4]]],
  ['i,j->ij', [[3], [2]]],
  ['ii', [[3, 3]]],
];

forEachBackend('onnx Einsum', (device) => {
  async function check(c: Cases, equation: string, shapes: Shape[], dtype: DType, layouts: Layout[]): Promise<void> {
    await c.run(`'${equation}' ${dtype} [${shapes.map((s) => `[${s}]`).join(', ')}] ${layouts.join(',')}`, async () => {
      const r = rngFor(`${equation} ${dtype} ${shapes} ${layouts}`);
      const ins = shapes.map((s, i) => makeInput(r, device, dtype, s, layouts[i], gen(dtype)));
      const y = await run(device, equation, ins.map((x) => x.t));
      const want = reference(equation, ins.map((x) => x.ref));
      await expectTensor(y, want.value, dtype, { label: `'${equation}'`, scale: want.scale.data });
      // load-time shape inference agrees with the shape the run gave
      expect(einsumShape(equation, shapes), `'${equation}' inferred shape`).toEqual(y.shape);
    });
  }

  it(`${CASES.length} equations in float32 match the float64 reference, from contiguous and non-contiguous inputs`, async () => {
    const c = new Cases();
    for (const [eq, shapes] of CASES) {
      await check(c, eq, shapes, 'float32', shapes.map(() => 'contiguous'));
      // every input a view: transposed where it has 2 dims or more, else every other element
      const views = shapes.map((s): Layout => (s.length >= 2 ? 'transposed' : s.length === 1 ? 'strided' : 'contiguous'));
      if (shapes.every((s) => numel(s) > 0)) await check(c, eq, shapes, 'float32', views);
    }
    c.done();
  });

  it('keeps each input dtype (float16, bfloat16, int32, int64, uint8)', async () => {
    const c = new Cases();
    for (const dtype of ['float16', 'bfloat16', 'int32', 'int64', 'uint8'] as DType[])
      for (const [eq, shapes] of DTYPE_CASES) await check(c, eq, shapes, dtype, shapes.map(() => 'contiguous'));
    c.done();
  });

  it('frees every intermediate', async () => {
    const xs = [[2, 3], [4, 3, 5], [2, 5]].map((s) => kiln.randn(s, { device }));
    const s = await kiln.onnx.load(model('bn,anm,bm->ba', ['float32', 'float32', 'float32']), { device });
    const before = kiln.memory().devices[device]?.tensors ?? 0;
    const { y } = await s.run({ x0: xs[0], x1: xs[1], x2: xs[2] });
    expect(y.shape).toEqual([2, 4]);
    y.dispose();
    expect(kiln.memory().devices[device]?.tensors ?? 0).toBe(before);
    await s.dispose();
    for (const x of xs) x.dispose();
  });

  it('refuses malformed equations and mismatched inputs with a KilnError naming the fault', () => kiln.scope(async () => {
    const f = (...shape: number[]) => kiln.zeros(shape, { device });
    const refuse = (eq: string | undefined, feeds: kiln.Tensor[], code: kiln.KilnErrorCode, mention: string | RegExp) =>
      expectRejection(run(device, eq, feeds), code, mention);
    await refuse('ij,jk->ik', [f(2, 3), f(4, 5)], 'E_SHAPE', "'j' has size 3 in input 0");
    await refuse('...ij,...jk->...ik', [f(4, 2, 3), f(3, 3, 4)], 'E_SHAPE', "dim 0 of '...' has size 4");
    await refuse('ii->i', [f(2, 3)], 'E_SHAPE', 'a diagonal needs equal sizes');
    await refuse('ij->ij', [f(2, 3), f(2, 3)], 'E_ARGUMENT', 'has 1 operand term(s), the node has 2 input(s)');
    await refuse('ij,jk->ik', [f(2, 3)], 'E_ARGUMENT', 'has 2 operand term(s), the node has 1 input(s)');
    await refuse('ij->k', [f(2, 3)], 'E_ARGUMENT', "the output names 'k', which no input has");
    await refuse('ij->ii', [f(2, 3)], 'E_ARGUMENT', "the output names 'i' more than once");
    await refuse('i1->i', [f(2, 3)], 'E_ARGUMENT', "has the character '1'");
    await refuse('i-j', [f(2, 3)], 'E_ARGUMENT', "has the character '-'");
    await refuse('ij->i,j', [f(2, 3)], 'E_ARGUMENT', "has the character ','");
    await refuse('ij->i->j', [f(2, 3)], 'E_ARGUMENT', "more than one '->'");
    await refuse('..i->i', [f(3)], 'E_ARGUMENT', "a '.' that is not part of '...'");
    await refuse('...i...->i', [f(3)], 'E_ARGUMENT', "more than one '...'");
    await refuse('...ij->ij', [f(4, 2, 3)], 'E_SHAPE', "the output has no '...'");
    await refuse('ij->i', [f(2, 3, 4)], 'E_SHAPE', 'names 2 dim(s), input 0 is float32[2, 3, 4]');
    await refuse('...ijk->i', [f(2, 3)], 'E_SHAPE', "names 3 dim(s) besides '...'");
    await refuse(undefined, [f(2, 3)], 'E_ARGUMENT', "needs the string attribute 'equation'");
    await refuse('i,i', [f(3), kiln.zeros([3], { dtype: 'int32', device })], 'E_DTYPE', 'inputs must share a dtype');
    await refuse('i->', [kiln.zeros([3], { dtype: 'bool', device })], 'E_DTYPE', 'bool');
    // Einsum came with opset 12
    await expectRejection(run(device, 'ij->ji', [f(2, 3)], 11), 'E_UNSUPPORTED', 'implemented for opsets 12');
  }));
});

/** A float64 TensorProto of the ONNX node tests as plain numbers. */
function readDoubles(path: string): NdArray {
  const t = onnx.TensorProto.decode(readFileSync(path));
  const raw = t.rawData && t.rawData.length ? new Float64Array(new Uint8Array(t.rawData).buffer) : Float64Array.from(t.doubleData ?? []);
  return new NdArray((t.dims ?? []).map(toNumber), raw);
}

const nodeTests = existsSync(SUITE_DIR) ? readdirSync(SUITE_DIR).filter((d) => d.startsWith('test_einsum_')) : [];

describe.skipIf(nodeTests.length === 0)('onnx Einsum: the ONNX node tests in float32', () => {
  forEachBackend('onnx Einsum node tests', (device) => {
    it(`${nodeTests.length} node tests agree with their float64 outputs (ONNX tolerances)`, async () => {
      for (const test of nodeTests) {
        const dir = join(SUITE_DIR, test);
        const m = onnx.ModelProto.decode(readFileSync(join(dir, 'model.onnx')));
        const equation = new TextDecoder().decode(m.graph!.node![0].attribute!.find((a) => a.name === 'equation')!.s!);
        const at = join(dir, 'test_data_set_0');
        const ins = m.graph!.input!.map((_, i) => readDoubles(join(at, `input_${i}.pb`)));
        const want = readDoubles(join(at, 'output_0.pb'));
        await kiln.scope(async () => {
          const y = await run(device, equation, ins.map((x) => kiln.tensor(x.data, { shape: x.shape, device })));
          expect(y.shape, test).toEqual(want.shape);
          expectValues(Float64Array.from((await y.data()) as Float32Array), want.data, { rtol: 1e-3, atol: 1e-5 }, test);
        });
      }
    });
  });
});
