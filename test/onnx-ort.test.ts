// The onnxruntime engine: Kiln tensors in and out, session options passed through, and its run
// kept off the JS thread: timers keep firing while a long model runs in the worker.
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import './helpers/backends.js';
import { expectValues } from './helpers/compare.js';

/** Y = A @ A @ ... @ A (`depth` products) for a float32 [n, n] input A. */
function chain(n: number, depth: number): Uint8Array {
  const g = new GraphBuilder('chain');
  const a = g.input('A', 'float32', [n, n]);
  let y = a;
  for (let i = 0; i < depth; ++i) y = g.node('MatMul', [y, a], {}, i === depth - 1 ? { outputs: ['Y'] } : {});
  g.output('Y', 'float32', [n, n]);
  return g.toBytes();
}

describe('onnx ort engine', () => {
  it('runs a model on Kiln tensors and agrees with Kiln', async () => {
    const s = await kiln.onnx.load(chain(64, 2), { engine: 'ort', ort: { intraOpNumThreads: 1, graphOptimizationLevel: 'all' } });
    expect(s.engine).toBe('ort');
    expect(s.inputs).toEqual([{ name: 'A', dtype: 'float32', shape: [64, 64] }]);
    const a = kiln.rand([64, 64], { seed: 3, low: -0.2, high: 0.2 });
    const { Y } = await s.run({ A: a });
    expect(Y.device).toBe('cpu');
    expectValues((await Y.data()) as Float32Array, (await a.matmul(a).matmul(a).data()) as Float32Array, { rtol: 1e-4, atol: 1e-6 }, 'ort vs kiln');
    await s.dispose();
    await expect(s.run({ A: a })).rejects.toMatchObject({ code: 'E_DISPOSED' });
  });

  it('moves float16, int64 and bool tensors in and out without changing them', async () => {
    const g = new GraphBuilder('types');
    const h = g.input('h', 'float16', [3]);
    g.node('Mul', [h, h], {}, { outputs: ['sq'] });
    g.node('Neg', [g.input('i', 'int64', [2])], {}, { outputs: ['neg'] });
    g.node('Not', [g.input('b', 'bool', [2])], {}, { outputs: ['not'] });
    g.output('sq', 'float16', [3]);
    g.output('neg', 'int64', [2]);
    g.output('not', 'bool', [2]);
    const bytes = g.toBytes();
    const feeds = { h: kiln.tensor([1.5, -2, 0.25], { dtype: 'float16' }), i: kiln.tensor([2n ** 40n, -3n], { dtype: 'int64' }), b: kiln.tensor([true, false]) };
    for (const engine of ['ort', 'kiln'] as const) {
      const s = await kiln.onnx.load(bytes, { engine });
      const out = await s.run(feeds);
      expect(out.sq.dtype).toBe('float16');
      expect(await out.sq.toArray()).toEqual([2.25, 4, 0.0625]);
      expect(Array.from((await out.neg.data()) as BigInt64Array)).toEqual([-(2n ** 40n), 3n]);
      expect(await out.not.toArray()).toEqual([false, true]);
      await s.dispose();
    }
  });

  it('passes session options through and reports onnxruntime errors as KilnErrors', async () => {
    await expect(kiln.onnx.load(chain(8, 1), { engine: 'ort', ort: { executionProviders: ['no-such-provider'] } })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    const s = await kiln.onnx.load(chain(8, 1), { engine: 'ort' });
    await expect(s.run({ A: kiln.zeros([8, 8], { dtype: 'int32' }) })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    await expect(s.run({ A: kiln.zeros([8, 8], { dtype: 'bfloat16' }) })).rejects.toMatchObject({ code: 'E_DTYPE' });
    await s.dispose();
  });

  it('keeps the event loop responsive during a long run', async () => {
    const n = 768;
    const s = await kiln.onnx.load(chain(n, 100), { engine: 'ort' }); // ~90 GFLOP: 250+ ms at onnxruntime's 360 GFLOP/s here
    const a = kiln.rand([n, n], { seed: 5, low: -1 / Math.sqrt(n), high: 1 / Math.sqrt(n) });
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(performance.now()), 5);
    const t0 = performance.now();
    const { Y } = await s.run({ A: a });
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    const gaps = ticks.slice(1).map((t, i) => t - ticks[i]);
    console.log(`ort run: ${elapsed.toFixed(0)} ms, ${ticks.length} timer ticks, longest gap ${Math.max(...gaps).toFixed(1)} ms`);
    // A run that blocked the JS thread would leave no tick inside it: one gap as long as the run.
    // (Loose bounds: a busy host delays timers, but not by half a run.)
    expect(elapsed).toBeGreaterThan(100);
    expect(ticks.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...gaps)).toBeLessThan(elapsed / 2);
    expect(Y.shape).toEqual([n, n]);
    await s.dispose();
  });
});
