// The CPU backend: collectives over host memory between the processes of a job, on the mesh of TCP
// links (mesh.ts). Algorithms are direct (every rank talks to every other at once), with the same
// bytes on the wire per rank as a ring: allReduce is a reduce-scatter (rank j reduces block j, in
// rank order) followed by an all-gather of the reduced blocks, so every rank ends with identical bits.
// A small allReduce, whose time is latency, takes one exchange instead of two: every rank sends its
// whole payload to every other and reduces all of them in rank order (the same bits again).
import { itemSize } from '../dtype.js';
import { KilnError, fail } from '../errors.js';
import { empty } from '../ops/run.js';
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import {
  callOptions,
  callTimeout,
  blockRows,
  checkOp,
  checkPeer,
  checkRank,
  checkSubgroup,
  checkTag,
  checkLiveTensor,
  type CallOptions,
  type LinkInfo,
  type P2POptions,
  type ProcessGroup,
  type ReduceOptions,
  type RootOptions,
} from './group.js';
import { dropRecycled, recycle } from './host-bytes.js';
import type { Mesh } from './mesh.js';
import { reduceAll } from './reduce-ops.js';
import type { StoreClient, StoreServer } from './store.js';
import { checkWritable, readBytes, tensorFromBytes, writeBytes } from './tensor-io.js';
import { withTimeout } from './timeout.js';

/** What every group of one job shares: the links, the store, the abort state. */
export interface CpuJob {
  mesh: Mesh;
  store: StoreClient;
  server?: StoreServer;
  timeoutMs: number;
  nextGroupId: number;
  broken?: KilnError;
}

/** Payloads up to this size allReduce in one exchange (SMALL_ALLREDUCE_BYTES * (W - 1) on the wire, not 2x their share). */
export const SMALL_ALLREDUCE_BYTES = 64 * 1024;

/** Element bounds [lo, hi) of block j when n elements split into w nearly equal blocks. */
export const blockBounds = (n: number, w: number, j: number): [number, number] => [Math.floor((j * n) / w), Math.floor(((j + 1) * n) / w)];

export class CpuProcessGroup implements ProcessGroup {
  readonly backend = 'cpu' as const;
  readonly rank: number;
  readonly worldSize: number;
  #seq = 0;
  #tail: Promise<unknown> = Promise.resolve();
  #destroyed: KilnError | undefined;

  constructor(
    private readonly job: CpuJob,
    readonly ranks: readonly number[],
    private readonly id: number,
  ) {
    this.rank = ranks.indexOf(job.mesh.rank);
    this.worldSize = ranks.length;
  }

  // ---- plumbing ----------------------------------------------------------------------------------

  /**
   * Runs one call after the previous one on this group, under its timeout. A failure aborts the job's
   * links (the CPU twin of ncclCommAbort), so no peer waits on this rank forever either.
   */
  private call<T>(name: string, o: CallOptions | undefined, body: (key: (step: number | string) => string) => Promise<T>): Promise<T> {
    const timeoutMs = callTimeout(name, o, this.job.timeoutMs);
    // only collectives number their messages: every member makes them, while a send/recv involves two ranks
    const seq = name === 'send' || name === 'recv' ? -1 : this.#seq++;
    const key = (step: number | string) => `${this.id}.${typeof step === 'string' ? step : `${seq}.${step}`}`;
    const run = async () => {
      if (this.job.broken) throw this.job.broken;
      if (this.#destroyed) throw this.#destroyed;
      try {
        return await withTimeout(body(key), timeoutMs, () => new KilnError('E_DIST_TIMEOUT', `${name}: rank ${this.rank} of a group of ${this.worldSize} did not complete within ${timeoutMs} ms (a peer is stuck or missing)`));
      } catch (e) {
        // whatever failed (a timeout, a lost peer, sizes that differ across ranks, a tensor disposed
        // mid-call), the message streams are out of step now: abort, so the peers learn at once
        const err = e instanceof KilnError ? e : new KilnError('E_PEER_LOST', `${name}: ${(e as Error).message}`);
        this.job.broken ??= err;
        this.job.mesh.abort(err);
        throw err;
      }
    };
    const p = this.#tail.then(run, run);
    this.#tail = p.catch(() => undefined);
    return p;
  }

  private peer = (r: number) => this.ranks[r];
  private others = () => this.ranks.map((_, r) => r).filter((r) => r !== this.rank);

  private post(r: number, key: string, bytes: Uint8Array): Promise<void> {
    return this.job.mesh.send(this.peer(r), key, bytes);
  }

  /** The error for rank r's payload of `got` bytes where this rank expects `nbytes`. */
  private sizeMismatch(where: string, r: number, got: number, nbytes: number): KilnError {
    return new KilnError('E_SHAPE', `${where}: rank ${r} sent ${got} bytes where rank ${this.rank} expects ${nbytes} (the tensors differ across ranks)`);
  }

  private async fetch(r: number, key: string, nbytes: number | undefined, where: string): Promise<Buffer> {
    const b = await this.job.mesh.recv(this.peer(r), key);
    if (nbytes !== undefined && b.length !== nbytes) throw this.sizeMismatch(where, r, b.length, nbytes);
    return b;
  }

  /** Streams rank r's payload under key into `into` from element `at` on, as it arrives. */
  private fetchInto(r: number, key: string, nbytes: number, into: Tensor, at: number, where: string): Promise<void> {
    const isz = itemSize(into.dtype);
    return this.job.mesh.recvInto(this.peer(r), key, nbytes, (bytes, off) => writeBytes(into, bytes, where, at + off / isz), (got) =>
      this.sizeMismatch(where, r, got, nbytes),
    );
  }

  /** Sends parts(r) to every other rank r; awaited by the caller after its receives (whose error, if any, is the one reported). */
  private postAll(key: string, parts: (r: number) => Uint8Array): Promise<unknown> {
    const sent = Promise.all(this.others().map((r) => this.post(r, key, parts(r))));
    sent.catch(() => undefined);
    return sent;
  }

  /**
   * Sends parts(r) to every other rank r, and writes what each rank r sends back (own part included)
   * into `into` from element at(r) on, streamed as it arrives: the pure data movement collectives.
   */
  private async exchangeInto(
    key: string,
    parts: (r: number) => Uint8Array,
    expect: (r: number) => number,
    into: Tensor,
    at: (r: number) => number,
    where: string,
  ): Promise<void> {
    const sent = this.postAll(key, parts);
    writeBytes(into, parts(this.rank), where, at(this.rank));
    await Promise.all(this.others().map((r) => this.fetchInto(r, key, expect(r), into, at(r), where)));
    await sent;
  }

  /** exchangeInto a new tensor of `shape` (like's dtype and device), disposed again if the exchange fails. */
  private async exchangeNew(
    key: string,
    shape: readonly number[],
    like: Tensor,
    parts: (r: number) => Uint8Array,
    expect: (r: number) => number,
    at: (r: number) => number,
    where: string,
  ): Promise<Tensor> {
    const out = empty(shape, like.dtype, like.device, where);
    try {
      await this.exchangeInto(key, parts, expect, out, at, where);
      return out;
    } catch (e) {
      out.dispose();
      throw e;
    }
  }

  /** Sends parts[r] to every other rank r and returns what each rank sent back (own part included). */
  private async exchange(key: string, parts: (r: number) => Uint8Array, expect: (r: number) => number | undefined, where: string): Promise<Uint8Array[]> {
    const sent = this.postAll(key, parts);
    const got = await Promise.all(this.ranks.map((_, r) => (r === this.rank ? parts(r) : this.fetch(r, key, expect(r), where))));
    await sent;
    return got;
  }

  // ---- collectives -------------------------------------------------------------------------------

  allReduce(t: Tensor, o?: ReduceOptions): Promise<Tensor> {
    o = callOptions('allReduce', o);
    const op = checkOp('allReduce', t, o);
    checkWritable(t, 'allReduce');
    return this.call('allReduce', o, async (key) => {
      const bytes = await readBytes(t, 'allReduce');
      if (bytes.length <= SMALL_ALLREDUCE_BYTES) {
        const parts = await this.exchange(key(0), () => bytes, () => bytes.length, 'allReduce');
        writeBytes(t, reduceAll(t.dtype, op, parts), 'allReduce');
        recycle(...parts);
        return t;
      }
      const isz = itemSize(t.dtype), W = this.worldSize;
      const block = (j: number) => blockBounds(t.size, W, j).map((e) => e * isz) as [number, number];
      const mine = block(this.rank);
      const parts = await this.exchange(key(0), (r) => bytes.subarray(...block(r)), () => mine[1] - mine[0], 'allReduce');
      const reduced = reduceAll(t.dtype, op, parts);
      await this.exchangeInto(key(1), () => reduced, (r) => block(r)[1] - block(r)[0], t, (r) => block(r)[0] / isz, 'allReduce');
      recycle(bytes, ...parts);
      return t;
    });
  }

  broadcast(t: Tensor, o?: RootOptions): Promise<Tensor> {
    o = callOptions('broadcast', o);
    const root = checkRank('broadcast', 'root', o?.root ?? 0, this.worldSize);
    checkWritable(t, 'broadcast');
    return this.call('broadcast', o, async (key) => {
      const nbytes = t.size * itemSize(t.dtype);
      if (this.rank === root) {
        const bytes = await readBytes(t, 'broadcast');
        await Promise.all(this.others().map((r) => this.post(r, key(0), bytes)));
        recycle(bytes);
      } else await this.fetchInto(root, key(0), nbytes, t, 0, 'broadcast');
      return t;
    });
  }

  reduce(t: Tensor, o?: RootOptions & ReduceOptions): Promise<Tensor> {
    o = callOptions('reduce', o);
    const op = checkOp('reduce', t, o);
    const root = checkRank('reduce', 'root', o?.root ?? 0, this.worldSize);
    checkWritable(t, 'reduce');
    return this.call('reduce', o, async (key) => {
      const bytes = await readBytes(t, 'reduce');
      if (this.rank !== root) {
        await this.post(root, key(0), bytes);
        recycle(bytes);
        return t;
      }
      const parts = await Promise.all(this.ranks.map((_, r) => (r === root ? bytes : this.fetch(r, key(0), bytes.length, 'reduce'))));
      const reduced = reduceAll(t.dtype, op, parts);
      writeBytes(t, reduced, 'reduce');
      recycle(reduced, ...parts);
      return t;
    });
  }

  allGather(t: Tensor, o?: CallOptions): Promise<Tensor> {
    o = callOptions('allGather', o);
    checkLiveTensor('allGather', t);
    return this.call('allGather', o, async (key) => {
      const bytes = await readBytes(t, 'allGather');
      const out = await this.exchangeNew(key(0), [this.worldSize, ...t.shape], t, () => bytes, () => bytes.length, (r) => r * t.size, 'allGather');
      recycle(bytes);
      return out;
    });
  }

  reduceScatter(t: Tensor, o?: ReduceOptions): Promise<Tensor> {
    o = callOptions('reduceScatter', o);
    const op = checkOp('reduceScatter', t, o);
    const rows = blockRows('reduceScatter', t, this.worldSize);
    return this.call('reduceScatter', o, async (key) => {
      const bytes = await readBytes(t, 'reduceScatter');
      const n = bytes.length / this.worldSize;
      const parts = await this.exchange(key(0), (r) => bytes.subarray(r * n, (r + 1) * n), () => n, 'reduceScatter');
      const reduced = reduceAll(t.dtype, op, parts);
      const out = tensorFromBytes([rows, ...t.shape.slice(1)], t.dtype, t.device, reduced, 'reduceScatter');
      recycle(bytes, reduced, ...parts);
      return out;
    });
  }

  allToAll(t: Tensor, o?: CallOptions): Promise<Tensor> {
    o = callOptions('allToAll', o);
    blockRows('allToAll', t, this.worldSize);
    return this.call('allToAll', o, async (key) => {
      const bytes = await readBytes(t, 'allToAll');
      const n = bytes.length / this.worldSize, per = t.size / this.worldSize;
      const out = await this.exchangeNew(key(0), t.shape, t, (r) => bytes.subarray(r * n, (r + 1) * n), () => n, (r) => r * per, 'allToAll');
      recycle(bytes);
      return out;
    });
  }

  send(t: Tensor, dst: number, o?: P2POptions): Promise<void> {
    o = callOptions('send', o);
    checkPeer('send', 'dst', dst, this.rank, this.worldSize);
    const tag = checkTag('send', o?.tag ?? 0);
    checkLiveTensor('send', t);
    return this.call('send', o, async (key) => {
      const bytes = await readBytes(t, 'send');
      await this.post(dst, key(`p${this.rank}>${dst}.${tag}`), bytes);
      recycle(bytes);
    });
  }

  recv(t: Tensor, src: number, o?: P2POptions): Promise<Tensor> {
    o = callOptions('recv', o);
    checkPeer('recv', 'src', src, this.rank, this.worldSize);
    const tag = checkTag('recv', o?.tag ?? 0);
    checkWritable(t, 'recv');
    return this.call('recv', o, async (key) => {
      const nbytes = t.size * itemSize(t.dtype), isz = itemSize(t.dtype);
      await this.job.mesh.recvInto(this.peer(src), key(`p${src}>${this.rank}.${tag}`), nbytes, (bytes, at) => writeBytes(t, bytes, 'recv', at / isz), (got) =>
        new KilnError('E_SHAPE', `recv: rank ${src} sent ${got} bytes, but ${t.dtype}${fmtShape(t.shape)} holds ${nbytes}`),
      );
      return t;
    });
  }

  barrier(o?: CallOptions): Promise<void> {
    o = callOptions('barrier', o);
    return this.call('barrier', o, async (key) => {
      await this.exchange(key(0), () => new Uint8Array(0), () => 0, 'barrier');
    });
  }

  /** How this rank sends to each other member (group ranks): 'shm' on one host, else 'tcp' with the reason. */
  links(): LinkInfo[] {
    const byRank = new Map(this.job.mesh.links().map((l) => [l.rank, l]));
    return this.others().map((r) => ({ ...byRank.get(this.peer(r))!, rank: r }));
  }

  async newGroup(ranks: readonly number[]): Promise<ProcessGroup | undefined> {
    const members = checkSubgroup(ranks, this.ranks);
    const id = this.job.nextGroupId++;
    return members.includes(this.job.mesh.rank) ? new CpuProcessGroup(this.job, members, id) : undefined;
  }

  async destroy(): Promise<void> {
    this.#destroyed ??= new KilnError('E_DISPOSED', `process group [${this.ranks.join(', ')}] was destroyed`);
    if (this.id !== 0) return;
    this.job.broken ??= this.#destroyed; // the world group takes every subgroup with it
    this.job.mesh.close();
    this.job.store.close();
    dropRecycled();
    await this.job.server?.close();
  }
}
