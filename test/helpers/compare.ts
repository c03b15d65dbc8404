// Comparing a Kiln result with the float64 reference: tolerance per dtype, NaN must match NaN, and a
// failure lists the first mismatches with their index, the expected and the received value.
import { expect } from 'vitest';
import * as kiln from '../../src/index.js';
import type { DType, Tensor } from '../../src/index.js';
import { NdArray, isFloatDType, roundTo, unravel, type Shape } from './reference.js';

export interface Tolerance {
  /** Relative to max(|expected|, scale[i]). */
  rtol: number;
  atol: number;
}

/**
 * float32 ~1e-5 relative (plus a small absolute term for results near 0); tf32 1e-3;
 * float16/bfloat16 ~1e-2 (each rounding costs up to 2^-11 / 2^-9); integers and bool exact.
 */
export function tolFor(dtype: DType | 'tf32'): Tolerance {
  switch (dtype) {
    case 'float32': return { rtol: 1e-5, atol: 1e-6 };
    case 'tf32': return { rtol: 1e-3, atol: 1e-4 };
    case 'float16': return { rtol: 1e-2, atol: 1e-3 };
    case 'bfloat16': return { rtol: 1.6e-2, atol: 1e-3 };
    default: return { rtol: 0, atol: 0 };
  }
}

export interface CompareOptions extends Partial<Tolerance> {
  /** What is being checked, for the message: "exp float16 [7, 13] transposed". */
  label?: string;
  /** Per-element magnitude the error may scale with (e.g. sum |a_ik b_kj| for matmul). */
  scale?: ArrayLike<number>;
  /** How many mismatches to list. */
  show?: number;
}

export interface Mismatch {
  index: number[];
  expected: number;
  got: number;
}

/** Every element that differs beyond tolerance (NaN matches only NaN; infinities must match exactly). */
export function mismatches(got: ArrayLike<number>, want: ArrayLike<number>, shape: Shape, tol: Tolerance, scale?: ArrayLike<number>): { count: number; first: Mismatch[] } {
  const first: Mismatch[] = [];
  let count = 0;
  for (let i = 0; i < want.length; ++i) {
    const g = got[i], w = want[i];
    let ok: boolean;
    if (Number.isNaN(w) || Number.isNaN(g)) ok = Number.isNaN(w) && Number.isNaN(g);
    else if (!Number.isFinite(w) || !Number.isFinite(g)) ok = g === w;
    else {
      const mag = Math.max(Math.abs(w), scale ? Math.abs(scale[i]) : 0);
      ok = Math.abs(g - w) <= tol.atol + tol.rtol * mag;
    }
    if (!ok) {
      if (first.length < 8) first.push({ index: unravel(i, shape), expected: w, got: g });
      count++;
    }
  }
  return { count, first };
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(8));

function report(label: string, dtype: string, shape: Shape, tol: Tolerance, count: number, total: number, first: Mismatch[], show: number): string {
  const lines = first.slice(0, show).map((m) => `  at [${m.index.join(', ')}]: expected ${fmt(m.expected)}, got ${fmt(m.got)}`);
  const tolText = tol.rtol === 0 && tol.atol === 0 ? 'exact' : `rtol ${tol.rtol}, atol ${tol.atol}`;
  return `${label}: ${count} of ${total} elements differ (${dtype} [${shape.join(', ')}], ${tolText}); first mismatches:\n${lines.join('\n')}`;
}

/** Reads a tensor back as float64 values (int64 through Number: tests keep int64 values exact in float64). */
export async function readValues(t: Tensor): Promise<Float64Array> {
  const d = await t.data();
  if (d instanceof BigInt64Array) return Float64Array.from(d, (v) => Number(v));
  return Float64Array.from(d as ArrayLike<number>);
}

/**
 * Asserts that `t` has the reference's shape, the expected dtype, and values within the dtype's
 * tolerance (or exactly, for integers and bool).
 */
export async function expectTensor(t: Tensor, want: NdArray, dtype: DType, o: CompareOptions = {}): Promise<void> {
  const label = o.label ?? 'result';
  if (t.dtype !== dtype) throw new Error(`${label}: dtype ${t.dtype}, expected ${dtype}`);
  if (t.shape.length !== want.shape.length || t.shape.some((d, i) => d !== want.shape[i]))
    throw new Error(`${label}: shape [${t.shape.join(', ')}], expected [${want.shape.join(', ')}]`);
  const got = await readValues(t);
  if (got.length !== want.size) throw new Error(`${label}: data() returned ${got.length} values for ${want.size} elements`);
  const base = tolFor(dtype);
  const tol = { rtol: o.rtol ?? base.rtol, atol: o.atol ?? base.atol };
  // Kernels round once on store, so the expected value is the exact one rounded to the output dtype
  // (this matters where it overflows: a float16 product past 65504 is Infinity).
  const expected = isFloatDType(dtype) ? want.data.map((v) => roundTo(dtype, v)) : want.data;
  const { count, first } = mismatches(got, expected, want.shape, tol, o.scale);
  if (count) throw new Error(report(label, dtype, want.shape, tol, count, want.size, first, o.show ?? 5));
}

/** Same check on plain arrays (for values computed outside a tensor). */
export function expectValues(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, label = 'values'): void {
  if (got.length !== want.length) throw new Error(`${label}: ${got.length} values, expected ${want.length}`);
  const { count, first } = mismatches(got, want, [want.length], tol);
  if (count) throw new Error(report(label, 'values', [want.length], tol, count, want.length, first, 5));
}

/**
 * Runs many cases inside one test, each in its own kiln.scope (so its tensors are freed), and fails
 * once at the end listing every failing case: one test reports all the shapes and layouts that fail.
 */
export class Cases {
  private failed: string[] = [];
  private total = 0;
  async run(label: string, fn: () => Promise<void> | void): Promise<void> {
    this.total++;
    try {
      await kiln.scope(async () => {
        await fn();
      });
    } catch (e) {
      const code = e instanceof kiln.KilnError ? `KilnError ${e.code}: ` : '';
      this.failed.push(`${label}: ${code}${(e as Error).message}`);
    }
  }
  get count(): number {
    return this.total;
  }
  done(): void {
    if (this.total === 0) throw new Error('no cases ran');
    if (this.failed.length)
      throw new Error(`${this.failed.length} of ${this.total} cases failed:\n- ${this.failed.slice(0, 8).join('\n- ')}${this.failed.length > 8 ? `\n- ... and ${this.failed.length - 8} more` : ''}`);
  }
}

/** Asserts that `err` is a KilnError with `code` whose message mentions each of `mentions`. */
function checkKilnError(err: unknown, code: kiln.KilnErrorCode, mentions: (string | RegExp)[], expected: string): kiln.KilnError {
  expect(err, expected).toBeInstanceOf(kiln.KilnError);
  const k = err as kiln.KilnError;
  expect(k.name).toBe('KilnError');
  expect(k.code, k.message).toBe(code);
  for (const m of mentions) {
    if (typeof m === 'string') expect(k.message).toContain(m);
    else expect(k.message).toMatch(m);
  }
  return k;
}

/** Asserts fn throws synchronously a KilnError with `code` whose message mentions each of `mentions`. */
export function expectError(fn: () => unknown, code: kiln.KilnErrorCode, ...mentions: (string | RegExp)[]): kiln.KilnError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  return checkKilnError(err, code, mentions, `expected ${code} to be thrown`);
}

/** Asserts p rejects with a KilnError with `code` whose message mentions each of `mentions`. */
export async function expectRejection(p: Promise<unknown>, code: kiln.KilnErrorCode, ...mentions: (string | RegExp)[]): Promise<kiln.KilnError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  return checkKilnError(err, code, mentions, `expected a rejection with ${code}`);
}

/** float32 ulps between got and the float64 `want` (0 for matching NaN, infinities, signed zeros). */
export function ulpError(got: number, want: number): number {
  if (Number.isNaN(want) || Number.isNaN(got)) return Number.isNaN(want) && Number.isNaN(got) ? 0 : Infinity;
  const wf = Math.fround(want);
  if (!Number.isFinite(got) || !Number.isFinite(wf)) return got === wf ? 0 : Infinity;
  if (want === 0) return got === 0 && Object.is(got, want) ? 0 : Math.abs(got) / 2 ** -149 || Infinity;
  const e = Math.min(Math.max(Math.floor(Math.log2(Math.abs(want))), -126), 127);
  return Math.abs(got - want) / 2 ** (e - 23);
}
