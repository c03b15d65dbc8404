// Dispatch of reductions (reduce.wgsl, reduce_workgroup.wgsl), Softmax/LogSoftmax (softmax.wgsl) and
// LayerNormalization/RMSNormalization (norm.wgsl). Each kernel has two entry points: one invocation
// per row (`main`) and one workgroup per row (`main_workgroup`); rowPath (row-path.ts) picks. The host
// splits the views into the walked (outer) dims and the reduced dims.
import type { DType } from '../../dtype.js';
import { fail } from '../../errors.js';
import { numel } from '../../shape.js';
import type { TensorView } from '../backend.js';
import { buffersOf, expectArity, num, unsupported, type Call, type Dispatcher } from './call.js';
import { floatLoadFn, floatStoreFn, inputBinding, kindOf, loadsInEveryKind, outputBinding, shader, store, toKind, type Kind } from './codegen.js';
import { GpuDevice, type Binding } from './device.js';
import { Meta, coalesce } from './meta.js';
import { rowPath, type RowPath } from './row-path.js';

/** The reduce.wgsl function for an op and input kind (reduce_workgroup.wgsl's adds `_wg`), and the kind it returns. */
function reduceFn(op: string, k: Kind): { fn: string; result: Kind } {
  switch (op) {
    case 'ReduceSum':
    case 'ReduceProd':
      return k === 'F' ? { fn: `${op}_F`, result: 'F' } : { fn: `${op}_L`, result: 'L' };
    case 'ReduceMean':
      return { fn: k === 'F' ? 'ReduceMean_F' : 'ReduceMean_L', result: 'F' };
    case 'ReduceVariance':
      return { fn: 'ReduceVariance_F', result: 'F' };
    case 'ReduceMax':
    case 'ReduceMin':
      return { fn: `${op}_${k}`, result: k };
    case 'ArgMax':
    case 'ArgMin':
      return { fn: `${op}_${k}`, result: 'L' };
  }
  fail('E_ARGUMENT', `webgpu: ${op} is not a reduction`);
}

const reduce: Dispatcher = (c) => {
  expectArity(c, 1);
  const x = c.inputs[0], y = c.outputs[0];
  const axes = c.attrs.axes;
  if (!Array.isArray(axes) || axes.length === 0) fail('E_ARGUMENT', `${c.op}: axes must be a non-empty list`);
  if (y.shape.length !== x.shape.length || x.shape.some((d, i) => y.shape[i] !== (axes.includes(i) ? 1 : d)))
    fail('E_SHAPE', `${c.op}: output shape [${y.shape}] does not match input [${x.shape}] reduced over [${axes}]`);
  const n = numel(y.shape);
  if (n === 0) return;
  const { fn, result } = reduceFn(c.op, kindOf(x.dtype));
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const red = [...axes].sort((a, b) => a - b);
  // dims walked contiguously merge (fewer divisions per element; the order of elements is kept)
  const outer = coalesce(kept.map((a) => x.shape[a]), [kept.map((a) => y.strides[a]), kept.map((a) => x.strides[a])]);
  const inner = coalesce(red.map((a) => x.shape[a]), [red.map((a) => x.strides[a])]);
  const nRed = red.reduce((p, a) => p * x.shape[a], 1);
  const m = new Meta();
  m.set(0, n).set(1, nRed).set(2, outer.shape.length).set(3, inner.shape.length).setF32(9, num(c, 'correction', 0));
  m.set(4, m.push(...outer.shape));
  m.set(5, m.push(y.offset, ...outer.strides[0]));
  m.set(6, m.push(x.offset, ...outer.strides[1]));
  m.set(7, m.push(...inner.shape));
  m.set(8, m.push(...inner.strides[0]));
  const glue = [
    inputBinding('X', 1),
    outputBinding('Y', 2, y.dtype),
    loadsInEveryKind('x', 'X', x.dtype),
    `fn reduce_element(x: i32, y: i32, n: u32) { ${store('Y', y.dtype, 'y', toKindFor(`${fn}(x, n)`, result, y.dtype))}; }`,
    // every lane computes the result (the tree needs them all), lane 0 stores it
    `fn reduce_row(x: i32, y: i32, n: u32) { let v = ${fn}_wg(x, n); if (lane == 0u) { ${store('Y', y.dtype, 'y', toKindFor('v', result, y.dtype))}; } }`,
  ];
  const { ins, outs } = buffersOf(c);
  dispatchRows(c, rowPath(c.dev, n, nRed), shader('reduce', glue), {}, [c.dev.constants(m.build()), ins[0], outs[0]], n, 256);
};

/** One dispatch over `rows` rows by `path`; `perGroup`: rows per workgroup of the invocation-per-row entry point. */
function dispatchRows(c: Call, path: RowPath, code: string, constants: Record<string, number>, bindings: Binding[], rows: number, perGroup: number): void {
  if (path.workgroup) c.dev.dispatch(c.dev.pipeline(code, { ...constants, WG: path.size }, 'main_workgroup'), bindings, GpuDevice.grid(rows, 1));
  else c.dev.dispatch(c.dev.pipeline(code, constants), bindings, GpuDevice.grid(rows, perGroup));
}

/** A result of kind `k` in the output dtype's kind (float16 etc. round on store). */
const toKindFor = (expr: string, k: Kind, d: DType) => toKind(expr, k, kindOf(d));

function floatOnly(c: Call): void {
  for (const v of [...c.inputs, ...c.outputs]) if (kindOf(v.dtype) !== 'F') unsupported(c, 'float dtypes only');
}

/** Rows of a view with `axis` removed: shape and strides of the walked dims. */
const rowDims = (v: TensorView, drop: (d: number) => boolean) => ({
  shape: v.shape.filter((_, d) => !drop(d)),
  strides: v.strides.filter((_, d) => !drop(d)),
});

const softmax: Dispatcher = (c) => {
  expectArity(c, 1);
  floatOnly(c);
  const x = c.inputs[0], y = c.outputs[0];
  const axis = num(c, 'axis');
  if (!(axis >= 0 && axis < x.shape.length)) fail('E_ARGUMENT', `${c.op}: axis ${axis} out of range for rank ${x.shape.length}`);
  const len = x.shape[axis];
  const rows = len === 0 ? 0 : numel(x.shape) / len;
  if (rows === 0) return;
  const xr = rowDims(x, (d) => d === axis), yr = rowDims(y, (d) => d === axis);
  const m = new Meta();
  m.set(0, rows).set(1, len).set(2, xr.shape.length).set(6, x.strides[axis]).set(7, y.strides[axis]);
  m.set(3, m.push(...xr.shape));
  m.set(4, m.push(x.offset, ...xr.strides));
  m.set(5, m.push(y.offset, ...yr.strides));
  const glue = [inputBinding('X', 1), outputBinding('Y', 2, y.dtype), floatLoadFn('xF', 'X', x.dtype), floatStoreFn(y.dtype)];
  const { ins, outs } = buffersOf(c);
  dispatchRows(c, rowPath(c.dev, rows, len), shader('softmax', glue), { log_softmax: c.op === 'LogSoftmax' ? 1 : 0 }, [c.dev.constants(m.build()), ins[0], outs[0]], rows, 64);
};

const norm: Dispatcher = (c) => {
  const rms = c.op === 'RMSNormalization';
  const hasScale = !!num(c, 'has_scale', 0), hasBias = !rms && !!num(c, 'has_bias', 0);
  expectArity(c, 1 + +hasScale + +hasBias);
  floatOnly(c);
  const x = c.inputs[0], y = c.outputs[0];
  const axis = num(c, 'axis');
  if (!(axis >= 0 && axis < x.shape.length)) fail('E_ARGUMENT', `${c.op}: axis ${axis} out of range for rank ${x.shape.length}`);
  const block = numel(x.shape.slice(axis));
  const rows = block === 0 ? 0 : numel(x.shape) / block;
  if (rows === 0) return;
  const scale = hasScale ? c.inputs[1] : undefined, bias = hasBias ? c.inputs[1 + +hasScale] : undefined;
  const lead = (v: TensorView) => v.strides.slice(0, axis);
  const trail = (v: TensorView) => v.strides.slice(axis);
  const m = new Meta();
  m.set(0, rows).set(1, block).set(2, axis).set(6, x.shape.length - axis).setF32(12, num(c, 'epsilon'));
  m.set(3, m.push(...x.shape.slice(0, axis)));
  m.set(4, m.push(x.offset, ...lead(x)));
  m.set(5, m.push(y.offset, ...lead(y)));
  m.set(7, m.push(...x.shape.slice(axis)));
  m.set(8, m.push(...trail(x)));
  m.set(9, m.push(...trail(y)));
  // Scale and Bias have shape x.shape[axis:]: their strides are all trailing
  m.set(10, scale ? m.push(scale.offset, ...scale.strides) : 0);
  m.set(11, bias ? m.push(bias.offset, ...bias.strides) : 0);
  const param = (name: string, v: TensorView | undefined, binding: number) =>
    v ? [inputBinding(name.toUpperCase(), binding), floatLoadFn(`${name}F`, name.toUpperCase(), v.dtype)] : [`fn ${name}F(o: i32) -> f32 { return 0.0; }`];
  const glue = [
    inputBinding('X', 1),
    outputBinding('Y', 4, y.dtype),
    floatLoadFn('xF', 'X', x.dtype),
    floatStoreFn(y.dtype),
    ...param('s', scale, 2),
    ...param('b', bias, 3),
  ];
  const { ins, outs } = buffersOf(c);
  const bindings = [c.dev.constants(m.build()), ins[0], scale ? ins[1] : undefined, bias ? ins[1 + +hasScale] : undefined, outs[0]];
  dispatchRows(c, rowPath(c.dev, rows, block), shader('norm', glue), { rms: +rms, has_scale: +hasScale, has_bias: +hasBias }, bindings, rows, 64);
};

export const REDUCE: Record<string, Dispatcher> = {
  ...Object.fromEntries(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceVariance', 'ArgMax', 'ArgMin'].map((op) => [op, reduce])),
  Softmax: softmax,
  LogSoftmax: softmax,
  LayerNormalization: norm,
  RMSNormalization: norm,
};
