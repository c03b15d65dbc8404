import { sameShape } from '../shape.js';
import { Tensor } from '../tensor.js';

/**
 * Intermediate tensors an op front end makes (casts, broadcast views, 0-d scalars) and releases once
 * its kernel is enqueued. Freeing is stream-ordered, so releasing right after enqueue is safe.
 */
export class Temps {
  private list: Tensor[] = [];
  /** Registers a temporary, unless it is the caller's own tensor. */
  add(t: Tensor, owned = true): Tensor {
    if (owned) this.list.push(t);
    return t;
  }
  /** t broadcast to shape: t itself when it has that shape already (no view to make and release). */
  expand(t: Tensor, shape: readonly number[]): Tensor {
    return sameShape(t.shape, shape) ? t : this.add(t.broadcastView('broadcast', shape));
  }
  dispose(): void {
    for (const t of this.list) t.dispose();
    this.list = [];
  }
}

/** Runs fn with a Temps that is disposed afterwards, whether fn returns or throws. */
export function withTemps<T>(fn: (temps: Temps) => T): T {
  const temps = new Temps();
  try {
    return fn(temps);
  } finally {
    temps.dispose();
  }
}
