// Every KilnError code the CPU build can produce, through the public API: the error is a KilnError,
// carries the stable code, and its message names the op and the shapes/dtypes involved. Failures
// found on the device reject the next sync point (an index out of range: the read of the result, see
// faults.test.ts); native failures never crash the process.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { dtypeCode } from '../src/dtype.js';
import { native, type NativeHandle } from '../src/native.js';
import { run1, runOp } from '../src/ops/run.js';
import type { TensorView } from '../src/backends/backend.js';
import { forEachBackend } from './helpers/backends.js';
import { expectError, expectRejection } from './helpers/compare.js';
import { ROOT, assertDistFresh, ending, runNode } from './helpers/dist.js';


/** The codes this file tests, and the ones the CPU build cannot produce (with the reason). */
const TESTED = ['E_SHAPE', 'E_DTYPE', 'E_DEVICE', 'E_DISPOSED', 'E_ARGUMENT', 'E_OOM', 'E_UNSUPPORTED', 'E_NATIVE', 'E_INDEX'];
const NOT_ON_CPU: Record<string, string> = {
  E_DEVICE_LOST: 'raised when a GPU device fails (CUDA/WebGPU); the CPU device cannot be lost',
};
/** Codes of a feature whose own test file raises each one for real (the file named). */
const TESTED_ELSEWHERE: Record<string, string> = {
  E_DIST_TIMEOUT: 'test/distributed.test.ts (a stalled rank, a missing rank, a store get)',
  E_PEER_LOST: 'test/distributed.test.ts (a rank killed mid-collective, a lost store)',
  E_DIST_AUTH: 'test/distributed.test.ts (a store client with the wrong token)',
  E_NCCL: 'test/distributed.test.ts (the NCCL result mapping; a failing NCCL call needs a GPU)',
  E_ENGINE_LOST: 'test/onnx-ort.test.ts (onnxruntime crashing on a model, a run past ort.timeoutMs)',
  E_ABORTED: 'test/abort.test.ts (a session run, an ort run and a batcher request stopped by their AbortSignal)',
};

describe('error codes', () => {
  it('every code in src/errors.ts is tested here or named as impossible on the CPU build', () => {
    const src = readFileSync(join(ROOT, 'src', 'errors.ts'), 'utf8');
    // the members of `export type KilnErrorCode = | 'E_...' // meaning`, one per line
    const codes = [...src.matchAll(/^\s*\|\s*'(E_[A-Z_]+)'/gm)].map((m) => m[1]);
    expect(codes.length).toBeGreaterThan(5);
    expect([...codes].sort()).toEqual([...TESTED, ...Object.keys(NOT_ON_CPU), ...Object.keys(TESTED_ELSEWHERE)].sort());
  });

  it('KilnError is an Error with a stable code', () => {
    const e = new kiln.KilnError('E_SHAPE', 'x');
    expect(e).toBeInstanceOf(Error);
    expect([e.name, e.code, e.message]).toEqual(['KilnError', 'E_SHAPE', 'x']);
  });

  it('E_SHAPE: shapes that do not fit the op', () => {
    const a = kiln.zeros([2, 3]), b = kiln.zeros([4]);
    expectError(() => kiln.add(a, b), 'E_SHAPE', 'add', '[2, 3]', '[4]');
    expectError(() => a.mul(kiln.zeros([3, 2])), 'E_SHAPE', 'mul', '[2, 3]', '[3, 2]');
    expectError(() => kiln.matmul(kiln.zeros([3, 4]), kiln.zeros([5, 6], { dtype: 'float16' })), 'E_SHAPE', 'matmul', '[3, 4]', '[5, 6]', '4 vs 5');
    expectError(() => kiln.matmul(kiln.zeros([2, 3, 4]), kiln.zeros([3, 4, 5])), 'E_SHAPE', 'matmul', '[2]', '[3]');
    expectError(() => a.reshape([4, 2]), 'E_SHAPE', 'reshape', '[2, 3]', '[4, 2]');
    // a dim past 2^53 is no exact integer, even for 0 elements (fuzz seed 5800: webgpu ran it)
    expectError(() => kiln.zeros([0, 2]).reshape([1, 1e20, 0]), 'E_SHAPE', 'reshape', 'invalid dim 100000000000000000000');
    expectError(() => a.expand([2, 4]), 'E_SHAPE', 'expand', 'float32[2, 3]', '[2, 4]');
    expectError(() => a.squeeze(0), 'E_SHAPE', 'squeeze', 'float32[2, 3]');
    expectError(() => kiln.concat([a, kiln.zeros([2, 4])], 0), 'E_SHAPE', 'concat', '[2, 3]', '[2, 4]');
    expectError(() => kiln.split(a, 2, 1), 'E_SHAPE', 'split', 'float32[2, 3]');
    expectError(() => kiln.tensor([[1, 2], [3]]), 'E_SHAPE', 'tensor', 'ragged');
    expectError(() => kiln.zeros([2, -1]), 'E_SHAPE', 'full', '-1');
    expectError(() => kiln.where(kiln.zeros([4], { dtype: 'bool' }), a, 0), 'E_SHAPE', 'where', '[4]', '[2, 3]');
    expectError(() => kiln.layerNorm(a, { scale: kiln.ones([2]) }), 'E_SHAPE', 'layerNorm', 'float32[2]', '[3]');
    expectError(() => kiln.max(kiln.zeros([2, 0]), { axes: 1 }), 'E_SHAPE', 'max', 'float32[2, 0]');
    // at most 16 dims, whichever op would make more: a view, an op's output
    const ones16 = kiln.ones(Array(16).fill(1));
    expectError(() => ones16.unsqueeze(0), 'E_SHAPE', 'at most 16 dimensions', 'got 17');
    expectError(() => ones16.reshape(Array(17).fill(1)), 'E_SHAPE', 'at most 16 dimensions', 'got 17');
    expectError(() => kiln.stack([ones16, ones16]), 'E_SHAPE', 'at most 16 dimensions', 'got 17');
  });

  it('E_DTYPE: a dtype the op does not accept, or an unknown dtype', () => {
    const f = kiln.zeros([2]), u = kiln.zeros([2], { dtype: 'uint8' }), b = kiln.zeros([2, 2], { dtype: 'bool' });
    expectError(() => f.logicalNot(), 'E_DTYPE', 'logicalNot', 'float32[2]');
    expectError(() => u.neg(), 'E_DTYPE', 'neg', 'uint8[2]');
    expectError(() => b.exp(), 'E_DTYPE', 'exp', 'bool[2, 2]');
    expectError(() => b.add(b), 'E_DTYPE', 'add', 'bool');
    expectError(() => kiln.matmul(b, b), 'E_DTYPE', 'matmul', 'bool[2, 2]');
    expectError(() => kiln.zeros([2], { dtype: 'float64' as kiln.DType }), 'E_DTYPE', 'float64');
    expectError(() => f.cast('int8' as kiln.DType), 'E_DTYPE', 'cast', 'int8');
    expectError(() => kiln.rand([2], { dtype: 'int32' }), 'E_DTYPE', 'rand', 'int32');
    expectError(() => kiln.gather(f, f), 'E_DTYPE', 'gather', 'float32[2]');
    expectError(() => kiln.arange(3, undefined, undefined, { dtype: 'bool' }), 'E_DTYPE', 'arange', 'bool');
  });

  it('E_DEVICE: an unknown or absent device', () => {
    expectError(() => kiln.zeros([2], { device: 'tpu' }), 'E_DEVICE', "'tpu'");
    expectError(() => kiln.zeros([2], { device: 'cuda:7' }), 'E_DEVICE', "'cuda:7'");
    expectError(() => kiln.tensor([1, 2], { device: 'cpu:3' }), 'E_DEVICE', "'cpu:3'");
    expectError(() => kiln.ones([2]).to('webgpu:9'), 'E_DEVICE', "'webgpu:9'");
    expectError(() => kiln.rand([2], { device: 'gpu' }), 'E_DEVICE', "'gpu'");
  });

  it('E_DISPOSED: a tensor used after dispose(), naming the op and the tensor', async () => {
    const a = kiln.ones([2, 3]);
    const v = a.transpose();
    a.dispose();
    expectError(() => a.add(1), 'E_DISPOSED', 'float32[2, 3]', 'disposed');
    expectError(() => kiln.matmul(a, v), 'E_DISPOSED', 'float32[2, 3]');
    expectError(() => a.reshape([3, 2]), 'E_DISPOSED', 'reshape');
    expectError(() => a.slice(0, 1), 'E_DISPOSED', 'slice');
    expectError(() => a.device, 'E_DISPOSED', 'device');
    await expectRejection(a.data(), 'E_DISPOSED', 'data', 'float32[2, 3]');
    expect(await v.toArray()).toEqual([[1, 1], [1, 1], [1, 1]]); // a view outlives its base
    v.dispose();
    await expectRejection(v.toArray(), 'E_DISPOSED', 'float32[3, 2]');
  });

  it('E_ARGUMENT: a bad argument value, naming the op and the value', async () => {
    const a = kiln.zeros([2, 3]);
    expectError(() => a.sum({ axes: 5 }), 'E_ARGUMENT', 'sum', 'axis 5', 'rank 2');
    expectError(() => a.softmax(2), 'E_ARGUMENT', 'softmax', 'axis 2');
    // an options object where the axis goes: named as what it is, not as an axis out of range
    expectError(() => a.softmax({ axis: -1 } as never), 'E_ARGUMENT', 'softmax: axis must be an integer, got an object');
    expectError(() => kiln.concat([a, a], 0.5), 'E_ARGUMENT', 'concat: axis must be an integer, got 0.5');
    expectError(() => a.sum({ axes: [0, -2] }), 'E_ARGUMENT', 'sum', 'repeated');
    expectError(() => a.slice(1, 0, 2, 0), 'E_ARGUMENT', 'slice', 'step');
    expectError(() => a.permute([0, 0]), 'E_ARGUMENT', 'permute', 'float32[2, 3]');
    expectError(() => a.gelu({ approximate: 'fast' as 'tanh' }), 'E_ARGUMENT', 'gelu', 'fast');
    expectError(() => a.clip(3, 1), 'E_ARGUMENT', 'clip', '3', '1');
    expectError(() => a.pad([[1, 1]]), 'E_ARGUMENT', 'pad', 'float32[2, 3]');
    expectError(() => a.pad([[2, 2], [0, 0]], { mode: 'reflect' }), 'E_ARGUMENT', 'pad', 'reflect');
    expectError(() => a.variance({ correction: -1 }), 'E_ARGUMENT', 'variance', '-1');
    expectError(() => kiln.tensor([300], { dtype: 'uint8' }), 'E_ARGUMENT', 'tensor', '300', 'uint8');
    expectError(() => kiln.tensor([1.5], { dtype: 'int32' }), 'E_ARGUMENT', 'tensor', '1.5', 'int32');
    expectError(() => kiln.full([2], 0.5, { dtype: 'int64' }), 'E_ARGUMENT', 'full', '0.5', 'int64');
    expectError(() => kiln.full([2], 256, { dtype: 'uint8' }), 'E_ARGUMENT', 'full', '256', 'uint8', '[0, 255]');
    expectError(() => kiln.full([2], 2 ** 63, { dtype: 'int64' }), 'E_ARGUMENT', 'full', 'int64', '9223372036854775807');
    expectError(() => kiln.zerosLike(kiln.ones([2]), { dtype: 'int32' }).add(1e20), 'E_ARGUMENT', 'add', 'int32');
    expectError(() => kiln.arange(0, 1, 0), 'E_ARGUMENT', 'arange', 'step');
    expectError(() => kiln.arange(2 ** 31 - 2, 2 ** 31 + 1), 'E_ARGUMENT', 'arange', '2147483648', 'int32', "dtype");
    expectError(() => kiln.arange(250, 260, 1, { dtype: 'uint8' }), 'E_ARGUMENT', 'arange', '259', 'uint8');
    expectError(() => kiln.arange(5, -2, -1, { dtype: 'uint8' }), 'E_ARGUMENT', 'arange', '-1', 'uint8');
    expect(await kiln.arange(2 ** 31 - 2, 2 ** 31 + 1, 1, { dtype: 'int64' }).toArray()).toEqual([2 ** 31 - 2, 2 ** 31 - 1, 2 ** 31]);
    expectError(() => kiln.rand([2], { seed: -1 }), 'E_ARGUMENT', 'seed', '-1');
    expectError(() => kiln.gemm(a, a.transpose(), { alpha: NaN }), 'E_ARGUMENT', 'gemm', 'alpha');
    expectError(() => kiln.scope(42 as unknown as () => void), 'E_ARGUMENT', 'scope');
    expectError(() => kiln.requiredBackends('cuda,tpu'), 'E_ARGUMENT', 'KILN_REQUIRE', 'tpu');
    await expectRejection(kiln.tensor([2n ** 60n]).toArray(), 'E_ARGUMENT', 'toArray', String(2n ** 60n));
  });

  it('E_ARGUMENT: an option the call does not take, naming it and the ones it does (a typo is not ignored)', async () => {
    const a = kiln.ones([2, 3]);
    // each of these used to run without the option: sum over every axis, a float32 tensor, ...
    expectError(() => a.sum({ axis: 1 } as never), 'E_ARGUMENT', "sum: unknown option 'axis'", 'axes, keepdims');
    expectError(() => kiln.zeros([2], { dtpye: 'int32' } as never), 'E_ARGUMENT', "full: unknown option 'dtpye'", 'dtype, device');
    expectError(() => kiln.matmul(a, a.transpose(), { precison: 'high' } as never), 'E_ARGUMENT', "'precison'", 'precision, impl');
    expectError(() => kiln.argmax(a, { axes: 1 } as never), 'E_ARGUMENT', "argmax: unknown option 'axes'", 'axis, keepdims');
    expectError(() => kiln.randn([2], { sd: 2 } as never), 'E_ARGUMENT', "'sd'", 'mean, std');
    await expectRejection(kiln.init({ requrie: ['webgpu'] } as never), 'E_ARGUMENT', "'requrie'");
    await expectRejection(kiln.init({ require: 'webgpu' } as never), 'E_ARGUMENT', 'require', "'webgpu'");
    await expectRejection(kiln.init({ webgpu: { powerPref: 'low-power' } } as never), 'E_ARGUMENT', "'powerPref'");
    const group = await kiln.distributed.init({ backend: 'cpu', rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: 0 });
    try {
      await expectRejection((async () => group.broadcast(a, { src: 0 } as never))(), 'E_ARGUMENT', "broadcast: unknown option 'src'", 'root, timeoutMs');
      await expectRejection((async () => group.barrier({ timeout: 5 } as never))(), 'E_ARGUMENT', "'timeout'", 'timeoutMs');
      expect(await group.broadcast(a, { root: 0, timeoutMs: 1000 })).toBe(a); // the documented ones still work
    } finally {
      await group.destroy();
    }
    a.dispose();
  });

  it('E_ARGUMENT / E_DTYPE: a launch whose packed view descriptor is malformed or reaches outside a buffer', async () => {
    // the addon proves every view lies inside its buffer before a kernel is queued (native/addon.cc)
    const x = kiln.zeros([4]), y = kiln.zeros([4]);
    const h = [x, y].map((t) => (t.storageFor('test').buffer as unknown as { handle: NativeHandle }).handle);
    const launch = (desc: number[], buffers = h) => native().launch('Relu', buffers, Float64Array.from(desc), {});
    const f32 = dtypeCode('float32');
    expectError(() => launch([1, 1, f32, 0, 1, 4, 1]), 'E_ARGUMENT', 'descriptor ends before');
    expectError(() => launch([1, 1, f32, 0, 1, 4, 1, f32, 0, 1, 4, 1], [h[0]]), 'E_ARGUMENT', '1 buffers for 2 views');
    expectError(() => launch([1, 1, f32, 0, 1, 4, 1, f32, 2, 1, 4, 1]), 'E_ARGUMENT', 'outside its buffer');
    expectError(() => launch([1, 1, f32, 0, 1, 4, 1, f32, 0, 17, 4, 1]), 'E_ARGUMENT', 'rank');
    expectError(() => launch([1, 1, 99, 0, 1, 4, 1, f32, 0, 1, 4, 1]), 'E_DTYPE', 'dtype code 99');
    expectError(() => native().launch('Relu', h, [1, 1] as unknown as Float64Array, {}), 'E_ARGUMENT', 'Float64Array');
    launch([1, 1, f32, 0, 1, 4, 1, f32, 0, 1, 4, 1]); // well formed: runs
    expect(await y.toArray()).toEqual([0, 0, 0, 0]);
  });

  it('E_UNSUPPORTED: the backend has no kernel for the op and dtypes (MatMul on bool, which the front end never asks for)', () => {
    const b = kiln.ones([2, 2], { dtype: 'bool' });
    expectError(() => run1('MatMul', [b, b], [2, 2], 'bool'), 'E_UNSUPPORTED', 'MatMul', 'bool', 'cpu');
    // a fused recurrent cell with no hidden units (its row loop divides by H) is refused at launch
    for (const op of ['LstmCell', 'GruCell', 'GruReset', 'GruUpdate'])
      expectError(() => runOp(op, [kiln.zeros([2, 0]), kiln.zeros([2, 0]), kiln.zeros([2, 0]), kiln.zeros([2, 0])].slice(0, op === 'LstmCell' ? 2 : op === 'GruUpdate' ? 4 : 3), op === 'LstmCell' || op === 'GruReset' ? [{ shape: [2, 0], dtype: 'float32' }, { shape: [2, 0], dtype: 'float32' }] : [{ shape: [2, 0], dtype: 'float32' }]), 'E_SHAPE', op, 'H >= 1');
  });

  it('E_INDEX: gather out of range rejects the read of its result, naming Gather and the index; the device keeps working', async () => {
    const x = kiln.arange(0, 12).reshape([3, 4]);
    for (const [idx, axis] of [[[0, 3], 0], [[-5], 1], [[1, 2, 4], 1]] as [number[], number][]) {
      let y: kiln.Tensor | undefined;
      let err: unknown;
      try {
        y = kiln.gather(x, idx, axis); // may throw at enqueue, or reject the read of the result
        await y.data();
      } catch (e) {
        err = e;
      }
      expect(err, `gather(${JSON.stringify(idx)}, axis ${axis}) must fail`).toBeInstanceOf(kiln.KilnError);
      const k = err as kiln.KilnError;
      expect(k.code, k.message).toBe('E_INDEX');
      expect(k.message).toMatch(/gather/i);
      expect(k.message).toContain(String(idx.find((i) => i >= (axis ? 4 : 3) || i < -(axis ? 4 : 3))));
      y?.dispose();
      // later work runs normally
      expect(await kiln.gather(x, [2, -1], 1).toArray()).toEqual([[2, 3], [6, 7], [10, 11]]);
      await kiln.sync();
    }
    expectError(() => kiln.gather(kiln.zeros([0, 2]), [0]), 'E_INDEX', 'gather', 'float32[0, 2]');
  });

  // What an E_INDEX rejects (the reads of the gather's result and of what is computed from it, not
  // kiln.sync() nor other reads): test/faults.test.ts, on every backend.
});

describe('errors from the native side never crash the process (child processes)', () => {
  beforeAll(() => assertDistFresh());

  it('E_OOM: an absurd allocation is a KilnError naming the request, and the process carries on', () => {
    const r = runNode(`
      import * as kiln from ${JSON.stringify(join(ROOT, 'dist/src/index.js'))};
      kiln.debug.poison = true;
      const out = [];
      for (const shape of [[2 ** 40], [2 ** 26, 2 ** 26], [2 ** 31, 2 ** 31]]) {
        try { kiln.full(shape, 1); out.push({ allocated: shape }); }
        catch (e) { out.push({ kiln: e instanceof kiln.KilnError, code: e.code, message: e.message }); }
      }
      const bytes = kiln.memory().devices.cpu?.bytes ?? 0;
      const after = await kiln.arange(0, 4).toArray();
      console.log(JSON.stringify({ out, after, bytes }));
    `);
    expect(r.status, ending(r)).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    const [big, square, huge] = res.out;
    expect(big).toMatchObject({ kiln: true, code: 'E_OOM' });
    expect(big.message).toContain('full');
    expect(big.message).toContain('float32[1099511627776]');
    expect(big.message).toContain('4398046511104');
    expect(square).toMatchObject({ kiln: true, code: 'E_OOM' });
    expect(square.message).toContain('[67108864, 67108864]');
    expect(huge).toMatchObject({ kiln: true, code: 'E_OOM' });
    expect(res.after).toEqual([0, 1, 2, 3]);
    expect(res.bytes, 'failed allocations hold no memory').toBe(0);
  });

  it('E_NATIVE: KILN_ADDON pointing at a file that is not an addon is reported (no silent fallback to another build)', () => {
    const r = runNode(
      `
      import * as kiln from ${JSON.stringify(join(ROOT, 'dist/src/index.js'))};
      const res = { reason: kiln.backendReason('cpu'), devices: kiln.devices().length };
      try { kiln.zeros([2, 3]); res.created = true; } catch (e) { Object.assign(res, { kiln: e instanceof kiln.KilnError, code: e.code, message: e.message }); }
      console.log(JSON.stringify(res));
    `,
      { KILN_ADDON: join(ROOT, 'test', 'fixtures', 'not-an-addon.node') },
    );
    expect(r.status, ending(r)).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(res.devices).toBe(0);
    expect(res).toMatchObject({ kiln: true, code: 'E_NATIVE' });
    expect(res.message).toContain('not-an-addon.node');
    expect(res.message).toMatch(/build:native/);
    expect(res.reason).toContain('not-an-addon.node');
  });
});

forEachBackend('every backend refuses the same bad launches (the cpu/webgpu comparison fuzz found each one differing)', (device) => {
  it('a view outside its buffer or of more than 16 dims, a Range of integers from fractions or past the dtype, an unknown Gelu approximation: E_ARGUMENT', () => {
    const x = kiln.arange(0, 12, 1, { dtype: 'float32', device });
    const be = x.backendFor('Add');
    const v = x.view('test');
    const out = kiln.zeros([12], { device });
    const launch = (inputs: TensorView[], outputs: TensorView[], op = 'Relu', attrs = {}) => () => be.run(op, inputs, outputs, attrs);
    expectError(launch([{ ...v, offset: 4 }], [out.view('test')]), 'E_ARGUMENT', 'a view reaches outside its buffer', 'elements 4..15', '48-byte buffer');
    expectError(launch([{ ...v, shape: [12], strides: [-1] }], [out.view('test')]), 'E_ARGUMENT', 'elements -11..0');
    const wide = { ...v, shape: Array(17).fill(1), strides: Array(17).fill(0) };
    expectError(launch([wide], [{ ...out.view('test'), shape: Array(17).fill(1), strides: Array(17).fill(0) }]), 'E_ARGUMENT', '16 dims');
    const ints = kiln.zeros([3], { dtype: 'int64', device });
    expectError(launch([], [ints.view('test')], 'Range', { start: 0.5, delta: 1 }), 'E_ARGUMENT', 'Range', 'integer start and delta');
    const bytes = kiln.zeros([3], { dtype: 'uint8', device });
    expectError(launch([], [bytes.view('test')], 'Range', { start: 254, delta: 1 }), 'E_ARGUMENT', 'Range', '256', 'uint8');
    expectError(launch([v], [out.view('test')], 'Gelu', { approximate: 'NOTSET' }), 'E_ARGUMENT', 'Gelu', 'NOTSET');
  });
});
