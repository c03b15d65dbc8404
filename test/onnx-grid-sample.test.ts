// GridSample on the Kiln engine, on every device: against onnxruntime (the ort engine) for the 4-D
// and 5-D inputs it runs (every mode, padding_mode and align_corners; grids past [-1, 1], on the
// borders and on half-pixel ties; float16 and bfloat16; N and C > 1; empty outputs), and against the
// float64 reference of test/helpers/grid-sample.ts for what onnxruntime lacks (1-D and 4-D spatial
// inputs, cubic in 3-D, a reflected size-1 dim) and where the two differ by design (non-finite grid
// values). The handler takes the native GridSample op where the backend has it (and X has 1 to 3
// spatial dims), the composed path otherwise (4-D spatial inputs here); its `uses` says which. Bad
// nodes are KilnErrors naming what was wrong. kiln.gridSample itself: test/ops-grid-sample.test.ts.
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType } from '../src/index.js';
import { resolveDevice, type Backend } from '../src/backends/backend.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { parseModel, readSource } from '../src/onnx/model.js';
import { opHandler } from '../src/onnx/ops/registry.js';
import { forEachBackend } from './helpers/backends.js';
import { expectRejection, mismatches, tolFor } from './helpers/compare.js';
import { gridSampleReference, gridValues, type Mode, type Padding } from './helpers/grid-sample.js';
import { rngFor } from './helpers/random.js';
import { numel, roundTo } from './helpers/reference.js';

interface Case {
  name: string;
  opset: number;
  attrs: { mode?: string; padding_mode?: string; align_corners?: number };
  dtype: DType; // X's
  gridDType: DType;
  xShape: number[];
  gridShape: number[];
  x: number[]; // already rounded to dtype
  grid: number[]; // already rounded to gridDType
}
type Result = { shape: number[]; values: number[] };

const MODES: Record<string, Mode> = { linear: 'linear', bilinear: 'linear', nearest: 'nearest', cubic: 'cubic', bicubic: 'cubic' };
const refOf = (c: Case) => gridSampleReference(c.xShape, c.x, c.gridShape, c.grid, MODES[c.attrs.mode ?? 'linear'], (c.attrs.padding_mode ?? 'zeros') as Padding, c.attrs.align_corners === 1);

const modelOf = (c: Case, asFloat32 = false): Uint8Array => {
  const g = new GraphBuilder('gridsample');
  g.input('x', asFloat32 ? 'float32' : c.dtype, c.xShape);
  g.input('grid', asFloat32 ? 'float32' : c.gridDType, c.gridShape);
  g.output(g.node('GridSample', ['x', 'grid'], c.attrs), asFloat32 ? 'float32' : c.dtype);
  return g.toBytes({ opset: c.opset });
};

/** Runs a case on the Kiln engine on `device`, or (float32 only) on onnxruntime. */
async function run(c: Case, engine: 'kiln' | 'ort', device: string): Promise<Result> {
  const s = await kiln.onnx.load(modelOf(c, engine === 'ort'), engine === 'ort' ? { engine } : { engine, device });
  try {
    const on = engine === 'ort' ? 'cpu' : device;
    const ortDType = (d: DType) => (engine === 'ort' ? 'float32' : d);
    const feeds = {
      x: kiln.tensor(c.x, { dtype: ortDType(c.dtype), shape: c.xShape, device: on }),
      grid: kiln.tensor(c.grid, { dtype: ortDType(c.gridDType), shape: c.gridShape, device: on }),
    };
    const [y] = Object.values(await s.run(feeds));
    const res = { shape: [...y.shape], values: Array.from(await y.data(), Number) };
    for (const t of [y, feeds.x, feeds.grid]) t.dispose();
    return res;
  } finally {
    await s.dispose();
  }
}

const rng = rngFor('onnx GridSample');

function makeCase(name: string, o: { opset?: number; attrs: Case['attrs']; xShape: number[]; gridShape: number[]; dtype?: DType; gridDType?: DType; grid?: number[] }): Case {
  const dtype = o.dtype ?? 'float32', gridDType = o.gridDType ?? dtype;
  return {
    name,
    opset: o.opset ?? 20,
    attrs: o.attrs,
    dtype,
    gridDType,
    xShape: o.xShape,
    gridShape: o.gridShape,
    x: Array.from({ length: numel(o.xShape) }, () => roundTo(dtype, rng.uniform(-2, 2))),
    grid: (o.grid ?? gridValues(rng, numel(o.gridShape))).map((v) => roundTo(gridDType, v)),
  };
}

const PADDINGS: Padding[] = ['zeros', 'border', 'reflection'];
const label = (mode: string, padding: string, align: number) => `${mode}, ${padding}, align_corners=${align}`;

// Cases both engines run: onnxruntime 1.30 takes 4-D and 5-D X, float32, cubic in 4-D only.
const AGREED: Case[] = [];
for (const mode of ['linear', 'nearest', 'cubic'])
  for (const padding_mode of PADDINGS)
    for (const align_corners of [0, 1]) {
      const attrs = { mode, padding_mode, align_corners };
      AGREED.push(makeCase(`4-D ${label(mode, padding_mode, align_corners)}`, { attrs, xShape: [2, 3, 5, 4], gridShape: [2, 6, 7, 2] }));
      if (mode !== 'cubic') AGREED.push(makeCase(`5-D ${label(mode, padding_mode, align_corners)}`, { attrs, xShape: [2, 2, 3, 4, 5], gridShape: [2, 3, 4, 2, 3] }));
    }
AGREED.push(
  makeCase('opset 16 bilinear (the default mode)', { opset: 16, attrs: { padding_mode: 'border' }, xShape: [1, 2, 6, 3], gridShape: [1, 4, 5, 2] }),
  makeCase('opset 16 bicubic', { opset: 16, attrs: { mode: 'bicubic', padding_mode: 'reflection', align_corners: 1 }, xShape: [2, 1, 4, 4], gridShape: [2, 3, 3, 2] }),
  makeCase('opset 16 nearest', { opset: 16, attrs: { mode: 'nearest' }, xShape: [3, 2, 4, 5], gridShape: [3, 2, 6, 2] }),
  makeCase('opset 22, the default attributes', { opset: 22, attrs: {}, xShape: [2, 3, 4, 4], gridShape: [2, 5, 2, 2] }),
  makeCase('N=4, C=9, one output position per sample', { attrs: { mode: 'cubic', padding_mode: 'border' }, xShape: [4, 9, 3, 7], gridShape: [4, 1, 1, 2] }),
  makeCase('a 1 x 1 image (every tap is padding or its one pixel)', { attrs: { padding_mode: 'zeros' }, xShape: [2, 2, 1, 1], gridShape: [2, 3, 3, 2] }),
  makeCase('1-wide dims, reflection without align_corners', { attrs: { mode: 'cubic', padding_mode: 'reflection' }, xShape: [1, 2, 1, 5], gridShape: [1, 4, 4, 2] }),
  makeCase('an empty output (no positions)', { attrs: { mode: 'cubic' }, xShape: [2, 3, 4, 4], gridShape: [2, 0, 4, 2] }),
  makeCase('an empty output (no channels)', { attrs: { mode: 'nearest' }, xShape: [2, 0, 4, 4], gridShape: [2, 3, 4, 2] }),
);

// float16 and bfloat16: onnxruntime has float32 GridSample only, so it runs on the rounded values in float32
const LOW: Case[] = [
  makeCase('float16 linear, zeros', { dtype: 'float16', attrs: { mode: 'linear' }, xShape: [2, 3, 5, 4], gridShape: [2, 4, 6, 2] }),
  makeCase('float16 cubic, reflection, align_corners', { dtype: 'float16', attrs: { mode: 'cubic', padding_mode: 'reflection', align_corners: 1 }, xShape: [1, 2, 5, 6], gridShape: [1, 5, 3, 2] }),
  makeCase('float16 nearest, border, 5-D', { dtype: 'float16', attrs: { mode: 'nearest', padding_mode: 'border' }, xShape: [2, 2, 3, 3, 4], gridShape: [2, 2, 3, 2, 3] }),
  makeCase('bfloat16 X, float32 grid, linear, border', { dtype: 'bfloat16', gridDType: 'float32', attrs: { padding_mode: 'border' }, xShape: [2, 2, 4, 5], gridShape: [2, 3, 5, 2] }),
  makeCase('float32 X, float16 grid, cubic', { gridDType: 'float16', attrs: { mode: 'cubic' }, xShape: [1, 3, 4, 6], gridShape: [1, 4, 4, 2] }),
];

// What onnxruntime does not run: other spatial ranks (opset 20 takes any), cubic past 2-D, a reflected size-1 dim with align_corners
const OWN: Case[] = [];
for (const mode of ['linear', 'nearest', 'cubic'])
  for (const padding_mode of PADDINGS)
    for (const align_corners of [0, 1]) OWN.push(makeCase(`3-D (one spatial dim) ${label(mode, padding_mode, align_corners)}`, { attrs: { mode, padding_mode, align_corners }, xShape: [2, 3, 6], gridShape: [2, 9, 1] }));
OWN.push(
  makeCase('5-D cubic, reflection', { attrs: { mode: 'cubic', padding_mode: 'reflection' }, xShape: [1, 2, 3, 4, 3], gridShape: [1, 2, 3, 2, 3] }),
  makeCase('5-D cubic, zeros, align_corners', { attrs: { mode: 'cubic', align_corners: 1 }, xShape: [2, 1, 4, 3, 3], gridShape: [2, 2, 2, 2, 3] }),
  makeCase('6-D linear, border', { attrs: { padding_mode: 'border' }, xShape: [2, 2, 2, 3, 2, 3], gridShape: [2, 2, 3, 1, 2, 4] }),
  makeCase('6-D nearest, reflection', { attrs: { mode: 'nearest', padding_mode: 'reflection' }, xShape: [1, 3, 3, 2, 2, 3], gridShape: [1, 3, 1, 2, 2, 4] }),
  makeCase('a size-1 dim reflected with align_corners', { attrs: { mode: 'cubic', padding_mode: 'reflection', align_corners: 1 }, xShape: [2, 2, 1, 4], gridShape: [2, 3, 3, 2] }),
  makeCase('a size-1 dim reflected with align_corners, linear', { attrs: { mode: 'linear', padding_mode: 'reflection', align_corners: 1 }, xShape: [1, 2, 3, 1], gridShape: [1, 3, 3, 2] }),
);

/** Kiln against expected values: exact for nearest (values are copied), else within the rounding of sum |w * x| in `dtype`. */
function expectClose(got: Result, want: Result, c: Case, scale: number[], label: string): void {
  expect(got.shape, label).toEqual(want.shape);
  const exact = MODES[c.attrs.mode ?? 'linear'] === 'nearest';
  // float32: a few roundings of each weight and of the running sum; float16/bfloat16: one rounding of the result
  const tol = exact ? { rtol: 0, atol: 0 } : c.dtype === 'float32' ? { rtol: 1e-5, atol: 0 } : tolFor(c.dtype);
  const { count, first } = mismatches(got.values, want.values, got.shape, tol, exact ? undefined : scale);
  if (count) throw new Error(`${label}: ${count} of ${want.values.length} values differ (rtol ${tol.rtol} of sum |w x|): ${first.map((m) => `[${m.index}] want ${m.expected} got ${m.got}`).join('; ')}`);
}

const ort = new Map<string, Result>();
beforeAll(async () => {
  for (const c of [...AGREED, ...LOW]) ort.set(c.name, await run(c, 'ort', 'cpu'));
});
afterAll(() => ort.clear());

it('the float64 reference here agrees with onnxruntime (so it may stand in where onnxruntime cannot run)', () => {
  for (const c of [...AGREED, ...LOW]) {
    const ref = refOf(c);
    expectClose(ort.get(c.name)!, ref, { ...c, dtype: 'float32' }, ref.scale, `reference vs onnxruntime: ${c.name}`);
  }
});

it("the handler's uses: GridSample where the backend has it (from opset 20 with the composed ops too, for X past 3 spatial dims), else the composed ops", () => {
  const nodeOf = (opset: number, attrs: Case['attrs']) => parseModel(readSource(modelOf(makeCase('uses', { opset, attrs, xShape: [1, 1, 2, 2], gridShape: [1, 1, 1, 2] })))).graph.nodes[0];
  const uses = (opset: number, attrs: Case['attrs'], b: Backend) => {
    const u = opHandler('GridSample')!.uses;
    return typeof u === 'function' ? u(nodeOf(opset, attrs), opset, b) : u;
  };
  const cpu = resolveDevice('cpu').backend;
  const without = { ...cpu, kind: cpu.kind, supports: (op: string, dtypes: DType[]) => op !== 'GridSample' && cpu.supports(op, dtypes) } as Backend;
  expect(uses(16, {}, cpu)).toEqual(['GridSample']);
  const composed = uses(16, { mode: 'bicubic', padding_mode: 'reflection' }, without);
  expect(composed).not.toContain('GridSample');
  for (const op of ['Gather', 'Floor', 'Abs', 'Mod', 'Pad']) expect(composed).toContain(op);
  expect(uses(20, { mode: 'nearest', padding_mode: 'zeros' }, without)).toEqual(expect.arrayContaining(['Gather', 'Round', 'Min', 'And']));
  expect(uses(20, { mode: 'nearest' }, without)).not.toContain('Floor');
  const both = uses(20, { mode: 'cubic' }, cpu);
  expect(both[0]).toBe('GridSample');
  expect(both).toEqual(expect.arrayContaining(['Gather', 'Abs', 'Where']));
  // a bad mode launches nothing (the node fails when it runs)
  expect(uses(20, { mode: 'bilinear' }, cpu)).toEqual([]);
  expect(uses(16, { padding_mode: 'wrap' }, without)).toEqual([]);
});

forEachBackend('onnx GridSample', (device) => {
  it('agrees with onnxruntime: every mode x padding_mode x align_corners, 4-D and 5-D, opsets 16 to 22, empty outputs', async () => {
    for (const c of AGREED) {
      const want = ort.get(c.name)!;
      expectClose(await run(c, 'kiln', device), want, c, refOf(c).scale, c.name);
    }
  });

  it('float16 and bfloat16 round once from float32 interpolation', async () => {
    for (const c of LOW) {
      const got = await run(c, 'kiln', device);
      // onnxruntime's float32 result, rounded into X's dtype as Kiln's is
      const want = ort.get(c.name)!;
      expectClose(got, { shape: want.shape, values: want.values.map((v) => roundTo(c.dtype, v)) }, c, refOf(c).scale, c.name);
    }
  });

  it('other spatial ranks, cubic past 2-D and a reflected size-1 dim match the reference', async () => {
    for (const c of OWN) {
      const ref = refOf(c);
      expectClose(await run(c, 'kiln', device), ref, c, ref.scale, c.name);
    }
  });

  it('non-finite grid values: NaN out of linear and cubic; nearest reads no pixel with zeros padding, position 0 otherwise', async () => {
    // onnxruntime 1.30 reads NaN and +-Infinity as the coordinate -1 instead
    const grid = [NaN, 0, 0, NaN, Infinity, 0, 0, -Infinity, 0.5, 0.5];
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    for (const mode of ['linear', 'cubic', 'nearest'])
      for (const padding_mode of PADDINGS) {
        const c: Case = { name: `${mode} ${padding_mode}`, opset: 20, attrs: { mode, padding_mode }, dtype: 'float32', gridDType: 'float32', xShape: [1, 1, 3, 4], gridShape: [1, 1, 5, 2], x, grid };
        const got = await run(c, 'kiln', device);
        const finite = refOf(c).values[4];
        if (mode !== 'nearest') {
          expect(got.values.slice(0, 4).every(Number.isNaN), c.name).toBe(true);
          expect(got.values[4], c.name).toBeCloseTo(finite, 5);
        } else if (padding_mode === 'zeros') expect(got.values, c.name).toEqual([0, 0, 0, 0, finite]);
        // NaN grid values: x = position 0 (with y = 0.5 -> row 1 of 3: x[4]); y = position 0 (x = 1.5 -> column 2 rounded to even: x[2])
        else expect(got.values.slice(0, 2), c.name).toEqual([x[4], x[2]]);
      }
  });

  it('bad GridSample nodes are KilnErrors naming what was wrong', async () => {
    const ok = { xShape: [1, 2, 3, 4], gridShape: [1, 2, 2, 2] };
    const bad = (over: Partial<Case>) => run({ ...makeCase('bad', { attrs: {}, ...ok }), ...over }, 'kiln', device);
    await expectRejection(bad({ attrs: { mode: 'bilinear' } }), 'E_ARGUMENT', "mode 'bilinear'", 'opset 20');
    await expectRejection(bad({ attrs: { mode: 'linear' }, opset: 16 }), 'E_ARGUMENT', "mode 'linear'", 'opset 16');
    await expectRejection(bad({ attrs: { mode: 'area' } }), 'E_ARGUMENT', "mode 'area'");
    await expectRejection(bad({ attrs: { padding_mode: 'wrap' } }), 'E_ARGUMENT', "padding_mode 'wrap'");
    await expectRejection(bad({ attrs: { align_corners: 2 } }), 'E_ARGUMENT', 'align_corners', 'must be 0 or 1');
    const int32 = makeCase('int32 X', { attrs: {}, ...ok, dtype: 'int32', gridDType: 'float32' });
    await expectRejection(run(int32, 'kiln', device), 'E_DTYPE', 'X', 'int32');
    const int64Grid = makeCase('int64 grid', { attrs: {}, ...ok, gridDType: 'int64', grid: [0, 1, -1, 0, 1, 1, 0, 0] });
    await expectRejection(run(int64Grid, 'kiln', device), 'E_DTYPE', 'grid', 'int64');
    const shaped = (xShape: number[], gridShape: number[], opset = 20) => run(makeCase('shape', { opset, attrs: {}, xShape, gridShape }), 'kiln', device);
    await expectRejection(shaped([1, 2, 3, 4], [1, 2, 2, 3]), 'E_SHAPE', 'grid', '2 coordinates per position');
    await expectRejection(shaped([1, 2, 3, 4], [1, 2, 2, 2, 2]), 'E_SHAPE', 'grid', 'rank 4');
    await expectRejection(shaped([2, 2, 3, 4], [1, 2, 2, 2]), 'E_SHAPE', 'grid', "X's batch");
    await expectRejection(shaped([2, 3], [2, 1]), 'E_SHAPE', 'at least one spatial dim');
    await expectRejection(shaped([1, 2, 3, 4, 5], [1, 2, 2, 2, 3], 16), 'E_SHAPE', 'must be 4-D', 'opset 16');
    await expectRejection(shaped([1, 2, 0, 4], [1, 2, 2, 2]), 'E_SHAPE', 'empty spatial dim');
  });
});
