// Dispatch of Gather and ScatterSlices (gather.wgsl), Pad (pad.wgsl), Im2Col (im2col.wgsl) and the Philox random ops (random.wgsl).
import { fail, KilnError } from '../../errors.js';
import { isContiguous, numel } from '../../shape.js';
import { buffersOf, expectArity, num, unsupported, type Call, type Dispatcher } from './call.js';
import { convert, copyElementFn, floatStoreFn, inputBinding, kindOf, load, outputBinding, shader, store } from './codegen.js';
import { MapMode, Usage } from './dawn.js';
import { GpuDevice } from './device.js';
import { Meta } from './meta.js';

const gather: Dispatcher = (c) => {
  expectArity(c, 2);
  const [x, idx] = c.inputs, y = c.outputs[0];
  if (idx.dtype !== 'int32' && idx.dtype !== 'int64') fail('E_DTYPE', `Gather: indices must be int32 or int64, got ${idx.dtype}`);
  if (x.dtype !== y.dtype) fail('E_DTYPE', `Gather: output dtype ${y.dtype} differs from data ${x.dtype}`);
  const axis = num(c, 'axis');
  const r = x.shape.length, q = idx.shape.length;
  if (!(axis >= 0 && axis < r)) fail('E_ARGUMENT', `Gather: axis ${axis} out of range for rank ${r}`);
  const want = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
  if (want.length !== y.shape.length || want.some((d, i) => d !== y.shape[i])) fail('E_SHAPE', `Gather: output shape [${y.shape}] should be [${want}]`);
  const m = new Meta();
  m.set(6, x.strides[axis]).set(7, x.shape[axis]);
  let n = numel(y.shape);
  if (n > 0) {
    // per output dim: its stride in Data (0 for index dims) and in Indices (0 elsewhere)
    const dStrides = y.shape.map((_, d) => (d < axis ? x.strides[d] : d < axis + q ? 0 : x.strides[d - q + 1]));
    const iStrides = y.shape.map((_, d) => (d >= axis && d < axis + q ? idx.strides[d - axis] : 0));
    m.set(1, y.shape.length);
    m.set(2, m.push(...y.shape));
    m.set(3, m.push(y.offset, ...y.strides));
    m.set(4, m.push(x.offset, ...dStrides));
    m.set(5, m.push(idx.offset, ...iStrides));
    m.set(9, numel(y.shape.slice(axis + q))).set(10, numel(idx.shape));
  } else {
    // Nothing to copy (a dim of Data besides the axis is 0), but the indices are still checked,
    // as the CPU checks them: one invocation per index, copying nothing ([8] = 1).
    n = numel(idx.shape);
    if (n === 0) return c.fault?.pass();
    const zeros = idx.shape.map(() => 0);
    m.set(1, q).set(8, 1).set(9, 1).set(10, n);
    m.set(2, m.push(...idx.shape));
    m.set(3, m.push(0, ...zeros));
    m.set(4, m.push(0, ...zeros));
    m.set(5, m.push(idx.offset, ...idx.strides));
  }
  m.set(0, n);
  const glue = [
    inputBinding('X', 1),
    inputBinding('I', 2),
    outputBinding('Y', 3, y.dtype),
    `fn index_at(o: i32) -> vec2<u32> { return ${convert(load('I', idx.dtype, 'o'), kindOf(idx.dtype), 'int64')}; }`,
    copyElementFn(c.outputs[0].dtype),
  ];
  const dev = c.dev;
  const status = dev.device.createBuffer({ size: 16, usage: Usage.STORAGE | Usage.COPY_SRC });
  const { ins, outs } = buffersOf(c);
  const args = dev.constants(m.build());
  const bindings = [args, ins[0], ins[1], outs[0]];
  bindings[7] = status;
  const code = shader('gather', glue);
  dev.dispatch(dev.pipeline(code), bindings, GpuDevice.grid(n, 256));
  const reportBindings = [args, undefined, ins[1]]; // report's layout holds only what it reads
  reportBindings[7] = status;
  dev.dispatch(dev.pipeline(code, {}, 'report'), reportBindings, [1, 1, 1]);
  const readback = dev.device.createBuffer({ size: 16, usage: Usage.MAP_READ | Usage.COPY_DST });
  dev.encoder().copyBufferToBuffer(status, 0, readback, 0, 16);
  dev.retire(status);
  const dim = x.shape[axis];
  const { fault } = c;
  dev.addCheck(async () => {
    let found: string | undefined;
    try {
      await readback.mapAsync(MapMode.READ);
      const w = new Uint32Array(readback.getMappedRange().slice(0));
      readback.unmap();
      if (w[0]) {
        const bad = BigInt.asIntN(64, (BigInt(w[2]) << 32n) | BigInt(w[1])); // as Indices holds it
        found = `Gather: index ${bad} is out of range for axis ${axis} of size ${dim}`;
      }
    } finally {
      readback.destroy();
    }
    if (!fault) return found === undefined ? undefined : { code: 'E_INDEX' as const, message: found };
    if (found === undefined) fault.pass();
    else fault.fail(new KilnError('E_INDEX', found));
    return undefined;
  });
};

/**
 * ScatterSlices (gather.wgsl's `scatter_owner` and `scatter`): the slices of Y that Positions name
 * take Updates' slices, the last update naming a slice winning (as on the CPU), in place.
 */
const scatterSlices: Dispatcher = (c) => {
  expectArity(c, 2);
  const [pos, upd] = c.inputs, y = c.outputs[0];
  if (pos.dtype !== 'int64') fail('E_DTYPE', `ScatterSlices: positions must be int64, got ${pos.dtype}`);
  if (upd.dtype !== y.dtype) fail('E_DTYPE', `ScatterSlices: updates ${upd.dtype} differ from the output's dtype ${y.dtype}`);
  if (![pos, upd, y].every((v) => isContiguous(v.shape, v.strides))) fail('E_ARGUMENT', 'ScatterSlices: positions, updates and the output must be contiguous');
  const S = num(c, 'slice'), U = numel(pos.shape), total = numel(y.shape);
  if (!Number.isInteger(S) || S < 1 || total % S !== 0 || numel(upd.shape) !== U * S)
    fail('E_SHAPE', `ScatterSlices: slice ${S} must divide the output's ${total} elements, and updates must hold one slice per position (${U} x ${S})`);
  if (total >= 2 ** 31) unsupported(c, 'an output of 2^31 elements or more');
  const n = U * S, P = total / S;
  if (n === 0) return;
  const m = new Meta();
  m.set(0, n).set(1, S).set(2, P).set(3, y.offset).set(4, upd.offset).set(5, pos.offset).set(6, U);
  const glue = [
    inputBinding('X', 1),
    inputBinding('I', 2),
    outputBinding('Y', 3, y.dtype),
    `fn index_at(o: i32) -> vec2<u32> { return ${load('I', 'int64', 'o')}; }`,
    copyElementFn(y.dtype),
  ];
  const dev = c.dev, code = shader('gather', glue);
  if (4 * P > Math.min(dev.limits.maxBufferSize, dev.limits.maxStorageBufferBindingSize))
    fail('E_OOM', `ScatterSlices: the owner of each of ${P} slices takes ${4 * P} bytes, past what a ${dev.id} buffer holds`);
  const owner = dev.device.createBuffer({ size: 4 * P, usage: Usage.STORAGE }); // zero-filled, as every new WebGPU buffer
  const { ins, outs } = buffersOf(c);
  const args = dev.constants(m.build());
  const ownerBindings = [args, undefined, ins[0]]; // each entry point's layout holds only what it uses
  ownerBindings[6] = owner;
  dev.dispatch(dev.pipeline(code, {}, 'scatter_owner'), ownerBindings, GpuDevice.grid(U, 256));
  const bindings = [args, ins[1], ins[0], outs[0]];
  bindings[6] = owner;
  dev.dispatch(dev.pipeline(code, {}, 'scatter'), bindings, GpuDevice.grid(n, 256));
  dev.retire(owner);
};

const MODES: Record<string, number> = { constant: 0, reflect: 1, edge: 2 };

const pad: Dispatcher = (c) => {
  expectArity(c, 1);
  const x = c.inputs[0], y = c.outputs[0];
  if (x.dtype !== y.dtype) fail('E_DTYPE', `Pad: output dtype ${y.dtype} differs from input ${x.dtype}`);
  const r = x.shape.length;
  const pads = c.attrs.pads;
  const mode = String(c.attrs.mode ?? 'constant');
  if (!(mode in MODES)) fail('E_ARGUMENT', `Pad: mode must be 'constant', 'reflect' or 'edge', got '${mode}'`);
  if (!Array.isArray(pads) || pads.length !== 2 * r || pads.some((p) => !Number.isInteger(p) || p < 0)) fail('E_ARGUMENT', `Pad: pads must be ${2 * r} non-negative integers`);
  for (let d = 0; d < r; ++d) {
    if (y.shape[d] !== x.shape[d] + pads[d] + pads[r + d]) fail('E_SHAPE', `Pad: output dim ${d} is ${y.shape[d]}, expected ${x.shape[d] + pads[d] + pads[r + d]}`);
    if (mode === 'reflect' && (pads[d] >= x.shape[d] || pads[r + d] >= x.shape[d]) && (pads[d] > 0 || pads[r + d] > 0))
      fail('E_ARGUMENT', `Pad: reflect pads must be smaller than the dim (dim ${d} of size ${x.shape[d]})`);
    if (mode === 'edge' && x.shape[d] === 0 && (pads[d] > 0 || pads[r + d] > 0)) fail('E_ARGUMENT', `Pad: edge padding of an empty dim (dim ${d})`);
  }
  const n = numel(y.shape);
  if (n === 0) return;
  const m = new Meta();
  m.set(0, n).set(1, r).set(7, MODES[mode]);
  m.set(2, m.push(...y.shape));
  m.set(3, m.push(y.offset, ...y.strides));
  m.set(4, m.push(x.offset, ...x.strides));
  m.set(5, m.push(...x.shape));
  m.set(6, m.push(...pads.slice(0, r)));
  const { ins, outs } = buffersOf(c);
  c.dev.dispatch(c.dev.pipeline(shader('pad', borderGlue(c, m))), [c.dev.constants(m.build()), ins[0], outs[0]], GpuDevice.grid(n, 256));
};

/**
 * Bindings X (1) and Y (2), copy_element, and store_value writing attribute `value` (converted like
 * Fill, stored at meta[8..10) in Y's kind): the glue of pad.wgsl and im2col.wgsl.
 */
function borderGlue(c: Call, m: Meta): string[] {
  const y = c.outputs[0];
  const k = kindOf(y.dtype);
  const value = num(c, 'value', 0);
  let v: string;
  if (k === 'F') (m.setF32(8, value), (v = 'meta_f32(8u)'));
  else if (k === 'I') (m.set(8, y.dtype === 'bool' ? +(value !== 0) : Number.isNaN(value) ? 0 : value), (v = 'args[8]'));
  else (m.setI64(8, BigInt(Number.isFinite(value) ? Math.trunc(value) : 0)), (v = 'meta_l(8u)'));
  return [
    inputBinding('X', 1),
    outputBinding('Y', 2, y.dtype),
    copyElementFn(c.outputs[0].dtype),
    `fn store_value(y: i32) { ${store('Y', y.dtype, 'y', convert(v, k, y.dtype))}; }`,
  ];
}

const WINDOW_ATTRS = ['kernel', 'strides', 'dilations', 'pads'] as const;

const im2col: Dispatcher = (c) => {
  expectArity(c, 1);
  const x = c.inputs[0], y = c.outputs[0];
  const d = x.shape.length - 2;
  if (d < 1 || d > 6) fail('E_SHAPE', `Im2Col: X must be [N, C, 1 to 6 spatial dims], got [${x.shape}]`);
  if (x.dtype !== y.dtype) fail('E_DTYPE', `Im2Col: output dtype ${y.dtype} differs from input ${x.dtype}`);
  if (!isContiguous(y.shape, y.strides)) fail('E_ARGUMENT', 'Im2Col: Y must be contiguous');
  const [kernel, strides, dilations, pads] = WINDOW_ATTRS.map((name) => {
    const v = c.attrs[name];
    if (!Array.isArray(v) || v.length !== d || v.some((e) => !Number.isInteger(e))) fail('E_ARGUMENT', `Im2Col: attribute '${name}' needs one integer per spatial dim (${d})`);
    return v as number[];
  });
  if (y.shape.length !== 2 + 2 * d || y.shape[0] !== x.shape[0] || y.shape[1] !== x.shape[1]) fail('E_SHAPE', `Im2Col: Y must be [N, C, k..., o...], got [${y.shape}] for X [${x.shape}]`);
  for (let i = 0; i < d; ++i) {
    if (kernel[i] < 1 || strides[i] < 1 || dilations[i] < 1 || pads[i] < 0) fail('E_ARGUMENT', 'Im2Col: kernel, strides and dilations must be >= 1 and pads >= 0');
    if (y.shape[2 + i] !== kernel[i]) fail('E_SHAPE', `Im2Col: Y's kernel dims [${y.shape.slice(2, 2 + d)}] must equal 'kernel' [${kernel}]`);
  }
  const n = numel(y.shape);
  if (n === 0) return;
  const m = new Meta();
  m.set(0, n).set(1, d).set(2, x.shape[1]).set(3, y.offset).set(4, x.offset).set(5, x.strides[0]).set(6, x.strides[1]);
  m.set(7, m.push(...y.shape.slice(2 + d), ...kernel, ...strides, ...dilations, ...pads, ...x.shape.slice(2), ...x.strides.slice(2)));
  const { ins, outs } = buffersOf(c);
  c.dev.dispatch(c.dev.pipeline(shader('im2col', borderGlue(c, m))), [c.dev.constants(m.build()), ins[0], outs[0]], GpuDevice.grid(n, 256));
};

const random: Dispatcher = (c) => {
  expectArity(c, 0);
  const y = c.outputs[0];
  if (kindOf(y.dtype) !== 'F') unsupported(c, 'random ops write float dtypes');
  const n = numel(y.shape);
  if (!isContiguous(y.shape, y.strides)) fail('E_ARGUMENT', `${c.op} writes a contiguous output`);
  for (const k of ['seed_lo', 'seed_hi']) {
    const s = num(c, k, 0);
    if (!(Number.isInteger(s) && s >= 0 && s < 2 ** 32)) fail('E_ARGUMENT', `${c.op}: ${k} must be an integer in [0, 2^32), got ${s}`);
  }
  if (n === 0) return;
  const normal = c.op === 'RandomNormal';
  const shift = normal ? num(c, 'mean', 0) : num(c, 'low', 0);
  const scale = normal ? num(c, 'std', 1) : num(c, 'high', 1) - shift;
  const m = new Meta();
  m.set(0, n).set(1, num(c, 'seed_lo', 0) >>> 0).set(2, num(c, 'seed_hi', 0) >>> 0).setF32(3, shift).setF32(4, scale).set(5, y.offset);
  const glue = [outputBinding('Y', 1, y.dtype), floatStoreFn(y.dtype)];
  const { outs } = buffersOf(c);
  const p = c.dev.pipeline(shader('random', glue), { normal: +normal });
  c.dev.dispatch(p, [c.dev.constants(m.build()), outs[0]], GpuDevice.grid(Math.ceil(n / 4), 256));
};

export const DATA: Record<string, Dispatcher> = { Gather: gather, ScatterSlices: scatterSlices, Pad: pad, Im2Col: im2col, RandomUniform: random, RandomNormal: random };
