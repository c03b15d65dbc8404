// Cancellation with AbortSignal (src/abort.ts): a session run, an ort-engine run and a batcher
// request each reject with E_ABORTED once their signal fires, naming its reason; the work stops where
// it can (the kiln engine at its next node or Loop iteration, a queued batcher request before it
// runs), nothing computed after the abort is leaked, and the session or batcher goes on serving.
import { getEventListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import * as kiln from '../src/index.js';
import { mlp, values } from '../bench/onnx-models.js';
import { GraphBuilder, hostTensor } from '../src/onnx/builder.js';
import { forEachBackend } from './helpers/backends.js';
import { expectRejection, expectValues } from './helpers/compare.js';

/** y = x + 1 + 1 + ... for ever: a Loop with no trip count whose condition stays true. */
function endlessLoop(): Uint8Array {
  const body = new GraphBuilder('body');
  body.input('i', 'int64', []);
  body.input('cond_in', 'bool', []);
  body.input('x_in', 'float32', ['N', 4]);
  body.node('Identity', ['cond_in'], {}, { outputs: ['cond_out'] });
  body.node('Add', ['x_in', body.floats([1], [1])], {}, { outputs: ['x_out'] });
  body.output('cond_out', 'bool', []);
  body.output('x_out', 'float32', ['N', 4]);
  const g = new GraphBuilder('endless');
  g.input('x', 'float32', ['N', 4]);
  g.nodeOutputs('Loop', ['', g.constant('C', hostTensor('bool', [], [1])), 'x'], { body }, { outputs: ['y'] });
  g.output('y', 'float32', ['N', 4]);
  return g.toBytes({ opset: 13 });
}

/** A chain of `depth` n x n matmuls (y = x @ x @ ... ): long enough a run to abort in the middle of. */
function chain(n: number, depth: number): Uint8Array {
  const g = new GraphBuilder('chain');
  g.input('A', 'float32', [n, n]);
  let y = 'A';
  for (let i = 0; i < depth; ++i) y = g.node('MatMul', [y, 'A'], {}, i === depth - 1 ? { outputs: ['Y'] } : {});
  g.output('Y', 'float32', [n, n]);
  return g.toBytes();
}

const live = (device: string) => kiln.memory().devices[device]?.tensors ?? 0;

/** Waits until the device's live tensors are back to `base` (what an aborted run left is freed in the background). */
async function settlesTo(device: string, base: number): Promise<void> {
  await vi.waitFor(() => expect(live(device)).toBe(base), { timeout: 5000, interval: 20 });
}

forEachBackend('abort: kiln engine', (device) => {
  it('AbortSignal.timeout stops an endless Loop with E_ABORTED naming the reason; every iteration\'s values are freed', async () => {
    const s = await kiln.onnx.load(endlessLoop(), { device });
    const x = kiln.tensor(values(8, 1), { shape: [2, 4], device });
    const base = live(device);
    const err = await expectRejection(s.run({ x }, { signal: AbortSignal.timeout(150) }), 'E_ABORTED', 'onnx session run', 'TimeoutError');
    expect((err.cause as Error).name).toBe('TimeoutError');
    await settlesTo(device, base);
    await s.dispose();
    x.dispose();
  });

  it('a signal already fired runs nothing; a live one changes nothing and leaves no listener behind', async () => {
    const s = await kiln.onnx.load(mlp('N').bytes, { device });
    const x = kiln.tensor(values(3 * 784, 2), { shape: [3, 784], device });
    const base = live(device);
    await expectRejection(s.run({ x }, { signal: AbortSignal.abort(new Error('client went away')) }), 'E_ABORTED', 'client went away');
    expect(live(device)).toBe(base);
    const first = await s.run({ x });
    const want = (await first.probs.data()) as Float32Array;
    first.probs.dispose();
    const c = new AbortController();
    for (let i = 0; i < 3; ++i) { // node by node, recorded, replayed (CPU)
      const { probs } = await s.run({ x }, { signal: c.signal });
      expectValues((await probs.data()) as Float32Array, want, { rtol: 0, atol: 0 }, `run ${i}`);
      probs.dispose();
    }
    expect(getEventListeners(c.signal, 'abort')).toHaveLength(0);
    await expectRejection(s.run({ x }, { signal: 'soon' as unknown as AbortSignal }), 'E_ARGUMENT', 'signal must be an AbortSignal', "'soon'");
    await s.dispose();
    x.dispose();
  });

  it('an abort right after the call rejects it, and the outputs computed anyway are disposed', async () => {
    const s = await kiln.onnx.load(mlp('N').bytes, { device });
    const x = kiln.tensor(values(4 * 784, 3), { shape: [4, 784], device });
    (await s.run({ x })).probs.dispose(); // recorded: on the CPU the next run is one native program
    const base = live(device);
    const c = new AbortController();
    const run = s.run({ x }, { signal: c.signal });
    c.abort();
    await expectRejection(run, 'E_ABORTED', 'AbortError');
    await settlesTo(device, base);
    await s.dispose();
    x.dispose();
  });
});

describe('abort: ort engine', () => {
  it('an aborted run rejects at once; its late result is dropped and the session answers the next run right', async () => {
    const n = 256; // 200 products of 256^3: tens of ms on one thread
    const s = await kiln.onnx.load(chain(n, 200), { engine: 'ort', ort: { intraOpNumThreads: 1 } });
    const a = kiln.tensor(values(n * n, 4).map((v) => v / 9), { shape: [n, n] }); // spectral radius about 1
    const first = await s.run({ A: a });
    const want = (await first.Y.data()) as Float32Array;
    first.Y.dispose();
    await expectRejection(s.run({ A: a }, { signal: AbortSignal.abort() }), 'E_ABORTED', 'ort engine run');
    const c = new AbortController();
    const aborted = s.run({ A: a }, { signal: c.signal });
    setTimeout(() => c.abort(new Error('stop')), 5);
    await expectRejection(aborted, 'E_ABORTED', 'stop');
    const { Y } = await s.run({ A: a }); // answered after the aborted run's own answer, which is dropped
    expectValues((await Y.data()) as Float32Array, want, { rtol: 0, atol: 0 }, 'the run after the aborted one');
    Y.dispose();
    a.dispose();
    await s.dispose();
  });
});

describe('abort: serve.batcher', () => {
  it('a queued request is withdrawn and never runs; the others run as one batch', async () => {
    const s = await kiln.onnx.load(mlp('N').bytes);
    const b = kiln.serve.batcher(s, { maxDelayMs: 60_000 });
    const xs = [1, 2, 3].map((i) => kiln.tensor(values(784, 10 + i), { shape: [1, 784] }));
    const c = new AbortController();
    const runs = xs.map((x, i) => b.run({ x }, i === 1 ? { signal: c.signal } : undefined));
    await expectRejection(b.run({ x: xs[0] }, { signal: AbortSignal.abort() }), 'E_ABORTED', 'serve.batcher run');
    c.abort(new Error('caller hung up'));
    await expectRejection(runs[1], 'E_ABORTED', 'caller hung up');
    await b.close(); // runs what is queued now
    const [a0, a2] = await Promise.all([runs[0], runs[2]]);
    expect(b.stats).toEqual({ requests: 2, runs: 1, batched: 1, fallbacks: 0 });
    for (const [got, x] of [[a0, xs[0]], [a2, xs[2]]] as const) {
      const want = await s.run({ x });
      expectValues((await got.probs.data()) as Float32Array, (await want.probs.data()) as Float32Array, { rtol: 1e-5, atol: 1e-6 }, 'a request batched without the withdrawn one');
      got.probs.dispose();
      want.probs.dispose();
    }
    for (const x of xs) x.dispose();
    await s.dispose();
  });

  it('a request aborted while its batch runs rejects; the rest of the batch is answered and its rows are freed', async () => {
    const s = await kiln.onnx.load(mlp('N').bytes);
    // the same session, its runs held until the test lets them go: the abort lands mid-batch
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const held: kiln.onnx.InferenceSession = Object.create(s, { run: { value: async (...a: Parameters<typeof s.run>) => (await gate, s.run(...a)) } });
    const b = kiln.serve.batcher(held);
    const xs = [1, 2].map((i) => kiln.tensor(values(784, 20 + i), { shape: [1, 784] }));
    const base = live('cpu');
    const c = new AbortController();
    const runs = [b.run({ x: xs[0] }), b.run({ x: xs[1] }, { signal: c.signal })];
    await vi.waitFor(() => expect(b.stats.runs).toBe(1)); // the batch of both has started
    c.abort();
    await expectRejection(runs[1], 'E_ABORTED', 'AbortError');
    release();
    const kept = await runs[0];
    expect(b.stats.batched).toBe(1);
    kept.probs.dispose();
    await b.close();
    await settlesTo('cpu', base);
    for (const x of xs) x.dispose();
    await s.dispose();
  });

  it('a request running alone takes its signal into the run: an endless model is stopped and the batcher serves on', async () => {
    const s = await kiln.onnx.load(endlessLoop());
    const b = kiln.serve.batcher(s);
    const x = kiln.tensor(values(4, 5), { shape: [1, 4] });
    const base = live('cpu');
    await expectRejection(b.run({ x }, { signal: AbortSignal.timeout(100) }), 'E_ABORTED', 'TimeoutError');
    // the session's run stopped at its next iteration, so the batcher's one slot is free again
    await expectRejection(b.run({ x }, { signal: AbortSignal.timeout(100) }), 'E_ABORTED', 'TimeoutError');
    await vi.waitFor(() => expect(b.stats.runs).toBe(2));
    await settlesTo('cpu', base); // both runs stopped: no iteration holds a value any more
    await b.close();
    x.dispose();
    await s.dispose();
  });
});
