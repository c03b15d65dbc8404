// Reading a node's attributes with ONNX defaults. A wrong attribute type is E_ARGUMENT naming the node.
import { fail } from '../errors.js';
import type { Graph, Node } from './model.js';
import { tensorValues } from './model.js';
import { onnx, toNumber, type AttributeProto, type HostTensor } from './proto.js';

const AT = onnx.AttributeProto.AttributeType;
const TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(AT).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v as number, k.toLowerCase()]),
);
const where = (n: Node, name: string) => `node '${n.name}' (${n.opType}) attribute '${name}'`;

/**
 * The attribute, checked against the type the reader wants. The decoder fills absent fields with
 * their defaults (an int reads 0, a list []), so the declared type is what tells a string given for
 * an int. Type 0 (UNDEFINED) is refused too: every model Kiln reads is IR 3 or newer, where the type
 * is required (onnxruntime refuses a Constant without one: fuzz seed 662).
 */
function get(n: Node, name: string, want: number): AttributeProto | undefined {
  const a = n.attrs.get(name);
  if (a && a.type !== want) fail('E_ARGUMENT', `${where(n, name)} must be of type ${TYPE_NAMES[want]}, got ${a.type ? TYPE_NAMES[a.type] ?? `type ${a.type}` : 'no type (UNDEFINED)'}`);
  return a;
}

export function attrInt(n: Node, name: string, dflt: number): number;
export function attrInt(n: Node, name: string): number | undefined;
export function attrInt(n: Node, name: string, dflt?: number): number | undefined {
  const a = get(n, name, AT.INT);
  if (!a) return dflt;
  if (a.i === undefined || a.i === null) fail('E_ARGUMENT', `${where(n, name)} must be an int`);
  return toNumber(a.i);
}

/** An int attribute that is a switch (keepdims, transA, ceil_mode, ...): 0 or 1, nothing else. */
export function attrFlag(n: Node, name: string, dflt: 0 | 1): boolean {
  const v = attrInt(n, name, dflt);
  if (v !== 0 && v !== 1) fail('E_ARGUMENT', `${where(n, name)} must be 0 or 1, got ${v}`);
  return v === 1;
}

export function attrFloat(n: Node, name: string, dflt: number): number;
export function attrFloat(n: Node, name: string): number | undefined;
export function attrFloat(n: Node, name: string, dflt?: number): number | undefined {
  const a = get(n, name, AT.FLOAT);
  if (!a) return dflt;
  return a.f ?? 0;
}

export function attrInts(n: Node, name: string): number[] | undefined {
  const a = get(n, name, AT.INTS);
  return a ? (a.ints ?? []).map(toNumber) : undefined;
}

export function attrFloats(n: Node, name: string): number[] | undefined {
  const a = get(n, name, AT.FLOATS);
  return a ? [...(a.floats ?? [])] : undefined;
}

export function attrString(n: Node, name: string, dflt: string): string;
export function attrString(n: Node, name: string): string | undefined;
export function attrString(n: Node, name: string, dflt?: string): string | undefined {
  const a = get(n, name, AT.STRING);
  if (!a) return dflt;
  return new TextDecoder().decode(a.s ?? new Uint8Array());
}

export function attrStrings(n: Node, name: string): string[] | undefined {
  const a = get(n, name, AT.STRINGS);
  return a ? (a.strings ?? []).map((s) => new TextDecoder().decode(s)) : undefined;
}

export function attrTensor(n: Node, name: string, dir: string | undefined): HostTensor | undefined {
  const a = get(n, name, AT.TENSOR);
  if (!a) return undefined;
  if (!a.t) fail('E_ARGUMENT', `${where(n, name)} must be a tensor`);
  return tensorValues(a.t, dir, where(n, name));
}

export function attrGraph(n: Node, name: string): Graph {
  const g = n.subgraphs.get(name);
  if (!g) fail('E_ARGUMENT', `${where(n, name)} must be a graph`);
  return g;
}
