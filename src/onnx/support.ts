// The Kiln engine's load-time check: every node (nested graphs included) must have a handler for
// its op and opset, attribute values the handler implements, and the native ops it needs on the
// chosen device for the dtype it computes in; otherwise E_UNSUPPORTED names node, op and opset.
import { resolveDevice, type Backend } from '../backends/backend.js';
import { DTYPES, type DType } from '../dtype.js';
import { fail } from '../errors.js';
import { attrInt } from './attrs.js';
import type { Graph, Node } from './model.js';
import { MAX_OPSET, opHandler } from './ops/registry.js';
import { kilnDType } from './proto.js';

export const describeNode = (n: Node, opset: number) => `node '${n.name}' (op ${n.opType}, opset ${opset})`;

/** The ops of kernels/OPS.md that exist for bool only. */
const BOOL_ONLY_OPS = new Set(['Not', 'And', 'Or', 'Xor']);
/** Whether `backend` implements native op `op` in `dtype`, or in bool for the bool-only ops. */
export const hasNativeOp = (backend: Backend, op: string, dtype: DType = 'float32') =>
  backend.supports(op, [BOOL_ONLY_OPS.has(op) ? 'bool' : dtype]);

// Element types of node outputs where they differ from the first input's (the load check asks
// the backend about the dtype each node computes in).
const BOOL_OUT = new Set('Equal Greater Less GreaterOrEqual LessOrEqual And Or Xor Not IsNaN IsInf'.split(' '));
const INT64_OUT = new Set('Shape Size ArgMax ArgMin NonZero'.split(' '));

function outputDType(n: Node, first: DType | undefined): DType | undefined {
  if (BOOL_OUT.has(n.opType)) return 'bool';
  if (INT64_OUT.has(n.opType)) return 'int64';
  if (n.opType === 'Cast') return kilnDType(attrInt(n, 'to', 0));
  if (n.opType === 'Where') return undefined; // the dtype of input 1, tracked below by the caller
  return first;
}

/**
 * Throws E_UNSUPPORTED for the first node (nested graphs included) the device cannot run: an op
 * or opset the engine lacks, an attribute value its handler lacks, or a native op the backend
 * does not support for the dtype the node computes in (known from the graph's declared inputs and
 * initializers, propagated node by node; float32 where unknown).
 */
export function checkSupport(g: Graph, opset: number, device: string, outer: Map<string, DType> = new Map()): void {
  const { backend } = resolveDevice(device);
  const dtypes = new Map(outer);
  for (const v of g.inputs) if (DTYPES.includes(v.dtype as DType)) dtypes.set(v.name, v.dtype as DType);
  for (const [name, t] of g.initializers) {
    const d = kilnDType(t.dataType ?? 0);
    if (d) dtypes.set(name, d);
  }
  for (const n of g.nodes) {
    const why = (reason: string): never => fail('E_UNSUPPORTED', `kiln engine on ${device}: ${describeNode(n, opset)}: ${reason}`);
    if (n.domain !== '' && n.domain !== 'ai.onnx') why(`domain '${n.domain}' is not supported`);
    const h = opHandler(n.opType) ?? why('no Kiln implementation of this op');
    if (opset < (h.since ?? 1) || opset > MAX_OPSET) why(`implemented for opsets ${h.since ?? 1} to ${MAX_OPSET}`);
    const reason = h.check?.(n, opset);
    if (reason) why(reason);
    const first = n.inputs[n.opType === 'Where' ? 1 : 0];
    const dtype = first ? dtypes.get(first) : undefined;
    const uses = typeof h.uses === 'function' ? h.uses(n, opset) : h.uses;
    const missing = uses.filter((op) => !hasNativeOp(backend, op, dtype));
    if (missing.length) why(`the ${backend.kind} backend lacks the native op(s) ${missing.join(', ')} for ${dtype ?? 'float32'}`);
    const out = n.opType === 'Where' ? dtype : outputDType(n, dtype);
    if (out && n.outputs[0]) dtypes.set(n.outputs[0], out);
    for (const sub of n.subgraphs.values()) checkSupport(sub, opset, device, dtypes);
  }
}
