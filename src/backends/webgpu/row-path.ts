// Which entry point a row-wise kernel (reduce.wgsl, softmax.wgsl, norm.wgsl) runs: one invocation per
// row (`main`), or one workgroup per row (`main_workgroup`: the lanes share the row's elements and
// combine through workgroup memory).
//
// The rule: a workgroup per row when the row has at least MIN_ROW elements and there are fewer rows
// than half the lanes the device runs at once. One invocation per row keeps `rows` lanes busy, each
// walking a whole row; with fewer rows than the device's lanes the rest idle, and a softmax over one
// row of 50257 logits ran on one lane. With many rows that path fills the device without any
// workgroup barrier, and a short row leaves most of a workgroup's lanes without an element.
// Lanes: WebGPU exposes no core count. A CPU adapter (lavapipe) runs cores x 8 (its SIMD width);
// on lavapipe a 64-wide workgroup of the invocation path already runs 8 rows in its 8 SIMD lanes, and
// measured there (bench/results/webgpu-rows-lavapipe.md, 2 busy cores) the workgroup path won 3-8x
// on one row of 50257 and up to 4 rows, was a wash at 8 and lost 1.5-3x on 128 and 4096 rows. A GPU is taken to run 16384 (a small discrete GPU's resident threads;
// large ones run 10x more), so up to 8191 rows take the workgroup path, where its loads of a row are
// also coalesced, which the invocation path's (one row per lane) are not.
// Workgroup size: 256 lanes on a GPU for rows of 2048 elements or more (8+ elements per lane), else
// 64; always 64 on a CPU adapter, where each barrier switches between the workgroup's 8-lane chunks.
// Both fit every WebGPU device: it runs 256 invocations per workgroup and 16 KiB of workgroup memory
// (the trees take 8 KiB at 256 lanes).
import { availableParallelism } from 'node:os';
import { isCpuAdapter } from './dawn.js';
import type { GpuDevice } from './device.js';

/** One invocation per row, or one workgroup of `size` lanes (a power of two) per row. */
export type RowPath = { workgroup: false } | { workgroup: true; size: number };

/** Tests and benchmarks: force a path and workgroup size ('auto' follows the rule above). */
export const rowKernels: { path: 'auto' | 'invocation' | 'workgroup'; size?: 64 | 256 } = { path: 'auto' };

const MIN_ROW = 64;
const GPU_LANES = 16384;
const CPU_SIMD_LANES = 8;

/** Per device, found once (every row-wise dispatch asks): whether it is a CPU adapter, and its lanes as the rule above counts them. */
const lanesOf = new WeakMap<GpuDevice, { cpu: boolean; lanes: number }>();
function lanesFor(dev: GpuDevice): { cpu: boolean; lanes: number } {
  let l = lanesOf.get(dev);
  if (!l) {
    const cpu = isCpuAdapter(dev.found.info);
    lanesOf.set(dev, (l = { cpu, lanes: cpu ? availableParallelism() * CPU_SIMD_LANES : GPU_LANES }));
  }
  return l;
}

export function rowPath(dev: GpuDevice, rows: number, n: number): RowPath {
  const { cpu, lanes } = lanesFor(dev);
  const size = rowKernels.size ?? (cpu || n < 2048 ? 64 : 256);
  if (rowKernels.path === 'workgroup') return { workgroup: true, size };
  if (rowKernels.path === 'invocation') return { workgroup: false };
  return n >= MIN_ROW && 2 * rows < lanes ? { workgroup: true, size } : { workgroup: false };
}
