// GridSample (opset 16: 4-D X, modes bilinear/nearest/bicubic; opset 20+: any spatial rank, modes
// linear/nearest/cubic) on kiln.gridSample (src/ops/grid-sample.ts): the native GridSample op where
// the device has it and X has 1 to 3 spatial dims, else its composition from other Kiln ops. This
// handler only maps the attributes.
//
// Padding applies to each integer tap, as in onnxruntime's CPU kernel and PyTorch's bicubic path
// (for linear taps this equals clamping or reflecting the coordinate first, as PyTorch's bilinear
// path does); nearest rounds half to even (std::nearbyint in onnxruntime). A NaN or infinite grid
// value makes linear and cubic results NaN (NaN in, NaN out) where onnxruntime 1.30 reads it as -1.
import type { Backend } from '../../backends/backend.js';
import { fail } from '../../errors.js';
import { composedOps, type GridSampleMode, type GridSamplePadding } from '../../ops/grid-sample-composed.js';
import { gridSample } from '../../ops/grid-sample.js';
import type { Tensor } from '../../tensor.js';
import { attrFlag, attrString } from '../attrs.js';
import type { Node } from '../model.js';
import { defineOps, type OpContext } from './registry.js';
import { input } from './util.js';

// opset 20 renamed the modes (and made them N-dimensional); each opset knows only its own names
const MODES_16: Record<string, GridSampleMode> = { bilinear: 'linear', nearest: 'nearest', bicubic: 'cubic' };
const MODES_20: Record<string, GridSampleMode> = { linear: 'linear', nearest: 'nearest', cubic: 'cubic' };
const PADDINGS: readonly GridSamplePadding[] = ['zeros', 'border', 'reflection'];

const modeName = (n: Node, opset: number) => attrString(n, 'mode', opset < 20 ? 'bilinear' : 'linear');
const modesOf = (opset: number) => (opset < 20 ? MODES_16 : MODES_20);
const paddingName = (n: Node) => attrString(n, 'padding_mode', 'zeros');

function modeOf(n: Node, opset: number): GridSampleMode {
  const given = modeName(n, opset);
  return modesOf(opset)[given] ?? fail('E_ARGUMENT', `mode '${given}' is not one of ${Object.keys(modesOf(opset)).join(', ')} (opset ${opset})`);
}

function paddingOf(n: Node): GridSamplePadding {
  const given = paddingName(n);
  return PADDINGS.includes(given as GridSamplePadding) ? (given as GridSamplePadding) : fail('E_ARGUMENT', `padding_mode '${given}' is not one of ${PADDINGS.join(', ')}`);
}

/**
 * The native ops a node may launch on `backend`: GridSample where the backend has it (opset 16's
 * 4-D X always takes it; from opset 20 an X of more than 3 spatial dims takes the composed path, so
 * its ops are listed too), else the composed path's. A bad mode or padding_mode launches none (it
 * fails when the node runs).
 */
function uses(n: Node, opset: number, backend: Backend): readonly string[] {
  const mode = modesOf(opset)[modeName(n, opset)], padding = paddingName(n) as GridSamplePadding;
  if (!mode || !PADDINGS.includes(padding)) return [];
  const native = backend.supports('GridSample', ['float32']);
  if (native && opset < 20) return ['GridSample'];
  return native ? ['GridSample', ...composedOps(mode, padding)] : composedOps(mode, padding);
}

function run(ctx: OpContext): Tensor {
  const x = input(ctx, 0), grid = input(ctx, 1), n = ctx.node;
  const mode = modeOf(n, ctx.opset), padding = paddingOf(n);
  const alignCorners = attrFlag(n, 'align_corners', 0);
  if (ctx.opset < 20 && x.rank !== 4 && x.rank >= 3)
    fail('E_SHAPE', `X ${x.describe()} must be 4-D [N, C, H, W] in opset ${ctx.opset} (opset 20 takes any spatial rank)`);
  return gridSample(x, grid, { mode, padding, alignCorners });
}

defineOps({
  GridSample: { since: 16, uses, run: (ctx) => [run(ctx)] },
});
