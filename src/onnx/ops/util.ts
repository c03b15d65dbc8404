// Helpers the ONNX op handlers share: ONNX-semantics elementwise calls straight onto the native
// op table (ONNX types are already unified, so no promotion policy applies), and input access.
import { fail } from '../../errors.js';
import { scalarConstant } from '../../ops/constants.js';
import { arange } from '../../ops/creation.js';
import { run1 } from '../../ops/run.js';
import { gather } from '../../ops/shape-ops.js';
import { withTemps, type Temps } from '../../ops/temps.js';
import { broadcastShapes, sameShape } from '../../shape.js';
import { isFloat, type DType } from '../../dtype.js';
import type { Tensor } from '../../tensor.js';
import type { Node } from '../model.js';
import type { HostValue, OpContext } from './registry.js';

/** Input i of the node, or E_ARGUMENT when the model omitted a required input. */
export function input(ctx: OpContext, i: number): Tensor {
  const t = ctx.inputs[i];
  if (!t) fail('E_ARGUMENT', `required input ${i} is missing`);
  return t;
}

/**
 * E_DTYPE unless every given input of the node is a float tensor: the ops whose ONNX type is float
 * only (normalizations, Det) would otherwise compute integers through the JS API's promotion, where
 * onnxruntime refuses the model (cpu/webgpu fuzz seed 5875: an RMSNormalization of an int64 shape
 * ran, and its float result, cast back to an int, was 1 on one device and 2 on the other).
 */
export function requireFloat(ctx: OpContext, names: readonly string[]): void {
  names.forEach((name, i) => {
    const t = ctx.inputs[i];
    if (t && !isFloat(t.dtype)) fail('E_DTYPE', `${name} ${t.describe()} must be a float tensor`);
  });
}

/** Every input of a variadic op (Sum, Max, Concat, ...): each is required, none may be named ''. */
export function variadicInputs(ctx: OpContext): Tensor[] {
  if (ctx.inputs.length === 0) fail('E_ARGUMENT', 'needs at least one input');
  return ctx.inputs.map((t, i) => t ?? fail('E_ARGUMENT', `input ${i} is empty: every input of ${ctx.node.opType} is required`));
}

/** The host values of required input i (declared in the handler's hostInputs). */
export function hostInput(ctx: OpContext, i: number): HostValue {
  input(ctx, i);
  return ctx.host(i)!;
}

/** Required input i as a list of integers (see OpContext.ints). */
export function hostInts(ctx: OpContext, i: number): number[] {
  input(ctx, i);
  return ctx.ints(i)!;
}

/**
 * Refuses input i (when fed) unless it is 1-D (or, with `scalar`, 0-D too): a list of axes, starts,
 * ... shaped as onnxruntime demands.
 */
export function checkListInput(ctx: OpContext, i: number, what: string, o: { scalar?: boolean } = {}): void {
  const fed = ctx.inputs[i];
  if (fed && fed.rank !== 1 && !(o.scalar && fed.rank === 0)) fail('E_SHAPE', `${what} ${fed.describe()} must be ${o.scalar ? 'a scalar or ' : ''}a 1-D list`);
}

/** Refuses `p` (a PRelu slope, a LayerNormalization scale) unless it broadcasts to x's shape unchanged. */
export function checkUnidirectional(what: string, p: Tensor, x: Tensor): void {
  if (!sameShape(broadcastShapes(what, x.shape, p.shape), x.shape)) fail('E_SHAPE', `${what} ${p.describe()} is not unidirectionally broadcastable to X ${x.describe()}`);
}

/** Input i as one number (it must hold exactly one value), or undefined when the model omits it. */
export function optionalHostScalar(ctx: OpContext, i: number, what = `input ${i}`): number | undefined {
  const h = ctx.host(i);
  if (!h) return undefined;
  if (h.values.length !== 1) fail('E_SHAPE', `${what} must hold one value, got ${h.values.length}`);
  return Number(h.values[0]);
}

/** Required input i as one number: it must hold exactly one value. */
export function hostScalar(ctx: OpContext, i: number, what?: string): number {
  input(ctx, i);
  return optionalHostScalar(ctx, i, what)!;
}

/** ONNX binary op with multidirectional broadcasting: A and B share a dtype already. */
export function binary(op: string, a: Tensor, b: Tensor, outDType?: DType): Tensor {
  return withTemps((temps) => {
    const shape = broadcastShapes(op, a.shape, b.shape);
    return run1(op, [temps.expand(a, shape), temps.expand(b, shape)], shape, outDType ?? a.dtype);
  });
}

export const unary = (op: string, x: Tensor, attrs: Record<string, number | string> = {}): Tensor => run1(op, [x], x.shape, x.dtype, attrs);

/** The cached 0-d constant `v` of x's dtype and device (src/ops/constants.ts): an operand only, never disposed or returned. */
export const scalarLike = (x: Tensor, v: number): Tensor => scalarConstant(v, x.dtype, x.device);

/** Elementwise op with a scalar right operand. */
export const withScalar = (op: string, x: Tensor, v: number): Tensor => binary(op, x, scalarLike(x, v));

/** How many of the node's outputs the graph uses (trailing optional outputs may be ''). */
export const usedOutputs = (n: Node): number => n.outputs.filter((o) => o !== '').length;

/** check() helper: only the first output may be consumed. */
export const singleOutput = (n: Node): string | undefined =>
  n.outputs.slice(1).some((o) => o !== '') ? `only output 0 is supported (the node asks for ${n.outputs.length})` : undefined;

/**
 * int64 indices into a dim of `size`, negatives counted from its end, as a Gather over 0..size-1
 * gives them: one outside [-size, size) is the data fault (E_INDEX) of the result and of all that is
 * computed from it (src/faults.ts), where a one-hot match would silently match nothing.
 */
export function checkedIndices(t: Temps, i64: Tensor, size: number, what: string): Tensor {
  if (size === 0 && i64.size > 0) fail('E_INDEX', `${what}: indices ${i64.describe()} index a dim of size 0`);
  if (i64.size === 0) return i64;
  return t.add(gather(t.add(arange(0, size, 1, { dtype: 'int64', device: i64.device })), i64, 0));
}
