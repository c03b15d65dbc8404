// The native scatter (ScatterSlices, kernels/OPS.md) for the ONNX engine's ScatterND and
// ScatterElements; not part of the public API (src/ops/index.ts does not export it).
import type { Tensor } from '../tensor.js';
import { debug, runInto } from './run.js';

/** Whether `x`'s backend scatters natively (ScatterSlices) for its dtype (and debug.nativeScatter allows it). */
export const canScatterSlices = (x: Tensor): boolean => debug.nativeScatter && x.backendFor('ScatterSlices').supports('ScatterSlices', [x.dtype]);

/**
 * In `out` (contiguous), the slice of `slice` elements that each of `positions` (int64, contiguous,
 * row-major order) names takes the matching slice of `updates` (out's dtype, contiguous), the last
 * update naming a slice winning; a position outside out's slices writes nothing, so callers check
 * positions first (their Gather's data fault then flows into `out`).
 */
export function scatterSlicesInto(out: Tensor, positions: Tensor, updates: Tensor, slice: number): void {
  runInto('ScatterSlices', [positions, updates], [out], { slice });
}
