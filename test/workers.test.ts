// The addon is context-aware: four worker_threads load the built library at once and run ops while
// the main thread does too; every result is checked, and terminating busy workers does not crash
// the process or disturb the main thread.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import './helpers/backends.js';
import { DIST_INDEX, ROOT, assertDistFresh, ending } from './helpers/dist.js';

const FIXTURE = join(ROOT, 'test', 'fixtures', 'worker-ops.mjs');

interface Message {
  type: 'ready' | 'running' | 'done' | 'error';
  id: number;
  rounds?: number;
  code?: string;
  message?: string;
  memory?: kiln.MemoryReport;
}

function start(id: number, options: { rounds?: number; forever?: boolean }) {
  const worker = new Worker(FIXTURE, { workerData: { kiln: DIST_INDEX, id, ...options } });
  const messages: Message[] = [];
  const waiters: { type: Message['type']; resolve: (m: Message) => void }[] = [];
  let failure: Error | undefined;
  worker.on('message', (m: Message) => {
    messages.push(m);
    for (const w of waiters.filter((x) => x.type === m.type || m.type === 'error')) w.resolve(m);
  });
  worker.on('error', (e) => {
    failure = e;
    for (const w of waiters) w.resolve({ type: 'error', id, message: String(e.stack ?? e) });
  });
  const next = (type: Message['type']) =>
    new Promise<Message>((resolve) => {
      const seen = messages.find((m) => m.type === type || m.type === 'error');
      if (seen) resolve(seen);
      else if (failure) resolve({ type: 'error', id, message: String(failure.stack ?? failure) });
      else waiters.push({ type, resolve });
    });
  const exited = new Promise<number>((resolve) => worker.on('exit', resolve));
  return { worker, next, exited };
}

/** The main thread's share of the work while the workers run. */
async function mainThreadWork(rounds: number): Promise<void> {
  for (let r = 0; r < rounds; ++r)
    await kiln.scope(async () => {
      const n = 40 + r;
      const a = kiln.arange(0, n * n, 1, { dtype: 'float32' }).reshape([n, n]).mul(1 / (n * n));
      const y = a.matmul(a.transpose()).add(a).neg();
      const got = (await y.data()) as Float32Array;
      const av = Float32Array.from({ length: n * n }, (_, i) => Math.fround(i * Math.fround(1 / (n * n))));
      for (const [i, j] of [[0, 0], [n - 1, n - 1], [3, n - 2]]) {
        let s = 0;
        for (let k = 0; k < n; ++k) s += av[i * n + k] * av[j * n + k];
        expect(got[i * n + j]).toBeCloseTo(-(s + av[i * n + j]), 3);
      }
    });
}

describe('worker_threads', () => {
  beforeAll(() => assertDistFresh());

  it('4 workers load the library and run checked ops at once while the main thread runs ops too', async () => {
    const workers = [0, 1, 2, 3].map((id) => start(id, { rounds: 12 }));
    for (const w of workers) expect(await w.next('ready')).toMatchObject({ type: 'ready' });
    const [results] = await Promise.all([Promise.all(workers.map((w) => w.next('done'))), mainThreadWork(12)]);
    for (const m of results) {
      expect(m.type, m.message).toBe('done');
      expect(m.rounds).toBe(12);
      expect(m.memory!.devices.cpu, `worker ${m.id} disposed everything it made`).toEqual({ tensors: 0, bytes: 0 });
    }
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0, 0, 0]);
  });

  it.runIf(process.platform === 'linux')('workers that are the addon\'s only users can come and go: the addon stays loaded under its threads', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'test', 'fixtures', 'worker-only-addon.mjs'), DIST_INDEX], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, `the process must survive: ${ending(r)}`).toBe(0);
    const { rounds } = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(rounds).toEqual([0, 1, 2].map(() => ({ got: 4095 * 4096, code: 0, mapped: true })));
  });

  it('terminating busy workers does not crash the process; the main thread and new workers carry on', () => {
    // in a child process, so that an abort shows up as this test failing rather than the runner dying
    const r = spawnSync(process.execPath, [join(ROOT, 'test', 'fixtures', 'terminate-workers.mjs'), DIST_INDEX, FIXTURE], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, `the process must survive terminating busy workers: ${ending(r)}`).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(res.running).toEqual(['running', 'running', 'running', 'running']);
    expect(res.codes).toEqual([1, 1, 1, 1]);
    expect(res.mainSum).toBe(20 * 1998);
    expect(res.fresh).toBe('done');
    expect(res.after).toEqual([0, 1, 2]);
  });
});
