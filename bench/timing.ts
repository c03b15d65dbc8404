// Timing helpers shared by the benchmark suites: warm up, then take the median of many samples.

export interface Timing {
  /** Median milliseconds per run. */
  median: number;
  min: number;
  samples: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Calls `sample(reps)` (which returns the total ms for `reps` back-to-back runs) after `warmup`
 * calls, choosing reps so one sample lasts about `targetMs`, until `budgetMs` is spent or
 * `maxSamples` are taken; returns per-run figures.
 */
export async function measure(
  sample: (reps: number) => Promise<number>,
  { warmup = 2, targetMs = 40, budgetMs = 1500, minSamples = 5, maxSamples = 25 } = {},
): Promise<Timing> {
  let one = 0;
  for (let i = 0; i < warmup; ++i) one = await sample(1);
  const reps = Math.max(1, Math.min(1000, Math.round(targetMs / Math.max(one, 1e-3))));
  const per: number[] = [];
  const t0 = performance.now();
  while (per.length < minSamples || (per.length < maxSamples && performance.now() - t0 < budgetMs)) {
    per.push((await sample(reps)) / reps);
  }
  return { median: median(per), min: Math.min(...per), samples: per.length };
}
