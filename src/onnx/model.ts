// Loading an ONNX model: protobuf decode (onnx-proto), initializers (raw_data, typed fields,
// external data files inside the model's folder only), opset imports, graph inputs and outputs
// with symbolic dims, and nested graphs (If branches).
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { DType } from '../dtype.js';
import { KilnError, fail } from '../errors.js';
import { hostFromProto, kilnDType, onnx, toNumber, typeName, type AttributeProto, type GraphProto, type HostTensor, type ModelProto, type TensorProto, type ValueInfoProto } from './proto.js';
import { checkWireFormat } from './wire.js';

/** A dim: a number when fixed, a name for a symbolic dim, null when unknown. */
export type Dim = number | string | null;

/** A graph input or output as a session reports it. */
export interface ValueMeta {
  name: string;
  /** The Kiln dtype, or the ONNX type name when Kiln has none ('double', 'string'). */
  dtype: DType | string;
  /** Undefined when the model gives no shape (not even a rank). */
  shape?: Dim[];
}

export interface Node {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, AttributeProto>;
  /** Graph-valued attributes (If branches), parsed with the model. */
  subgraphs: Map<string, Graph>;
}

export interface Graph {
  name: string;
  nodes: Node[];
  inputs: ValueMeta[];
  outputs: ValueMeta[];
  /** Initializers by name (decoded by the engine); a graph input with an initializer uses it as its default. */
  initializers: Map<string, TensorProto>;
  /** Shapes the model declares for intermediates. */
  valueInfo: Map<string, ValueMeta>;
}

export interface Model {
  graph: Graph;
  /** Opset version per domain ('' is ai.onnx). */
  opsets: Map<string, number>;
  irVersion: number;
  producer: string;
  metadata: Record<string, string>;
  /** The bytes as loaded (the ort engine hands them to onnxruntime). */
  bytes: Uint8Array;
  /** The model's folder, where external data may live. */
  dir?: string;
}

export function valueMeta(v: ValueInfoProto): ValueMeta {
  const tt = v.type?.tensorType;
  const elem = tt?.elemType ?? 0;
  // dim_value and dim_param are a oneof: protobufjs names the one set in `value`.
  const dim = (d: { dimValue?: unknown; dimParam?: string | null; value?: string }): Dim =>
    d.value === 'dimParam' || d.dimParam ? d.dimParam ?? null : d.value === 'dimValue' ? toNumber(d.dimValue as number) : null;
  const shape = tt?.shape ? (tt.shape.dim ?? []).map((d) => dim(d as Parameters<typeof dim>[0])) : undefined;
  return { name: v.name ?? '', dtype: kilnDType(elem) ?? typeName(elem), shape };
}

interface ExternalRef {
  file: string;
  offset: number;
  length: number;
}

/** Where an external-data tensor's bytes are; the file must resolve inside `dir` (symlinks included). */
function externalRef(t: TensorProto, dir: string | undefined, where: string): ExternalRef {
  const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  if (!location) fail('E_ARGUMENT', `${where}: external data without a 'location'`);
  if (!dir) fail('E_ARGUMENT', `${where}: external data '${location}' needs the model's folder: load the model from a path, or pass { baseDir }`);
  const root = realpathSync(dir);
  const inside = (p: string) => {
    const rel = relative(root, p);
    return rel !== '' && !rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel);
  };
  const target = resolve(root, location);
  if (isAbsolute(location) || !inside(target)) fail('E_ARGUMENT', `${where}: external data path '${location}' escapes the model's folder ${root}`);
  let real: string;
  try {
    real = realpathSync(target);
  } catch {
    fail('E_ARGUMENT', `${where}: external data file '${location}' not found in ${root}`);
  }
  if (!inside(real)) fail('E_ARGUMENT', `${where}: external data path '${location}' escapes the model's folder ${root} (through a link)`);
  const offset = Number(entries.get('offset') ?? 0);
  const size = statSync(real).size;
  const length = entries.has('length') ? Number(entries.get('length')) : size - offset;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size)
    fail('E_ARGUMENT', `${where}: external data range offset ${offset} length ${length} lies outside '${location}' (${size} bytes)`);
  return { file: real, offset, length };
}

function externalBytes(t: TensorProto, dir: string | undefined, where: string): Uint8Array {
  const ref = externalRef(t, dir, where);
  const file = readFileSync(ref.file);
  return new Uint8Array(file.buffer, file.byteOffset + ref.offset, ref.length);
}

const isExternal = (t: TensorProto) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;

/** A TensorProto's values, wherever they are stored. */
export function tensorValues(t: TensorProto, dir: string | undefined, where: string): HostTensor {
  return hostFromProto(t, where, isExternal(t) ? externalBytes(t, dir, where) : undefined);
}

function toGraph(g: GraphProto, dir: string | undefined): Graph {
  const initializers = new Map<string, TensorProto>();
  for (const t of g.initializer ?? []) {
    // External data is checked at load by every engine: a path escaping the folder is E_ARGUMENT.
    if (isExternal(t)) externalRef(t, dir, `initializer '${t.name}'`);
    initializers.set(t.name ?? '', t);
  }
  const nodes = (g.node ?? []).map((n, i): Node => ({
    name: n.name || `${n.opType}_${i}`,
    opType: n.opType ?? '',
    domain: n.domain ?? '',
    inputs: n.input ?? [],
    outputs: n.output ?? [],
    attrs: new Map((n.attribute ?? []).map((a) => [a.name ?? '', a])),
    subgraphs: new Map((n.attribute ?? []).filter((a) => a.g).map((a) => [a.name ?? '', toGraph(a.g!, dir)])),
  }));
  const valueInfo = new Map((g.valueInfo ?? []).map((v) => [v.name ?? '', valueMeta(v)]));
  return { name: g.name ?? '', nodes, inputs: (g.input ?? []).map(valueMeta), outputs: (g.output ?? []).map(valueMeta), initializers, valueInfo };
}

export interface LoadSource {
  bytes: Uint8Array;
  dir?: string;
}

/** Bytes and folder of a model given as a path or as bytes. */
export function readSource(pathOrBytes: string | Uint8Array | ArrayBuffer, baseDir?: string): LoadSource {
  if (typeof pathOrBytes === 'string') {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(pathOrBytes);
    } catch (e) {
      fail('E_ARGUMENT', `onnx.load: cannot read '${pathOrBytes}': ${(e as Error).message}`);
    }
    return { bytes, dir: baseDir ?? dirname(resolve(pathOrBytes)) };
  }
  if (pathOrBytes instanceof ArrayBuffer) return { bytes: new Uint8Array(pathOrBytes), dir: baseDir };
  if (pathOrBytes instanceof Uint8Array) return { bytes: pathOrBytes, dir: baseDir };
  fail('E_ARGUMENT', 'onnx.load: expected a file path, a Uint8Array or an ArrayBuffer');
}

export function parseModel(src: LoadSource): Model {
  let m: ModelProto;
  checkWireFormat(src.bytes);
  try {
    m = onnx.ModelProto.decode(src.bytes);
  } catch (e) {
    fail('E_ARGUMENT', `onnx.load: not an ONNX model (protobuf decode failed: ${(e as Error).message})`);
  }
  if (!m.graph) fail('E_ARGUMENT', 'onnx.load: the model has no graph');
  const opsets = new Map<string, number>();
  for (const o of m.opsetImport ?? []) opsets.set(o.domain === 'ai.onnx' ? '' : o.domain ?? '', toNumber(o.version));
  if (!opsets.has('')) opsets.set('', 1);
  let graph: Graph;
  try {
    graph = toGraph(m.graph, src.dir);
  } catch (e) {
    if (e instanceof KilnError) throw e;
    fail('E_ARGUMENT', `onnx.load: malformed graph: ${(e as Error).message}`);
  }
  if (graph.outputs.length === 0) fail('E_ARGUMENT', 'onnx.load: the graph has no outputs');
  return {
    graph,
    opsets,
    irVersion: toNumber(m.irVersion),
    producer: [m.producerName, m.producerVersion].filter(Boolean).join(' '),
    metadata: Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? ''])),
    bytes: src.bytes,
    dir: src.dir,
  };
}
