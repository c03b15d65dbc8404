// Forcing the WebGPU row kernels' path (src/backends/webgpu/row-path.ts) around an op call: kernels
// are encoded when an op is called, so setting the switch for the call's duration is enough.
import { rowKernels } from '../../src/backends/webgpu/row-path.js';

export interface RowPathCase {
  label: string;
  path: typeof rowKernels.path;
  size?: typeof rowKernels.size;
}

export const ROW_PATHS: readonly RowPathCase[] = [
  { label: 'auto', path: 'auto' },
  { label: 'invocation per row', path: 'invocation' },
  { label: 'workgroup of 64', path: 'workgroup', size: 64 },
  { label: 'workgroup of 256', path: 'workgroup', size: 256 },
];

/** Calls f with the row path forced, then restores the switch. */
export function underRowPath<T>(p: Omit<RowPathCase, 'label'>, f: () => T): T {
  const { path, size } = rowKernels;
  rowKernels.path = p.path;
  rowKernels.size = p.size;
  try {
    return f();
  } finally {
    rowKernels.path = path;
    rowKernels.size = size;
  }
}
