// Tensor lifetimes: dispose() (idempotent, stream-ordered), `using`, kiln.scope (sync and async),
// kiln.memory() accounting per device, and the FinalizationRegistry safety net for leaked tensors.
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { tryNative } from '../src/native.js';
import { cachedConstants } from '../src/ops/constants.js';
import { forEachBackend } from './helpers/backends.js';
import { expectError, expectValues, readValues } from './helpers/compare.js';

const usage = (device = 'cpu') => kiln.memory().devices[device] ?? { tensors: 0, bytes: 0 };
const nativeBytes = () => tryNative()!.memory().bytes;

async function collectGarbage(until: () => boolean, rounds = 30): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('these tests need --expose-gc (vitest.config.ts passes it)');
  for (let i = 0; i < rounds && !until(); ++i) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('dispose', () => {
  it('is idempotent and releases the tensor and its bytes exactly once', () => {
    const before = usage();
    const t = kiln.ones([10, 10]);
    expect(usage().tensors - before.tensors).toBe(1);
    expect(usage().bytes - before.bytes).toBe(400);
    t.dispose();
    t.dispose();
    t[Symbol.dispose]();
    expect(t.disposed).toBe(true);
    expect(usage()).toEqual(before);
  });

  it('a disposed tensor cannot be used; its views live on and keep the buffer', async () => {
    const before = usage();
    const t = kiln.tensor([[0, 1, 2], [3, 4, 5]], { dtype: 'int32' });
    const v = t.transpose();
    expect(usage().tensors - before.tensors).toBe(2);
    expect(usage().bytes - before.bytes).toBe(24);
    t.dispose();
    expectError(() => t.add(1), 'E_DISPOSED');
    await expect(t.data()).rejects.toMatchObject({ code: 'E_DISPOSED' });
    expect(usage().bytes - before.bytes, 'the view still holds the buffer').toBe(24);
    expect(await v.toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    v.dispose();
    expect(usage()).toEqual(before);
  });

  it('frees in queue order: disposing inputs right after enqueuing an op does not change its result', async () => {
    const x = kiln.arange(0, 100_000, 1, { dtype: 'float32' });
    const want = Float32Array.from({ length: 100_000 }, (_, i) => i * 2 + 1);
    for (let i = 0; i < 5; ++i) {
      const a = x.mul(2);
      const b = a.add(1);
      a.dispose(); // b's kernel is queued but may not have run
      const c = b.reshape([-1]);
      b.dispose();
      expectValues(await c.data() as Float32Array, want, { rtol: 0, atol: 0 }, `round ${i}`);
      c.dispose();
    }
    x.dispose();
  });

  it('native buffers are returned when the last reference goes (after queued work)', async () => {
    await kiln.sync();
    const before = nativeBytes();
    const t = kiln.zeros([1000]);
    const v = t.slice(0, 10, 20);
    await kiln.sync();
    expect(nativeBytes() - before).toBe(4000);
    t.dispose();
    await kiln.sync();
    expect(nativeBytes() - before, 'a live view keeps the native buffer').toBe(4000);
    v.dispose();
    await kiln.sync();
    expect(nativeBytes()).toBe(before);
  });
});

describe('using (Symbol.dispose)', () => {
  it('disposes at the end of the block, also when the block throws', () => {
    const before = usage();
    let escaped: kiln.Tensor | undefined;
    {
      using t = kiln.ones([4, 4]);
      using u = t.transpose();
      escaped = u;
      expect(usage().tensors - before.tensors).toBe(2);
    }
    expect(escaped!.disposed).toBe(true);
    expect(usage()).toEqual(before);
    expect(() => {
      using t = kiln.ones([8]);
      escaped = t;
      throw new Error('boom');
    }).toThrow('boom');
    expect(escaped!.disposed).toBe(true);
    expect(usage()).toEqual(before);
  });
});

describe('kiln.scope', () => {
  it('disposes everything created inside except what it returns (directly, in arrays, in objects)', async () => {
    const before = usage();
    const outside = kiln.ones([3]);
    let inner: kiln.Tensor[] = [];
    const kept = kiln.scope(() => {
      const a = outside.add(1);
      const b = a.mul(3);
      const view = outside.reshape([1, 3]);
      inner = [a, b, view];
      return b;
    });
    expect(inner[0].disposed && inner[2].disposed).toBe(true);
    expect(kept.disposed).toBe(false);
    expect(outside.disposed, 'tensors made outside are untouched').toBe(false);
    expect(await kept.toArray()).toEqual([6, 6, 6]);

    const { x, list } = kiln.scope(() => ({ x: kiln.zeros([2]), list: [kiln.ones([2]), kiln.full([2], 5)], junk: 1 }));
    const lost = kiln.scope(() => {
      kiln.zeros([5]);
      return 42;
    });
    expect(lost).toBe(42);
    expect([x.disposed, list[0].disposed, list[1].disposed]).toEqual([false, false, false]);
    for (const t of [kept, x, ...list, outside]) t.dispose();
    expect(usage()).toEqual(before);
  });

  it('nested scopes: a tensor returned from an inner scope belongs to the outer one', () => {
    const before = usage();
    let fromInner: kiln.Tensor | undefined;
    const result = kiln.scope(() => {
      fromInner = kiln.scope(() => kiln.ones([2]).add(1));
      expect(fromInner.disposed).toBe(false);
      return fromInner.mul(2);
    });
    expect(fromInner!.disposed, 'the outer scope disposed what the inner returned').toBe(true);
    expect(result.disposed).toBe(false);
    result.dispose();
    expect(usage()).toEqual(before);
  });

  it('disposes everything when fn throws, and rethrows', () => {
    const before = usage();
    expect(() =>
      kiln.scope(() => {
        kiln.ones([10]).exp();
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(usage()).toEqual(before);
  });

  it('async fn: tracks tensors created across awaits; keeps the resolved value; cleans up on rejection', async () => {
    const before = usage();
    const made: kiln.Tensor[] = [];
    const result = await kiln.scope(async () => {
      const a = kiln.arange(0, 4, 1, { dtype: 'float32' });
      made.push(a);
      const first = Number((await a.data())[3]);
      await new Promise((r) => setTimeout(r, 5));
      const b = a.add(first);
      made.push(b);
      return { b, first };
    });
    expect(made[0].disposed).toBe(true);
    expect(result.b.disposed).toBe(false);
    expect(await result.b.toArray()).toEqual([3, 4, 5, 6]);
    result.b.dispose();
    expect(usage()).toEqual(before);

    await expect(
      kiln.scope(async () => {
        kiln.ones([3]);
        await new Promise((r) => setTimeout(r, 1));
        kiln.ones([4]);
        throw new Error('async inside');
      }),
    ).rejects.toThrow('async inside');
    expect(usage()).toEqual(before);
  });

  it('concurrent async scopes do not see each other’s tensors', async () => {
    const before = usage();
    const slow = kiln.scope(async () => {
      const a = kiln.ones([2]);
      await new Promise((r) => setTimeout(r, 20));
      return a.add(1);
    });
    const fast = kiln.scope(async () => {
      await new Promise((r) => setTimeout(r, 1));
      return kiln.zeros([2]);
    });
    const [s, f] = await Promise.all([slow, fast]);
    expect([s.disposed, f.disposed]).toEqual([false, false]);
    expect(await s.toArray()).toEqual([2, 2]);
    s.dispose();
    f.dispose();
    expect(usage()).toEqual(before);
  });
});

describe('kiln.memory()', () => {
  it('counts live tensors and bytes per device; views count as tensors but not bytes', () => {
    const before = usage();
    const dtypes: [kiln.DType, number][] = [['float32', 4], ['float16', 2], ['bfloat16', 2], ['int32', 4], ['int64', 8], ['uint8', 1], ['bool', 1]];
    const ts = dtypes.map(([d]) => kiln.zeros([3, 5], { dtype: d }));
    expect(usage().tensors - before.tensors).toBe(7);
    expect(usage().bytes - before.bytes).toBe(15 * dtypes.reduce((s, [, b]) => s + b, 0));
    const views = ts.map((t) => t.transpose());
    expect(usage().tensors - before.tensors).toBe(14);
    expect(usage().bytes - before.bytes).toBe(15 * 22);
    ts.forEach((t) => t.dispose());
    expect(usage().bytes - before.bytes).toBe(15 * 22);
    views.forEach((t) => t.dispose());
    expect(usage()).toEqual(before);
    expect(Object.keys(kiln.memory().devices)).toContain('cpu');
    expect(typeof kiln.memory().reclaimed).toBe('number');
  });
});

describe('the FinalizationRegistry safety net', () => {
  it('frees tensors that were never disposed once they are collected, and counts them in memory().reclaimed', async () => {
    await kiln.sync();
    const before = usage();
    const reclaimedBefore = kiln.memory().reclaimed;
    const nativeBefore = nativeBytes();
    const N = 200;
    (() => {
      for (let i = 0; i < N; ++i) {
        const t = kiln.full([256], i); // 1 KiB each, never disposed
        t.transpose(); // and a view of it, also leaked
      }
    })();
    expect(usage().tensors - before.tensors).toBe(2 * N);
    expect(usage().bytes - before.bytes).toBe(N * 1024);
    await collectGarbage(() => usage().tensors === before.tensors);
    expect(kiln.memory().reclaimed - reclaimedBefore).toBeGreaterThanOrEqual(2 * N * 0.9);
    expect(usage().bytes - before.bytes).toBeLessThanOrEqual(N * 1024 * 0.1);
    await kiln.sync();
    expect(nativeBytes() - nativeBefore, 'the native buffers went back too').toBeLessThanOrEqual(N * 1024 * 0.1);
  });

  it('does not touch tensors that are still referenced, nor count disposed ones', async () => {
    await collectGarbage(() => false, 10); // let earlier leaks settle first
    const reclaimedBefore = kiln.memory().reclaimed;
    const live = kiln.arange(0, 5);
    (() => {
      for (let i = 0; i < 50; ++i) kiln.ones([4]).dispose();
    })();
    await collectGarbage(() => false, 5);
    expect(kiln.memory().reclaimed - reclaimedBefore, 'disposed tensors are not "reclaimed"').toBe(0);
    expect(await live.toArray()).toEqual([0, 1, 2, 3, 4]);
    live.dispose();
  });
});

// JS numbers given as operands become cached 0-d constants (src/ops/constants.ts): Kiln's own, so no
// user scope disposes them and kiln.memory() does not count them.
forEachBackend('scalar operands', (device) => {
  const on = (values: number[], dtype: kiln.DType = 'float32') => kiln.tensor(values, { dtype, device });

  it('leave kiln.memory() as it was, also the first time a value is seen', async () => {
    const x = on([1, 2, 3]);
    const before = usage(device);
    const y = kiln.add(x, 1e-3 + Math.random()); // a value no earlier test used
    expect(usage(device).tensors - before.tensors).toBe(1);
    expect(usage(device).bytes - before.bytes).toBe(12);
    y.dispose();
    expect(usage(device)).toEqual(before);
    x.dispose();
  });

  it('survive the kiln.scope they were first used in', async () => {
    const x = on([1, 2, 3]);
    const v = 0.5 + Math.random();
    await kiln.scope(async () => {
      kiln.mul(x, v);
      kiln.where(kiln.greater(x, 1.5), v, -v);
    });
    expectValues(await readValues(kiln.mul(x, v)), [v, 2 * v, 3 * v], { atol: 0, rtol: 1e-6 });
    expectValues(await readValues(kiln.where(kiln.greater(x, 1.5), v, -v)), [-v, v, v], { atol: 0, rtol: 1e-6 });
    x.dispose();
  });

  it('are told apart by value (-0 from 0), dtype and device, and stay bounded', async () => {
    const x = on([1, -2]);
    expect(Array.from(await readValues(kiln.div(x, 0)))).toEqual([Infinity, -Infinity]);
    expect(Array.from(await readValues(kiln.div(x, -0)))).toEqual([-Infinity, Infinity]);
    const i = on([7, -7], 'int32');
    const r = kiln.mod(i, 3);
    expect(r.dtype).toBe('int32');
    expect(Array.from(await readValues(r))).toEqual([1, 2]);
    expect(Array.from(await readValues(kiln.mod(x, 3)))).toEqual([1, 1]);
    // 600 distinct values queued before any read: the least recently used constants are disposed
    // while ops that read them are still queued, and every result must still be right.
    const outs = Array.from({ length: 600 }, (_, k) => kiln.add(x, k + 0.25));
    expect(cachedConstants()).toBeLessThanOrEqual(256);
    for (const [k, o] of outs.entries()) expect(Array.from(await readValues(o))).toEqual([1 + k + 0.25, -2 + k + 0.25]);
    x.dispose();
    i.dispose();
  });
});
