// The NCCL backend: process groups whose collectives NCCL runs on the CUDA stream of the tensors'
// device. Each call enqueues on that stream and resolves at the device's next sync point; its
// communicator (nccl-comm.ts) bounds every wait on NCCL and aborts it (ncclCommAbort) on an error or
// when the call outlives its timeout, so no rank hangs forever.
import { resolveDevice, type BufferHandle } from '../backends/backend.js';
import { itemSize, type DType } from '../dtype.js';
import { KilnError, fail, type KilnErrorCode } from '../errors.js';
import { native, type NativeNccl } from '../native.js';
import { empty } from '../ops/run.js';
import { zeros } from '../ops/creation.js';
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
  type P2POptions,
  type ProcessGroup,
  type ReduceOp,
  type ReduceOptions,
  type RootOptions,
} from './group.js';
import type { InitConfig } from './init.js';
import { ncclCheck, ncclStatus } from './nccl.js';
import { Communicator, NCCL_IN_PROGRESS, ncclGroup } from './nccl-comm.js';
import type { StoreClient, StoreServer } from './store.js';
import { withTimeout } from './timeout.js';

// ncclDataType_t and ncclRedOp_t values (nccl.h); bool travels as uint8 (max = or, min = and)
const NCCL_DTYPE: Record<DType, number> = { float32: 7, float16: 6, bfloat16: 9, int32: 2, int64: 4, uint8: 1, bool: 1 };
const NCCL_OP: Record<ReduceOp, number> = { sum: 0, prod: 1, max: 2, min: 3, avg: 4 };

/** The device address of a contiguous CUDA tensor's first element, and its device's stream. */
function address(t: Tensor, op: string): { pointer: bigint; stream: bigint; device: number } {
  const buf: BufferHandle = checkLiveTensor(op, t).storageFor(op).buffer;
  if (!buf.deviceAddress) fail('E_DEVICE', `${op}: the nccl backend needs CUDA tensors, got ${t.describe()}`);
  if (!t.isContiguous) fail('E_ARGUMENT', `${op}: needs a contiguous tensor, got a strided view of ${t.describe()}`);
  const a = buf.deviceAddress();
  return { pointer: a.pointer + BigInt(t.offset * itemSize(t.dtype)), stream: a.stream, device: buf.device };
}

interface NcclJob {
  store?: StoreClient;
  server?: StoreServer;
  timeoutMs: number;
  nextGroupId: number;
  device: number;
  /** initLocalNccl's groups share this: while its group() runs, the calls waiting for its ncclGroupEnd. */
  local?: { open?: { resolve: () => void; reject: (e: unknown) => void }[] };
}

export class NcclProcessGroup implements ProcessGroup {
  readonly backend = 'nccl' as const;

  constructor(
    private readonly nccl: NativeNccl,
    private readonly comm: Communicator,
    private readonly job: NcclJob,
    readonly ranks: readonly number[],
    readonly rank: number,
    private readonly isWorld = false,
  ) {}

  get worldSize(): number {
    return this.ranks.length;
  }

  /**
   * Enqueues with `launch` on the device's stream at once (so calls are ordered with the kernels
   * around them, and calls inside a group() launch together), then waits for the device under the
   * watchdog. Sends and receives made in one synchronous stretch (`Promise.all([pg.send(a, 1),
   * pg.recv(b, 1)])`) launch together in one NCCL group at the end of it, as crossing pairs must, and
   * before any later collective, so the stream keeps the order of the calls.
   */
  private async call<T>(name: string, o: CallOptions | undefined, device: number, launch: (deadline: number) => T, p2p = false): Promise<T> {
    const timeoutMs = callTimeout(name, o, this.job.timeoutMs);
    const deadline = Date.now() + timeoutMs;
    if (this.comm.broken) throw this.comm.broken;
    if (device !== this.job.device)
      fail('E_DEVICE', `${name}: this group's communicator is on cuda:${this.job.device}, the tensor on cuda:${device}`);
    let out: T;
    const open = this.job.local?.open;
    if (open) {
      // Inside initLocalNccl's group(): NCCL enqueues nothing before the group's ncclGroupEnd, so the
      // device sync (an event recorded now) would pass before the collective ran; sends and receives
      // join that group too instead of a later one of their own (which would block on its peer).
      this.flushP2P();
      out = launch(deadline);
      await new Promise<void>((resolve, reject) => open.push({ resolve, reject }));
    } else if (p2p) await this.batch(deadline, () => (out = launch(deadline)));
    else {
      this.flushP2P();
      out = launch(deadline);
    }
    await this.comm.watch(name, timeoutMs, resolveDevice(`cuda:${device}`).backend.sync(device));
    return out!;
  }

  #p2p: { deadline: number; launch: () => void; resolve: () => void; reject: (e: unknown) => void }[] = [];

  private batch(deadline: number, launch: () => void): Promise<void> {
    if (this.#p2p.length === 0) queueMicrotask(() => this.flushP2P());
    return new Promise((resolve, reject) => this.#p2p.push({ deadline, launch, resolve, reject }));
  }

  private flushP2P(): void {
    const ops = this.#p2p.splice(0);
    if (!ops.length) return;
    try {
      this.grouped(Math.max(...ops.map((op) => op.deadline)), () => {
        for (const op of ops) op.launch();
      });
      ops.forEach((op) => op.resolve());
    } catch (e) {
      ops.forEach((op) => op.reject(e));
    }
  }

  /** Runs `launch` between ncclGroupStart and ncclGroupEnd; NCCL has enqueued the group when it returns. */
  private grouped(deadline: number, launch: () => void): void {
    ncclGroup(
      // not this.check: a communicator broken meanwhile would throw after NCCL opened the group
      () => ncclCheck(this.nccl, 'ncclGroupStart', this.nccl.groupStart()),
      launch,
      () => this.check('ncclGroupEnd', this.nccl.groupEnd(), deadline),
    );
  }

  /** Throws unless an NCCL call succeeded; a nonblocking one is first waited for (bounded by deadline) until NCCL has enqueued it. */
  private check(fn: string, r: number, deadline: number): void {
    this.comm.enqueued(fn, r, deadline);
  }

  allReduce(t: Tensor, o?: ReduceOptions): Promise<Tensor> {
    o = callOptions('allReduce', o);
    const op = NCCL_OP[checkOp('allReduce', t, o)];
    const a = address(t, 'allReduce');
    return this.call('allReduce', o, a.device, (deadline) => {
      this.check('ncclAllReduce', this.nccl.allReduce(this.comm.handle, a.pointer, a.pointer, t.size, NCCL_DTYPE[t.dtype], op, a.stream), deadline);
      return t;
    });
  }

  broadcast(t: Tensor, o?: RootOptions): Promise<Tensor> {
    o = callOptions('broadcast', o);
    const root = checkRank('broadcast', 'root', o?.root ?? 0, this.worldSize);
    const a = address(t, 'broadcast');
    return this.call('broadcast', o, a.device, (deadline) => {
      this.check('ncclBroadcast', this.nccl.broadcast(this.comm.handle, a.pointer, a.pointer, t.size, NCCL_DTYPE[t.dtype], root, a.stream), deadline);
      return t;
    });
  }

  reduce(t: Tensor, o?: RootOptions & ReduceOptions): Promise<Tensor> {
    o = callOptions('reduce', o);
    const op = NCCL_OP[checkOp('reduce', t, o)];
    const root = checkRank('reduce', 'root', o?.root ?? 0, this.worldSize);
    const a = address(t, 'reduce');
    return this.call('reduce', o, a.device, (deadline) => {
      this.check('ncclReduce', this.nccl.reduce(this.comm.handle, a.pointer, a.pointer, t.size, NCCL_DTYPE[t.dtype], op, root, a.stream), deadline);
      return t;
    });
  }

  /** Inputs that are not written may be strided views: NCCL reads a contiguous copy, queued on the same stream first. */
  private fromInput<R>(t: Tensor, op: string, run: (src: Tensor) => Promise<R>): Promise<R> {
    const src = checkLiveTensor(op, t).isContiguous ? t : t.contiguous();
    if (src === t) return run(t);
    try {
      return run(src).finally(() => src.dispose());
    } catch (e) {
      src.dispose();
      throw e;
    }
  }

  allGather(t: Tensor, o?: CallOptions): Promise<Tensor> {
    o = callOptions('allGather', o);
    return this.fromInput(t, 'allGather', (src) => {
      const a = address(src, 'allGather');
      const out = empty([this.worldSize, ...t.shape], t.dtype, t.device, 'allGather');
      const b = address(out, 'allGather');
      return this.call('allGather', o, a.device, (deadline) => {
        this.check('ncclAllGather', this.nccl.allGather(this.comm.handle, a.pointer, b.pointer, t.size, NCCL_DTYPE[t.dtype], a.stream), deadline);
        return out;
      });
    });
  }

  reduceScatter(t: Tensor, o?: ReduceOptions): Promise<Tensor> {
    o = callOptions('reduceScatter', o);
    const op = NCCL_OP[checkOp('reduceScatter', t, o)];
    const rows = blockRows('reduceScatter', t, this.worldSize);
    return this.fromInput(t, 'reduceScatter', (src) => {
      const a = address(src, 'reduceScatter');
      const out = empty([rows, ...t.shape.slice(1)], t.dtype, t.device, 'reduceScatter');
      const b = address(out, 'reduceScatter');
      return this.call('reduceScatter', o, a.device, (deadline) => {
        this.check('ncclReduceScatter', this.nccl.reduceScatter(this.comm.handle, a.pointer, b.pointer, out.size, NCCL_DTYPE[t.dtype], op, a.stream), deadline);
        return out;
      });
    });
  }

  allToAll(t: Tensor, o?: CallOptions): Promise<Tensor> {
    o = callOptions('allToAll', o);
    blockRows('allToAll', t, this.worldSize);
    return this.fromInput(t, 'allToAll', (src) => {
      const a = address(src, 'allToAll');
      const out = empty(t.shape, t.dtype, t.device, 'allToAll');
      const b = address(out, 'allToAll');
      const n = t.size / this.worldSize, bytes = BigInt(n * itemSize(t.dtype));
      return this.call('allToAll', o, a.device, (deadline) => {
        this.grouped(deadline, () => {
          for (let r = 0; r < this.worldSize; ++r) {
            this.check('ncclSend', this.nccl.send(this.comm.handle, a.pointer + BigInt(r) * bytes, n, NCCL_DTYPE[t.dtype], r, a.stream), deadline);
            this.check('ncclRecv', this.nccl.recv(this.comm.handle, b.pointer + BigInt(r) * bytes, n, NCCL_DTYPE[t.dtype], r, a.stream), deadline);
          }
        });
        return out;
      });
    });
  }

  send(t: Tensor, dst: number, o?: P2POptions): Promise<void> {
    o = callOptions('send', o);
    checkPeer('send', 'dst', dst, this.rank, this.worldSize);
    checkTag('send', o?.tag ?? 0); // NCCL matches point-to-point messages by order alone
    return this.fromInput(t, 'send', (src) => {
      const a = address(src, 'send');
      return this.call('send', o, a.device, (deadline) => this.check('ncclSend', this.nccl.send(this.comm.handle, a.pointer, t.size, NCCL_DTYPE[t.dtype], dst, a.stream), deadline), true);
    });
  }

  recv(t: Tensor, src: number, o?: P2POptions): Promise<Tensor> {
    o = callOptions('recv', o);
    checkPeer('recv', 'src', src, this.rank, this.worldSize);
    checkTag('recv', o?.tag ?? 0);
    const a = address(t, 'recv');
    return this.call('recv', o, a.device, (deadline) => {
      this.check('ncclRecv', this.nccl.recv(this.comm.handle, a.pointer, t.size, NCCL_DTYPE[t.dtype], src, a.stream), deadline);
      return t;
    }, true);
  }

  async barrier(o?: CallOptions): Promise<void> {
    o = callOptions('barrier', o);
    const t = zeros([1], { dtype: 'float32', device: `cuda:${this.job.device}` });
    try {
      await this.allReduce(t, o);
    } finally {
      t.dispose();
    }
  }

  async newGroup(ranks: readonly number[]): Promise<ProcessGroup | undefined> {
    if (!this.job.store) fail('E_UNSUPPORTED', 'newGroup: needs the rendezvous store of distributed.init (not initLocal, nor a destroyed world group)');
    const members = checkSubgroup(ranks, this.ranks);
    const id = this.job.nextGroupId++;
    const me = members.indexOf(this.ranks[this.rank]);
    if (me < 0) return undefined;
    const comm = await joinComm(this.nccl, this.job, `nccl/group/${id}`, me, members.length);
    return new NcclProcessGroup(this.nccl, comm, this.job, members, me);
  }

  /** Flushes the communicator's outstanding work (bounded by the group's timeout) and frees it; later calls fail with E_DISPOSED. */
  async destroy(): Promise<void> {
    try {
      await this.comm.destroy(new KilnError('E_DISPOSED', `process group [${this.ranks.join(', ')}] was destroyed`), this.job.timeoutMs);
    } finally {
      if (this.isWorld && this.job.store) {
        this.job.store.close();
        await this.job.server?.close();
        this.job.store = undefined;
      }
    }
  }
}

const member = (rank: number, size: number) => `rank ${rank} of a group of ${size}`;

/**
 * Group rank 0 makes the unique id and shares it through the store; every member then joins. A
 * nonblocking init returns at once and is polled to the deadline, then aborted; a blocking one (NCCL
 * before 2.27, or NCCL_COMM_BLOCKING=1) waits on a worker thread, which a lost peer can hold.
 */
async function joinComm(nccl: NativeNccl, job: NcclJob, key: string, rank: number, size: number): Promise<Communicator> {
  const started = Date.now();
  let id: Uint8Array;
  if (rank === 0) {
    const u = nccl.uniqueId();
    ncclCheck(nccl, 'ncclGetUniqueId', u.result);
    id = u.id!;
    await job.store!.set(key, id);
  } else id = await job.store!.get(key, job.timeoutMs);
  const init = nccl.commInitRank(size, id, rank, job.device).catch((e: Error & { code?: string }) => {
    throw e instanceof KilnError ? e : new KilnError((e.code ?? 'E_NATIVE') as KilnErrorCode, `ncclCommInitRank: ${e.message}`);
  });
  const r = await withTimeout(init, job.timeoutMs, () =>
    new KilnError('E_DIST_TIMEOUT', `ncclCommInitRank: ${member(rank, size)} did not finish within ${job.timeoutMs} ms`),
  );
  if (r.result !== NCCL_IN_PROGRESS) ncclCheck(nccl, 'ncclCommInitRank', r.result);
  const comm = new Communicator(nccl, r.comm!, member(rank, size));
  if (r.result === NCCL_IN_PROGRESS) await comm.ready('ncclCommInitRank', Math.max(0, job.timeoutMs - (Date.now() - started)));
  return comm;
}

/** The NCCL world group: needs libnccl.so.2 and a CUDA device for this process's local rank. */
export async function initNccl(c: InitConfig): Promise<ProcessGroup> {
  const s = ncclStatus();
  if (!s.version) fail('E_UNSUPPORTED', `distributed.init: backend 'nccl' needs NCCL: ${s.reason}`);
  resolveDevice(`cuda:${c.localRank}`);
  // NCCL allocates its buffers outside Kiln's stream-ordered pool: hand back what the pool caches
  native().cuda.releaseCached(c.localRank);
  const { rendezvous } = await import('./init.js');
  const { store, server } = await rendezvous(c);
  const job: NcclJob = { store, server, timeoutMs: c.timeoutMs, nextGroupId: 1, device: c.localRank };
  const nccl = native().nccl;
  const comm = await joinComm(nccl, job, 'nccl/world', c.rank, c.worldSize);
  return new NcclProcessGroup(nccl, comm, job, Array.from({ length: c.worldSize }, (_, r) => r), c.rank, true);
}

/**
 * One process driving several GPUs (ncclCommInitAll): one process group per device, all in this
 * process. Collectives across them must be issued inside `group()` so NCCL launches them together.
 */
export function initLocalNccl(devices: readonly number[], timeoutMs = 300_000): { groups: ProcessGroup[]; group<T>(fn: () => T): T } {
  const s = ncclStatus();
  if (!s.version) fail('E_UNSUPPORTED', `distributed.initLocal: needs NCCL: ${s.reason}`);
  for (const d of devices) resolveDevice(`cuda:${d}`);
  for (const d of devices) native().cuda.releaseCached(d); // NCCL allocates outside Kiln's pool
  const nccl = native().nccl;
  const r = nccl.commInitAll(devices);
  ncclCheck(nccl, 'ncclCommInitAll', r.result);
  const ranks = devices.map((_, i) => i);
  const local: NonNullable<NcclJob['local']> = {};
  const groups = r.comms!.map(
    (comm, i) => new NcclProcessGroup(nccl, new Communicator(nccl, comm, member(i, devices.length)), { timeoutMs, nextGroupId: 1, device: devices[i], local }, ranks, i),
  );
  return {
    groups,
    // The calls made inside fn start waiting for their devices only once the outermost ncclGroupEnd
    // has enqueued them (or reject with its error).
    group<T>(fn: () => T): T {
      const outermost = !local.open;
      const waiting = (local.open ??= []);
      let failure: unknown;
      try {
        return ncclGroup(() => ncclCheck(nccl, 'ncclGroupStart', nccl.groupStart()), fn, () => {
          try {
            ncclCheck(nccl, 'ncclGroupEnd', nccl.groupEnd());
          } catch (e) {
            failure = e;
            throw e;
          }
        });
      } finally {
        if (outermost) {
          local.open = undefined;
          for (const w of waiting) failure === undefined ? w.resolve() : w.reject(failure);
        }
      }
    },
  };
}
