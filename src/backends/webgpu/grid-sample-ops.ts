// Dispatch of GridSample (grid_sample.wgsl): one invocation per element of Y, the mode, padding and
// align_corners compiled into the variant.
import { fail } from '../../errors.js';
import { numel } from '../../shape.js';
import { buffersOf, expectArity, num, type Call, type Dispatcher } from './call.js';
import { floatLoadFn, floatStoreFn, inputBinding, kindOf, load, outputBinding, shader, store } from './codegen.js';
import { GpuDevice } from './device.js';
import { Meta, coalesce } from './meta.js';

const MODES = ['linear', 'nearest', 'cubic'];
const PADDINGS = ['zeros', 'border', 'reflection'];

function choice(c: Call, name: string, list: readonly string[]): number {
  const v = c.attrs[name];
  const i = typeof v === 'string' ? list.indexOf(v) : -1;
  if (i < 0) fail('E_ARGUMENT', `GridSample: ${name} ${typeof v === 'string' ? `'${v}'` : String(v)} is not one of ${list.join(', ')}`);
  return i;
}

const gridSample: Dispatcher = (c) => {
  expectArity(c, 2);
  const [x, grid] = c.inputs, y = c.outputs[0];
  if (kindOf(x.dtype) !== 'F' || y.dtype !== x.dtype || grid.dtype !== 'float32')
    fail('E_DTYPE', `GridSample: X and Y must share a float dtype and Grid must be float32, got ${x.dtype}, ${grid.dtype} -> ${y.dtype}`);
  const r = x.shape.length - 2;
  if (r < 1 || r > 3) fail('E_SHAPE', `GridSample: X must be [N, C, 1 to 3 spatial dims], got [${x.shape}]`);
  if (grid.shape.length < 2 || grid.shape[0] !== x.shape[0] || grid.shape[grid.shape.length - 1] !== r)
    fail('E_SHAPE', `GridSample: Grid must be [N, positions..., ${r}] for X's N and spatial rank, got [${grid.shape}] for X [${x.shape}]`);
  const positions = grid.shape.slice(1, -1);
  const want = [x.shape[0], x.shape[1], ...positions];
  if (y.shape.length !== want.length || y.shape.some((d, i) => d !== want[i])) fail('E_SHAPE', `GridSample: Y must be [N, C, positions...] = [${want}], got [${y.shape}]`);
  const mode = choice(c, 'mode', MODES), padding = choice(c, 'padding', PADDINGS);
  const align = num(c, 'align_corners') !== 0;
  const total = numel(y.shape);
  if (total > 0 && numel(x.shape.slice(2)) === 0) fail('E_SHAPE', `GridSample: X [${x.shape}] has an empty spatial dim, so there is nothing to sample`);
  if (total === 0) return;
  const dims = positions.map((_, i) => i);
  const pos = coalesce(positions, [dims.map((i) => y.strides[2 + i]), dims.map((i) => grid.strides[1 + i])]);
  const m = new Meta();
  m.set(0, total).set(1, x.shape[1]).set(2, numel(positions)).set(3, pos.shape.length);
  m.set(4, m.push(...pos.shape));
  m.set(5, m.push(y.offset, y.strides[0], y.strides[1], ...pos.strides[0]));
  m.set(6, m.push(grid.offset, grid.strides[0], grid.strides[grid.shape.length - 1], ...pos.strides[1]));
  m.set(7, m.push(x.offset, x.strides[0], x.strides[1], ...x.shape.slice(2), ...x.strides.slice(2)));
  const glue = [
    inputBinding('X', 1),
    inputBinding('G', 2),
    outputBinding('Y', 3, y.dtype),
    `const R: u32 = ${r}u;`,
    `const MODE: u32 = ${mode}u;`,
    `const PAD: u32 = ${padding}u;`,
    `const ALIGN: bool = ${align};`,
    floatLoadFn('x_at', 'X', x.dtype),
    floatStoreFn(y.dtype),
    `fn copy_element(y: i32, x: i32) { ${store('Y', y.dtype, 'y', load('X', x.dtype, 'x'))}; }`,
    `fn zero_y(y: i32) { store_y(y, 0.0); }`,
  ];
  const { ins, outs } = buffersOf(c);
  c.dev.dispatch(c.dev.pipeline(shader('grid_sample', glue)), [c.dev.constants(m.build()), ins[0], ins[1], outs[0]], GpuDevice.grid(total, 256));
};

export const GRID_SAMPLE: Record<string, Dispatcher> = { GridSample: gridSample };
