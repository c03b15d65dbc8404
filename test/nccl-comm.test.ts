// The NCCL communicator's life (src/distributed/nccl-comm.ts) against a scripted NCCL: the states a
// real nonblocking communicator reports (ncclInProgress while NCCL's thread works, an error once a
// peer is lost, nothing at all from a peer that hangs), played here because only a hung or failing
// peer produces them. What is checked is Kiln's side: every wait is bounded, the first failure aborts
// the communicator exactly once, and later calls report that failure. The real NCCL runs in the
// nccl suite of distributed.test.ts on a host with NCCL and a GPU.
import { describe, expect, it } from 'vitest';
import { KilnError } from '../src/errors.js';
import { Communicator, NCCL_IN_PROGRESS, ncclGroup, type NcclCalls } from '../src/distributed/nccl-comm.js';
import type { NcclComm } from '../src/native.js';

/** A scripted NCCL: `states` are what asyncError reports in turn (the last one stays); it records the calls Kiln makes. */
class ScriptedNccl implements NcclCalls {
  calls: string[] = [];
  settleMs: number[] = [];
  dead = false;
  constructor(
    public states: number[] = [0],
    public finalizeResult = 0,
  ) {}
  private state(): number {
    if (this.dead) throw new KilnError('E_DISPOSED', 'nccl: the communicator was destroyed or aborted');
    return this.states.length > 1 ? this.states.shift()! : this.states[0];
  }
  errorString(r: number): string {
    return ({ 2: 'unhandled system error', 4: 'invalid argument', 6: 'remote process exited or there was a network error' } as Record<number, string>)[r] ?? `result ${r}`;
  }
  asyncError(): number {
    return this.state();
  }
  settle(_c: NcclComm, timeoutMs: number): number {
    this.settleMs.push(timeoutMs);
    for (;;) {
      const s = this.state();
      if (s !== NCCL_IN_PROGRESS || this.states.length === 1) return this.states.length === 1 ? this.states[0] : s; // a lone 7 never changes: the deadline
    }
  }
  finalize(): number {
    this.calls.push('finalize');
    return this.finalizeResult;
  }
  abort(): number {
    this.calls.push('abort');
    if (this.dead) throw new KilnError('E_DISPOSED', 'nccl: the communicator was destroyed or aborted');
    this.dead = true;
    return 0;
  }
  destroy(): number {
    this.calls.push('destroy');
    this.dead = true;
    return 0;
  }
}

const handle = {} as NcclComm;
const make = (nccl: ScriptedNccl) => new Communicator(nccl, handle, 'rank 1 of a group of 2');
const thrown = (fn: () => unknown): KilnError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof KilnError) return e;
    throw e;
  }
  throw new Error('nothing was thrown');
};

describe('NCCL communicator: every wait on NCCL is bounded, and the first failure aborts it once', () => {
  it('a call NCCL enqueues on its own thread is waited for until it has, within what is left of the deadline', () => {
    const nccl = new ScriptedNccl([NCCL_IN_PROGRESS, NCCL_IN_PROGRESS, 0]);
    const comm = make(nccl);
    comm.enqueued('ncclAllReduce', NCCL_IN_PROGRESS, Date.now() + 5000);
    expect(nccl.settleMs).toHaveLength(1);
    expect(nccl.settleMs[0]).toBeGreaterThan(4000);
    expect(nccl.settleMs[0]).toBeLessThanOrEqual(5000);
    comm.enqueued('ncclAllReduce', 0, Date.now() + 5000); // enqueued at once (a blocking communicator): no wait
    expect(nccl.settleMs).toHaveLength(1);
    expect(comm.broken).toBeUndefined();
    expect(nccl.calls).toEqual([]);
  });

  it('a call still in progress at its deadline is E_DIST_TIMEOUT and aborts; later calls fail with the same error', () => {
    const nccl = new ScriptedNccl([NCCL_IN_PROGRESS]);
    const comm = make(nccl);
    const e = thrown(() => comm.enqueued('ncclAllReduce', NCCL_IN_PROGRESS, Date.now() + 20));
    expect(e.code).toBe('E_DIST_TIMEOUT');
    expect(e.message).toBe('ncclAllReduce: rank 1 of a group of 2 was still waiting for NCCL to enqueue the call at its deadline; the communicator was aborted');
    expect(thrown(() => comm.enqueued('ncclBroadcast', 0, Date.now() + 1000))).toBe(e);
    expect(nccl.calls).toEqual(['abort']);
  });

  it('an error that becomes the communicator state aborts it (E_PEER_LOST); a refused argument leaves it usable', () => {
    const refused = new ScriptedNccl([0]);
    const ok = make(refused);
    const bad = thrown(() => ok.enqueued('ncclAllReduce', 4, Date.now() + 1000));
    expect(bad.code).toBe('E_NCCL');
    expect(bad.message).toBe('ncclAllReduce: NCCL error 4: invalid argument');
    expect(ok.broken).toBeUndefined();
    expect(refused.calls).toEqual([]);

    const lost = new ScriptedNccl([6]);
    const comm = make(lost);
    const e = thrown(() => comm.enqueued('ncclGroupEnd', NCCL_IN_PROGRESS, Date.now() + 1000));
    expect(e.code).toBe('E_PEER_LOST');
    expect(e.message).toMatch(/^ncclGroupEnd: NCCL error 6: remote process exited/);
    expect(comm.broken).toBe(e);
    expect(lost.calls).toEqual(['abort']);
  });

  it('a failure inside an NCCL group aborts only after the outermost ncclGroupEnd (the group still holds the communicator)', () => {
    const nccl = new ScriptedNccl([6]);
    const comm = make(nccl);
    const seen: string[] = [];
    const e = thrown(() =>
      ncclGroup(
        () => seen.push('start'),
        () =>
          ncclGroup(
            () => seen.push('start'),
            () => comm.enqueued('ncclSend', 6, Date.now() + 1000),
            () => seen.push(`end (aborts so far: ${nccl.calls.length})`),
          ),
        () => seen.push(`end (aborts so far: ${nccl.calls.length})`),
      ),
    );
    expect(e.code).toBe('E_PEER_LOST');
    expect(comm.broken).toBe(e); // broken at once: calls made before the end already fail
    expect(seen).toEqual(['start', 'start', 'end (aborts so far: 0)', 'end (aborts so far: 0)']);
    expect(nccl.calls).toEqual(['abort']);
    // outside any group the abort is immediate
    const other = new ScriptedNccl([6]);
    expect(() => make(other).enqueued('ncclAllReduce', 6, Date.now() + 1000)).toThrow(KilnError);
    expect(other.calls).toEqual(['abort']);
  });

  it('a nonblocking init is polled from timers to its end, or aborted at the deadline without blocking the event loop', async () => {
    const joins = new ScriptedNccl([NCCL_IN_PROGRESS, NCCL_IN_PROGRESS, NCCL_IN_PROGRESS, 0]);
    await make(joins).ready('ncclCommInitRank', 5000);
    expect(joins.calls).toEqual([]);

    const never = new ScriptedNccl([NCCL_IN_PROGRESS]);
    const comm = make(never);
    let ticks = 0;
    const ticker = setInterval(() => ++ticks, 5);
    const started = Date.now();
    try {
      await expect(comm.ready('ncclCommInitRank', 150)).rejects.toMatchObject({ code: 'E_DIST_TIMEOUT' });
    } finally {
      clearInterval(ticker);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(ticks).toBeGreaterThan(3); // other timers ran while the init was pending
    expect(never.calls).toEqual(['abort']);

    const fails = new ScriptedNccl([NCCL_IN_PROGRESS, 2]);
    await expect(make(fails).ready('ncclCommInitRank', 5000)).rejects.toMatchObject({ code: 'E_PEER_LOST', message: 'ncclCommInitRank: NCCL error 2: unhandled system error' });
    expect(fails.calls).toEqual(['abort']);
  });

  it('the watchdog: a call whose device work outlives its timeout aborts once, and fails every call in flight', async () => {
    const nccl = new ScriptedNccl([0]);
    const comm = make(nccl);
    const hung = new Promise<void>(() => undefined);
    let release!: () => void;
    const later = new Promise<void>((resolve) => (release = resolve));
    let refuse!: (e: unknown) => void;
    const failing = new Promise<void>((_, reject) => (refuse = reject));
    const first = comm.watch('allReduce', 120, hung);
    const second = comm.watch('broadcast', 60_000, later);
    const third = comm.watch('reduce', 60_000, failing);
    const e = await first.then(
      () => undefined,
      (x: unknown) => x as KilnError,
    );
    expect(e?.code).toBe('E_DIST_TIMEOUT');
    expect(e?.message).toMatch(/^allReduce: rank 1 of a group of 2 did not complete within 120 ms; the communicator was aborted$/);
    release(); // completes after the abort: it may have been cut short, so it fails too
    await expect(second).rejects.toBe(e);
    refuse(new KilnError('E_DEVICE_LOST', 'cuda:0 was lost')); // a second failure reports the first, and aborts nothing more
    await expect(third).rejects.toBe(e);
    expect(nccl.calls).toEqual(['abort']);
  });

  it('the watchdog sees an asynchronous error (a lost peer) and aborts', async () => {
    const nccl = new ScriptedNccl([0, 0, 6]);
    const comm = make(nccl);
    await expect(comm.watch('allGather', 60_000, new Promise<void>(() => undefined))).rejects.toMatchObject({ code: 'E_PEER_LOST' });
    expect(nccl.calls).toEqual(['abort']);
  });

  it('destroy flushes (ncclCommFinalize, polled) then frees; a finalize that never ends is aborted at the timeout', async () => {
    const nccl = new ScriptedNccl([NCCL_IN_PROGRESS, NCCL_IN_PROGRESS, 0], NCCL_IN_PROGRESS);
    const comm = make(nccl);
    const why = new KilnError('E_DISPOSED', 'process group [0, 1] was destroyed');
    await comm.destroy(why, 5000);
    expect(nccl.calls).toEqual(['finalize', 'destroy']);
    expect(thrown(() => comm.enqueued('ncclAllReduce', 0, Date.now() + 1000))).toBe(why);
    await comm.destroy(why, 5000); // a second destroy has nothing left to do
    expect(nccl.calls).toEqual(['finalize', 'destroy']);

    const stuck = new ScriptedNccl([NCCL_IN_PROGRESS], NCCL_IN_PROGRESS);
    const c2 = make(stuck);
    await expect(c2.destroy(why, 100)).rejects.toMatchObject({ code: 'E_DIST_TIMEOUT', message: /^ncclCommFinalize: rank 1 of a group of 2 did not complete within 100 ms/ });
    expect(stuck.calls).toEqual(['finalize', 'abort']);

    const failed = new ScriptedNccl([6]);
    const c3 = make(failed);
    expect(() => c3.enqueued('ncclAllReduce', 6, Date.now() + 1000)).toThrow(KilnError);
    await c3.destroy(why, 1000); // the abort freed everything already
    expect(failed.calls).toEqual(['abort']);
  });
});
