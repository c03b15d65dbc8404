// What every op dispatcher receives, and the helpers they share.
import type { DType } from '../../dtype.js';
import { describeValue } from '../../args.js';
import { fail } from '../../errors.js';
import type { Fault } from '../../faults.js';
import { numel } from '../../shape.js';
import type { Attrs, BufferHandle, TensorView } from '../backend.js';
import type { GpuDevice } from './device.js';

export interface GpuBuffer extends BufferHandle {
  readonly gpu: GPUBuffer;
}

export interface Call {
  dev: GpuDevice;
  op: string;
  inputs: TensorView[];
  outputs: TensorView[];
  attrs: Attrs;
  /** Settled by the op's check at the next sync point (ops that check values they read: faults.ts). */
  fault?: Fault;
}

export type Dispatcher = (c: Call) => void;

export const gpuOf = (v: TensorView): GPUBuffer => (v.buffer as GpuBuffer).gpu;
export const sizeOf = (v: TensorView): number => numel(v.shape);

/**
 * The GPU buffers of a call's inputs and outputs. WebGPU forbids binding one buffer both read-only
 * and writable in a dispatch, so an input that shares its buffer with an output reads a snapshot.
 */
export function buffersOf(c: Call): { ins: GPUBuffer[]; outs: GPUBuffer[] } {
  const outs = c.outputs.map(gpuOf);
  const ins = c.inputs.map((v) => {
    const b = gpuOf(v);
    return outs.includes(b) ? c.dev.snapshot(b) : b;
  });
  return { ins, outs };
}

export function num(c: Call, name: string, fallback?: number): number {
  const v = c.attrs[name];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number') fail('E_ARGUMENT', `${c.op}: attribute '${name}' must be a number, got ${describeValue(v)}`);
  return v;
}

export function unsupported(c: Call, why?: string): never {
  const dtypes = [...c.inputs, ...c.outputs].map((v) => v.dtype).join(', ');
  fail('E_UNSUPPORTED', `${c.op}: the webgpu backend has no kernel for dtypes (${dtypes})${why ? `: ${why}` : ''}`);
}

export function expectArity(c: Call, inputs: number | [number, number], outputs = 1): void {
  const [lo, hi] = typeof inputs === 'number' ? [inputs, inputs] : inputs;
  if (c.inputs.length < lo || c.inputs.length > hi || c.outputs.length !== outputs)
    fail('E_ARGUMENT', `${c.op}: expects ${lo === hi ? lo : `${lo}-${hi}`} inputs and ${outputs} output(s), got ${c.inputs.length} and ${c.outputs.length}`);
}

export const sameDType = (vs: TensorView[]): DType | undefined => (vs.every((v) => v.dtype === vs[0].dtype) ? vs[0]?.dtype : undefined);
