// Cancellation by AbortSignal, the Node idiom (fetch, fs, timers/promises): a call that takes
// `{ signal }` rejects with E_ABORTED once the signal fires, naming the signal's reason, and whatever
// it would have returned afterwards is disposed, never leaked. How far the work itself stops is the
// caller's business: an ONNX run stops at its next node or Loop iteration (kernels already queued
// finish); a batcher request still queued is withdrawn; an onnxruntime run already started ends
// in its own time, its outputs dropped.
import { describeValue } from './args.js';
import { KilnError, fail } from './errors.js';

/** The `signal` option: undefined, or an AbortSignal (E_ARGUMENT naming the call otherwise). */
export function signalArg(op: string, v: unknown): AbortSignal | undefined {
  if (v === undefined) return undefined;
  if (!(v instanceof AbortSignal)) fail('E_ARGUMENT', `${op}: signal must be an AbortSignal, got ${describeValue(v)}`);
  return v;
}

/** The error for a call that `signal` stopped; its reason is kept as `cause`. */
export function abortError(op: string, signal: AbortSignal): KilnError {
  const r: unknown = signal.reason;
  const why = r instanceof Error ? `${r.name}: ${r.message}` : describeValue(r);
  return new KilnError('E_ABORTED', `${op}: aborted by its signal (${why})`, { cause: r });
}

/** Throws E_ABORTED when `signal` has fired. */
export function throwIfAborted(op: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(op, signal);
}

/**
 * `work`'s outcome, or E_ABORTED as soon as `signal` fires, whichever comes first. A value that
 * arrives after the abort goes to `drop` (dispose it); `onAbort` runs at the abort (withdraw the
 * work where it has not started). The listener is removed once settled, so one long-lived signal
 * can serve any number of calls.
 */
export function abortable<T>(op: string, work: Promise<T>, signal: AbortSignal | undefined, drop: (late: T) => void, onAbort?: () => void): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    let aborted = false;
    const abort = () => {
      aborted = true;
      onAbort?.();
      reject(abortError(op, signal));
    };
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', abort);
        if (aborted) drop(v);
        else resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', abort);
        if (!aborted) reject(e); // after an abort, the work's own failure (E_ABORTED itself, mostly) has no one to tell
      },
    );
  });
}
