// Host memory: a request the host cannot hold is E_OOM before the kernel's OOM killer sees it (the
// CPU backend checks MemAvailable, counting live buffers not yet touched), and KILN_CPU_MEMORY_CAP
// caps the cpu device. (Out of test/fuzz.test.ts, whose worker runs under a cap of its own.)
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { native } from '../src/native.js';
import { ROOT, assertDistFresh, ending, runNode } from './helpers/dist.js';

describe('host memory: E_OOM before the OOM killer', () => {
  beforeAll(() => assertDistFresh());
  const handles: unknown[] = [];
  afterAll(() => handles.forEach((h) => native().free(h as never)));

  it('a buffer larger than the host can give is E_OOM naming the request and what is available', () => {
    const available = native().memory().available;
    expect(available, 'the kernel reports MemAvailable').toBeGreaterThan(0);
    let err: unknown;
    try {
      kiln.zeros([Math.ceil((available * 2) / 4)]); // within the safe-integer sizes: reaches the allocator
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(kiln.KilnError);
    expect((err as kiln.KilnError).code).toBe('E_OOM');
    expect((err as kiln.KilnError).message).toMatch(/full: cannot allocate float32\[\d+\].*the host has \d+ bytes available/);
  });

  it('live buffers not yet touched count as taken (a queued output is not in use to the kernel until written)', () => {
    const available = native().memory().available;
    const share = 2 ** 20 * Math.floor((available * 0.6) / 2 ** 20);
    // Allocated but never written: the kernel backs none of it, yet it will once a kernel writes it.
    handles.push(native().alloc(share));
    expect(native().memory().available).toBeLessThan(available - share / 2);
    let err: unknown;
    try {
      native().checkHostMemory(share, 'second share');
    } catch (e) {
      err = e;
    }
    expect((err as kiln.KilnError)?.code, 'two 60% shares do not fit').toBe('E_OOM');
    expect((err as kiln.KilnError).message).toContain('second share');
  });

  it('a read too large for the host is E_OOM, and a read larger than one JS array can hold is E_ARGUMENT', async () => {
    let err: unknown;
    try {
      native().checkHostMemory(2 ** 52, 'data');
    } catch (e) {
      err = e;
    }
    expect((err as kiln.KilnError)?.code).toBe('E_OOM');
    const wide = kiln.zeros([1]).expand([2 ** 33]); // a broadcast view: 4 bytes of storage, 2^33 elements
    await expect(wide.data()).rejects.toMatchObject({ code: 'E_ARGUMENT', message: expect.stringContaining('read it in slices') });
    wide.dispose();
  });

  it('KILN_CPU_MEMORY_CAP caps the live bytes of the cpu device', () => {
    const r = runNode(
      `
      import * as kiln from ${JSON.stringify(join(ROOT, 'dist/src/index.js'))};
      const a = kiln.zeros([200_000]);
      const out = {};
      try { kiln.zeros([100_000]); } catch (e) { out.over = { code: e.code, message: e.message }; }
      a.dispose();
      await kiln.sync(); // a disposed buffer is freed after the work queued on it (its fill)
      out.after = kiln.zeros([200_000]).size;
      console.log(JSON.stringify(out));
    `,
      { KILN_CPU_MEMORY_CAP: '1MiB' },
    );
    expect(r.status, ending(r)).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(res.over.code).toBe('E_OOM');
    expect(res.over.message).toContain('KILN_CPU_MEMORY_CAP');
    expect(res.over.message).toContain('1048576');
    expect(res.after, 'freeing makes room again').toBe(200_000);
  });
});
