// kiln.serve.batcher: concurrent requests joined along dim 0 into one run of the session and split
// back by rows. Each request's answer must equal its run alone (within the rounding of a batched
// matmul against a single row's), requests of other shapes or dtypes must not be joined, and a
// request that fails must fail alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { mlp, values } from '../bench/onnx-models.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { expectError, expectValues } from './helpers/compare.js';
import { availableDevices } from './helpers/backends.js';

const rowsOf = (n: number, seed: number, width = 784) => kiln.tensor(values(n * width, seed), { shape: [n, width] });

async function alone(session: kiln.onnx.InferenceSession, feeds: Record<string, kiln.Tensor>): Promise<Record<string, Float32Array>> {
  const out = await session.run(feeds);
  const got: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(out)) {
    got[name] = (await t.data()) as Float32Array;
    t.dispose();
  }
  return got;
}

async function readAll(out: Record<string, kiln.Tensor>): Promise<Record<string, Float32Array>> {
  const got: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(out)) {
    got[name] = (await t.data()) as Float32Array;
    t.dispose();
  }
  return got;
}

for (const device of availableDevices().filter((d) => d === 'cpu' || d.startsWith('webgpu')))
  describe(`serve.batcher on ${device}`, () => {
    let session: kiln.onnx.InferenceSession;
    beforeAll(async () => {
      session = await kiln.onnx.load(mlp('N').bytes, { device });
    });
    afterAll(async () => {
      await session.dispose();
    });
    const feed = (n: number, seed: number) => rowsOf(n, seed).to(device);

    it('joins concurrent requests into batches of at most maxBatch rows; each answer is its own run alone', async () => {
      const b = kiln.serve.batcher(session, { maxBatch: 8, maxDelayMs: 50 });
      const sizes = [1, 3, 1, 2, 1, 1, 4, 1, 2, 1, 1, 1]; // 19 rows: the 4 cannot join a batch holding 5
      const xs = sizes.map((n, i) => feed(n, 10 + i));
      const outs = await Promise.all(xs.map((x) => b.run({ x })));
      expect(b.stats.requests).toBe(sizes.length);
      expect(b.stats.batched).toBeGreaterThanOrEqual(2);
      expect(b.stats.runs).toBeLessThan(sizes.length / 2);
      for (let i = 0; i < xs.length; ++i) {
        expect(outs[i].probs.shape).toEqual([sizes[i], 10]);
        const want = await alone(session, { x: xs[i] });
        expectValues((await readAll(outs[i])).probs, want.probs, { rtol: 1e-5, atol: 1e-6 }, `request ${i}`);
      }
      await b.close();
      for (const x of xs) x.dispose();
    });

    it('a lone request runs after maxDelayMs; one of more than maxBatch rows runs alone, at once', async () => {
      const b = kiln.serve.batcher(session, { maxBatch: 4, maxDelayMs: 5 });
      const x = feed(1, 3), big = feed(9, 4);
      const got = await readAll(await b.run({ x }));
      expectValues(got.probs, (await alone(session, { x })).probs, { rtol: 1e-5, atol: 1e-6 });
      const t0 = performance.now();
      const gotBig = await readAll(await b.run({ x: big }));
      expect(performance.now() - t0, 'a full batch does not wait for the timer').toBeLessThan(5_000);
      expectValues(gotBig.probs, (await alone(session, { x: big })).probs, { rtol: 1e-5, atol: 1e-6 });
      expect(b.stats).toEqual({ requests: 2, runs: 2, batched: 0, fallbacks: 0 });
      await b.close();
      x.dispose();
      big.dispose();
    });

    it('requests of other dims, dtypes or outputs are not joined; a bad one fails alone', async () => {
      const b = kiln.serve.batcher(session, { maxBatch: 16, maxDelayMs: 20 });
      const good = [feed(1, 1), feed(2, 2), feed(1, 3)];
      const narrow = rowsOf(1, 4, 100).to(device); // 100 features where the model takes 784
      const ints = kiln.zeros([1, 784], { dtype: 'int32', device });
      const results = await Promise.allSettled([...good, narrow, ints].map((x) => b.run({ x })));
      for (let i = 0; i < good.length; ++i) {
        const r = results[i];
        expect(r.status).toBe('fulfilled');
        if (r.status === 'fulfilled') expectValues((await readAll(r.value)).probs, (await alone(session, { x: good[i] })).probs, { rtol: 1e-5, atol: 1e-6 });
      }
      for (const r of results.slice(good.length)) {
        expect(r.status).toBe('rejected');
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(kiln.KilnError);
      }
      expect(b.stats.fallbacks).toBe(0); // the bad ones had batches of their own
      await b.close();
      for (const x of [...good, narrow, ints]) x.dispose();
    });
  });

describe('serve.batcher', () => {
  it('a request that finds the batcher idle runs at once; those arriving while it runs wait and then run together', async () => {
    const session = await kiln.onnx.load(mlp('N').bytes);
    const b = kiln.serve.batcher(session); // maxDelayMs 0
    const x0 = rowsOf(1, 1);
    const first = b.run({ x: x0 });
    await new Promise((r) => setImmediate(r)); // after the batcher's own turn: the first request runs
    const later = Array.from({ length: 10 }, (_, i) => rowsOf(1, 2 + i));
    const outs = await Promise.all([first, ...later.map((x) => b.run({ x }))]);
    expect(b.stats).toEqual({ requests: 11, runs: 2, batched: 1, fallbacks: 0 });
    for (const [i, x] of [x0, ...later].entries()) expectValues((await readAll(outs[i])).probs, (await alone(session, { x })).probs, { rtol: 1e-5, atol: 1e-6 }, `request ${i}`);
    await b.close();
    for (const x of [x0, ...later]) x.dispose();
    await session.dispose();
  });

  it('maxInFlight batches run at once: a request that finds a slot free starts while another batch runs', async () => {
    const real = await kiln.onnx.load(mlp('N').bytes);
    let active = 0, most = 0;
    // the real session, its run() watched (and held 150 ms, so that runs meet even on a loaded host)
    const watched: kiln.onnx.InferenceSession = Object.assign(Object.create(real), {
      run: async (feeds: Record<string, kiln.Tensor>, o?: kiln.onnx.RunOptions) => {
        most = Math.max(most, ++active);
        try {
          await new Promise((r) => setTimeout(r, 150));
          return await real.run(feeds, o);
        } finally {
          --active;
        }
      },
    });
    for (const maxInFlight of [1, 2]) {
      most = 0;
      const b = kiln.serve.batcher(watched, { maxInFlight });
      const x = rowsOf(1, 5);
      const first = b.run({ x });
      await new Promise((r) => setImmediate(r)); // the first is running
      const outs = await Promise.all([first, b.run({ x }), b.run({ x })]);
      expect(most, `maxInFlight ${maxInFlight}`).toBe(maxInFlight);
      for (const o of outs) expect((await readAll(o)).probs.length).toBe(10);
      await b.close();
      x.dispose();
    }
    await real.dispose();
  });

  it('over the ort engine too: one run in the onnxruntime process for many callers, the same answers', async () => {
    const session = await kiln.onnx.load(mlp('N').bytes, { engine: 'ort' });
    const b = kiln.serve.batcher(session);
    const xs = [1, 2, 1, 3, 1].map((n, i) => rowsOf(n, 40 + i));
    const outs = await Promise.all(xs.map((x) => b.run({ x })));
    expect(b.stats.runs).toBeLessThan(xs.length);
    for (const [i, x] of xs.entries()) expectValues((await readAll(outs[i])).probs, (await alone(session, { x })).probs, { rtol: 1e-6, atol: 1e-7 }, `request ${i}`);
    await b.close();
    for (const x of xs) x.dispose();
    await session.dispose();
  });

  it('a model whose output has no batch dim answers each request from a run of its own', async () => {
    const g = new GraphBuilder('total');
    g.node('ReduceSum', [g.input('x', 'float32', ['N', 3])], { keepdims: 0 }, { outputs: ['s'] });
    g.output('s', 'float32', []);
    const session = await kiln.onnx.load(g.toBytes({ opset: 11 }));
    const b = kiln.serve.batcher(session, { maxDelayMs: 20 });
    const xs = [kiln.tensor([[1, 2, 3]]), kiln.tensor([[4, 5, 6], [7, 8, 9]])];
    const outs = await Promise.all(xs.map((x) => b.run({ x })));
    expect(await outs[0].s.item()).toBe(6);
    expect(await outs[1].s.item()).toBe(39);
    expect(b.stats).toEqual({ requests: 2, runs: 3, batched: 0, fallbacks: 1 });
    await b.close();
    await session.dispose();
  });

  it('a request that fails inside a joined run fails alone: the others are answered', async () => {
    // Gather of the request's own indices: one request's index 7 is out of range of the 4-row table
    const g = new GraphBuilder('lookup');
    const table = g.floats([4, 2], [0, 1, 10, 11, 20, 21, 30, 31]);
    g.node('Gather', [table, g.input('i', 'int64', ['N'])], { axis: 0 }, { outputs: ['y'] });
    g.output('y', 'float32', ['N', 2]);
    const session = await kiln.onnx.load(g.toBytes({ opset: 13 }));
    const b = kiln.serve.batcher(session, { maxDelayMs: 20 });
    const reqs = [[1n], [2n, 3n], [7n], [0n]].map((v) => kiln.tensor(BigInt64Array.from(v)));
    const results = await Promise.allSettled(reqs.map((i) => b.run({ i }).then(readAll)));
    const ok = results.map((r) => (r.status === 'fulfilled' ? Array.from(r.value.y) : (r.reason as kiln.KilnError).code));
    expect(ok).toEqual([[10, 11], [20, 21, 30, 31], 'E_INDEX', [0, 1]]);
    await b.close();
    await session.dispose();
  });

  it('close() runs what is queued at once and refuses later requests', async () => {
    const session = await kiln.onnx.load(mlp('N').bytes);
    const b = kiln.serve.batcher(session, { maxDelayMs: 60_000 });
    const x = rowsOf(2, 9);
    const pending = b.run({ x });
    const t0 = performance.now();
    await b.close();
    expect(performance.now() - t0, 'close does not wait out maxDelayMs').toBeLessThan(30_000);
    expect((await pending).probs.shape).toEqual([2, 10]);
    await expect(b.run({ x })).rejects.toMatchObject({ code: 'E_ARGUMENT', message: 'serve.batcher: run after close()' });
    x.dispose();
    await session.dispose();
  });

  it('bad options and feeds are KilnErrors naming what was wrong', async () => {
    const session = await kiln.onnx.load(mlp('N').bytes);
    expectError(() => kiln.serve.batcher({} as never), 'E_ARGUMENT', 'session must be an InferenceSession');
    expectError(() => kiln.serve.batcher(session, { maxBatch: 0 }), 'E_ARGUMENT', 'maxBatch must be a positive integer, got 0');
    expectError(() => kiln.serve.batcher(session, { maxInFlight: 1.5 }), 'E_ARGUMENT', 'maxInFlight must be a positive integer, got 1.5');
    expectError(() => kiln.serve.batcher(session, { maxDelayMs: -1 }), 'E_ARGUMENT', 'maxDelayMs must be a finite number >= 0, got -1');
    expectError(() => kiln.serve.batcher(session, { maxDelay: 1 } as never), 'E_ARGUMENT', "unknown option 'maxDelay'");
    const b = kiln.serve.batcher(session);
    const bad: [unknown, RegExp][] = [
      [null, /feeds must be an object of tensors, got null/],
      [{}, /feeds hold no input/],
      [{ x: [1, 2] }, /feed 'x' must be a Tensor, got \[1, 2\]/],
      [{ x: kiln.tensor(1) }, /feed 'x' float32\[\] on cpu has no dim 0 to batch along/],
      [{ x: kiln.zeros([2, 3]), y: kiln.zeros([3, 3]) }, /every feed needs the same rows \(dim 0\)/],
      [{ x: kiln.zeros([0, 784]) }, /a request of 0 rows/],
    ];
    for (const [feeds, message] of bad) await expect(b.run(feeds as never)).rejects.toMatchObject({ message: expect.stringMatching(message) });
    await expect(b.run({ x: rowsOf(1, 1) }, { outputs: 'probs' } as never)).rejects.toMatchObject({ code: 'E_ARGUMENT', message: expect.stringMatching(/outputs must be an array of output names/) });
    expect(b.stats.requests).toBe(0);
    await b.close();
    await session.dispose();
  });
});
