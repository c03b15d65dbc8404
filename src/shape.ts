import { describeValue, intListArg } from './args.js';
import { fail } from './errors.js';

export type Shape = readonly number[];

export const numel = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

// String() on each dim: a user's shape may hold anything, and join() throws on a Symbol.
export const fmtShape = (shape: Shape): string => `[${shape.map(String).join(', ')}]`;

/** Whether two shapes are the same dims. */
export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function isContiguous(shape: Shape, strides: Shape): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; --i) {
    if (shape[i] !== 1 && strides[i] !== expect) return false;
    expect *= shape[i];
  }
  return true;
}

export function checkShape(shape: unknown, where: string): number[] {
  if (!Array.isArray(shape)) fail('E_SHAPE', `${where}: shape must be an array of non-negative integers, got ${describeValue(shape)}`);
  for (const d of shape)
    if (!Number.isSafeInteger(d) || d < 0) fail('E_SHAPE', `${where}: shape ${fmtShape(shape)} has an invalid dimension ${describeValue(d)}`);
  checkRank(where, shape);
  return [...shape];
}

/** The most dims a tensor has (the native and WGSL view descriptors hold 16). */
export const MAX_RANK = 16;

/** E_SHAPE unless `shape` (of a tensor about to be made, by a user or an op) has at most MAX_RANK dims. */
export function checkRank(where: string, shape: Shape): void {
  if (shape.length > MAX_RANK) fail('E_SHAPE', `${where}: at most ${MAX_RANK} dimensions are supported, got ${shape.length}`);
}

/** NumPy broadcasting: align from the right; each pair of dims must be equal or one of them 1. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; ++i) {
      const o = rank - s.length + i;
      const d = s[i];
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o])
        fail('E_SHAPE', `${op}: shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together (dim ${o - rank}: ${out[o]} vs ${d})`);
    }
  }
  return out;
}

/** The public form, shapes only: broadcastShapes([2, 1], [3]) is [2, 3]. Each shape is checked first. */
export function broadcastShapesOf(...shapes: readonly number[][]): number[] {
  return broadcastShapes('broadcastShapes', ...shapes.map((s) => checkShape(s, 'broadcastShapes')));
}

/** Normalizes a possibly negative axis into [0, rank). */
export function normalizeAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis)) fail('E_ARGUMENT', `${op}: axis must be an integer, got ${describeValue(axis)}`);
  if (axis < -rank || axis >= rank) fail('E_ARGUMENT', `${op}: axis ${axis} is out of range for a tensor of rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** Normalizes a list of axes (undefined = all), sorted, without repeats. */
export function normalizeAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : intListArg(op, 'axes', axes);
  const out = list.map((a) => normalizeAxis(op, a, rank));
  if (new Set(out).size !== out.length) fail('E_ARGUMENT', `${op}: repeated axis in [${list.join(', ')}]`);
  return out.sort((a, b) => a - b);
}
