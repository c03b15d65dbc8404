// The CPU's vectorized math (kernels/cpu/vmath*.cc) against the scalar libm loops it replaces, through
// the public API: each kernel set (KILN_CPU_ISA=avx512|avx2|portable) runs in a child process, since
// the set is picked once per process, and the table quotes each op's time with ratio to the portable
// (scalar) set measured in the same run, next to Add of the same shape (the memory-bound floor).
//   npm run build:ts && node dist/bench/vmath.js            (all sets the CPU has)
//   KILN_CPU_ISA=avx2 node dist/bench/vmath.js --child         (one set, JSON rows)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as kiln from '../src/index.js';
import { measure } from './timing.js';

interface Row {
  op: string;
  shape: number[];
  ms: number;
}

const CASES: { op: string; shape: number[]; run: (x: kiln.Tensor) => kiln.Tensor }[] = [
  { op: 'gelu', shape: [1, 128, 3072], run: (x) => x.gelu() },
  { op: 'gelu(tanh)', shape: [1, 128, 3072], run: (x) => x.gelu({ approximate: 'tanh' }) },
  { op: 'erf', shape: [1, 128, 3072], run: (x) => x.erf() },
  { op: 'exp', shape: [1, 128, 3072], run: (x) => x.exp() },
  { op: 'tanh', shape: [1, 128, 3072], run: (x) => x.tanh() },
  { op: 'sigmoid', shape: [1, 128, 3072], run: (x) => x.sigmoid() },
  { op: 'log', shape: [1, 128, 3072], run: (x) => x.abs().log() },
  { op: 'softmax', shape: [1, 12, 128, 128], run: (x) => kiln.softmax(x, -1) },
  { op: 'layerNorm', shape: [1, 128, 768], run: (x) => x.layerNorm() },
  { op: 'add', shape: [1, 128, 3072], run: (x) => x.add(x) },
];

async function child(): Promise<void> {
  const rows: Row[] = [];
  for (const c of CASES) {
    const x = kiln.randn(c.shape, { seed: 1 });
    const input = c.op === 'log' ? x.abs() : x;
    const run = c.op === 'log' ? (t: kiln.Tensor) => t.log() : c.run;
    const t = await measure(async (reps) => {
      await kiln.sync();
      const t0 = performance.now();
      for (let i = 0; i < reps; ++i) run(input).dispose();
      await kiln.sync();
      return performance.now() - t0;
    }, { targetMs: 2, budgetMs: 600, minSamples: 10, maxSamples: 40 }); // short samples: a long one queues hundreds of outputs
    rows.push({ op: c.op, shape: c.shape, ms: t.median });
    x.dispose();
    if (input !== x) input.dispose();
  }
  console.log(JSON.stringify({ set: kiln.devices().find((d) => d.id === 'cpu')?.details.isa, rows }));
}

function main(): void {
  // the host's own kernel set and every lower one
  const isas = ['avx512', 'avx2', 'portable'];
  const sets = isas.slice(Math.max(0, isas.indexOf(kiln.devices().find((d) => d.id === 'cpu')?.details.isa as string))).reverse();
  const results = sets.map((set) => {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child'], { env: { ...process.env, KILN_CPU_ISA: set }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`bench child for ${set} failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { set: string; rows: Row[] };
  });
  const cpu = kiln.devices().find((d) => d.id === 'cpu');
  console.log(`CPU vectorized math, ${cpu?.name}, ${cpu?.details.threads} threads; median ms per op (ratio: portable / set)`);
  console.log(['op', 'shape', ...results.map((r) => r.set)].join('\t'));
  for (let i = 0; i < CASES.length; ++i) {
    const base = results[0].rows[i].ms;
    const cells = results.map((r) => (r === results[0] ? base.toFixed(3) : `${r.rows[i].ms.toFixed(3)} (${(base / r.rows[i].ms).toFixed(1)}x)`));
    console.log([CASES[i].op, `[${CASES[i].shape}]`, ...cells].join('\t'));
  }
}

if (process.argv.includes('--child')) await child();
else main();
