// Records what the CPU backend is asked to do inside recording windows: launches (with copies of their
// view descriptors), writes (with copies of their bytes) and the buffers allocated meanwhile.
// src/onnx/replay.ts opens a window around each node of one graph run and turns the recording into a
// native program (native/program.h) that later runs replay in one call. A host read inside a window,
// or a kernel that draws fresh random numbers on every call, makes the recording unusable: a replay
// would repeat the values of the recorded run.
import type { Attrs, BufferHandle, TensorView } from './backend.js';

export interface RecordedLaunch {
  kind: 'launch';
  op: string;
  /** One buffer per view: inputs, then outputs. */
  buffers: BufferHandle[];
  /** The launch's packed view descriptor (src/backends/cpu.ts packViews), copied. */
  desc: Float64Array;
  attrs: Attrs;
}

export interface RecordedWrite {
  kind: 'write';
  buffer: BufferHandle;
  byteOffset: number;
  bytes: Uint8Array;
}

export type RecordedStep = RecordedLaunch | RecordedWrite;

/** Kernels whose every call takes a fresh seed (src/ops/creation.ts): a replay would repeat the numbers. */
const FRESH_EACH_CALL = new Set(['RandomUniform', 'RandomNormal']);

export class CpuRecorder {
  readonly steps: RecordedStep[] = [];
  /** Buffers allocated inside a window. */
  readonly fresh = new Set<BufferHandle>();
  /** Why the recording cannot be replayed, once something made it so. */
  invalid: string | undefined;

  invalidate(why: string): void {
    this.invalid ??= why;
  }

  alloc(buffer: BufferHandle): void {
    this.fresh.add(buffer);
  }

  launch(op: string, inputs: readonly TensorView[], outputs: readonly TensorView[], desc: Float64Array, length: number, attrs: Attrs): void {
    if (FRESH_EACH_CALL.has(op)) this.invalidate(`${op} draws new random numbers on every run`);
    this.steps.push({ kind: 'launch', op, buffers: [...inputs, ...outputs].map((v) => v.buffer), desc: desc.slice(0, length), attrs });
  }

  write(buffer: BufferHandle, byteOffset: number, src: ArrayBufferView): void {
    this.steps.push({ kind: 'write', buffer, byteOffset, bytes: new Uint8Array(src.buffer, src.byteOffset, src.byteLength).slice() });
  }

  read(): void {
    this.invalidate('the run reads device values on the host');
  }
}

let active: CpuRecorder | undefined;

/** The recorder of the window open now, if any (the CPU backend reports to it). */
export const activeRecorder = (): CpuRecorder | undefined => active;

/** Runs fn (synchronous) inside a recording window of `rec`. */
export function recording<T>(rec: CpuRecorder, fn: () => T): T {
  const outer = active;
  active = rec;
  try {
    return fn();
  } finally {
    active = outer;
  }
}
