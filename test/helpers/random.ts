// A seeded PRNG for test inputs. The seed is fresh every run (KILN_TEST_SEED replays one) and is
// printed once per test file, so any failure can be reproduced with `KILN_TEST_SEED=<seed> npx vitest run <file>`.

function pickSeed(): number {
  const env = process.env.KILN_TEST_SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`KILN_TEST_SEED must be a non-negative integer, got '${env}'`);
    return n >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

export const SEED = pickSeed();
console.log(`seed=${SEED} (replay with KILN_TEST_SEED=${SEED})`);

/** mulberry32: small, fast, good enough for test data. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  /** Integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  normal(): number {
    const u1 = 1 - this.next(), u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)];
  }
  /** A new 32-bit seed (for kiln.rand/randn seeds derived from the run's seed). */
  seed(): number {
    return Math.floor(this.next() * 2 ** 32);
  }
}

/** The file's generator: every test draws from it, so a seed replays the whole file. */
export const rng = new Rng(SEED);

function hash32(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; ++i) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * A generator for one test, keyed by the file's seed and the test's name, so that replaying one
 * test alone (`-t name`) with KILN_TEST_SEED draws the same inputs as the full run did.
 */
export function rngFor(name: string): Rng {
  return new Rng(hash32(name, SEED ^ 0x9e3779b9));
}
