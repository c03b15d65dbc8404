// The onnxruntime engine: Kiln tensors in and out, session options passed through, its run kept off
// the JS thread (timers keep firing while a long model runs in its process or worker), and a crash
// of onnxruntime kept out of this process.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { GraphBuilder, hostTensor } from '../src/onnx/builder.js';
import './helpers/backends.js';
import { expectValues } from './helpers/compare.js';
import { DIST_INDEX, assertDistFresh, ending, runNode } from './helpers/dist.js';
import { rngFor } from './helpers/random.js';

const ISOLATIONS = ['process', 'thread'] as const;

/** A Max whose second input is named '': onnxruntime-node 1.30 segfaults running it. */
function crashingModel(): Uint8Array {
  const g = new GraphBuilder('crash');
  g.node('Max', [g.input('x', 'float32', [2]), ''], {}, { outputs: ['y'] });
  g.output('y', 'float32', [2]);
  return g.toBytes({ opset: 13 });
}

/** An AveragePool whose kernel of 2^40 rows hangs onnxruntime-node 1.30 (opset 19 on). */
function hangingModel(): Uint8Array {
  const g = new GraphBuilder('hang');
  g.node('AveragePool', [g.input('x', 'float32', ['b', 1, 5, 'n'])], { auto_pad: 'SAME_UPPER', kernel_shape: [2 ** 40, 3], strides: [2, 2] }, { outputs: ['y'] });
  g.output('y', 'float32');
  return g.toBytes({ opset: 19 });
}

/** Waits up to `ms` for the processes marked `marker` to end; kills and returns those left. */
function leftAfter(marker: string, ms: number): number[] {
  const deadline = Date.now() + ms;
  let left = processesMarked(marker);
  while (left.length > 0 && Date.now() < deadline) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    left = processesMarked(marker);
  }
  for (const pid of left) process.kill(pid, 'SIGKILL');
  return left;
}

/** Pids of the live processes whose environment holds `marker` (Linux: /proc). */
function processesMarked(marker: string): number[] {
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/environ`, 'latin1').includes(marker)) found.push(Number(e));
    } catch {
      // it ended meanwhile, or is not ours to read
    }
  }
  return found;
}

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
  it.each(ISOLATIONS)('runs a model on Kiln tensors and agrees with Kiln (isolation %s)', async (isolation) => {
    const s = await kiln.onnx.load(chain(64, 2), { engine: 'ort', ort: { intraOpNumThreads: 1, graphOptimizationLevel: 'all', isolation } });
    expect(s.engine).toBe('ort');
    expect(s.inputs).toEqual([{ name: 'A', dtype: 'float32', shape: [64, 64] }]);
    const a = kiln.rand([64, 64], { seed: 3, low: -0.2, high: 0.2 });
    const { Y } = await s.run({ A: a });
    expect(Y.device).toBe('cpu');
    expectValues((await Y.data()) as Float32Array, (await a.matmul(a).matmul(a).data()) as Float32Array, { rtol: 1e-4, atol: 1e-6 }, 'ort vs kiln');
    await s.dispose();
    await expect(s.run({ A: a })).rejects.toMatchObject({ code: 'E_DISPOSED' });
  });

  it.each(ISOLATIONS)('moves float16, int64, bool and empty tensors in and out without changing them (isolation %s)', async (isolation) => {
    const g = new GraphBuilder('types');
    const h = g.input('h', 'float16', [3]);
    g.node('Mul', [h, h], {}, { outputs: ['sq'] });
    g.node('Neg', [g.input('i', 'int64', [2])], {}, { outputs: ['neg'] });
    g.node('Not', [g.input('b', 'bool', [2])], {}, { outputs: ['not'] });
    g.output('sq', 'float16', [3]);
    g.output('neg', 'int64', [2]);
    g.output('not', 'bool', [2]);
    g.node('Relu', [g.input('e', 'float32', [0, 3])], {}, { outputs: ['empty'] });
    g.output('empty', 'float32', [0, 3]);
    const bytes = g.toBytes();
    const feeds = { h: kiln.tensor([1.5, -2, 0.25], { dtype: 'float16' }), i: kiln.tensor([2n ** 40n, -3n], { dtype: 'int64' }), b: kiln.tensor([true, false]), e: kiln.zeros([0, 3]) };
    for (const engine of ['ort', 'kiln'] as const) {
      const s = await kiln.onnx.load(bytes, { engine, ...(engine === 'ort' ? { ort: { isolation } } : {}) });
      const out = await s.run(feeds);
      expect(out.sq.dtype).toBe('float16');
      expect(await out.sq.toArray()).toEqual([2.25, 4, 0.0625]);
      expect(Array.from((await out.neg.data()) as BigInt64Array)).toEqual([-(2n ** 40n), 3n]);
      expect(await out.not.toArray()).toEqual([false, true]);
      expect(out.empty.shape).toEqual([0, 3]);
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

  it("ConvTranspose's output_shape, auto_pad and output_padding: the same outputs as onnxruntime, and the same ones refused", async () => {
    // A sample of a grid (every one of its 837 cases agreed when this was written): strides 1-3,
    // kernels 1-3, dilations 1-2, output_padding 0-2, pads / SAME_UPPER / SAME_LOWER / VALID, and
    // every output_shape from 1 to the full result plus a stride.
    const r = rngFor('convtranspose vs ort');
    const x = kiln.tensor([[[1, -2, 3, 0.5], [2, 1, -1, 4]]]);
    const w = [0.5, 1.5, -1, 2, 0.25, -3];
    const outcome = async (bytes: Uint8Array, engine: 'kiln' | 'ort') => {
      try {
        const s = await kiln.onnx.load(bytes, { engine });
        const y = Object.values(await s.run({ x }))[0];
        const v = { shape: y.shape, values: Array.from((await y.data()) as Float32Array) };
        await s.dispose();
        return v;
      } catch (e) {
        return { refused: (e as kiln.KilnError).code };
      }
    };
    let refused = 0;
    for (let i = 0; i < 40; ++i) {
      const [s, k, dil] = [r.int(1, 3), r.int(1, 3), r.int(1, 2)];
      const op = r.int(0, 2), full = 3 * s + dil * (k - 1) + 1 + op;
      const attrs: Record<string, number[] | string> = { strides: [s], dilations: [dil], output_padding: [op] };
      const how = r.pick(['pads', 'SAME_UPPER', 'SAME_LOWER', 'VALID', 'output_shape', 'output_shape']);
      if (how === 'output_shape') attrs.output_shape = [r.int(1, full + s)];
      else if (how === 'pads') attrs.pads = [r.int(0, 1), r.int(0, 1)];
      else attrs.auto_pad = how;
      const g = new GraphBuilder('convtranspose');
      g.input('x', 'float32', [1, 2, 4]);
      g.output(g.node('ConvTranspose', ['x', g.constant('w', hostTensor('float32', [2, 1, k], w.slice(0, 2 * k)))], attrs), 'float32');
      const bytes = g.toBytes();
      const [ours, theirs] = [await outcome(bytes, 'kiln'), await outcome(bytes, 'ort')];
      const what = JSON.stringify({ kernel: k, ...attrs });
      if ('refused' in theirs) {
        expect(ours, what).toEqual({ refused: 'E_ARGUMENT' });
        ++refused;
        continue;
      }
      expect('shape' in ours && ours.shape, what).toEqual(theirs.shape);
      expectValues(Float32Array.from((ours as { values: number[] }).values), Float32Array.from(theirs.values), { rtol: 1e-6, atol: 1e-6 }, what);
    }
    expect(refused, 'the sample reaches both outcomes').toBeGreaterThan(0);
    expect(refused).toBeLessThan(40);
  });

  it.each(ISOLATIONS)('keeps the event loop responsive during a long run (isolation %s)', async (isolation) => {
    const n = 768;
    const s = await kiln.onnx.load(chain(n, 100), { engine: 'ort', ort: { isolation } }); // ~90 GFLOP: 250+ ms at onnxruntime's 360 GFLOP/s here
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

  it("a crash inside onnxruntime loses that session (E_ENGINE_LOST), not this process; later calls say so; other sessions go on", async () => {
    const good = await kiln.onnx.load(chain(8, 1), { engine: 'ort' });
    const s = await kiln.onnx.load(crashingModel(), { engine: 'ort' });
    const x = kiln.tensor([1, 2]);
    const lost = await s.run({ x }).then(() => undefined, (e: unknown) => e);
    expect(lost).toBeInstanceOf(kiln.KilnError);
    expect(lost).toMatchObject({ code: 'E_ENGINE_LOST' });
    expect((lost as Error).message).toMatch(/onnxruntime's process ended \(signal SIGSEGV\).*load the model again/);
    await expect(s.run({ x })).rejects.toMatchObject({ code: 'E_ENGINE_LOST' });
    await s.dispose(); // nothing left to release
    await expect(s.run({ x })).rejects.toMatchObject({ code: 'E_ENGINE_LOST' });
    const a = kiln.rand([8, 8], { seed: 9 });
    expectValues((await (await good.run({ A: a })).Y.data()) as Float32Array, (await a.matmul(a).data()) as Float32Array, { rtol: 1e-5, atol: 1e-6 }, 'the other session');
    await good.dispose();
  });

  it('runs several calls in flight at once, each with its own result, and dispose() lets queued runs finish', async () => {
    for (const isolation of ISOLATIONS) {
      const s = await kiln.onnx.load(chain(16, 1), { engine: 'ort', ort: { isolation } });
      const inputs = [1, 2, 3, 4, 5].map((seed) => kiln.rand([16, 16], { seed }));
      const runs = inputs.map((A) => s.run({ A }));
      const disposed = s.dispose();
      const outs = await Promise.all(runs);
      await disposed;
      for (const [i, { Y }] of outs.entries()) {
        expectValues((await Y.data()) as Float32Array, (await inputs[i].matmul(inputs[i]).data()) as Float32Array, { rtol: 1e-5, atol: 1e-6 }, `${isolation} run ${i}`);
      }
      await expect(s.run({ A: inputs[0] })).rejects.toMatchObject({ code: 'E_DISPOSED' });
    }
  });

  it('ort.timeoutMs: a run onnxruntime does not answer in time stops its process (E_ENGINE_LOST), and the session is lost', async () => {
    const n = 768;
    const a = kiln.rand([n, n], { seed: 5, low: -1 / Math.sqrt(n), high: 1 / Math.sqrt(n) });
    const s = await kiln.onnx.load(chain(n, 100), { engine: 'ort', ort: { timeoutMs: 40 } }); // 250+ ms a run here
    const t0 = performance.now();
    await expect(s.run({ A: a })).rejects.toMatchObject({ code: 'E_ENGINE_LOST', message: expect.stringMatching(/did not answer a run within ort\.timeoutMs \(40 ms\), so its process was stopped/) });
    expect(performance.now() - t0).toBeLessThan(250);
    await expect(s.run({ A: a })).rejects.toMatchObject({ code: 'E_ENGINE_LOST', message: expect.stringMatching(/timeoutMs/) });
    await s.dispose();
    const roomy = await kiln.onnx.load(chain(8, 1), { engine: 'ort', ort: { timeoutMs: 60_000 } });
    const x = kiln.rand([8, 8], { seed: 2 });
    expectValues((await (await roomy.run({ A: x })).Y.data()) as Float32Array, (await x.matmul(x).data()) as Float32Array, { rtol: 1e-5, atol: 1e-6 }, 'within the limit');
    await roomy.dispose();
    for (const [ort, message] of [
      [{ timeoutMs: 10, isolation: 'thread' }, /timeoutMs needs isolation 'process'/],
      [{ timeoutMs: 0 }, /ort\.timeoutMs must be a number of ms in \(0, 2\^31\), got 0/],
      [{ timeoutMs: '5' }, /got '5'/],
    ] as const) {
      await expect(kiln.onnx.load(chain(8, 1), { engine: 'ort', ort: ort as never })).rejects.toMatchObject({ code: 'E_ARGUMENT', message: expect.stringMatching(message) });
    }
  });

  it('refuses an unknown isolation', async () => {
    for (const isolation of ['none', 1, null]) {
      await expect(kiln.onnx.load(chain(8, 1), { engine: 'ort', ort: { isolation: isolation as 'process' } })).rejects.toMatchObject({
        code: 'E_ARGUMENT',
        message: expect.stringMatching(/ort\.isolation must be 'process' or 'thread'/),
      });
    }
  });

  it.skipIf(process.platform !== 'linux')('an idle session does not keep its process alive, and its onnxruntime process ends with it', () => {
    assertDistFresh();
    const marker = `KILN_ORT_TEST_${process.pid}_${Date.now()}`;
    const bytes = JSON.stringify(Array.from(chain(8, 1)));
    // The script ends by itself (an idle session holds nothing); a dispose is never called.
    const r = runNode(
      `import * as kiln from ${JSON.stringify(DIST_INDEX)};
       const s = await kiln.onnx.load(new Uint8Array(${bytes}), { engine: 'ort' });
       const { Y } = await s.run({ A: kiln.ones([8, 8]) });
       console.log('sum', (await Y.sum().item()));`,
      { [marker]: '1' },
      30_000,
    );
    expect(r.status, ending(r)).toBe(0);
    expect(r.stdout).toContain('sum 512');
    expect(leftAfter(marker, 5000), 'onnxruntime processes left behind').toEqual([]);
  });

  it.skipIf(process.platform !== 'linux')('an onnxruntime process stuck in a run ends when this process exits, or is killed', () => {
    assertDistFresh();
    const bytes = JSON.stringify(Array.from(hangingModel()));
    for (const end of ['process.exit(0)', "process.kill(process.pid, 'SIGKILL')"]) {
      const marker = `KILN_ORT_TEST_${process.pid}_${Date.now()}`;
      const r = runNode(
        `import * as kiln from ${JSON.stringify(DIST_INDEX)};
         const s = await kiln.onnx.load(new Uint8Array(${bytes}), { engine: 'ort' });
         s.run({ x: kiln.ones([1, 1, 5, 5]) }).then(() => console.log('it ran'));
         setTimeout(() => { console.log('stuck'); ${end}; }, 500);`,
        { [marker]: '1' },
        30_000,
      );
      expect(r.stdout, ending(r)).toContain('stuck');
      expect(r.stdout).not.toContain('it ran'); // the model does hang onnxruntime
      // the exit hook stops it at once; the host's watchdog within half a second of a kill
      expect(leftAfter(marker, 5000), `onnxruntime processes left behind after ${end}`).toEqual([]);
    }
  });
});
