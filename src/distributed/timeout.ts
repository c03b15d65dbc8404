import type { KilnError } from '../errors.js';

/** p, or the error from `late()` if p has not settled within ms (the timer never outlives the race). */
export async function withTimeout<T>(p: Promise<T>, ms: number, late: () => KilnError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
