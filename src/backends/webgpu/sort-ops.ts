// Dispatch of TopK (topk.wgsl): ranks by counting within an axis of at most BLOCK elements, and a
// merge sort of indices in scratch beyond that.
import { fail } from '../../errors.js';
import { numel } from '../../shape.js';
import { buffersOf, expectArity, num, unsupported, type Dispatcher } from './call.js';
import { copyElementFn, inputBinding, kindOf, load, outputBinding, shader, wgslType } from './codegen.js';
import { GpuDevice, type Binding } from './device.js';
import { Meta, coalesce } from './meta.js';

/** `before(a, b)`: the element at offset a has a value that comes first (see topk.wgsl), per kind. */
const BEFORE = {
  F: `fn before(a: i32, b: i32) -> bool {
  let va = xv(a);
  let vb = xv(b);
  let an = is_nan(va);
  let bn = is_nan(vb);
  if (an || bn) { return select(bn && !an, an && !bn, args[3] != 0); }
  return select((va < vb), (va > vb), args[3] != 0);
}`,
  I: `fn before(a: i32, b: i32) -> bool { return select((xv(a) < xv(b)), (xv(a) > xv(b)), args[3] != 0); }`,
  L: `fn before(a: i32, b: i32) -> bool { return select(l_lt(xv(a), xv(b)), l_lt(xv(b), xv(a)), args[3] != 0); }`,
};

/**
 * The longest axis ranked by counting alone (O(n) per element), and the block length of the merge
 * sort beyond it (a power of two). On lavapipe, sorting 1e5 float32 took 83-96 ms with blocks of 16
 * to 128, 132 ms with 256 and 199 ms with 512 (20.8 s before the merge sort;
 * bench/results/topk-webgpu-lavapipe.md).
 */
const BLOCK = 32;

const topk: Dispatcher = (c) => {
  expectArity(c, 1, 2);
  const x = c.inputs[0], [v, i] = c.outputs;
  if (x.dtype === 'bool') unsupported(c, 'bool values have no order');
  if (v.dtype !== x.dtype || i.dtype !== 'int64') fail('E_DTYPE', `TopK: Values must have X's dtype (${x.dtype}) and Indices int64, got ${v.dtype} and ${i.dtype}`);
  const axis = num(c, 'axis'), k = num(c, 'k'), r = x.shape.length;
  if (!(axis >= 0 && axis < r)) fail('E_ARGUMENT', `TopK: axis ${axis} out of range for rank ${r}`);
  const n = x.shape[axis];
  if (!(Number.isInteger(k) && k >= 0 && k <= n)) fail('E_ARGUMENT', `TopK: k ${k} is outside [0, ${n}]`);
  const want = x.shape.map((d, a) => (a === axis ? k : d));
  for (const o of [v, i])
    if (o.shape.length !== r || o.shape.some((d, a) => d !== want[a])) fail('E_SHAPE', `TopK: output shape [${o.shape}] should be [${want}]`);
  const total = numel(x.shape);
  if (total === 0 || k === 0) return;
  const dims = [...Array(r).keys()].filter((a) => a !== axis);
  const outer = coalesce(dims.map((a) => x.shape[a]), [x, v, i].map((t) => dims.map((a) => t.strides[a])));
  const m = new Meta();
  m.set(0, total).set(1, n).set(2, k).set(3, num(c, 'largest', 1) ? 1 : 0).set(4, outer.shape.length);
  m.set(5, m.push(...outer.shape));
  m.set(6, m.push(x.offset, ...outer.strides[0]));
  m.set(7, m.push(v.offset, ...outer.strides[1]));
  m.set(8, m.push(i.offset, ...outer.strides[2]));
  m.set(9, x.strides[axis]).set(10, v.strides[axis]).set(11, i.strides[axis]);
  const kind = kindOf(x.dtype);
  const glue = [
    inputBinding('X', 1),
    outputBinding('V', 2, v.dtype),
    outputBinding('I', 3, 'int64'),
    `fn xv(o: i32) -> ${wgslType(kind)} { return ${load('X', x.dtype, 'o')}; }`,
    BEFORE[kind],
    copyElementFn(x.dtype, 'V'),
  ];
  const { ins, outs } = buffersOf(c);
  const code = shader('topk', glue);
  const groups = GpuDevice.grid(total, 256);
  if (n <= BLOCK) {
    c.dev.dispatch(c.dev.pipeline(code), [c.dev.constants(m.build()), ins[0], outs[0], outs[1]], groups);
    return;
  }
  // merge sort: block ranks into T, then one merge per doubling of the sorted runs (ping-pong)
  m.set(12, BLOCK);
  let [from, to] = [c.dev.alloc(total * 4), c.dev.alloc(total * 4)];
  try {
    const block: Binding[] = [c.dev.constants(m.build()), ins[0]];
    block[5] = from;
    c.dev.dispatch(c.dev.pipeline(code, {}, 'block'), block, groups);
    for (let run = BLOCK; run < n; run *= 2) {
      m.set(13, run);
      const last = 2 * run >= n;
      const b: Binding[] = last ? [c.dev.constants(m.build()), ins[0], outs[0], outs[1], from] : [c.dev.constants(m.build()), ins[0]];
      if (!last) (b[4] = from), (b[5] = to);
      c.dev.dispatch(c.dev.pipeline(code, {}, last ? 'merge_final' : 'merge'), b, groups);
      [from, to] = [to, from];
    }
  } finally {
    c.dev.release(from);
    c.dev.release(to);
  }
};

export const SORT: Record<string, Dispatcher> = { TopK: topk };
