/**
 * Kiln: native-accelerated tensor compute for Node.js.
 *
 *   import * as kiln from 'kiln';
 *   const a = kiln.randn([256, 256], { seed: 1 });
 *   const b = a.matmul(a).relu();
 *   console.log(await b.sum().item());
 */
import './backends/index.js';
import './ops/index.js';

export { KilnError, type KilnErrorCode } from './errors.js';
export { DTYPES, promoteTypes, type DType, type DataArray } from './dtype.js';
export { broadcastShapesOf as broadcastShapes, type Shape } from './shape.js';
export { Tensor, type NestedArray } from './tensor.js';
export { memory, scope, type MemoryReport } from './lifetime.js';
export * from './ops/index.js';
export { initBackends as init, type InitOptions, listDevices as devices, backendReason, requiredBackends, type DeviceInfo, type BackendKind, type Backend } from './backends/index.js';
export { info, type KilnInfo } from './info.js';
export * as distributed from './distributed/index.js';
export * as onnx from './onnx/index.js';
export * as serve from './serve/index.js';

import { BACKEND_KINDS, backend } from './backends/index.js';

/**
 * Waits until every device has finished the work queued so far, and rejects with any device error.
 * An index out of range is not one: it rejects the reads of the values it spoiled (src/faults.ts).
 */
export async function sync(): Promise<void> {
  for (const k of BACKEND_KINDS) {
    const b = backend(k);
    if (b) for (const d of b.devices()) await b.sync(d.index);
  }
}
