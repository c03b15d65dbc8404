// Dynamic batching for services: concurrent requests to one InferenceSession, each of a few rows,
// are joined along dim 0 into one run and its outputs split back by rows. A model that runs 32 rows
// in little more time than one (a matmul reads its weights once either way) then serves many
// callers for the cost of one run.
//
// When: maxInFlight batches run at a time (1 unless given). A request that finds a free slot runs at
// once (with the requests made in the same turn of the event loop), so a lone caller waits for
// nothing; requests that arrive while every slot runs wait for a batch to finish (its outputs
// computed on the device) and then run together, up to maxBatch rows. The batch size thus follows
// the load. maxDelayMs > 0 holds a group's first request that long, for larger batches at moderate
// load. A second slot overlaps one batch's JS work (joining, splitting, answering) with another's
// kernels: at 8 clients of bench/serve.ts, 1.2-1.5x the requests/s and a lower p50
// (bench/results/serve-cpu.md); at 64 clients, where the CPU is busy anyway, no more.
//
// What: requests join only requests of the same signature: the same input names, dtypes, devices
// and dims after the first, and the same outputs asked for. Each request gets views of the batch's
// outputs (rows r0..r1 of dim 0); every output must have the batch's rows as its dim 0. Where a
// batched run fails, finds a data fault (an index out of range: it would spoil every request's
// rows, see src/faults.ts), or gives an output without that dim, its requests run one by one, so
// one bad request fails alone and a model that cannot be batched still answers right.
import { abortable, signalArg } from '../abort.js';
import { disposeAll } from '../lifetime.js';
import { describeValue, optionsArg } from '../args.js';
import { resolveDevice } from '../backends/backend.js';
import { fail } from '../errors.js';
import { checkFaults } from '../faults.js';
import { concat } from '../ops/shape-ops.js';
import type { InferenceSession, RunOptions } from '../onnx/session.js';
import { Tensor } from '../tensor.js';

export interface BatcherOptions {
  /** Rows (dim 0, summed over the requests) per batched run: 32 unless given. */
  maxBatch?: number;
  /** How long a group's first request waits for others even when a slot is free: 0 ms unless given. */
  maxDelayMs?: number;
  /** Batches running at once: 1 unless given. */
  maxInFlight?: number;
}

export interface BatcherStats {
  /** Requests taken into runs (answered, failed, or running now). */
  requests: number;
  /** Runs of the session: batches, requests run alone, and one-by-one runs after a failed batch. */
  runs: number;
  /** Batches of two or more requests that ran as one. */
  batched: number;
  /** Batches that ran one by one after all (the batched run failed, or an output had no batch dim). */
  fallbacks: number;
}

interface Request {
  feeds: Record<string, Tensor>;
  rows: number;
  /** The caller's signal: passed on when the request runs alone. */
  signal?: AbortSignal;
  resolve: (out: Record<string, Tensor>) => void;
  reject: (e: unknown) => void;
}

interface Group {
  /** The run options every request of the group asked for (its outputs). */
  options?: RunOptions;
  queue: Request[];
  rows: number;
  /** When the first queued request arrived (performance.now()). */
  since: number;
}

const OPTION_KEYS = ['maxBatch', 'maxDelayMs', 'maxInFlight'] as const;

/** Batches concurrent `run` calls to `session` (which stays the caller's: close() does not dispose it). */
export class Batcher {
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  readonly maxInFlight: number;
  readonly #session: InferenceSession;
  readonly #groups = new Map<string, Group>();
  readonly #running = new Set<Promise<void>>();
  #pumpQueued = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #stats: BatcherStats = { requests: 0, runs: 0, batched: 0, fallbacks: 0 };

  constructor(session: InferenceSession, options?: BatcherOptions) {
    if (typeof session !== 'object' || session === null || typeof (session as InferenceSession).run !== 'function')
      fail('E_ARGUMENT', `serve.batcher: session must be an InferenceSession (from kiln.onnx.load), got ${describeValue(session)}`);
    const o = optionsArg('serve.batcher', options, OPTION_KEYS);
    this.maxBatch = o.maxBatch ?? 32;
    this.maxDelayMs = o.maxDelayMs ?? 0;
    this.maxInFlight = o.maxInFlight ?? 1;
    for (const name of ['maxBatch', 'maxInFlight'] as const)
      if (!Number.isSafeInteger(this[name]) || this[name] < 1) fail('E_ARGUMENT', `serve.batcher: ${name} must be a positive integer, got ${describeValue(o[name])}`);
    if (typeof this.maxDelayMs !== 'number' || !(this.maxDelayMs >= 0) || !Number.isFinite(this.maxDelayMs))
      fail('E_ARGUMENT', `serve.batcher: maxDelayMs must be a finite number >= 0, got ${describeValue(o.maxDelayMs)}`);
    this.#session = session;
  }

  /** Counts so far (a copy). */
  get stats(): BatcherStats {
    return { ...this.#stats };
  }

  /**
   * Runs `feeds` (every input with its rows along dim 0, the same number of rows in each) as part of
   * a batch; resolves with this request's rows of each output, which belong to the caller. The feeds
   * stay the caller's; keep them alive until the promise settles.
   * `signal` (an AbortSignal) rejects the call with E_ABORTED when it fires: a request still waiting
   * is withdrawn (it never runs), one in a running batch has its rows dropped, and one running alone
   * (the only request of its batch) passes the signal to the session's run.
   */
  run(feeds: Record<string, Tensor>, options?: Pick<RunOptions, 'outputs' | 'signal'>): Promise<Record<string, Tensor>> {
    try {
      if (this.#closed) fail('E_ARGUMENT', 'serve.batcher: run after close()');
      const { outputs, signal: s } = optionsArg('serve.batcher run', options, ['outputs', 'signal']);
      const signal = signalArg('serve.batcher run', s);
      const { key, rows } = signature(feeds, outputs);
      let request: Request | undefined;
      const answer = new Promise<Record<string, Tensor>>((resolve, reject) => {
        request = { feeds, rows, signal, resolve, reject };
      });
      const withdraw = () => this.#withdraw(key, request!);
      const result = abortable('serve.batcher run', answer, signal, disposeAll, withdraw);
      if (signal?.aborted) return result; // refused before it was queued
      let g = this.#groups.get(key);
      if (!g) this.#groups.set(key, (g = { options: outputs ? { outputs } : undefined, queue: [], rows: 0, since: performance.now() }));
      g.queue.push(request!);
      g.rows += rows;
      this.#schedulePump();
      return result;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Takes an aborted request out of its group's queue, if it is still there (not yet in a batch). */
  #withdraw(key: string, r: Request): void {
    const g = this.#groups.get(key);
    const at = g ? g.queue.indexOf(r) : -1;
    if (!g || at < 0) return;
    g.queue.splice(at, 1);
    g.rows -= r.rows;
    if (!g.queue.length) this.#groups.delete(key);
  }

  /** Runs what is queued without waiting out maxDelayMs, waits for every run, and refuses later requests. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    while (this.#running.size || this.#groups.size) {
      this.#pump();
      if (!this.#running.size) break; // (closed: every queued request is due, so pump took them)
      await Promise.race(this.#running);
    }
  }

  /** A pump after the requests of this turn of the event loop have joined their groups. */
  #schedulePump(): void {
    if (this.#pumpQueued || this.#running.size >= this.maxInFlight) return; // a batch that ends pumps
    this.#pumpQueued = true;
    setImmediate(() => {
      this.#pumpQueued = false;
      this.#pump();
    });
  }

  /**
   * Starts batches while a slot is free: each from the group whose first request is oldest, among
   * those full or past maxDelayMs (every group once closed); else arms a timer for the first due.
   */
  #pump(): void {
    if (this.#running.size >= this.maxInFlight) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = performance.now();
    let pick: [string, Group] | undefined;
    let due = Infinity;
    for (const entry of this.#groups) {
      const g = entry[1];
      const at = g.rows >= this.maxBatch || this.#closed ? -Infinity : g.since + this.maxDelayMs;
      if (at <= now) {
        if (!pick || g.since < pick[1].since) pick = entry;
      } else due = Math.min(due, at);
    }
    if (!pick) {
      if (due < Infinity) this.#timer = setTimeout(() => this.#pump(), due - now);
      return;
    }
    const [key, g] = pick;
    const batch: Request[] = [];
    let rows = 0;
    while (g.queue.length && (!batch.length || rows + g.queue[0].rows <= this.maxBatch)) {
      const r = g.queue.shift()!;
      batch.push(r);
      rows += r.rows;
    }
    g.rows -= rows;
    if (!g.queue.length) this.#groups.delete(key);
    else g.since = now; // what is left waits as a group of its own age
    const running: Promise<void> = this.#runBatch(batch, rows, g.options).finally(() => {
      this.#running.delete(running);
      this.#pump();
    });
    this.#running.add(running);
    this.#pump(); // another slot may be free
  }

  async #runBatch(batch: Request[], rows: number, options: RunOptions | undefined): Promise<void> {
    this.#stats.requests += batch.length;
    if (batch.length === 1) return this.#runAlone(batch[0], options);
    let joined: Record<string, Tensor> | undefined;
    let out: Record<string, Tensor> | undefined;
    try {
      joined = Object.fromEntries(Object.keys(batch[0].feeds).map((name) => [name, concat(batch.map((r) => r.feeds[name]), 0)]));
      this.#stats.runs++;
      out = await this.#session.run(joined, options);
      // A data fault (an index out of range) spoils the whole output it flowed into, every request's
      // rows: wait for the batch's checks, and on a fault let each request find its own alone.
      for (const t of Object.values(out)) await checkFaults(t.storageFor('serve.batcher').faults);
      if (Object.values(out).every((t) => t.rank >= 1 && t.shape[0] === rows)) {
        await this.#computed();
        this.#stats.batched++;
        let r0 = 0;
        for (const r of batch) {
          const mine = Object.fromEntries(Object.entries(out).map(([name, t]) => [name, t.slice(0, r0, r0 + r.rows)]));
          r0 += r.rows;
          r.resolve(mine);
        }
        return;
      }
    } catch {
      // the batch as a whole failed: each request runs alone below and gets its own answer
    } finally {
      if (joined) disposeAll(joined);
      if (out) disposeAll(out); // the requests' views keep their rows
    }
    this.#stats.fallbacks++;
    await Promise.all(batch.map((r) => this.#runAlone(r, options)));
  }

  async #runAlone(r: Request, options: RunOptions | undefined): Promise<void> {
    this.#stats.runs++;
    try {
      const out = await this.#session.run(r.feeds, r.signal ? { ...options, signal: r.signal } : options);
      await this.#computed();
      r.resolve(out);
    } catch (e) {
      r.reject(e);
    }
  }

  /** Waits for the session's device to finish what is queued: the batch is done, the next may start. */
  async #computed(): Promise<void> {
    const d = resolveDevice(this.#session.device);
    await d.backend.sync(d.index).catch(() => {}); // a device error reaches the reads of the outputs
  }
}

/** The key that requests must share to run together, and the request's rows. */
function signature(feeds: Record<string, Tensor>, outputs: readonly string[] | undefined): { key: string; rows: number } {
  if (typeof feeds !== 'object' || feeds === null || Array.isArray(feeds)) fail('E_ARGUMENT', `serve.batcher run: feeds must be an object of tensors, got ${describeValue(feeds)}`);
  if (outputs !== undefined && (!Array.isArray(outputs) || !outputs.every((n) => typeof n === 'string')))
    fail('E_ARGUMENT', `serve.batcher run: outputs must be an array of output names, got ${describeValue(outputs)}`);
  const names = Object.keys(feeds).sort();
  if (!names.length) fail('E_ARGUMENT', 'serve.batcher run: feeds hold no input');
  let rows = -1;
  let key = `${JSON.stringify(outputs ?? null)}`;
  for (const name of names) {
    const t = feeds[name];
    if (!(t instanceof Tensor)) fail('E_ARGUMENT', `serve.batcher run: feed '${name}' must be a Tensor, got ${describeValue(t)}`);
    if (t.rank === 0) fail('E_SHAPE', `serve.batcher run: feed '${name}' ${t.describe()} has no dim 0 to batch along`);
    if (rows >= 0 && t.shape[0] !== rows) fail('E_SHAPE', `serve.batcher run: every feed needs the same rows (dim 0): '${name}' ${t.describe()} has ${t.shape[0]}, another ${rows}`);
    rows = t.shape[0];
    key += `\u0001${name}:${t.dtype}:${t.device}:${t.shape.slice(1).join(',')}`;
  }
  if (rows === 0) fail('E_SHAPE', 'serve.batcher run: a request of 0 rows');
  return { key, rows };
}

/** A Batcher over `session`: see Batcher. */
export function batcher(session: InferenceSession, options?: BatcherOptions): Batcher {
  return new Batcher(session, options);
}
