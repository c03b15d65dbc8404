// gridSample: X sampled at the positions a grid gives (PyTorch's F.grid_sample, ONNX GridSample).
// The native GridSample op (kernels/OPS.md) for 1 to 3 spatial dims where the device has it; the
// composition of grid-sample-composed.ts otherwise, with the same results.
import { describeValue, optionsArg } from '../args.js';
import { isFloat } from '../dtype.js';
import { fail } from '../errors.js';
import { numel } from '../shape.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { cast } from './cast.js';
import { zeros } from './creation.js';
import { composedGridSample, type GridSampleMode, type GridSamplePadding } from './grid-sample-composed.js';
import { commonDevice, run1 } from './run.js';
import { withTemps } from './temps.js';

export type { GridSampleMode, GridSamplePadding };

export interface GridSampleOptions {
  /** How taps are interpolated: 'linear' (default; bilinear in 2-D), 'nearest' (half to even) or 'cubic' (Keys, A = -0.75). */
  mode?: GridSampleMode;
  /** What taps outside X read: 'zeros' (default), 'border' (the nearest edge) or 'reflection' (mirrored at the borders). */
  padding?: GridSamplePadding;
  /** true: -1 and 1 are the centers of the corner pixels; false (default): their outer edges. */
  alignCorners?: boolean;
}

const MODES: readonly GridSampleMode[] = ['linear', 'nearest', 'cubic'];
const PADDINGS: readonly GridSamplePadding[] = ['zeros', 'border', 'reflection'];
/** Spatial ranks the native GridSample op takes. */
const NATIVE_RANKS = 3;

/** Whether a gridSample of X's spatial rank `r` runs the native op on the backend of `x` (else the composed path). */
export const nativeGridSample = (x: Tensor, r: number): boolean => r >= 1 && r <= NATIVE_RANKS && x.backendFor('gridSample').supports('GridSample', [x.dtype]);

function choice<T extends string>(what: string, v: unknown, list: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!list.includes(v as T)) fail('E_ARGUMENT', `gridSample: ${what} ${describeValue(v)} is not one of ${list.join(', ')}`);
  return v as T;
}

/**
 * Samples `x` [N, C, ...spatial] (float) at the positions of `grid` [N, ...out, r] (float; r = the
 * spatial rank), giving [N, C, ...out]. grid[n, ...p] holds normalized coordinates, innermost dim
 * first (x, then y, then z), -1 and 1 being x's borders. Interpolation runs in float32 and rounds
 * once into x's dtype; 'nearest' copies x's values. A NaN or infinite coordinate gives NaN in
 * 'linear' and 'cubic' modes. As PyTorch's F.grid_sample, with the same defaults.
 */
export function gridSample(x: Tensor, grid: Tensor, options?: GridSampleOptions): Tensor {
  checkTensor('gridSample', x, 'X');
  checkTensor('gridSample', grid, 'grid');
  const o = optionsArg('gridSample', options, ['mode', 'padding', 'alignCorners']);
  const mode = choice('mode', o.mode, MODES, 'linear');
  const padding = choice('padding', o.padding, PADDINGS, 'zeros');
  if (o.alignCorners !== undefined && typeof o.alignCorners !== 'boolean') fail('E_ARGUMENT', `gridSample: alignCorners must be a boolean, got ${describeValue(o.alignCorners)}`);
  const align = o.alignCorners ?? false;
  commonDevice('gridSample', [x, grid]);
  for (const [name, v] of [['X', x], ['grid', grid]] as const)
    if (!isFloat(v.dtype)) fail('E_DTYPE', `gridSample: ${name} ${v.describe()} must be float32, float16 or bfloat16`);
  if (x.rank < 3) fail('E_SHAPE', `gridSample: X ${x.describe()} needs a batch, a channel and at least one spatial dim`);
  const r = x.rank - 2;
  if (grid.rank !== x.rank || grid.shape[0] !== x.shape[0] || grid.shape[r + 1] !== r)
    fail('E_SHAPE', `gridSample: grid ${grid.describe()} must be [${x.shape[0]}, ${Array(r).fill('out').join(', ')}, ${r}] for X ${x.describe()}: rank ${x.rank}, X's batch, and ${r} coordinates per position`);
  const outShape = [x.shape[0], x.shape[1], ...grid.shape.slice(1, -1)];
  if (numel(outShape) === 0) return zeros(outShape, { dtype: x.dtype, device: x.device });
  // as onnxruntime: nothing to sample (though zeros padding could call it all zeros)
  if (numel(x.shape.slice(2)) === 0) fail('E_SHAPE', `gridSample: X ${x.describe()} has an empty spatial dim: there is nothing to sample`);
  if (!nativeGridSample(x, r)) return composedGridSample(x, grid, mode, padding, align);
  return withTemps((t) => {
    const g = grid.dtype === 'float32' ? grid : t.add(cast(grid, 'float32'));
    return run1('GridSample', [x, g], outShape, x.dtype, { mode, padding, align_corners: align ? 1 : 0 });
  });
}
