// One NCCL communicator over its life, apart from tensors: the calls NCCL enqueues, waited for and
// bounded; the watchdog over a call's device work; the first failure aborting it, once; and destroy.
//
// Communicators are nonblocking from NCCL 2.27 on (native/nccl.cc says why not earlier): init, every
// call and finalize then run on NCCL's own threads and return ncclInProgress, and nothing in Kiln
// waits on NCCL without a deadline. A call is waited for on the JS thread until NCCL has enqueued it
// (`settle`, tens of microseconds), because the next kernel Kiln launches on the same stream must land
// after it; init and finalize are polled from timers and never block the event loop. At a deadline
// or on an error the communicator is aborted (ncclCommAbort), which frees NCCL's threads too.
import { KilnError } from '../errors.js';
import type { NativeNccl, NcclComm } from '../native.js';
import { ncclFailure } from './nccl.js';

/** ncclInProgress: a nonblocking communicator's init, call or finalize still running on NCCL's thread. */
export const NCCL_IN_PROGRESS = 7;

/** The native entry points a communicator needs (src/native.ts NativeNccl). */
export type NcclCalls = Pick<NativeNccl, 'errorString' | 'asyncError' | 'settle' | 'finalize' | 'abort' | 'destroy'>;

/** The watchdog's period, and the longest pause between polls of a pending init or finalize. */
const POLL_MS = 50;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// NCCL's groups are per thread, and Kiln opens them on the JS thread only. While one is open, an
// abort would free a communicator the group still holds (NCCL then uses it at ncclGroupEnd, or
// drops the abort's clean-up): a failure inside a group marks its communicator broken at once and
// aborts it once the outermost group has ended.
let openGroups = 0;
const abortsAfterGroup: (() => void)[] = [];

/** Runs body between start (ncclGroupStart) and end (ncclGroupEnd, always called once start succeeded); aborts wait for the end. */
export function ncclGroup<T>(start: () => void, body: () => T, end: () => void): T {
  start();
  ++openGroups;
  try {
    return body();
  } finally {
    --openGroups;
    try {
      end();
    } finally {
      if (openGroups === 0) for (const abort of abortsAfterGroup.splice(0)) abort();
    }
  }
}

export class Communicator {
  #broken: KilnError | undefined;

  /** `who` names this member in messages: "rank 1 of a group of 4". */
  constructor(
    private readonly nccl: NcclCalls,
    readonly handle: NcclComm,
    private readonly who: string,
  ) {}

  /** Why the communicator can no longer be used (a failure, or destroy()), if it cannot. */
  get broken(): KilnError | undefined {
    return this.#broken;
  }

  /**
   * The first failure aborts the communicator, once (its handle is dead afterwards; inside an NCCL
   * group, once the group has ended); the failure every later call reports.
   */
  fail(e: KilnError): KilnError {
    if (this.#broken) return this.#broken;
    this.#broken = e;
    const abort = () => {
      try {
        this.nccl.abort(this.handle);
      } catch {
        // already aborted or destroyed
      }
    };
    if (openGroups > 0) abortsAfterGroup.push(abort);
    else abort();
    return e;
  }

  private timedOut(what: string, ms: number): KilnError {
    return new KilnError('E_DIST_TIMEOUT', `${what}: ${this.who} did not complete within ${ms} ms; the communicator was aborted`);
  }

  /**
   * Throws unless an enqueueing call (a collective, ncclGroupEnd) succeeded. ncclInProgress is first
   * waited for until NCCL has enqueued the call, or until `deadline` (a Date.now() time), which aborts.
   */
  enqueued(fn: string, result: number, deadline: number): void {
    if (this.#broken) throw this.#broken;
    let r = result;
    if (r === NCCL_IN_PROGRESS) r = this.nccl.settle(this.handle, Math.max(0, deadline - Date.now()));
    if (r === 0) return;
    if (r === NCCL_IN_PROGRESS)
      throw this.fail(new KilnError('E_DIST_TIMEOUT', `${fn}: ${this.who} was still waiting for NCCL to enqueue the call at its deadline; the communicator was aborted`));
    const e = ncclFailure(fn, r, this.nccl.errorString(r));
    // a bad argument to a blocking communicator leaves it usable; an error that is now its state ends it
    throw this.nccl.asyncError(this.handle) !== 0 ? this.fail(e) : e;
  }

  /** Polls (from timers) until a pending init or finalize is done: its final state, or ncclInProgress at the deadline. */
  private async pending(timeoutMs: number): Promise<number> {
    const started = Date.now();
    for (let pause = 1; ; pause = Math.min(2 * pause, POLL_MS)) {
      const r = this.nccl.asyncError(this.handle);
      if (r !== NCCL_IN_PROGRESS || Date.now() - started >= timeoutMs) return r;
      await sleep(Math.min(pause, Math.max(1, timeoutMs - (Date.now() - started))));
    }
  }

  /** Resolves once a nonblocking init has finished; an error or the deadline aborts the communicator. */
  async ready(fn: string, timeoutMs: number): Promise<void> {
    const r = await this.pending(timeoutMs);
    if (r === NCCL_IN_PROGRESS) throw this.fail(this.timedOut(fn, timeoutMs));
    if (r !== 0) throw this.fail(ncclFailure(fn, r, this.nccl.errorString(r)));
  }

  /**
   * Resolves with `done` (a call's device work), while a watchdog polls the communicator: an
   * asynchronous error, or the call outliving timeoutMs, aborts it. Work that completes after another
   * call's failure (or destroy()) fails too, since the abort may have cut it short.
   */
  watch(name: string, timeoutMs: number, done: Promise<void>): Promise<void> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const stop = (e?: KilnError) => {
        clearInterval(timer);
        if (!e && !this.#broken) return resolve();
        reject(e ? this.fail(e) : this.#broken);
      };
      const timer = setInterval(() => {
        if (this.#broken) return stop();
        const r = this.nccl.asyncError(this.handle);
        if (r !== 0 && r !== NCCL_IN_PROGRESS) stop(ncclFailure(name, r, this.nccl.errorString(r)));
        else if (Date.now() - started > timeoutMs) stop(this.timedOut(name, timeoutMs));
      }, POLL_MS);
      done.then(
        () => stop(),
        (e: unknown) => stop(e instanceof KilnError ? e : new KilnError('E_NCCL', String(e))),
      );
    });
  }

  /**
   * Ends the communicator with `why` (later calls throw it): outstanding work is flushed
   * (ncclCommFinalize, within timeoutMs, else aborted) and NCCL's resources freed. After a failure
   * the abort has freed them already, and nothing is left to do.
   */
  async destroy(why: KilnError, timeoutMs: number): Promise<void> {
    if (this.#broken) return;
    this.#broken = why;
    let r = this.nccl.finalize(this.handle);
    if (r === NCCL_IN_PROGRESS) r = await this.pending(timeoutMs);
    if (r !== 0) {
      const e = r === NCCL_IN_PROGRESS ? this.timedOut('ncclCommFinalize', timeoutMs) : ncclFailure('ncclCommFinalize', r, this.nccl.errorString(r));
      try {
        this.nccl.abort(this.handle);
      } catch {
        // already dead
      }
      throw e;
    }
    r = this.nccl.destroy(this.handle);
    if (r !== 0) throw ncclFailure('ncclCommDestroy', r, this.nccl.errorString(r));
  }
}
