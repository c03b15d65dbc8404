// The Kiln engine's load-time check: every node (nested graphs included) must have a handler for
// its op and opset, attribute values the handler implements, and the native ops it needs on the
// chosen device; otherwise E_UNSUPPORTED names node, op and opset.
import { resolveDevice, type Backend } from '../backends/backend.js';
import { fail } from '../errors.js';
import type { Graph, Node } from './model.js';
import { MAX_OPSET, opHandler } from './ops/registry.js';

export const describeNode = (n: Node, opset: number) => `node '${n.name}' (op ${n.opType}, opset ${opset})`;

/** The ops of kernels/OPS.md that exist for bool only, and for integers only. */
const BOOL_ONLY_OPS = new Set(['Not', 'And', 'Or', 'Xor']);
const INT_ONLY_OPS = new Set(['BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'BitwiseNot', 'BitShift']);
/** Whether `backend` implements native op `op` (asked in float32, or in bool / int32 for the bool-only / integer-only ops). */
export const hasNativeOp = (backend: Backend, op: string) =>
  backend.supports(op, [BOOL_ONLY_OPS.has(op) ? 'bool' : INT_ONLY_OPS.has(op) ? 'int32' : 'float32']);

/**
 * Throws E_UNSUPPORTED for the first node (nested graphs included) the device cannot run: an op
 * or opset the engine lacks, an attribute value its handler lacks, or a native op (of those its
 * handler may use) that the backend does not implement. Whether a native op takes a given dtype is
 * left to run time: a handler's `uses` covers every dtype path it has, so asking for the node's
 * dtype would refuse paths the node never takes.
 */
export function checkSupport(g: Graph, opset: number, device: string): void {
  const { backend } = resolveDevice(device);
  for (const n of g.nodes) {
    const why = (reason: string): never => fail('E_UNSUPPORTED', `kiln engine on ${device}: ${describeNode(n, opset)}: ${reason}`);
    if (n.domain !== '' && n.domain !== 'ai.onnx') why(`domain '${n.domain}' is not supported`);
    const h = opHandler(n.opType) ?? why('no Kiln implementation of this op');
    if (opset < (h.since ?? 1) || opset > MAX_OPSET) why(`implemented for opsets ${h.since ?? 1} to ${MAX_OPSET}`);
    const reason = h.check?.(n, opset);
    if (reason) why(reason);
    const uses = typeof h.uses === 'function' ? h.uses(n, opset, backend) : h.uses;
    const missing = uses.filter((op) => !hasNativeOp(backend, op));
    if (missing.length) why(`the ${backend.kind} backend lacks the native op(s) ${missing.join(', ')}`);
    for (const sub of n.subgraphs.values()) checkSupport(sub, opset, device);
  }
}
