// Data faults (src/faults.ts): an index out of range that a Gather finds on the device belongs to the
// tensors it wrote and to everything computed from them. Reading any of those rejects with E_INDEX,
// every time; kiln.sync() and reads of anything else resolve, so in a service one request's bad index
// never rejects another request.
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { GraphBuilder, hostTensor } from '../src/onnx/builder.js';
import { availableDevices, forEachBackend } from './helpers/backends.js';
import { expectRejection } from './helpers/compare.js';

const int32 = (values: number[], device: string) => kiln.tensor(values, { dtype: 'int32', device });
const idle = () => new Promise((resolve) => setTimeout(resolve, 50));

forEachBackend('data faults', (device) => {
  it('an index out of range rejects the reads of what the gather wrote and of what was computed from it, and nothing else', async () => {
    const x = kiln.arange(0, 4, 1, { device });
    const bad = kiln.gather(x, int32([1, 9], device));
    const derived = bad.mul(2).sum();
    const view = bad.reshape([2, 1]).slice(0, 1, 2);
    const joined = kiln.concat([x, bad]); // the faulted values fill part of the output
    const moved = derived.to(device === 'cpu' ? (availableDevices().find((d) => d !== 'cpu') ?? 'cpu') : 'cpu');
    const good = kiln.gather(x, int32([3, -4], device));
    const other = x.add(1);
    await kiln.sync(); // the error is not the device's: a device-wide sync point resolves
    expect(await other.toArray()).toEqual([1, 2, 3, 4]);
    expect(await good.toArray()).toEqual([3, 0]);
    for (const t of [bad, derived, view, joined, moved, bad]) await expectRejection(t.data(), 'E_INDEX', 'Gather', 'index 9', 'size 4');
    expect(await kiln.concat([x, good]).toArray(), 'the device keeps working').toEqual([0, 1, 2, 3, 3, 0]);
  });

  it('each of several bad gathers before one sync point rejects with its own index', async () => {
    const x = kiln.arange(0, 5, 1, { device });
    const a = kiln.gather(x, int32([7], device)), b = kiln.gather(x, int32([-8], device)), c = kiln.gather(x, int32([4], device));
    const ab = kiln.add(a, b);
    await expectRejection(b.data(), 'E_INDEX', 'index -8');
    await expectRejection(a.data(), 'E_INDEX', 'index 7');
    await expectRejection(ab.data(), 'E_INDEX', 'index 7'); // the first fault of its lineage, in enqueue order
    expect(await c.toArray()).toEqual([4]);
  });

  it('with several indices out of range, the message names the one at the lowest position in Indices (row-major), as the CPU does', async () => {
    // Indices [3, 4] read through a transpose, so their order in memory is not the row-major one: out
    // of range at positions 2 (13), 5 (-12), 8 (10) and 10 (99); the lowest in memory is 10's
    const logical = [1, 4, 13, 0, 2, -12, 7, 3, 10, 5, 99, -1];
    const t = int32(Array.from({ length: 12 }, (_, k) => logical[(k % 3) * 4 + Math.floor(k / 3)]), device).reshape([4, 3]).permute([1, 0]);
    // each index read twice (axis 1: two rows before it), and three times (axis 0: three columns after it)
    await expectRejection(kiln.gather(kiln.arange(0, 20, 1, { device }).reshape([2, 10]), t, 1).data(), 'E_INDEX', 'index 13 is out of range for axis 1 of size 10');
    await expectRejection(kiln.gather(kiln.arange(0, 30, 1, { device }).reshape([10, 3]), t, 0).data(), 'E_INDEX', 'index 13 is out of range for axis 0 of size 10');
    // an empty gather checks its indices alone
    await expectRejection(kiln.gather(kiln.zeros([0, 10], { device }), t, 1).data(), 'E_INDEX', 'index 13 is out of range');
    // many indices (many threads, blocks and passes on a GPU): out of range from 30000 on, and at 20011
    const many = Array.from({ length: 50000 }, (_, k) => (k >= 30000 ? 1000 + k : k === 20011 ? -50 : k % 10));
    await expectRejection(kiln.gather(kiln.arange(0, 10, 1, { device }), int32(many, device)).data(), 'E_INDEX', 'index -50 is out of range');
  });

  it('a read made once the device is idle rejects (settled without the queue thread); other reads resolve', async () => {
    const x = kiln.ones([4], { device }), other = kiln.ones([2], { device });
    const y = kiln.gather(x, int32([9], device));
    await idle(); // the gather has long run
    expect(await other.toArray()).toEqual([1, 1]);
    await expectRejection(y.data(), 'E_INDEX', 'index 9');
    await expectRejection(y.add(1).data(), 'E_INDEX', 'index 9');
  });

  it('an empty gather still checks its indices; a good gather after a bad one reads normally', async () => {
    const x = kiln.zeros([4, 0], { device });
    const y = kiln.gather(x, int32([0, 5], device));
    expect(y.shape).toEqual([2, 0]);
    await expectRejection(y.data(), 'E_INDEX', 'index 5');
    expect(await kiln.gather(kiln.arange(0, 3, 1, { device }), int32([2, 0], device)).toArray()).toEqual([2, 0]);
    await kiln.sync();
  });

  describe('ONNX sessions', () => {
    // y = Gather(table, idx) * 2, reshaped to `shape` (a feed, read on the host): a bad shape fails
    // the run after its Gather is queued.
    const table = Array.from({ length: 6 }, (_, i) => i + 0.5);
    const model = (reshape: boolean) => {
      const g = new GraphBuilder('lookup');
      g.input('idx', 'int64', ['N']);
      let y = g.node('Mul', [g.node('Gather', [g.constant('table', hostTensor('float32', [6], table)), 'idx'], { axis: 0 }), g.floats([], [2])]);
      if (reshape) {
        g.input('shape', 'int64', [2]);
        y = g.node('Reshape', [y, 'shape']);
      }
      g.output(y, 'float32');
      return g.toBytes();
    };
    const ids = (values: number[]) => kiln.tensor(values, { dtype: 'int64', device });
    const only = (r: Record<string, kiln.Tensor>) => Object.values(r)[0];

    it("one request's bad index rejects only its own outputs, whether the run replays or not", async () => {
      const s = await kiln.onnx.load(model(false), { device });
      for (let round = 0; round < 3; ++round) { // on the cpu, later runs of one signature replay a program
        const [bad, good] = await Promise.all([s.run({ idx: ids([1, 6]) }), s.run({ idx: ids([5, 0]) })]);
        expect(await only(good).toArray()).toEqual([11, 1]);
        await expectRejection(only(bad).data(), 'E_INDEX', 'index 6');
        await kiln.sync();
        expect(await only(await s.run({ idx: ids([2, -1]) })).toArray()).toEqual([5, 11]);
      }
      s.dispose();
    });

    it("the index ops check every index: one out of range rejects the read of the node's output, naming the node", async () => {
      // Each composes a one-hot match or a flat position, which would silently skip or misplace a bad index.
      const cases: { op: string; data: number[]; idx: number[][]; upd?: number[][] | number[]; attrs?: Record<string, number>; bad: string; good: number[][] }[] = [
        { op: 'GatherElements', data: [3, 4], idx: [[0, 1, 4]], attrs: { axis: 1 }, bad: 'index 4', good: [[0, 1, -1]] },
        { op: 'ScatterElements', data: [3, 4], idx: [[2, -4]], upd: [[5, 6]], attrs: { axis: 0 }, bad: 'index -4', good: [[2, -3]] },
        { op: 'GatherND', data: [3, 4], idx: [[0, 7]], bad: 'index 7', good: [[0, 3]] },
        { op: 'ScatterND', data: [3, 4], idx: [[3, 0]], upd: [9], bad: 'index 3', good: [[2, 0]] }, // updates: indices' shape without the last dim
      ];
      for (const c of cases) {
        const g = new GraphBuilder(c.op);
        g.input('data', 'float32', c.data);
        g.input('idx', 'int64', [c.idx.length, c.idx[0].length]);
        if (c.upd) g.input('upd', 'float32', Array.isArray(c.upd[0]) ? [c.upd.length, c.upd[0].length] : [c.upd.length]);
        g.output(g.node(c.op, c.upd ? ['data', 'idx', 'upd'] : ['data', 'idx'], c.attrs ?? {}, { name: `my_${c.op}` }), 'float32');
        const s = await kiln.onnx.load(g.toBytes(), { device });
        const feeds = (idx: number[][]) => ({
          data: kiln.arange(0, 12, 1, { device, dtype: 'float32' }).reshape(c.data),
          idx: kiln.tensor(idx, { dtype: 'int64', device }),
          ...(c.upd ? { upd: kiln.tensor(c.upd, { device }) } : {}),
        });
        await expectRejection(only(await s.run(feeds(c.idx))).data(), 'E_INDEX', `node 'my_${c.op}'`, c.op, c.bad);
        await only(await s.run(feeds(c.good))).data(); // the same node with indices in range reads
        s.dispose();
      }
    });

    it("a loss's target outside the classes (and not ignore_index) rejects the read of the loss, naming the node", async () => {
      const g = new GraphBuilder('nll');
      g.input('scores', 'float32', [3, 4]);
      g.input('target', 'int64', [3]);
      g.output(g.node('NegativeLogLikelihoodLoss', ['scores', 'target'], { reduction: 'none', ignore_index: -1 }, { name: 'loss' }), 'float32');
      const s = await kiln.onnx.load(g.toBytes(), { device });
      const scores = kiln.arange(0, 12, 1, { device, dtype: 'float32' }).reshape([3, 4]);
      const run = async (target: number[]) => only(await s.run({ scores, target: kiln.tensor(target, { dtype: 'int64', device }) })).data();
      await expectRejection(run([0, 4, 1]), 'E_INDEX', "node 'loss'", 'index 4');
      expect(Array.from((await run([0, -1, 3])) as Float32Array).map((v) => v + 0)).toEqual([0, 0, -11]); // -1 is ignore_index
      s.dispose();
    });

    it('a run that fails after queueing a bad gather leaves no error behind for the next run', async () => {
      const s = await kiln.onnx.load(model(true), { device });
      const shape = (a: number, b: number) => kiln.tensor([a, b], { dtype: 'int64', device: 'cpu' }).to(device);
      await expectRejection(s.run({ idx: ids([1, 6]), shape: shape(3, 5) }), 'E_SHAPE');
      await kiln.sync();
      const out = await s.run({ idx: ids([0, 1, 2, 3]), shape: shape(2, 2) });
      expect(await only(out).toArray()).toEqual([[1, 3], [5, 7]]);
      s.dispose();
    });
  });
});
