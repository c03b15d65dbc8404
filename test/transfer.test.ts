// Tensor.to between every pair of available devices (cpu, webgpu:0, cuda:0): the values arrive in
// every dtype and layout, the copy keeps its place in both devices' queues, an index out of range
// found on the source goes with the copy, and nothing waits on the JS thread or at exit.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { availableDevices } from './helpers/backends.js';
import { Cases, expectRejection, expectTensor } from './helpers/compare.js';
import { ROOT, assertDistFresh, ending, runNode } from './helpers/dist.js';
import { ALL_DTYPES, layoutsFor, makeInput } from './helpers/inputs.js';
import { rngFor } from './helpers/random.js';
import * as R from './helpers/reference.js';

const EXACT = { rtol: 0, atol: 0 };
const devices = availableDevices();
const pairs = devices.flatMap((a) => devices.filter((b) => b !== a).map((b) => [a, b] as const));

describe.skipIf(pairs.length === 0)('Tensor.to between devices', () => {
  for (const [from, to] of pairs) {
    it(`${from} -> ${to}: every dtype, contiguous and strided, empty and 0-d`, async () => {
      const r = rngFor(`${from} ${to} values`);
      const cases = new Cases();
      for (const dtype of ALL_DTYPES)
        for (const shape of [[0], [], [7], [13, 33], [3, 0, 2]])
          for (const layout of layoutsFor(shape).slice(0, 3))
            await cases.run(`${dtype} [${shape}] ${layout}`, async () => {
              const { t, ref } = makeInput(r, from, dtype, shape, layout);
              const y = t.to(to);
              expect([y.device, y.dtype, y.shape]).toEqual([to, dtype, t.shape]);
              expect(y.isContiguous).toBe(true);
              await expectTensor(y, ref, dtype, EXACT);
            });
      cases.done();
    });

    it(`${from} -> ${to}: ordered after the work queued on ${from}, and before the work queued on ${to} after it`, async () => {
      const r = rngFor(`${from} ${to} order`);
      const x = makeInput(r, from, 'float32', [64, 65], 'contiguous');
      // queued on the source before the copy, and on the destination after it: read once, at the end
      const y = x.t.mul(2).add(1).to(to).mul(3);
      await expectTensor(y, x.ref.map((v) => R.toF32(R.toF32(R.toF32(v * 2) + 1) * 3)), 'float32', EXACT);
    });

    it(`${from} <-> ${to}: copies both ways, interleaved with work on both, give what one device computes`, async () => {
      const r = rngFor(`${from} ${to} both ways`);
      const a0 = makeInput(r, from, 'float32', [32, 32], 'contiguous'), b0 = makeInput(r, to, 'float32', [32, 32], 'contiguous');
      let a = a0.t, b = b0.t;
      let ra = a0.ref, rb = b0.ref;
      const live: kiln.Tensor[] = [];
      for (let i = 0; i < 12; ++i) {
        const fromB = b.to(from), fromA = a.to(to); // both in flight before either is read
        live.push(fromB, fromA);
        a = a.add(fromB).mul(0.5);
        b = fromA.sub(b).mul(0.25);
        live.push(a, b);
        [ra, rb] = [
          R.map2(ra, rb, (p, q) => R.toF32(R.toF32(p + q) * 0.5)),
          R.map2(ra, rb, (p, q) => R.toF32(R.toF32(p - q) * 0.25)),
        ];
      }
      await expectTensor(a, ra, 'float32', EXACT);
      await expectTensor(b, rb, 'float32', EXACT);
      for (const t of live) t.dispose();
    });

    it(`${from} -> ${to}: an index out of range found on ${from} goes with the copy to ${to}, and ${to} works on`, async () => {
      const data = kiln.arange(0, 4, 1, { device: from });
      const bad = kiln.gather(data, kiln.tensor([9], { dtype: 'int32', device: from }), 0);
      const moved = bad.to(to);
      const after = moved.add(1);
      await kiln.sync(); // not an error of either device
      await expectRejection(moved.data(), 'E_INDEX', 'index 9');
      await expectRejection(after.data(), 'E_INDEX', 'index 9');
      expect(await kiln.arange(0, 3, 1, { device: to }).toArray()).toEqual([0, 1, 2]);
      expect(await data.to(to).toArray()).toEqual([0, 1, 2, 3]);
    });

    it(`${from} -> ${to}: the source or the copy disposed at once`, async () => {
      const src = kiln.arange(0, 1000, 1, { device: from }).mul(2);
      const copy = src.to(to);
      src.dispose(); // frees in stream order, after the read that the copy queued
      expect(await copy.sum().item()).toBe(999000);
      const gone = kiln.ones([1000], { device: from }).to(to);
      gone.dispose();
      await kiln.sync();
      expect(await kiln.ones([2], { device: to }).toArray()).toEqual([1, 1]);
    });
  }
});

describe.skipIf(!devices.some((d) => d.startsWith('webgpu')))('WebGPU copies: a bench run, and a copy still under way at exit', () => {
  it('bytes that arrive while the CPU queue is still busy land after the work queued before them (the output poisoning fill included)', async () => {
    // a long CPU matmul keeps the queue busy while the small read-back from WebGPU completes: the
    // bytes arrive before the queue reaches the copy's own poisoning of its output, and must not be
    // overwritten by it (they were, once, when they were written in place at arrival)
    const big = kiln.ones([768, 768]);
    for (let round = 0; round < 3; ++round) {
      const busy = big.matmul(big);
      const src = kiln.arange(0, 64, 1, { dtype: 'float32', device: 'webgpu:0' });
      const back = src.to('cpu');
      expect(Array.from((await back.data()) as Float32Array)).toEqual(Array.from({ length: 64 }, (_, i) => i));
      for (const t of [busy, src, back]) t.dispose();
    }
  });

  it('bench/transfer.js validates its round trip and prints a row per device and size', () => {
    assertDistFresh();
    const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', 'transfer.js'), '--sizes', '1'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, ending(r)).toBe(0);
    expect(r.stdout).toMatch(/^webgpu:0\t1\t[\d.]+\t[\d.]+\t/m);
  });

  it('process.exit() with the bytes not yet read back: the process ends at once', () => {
    assertDistFresh();
    const r = runNode(`
      import * as kiln from './dist/src/index.js';
      await kiln.init({ require: ['webgpu'] });
      const g = kiln.randn([512, 512], { seed: 1, device: 'webgpu:0' });
      const c = g.matmul(g).to('cpu').add(1); // a late write on the cpu queue, and work behind it
      console.log('queued');
      process.exit(0); // the read-back has not even started: teardown must not wait for its bytes
    `, {}, 20_000);
    expect(r.status, ending(r)).toBe(0);
    expect(r.stdout).toContain('queued');
  });
});
