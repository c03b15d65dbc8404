// Argument checks at the API boundary. TypeScript callers get the declared types checked at build
// time; JavaScript callers can pass anything, and each wrong value must be a KilnError naming the op
// and the value, never a TypeError from deep inside an op (test/fuzz.test.ts holds every public
// entry point to that).
import { fail } from './errors.js';

/** A short description of any JS value for an error message: `3`, `'abc'`, `[1, 2]`, `an object`, `a Tensor`. */
export function describeValue(v: unknown, depth = 0): string {
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}...` : v}'`;
  if (typeof v === 'function') return 'a function';
  // Nested arrays shown two levels deep: a cyclic one would otherwise recurse without end.
  if (Array.isArray(v)) return v.length > 8 || depth > 1 ? `an array of ${v.length}` : `[${v.map((x) => describeValue(x, depth + 1)).join(', ')}]`;
  const name = (v as object).constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

/**
 * An options argument: undefined (no options) or a plain object whose every key is one of `known`.
 * A misspelt option would otherwise be ignored and change the result without a word (sum(x, { axis:
 * 1 }) summing every element), so an unknown key is E_ARGUMENT naming it and the keys the call takes.
 */
export function optionsArg<T extends object>(op: string, v: T | undefined, known: readonly (keyof T & string)[]): Partial<T> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('E_ARGUMENT', `${op}: options must be an object, got ${describeValue(v)}`);
  for (const key of Object.keys(v))
    if (!(known as readonly string[]).includes(key))
      fail('E_ARGUMENT', `${op}: unknown option ${describeValue(key)}; ${op} takes ${known.length ? known.join(', ') : 'no options'}`);
  return v;
}

/** A list of integers (dims, axes, repeats): an array whose every element is a safe integer. */
export function intListArg(op: string, what: string, v: unknown): number[] {
  if (!Array.isArray(v) || !v.every((d) => Number.isSafeInteger(d)))
    fail('E_ARGUMENT', `${op}: ${what} must be an array of integers, got ${describeValue(v)}`);
  return [...v];
}

/** A number (NaN and the infinities allowed unless `finite`). */
export function numberArg(op: string, what: string, v: unknown, finite = false): number {
  if (typeof v !== 'number' || (finite && !Number.isFinite(v))) fail('E_ARGUMENT', `${op}: ${what} must be a ${finite ? 'finite ' : ''}number, got ${describeValue(v)}`);
  return v;
}

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** Parses a byte count such as '8000000', '512MiB', '24G' or '1.5gb' (the memory caps' variables); undefined when empty. */
export function parseBytes(text: string | undefined, what: string): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) fail('E_ARGUMENT', `${what}: expected a byte count like 8000000, 512MiB or 24GiB, got '${text}'`);
  return Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}
