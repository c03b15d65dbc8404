// Resize (nearest and linear) as separable per-axis Gathers: for each resized axis the source
// indices (and, for linear, the two taps' weights) are computed on the host from the ONNX
// coordinate transformation, then applied with Kiln's Gather, Mul and Add on any device.
import { fail } from '../../errors.js';
import { tensor } from '../../ops/creation.js';
import { gather } from '../../ops/shape-ops.js';
import { withTemps } from '../../ops/temps.js';
import { normalizeAxis } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { attrInt, attrInts, attrString } from '../attrs.js';
import type { Node } from '../model.js';
import { defineOps, type OpContext } from './registry.js';
import { binary, input } from './util.js';

const COORD = ['half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric'];

/** The input coordinate of output coordinate x along an axis. */
function source(mode: string, x: number, scale: number, inSize: number, outSize: number): number {
  switch (mode) {
    case 'asymmetric': return x / scale;
    case 'align_corners': return outSize === 1 ? 0 : (x * (inSize - 1)) / (outSize - 1);
    case 'pytorch_half_pixel': return outSize > 1 ? (x + 0.5) / scale - 0.5 : 0;
    case 'half_pixel_symmetric': {
      const adjustment = outSize / (scale * inSize);
      const offset = (inSize / 2) * (1 - adjustment);
      return offset + (x + 0.5) / scale - 0.5;
    }
    default: return (x + 0.5) / scale - 0.5;
  }
}

function nearest(mode: string, v: number): number {
  switch (mode) {
    case 'floor': return Math.floor(v);
    case 'ceil': return Math.ceil(v);
    case 'round_prefer_ceil': return Math.round(v);
    default: return v - Math.floor(v) === 0.5 ? Math.floor(v) : Math.round(v); // round_prefer_floor
  }
}

function check(n: Node): string | undefined {
  const mode = attrString(n, 'mode', 'nearest');
  if (mode !== 'nearest' && mode !== 'linear') return `mode '${mode}' (nearest and linear are implemented)`;
  const coord = attrString(n, 'coordinate_transformation_mode', 'half_pixel');
  if (!COORD.includes(coord)) return `coordinate_transformation_mode '${coord}'`;
  if (attrInt(n, 'antialias', 0)) return 'antialias=1';
  return undefined;
}

function resize(ctx: OpContext): Tensor {
  const x = input(ctx, 0), n = ctx.node;
  const r = x.rank;
  const v10 = ctx.opset < 11;
  const scalesIn = v10 ? ctx.host(1) : ctx.host(2);
  const sizesIn = v10 ? undefined : ctx.host(3);
  const axes = (attrInts(n, 'axes') ?? [...Array(r).keys()]).map((a) => normalizeAxis('Resize', a, r));
  const scales = x.shape.map(() => 1), sizes = [...x.shape];
  if (sizesIn && sizesIn.values.length) {
    const want = Array.from(sizesIn.values, Number);
    const policy = attrString(n, 'keep_aspect_ratio_policy', 'stretch');
    const ratios = axes.map((a, i) => want[i] / x.shape[a]);
    const common = policy === 'not_larger' ? Math.min(...ratios) : policy === 'not_smaller' ? Math.max(...ratios) : undefined;
    axes.forEach((a, i) => {
      scales[a] = common ?? ratios[i];
      sizes[a] = common === undefined ? want[i] : Math.round(common * x.shape[a]);
    });
  } else if (scalesIn && scalesIn.values.length) {
    axes.forEach((a, i) => {
      scales[a] = Number(scalesIn.values[i]);
      sizes[a] = Math.floor(x.shape[a] * scales[a]);
    });
  } else fail('E_ARGUMENT', `node '${n.name}' (Resize): needs scales or sizes`);
  const mode = attrString(n, 'mode', 'nearest');
  const coord = v10 ? 'asymmetric' : attrString(n, 'coordinate_transformation_mode', 'half_pixel');
  const nearestMode = v10 ? 'floor' : attrString(n, 'nearest_mode', 'round_prefer_floor');
  return withTemps((t) => {
    let cur = x;
    for (let a = 0; a < r; ++a) {
      if (sizes[a] === x.shape[a] && scales[a] === 1) continue;
      const inSize = x.shape[a], outSize = sizes[a];
      const clampIdx = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
      const coords = Array.from({ length: outSize }, (_, o) => source(coord, o, scales[a], inSize, outSize));
      if (mode === 'nearest') {
        cur = t.add(gather(cur, coords.map((c) => clampIdx(nearest(nearestMode, c))), a));
        continue;
      }
      const lo: number[] = [], hi: number[] = [], wHi: number[] = [];
      for (const c0 of coords) {
        const c = Math.min(Math.max(c0, 0), inSize - 1);
        const f = Math.floor(c);
        lo.push(f);
        hi.push(clampIdx(f + 1));
        wHi.push(c - f);
      }
      const wshape = Array.from({ length: r }, (_, d) => (d === a ? outSize : 1));
      const w1 = t.add(tensor(wHi, { dtype: cur.dtype, device: cur.device, shape: wshape }));
      const w0 = t.add(tensor(wHi.map((w) => 1 - w), { dtype: cur.dtype, device: cur.device, shape: wshape }));
      const a0 = t.add(binary('Mul', t.add(gather(cur, lo, a)), w0));
      const a1 = t.add(binary('Mul', t.add(gather(cur, hi, a)), w1));
      cur = t.add(binary('Add', a0, a1));
    }
    return cur === x ? x.clone() : cur.withLayout('Resize', cur.shape, cur.strides);
  });
}

defineOps({
  Resize: { since: 10, uses: ['Gather', 'Mul', 'Add'], hostInputs: [1, 2, 3], check, run: (ctx) => [resize(ctx)] },
  Upsample: {
    since: 9,
    uses: ['Gather', 'Mul', 'Add'],
    hostInputs: [1],
    check: (n) => (['nearest', 'linear'].includes(attrString(n, 'mode', 'nearest')) ? undefined : `mode '${attrString(n, 'mode', 'nearest')}'`),
    run: (ctx) => [resize({ ...ctx, opset: 10 })],
  },
});
