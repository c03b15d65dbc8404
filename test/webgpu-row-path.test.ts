// The WebGPU row kernels' two paths (row-path.ts): the rule that picks one invocation or one workgroup
// per row; every workgroup variant compiles and builds its pipeline; the two paths give the same bits
// for extremes, indices and integer sums (first NaN with its payload, -0 vs +0, ties); and the
// workgroup path's 2-D grid reaches rows past 65535 workgroups. Values against the float64
// reference are checked on both paths by test/ops-reduce-rows.test.ts.
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType, Tensor } from '../src/index.js';
import { backend } from '../src/backends/index.js';
import type { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import type { GpuDevice } from '../src/backends/webgpu/device.js';
import { rowKernels, rowPath } from '../src/backends/webgpu/row-path.js';
import { planBackends } from './helpers/backends.js';
import { rngFor } from './helpers/random.js';
import { ROW_PATHS, underRowPath } from './helpers/row-paths.js';

const plan = planBackends().find((p) => p.kind === 'webgpu')!;
const D = 'webgpu:0';
const PATHS = ROW_PATHS.slice(1);
const under = underRowPath;

/** A stand-in for a device: the rule reads only its adapter info. */
const fakeDevice = (description: string) => ({ found: { info: { isFallbackAdapter: false, description } } }) as unknown as GpuDevice;

describe('row path rule', () => {
  it('a GPU: a workgroup per row below 8192 rows of 64+ elements, 256 lanes from rows of 2048', () => {
    const gpu = fakeDevice('NVIDIA GeForce RTX 4090');
    expect(rowPath(gpu, 1, 50257)).toEqual({ workgroup: true, size: 256 });
    expect(rowPath(gpu, 8, 4096)).toEqual({ workgroup: true, size: 256 });
    expect(rowPath(gpu, 128, 768)).toEqual({ workgroup: true, size: 64 });
    expect(rowPath(gpu, 4096, 512)).toEqual({ workgroup: true, size: 64 });
    expect(rowPath(gpu, 8191, 2048)).toEqual({ workgroup: true, size: 256 });
    expect(rowPath(gpu, 8192, 2048)).toEqual({ workgroup: false });
    expect(rowPath(gpu, 1, 63)).toEqual({ workgroup: false });
    expect(rowPath(gpu, 1, 64)).toEqual({ workgroup: true, size: 64 });
  });

  it('a CPU adapter: a workgroup of 64 per row below cores x 4 rows', () => {
    const cpu = fakeDevice('llvmpipe (LLVM 19.1.1, 256 bits)');
    const limit = availableParallelism() * 4;
    expect(rowPath(cpu, 1, 50257)).toEqual({ workgroup: true, size: 64 });
    expect(rowPath(cpu, limit - 1, 4096)).toEqual({ workgroup: true, size: 64 });
    expect(rowPath(cpu, limit, 4096)).toEqual({ workgroup: false });
    expect(rowPath(cpu, 1, 63)).toEqual({ workgroup: false });
  });

  it('a forced path is taken whatever the shape', () => {
    const gpu = fakeDevice('NVIDIA GeForce RTX 4090');
    expect(under({ path: 'invocation' }, () => rowPath(gpu, 1, 50257))).toEqual({ workgroup: false });
    expect(under({ path: 'workgroup', size: 256 }, () => rowPath(gpu, 100000, 3))).toEqual({ workgroup: true, size: 256 });
    expect(rowKernels).toEqual({ path: 'auto', size: undefined });
    expect(under({ path: 'auto' }, () => rowPath(gpu, 1, 50257))).toEqual({ workgroup: true, size: 256 });
  });
});

describe.skipIf(!plan.device && !plan.required)('webgpu row paths', () => {
  const gpu = () => backend('webgpu') as WebGpuBackend;

  it('every workgroup variant (op, dtype, 64 and 256 lanes) compiles and builds its pipeline without an error', async () => {
    await kiln.scope(async () => {
      const t = (d: DType, shape = [2, 3]) => kiln.ones(shape, { dtype: d, device: D });
      for (const p of PATHS.slice(1))
        under(p, () => {
          for (const d of ['float32', 'float16', 'bfloat16'] as DType[]) {
            kiln.softmax(t(d));
            kiln.logSoftmax(t(d));
            kiln.layerNorm(t(d), { scale: t(d, [3]), bias: t(d, [3]) });
            kiln.rmsNorm(t(d));
          }
          for (const d of ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool'] as DType[]) {
            for (const f of ['sum', 'prod'] as const) t(d)[f]({ axes: [1] });
            if (d === 'bool') continue;
            for (const f of ['mean', 'max', 'min', 'variance'] as const) t(d)[f]({ axes: [1] });
            t(d).argmax({ axis: 1 });
            t(d).argmin({ axis: 1 });
          }
        });
      await kiln.sync(); // a pipeline that failed to build rejects here
    });
    const report = await gpu().compilation(0);
    const errors = report.flatMap((r) => r.messages.filter((m) => m.type === 'error').map((m) => `${m.message} (line ${m.line})`));
    expect(errors).toEqual([]);
  });

  /** The bytes of each path's result: they must be identical. */
  async function bitsOnEveryPath(f: () => Tensor): Promise<string[]> {
    const out: string[] = [];
    for (const p of PATHS) {
      const y = under(p, f);
      const d = (await y.data()) as ArrayBufferView;
      out.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('hex'));
      y.dispose();
    }
    return out;
  }

  it('both paths give the same bits for extremes, indices and integer sums: the first NaN (its payload too), -0 against +0, ties', async () => {
    const r = rngFor('row paths bits');
    const n = 1000;
    for (const dtype of ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'uint8'] as DType[]) {
      const float = dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16';
      // rows 0, 1: zeros of either sign among negatives (max: the first zero, its sign included);
      // rows 2, 3: NaNs, the first of them in a later lane than lane 0's (float32: each its own payload)
      const nans: [number, number][] = [[2, 300], [2, 63], [2, 64], [3, n - 1], [3, 255], [3, 256]];
      const vals = Array.from({ length: 4 * n }, (_, i) => (!float ? r.int(0, 3) : r.pick(i < 2 * n ? [0, -0, -1, -2] : [0, -0, -1, 1, 2])));
      if (float) for (const [row, at] of nans) vals[row * n + at] = NaN;
      const f32 = new Float32Array(vals);
      nans.forEach(([row, at], k) => (new Uint32Array(f32.buffer)[row * n + at] = 0x7fc00001 + k));
      const x = kiln.tensor(dtype === 'float32' ? f32 : vals, { dtype, device: D }).reshape([4, n]);
      if (dtype === 'float32') expect(new Uint32Array(((await x.data()) as Float32Array).buffer)[2 * n + 63], 'the upload keeps NaN payloads').toBe(0x7fc00002);
      const ops: [string, () => Tensor][] = [
        ['max', () => x.max({ axes: 1 })],
        ['min', () => x.min({ axes: 1 })],
        ['argmax', () => x.argmax({ axis: 1 })],
        ['argmin', () => x.argmin({ axis: 1 })],
        ['max of the transpose', () => x.transpose().contiguous().transpose().max({ axes: 1 })],
      ];
      if (!float) ops.push(['sum', () => x.sum({ axes: 1 })], ['prod', () => x.prod({ axes: 1 })], ['mean', () => x.mean({ axes: 1 })]);
      for (const [name, f] of ops) {
        const [serial, ...workgroup] = await bitsOnEveryPath(f);
        for (const w of workgroup) expect(w, `${name} ${dtype}`).toBe(serial);
      }
      x.dispose();
    }
  });

  it('the workgroup path reaches every row of a 2-D grid (more than 65535 workgroups)', async () => {
    const rows = 65535 + 70;
    const x = kiln.arange(0, 2 * rows, 1, { device: D }).reshape([rows, 2]);
    const cx = kiln.arange(0, 2 * rows, 1).reshape([rows, 2]);
    await kiln.scope(async () => {
      const [am, sm, ln] = under({ path: 'workgroup', size: 64 }, () => [x.argmax({ axis: 1 }), kiln.softmax(x, -1), kiln.layerNorm(x)]);
      expect(Array.from((await am.data()) as BigInt64Array).every((v) => v === 1n)).toBe(true);
      for (const [got, want] of [[sm, kiln.softmax(cx, -1)], [ln, kiln.layerNorm(cx)]]) {
        const g = (await got.data()) as Float32Array, w = (await want.data()) as Float32Array;
        let worst = 0;
        for (let i = 0; i < w.length; ++i) worst = Math.max(worst, Math.abs(g[i] - w[i]));
        expect(worst).toBeLessThan(1e-5);
      }
    });
    x.dispose();
    cx.dispose();
  });
});
