// The CPU's vectorized float32 math (kernels/cpu/vmath*.cc): every kernel set the CPU can run
// (KILN_CPU_ISA=avx512|avx2|portable, each in a child process since the set is picked once per
// process) computes exp, log, tanh, erf, sigmoid, silu, gelu and gelu(tanh) over a sweep of the
// whole float32 range (a stride through every bit pattern: subnormals, huge values, NaNs), the
// specials (+-0, +-inf, NaN, overflow and underflow edges, the approximations' switch points and
// their neighbours) and a dense middle; results are checked in ulps against the float64 references
// of helpers/reference.ts. Runs of 1..40 elements at odd offsets (the vector tails) must match the
// long run bit for bit, and Softmax/LogSoftmax rows (which use the set's exp and max) and
// LayerNormalization/RMSNormalization rows (the set's row sums and normalize) match float64.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { cpuIsaSets } from './helpers/backends.js';
import { DIST_INDEX, assertDistFresh, ending, runNode } from './helpers/dist.js';
import { expectValues, ulpError } from './helpers/compare.js';
import { rngFor } from './helpers/random.js';
import * as R from './helpers/reference.js';

const f32 = Math.fround;
const FLT_MAX = 3.4028234663852886e38;

/** Float32 neighbours of v: v itself and `k` steps either way. */
function around(v: number, k = 2): number[] {
  const b = new Float32Array(1), u = new Uint32Array(b.buffer);
  b[0] = v;
  const out: number[] = [];
  const base = u[0];
  for (let d = -k; d <= k; ++d) {
    u[0] = (base + d) >>> 0;
    out.push(b[0]);
  }
  return out;
}

/** The sweep: a stride through all 2^32 bit patterns, the specials, a dense middle; a length that is no multiple of 16. */
function sweepInputs(): Float32Array {
  const v: number[] = [];
  const b = new Float32Array(1), u = new Uint32Array(b.buffer);
  for (let bitsv = 0; bitsv < 2 ** 32; bitsv += 8191) {
    u[0] = bitsv;
    v.push(b[0]);
  }
  const edges = [0, 2 ** -149, 2 ** -126, 1e-30, 1e-7, 0.5, 0.625, 0.875, 1, 2, 3.92, 9.01, 10.5, 20, 30, 87.3365, 88.7228, 89, 103.97, 104, 150, 1e10, 2 ** 62, FLT_MAX];
  for (const e of edges) for (const n of around(e)) v.push(n, -n);
  v.push(Infinity, -Infinity, NaN, -0);
  const r = rngFor('vmath sweep');
  for (let i = 0; i < 100_000; ++i) v.push(r.uniform(-12, 12));
  for (let i = 0; i < 20_000; ++i) v.push(r.uniform(0, 3));
  while (v.length % 16 !== 7) v.push(r.uniform(-1, 1));
  return Float32Array.from(v);
}

interface MathOp {
  name: string;
  /** The op through the public API, as the child calls it (a method of Tensor). */
  call: string;
  ref: (x: number) => number;
  /** Allowed error in ulps at x for the SIMD sets (and for the portable set's libm where `portable` is absent). */
  ulps: (x: number) => number;
  /** The portable set (scalar libm formulas) is checked only where this holds. */
  portable?: (x: number) => boolean;
}

/** |x f'(x) / f(x)|: how many ulps the output moves per ulp of error in an intermediate argument. */
function conditioning(f: (x: number) => number, x: number): number {
  const y = f(x);
  if (!Number.isFinite(y) || y === 0 || x === 0 || !Number.isFinite(x)) return 0;
  const h = 1e-7 * Math.abs(x);
  return Math.abs(((f(x + h) - f(x - h)) / (2 * h)) * (x / y));
}

const OPS: MathOp[] = [
  { name: 'exp', call: 'exp()', ref: Math.exp, ulps: () => 1.5 },
  { name: 'log', call: 'log()', ref: Math.log, ulps: () => 1.5 },
  { name: 'tanh', call: 'tanh()', ref: Math.tanh, ulps: () => 2.5 },
  { name: 'erf', call: 'erf()', ref: R.erf, ulps: () => 3 },
  // The scalar formulas 1 / (1 + e^-x) and x / (1 + e^-x) overflow e^-x below -88.7.
  { name: 'sigmoid', call: 'sigmoid()', ref: R.sigmoid, ulps: () => 3, portable: (x) => x > -87 },
  { name: 'silu', call: 'silu()', ref: (x) => x * R.sigmoid(x), ulps: () => 4, portable: (x) => x > -87 },
  // The scalar formula 0.5 x (1 + erf(x / sqrt2)) cancels for x < 0 (1 + erf loses the bits that
  // erf's ulp near -1 cannot hold): the portable set is held to the tolerance only above -0.5.
  { name: 'gelu', call: 'gelu()', ref: R.gelu, ulps: () => 7, portable: (x) => x > -0.5 },
  // z = sqrt(2/pi) (x + 0.044715 x^3) is rounded in float32 before exp sees it: the error grows
  // with the conditioning (about 2|z| for x < 0).
  { name: 'gelu(tanh)', call: "gelu({ approximate: 'tanh' })", ref: R.geluTanh, ulps: (x) => 4 + 2 * conditioning(R.geluTanh, x), portable: (x) => x > -0.5 },
];

const dir = mkdtempSync(join(tmpdir(), 'kiln-vmath-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const inputs = sweepInputs();
const inputPath = join(dir, 'x.f32');
writeFileSync(inputPath, inputs);
const TAIL_OFFSET = 3, TAIL_MAX = 40;
/** The softmax input [33, 157] from the sweep's first values: row 0 subnormals, a NaN in row 1, a -inf in row 2, the rest up to +-30. */
const softmaxRows = (v: number, i: number): number => (i < 157 ? v : i === 160 ? NaN : i === 320 ? -Infinity : Math.sin(i) * 30);
/** The LayerNormalization / RMSNormalization input [33, 157]: row 0 subnormals, the rest up to +-23. */
const normRows = (v: number, i: number): number => (i < 157 ? v : Math.sin(i * 0.37) * 20 + 3);
const normScale = (j: number) => Math.cos(j), normBias = (j: number) => j / 100 - 0.5;

/** The child: each op over the sweep, then runs of 1..TAIL_MAX at an odd offset; softmax rows; raw float32 out. */
const child = (outPath: string) => `
import * as kiln from ${JSON.stringify(DIST_INDEX)};
const softmaxRows = ${softmaxRows.toString()};
const normRows = ${normRows.toString()}, normScale = ${normScale.toString()}, normBias = ${normBias.toString()};
import { readFileSync, writeFileSync } from 'node:fs';
const buf = readFileSync(${JSON.stringify(inputPath)});
const x = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
const t = kiln.tensor(x);
const parts = [];
const ops = [${OPS.map((o) => `(v) => v.${o.call}`).join(', ')}];
for (const f of ops) {
  parts.push(await f(t).data());
  for (let n = 1; n <= ${TAIL_MAX}; ++n) parts.push(await f(kiln.tensor(x.subarray(${TAIL_OFFSET}, ${TAIL_OFFSET} + n))).data());
}
const s = kiln.tensor(x.subarray(0, 33 * 157).map(softmaxRows), { shape: [33, 157] });
parts.push(await kiln.softmax(s, -1).data(), await kiln.logSoftmax(s, -1).data());
const ln = kiln.tensor(x.subarray(0, 33 * 157).map(normRows), { shape: [33, 157] });
const scale = kiln.tensor(Float32Array.from({ length: 157 }, (_, j) => normScale(j))), bias = kiln.tensor(Float32Array.from({ length: 157 }, (_, j) => normBias(j)));
parts.push(await kiln.layerNorm(ln, { axis: 1, epsilon: 1e-5, scale, bias }).data(), await kiln.rmsNorm(ln, { axis: 1, epsilon: 1e-6, scale }).data());
writeFileSync(${JSON.stringify(outPath)}, Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
console.log(kiln.devices().find((d) => d.id === 'cpu').details.isa);
`;

/** The sets this CPU can run, from the features the addon reports. */
/** Reference values per op, computed once for every set. */
const refs = new Map<string, Float64Array>();
const refOf = (op: MathOp): Float64Array => {
  if (!refs.has(op.name)) refs.set(op.name, Float64Array.from(inputs, (v) => op.ref(v)));
  return refs.get(op.name)!;
};

describe('vectorized math (KILN_CPU_ISA sets)', () => {
  it('the sweep covers subnormals, huge values, signed zeros, NaN and infinities, with a ragged length', () => {
    const has = (p: (v: number) => boolean) => inputs.some(p);
    expect(has((v) => v !== 0 && Math.abs(v) < 2 ** -126)).toBe(true);
    expect(has((v) => Math.abs(v) > 1e38 && Number.isFinite(v))).toBe(true);
    expect(has((v) => Object.is(v, -0)) && has((v) => Object.is(v, 0))).toBe(true);
    expect(has(Number.isNaN) && has((v) => v === Infinity) && has((v) => v === -Infinity)).toBe(true);
    expect(inputs.length % 16).not.toBe(0);
  });

  const runnable = cpuIsaSets();
  for (const set of ['avx512', 'avx2', 'portable'])
    it.skipIf(!runnable.includes(set))(`${set}: ulp sweep of every op, vector tails, softmax and norm rows`, () => {
      assertDistFresh();
      const outPath = join(dir, `${set}.f32`);
      const r = runNode(child(outPath), { KILN_CPU_ISA: set }, 120_000);
      expect(r.status, ending(r)).toBe(0);
      expect(r.stdout.trim(), 'the child ran the requested set').toBe(set);
      const raw = readFileSync(outPath);
      const out = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
      const problems: string[] = [];
      let at = 0;
      for (const op of OPS) {
        const got = out.subarray(at, at + inputs.length);
        at += inputs.length;
        const want = refOf(op);
        let worst = 0, worstAt = -1, bad = 0;
        for (let i = 0; i < inputs.length; ++i) {
          const x = inputs[i];
          if (set === 'portable' && op.portable && !op.portable(x)) continue;
          const e = ulpError(got[i], want[i]);
          if (e > op.ulps(x)) {
            if (bad++ === 0 || e > worst) (worst = e), (worstAt = i);
          }
        }
        if (bad) problems.push(`${op.name}: ${bad} values beyond tolerance, worst ${worst.toFixed(1)} ulp at x = ${inputs[worstAt]} (got ${got[worstAt]}, want ${want[worstAt]})`);
        for (let n = 1; n <= TAIL_MAX; ++n) {
          const tail = out.subarray(at, at + n);
          at += n;
          for (let i = 0; i < n; ++i)
            if (!Object.is(tail[i], got[TAIL_OFFSET + i]) && !(Number.isNaN(tail[i]) && Number.isNaN(got[TAIL_OFFSET + i]))) {
              problems.push(`${op.name}: run of ${n} at offset ${TAIL_OFFSET} differs from the long run at ${i}: ${tail[i]} vs ${got[TAIL_OFFSET + i]}`);
              break;
            }
        }
      }
      expect(problems, problems.join('\n')).toEqual([]);
      const s = new R.NdArray([33, 157], Array.from(inputs.subarray(0, 33 * 157), (v, i) => f32(softmaxRows(v, i))));
      const n = 33 * 157;
      expectValues(out.subarray(at, at + n), R.softmax(s, -1).data, { rtol: 1e-5, atol: 1e-6 }, `${set} softmax`);
      expectValues(out.subarray(at + n, at + 2 * n), R.logSoftmax(s, -1).data, { rtol: 1e-5, atol: 1e-6 }, `${set} logSoftmax`);
      const ln = new R.NdArray([33, 157], Array.from(inputs.subarray(0, 33 * 157), (v, i) => f32(normRows(v, i))));
      const sc = new R.NdArray([157], Array.from({ length: 157 }, (_, j) => f32(normScale(j)))), bi = new R.NdArray([157], Array.from({ length: 157 }, (_, j) => f32(normBias(j))));
      expectValues(out.subarray(at + 2 * n, at + 3 * n), R.layerNorm(ln, 1, 1e-5, sc, bi).data, { rtol: 1e-5, atol: 1e-5 }, `${set} layerNorm`);
      expectValues(out.subarray(at + 3 * n, at + 4 * n), R.rmsNorm(ln, 1, 1e-6, sc).data, { rtol: 1e-5, atol: 1e-5 }, `${set} rmsNorm`);
      expect(at + 4 * n).toBe(out.length);
    });

  it('layerNorm rows round each step as written: no multiply-add is fused that the source does not spell', async () => {
    // Rows of +-u (mean 0, mean square u^2, both exact), so r = 1 / sqrt(u^2 + eps) is known exactly and
    // y = round(round(x * r) + bias). A compiler allowed to contract (GCC's default outside ISO mode,
    // -std=gnu++17) turns the vectorized normalize into fma(x, r, bias), one rounding: that differs.
    const us = [0.25, 0.5, 0.75, 1.25, 1.5, 1.75, 2.5, 3.75];
    const n = 48;
    const r = rngFor('vmath contraction');
    const bias = Array.from({ length: n }, () => f32(r.uniform(-3, 3)));
    const x = us.flatMap((u) => Array.from({ length: n }, (_, j) => (j % 2 ? -u : u)));
    const got = await kiln.layerNorm(kiln.tensor(x).reshape([us.length, n]), { bias: kiln.tensor(bias) }).data();
    let fusedDiffers = 0;
    const bad: string[] = [];
    x.forEach((v, i) => {
      const u = us[Math.floor(i / n)], rf = f32(1 / Math.sqrt(u * u + 1e-5));
      const want = f32(f32(v * rf) + bias[i % n]);
      if (f32(v * rf + bias[i % n]) !== want) ++fusedDiffers;
      if (!Object.is(got[i], want) && bad.length < 3) bad.push(`y[${i}] = ${got[i]}, want ${want}`);
    });
    expect(fusedDiffers, 'the rows tell a fused multiply-add apart').toBeGreaterThan(10);
    expect(bad).toEqual([]);
  });

  it('ulpError measures what the sweep relies on', () => {
    expect(ulpError(1, 1)).toBe(0);
    expect(ulpError(1 + 2 ** -23, 1)).toBe(1);
    expect(ulpError(Infinity, 1e39)).toBe(0);
    expect(ulpError(FLT_MAX, 1e39)).toBe(Infinity);
    expect(ulpError(0, -0)).toBe(Infinity);
    expect(ulpError(NaN, NaN)).toBe(0);
    expect(ulpError(2 ** -149, 0)).toBe(1);
  });
});
