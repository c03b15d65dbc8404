// Data faults: an error an op can only find on the device, in the values it reads (Gather's index out
// of range, DATA_CHECKED_OPS). A fault belongs to the tensors the op wrote and to everything computed
// from them (the lineage is followed at enqueue, in ops/run.ts and ops/cast.ts): reading any of those
// rejects with it; reading anything else, and kiln.sync(), do not. So in a service, one request's bad
// index never rejects another request's read, and a request that fails for another reason leaves
// nothing behind for the next one.
//
// The backend that ran the op settles its fault by its next sync point (Backend.run): the CPU and
// CUDA tag the launch with an id and report what it found under that id; WebGPU's Gather check
// settles its fault itself.
import { KilnError } from './errors.js';

/** Ops whose kernels check values they read (indices) and report what they find as a Fault. */
export const DATA_CHECKED_OPS: ReadonlySet<string> = new Set(['Gather']);

let currentLabel: (() => string) | undefined;

/**
 * Runs `fn` with `label` naming the faults of the ops it enqueues before it returns (the ONNX node
 * being run): their errors read "<label>: Gather: index ...". An async `fn`'s ops after its first
 * await are not named (another node may be running by then).
 */
export function labelFaults<T>(label: () => string, fn: () => T): T {
  const outer = currentLabel;
  currentLabel = label;
  try {
    return fn();
  } finally {
    currentLabel = outer;
  }
}

export class Fault {
  #state: 'pending' | 'passed' | KilnError = 'pending';
  readonly #label = currentLabel;
  /** `settle` runs the sync point of the device the op ran on, which settles this fault. */
  constructor(private readonly settle: () => Promise<void>) {}

  pass(): void {
    if (this.#state === 'pending') this.#state = 'passed';
  }
  fail(error: KilnError): void {
    if (this.#state === 'pending') this.#state = this.#label ? new KilnError(error.code, `${this.#label()}: ${error.message}`) : error;
  }
  get passed(): boolean {
    return this.#state === 'passed';
  }

  /** The error the op found, or undefined; waits for the op's device when still unknown. */
  async error(): Promise<KilnError | undefined> {
    if (this.#state === 'pending') await this.settle();
    if (this.#state === 'pending') return new KilnError('E_NATIVE', 'a data check was not settled by its device\'s sync point');
    return this.#state === 'passed' ? undefined : this.#state;
  }
}

/**
 * A native backend's faults not yet settled, by the id their launch carries; ids grow in launch
 * order, and the device runs launches in that order.
 */
export class FaultLedger {
  #pending = new Map<number, Fault>();

  #last = 0;

  track(id: number, fault: Fault): void {
    this.#pending.set(id, fault);
    this.#last = Math.max(this.#last, id);
  }
  get empty(): boolean {
    return this.#pending.size === 0;
  }
  /** The largest id tracked so far (0: none). */
  get last(): number {
    return this.#last;
  }
  /** The pending ids up to `id`, in launch order. */
  idsUpTo(id: number): number[] {
    const ids: number[] = [];
    for (const k of this.#pending.keys()) {
      if (k > id) break;
      ids.push(k);
    }
    return ids;
  }
  fail(id: number, error: KilnError): void {
    this.#pending.get(id)?.fail(error);
    this.#pending.delete(id);
  }
  /** Every pending fault up to `id` not failed by now passed: its launch has run. */
  passUpTo(id: number): void {
    for (const k of this.idsUpTo(id)) {
      this.#pending.get(k)!.pass();
      this.#pending.delete(k);
    }
  }
}

/**
 * The faults of a write: those of what it reads and of what it writes into (a partial write keeps the
 * destination's), plus its own; faults known to have passed are dropped. Undefined when none.
 */
export function inherit(sources: readonly (readonly Fault[] | undefined)[], own?: Fault): Fault[] | undefined {
  let out: Fault[] | undefined;
  const add = (f: Fault) => {
    if (f.passed || out?.includes(f)) return;
    (out ??= []).push(f);
  };
  for (const s of sources) if (s) for (const f of s) add(f);
  if (own) add(own);
  return out;
}

/** Rejects with the first fault that failed (in the order the ops were enqueued). */
export async function checkFaults(faults: readonly Fault[] | undefined): Promise<void> {
  if (!faults) return;
  for (const f of faults) {
    const e = await f.error();
    if (e) throw new KilnError(e.code, e.message);
  }
}
