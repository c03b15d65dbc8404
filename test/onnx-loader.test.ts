// kiln.onnx.load: metadata, initializers from typed fields and raw_data, defaults for graph inputs,
// external data confined to the model's folder, constant folding of shape arithmetic, load-time
// E_UNSUPPORTED naming node, op and opset, and the errors of run().
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { GraphBuilder, float, hostTensor } from '../src/onnx/builder.js';
import { onnx, type GraphProto, type TensorProto } from '../src/onnx/proto.js';
import './helpers/backends.js';

const DT = onnx.TensorProto.DataType;

async function rejects(p: Promise<unknown>, code: kiln.KilnErrorCode, text?: RegExp): Promise<kiln.KilnError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(kiln.KilnError);
  expect((e as kiln.KilnError).code).toBe(code);
  if (text) expect((e as kiln.KilnError).message).toMatch(text);
  return e as kiln.KilnError;
}

/** y = x + w, w an initializer given by `w` (a TensorProto), x [2, 3]. */
function addModel(w: TensorProto, extra: Partial<GraphProto> = {}): Uint8Array {
  const vi = (name: string, dims: (number | string)[]) => ({ name, type: { tensorType: { elemType: DT.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'test',
    metadataProps: [{ key: 'author', value: 'kiln' }],
    graph: { name: 'g', node: [{ opType: 'Add', input: ['x', 'w'], output: ['y'], name: 'add' }], input: [vi('x', ['batch', 3])], output: [vi('y', ['batch', 3])], initializer: [w], ...extra },
  })).finish();
}

describe('onnx loader', () => {
  it('reports inputs, outputs (symbolic dims), metadata and opsets', async () => {
    const s = await kiln.onnx.load(addModel({ name: 'w', dataType: DT.FLOAT, dims: [3], floatData: [1, 2, 3] }));
    expect(s.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: ['batch', 3] }]);
    expect(s.outputs).toEqual([{ name: 'y', dtype: 'float32', shape: ['batch', 3] }]);
    expect(s.metadata).toMatchObject({ producer: 'test', irVersion: 8, opsets: { '': 17 }, props: { author: 'kiln' } });
    await s.dispose();
  });

  it('reads initializers from float_data, int64_data and raw_data', async () => {
    for (const w of [
      { name: 'w', dataType: DT.FLOAT, dims: [3], floatData: [1, 2, 3] },
      { name: 'w', dataType: DT.FLOAT, dims: [3], rawData: new Uint8Array(new Float32Array([1, 2, 3]).buffer) },
    ]) {
      const s = await kiln.onnx.load(addModel(w));
      const { y } = await s.run({ x: kiln.tensor([[0, 0, 0], [1, 1, 1]]) });
      expect(await y.toArray()).toEqual([[1, 2, 3], [2, 3, 4]]);
      await s.dispose();
    }
    // int64_data feeds a Reshape's shape (read on the host)
    const g = new GraphBuilder();
    g.node('Reshape', [g.input('x', 'float32', [6]), 's'], {}, { outputs: ['y'] });
    g.output('y', 'float32', [2, 3]);
    const m = onnx.ModelProto.decode(g.toBytes());
    m.graph!.initializer = [onnx.TensorProto.create({ name: 's', dataType: DT.INT64, dims: [2], int64Data: [2, 3] })];
    const s = await kiln.onnx.load(onnx.ModelProto.encode(m).finish());
    const { y } = await s.run({ x: kiln.arange(6, undefined, 1, { dtype: 'float32' }) });
    expect(y.shape).toEqual([2, 3]);
    await s.dispose();
  });

  it('uses an initializer as the default of a graph input, which a feed overrides', async () => {
    const bytes = addModel({ name: 'w', dataType: DT.FLOAT, dims: [3], floatData: [1, 2, 3] }, {
      input: [
        { name: 'x', type: { tensorType: { elemType: DT.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }] } } } },
        { name: 'w', type: { tensorType: { elemType: DT.FLOAT, shape: { dim: [{ dimValue: 3 }] } } } },
      ],
    });
    const s = await kiln.onnx.load(bytes);
    expect(s.inputs[1]).toMatchObject({ name: 'w', optional: true });
    const x = kiln.tensor([[10, 10, 10]]);
    expect(await (await s.run({ x })).y.toArray()).toEqual([[11, 12, 13]]);
    expect(await (await s.run({ x, w: kiln.tensor([0, 0, 1]) })).y.toArray()).toEqual([[10, 10, 11]]);
    await s.dispose();
  });

  it('reads external data inside the model folder and refuses paths that escape it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'kiln-ext-'));
    const modelDir = join(root, 'model');
    mkdirSync(join(modelDir, 'weights'), { recursive: true });
    writeFileSync(join(modelDir, 'weights', 'w.bin'), new Uint8Array(new Float32Array([0, 5, 6, 7]).buffer));
    writeFileSync(join(root, 'secret.bin'), new Uint8Array(16));
    symlinkSync(join(root, 'secret.bin'), join(modelDir, 'link.bin'));
    const external = (location: string) => ({
      name: 'w', dataType: DT.FLOAT, dims: [3], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [{ key: 'location', value: location }, { key: 'offset', value: '4' }, { key: 'length', value: '12' }],
    });
    const save = (name: string, location: string) => {
      const path = join(modelDir, name);
      writeFileSync(path, addModel(external(location)));
      return path;
    };
    const s = await kiln.onnx.load(save('ok.onnx', 'weights/w.bin'));
    expect(await (await s.run({ x: kiln.zeros([1, 3]) })).y.toArray()).toEqual([[5, 6, 7]]);
    await s.dispose();
    for (const engine of ['kiln', 'ort'] as const) {
      await rejects(kiln.onnx.load(save('up.onnx', '../secret.bin'), { engine }), 'E_ARGUMENT', /escapes the model's folder/);
      await rejects(kiln.onnx.load(save('abs.onnx', join(root, 'secret.bin')), { engine }), 'E_ARGUMENT', /escapes/);
      await rejects(kiln.onnx.load(save('link.onnx', 'link.bin'), { engine }), 'E_ARGUMENT', /through a link/);
    }
    await rejects(kiln.onnx.load(addModel(external('weights/w.bin'))), 'E_ARGUMENT', /needs the model's folder/);
  });

  it('folds shape arithmetic on static shapes at load', async () => {
    // y = Reshape(x, Concat(Gather(Shape(x), 0), [-1])): everything but the Reshape folds.
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [4, 2, 3]);
    const n = g.node('Unsqueeze', [g.node('Gather', [g.node('Shape', [x]), g.constant('zero', hostTensor('int64', [], [0]))]), g.ints([0])]);
    g.node('Reshape', [x, g.node('Concat', [n, g.ints([-1])], { axis: 0 })], {}, { outputs: ['y'] });
    g.output('y', 'float32', [4, 6]);
    const s = (await kiln.onnx.load(g.toBytes())) as kiln.onnx.InferenceSession & { stats: { nodes: number; folded: number } };
    expect(s.stats).toEqual({ nodes: 1, folded: 4 });
    const { y } = await s.run({ x: kiln.arange(24, undefined, 1, { dtype: 'float32' }).reshape([4, 2, 3]) });
    expect(y.shape).toEqual([4, 6]);
    expect(Array.from((await y.data()) as Float32Array)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    await s.dispose();
  });

  it('infers static shapes through the graph, so Shape of an intermediate folds too', async () => {
    // h = Transpose(MatMul(x, w) + b); y = Reshape(h, Concat(Shape(h)[0:1], [-1]))
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [2, 3, 4]);
    const h = g.node('Transpose', [g.node('Add', [g.node('MatMul', [x, g.floats([4, 5], new Float32Array(20).fill(0.5))]), g.floats([5], [1, 2, 3, 4, 5])])], { perm: [2, 0, 1] });
    const lead = g.node('Slice', [g.node('Shape', [h]), g.ints([0]), g.ints([1])]);
    g.node('Reshape', [h, g.node('Concat', [lead, g.ints([-1])], { axis: 0 })], {}, { outputs: ['y'] });
    g.output('y', 'float32', [5, 6]);
    const s = (await kiln.onnx.load(g.toBytes())) as kiln.onnx.InferenceSession & { stats: { nodes: number; folded: number } };
    // MatMul+Add fuse into one node; Shape, Slice and Concat fold; Transpose and Reshape run
    expect(s.stats).toEqual({ nodes: 3, folded: 3 });
    const { y } = await s.run({ x: kiln.ones([2, 3, 4]) });
    expect(y.shape).toEqual([5, 6]);
    expect(await y.toArray()).toEqual([1, 2, 3, 4, 5].map((b) => new Array(6).fill(2 + b)));
    await s.dispose();
  });

  it('infers the shapes of TopK (its constant K), ReverseSequence and LRN outputs, so Shape of them folds', async () => {
    // v = TopK(x, 4)[0]; r = LRN(ReverseSequence(v)[None]); y = Reshape(r, Shape(r))
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [3, 10]);
    const [v] = g.nodeOutputs('TopK', [x, g.ints([4])], { axis: 1 }, { outputs: 2 });
    const rev = g.node('ReverseSequence', [v, g.ints([3, 2, 1, 0])], { time_axis: 0, batch_axis: 1 });
    const r = g.node('LRN', [g.node('Unsqueeze', [rev, g.ints([0])])], { size: 3 });
    g.node('Reshape', [r, g.node('Shape', [r])], {}, { outputs: ['y'] });
    g.output('y', 'float32', [1, 3, 4]);
    const s = (await kiln.onnx.load(g.toBytes())) as kiln.onnx.InferenceSession & { stats: { nodes: number; folded: number } };
    expect(s.stats).toEqual({ nodes: 5, folded: 1 });
    const { y } = await s.run({ x: kiln.arange(30, undefined, 1, { dtype: 'float32' }).reshape([3, 10]) });
    expect(y.shape).toEqual([1, 3, 4]);
    await s.dispose();
  });

  it('infers the shapes of Einsum outputs (explicit, implicit, broadcast under ...), so Shape of them folds', async () => {
    // e1 = einsum('bij,jk->bik', x, w); e2 = einsum('...ij,...jk', u, v) (implicit: '...', then i, k);
    // e3 = einsum('ii->i', d); each y = Reshape(e, Shape(e))
    const g = new GraphBuilder();
    const e1 = g.node('Einsum', [g.input('x', 'float32', [2, 3, 4]), g.floats([4, 5], new Float32Array(20).fill(1))], { equation: 'bij,jk->bik' });
    const e2 = g.node('Einsum', [g.input('u', 'float32', [2, 1, 3, 4]), g.input('v', 'float32', [5, 4, 6])], { equation: '...ij,...jk' });
    const e3 = g.node('Einsum', [g.input('d', 'float32', [3, 3])], { equation: 'ii->i' });
    for (const [e, y] of [[e1, 'y1'], [e2, 'y2'], [e3, 'y3']]) g.node('Reshape', [e, g.node('Shape', [e])], {}, { outputs: [y] });
    g.output('y1', 'float32', [2, 3, 5]);
    g.output('y2', 'float32', [2, 5, 3, 6]);
    g.output('y3', 'float32', [3]);
    const s = (await kiln.onnx.load(g.toBytes({ opset: 12 }))) as kiln.onnx.InferenceSession & { stats: { nodes: number; folded: number } };
    expect(s.stats).toEqual({ nodes: 6, folded: 3 });
    const { y1, y2, y3 } = await s.run({ x: kiln.ones([2, 3, 4]), u: kiln.ones([2, 1, 3, 4]), v: kiln.ones([5, 4, 6]), d: kiln.arange(9, undefined, 1, { dtype: 'float32' }).reshape([3, 3]) });
    expect([y1.shape, y2.shape, y3.shape]).toEqual([[2, 3, 5], [2, 5, 3, 6], [3]]);
    expect(await y1.toArray()).toEqual(new Array(2).fill(new Array(3).fill(new Array(5).fill(4))));
    expect(Array.from((await y2.data()) as Float32Array)).toEqual(new Array(180).fill(4));
    expect(await y3.toArray()).toEqual([0, 4, 8]);
    await s.dispose();
  });

  it('throws E_UNSUPPORTED at load naming the node, the op and the opset', async () => {
    const model = (op: string, opset: number, domain = '') => {
      const g = new GraphBuilder();
      g.node(op, [g.input('x', 'float32', [2])], {}, { outputs: ['y'], name: 'the_node', domain });
      g.output('y', 'float32', [2]);
      return g.toBytes({ opset });
    };
    await rejects(kiln.onnx.load(model('NoSuchOp', 17)), 'E_UNSUPPORTED', /node 'the_node' \(op NoSuchOp, opset 17\)/);
    await rejects(kiln.onnx.load(model('Relu', 30)), 'E_UNSUPPORTED', /node 'the_node' \(op Relu, opset 30\).*opsets 1 to 25/);
    await rejects(kiln.onnx.load(model('Relu', 17, 'com.example')), 'E_UNSUPPORTED', /domain 'com.example'/);
    // an op named at an opset before ONNX had it (Sin and Cos came with 7, Sign with 9, Round with 11)
    await rejects(kiln.onnx.load(model('Sin', 6)), 'E_UNSUPPORTED', /op Sin, opset 6\).*opsets 7 to 25/);
    await rejects(kiln.onnx.load(model('Sign', 8)), 'E_UNSUPPORTED', /op Sign, opset 8\).*opsets 9 to 25/);
    await rejects(kiln.onnx.load(model('Round', 10)), 'E_UNSUPPORTED', /op Round, opset 10\).*opsets 11 to 25/);
    // an attribute value the handler lacks, in a nested position of the graph
    const g = new GraphBuilder();
    g.node('Resize', [g.input('x', 'float32', [1, 1, 2, 2]), '', g.floats([4], [1, 1, 2, 2])], { mode: 'lanczos' }, { outputs: ['y'], name: 'up' });
    g.output('y', 'float32', [1, 1, 4, 4]);
    await rejects(kiln.onnx.load(g.toBytes({ opset: 19 })), 'E_UNSUPPORTED', /node 'up' \(op Resize, opset 19\): mode 'lanczos'/);
    // BatchNormalization in training mode: opset 14's attribute and its 3 outputs; the running
    // statistics of inference mode (opsets 9-13 asked for training by 5 outputs) are not computed
    const bn = (opset: number, outputs: number, training: 0 | 1) => {
      const b = new GraphBuilder();
      const ins = [b.input('x', 'float32', [2, 3]), ...[1, 0, 0, 1].map((v) => b.floats([3], [v, v, v]))];
      b.nodeOutputs('BatchNormalization', ins, training ? { training_mode: 1 } : {}, { outputs, name: 'bn' }).forEach((o) => b.output(o, 'float32'));
      return b.toBytes({ opset });
    };
    await rejects(kiln.onnx.load(bn(13, 3, 1)), 'E_UNSUPPORTED', /node 'bn' \(op BatchNormalization, opset 13\): training_mode is an attribute of opset 14 and later/);
    await rejects(kiln.onnx.load(bn(15, 4, 1)), 'E_UNSUPPORTED', /training mode has 3 outputs \(the node asks for 4\)/);
    await rejects(kiln.onnx.load(bn(15, 3, 0)), 'E_UNSUPPORTED', /only output 0 is supported/);
    await (await kiln.onnx.load(bn(15, 3, 1))).dispose();
    // Scatter (opsets 9 and 10) was removed in opset 11, where ScatterElements replaces it
    const scatter = (opset: number) => {
      const b = new GraphBuilder();
      b.node('Scatter', [b.input('x', 'float32', [2, 2]), b.node('Reshape', [b.ints([0, 1]), b.ints([1, 2])]), b.floats([1, 2], [5, 6])], {}, { outputs: ['y'], name: 'sc' });
      b.output('y', 'float32', [2, 2]);
      return b.toBytes({ opset });
    };
    await rejects(kiln.onnx.load(scatter(11)), 'E_UNSUPPORTED', /node 'sc' \(op Scatter, opset 11\): Scatter was removed in opset 11/);
    await rejects(kiln.onnx.load(scatter(8)), 'E_UNSUPPORTED', /op Scatter, opset 8\).*opsets 9 to/);
    const s10 = await kiln.onnx.load(scatter(10));
    expect(Array.from((await (await s10.run({ x: kiln.zeros([2, 2]) })).y.data()) as Float32Array)).toEqual([5, 0, 0, 6]);
    await s10.dispose();
  });

  it('rejects bad models and bad feeds with stable codes', async () => {
    await rejects(kiln.onnx.load(new Uint8Array([1, 2, 3, 4, 5])), 'E_ARGUMENT', /not an ONNX model|no graph/);
    await rejects(kiln.onnx.load('/no/such/model.onnx'), 'E_ARGUMENT', /cannot read/);
    await rejects(kiln.onnx.load(new Uint8Array(), { engine: 'tvm' as 'kiln' }), 'E_ARGUMENT', /engine/);
    await rejects(kiln.onnx.load(new Uint8Array(), { devcie: 'cpu' } as never), 'E_ARGUMENT', /unknown option 'devcie'; onnx.load takes engine, device, baseDir, ort/);
    const s = await kiln.onnx.load(addModel({ name: 'w', dataType: DT.FLOAT, dims: [3], floatData: [1, 2, 3] }));
    await rejects(s.run({}), 'E_ARGUMENT', /missing input 'x'/);
    await rejects(s.run({ x: kiln.zeros([2, 3]), z: kiln.zeros([1]) }), 'E_ARGUMENT', /unknown input 'z'/);
    await rejects(s.run({ x: kiln.zeros([2, 3], { dtype: 'int32' }) }), 'E_DTYPE', /'x' must be float32/);
    await rejects(s.run({ x: kiln.zeros([2, 4]) }), 'E_SHAPE', /\[batch, 3\]/);
    await rejects(s.run({ x: kiln.zeros([2, 3]) }, { outputs: ['nope'] }), 'E_ARGUMENT', /unknown output/);
    await rejects(s.run({ x: kiln.zeros([2, 3]) }, { output: ['y'] } as never), 'E_ARGUMENT', /unknown option 'output'; onnx session run takes outputs, profile/);
    await s.dispose();
    await rejects(s.run({ x: kiln.zeros([2, 3]) }), 'E_DISPOSED');
  });

  it('an initializer with raw_data on the wire reads it, even empty beside float_data (onnxruntime fuzz seed 1292)', async () => {
    const w = { name: 'w', dataType: DT.FLOAT, dims: [3], floatData: [1, 2, 3], rawData: new Uint8Array(0) };
    await rejects(kiln.onnx.load(addModel(w)), 'E_ARGUMENT', /0 bytes of data for float32\[3\] \(needs 12\)/);
    const s = await kiln.onnx.load(addModel({ name: 'w', dataType: DT.FLOAT, dims: [3], floatData: [1, 2, 3] }));
    expect(Array.from((await (await s.run({ x: kiln.zeros([1, 3]) })).y.data()) as Float32Array)).toEqual([1, 2, 3]);
    await s.dispose();
  });

  it('models that break the ONNX spec in ways onnxruntime refuses are refused too, naming what is wrong (found by the onnxruntime comparison fuzz)', async () => {
    // one node on a float32 [1, 4, 2, 2] input x, run with ones
    // inputs: 'x', '' (omitted), 'two' (a float 2), 'w' (a [4, 1, 1, 1] ConvTranspose weight), 'half11'
    // (a float 0.5 shaped [1, 1]), or int64 constants
    const one = (op: string, attrs: Record<string, unknown> = {}, inputs: (string | number[])[] = ['x'], o: { opset?: number; irVersion?: number; out?: kiln.DType } = {}) => {
      const g = new GraphBuilder(op);
      g.input('x', 'float32', [1, 4, 2, 2]);
      const names = inputs.map((i) => (Array.isArray(i) ? g.ints(i) : i === 'two' ? g.floats([], [2]) : i === 'w' ? g.floats([4, 1, 1, 1], [1, 1, 1, 1]) : i === 'half11' ? g.floats([1, 1], [0.5]) : i));
      g.output(g.node(op, names, attrs as never, { name: 'n' }), o.out ?? 'float32');
      return g.toBytes({ opset: o.opset, irVersion: o.irVersion });
    };
    const run = async (bytes: Uint8Array) => {
      const s = await kiln.onnx.load(bytes);
      try {
        return await s.run({ x: kiln.ones([1, 4, 2, 2]) });
      } finally {
        await s.dispose();
      }
    };
    const cases: [Uint8Array, kiln.KilnErrorCode, RegExp][] = [
      [one('ReduceSum', { keepdims: 7 }), 'E_ARGUMENT', /'keepdims' must be 0 or 1, got 7/],
      [one('Mod', {}, ['x', 'two']), 'E_ARGUMENT', /fmod must be 1 for floating-point inputs/],
      [one('DepthToSpace', { blocksize: 2, mode: 'XYZ' }), 'E_ARGUMENT', /mode 'XYZ' must be 'DCR' or 'CRD'/],
      [one('DepthToSpace', { blocksize: 3 }), 'E_SHAPE', /blocksize 3 does not divide/],
      [one('Max', {}, ['', 'x']), 'E_ARGUMENT', /input 0 is empty: every input of Max is required/],
      [one('MaxPool', { kernel_shape: [3, 3] }), 'E_ARGUMENT', /the window \(kernel 3, dilation 1\) does not fit spatial dim 0 of size 2/],
      [one('Relu', {}, ['x'], { out: 'int32' }), 'E_DTYPE', /graph output '.*' is declared int32, but its nodes compute float32/],
      [one('Relu', {}, ['x'], { irVersion: 99 }), 'E_UNSUPPORTED', /IR version 99 is outside 3 to 13/],
      [one('Attention', { is_causal: 2 }, ['x', 'x', 'x'], { opset: 23 }), 'E_ARGUMENT', /'is_causal' must be 0 or 1, got 2/],
      [one('CenterCropPad', {}, ['x', [2]], { opset: 18 }), 'E_ARGUMENT', /shape \[2\] must hold one size >= 0 per dim/],
      [one('Slice', {}, ['x', [0, 0], [1]]), 'E_ARGUMENT', /must have one entry each per sliced axis/],
      [one('Slice', {}, ['x', [0, 0], [1, 1], [1, -3]]), 'E_ARGUMENT', /axes \[1,-3\] name an axis more than once/],
      [one('Dropout', {}, ['x', 'x']), 'E_SHAPE', /ratio must be a scalar/],
      // one value, but shaped [1, 1]; and a ratio past [0, 1) in inference mode (onnxruntime fuzz seed 1633)
      [one('Dropout', {}, ['x', 'half11']), 'E_SHAPE', /ratio must be a scalar \(rank 0\), got shape \[1,1\]/],
      [one('Dropout', {}, ['x', 'two']), 'E_ARGUMENT', /ratio must be in \[0, 1\), got 2/],
      [one('Expand', {}, ['x', [-1]]), 'E_ARGUMENT', /shape \[-1\] holds a negative size/],
      [one('MaxPool', { kernel_shape: [2, 2], pads: [2, 0, 0, 0] }), 'E_ARGUMENT', /pads \[2,0,0,0\]: 2 along spatial dim 0 must be smaller than the kernel there \(2\)/],
      [one('Resize', {}, ['x', '', [1, 1, 2, 2], [1, 4, 4, 4]], { opset: 13 }), 'E_ARGUMENT', /scales and sizes are both given/],
      [one('Resize', {}, ['x', '', '', []], { opset: 13 }), 'E_ARGUMENT', /sizes is empty/],
      // fuzz seed 808: a roi of the wrong length ran
      [one('Resize', { coordinate_transformation_mode: 'tf_crop_and_resize' }, ['x', [0, 0, 1, 1], '', [1, 4, 4, 4]], { opset: 13 }), 'E_SHAPE', /roi holds 4 values; tf_crop_and_resize needs 2 per resized axis \(8\)/],
      [one('Resize', { nearest_mode: 'sideways' }, ['x', '', '', [1, 4, 4, 4]], { opset: 13 }), 'E_UNSUPPORTED', /nearest_mode 'sideways'/],
      [one('Flatten', { axis: -5 }), 'E_ARGUMENT', /axis -5 is outside \[-4, 4\]/],
      [one('Transpose', { perm: [0, 1, 2, -1] }), 'E_ARGUMENT', /perm \[0,1,2,-1\] is not a permutation/],
      [one('Squeeze', {}, ['x', [0, -4]]), 'E_ARGUMENT', /axes \[0,-4\] name a dim more than once/],
      [one('GatherElements', {}, ['x', [0]]), 'E_SHAPE', /must have the rank of data/],
      [one('Cast', { to: 1, saturate: 2 }), 'E_ARGUMENT', /'saturate' must be 0 or 1, got 2/],
      [one('ConvTranspose', { pads: [1, 1, 1, 1] }, ['x', 'w']), 'E_ARGUMENT', /leave no output along spatial dim 0/],
      [one('Attention', { scale: float(-1) }, ['x', 'x', 'x'], { opset: 23 }), 'E_ARGUMENT', /scale -1 must be a positive finite number/],
      [one('Trilu', {}, ['x', [4, 2, 3]], { opset: 14 }), 'E_SHAPE', /input 1 must hold one value, got 3/],
      [one('Split', {}, ['x'], { opset: 18 }), 'E_ARGUMENT', /neither the split input nor num_outputs is given/],
      [one('Unsqueeze', {}, ['x', [2, -4]], { opset: 13 }), 'E_ARGUMENT', /axes \[2,-4\] name an axis more than once/],
      [one('LpPool', { kernel_shape: [2, 2], p: -1 }, ['x'], { opset: 18 }), 'E_ARGUMENT', /p -1 must be at least 1 \(the order of an Lp norm\)/],
      [one('GlobalLpPool', { p: 0 }, ['x'], { opset: 2 }), 'E_ARGUMENT', /p 0 must be at least 1/],
      [one('QuantizeLinear', { axis: 1, block_size: 2 }, ['x', 'x'], { opset: 21, out: 'uint8' }), 'E_SHAPE', /y_scale float32\[1, 4, 2, 2\] on cpu must have shape \[1, 2, 2, 2\] for input float32\[1, 4, 2, 2\] on cpu \(axis 1, block_size 2\)/],
      [one('DequantizeLinear', { axis: 1 }, ['x', 'x'], { opset: 13 }), 'E_SHAPE', /x_scale float32\[1, 4, 2, 2\] on cpu must have shape \[4\]/],
      // one value, but neither a scalar nor 1-D (per tensor) nor blocked: a ReduceMin with keepdims
      // in a DynamicQuantizeLinear expansion made one (onnxruntime fuzz seed 1219)
      [one('QuantizeLinear', {}, ['x', 'half11'], { opset: 13, out: 'uint8' }), 'E_SHAPE', /y_scale float32\[1, 1\] on cpu must have shape \[4\] for input float32\[1, 4, 2, 2\] on cpu \(axis 1\)/],
      [one('Split', { num_outputs: 1 }, ['x', [1]], { opset: 18 }), 'E_ARGUMENT', /both the split input and num_outputs are given/],
      [one('Split', {}, ['x', [-1]], { opset: 13 }), 'E_ARGUMENT', /split sizes \[-1\] hold a negative size/],
      [one('RotaryEmbedding', {}, ['x', 'x', 'x'], { opset: 23 }), 'E_SHAPE', /cos_cache float32\[1, 4, 2, 2\] on cpu must be \[batch, sequence, 1\] \(rotary_embedding_dim \/ 2\)/],
      [one('RotaryEmbedding', { rotary_embedding_dim: 3 }, ['x', 'x', 'x'], { opset: 23 }), 'E_ARGUMENT', /rotary_embedding_dim 3 must be even, and at most the head size 2/],
      [one('CumSum', {}, ['x', [1, 2]], { opset: 14 }), 'E_SHAPE', /input 1 must hold one value, got 2/],
      [one('Pad', {}, ['x', [0, 0, 1, 1, 0, 0]], { opset: 13 }), 'E_ARGUMENT', /pads \[0,0,1,1,0,0\] must hold 2 values per padded axis \(4\)/],
      [one('Pad', {}, ['x', [1, 1, 1, 1], '', [2, -2]], { opset: 18 }), 'E_ARGUMENT', /axes \[2,-2\] name an axis more than once/],
      [one('Attention', { scale: float(NaN) }, ['x', 'x', 'x'], { opset: 23 }), 'E_ARGUMENT', /scale NaN must be a positive finite number/],
    ];
    for (const [bytes, code, message] of cases) await rejects(run(bytes), code, message);
    // lists that are not 1-D: a reduction's axes (its Unsqueeze takes a 0-D one; onnxruntime's reductions do not), Slice's starts
    for (const [op, list, message] of [
      ['ReduceSum', hostTensor('int64', [], [1n]), /axes int64\[\] on cpu must be a 1-D list/],
      ['Slice', hostTensor('int64', [1, 1], [0n]), /starts int64\[1, 1\] on cpu must be a 1-D list/],
      ['Squeeze', hostTensor('int64', [], [0n]), /axes int64\[\] on cpu must be a 1-D list/],
      ['Unsqueeze', hostTensor('int64', [1, 1], [0n]), /axes int64\[1, 1\] on cpu must be a scalar or a 1-D list/],
      // a shape or repeats of another rank (fuzz seed 422: an Expand fed a 0-D shape)
      ['Reshape', hostTensor('int64', [1, 4], [1n, 4n, 2n, 2n]), /shape int64\[1, 4\] on cpu must be a 1-D list/],
      ['Expand', hostTensor('int64', [], [1n]), /shape int64\[\] on cpu must be a 1-D list/],
      ['Tile', hostTensor('int64', [4, 1], [1n, 1n, 1n, 1n]), /repeats int64\[4, 1\] on cpu must be a 1-D list/],
      // a Clip bound is 0-D or [1], as onnxruntime reads a scalar (fuzz seed 676: a [1, 1] min ran)
      ['Clip', hostTensor('float32', [1, 1], [0]), /min float32\[1, 1\] on cpu must be a scalar or a 1-D list/],
      // one repeat per dim (fuzz seed 591: three repeats for a 4-D input ran as NumPy's tile would)
      ['Tile', hostTensor('int64', [3], [1n, 2n, 1n]), /repeats \[1, 2, 1\] must have one value per dim of float32\[1, 4, 2, 2\]/],
    ] as const) {
      const r = new GraphBuilder(op);
      r.input('x', 'float32', [1, 4, 2, 2]);
      const rest = op === 'Slice' ? [r.ints([1])] : [];
      r.output(r.node(op, ['x', r.constant('list', list), ...rest], {}, { name: 'n' }), 'float32');
      await rejects(run(r.toBytes({ opset: 18 })), 'E_SHAPE', message);
    }
    // Concat of an empty 1-D and a [3, 4] (fuzz seed 417): the empty input was dropped before the rank check
    const cc = new GraphBuilder('Concat');
    cc.output(cc.node('Concat', [cc.constant('e', hostTensor('int64', [0], [])), cc.constant('m', hostTensor('int64', [3, 4], new Array(12).fill(1n)))], { axis: 0 }, { name: 'n' }), 'int64');
    await rejects(run(cc.toBytes({ opset: 13 })), 'E_SHAPE', /every input needs one rank: int64\[0\] on cpu, int64\[3, 4\] on cpu/);
    // PRelu's slope broadcasts to X, not X to it (fuzz seeds 358, 375, 385: a [1] slope made a 0-D X [1])
    for (const [xShape, slope, message] of [
      [[], [1], /slope float32\[1\] on cpu is not unidirectionally broadcastable to X float32\[\] on cpu/],
      [[3], [2, 3], /slope float32\[2, 3\] on cpu is not unidirectionally broadcastable to X float32\[3\]/],
    ] as const) {
      const p = new GraphBuilder('PRelu');
      p.output(p.node('PRelu', [p.input('x', 'float32', [...xShape]), p.floats([...slope], new Float32Array(slope.reduce((a: number, b: number) => a * b, 1)))], {}, { name: 'n' }), 'float32');
      const session = await kiln.onnx.load(p.toBytes({ opset: 16 }));
      await rejects(session.run({ x: kiln.zeros([...xShape]) }), 'E_SHAPE', message);
      await session.dispose();
    }
    // ConstantOfShape: a shape that is not 1-D (onnxruntime's shape inference refuses it), a value of
    // more than one element (Kiln took the first)
    for (const [shape, value, code, message] of [
      [hostTensor('int64', [1, 2], [2n, 3n]), undefined, 'E_SHAPE', /shape int64\[1, 2\] on cpu must be a 1-D list/],
      [hostTensor('int64', [], [2n]), undefined, 'E_SHAPE', /shape int64\[\] on cpu must be a 1-D list/],
      [hostTensor('int64', [2], [2n, 3n]), hostTensor('float32', [2], [1, 2]), 'E_ARGUMENT', /attribute 'value' must hold one element, got 2/],
    ] as const) {
      const c = new GraphBuilder('ConstantOfShape');
      c.output(c.node('ConstantOfShape', [c.constant('shape', shape)], value ? { value } : {}, { name: 'n' }), 'float32');
      await rejects(run(c.toBytes({ opset: 18 })), code, message);
    }
    const g = new GraphBuilder('no outputs');
    g.input('x', 'float32', [1]);
    g.node('Relu', ['x']);
    await rejects(kiln.onnx.load(g.toBytes()), 'E_ARGUMENT', /the graph has no outputs/);
  });

  it('an input ONNX types as integers (a shape, axes, sizes) fed as floats is E_DTYPE naming the node and the input', async () => {
    // Fed, not folded at load: the value is only known at run time.
    const reshape = async (dtype: kiln.DType) => {
      const g = new GraphBuilder();
      g.node('Reshape', [g.input('x', 'float32', [2, 3]), g.input('shape', dtype, [2])], {}, { outputs: ['y'], name: 'r' });
      g.output('y', 'float32');
      const s = await kiln.onnx.load(g.toBytes());
      try {
        return await s.run({ x: kiln.zeros([2, 3]), shape: kiln.tensor([3, 2], { dtype }) });
      } finally {
        await s.dispose();
      }
    };
    await rejects(reshape('float32'), 'E_DTYPE', /node 'r' \(op Reshape.*input 1 \('shape'\).*int32 or int64, got float32/);
    expect((await reshape('int64')).y.shape).toEqual([3, 2]);
  });

  it('an op error names its node once, with the op and opset, then says what is wrong', async () => {
    const split = async (attrs: Record<string, string | number>, sizes: number[]) => {
      const g = new GraphBuilder();
      g.node('Split', [g.input('x', 'float32', [5]), g.input('sizes', 'int64', [2])], attrs, { outputs: ['a', 'b'], name: 's' });
      g.output('a', 'float32');
      g.output('b', 'float32');
      const s = await kiln.onnx.load(g.toBytes({ opset: 18 }));
      try {
        return await s.run({ x: kiln.zeros([5]), sizes: kiln.tensor(sizes, { dtype: 'int64' }) });
      } finally {
        await s.dispose();
      }
    };
    const once = (e: unknown) => expect((e as Error).message.split("node 's'").length).toBe(2);
    const sizes = await split({}, [2, 2]).catch((e) => e);
    expect((sizes as Error).message).toMatch(/^node 's' \(op Split, opset 18\): sizes \[2, 2\] do not add up to 5$/);
    once(sizes);
    const attr = await split({ axis: 'zero' }, [2, 3]).catch((e) => e);
    expect(attr).toBeInstanceOf(kiln.KilnError);
    expect((attr as kiln.KilnError).code).toBe('E_ARGUMENT');
    expect((attr as Error).message).toMatch(/attribute 'axis' must be of type int, got string/);
    once(attr);
    expect((await split({}, [2, 3])).b.shape).toEqual([3]);
    // an attribute without a type (UNDEFINED), which IR 3 and later forbid (fuzz seed 662: a Constant)
    const c = new GraphBuilder('c');
    c.output(c.node('Constant', [], { value: hostTensor('float32', [1], [1]) }, { name: 'k' }), 'float32');
    const bytes = c.toBytes({ opset: 13 });
    const model = onnx.ModelProto.decode(bytes);
    model.graph!.node![0].attribute![0].type = 0;
    await rejects(kiln.onnx.load(onnx.ModelProto.encode(model).finish()), 'E_ARGUMENT', /attribute 'value' must be of type tensor, got no type \(UNDEFINED\)/);
  });

  it('claims the ops the issue lists', () => {
    const need = 'MatMul Gemm Conv ConvTranspose MaxPool AveragePool GlobalAveragePool BatchNormalization Relu LeakyRelu Sigmoid Tanh HardSigmoid Clip Gelu Erf Add Sub Mul Div Pow Sqrt Neg Log Exp Max Min Abs Softmax LogSoftmax LayerNormalization ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd Reshape Flatten Transpose Squeeze Unsqueeze Concat Split Slice Gather Shape Size Cast Constant ConstantOfShape Range Equal Greater Less GreaterOrEqual Not Where Expand Tile Pad Identity Resize LSTM GRU If'.split(' ');
    expect(need.filter((op) => !kiln.onnx.claimedOps().includes(op))).toEqual([]);
  });
});
