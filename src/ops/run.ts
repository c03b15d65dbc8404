import type { Attrs, BufferHandle } from '../backends/backend.js';
import { resolveDevice } from '../backends/backend.js';
import { isBool, isFloat, itemSize, type DType } from '../dtype.js';
import { KilnError, fail } from '../errors.js';
import { DATA_CHECKED_OPS, Fault, inherit } from '../faults.js';
import { Storage } from '../lifetime.js';
import { checkRank, contiguousStrides, fmtShape, numel, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';

/**
 * Test and debug switches. `poison` fills every op output before its kernel runs, so unwritten
 * elements show. `nativeScatter: false` makes the ONNX engine's ScatterND and ScatterElements compose
 * their scatter as on a backend without ScatterSlices (cuda today), so tests cover that path anywhere.
 */
export const debug = { poison: process.env.KILN_POISON === '1', nativeScatter: true };

/** A new contiguous tensor with uninitialized contents (poisoned under debug.poison). */
export function empty(shape: Shape, dtype: DType, device: string, op = 'alloc'): Tensor {
  const { backend, index, id } = resolveDevice(device);
  checkRank(op, shape);
  const nbytes = numel(shape) * itemSize(dtype);
  // E_OOM names the request (op, dtype, shape); sizes past 2^53 bytes never reach the device.
  const oom = (why: string) => fail('E_OOM', `${op}: cannot allocate ${dtype}${fmtShape(shape)} (${nbytes} bytes) on ${id}: ${why}`);
  if (!Number.isSafeInteger(nbytes)) oom('the size exceeds what any device can address');
  let buffer: BufferHandle;
  try {
    buffer = backend.alloc(index, nbytes);
  } catch (e) {
    if (e instanceof KilnError && e.code === 'E_OOM') oom(e.message);
    throw e;
  }
  const storage = new Storage(backend, id, buffer);
  const t = new Tensor(storage, dtype, shape, contiguousStrides(shape), 0);
  if (debug.poison && nbytes > 0) {
    const value = isFloat(dtype) ? NaN : isBool(dtype) ? 1 : dtype === 'uint8' ? 0xab : -0x21524111;
    backend.run('Fill', [], [t.view('poison')], { value });
  }
  return t;
}

/** The device every input is on, or E_DEVICE naming the op and the devices. */
export function commonDevice(op: string, inputs: readonly Tensor[]): string {
  if (inputs.length === 0) fail('E_ARGUMENT', `${op}: needs at least one tensor input`);
  const device = inputs[0].device;
  for (const t of inputs)
    if (t.device !== device)
      fail('E_DEVICE', `${op}: inputs are on different devices (${inputs.map((x) => x.describe()).join(', ')}); move them with .to(device)`);
  return device;
}

/**
 * Enqueues `op` writing into existing output tensors (views allowed). The outputs take on the data
 * faults of the inputs, and the op's own when it checks values on the device (faults.ts).
 */
export function runInto(op: string, inputs: readonly Tensor[], outputs: readonly Tensor[], attrs: Attrs = {}): void {
  const all = [...inputs, ...outputs];
  commonDevice(op, all);
  const storage = all[0].storageFor(op), backend = storage.backend, device = storage.buffer.device;
  const fault = DATA_CHECKED_OPS.has(op) ? new Fault(() => backend.sync(device)) : undefined;
  backend.run(op, inputs.map((t) => t.view(op)), outputs.map((t) => t.view(op)), attrs, fault);
  flowFaults(inputs, outputs, fault);
}

/** Gives `outputs` the data faults of `inputs` (and their own, and `own`): see faults.ts. */
export function flowFaults(inputs: readonly Tensor[], outputs: readonly Tensor[], own?: Fault): void {
  if (!own && inputs.every((t) => !t.storageFor('faults').faults)) return; // the common case: nothing to flow
  const from = inputs.map((t) => t.storageFor('faults').faults);
  for (const o of outputs) {
    const s = o.storageFor('faults');
    s.faults = inherit([...from, s.faults], own);
  }
}

/** Allocates outputs of the given shapes and dtypes on the inputs' device (or `device`) and enqueues `op`. */
export function runOp(op: string, inputs: readonly Tensor[], outs: { shape: Shape; dtype: DType }[], attrs: Attrs = {}, device?: string): Tensor[] {
  const dev = device ?? commonDevice(op, inputs);
  const outputs = outs.map((o) => empty(o.shape, o.dtype, dev, op));
  try {
    runInto(op, inputs, outputs, attrs);
    return outputs;
  } catch (e) {
    for (const o of outputs) o.dispose();
    throw e;
  }
}

/** One-output form of runOp. */
export function run1(op: string, inputs: readonly Tensor[], shape: Shape, dtype: DType, attrs: Attrs = {}): Tensor {
  return runOp(op, inputs, [{ shape, dtype }], attrs)[0];
}
