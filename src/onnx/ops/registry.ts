// The Kiln engine's op registry: each ONNX op maps to Kiln ops. A handler says which opsets it
// implements, which native backend ops it needs (checked with backend.supports() at load), which
// inputs it reads on the host (shapes, axes, pads), and how to run a node.
import type { Backend } from '../../backends/backend.js';
import type { Tensor } from '../../tensor.js';
import type { Graph, Node } from '../model.js';

/** A host copy of a (small) tensor: shapes, axes, indices, scalars. */
export interface HostValue {
  shape: readonly number[];
  values: ArrayLike<number | bigint>;
}

export interface OpContext {
  node: Node;
  /** The ai.onnx opset the model imports. */
  opset: number;
  device: string;
  /** Inputs in node order; undefined for an omitted optional input. */
  inputs: readonly (Tensor | undefined)[];
  /** The host values of input i (declared in hostInputs), or undefined when omitted. */
  host(i: number): HostValue | undefined;
  /** Host values of input i as numbers; E_DTYPE unless the input is int32 or int64 (inputs ONNX types as integers). */
  ints(i: number): number[] | undefined;
  /**
   * Runs a nested graph (If's branches, Loop's body) with this scope's values visible and `feeds`
   * bound to its inputs by name; returns its outputs, which the caller owns.
   */
  runGraph(g: Graph, feeds?: ReadonlyMap<string, Tensor>): Promise<Tensor[]>;
  /** The model's folder (for tensor attributes with external data). */
  dir?: string;
}

export interface OpHandler {
  /** Lowest ai.onnx opset whose semantics this handler implements (default 1). */
  since?: number;
  /** Native ops (kernels/OPS.md) the node needs on the device (whose backend a handler may ask what it has). */
  uses: readonly string[] | ((node: Node, opset: number, backend: Backend) => readonly string[]);
  /** Inputs read on the host (their values decide shapes). */
  hostInputs?: readonly number[];
  /** Why this node cannot run (an attribute value this handler lacks), or undefined. */
  check?(node: Node, opset: number): string | undefined;
  run(ctx: OpContext): Tensor[] | Promise<Tensor[]>;
}

const handlers = new Map<string, OpHandler>();

/** Registers handlers by ONNX op type (ai.onnx domain). */
export function defineOps(table: Record<string, OpHandler>): void {
  for (const [op, h] of Object.entries(table)) handlers.set(op, h);
}

export const opHandler = (opType: string): OpHandler | undefined => handlers.get(opType);

/** Every ONNX op the Kiln engine claims (for conformance and docs); Kiln* ops are internal (fuse.ts). */
export const claimedOps = (): string[] => [...handlers.keys()].filter((op) => !op.startsWith('Kiln')).sort();

/**
 * The newest ai.onnx opset the engine accepts. Opsets 23 to 25 changed the ops registered here only
 * by adding element types (float8, int4, float4) that Kiln has no dtype for; those fail on dtype.
 */
export const MAX_OPSET = 25;

/** The newest ONNX IR version the engine reads (that of opset 25); a newer file may use what it cannot. The oldest is 3 (opset imports). */
export const MAX_IR_VERSION = 13;
