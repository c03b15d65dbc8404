// kiln.distributed on the CPU backend: every collective at 2, 3 and 4 ranks (real child processes
// under `kiln launch`), faults (a rank killed mid-collective, a rank that never joins), the
// rendezvous store's token and framing rules, the launcher, and the NCCL loader's pure parts.
import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { resolveInit, storeBarrier } from '../src/distributed/init.js';
import { ncclCandidates, ncclFailure, ncclStatus, ncclTooOld, ncclVersionString } from '../src/distributed/nccl.js';
import { decode, encode, reduceAll } from '../src/distributed/reduce-ops.js';
import { dropRecycled, hostBytes, recycle } from '../src/distributed/host-bytes.js';
import { FrameReader, writeFrame } from '../src/distributed/frames.js';
import { ANSWER, CHUNK, OFFER, ringBytes } from '../src/distributed/shm-link.js';
import { STORE_LIMITS, StoreClient, StoreServer } from '../src/distributed/store.js';
import { native } from '../src/native.js';
import { freePort, parseLaunch, rankEnv } from '../src/cli/launch.js';
import { planBackends } from './helpers/backends.js';
import { expectError } from './helpers/compare.js';
import { CLI, ROOT, assertDistFresh, ending, runNode } from './helpers/dist.js';
import { SEED, rngFor } from './helpers/random.js';
import { toBF16, toF16 } from './helpers/reference.js';

const fixture = (name: string) => join(ROOT, 'test', 'fixtures', name);
const launch = (args: string[], timeout = 120_000, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, 'launch', ...args], { cwd: ROOT, encoding: 'utf8', timeout, env: { ...process.env, ...env } });
const tagged = (out: string, tag: string) =>
  [...out.matchAll(new RegExp(`^\\[rank(\\d+)\\]: ${tag} (.*)$`, 'gm'))].map((m) => ({ rank: Number(m[1]), ...JSON.parse(m[2]) }));

const raw = (port: number, bytes: Buffer) =>
  new Promise<'closed'>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write(bytes));
    s.on('close', () => resolve('closed'));
    s.on('error', () => undefined);
    setTimeout(() => reject(new Error('the server kept a malformed connection open')), 3000);
  });
/** A frame prefix: [u32 head length][f64 body length]. */
const prefix = (head: number, body: number) => {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(head, 0);
  b.writeDoubleLE(body, 4);
  return b;
};

describe('distributed: collectives on the cpu backend', () => {
  beforeAll(() => assertDistFresh());

  // each world size runs the links another way: TCP only, shared-memory rings of 16 KiB slots (a 6 MB
  // payload wraps them ~90 times), and the default rings
  const links = { 2: ['0', 'tcp'], 3: ['65536', 'shm'], 4: ['', 'shm'] } as const;
  for (const world of [2, 3, 4] as const)
    it(`${world} ranks (${links[world][1]} links${links[world][0] ? `, KILN_SHM_BYTES=${links[world][0]}` : ''}): every collective, dtype and odd size matches each rank's reference`, () => {
      const r = launch(['--nproc-per-node', String(world), fixture('dist-collectives.mjs'), String(SEED)], 120_000, { KILN_SHM_BYTES: links[world][0] });
      expect(r.status, ending(r)).toBe(0);
      const results = tagged(r.stdout, 'RESULT');
      expect(results.map((x) => x.rank).sort(), ending(r)).toEqual([...Array(world).keys()]);
      for (const x of results) {
        expect(x.failures, `rank ${x.rank}`).toEqual([]);
        expect(x.checked).toBeGreaterThan(250);
        expect(x.links, `rank ${x.rank}`).toEqual(Array(world - 1).fill(links[world][1]));
        expect(x.worldSize).toBe(world);
      }
    });
});

describe.skipIf(!planBackends().find((p) => p.kind === 'webgpu')?.device && !planBackends().find((p) => p.kind === 'webgpu')?.required)('distributed: the cpu backend over webgpu tensors', () => {
  it('odd sizes of 1- and 2-byte dtypes (byte offsets WebGPU copies cannot address) gather, broadcast, reduce and receive into slices', () => {
    const r = launch(['--nproc-per-node', '2', fixture('dist-webgpu.mjs')]);
    expect(r.status, ending(r)).toBe(0);
    const results = tagged(r.stdout, 'RESULT');
    expect(results.length, ending(r)).toBe(2);
    for (const x of results) expect(x.failures, `rank ${x.rank}`).toEqual([]);
  });
});

describe('distributed: collectives on the nccl backend (a host with NCCL and CUDA devices)', () => {
  const gpus = kiln.devices().filter((d) => d.kind === 'cuda').length;
  const ready = !!ncclStatus().version && gpus > 0;

  it('NCCL and a CUDA device are present where KILN_REQUIRE=cuda says so', () => {
    if (kiln.requiredBackends().includes('cuda')) expect(ready, ncclStatus().reason ?? 'no CUDA device').toBe(true);
    else if (!ready) console.log(`nccl collectives skipped: ${ncclStatus().reason ?? 'no CUDA device'}`);
  });

  for (const world of [1, 2])
    it.runIf(ready && gpus >= world)(`${world} rank(s) on ${world} GPU(s): every collective, dtype and odd size`, () => {
      const r = launch(['--nproc-per-node', String(world), fixture('dist-collectives.mjs'), String(SEED)], 300_000, { KILN_DIST_BACKEND: 'nccl' });
      expect(r.status, ending(r)).toBe(0);
      const results = tagged(r.stdout, 'RESULT');
      expect(results.length, ending(r)).toBe(world);
      for (const x of results) expect(x.failures, `rank ${x.rank}`).toEqual([]);
    });

  it.runIf(ready)('one process driving its GPUs (initLocal, ncclCommInitAll): collectives issued together inside group()', async () => {
    const devices = Array.from({ length: Math.min(gpus, 4) }, (_, i) => i), W = devices.length;
    const { groups, group } = kiln.distributed.initLocal(devices, 60_000);
    try {
      expect(groups.map((g) => [g.rank, g.worldSize, g.backend])).toEqual(devices.map((_, i) => [i, W, 'nccl']));
      const on = (i: number) => `cuda:${devices[i]}`;
      const xs = groups.map((_, i) => kiln.tensor([i + 1, -2 * (i + 1), 0.5], { device: on(i) }));
      const roots = groups.map((_, i) => kiln.tensor([i === 0 ? 7 : -1, i === 0 ? 8 : -1], { dtype: 'int32', device: on(i) }));
      const [sums, bcasts, gathers] = group(() => [
        groups.map((g, i) => g.allReduce(xs[i], { op: 'sum' })),
        groups.map((g, i) => g.broadcast(roots[i], { root: 0 })),
        groups.map((g, i) => g.allGather(kiln.full([2], i, { dtype: 'int64', device: on(i) }))),
      ]);
      await Promise.all([...sums, ...bcasts]);
      const total = (W * (W + 1)) / 2;
      for (let i = 0; i < W; ++i) {
        expect(await xs[i].toArray()).toEqual([total, -2 * total, 0.5 * W]);
        expect(await roots[i].toArray()).toEqual([7, 8]);
        const gathered = await gathers[i];
        expect(gathered.shape).toEqual([W, 2]);
        expect(await gathered.toArray()).toEqual(devices.map((_, r) => [r, r]));
      }
    } finally {
      await Promise.all(groups.map((g) => g.destroy()));
    }
  });
});

describe('distributed: faults', () => {
  it('a rank killed mid-collective: the others fail with E_PEER_LOST/E_DIST_TIMEOUT within the timeout, launch exits non-zero', () => {
    const timeoutMs = 5000;
    const t0 = Date.now();
    const r = launch(['--grace-ms', '2000', '--nproc-per-node', '3', fixture('dist-fault.mjs'), 'kill', String(timeoutMs)]);
    expect(r.status, ending(r)).not.toBe(0);
    expect(r.stderr).toMatch(/rank 2 exited with signal SIGKILL; terminating the other ranks/);
    const outcomes = tagged(r.stdout, 'OUTCOME');
    expect(outcomes.map((o) => o.rank).sort(), ending(r)).toEqual([0, 1]);
    for (const o of outcomes) {
      expect(['E_PEER_LOST', 'E_DIST_TIMEOUT'], JSON.stringify(o)).toContain(o.code);
      expect(o.ms).toBeLessThan(timeoutMs + 1000);
    }
    for (const a of tagged(r.stdout, 'AFTER')) expect(['E_PEER_LOST', 'E_DIST_TIMEOUT']).toContain(a.code);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it('a rank that never joins: the others fail with E_DIST_TIMEOUT after the timeout, launch exits non-zero', () => {
    const timeoutMs = 1500;
    const r = launch(['--grace-ms', '500', '--nproc-per-node', '3', fixture('dist-fault.mjs'), 'stall', String(timeoutMs)]);
    expect(r.status, ending(r)).not.toBe(0);
    const outcomes = tagged(r.stdout, 'OUTCOME');
    expect(outcomes.map((o) => o.rank).sort(), ending(r)).toEqual([0, 1]);
    for (const o of outcomes) {
      // a rank whose peer timed out first and aborted may see the lost link instead
      expect(['E_DIST_TIMEOUT', 'E_PEER_LOST'], JSON.stringify(o)).toContain(o.code);
      expect(o.ms).toBeGreaterThanOrEqual(o.code === 'E_DIST_TIMEOUT' ? timeoutMs - 50 : 0);
      expect(o.ms).toBeLessThan(timeoutMs + 1500);
    }
    expect(outcomes.some((o) => o.code === 'E_DIST_TIMEOUT')).toBe(true);
  });
});

describe('distributed: rendezvous store', () => {
  const TOKEN = 'secret-' + SEED;
  const open = async () => {
    const server = await StoreServer.listen('127.0.0.1', 0, TOKEN);
    const client = await StoreClient.connect({ host: '127.0.0.1', port: server.port, token: TOKEN, timeoutMs: 2000 });
    return { server, client };
  };

  it('set, get, wait, add; get of a missing key times out with E_DIST_TIMEOUT', async () => {
    const { server, client } = await open();
    try {
      const other = await StoreClient.connect({ host: '127.0.0.1', port: server.port, token: TOKEN, timeoutMs: 2000 });
      const pending = client.get('later');
      await other.set('later', 'value');
      expect((await pending).toString()).toBe('value');
      await other.set('bin', new Uint8Array([0, 255, 7]));
      expect([...(await client.get('bin'))]).toEqual([0, 255, 7]);
      expect(await client.add('n', 2)).toBe(2);
      expect(await other.add('n', 5)).toBe(7);
      await client.wait(['later', 'bin', 'n']);
      const err = await client.get('never', 200).catch((e) => e);
      expect(err).toBeInstanceOf(kiln.KilnError);
      expect(err.code).toBe('E_DIST_TIMEOUT');
      other.close();
    } finally {
      client.close();
      await server.close();
    }
  });

  it('a client without the token is refused with E_DIST_AUTH', async () => {
    const { server, client } = await open();
    try {
      const err = await StoreClient.connect({ host: '127.0.0.1', port: server.port, token: 'wrong', timeoutMs: 2000 }).catch((e) => e);
      expect(err).toBeInstanceOf(kiln.KilnError);
      expect(err.code).toBe('E_DIST_AUTH');
      await client.set('still', 'fine'); // the server and its other clients carry on
      expect((await client.get('still')).toString()).toBe('fine');
    } finally {
      client.close();
      await server.close();
    }
  });

  it('malformed, oversized or unauthenticated messages close only that connection', async () => {
    const { server, client } = await open();
    try {
      expect(await raw(server.port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe('closed'); // garbage lengths
      expect(await raw(server.port, prefix(100_000, 0))).toBe('closed'); // head over the limit
      expect(await raw(server.port, prefix(9, STORE_LIMITS.maxValue + 1))).toBe('closed'); // body over the limit
      expect(await raw(server.port, prefix(9, -1))).toBe('closed'); // negative body
      const set = Buffer.alloc(9);
      set.writeUInt8(2, 0); // a Set before the token
      expect(await raw(server.port, Buffer.concat([prefix(9, 1), set, Buffer.from('x')]))).toBe('closed');
      await client.set('k', 'v');
      expect((await client.get('k')).toString()).toBe('v');
      await expect(client.set('x'.repeat(STORE_LIMITS.maxKey + 1), 'v')).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    } finally {
      client.close();
      await server.close();
    }
  });

  it('a lost store fails pending requests with E_PEER_LOST', async () => {
    const { server, client } = await open();
    const pending = client.get('never', 10_000);
    await server.close();
    await expect(pending).rejects.toMatchObject({ code: 'E_PEER_LOST' });
  });
});

describe('distributed: launcher and configuration', () => {
  it('sets the torchrun variables and prefixes each line with its rank', () => {
    const r = launch(['--nproc-per-node', '2', fixture('dist-launch-env.mjs')]);
    expect(r.status, ending(r)).toBe(0);
    const envs = tagged(r.stdout, 'ENV').sort((a, b) => a.rank - b.rank);
    expect(envs.map((e) => [e.RANK, e.WORLD_SIZE, e.LOCAL_RANK, e.LOCAL_WORLD_SIZE, e.MASTER_ADDR])).toEqual([
      ['0', '2', '0', '2', '127.0.0.1'],
      ['1', '2', '1', '2', '127.0.0.1'],
    ]);
    expect(Number(envs[0].MASTER_PORT)).toBeGreaterThan(0);
    expect(envs[0].MASTER_PORT).toBe(envs[1].MASTER_PORT);
    expect(envs[0].token).toBeGreaterThanOrEqual(16);
    expect(r.stdout).toMatch(/^\[rank0\]: partial line without newline$/m);
    expect(r.stdout).toMatch(/^\[rank1\]: partial line without newline$/m);
  });

  it('one rank exiting non-zero terminates the others and the launcher exits non-zero', () => {
    const t0 = Date.now();
    const r = launch(['--grace-ms', '1000', '--nproc-per-node', '3', fixture('dist-launch-env.mjs'), 'fail']);
    expect(r.status, ending(r)).toBe(3);
    expect(r.stderr).toMatch(/rank 1 exited with code 3; terminating the other ranks/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('forwards SIGTERM to every rank', async () => {
    const child = spawn(process.execPath, [CLI, 'launch', '--nproc-per-node', '2', fixture('dist-launch-env.mjs'), 'signal'], { cwd: ROOT });
    let out = '';
    let sent = false;
    child.stdout.on('data', (d) => {
      out += d;
      // once: a second SIGTERM landing after the launcher has let go of its handlers, on its way out,
      // would kill it by the signal (exit code null) instead of its own 143
      if (!sent && (out.match(/READY/g) ?? []).length === 2) {
        sent = true;
        child.kill('SIGTERM');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect((out.match(/GOT SIGTERM/g) ?? []).length, out).toBe(2);
    expect(code).toBe(128 + 15);
  });

  it('parses its options and rejects bad ones with E_ARGUMENT', () => {
    const p = parseLaunch(['--nproc-per-node', '4', '--nnodes=2', '--node-rank', '1', '--master-addr', '10.0.0.1', 'train.js', '--lr', '0.1']);
    expect(p).toMatchObject({ nprocPerNode: 4, nnodes: 2, nodeRank: 1, masterAddr: '10.0.0.1', masterPort: 29500, script: 'train.js', args: ['--lr', '0.1'] });
    expect(rankEnv(p, 2, 29500, 't')).toMatchObject({ RANK: '6', WORLD_SIZE: '8', LOCAL_RANK: '2', LOCAL_WORLD_SIZE: '4', MASTER_PORT: '29500' });
    expectError(() => parseLaunch(['--nproc-per-node', '2']), 'E_ARGUMENT');
    expectError(() => parseLaunch(['--nproc-per-node', '0', 'x.js']), 'E_ARGUMENT');
    expectError(() => parseLaunch(['--nproc-per-node', '1', '--node-rank', '1', 'x.js']), 'E_ARGUMENT');
    expectError(() => parseLaunch(['--bogus', '1', 'x.js']), 'E_ARGUMENT');
  });

  it('init options default from the torchrun variables', () => {
    const env = { RANK: '3', WORLD_SIZE: '4', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: 'h', MASTER_PORT: '1234', KILN_DIST_TOKEN: 'tok', KILN_DIST_TIMEOUT_MS: '99' };
    expect(resolveInit({}, env)).toEqual({ backend: 'cpu', rank: 3, worldSize: 4, localRank: 1, localWorldSize: 2, masterAddr: 'h', masterPort: 1234, token: 'tok', timeoutMs: 99 });
    expect(resolveInit({ rank: 0, backend: 'nccl' }, env)).toMatchObject({ rank: 0, backend: 'nccl' });
    const single = resolveInit({}, {});
    expect(single).toMatchObject({ rank: 0, worldSize: 1, masterPort: 0, masterAddr: '127.0.0.1' });
    expect(single.token.length).toBeGreaterThan(8);
    expectError(() => resolveInit({}, { ...env, KILN_DIST_TOKEN: undefined }), 'E_ARGUMENT');
    expectError(() => resolveInit({}, { ...env, MASTER_PORT: undefined }), 'E_ARGUMENT');
    expectError(() => resolveInit({ rank: 4 }, env), 'E_ARGUMENT');
    expectError(() => resolveInit({}, { ...env, WORLD_SIZE: 'two' }), 'E_ARGUMENT');
    expectError(() => resolveInit({ backend: 'gloo' as 'cpu' }, env), 'E_ARGUMENT');
  });

  it('rendezvous: a rank that never comes is E_DIST_TIMEOUT; a peer link with the wrong token is closed', async () => {
    const port = await freePort('127.0.0.1');
    const pending = kiln.distributed.init({ backend: 'cpu', rank: 0, worldSize: 2, masterPort: port, token: 'tok', timeoutMs: 1500 }).catch((e) => e);
    const store = await StoreClient.connect({ host: '127.0.0.1', port, token: 'tok', timeoutMs: 1000 });
    const [host, linkPort] = (await store.get('cpu/addr/0')).toString().split(':');
    expect(host).toBe('127.0.0.1');
    const hello = (token: string) => Buffer.concat([prefix(4, token.length), Buffer.from([1, 0, 0, 0]), Buffer.from(token)]);
    expect(await raw(Number(linkPort), hello('wrong'))).toBe('closed');
    expect(await raw(Number(linkPort), Buffer.from('not a frame at all, just text'))).toBe('closed');
    store.close();
    const err = await pending;
    expect(err).toBeInstanceOf(kiln.KilnError);
    expect(err.code).toBe('E_DIST_TIMEOUT');
    expect(err.message).toMatch(/rank 0 could not connect to all 2 ranks within 1500 ms/);
  });

  it('shared memory: a ring the peer cannot map keeps that direction on TCP; a chunk outside the protocol loses the peer', async () => {
    const port = await freePort('127.0.0.1');
    const pending = kiln.distributed.init({ backend: 'cpu', rank: 0, worldSize: 2, masterPort: port, token: 'tok', timeoutMs: 5000 });
    pending.catch(() => undefined);
    const store = await StoreClient.connect({ host: '127.0.0.1', port, token: 'tok', timeoutMs: 3000 });
    const [host, linkPort] = (await store.get('cpu/addr/0')).toString().split(':');
    // this test plays rank 1 by hand: hello, then answer rank 0's offer and make one of its own
    const s = connect({ host, port: Number(linkPort) });
    await new Promise((resolve) => s.once('connect', resolve));
    const frames: [string, Buffer][] = [];
    const reader = new FrameReader({ maxHead: 256, maxBody: 1 << 20 }, (h, b) => frames.push([h.toString('latin1'), b]), () => undefined);
    s.on('data', (c) => reader.push(c));
    s.on('error', () => undefined);
    await writeFrame(s, Buffer.from([1, 0, 0, 0]), Buffer.from('tok'));
    const next = async (head: string) => {
      for (let i = 0; i < 100 && !frames.some(([h]) => h === head); ++i) await new Promise((r) => setTimeout(r, 20));
      return frames.find(([h]) => h === head)?.[1];
    };
    const offer = await next(OFFER);
    expect(offer, 'rank 0 offers its ring').toBeDefined();
    await writeFrame(s, Buffer.from(ANSWER, 'latin1'), Buffer.from([0]));
    // an offer of a segment that does not exist: rank 0 answers no
    const bogus = Buffer.alloc(8 + 16 + 38);
    bogus.writeUInt32LE(4, 0);
    bogus.writeUInt32LE(4096, 4);
    bogus.write(`/kiln-${'0'.repeat(32)}`, 24, 'latin1');
    await writeFrame(s, Buffer.from(OFFER, 'latin1'), bogus);
    expect([...((await next(ANSWER)) ?? [])]).toEqual([0]);
    await storeBarrier(store, 'cpu/init', 2, 5000);
    const pg = await pending;
    try {
      expect(pg.links?.()).toEqual([{ rank: 1, transport: 'tcp', reason: expect.stringMatching(/cannot map this rank's shared memory/) }]);
      const waiting = pg.barrier().then(() => 'success', (e) => e);
      await writeFrame(s, Buffer.from(`${CHUNK}0.0.0`, 'latin1'), Buffer.alloc(16));
      const err = await waiting;
      expect(err).toBeInstanceOf(kiln.KilnError);
      expect(err.code).toBe('E_PEER_LOST');
      expect(err.message).toMatch(/malformed frame \(a shared-memory chunk on a link without shared memory\)/);
    } finally {
      s.destroy();
      store.close();
      await pg.destroy();
    }
  });

  it('shared memory: segments are this user\'s, exactly sized, and named only as Kiln names them', () => {
    const shm = native().shm;
    const seg = shm.create(8192);
    try {
      expect(seg.name).toMatch(/^\/kiln-[0-9a-f]{32}$/);
      const other = new Uint8Array(shm.open(seg.name, 8192));
      new Uint8Array(seg.buffer)[4100] = 42;
      expect(other[4100]).toBe(42);
      expectError(() => shm.open(seg.name, 4096), 'E_UNSUPPORTED');
    } finally {
      shm.unlink(seg.name);
    }
    expectError(() => shm.open(seg.name, 8192), 'E_UNSUPPORTED');
    expectError(() => shm.open('/dev/../etc/passwd', 8192), 'E_ARGUMENT');
    expectError(() => shm.create(0), 'E_ARGUMENT');
    expectError(() => shm.create(2 ** 40), 'E_ARGUMENT');
    expect(ringBytes({})).toBe(8 << 20);
    expect(ringBytes({ KILN_SHM_BYTES: '0' })).toBe(0);
    expectError(() => ringBytes({ KILN_SHM_BYTES: '100' }), 'E_ARGUMENT');
  });

  it('a world of one needs no launcher', async () => {
    const pg = await kiln.distributed.init({ backend: 'cpu', timeoutMs: 5000 });
    try {
      const t = kiln.tensor([1, 2, 3]);
      await pg.allReduce(t, { op: 'avg' });
      expect(await t.toArray()).toEqual([1, 2, 3]);
      expect(await (await pg.allGather(t)).toArray()).toEqual([[1, 2, 3]]);
      expect(pg.rank).toBe(0);
      expect(pg.worldSize).toBe(1);
      expectError(() => pg.allReduce([1, 2] as unknown as kiln.Tensor), 'E_ARGUMENT');
      const gone = kiln.tensor([1]);
      gone.dispose();
      expectError(() => pg.broadcast(gone), 'E_DISPOSED');
    } finally {
      await pg.destroy();
    }
    await expect(pg.barrier()).rejects.toMatchObject({ code: 'E_DISPOSED' });
  });
});

describe('distributed: example and bench', () => {
  it('examples/data-parallel: the loss falls and every rank ends with the same weights', () => {
    const r = launch(['--nproc-per-node', '3', join(ROOT, 'examples', 'data-parallel', 'train.mjs'), '30']);
    expect(r.status, ending(r)).toBe(0);
    const losses = [...r.stdout.matchAll(/^\[rank0\]: step (\d+) loss (\S+)$/gm)].map((m) => Number(m[2]));
    expect(losses.length).toBe(4);
    expect(losses[3]).toBeLessThan(losses[0] / 100);
    const weights = [...r.stdout.matchAll(/^\[rank(\d)\]: weights (\S+)$/gm)].map((m) => m[2]);
    expect(weights.length).toBe(3);
    expect(new Set(weights).size, r.stdout).toBe(1);
  });

  it('bench collectives --json: a validated row per op and size, with nccl-tests busbw factors', () => {
    const r = spawnSync(process.execPath, [CLI, 'bench', 'collectives', '--nproc', '3', '--max-bytes', '4096', '--min-bytes', '1024', '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, ending(r)).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.worldSize).toBe(3);
    const rows = out.rows as { op: string; size: number; count: number; timeUs: number; algbw: number; busbw: number; wrong: number }[];
    for (const op of ['allReduce', 'broadcast', 'reduce', 'allGather', 'reduceScatter', 'allToAll', 'sendRecv']) expect(rows.some((x) => x.op === op), op).toBe(true);
    for (const row of rows) {
      expect(row.wrong, JSON.stringify(row)).toBe(0);
      expect(row.timeUs).toBeGreaterThan(0);
      expect(row.count * 4).toBe(row.size);
      const factor = { allReduce: 4 / 3, allGather: 2 / 3, reduceScatter: 2 / 3, allToAll: 2 / 3 }[row.op] ?? 1;
      expect(row.busbw).toBeCloseTo(row.algbw * factor, 6);
    }
  });
});

describe('distributed: reductions and NCCL plumbing', () => {
  it('payload arrays: recycled by exact size from 64 KiB, never views or small ones, all let go by dropRecycled', () => {
    const a = hostBytes(96 << 10);
    expect(a.length).toBe(96 << 10);
    recycle(a, a); // twice in one call is kept once
    const b = hostBytes(96 << 10);
    expect(b.buffer).toBe(a.buffer);
    expect(hostBytes(96 << 10).buffer).not.toBe(a.buffer); // it was handed out once
    expect(hostBytes(128 << 10).buffer).not.toBe(a.buffer); // another size never gets it
    const small = hostBytes(1000);
    recycle(small, b.subarray(1)); // too small; a view
    expect(hostBytes(1000).buffer).not.toBe(small.buffer);
    expect(hostBytes((96 << 10) - 1).buffer).not.toBe(b.buffer);
    recycle(b);
    dropRecycled();
    expect(hostBytes(96 << 10).buffer).not.toBe(b.buffer);
  });

  it('float16/bfloat16 accumulate in float32 and round once, to nearest even', () => {
    const r = rngFor('dist-halves');
    const xs = Array.from({ length: 2000 }, () => (r.next() - 0.5) * 10 ** r.int(-6, 5));
    for (const [dtype, round] of [['float16', toF16], ['bfloat16', toBF16]] as const) {
      const bytes = encode(dtype, new Float32Array(xs));
      const back = decode(dtype, bytes) as Float32Array;
      xs.forEach((x, i) => expect(back[i], `${dtype} ${x}`).toBe(round(Math.fround(x))));
      // three ranks' values summed in float32, rounded once
      const parts = [0, 1, 2].map((k) => encode(dtype, new Float32Array(xs.map((x) => x * (k + 1)))));
      const sum = decode(dtype, reduceAll(dtype, 'sum', parts)) as Float32Array;
      const widened = parts.map((p) => decode(dtype, p) as Float32Array);
      xs.forEach((_, i) => expect(sum[i]).toBe(round(Math.fround(Math.fround(widened[0][i] + widened[1][i]) + widened[2][i]))));
    }
  });

  it('the NCCL search order: KILN_NCCL_PATH alone, else the loader path, then pip wheels under site-packages', () => {
    const sites = ['/usr/lib/python3/dist-packages', '/home/u/.local/lib/python3.11/site-packages'];
    expect(ncclCandidates({ KILN_NCCL_PATH: '/opt/nccl/libnccl.so.2' }, sites)).toEqual(['/opt/nccl/libnccl.so.2']);
    expect(ncclCandidates({}, sites)).toEqual([
      'libnccl.so.2',
      '/usr/lib/python3/dist-packages/nvidia/nccl/lib/libnccl.so.2',
      '/home/u/.local/lib/python3.11/site-packages/nvidia/nccl/lib/libnccl.so.2',
    ]);
    expect(ncclVersionString(22105)).toBe('2.21.5');
    expect(ncclVersionString(2804)).toBe('2.8.4');
  });

  it('the NCCL loader: an explicit path is the only one tried; a library without the NCCL symbols is refused', () => {
    const probe = `import * as kiln from ${JSON.stringify(join(ROOT, 'dist', 'src', 'index.js'))}; console.log(JSON.stringify(kiln.distributed.ncclStatus()));`;
    const missing = runNode(probe, { KILN_NCCL_PATH: '/nonexistent/libnccl.so.2' });
    expect(missing.status, ending(missing)).toBe(0);
    const a = JSON.parse(missing.stdout);
    expect(a.version).toBeUndefined();
    expect(a.reason).toMatch(/tried \/nonexistent\/libnccl\.so\.2 \(.*No such file/);
    expect(a.reason).not.toMatch(/site-packages|tried libnccl/);
    // a real shared library that is not NCCL: dlopen succeeds, dlsym finds none of NCCL's entry points
    const notNccl = runNode(probe, { KILN_NCCL_PATH: 'libm.so.6' });
    expect(notNccl.status, ending(notNccl)).toBe(0);
    expect(JSON.parse(notNccl.stdout).reason).toMatch(/libm\.so\.6 \(missing symbols ncclGetVersion, ncclGetUniqueId, .*ncclGetErrorString/);
  });

  it('NCCL older than 2.10.3 (no bfloat16, no avg) is refused with the reason', () => {
    expect(ncclTooOld(2804)).toMatch(/NCCL 2\.8\.4 is older than 2\.10\.3/);
    expect(ncclTooOld(21002)).toMatch(/NCCL 2\.10\.2 is older/);
    expect(ncclTooOld(21003)).toBeUndefined();
    expect(ncclTooOld(22703)).toBeUndefined();
  });

  it('NCCL results become KilnErrors: E_NCCL, or E_PEER_LOST for system and remote errors', () => {
    const e = ncclFailure('ncclAllReduce', 4, 'invalid argument');
    expect(e).toBeInstanceOf(kiln.KilnError);
    expect(e.code).toBe('E_NCCL');
    expect(e.message).toBe('ncclAllReduce: NCCL error 4: invalid argument');
    expect(ncclFailure('ncclAllReduce', 6, 'remote process exited').code).toBe('E_PEER_LOST');
    expect(ncclFailure('ncclAllReduce', 2, 'system error').code).toBe('E_PEER_LOST');
  });

  it("backend 'nccl' without NCCL or a GPU fails with a reason, never falls back to cpu", async () => {
    const s = ncclStatus();
    if (s.version && kiln.devices().some((d) => d.kind === 'cuda')) return; // a GPU host runs the real thing
    const err = await kiln.distributed.init({ backend: 'nccl', worldSize: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(kiln.KilnError);
    expect(['E_UNSUPPORTED', 'E_DEVICE']).toContain(err.code);
    if (!s.version) expect(err.message).toContain(s.reason);
  });

  it('kiln info reports NCCL (its version, or why it is absent)', () => {
    const r = spawnSync(process.execPath, [CLI, 'info', '--json'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, ending(r)).toBe(0);
    const nccl = JSON.parse(r.stdout).nccl;
    if (nccl.version) expect(nccl.version).toMatch(/^\d+\.\d+\.\d+$/);
    else expect(nccl.reason).toMatch(/libnccl/);
  });
});
