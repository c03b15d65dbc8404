// Replays of recorded runs (src/onnx/replay.ts, native/program.h): a CPU session's later runs with
// the same input signature run as one native program. They must give what the node-by-node run
// gives, for new input values, held outputs, concurrent runs and every signature, and refuse to
// record what a replay could not repeat. (The ONNX conformance suite runs every CPU test twice, so
// that the second run is a replay, too.)
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { cnn, lstm, mlp, transformer, values, type Fixture } from '../bench/onnx-models.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { planArena } from '../src/onnx/replay.js';
import { native } from '../src/native.js';
import { expectError, expectValues } from './helpers/compare.js';
import { rngFor } from './helpers/random.js';

const tol = { atol: 1e-6, rtol: 1e-5 };

/** Loads `bytes` twice on the CPU: one session that replays, one that always runs node by node. */
async function pair(bytes: Uint8Array): Promise<{ replaying: kiln.onnx.KilnSession; stepping: kiln.onnx.KilnSession }> {
  const replaying = (await kiln.onnx.load(bytes)) as kiln.onnx.KilnSession;
  const saved = process.env.KILN_ONNX_REPLAY;
  process.env.KILN_ONNX_REPLAY = '0';
  try {
    return { replaying, stepping: (await kiln.onnx.load(bytes)) as kiln.onnx.KilnSession };
  } finally {
    if (saved === undefined) delete process.env.KILN_ONNX_REPLAY;
    else process.env.KILN_ONNX_REPLAY = saved;
  }
}

async function outputsOf(s: kiln.onnx.InferenceSession, feeds: Record<string, kiln.Tensor>): Promise<Float64Array[]> {
  const r = await s.run(feeds);
  try {
    return await Promise.all(Object.values(r).map(async (t) => Float64Array.from(await t.data(), Number)));
  } finally {
    for (const t of Object.values(r)) t.dispose();
  }
}

describe('planArena', () => {
  it('never gives two intermediates alive at the same step overlapping bytes, and reuses bytes across lifetimes', () => {
    const r = rngFor('planArena');
    for (let trial = 0; trial < 200; ++trial) {
      const items = Array.from({ length: 1 + Math.floor(r.next() * 30) }, () => {
        const first = Math.floor(r.next() * 40);
        return { bytes: 1 + Math.floor(r.next() * 5000), first, last: first + Math.floor(r.next() * 10) };
      });
      const { offsets, bytes } = planArena(items);
      items.forEach((a, i) => {
        expect(offsets[i] % 64).toBe(0);
        expect(offsets[i] + a.bytes).toBeLessThanOrEqual(bytes);
        items.forEach((b, j) => {
          if (j <= i || a.last < b.first || b.last < a.first) return;
          const apart = offsets[i] + a.bytes <= offsets[j] || offsets[j] + b.bytes <= offsets[i];
          expect(apart, `items ${i} and ${j} are alive together and overlap`).toBe(true);
        });
      });
    }
    // a chain (each value dies as the next is made): two ranges serve all of it
    const chain = Array.from({ length: 10 }, (_, i) => ({ bytes: 1000, first: i, last: i + 1 }));
    expect(planArena(chain).bytes).toBe(2 * 1024);
  });

  it('looks up the intermediates alive together instead of scanning every placed one: 10^5 short lives in well under 5 s', () => {
    // O(n^2) as a scan: 10^5 intermediates (a model of 10^4 recurrent steps) took 35 s here
    const items = Array.from({ length: 100_000 }, (_, i) => ({ bytes: 64 * (1 + (i % 7)), first: Math.floor(i / 10), last: Math.floor(i / 10) + 2 }));
    const t0 = performance.now();
    const { offsets, bytes } = planArena(items);
    expect(performance.now() - t0).toBeLessThan(5000);
    // at most 30 alive at once, each at most 448 bytes
    expect(bytes).toBeLessThanOrEqual(30 * 448);
    const clashes: string[] = [];
    for (let i = 0; i < items.length; ++i)
      for (let j = i + 1; j < items.length && items[j].first <= items[i].last; ++j)
        if (!(offsets[i] + items[i].bytes <= offsets[j] || offsets[j] + items[j].bytes <= offsets[i])) clashes.push(`${i} and ${j}`);
    expect(clashes, 'items alive together whose bytes overlap').toEqual([]);
  });
});

describe('onnx replays (cpu)', () => {
  const fixtures: Fixture[] = [mlp(3, [40, 64, 96, 7]), cnn(16, [3, 8, 16], 5), transformer(12, 32, 4, 64), lstm(20, 8, 16, 5)];
  for (const f of fixtures)
    it(`${f.name}: later runs replay, and follow new inputs as the node-by-node run does`, async () => {
      const { replaying, stepping } = await pair(f.bytes);
      try {
        for (let run = 0; run < 4; ++run) {
          const x = kiln.tensor(values(f.input.data.length, 100 + run), { shape: f.input.shape });
          const want = await outputsOf(stepping, { [f.input.name]: x });
          const got = await outputsOf(replaying, { [f.input.name]: x });
          got.forEach((g, i) => expectValues(g, want[i], tol, `${f.name} run ${run} output ${i}`));
          x.dispose();
        }
        const [r] = replaying.replays();
        expect(r.reason).toBeUndefined();
        expect(r.kernels).toBeGreaterThan(0);
        expect(stepping.replays()).toEqual([]);
      } finally {
        await replaying.dispose();
        await stepping.dispose();
      }
    });

  it('each run owns its outputs: held results stay as they were while later runs replay, concurrent runs included', async () => {
    const f = mlp('N', [40, 64, 96, 7]);
    const { replaying, stepping } = await pair(f.bytes);
    const inputs = Array.from({ length: 6 }, (_, i) => kiln.tensor(values(3 * 40, 7 + i), { shape: [3, 40] }));
    try {
      const want = await Promise.all(inputs.map((x) => outputsOf(stepping, { x })));
      const first = await replaying.run({ x: inputs[0] });  // the recorded run
      const rest = await Promise.all(inputs.slice(1).map((x) => replaying.run({ x })));  // replays, queued together
      for (const [i, r] of [first, ...rest].entries()) {
        expectValues(Float64Array.from((await r.probs.data()) as Float32Array), want[i][0], tol, `run ${i}`);
        r.probs.dispose();
      }
      expect(replaying.replays()[0].kernels).toBeGreaterThan(0);
    } finally {
      for (const x of inputs) x.dispose();
      await replaying.dispose();
      await stepping.dispose();
    }
  });

  it('keeps one replay per input signature: batch sizes and strided feeds', async () => {
    const f = mlp('N', [40, 64, 96, 7]);
    const { replaying, stepping } = await pair(f.bytes);
    try {
      const feeds = [
        kiln.tensor(values(2 * 40, 1), { shape: [2, 40] }),
        kiln.tensor(values(5 * 40, 2), { shape: [5, 40] }),
        kiln.tensor(values(5 * 40, 3), { shape: [40, 5] }).transpose(),  // a strided view
        kiln.tensor(values(2 * 40, 4), { shape: [2, 40] }),
      ];
      for (let round = 0; round < 2; ++round)
        for (const [i, x] of feeds.entries()) {
          const want = await outputsOf(stepping, { x });
          expectValues((await outputsOf(replaying, { x }))[0], want[0], tol, `round ${round} feed ${i}`);
        }
      expect(replaying.replays().map((r) => r.kernels !== undefined)).toEqual([true, true, true]);
      for (const x of feeds) x.dispose();
    } finally {
      await replaying.dispose();
      await stepping.dispose();
    }
  });

  it('keeps 8 replays, least recently used evicted; once full, a new signature is recorded on its second run', async () => {
    const f = mlp('N', [40, 64, 96, 7]);
    const { replaying, stepping } = await pair(f.bytes);
    const batch = (n: number) => kiln.tensor(values(n * 40, n), { shape: [n, 40] });
    const kept = () => replaying.replays().map((r) => r.inputs);
    const run = async (n: number) => {
      const x = batch(n);
      expectValues((await outputsOf(replaying, { x }))[0], (await outputsOf(stepping, { x }))[0], tol, `batch ${n}`);
      x.dispose();
    };
    try {
      for (let n = 1; n <= 8; ++n) await run(n);
      expect(kept()).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `x: float32[${n}, 40]`));
      await run(1); // now the most recently used
      await run(9); // full: node by node, remembered
      expect(kept()).toEqual([2, 3, 4, 5, 6, 7, 8, 1].map((n) => `x: float32[${n}, 40]`));
      await run(9); // seen before: recorded, evicting batch 2
      expect(kept()).toEqual([3, 4, 5, 6, 7, 8, 1, 9].map((n) => `x: float32[${n}, 40]`));
      expect(replaying.replays().every((r) => r.kernels! > 0)).toBe(true);
      await run(9); // replayed
      await run(2); // evicted: node by node again until it recurs
      expect(kept()).toContain('x: float32[9, 40]');
      expect(kept()).not.toContain('x: float32[2, 40]');
    } finally {
      await replaying.dispose();
      await stepping.dispose();
    }
  });

  it('records runs whose host reads are shape arithmetic (Shape -> Gather -> Mul -> Concat -> Reshape), per input shape', async () => {
    // y = Relu(Reshape(x, [2 * N, -1])) for x [N, 6]: the target shape is computed on every run from
    // x's shape, as exporters write dynamic reshapes, and read on the host by Reshape
    const g = new GraphBuilder('dynamic-reshape');
    const x = g.input('x', 'float32', ['N', 6]);
    const n = g.node('Gather', [g.node('Shape', [x]), g.ints([0])], { axis: 0 });
    const target = g.node('Concat', [g.node('Mul', [n, g.ints([2])]), g.ints([-1])], { axis: 0 });
    g.node('Relu', [g.node('Reshape', [x, target])], {}, { outputs: ['y'] });
    g.output('y', 'float32', ['M', 3]);
    const s = (await kiln.onnx.load(g.toBytes())) as kiln.onnx.KilnSession;
    try {
      for (const N of [2, 2, 5, 2, 5]) {
        const v = Float32Array.from(values(N * 6, N + 40));
        const xv = kiln.tensor(v, { shape: [N, 6] });
        const { y } = await s.run({ x: xv });
        expect(y.shape).toEqual([2 * N, 3]);
        expect(Array.from((await y.data()) as Float32Array)).toEqual(Array.from(v, (e) => Math.max(0, e)));
        y.dispose();
        xv.dispose();
      }
      expect(s.replays()).toEqual([{ inputs: 'x: float32[2, 6]', kernels: expect.any(Number) }, { inputs: 'x: float32[5, 6]', kernels: expect.any(Number) }]);
    } finally {
      await s.dispose();
    }
  });

  it('does not record a run that reads values back to the host or returns an input, and still runs it right', async () => {
    // Reshape by a shape the caller feeds: the engine reads it on the host on every run
    const g = new GraphBuilder('reshape-fed');
    const x = g.input('x', 'float32', [2, 6]);
    const shape = g.input('shape', 'int64', [2]);
    g.node('Relu', [g.node('Reshape', [x, shape])], {}, { outputs: ['y'] });
    g.output('y', 'float32', ['A', 'B']);
    g.output('x', 'float32', [2, 6]);
    const s = (await kiln.onnx.load(g.toBytes())) as kiln.onnx.KilnSession;
    try {
      const xv = kiln.tensor(Float32Array.from({ length: 12 }, (_, i) => i - 6), { shape: [2, 6] });
      for (const dims of [[3, 4], [4, 3], [3, 4]]) {
        const r = await s.run({ x: xv, shape: kiln.tensor(BigInt64Array.from(dims.map(BigInt)), { shape: [2] }) });
        expect(r.y.shape).toEqual(dims);
        expect(Array.from((await r.y.data()) as Float32Array)).toEqual(Array.from({ length: 12 }, (_, i) => Math.max(0, i - 6)));
        for (const t of Object.values(r)) t.dispose();
      }
      expect(s.replays().map((r) => r.reason)).toEqual([expect.stringMatching(/read back to the host/)]);
      xv.dispose();
    } finally {
      await s.dispose();
    }
    await expect(s.run({})).rejects.toMatchObject({ code: 'E_DISPOSED' });

    // a graph output that is the graph's input: the caller's own tensor comes back, not a new buffer
    const h = new GraphBuilder('passthrough');
    h.input('x', 'float32', [4]);
    h.node('Relu', ['x'], {}, { outputs: ['y'] });
    h.output('y', 'float32', [4]);
    h.output('x', 'float32', [4]);
    const p = (await kiln.onnx.load(h.toBytes())) as kiln.onnx.KilnSession;
    const xs = kiln.tensor([-1, 2, -3, 4]);
    for (let run = 0; run < 2; ++run) {
      const r = await p.run({ x: xs });
      expect(Array.from((await r.y.data()) as Float32Array)).toEqual([0, 2, 0, 4]);
      expect(Array.from((await r.x.data()) as Float32Array)).toEqual([-1, 2, -3, 4]);
      for (const t of Object.values(r)) t.dispose();
    }
    expect(p.replays().map((r) => r.reason)).toEqual([expect.stringMatching(/output 'x' is an input or a constant/)]);
    xs.dispose();
    await p.dispose();
  });
});

describe('native programs (addon)', () => {
  const a = native();
  const f32 = (n: number) => a.alloc(4 * n);
  // one Relu over 4 floats: slot 0 (constant) -> slot 1 (output)
  const desc = new Float64Array([1, 1, /* in */ 0, 0, 1, 4, 1, /* out */ 0, 0, 1, 4, 1]);
  const slots = (kinds: number[], bytes = 16) => new Float64Array(kinds.flatMap((k) => [k, bytes, 0]));

  it('runs its steps on each run\'s buffers and rejects what does not fit', async () => {
    const c = f32(4), out = f32(4), out2 = f32(4);
    a.write(c, 0, new Float32Array([-1, 2, -3, 4]));
    const p = a.program(slots([0, 2]), [c, out], [{ op: 'Relu', slots: [0, 1], desc, attrs: {} }]);
    a.replay(p, [null, out]);
    a.replay(p, [null, out2]);
    const got = new Float32Array(4), got2 = new Float32Array(4);
    await a.read(out, 0, got);
    await a.read(out2, 0, got2);
    expect([...got]).toEqual([0, 2, 0, 4]);
    expect([...got2]).toEqual([0, 2, 0, 4]);
    expectError(() => a.replay(p, [null, f32(2)]), 'E_ARGUMENT');  // smaller than the recorded run's reach
    a.freeProgram(p);
    expectError(() => a.replay(p, [null, out]), 'E_DISPOSED');
  });

  it('refuses steps that write a constant or an input, name no slot, or reach past a slot', () => {
    const c = f32(4), out = f32(4);
    const relu = (s: number[]) => [{ op: 'Relu', slots: s, desc, attrs: {} }];
    expectError(() => a.program(slots([0, 0]), [c, out], relu([0, 1])), 'E_ARGUMENT');  // writes a constant
    expectError(() => a.program(slots([0, 1]), [c, out], relu([0, 1])), 'E_ARGUMENT');  // writes an input
    expectError(() => a.program(slots([0, 2]), [c, out], relu([0, 2])), 'E_ARGUMENT');  // no slot 2
    expectError(() => a.program(slots([0, 3], 8), [c, null], relu([0, 1])), 'E_ARGUMENT');  // 16 bytes in an 8-byte slot
    expectError(() => a.program(slots([0, 2]), [c, out], [{ slot: 0, offset: 0, bytes: new Uint8Array(4) }]), 'E_ARGUMENT');
    expectError(() => a.program(slots([0, 2]), [c, out], [{ op: 'NoSuchOp', slots: [0, 1], desc, attrs: {} }]), 'E_UNSUPPORTED');
    expectError(() => a.program(slots([0, 2]), [c, out], [{ op: 'Relu', slots: [0, 1], desc: new Float64Array([1, 1, 0]), attrs: {} }]), 'E_ARGUMENT');
  });
});
