// A small API to build ONNX graphs in TypeScript (fixtures, benchmarks, user models):
//
//   const g = new GraphBuilder('mlp');
//   const x = g.input('x', 'float32', ['N', 4]);
//   const y = g.node('Relu', [g.node('Gemm', [x, g.constant('w', w), g.constant('b', b)], { transB: 1 })]);
//   g.output(y, 'float32', ['N', 8]);
//   writeFileSync('mlp.onnx', g.toBytes());
import { writeFileSync } from 'node:fs';
import { storageArray, type DType, type StorageArray } from '../dtype.js';
import { fail } from '../errors.js';
import { numel } from '../shape.js';
import { onnx, onnxElemType, protoFromHost, type AttributeProto, type GraphProto, type HostTensor, type NodeProto, type ValueInfoProto } from './proto.js';
import type { Dim } from './model.js';

const AT = onnx.AttributeProto.AttributeType;

/** An attribute forced to float (a whole number would otherwise be written as an int). */
export class FloatAttr {
  constructor(readonly value: number | readonly number[]) {}
}
export const float = (v: number | readonly number[]) => new FloatAttr(v);

export type AttrValue = number | readonly number[] | string | readonly string[] | FloatAttr | HostTensor | GraphBuilder;

/** A host tensor from values (numbers, or bigints for int64) in a Kiln dtype. */
export function hostTensor(dtype: DType, shape: readonly number[], values: ArrayLike<number | bigint> | StorageArray): HostTensor {
  const n = numel(shape);
  if (values.length !== n) fail('E_SHAPE', `hostTensor: ${values.length} values for shape [${shape.join(', ')}]`);
  const data = storageArray(dtype, n);
  for (let i = 0; i < n; ++i) (data as unknown as (number | bigint)[])[i] = dtype === 'int64' ? BigInt(values[i]) : Number(values[i]);
  return { dtype, shape: [...shape], data };
}

function attribute(name: string, v: AttrValue): AttributeProto {
  if (v instanceof FloatAttr) return Array.isArray(v.value) ? { name, type: AT.FLOATS, floats: [...(v.value as number[])] } : { name, type: AT.FLOAT, f: v.value as number };
  if (v instanceof GraphBuilder) return { name, type: AT.GRAPH, g: v.toGraph() };
  if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: AT.INT, i: v } : { name, type: AT.FLOAT, f: v };
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'string')) return { name, type: AT.STRINGS, strings: (v as string[]).map((s) => new TextEncoder().encode(s)) };
    const nums = v as number[];
    return nums.every(Number.isInteger) ? { name, type: AT.INTS, ints: nums } : { name, type: AT.FLOATS, floats: nums };
  }
  return { name, type: AT.TENSOR, t: protoFromHost(v as HostTensor) };
}

function valueInfo(name: string, dtype: DType, shape?: readonly Dim[]): ValueInfoProto {
  const dims = shape?.map((d) => (typeof d === 'number' ? { dimValue: d } : d === null ? {} : { dimParam: d }));
  return { name, type: { tensorType: { elemType: onnxElemType(dtype), shape: dims ? { dim: dims } : undefined } } };
}

export interface ModelOptions {
  /** ai.onnx opset (default 17). */
  opset?: number;
  producer?: string;
  irVersion?: number;
  metadata?: Record<string, string>;
}

/** Builds one graph; nodes get unique output names unless given. */
export class GraphBuilder {
  readonly #nodes: NodeProto[] = [];
  readonly #inputs: ValueInfoProto[] = [];
  readonly #outputs: ValueInfoProto[] = [];
  readonly #initializers = new Map<string, HostTensor>();
  #counter = 0;

  constructor(readonly name = 'graph') {}

  #fresh(prefix: string): string {
    return `${prefix}_${this.#counter++}`;
  }

  /** Declares a graph input; dims may be numbers, symbolic names or null. Returns its name. */
  input(name: string, dtype: DType, shape?: readonly Dim[]): string {
    this.#inputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /** Declares a graph output (an existing value's name). */
  output(name: string, dtype: DType, shape?: readonly Dim[]): string {
    this.#outputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /** Adds an initializer (a weight). Returns its name. */
  constant(name: string, t: HostTensor): string {
    if (this.#initializers.has(name)) fail('E_ARGUMENT', `GraphBuilder: initializer '${name}' already exists`);
    this.#initializers.set(name, t);
    return name;
  }

  /** A float32 initializer from values; name chosen for you. */
  floats(shape: readonly number[], values: ArrayLike<number>, name = this.#fresh('w')): string {
    return this.constant(name, hostTensor('float32', shape, values));
  }

  /** An int64 initializer (shapes, axes). */
  ints(values: readonly number[], name = this.#fresh('i')): string {
    return this.constant(name, hostTensor('int64', [values.length], values));
  }

  /** Adds a node; returns its first output's name. '' in `inputs` marks an omitted optional input. */
  node(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue | undefined> = {}, o: { outputs?: number | readonly string[]; name?: string; domain?: string } = {}): string {
    return this.nodeOutputs(opType, inputs, attrs, o)[0];
  }

  /** Adds a node with several outputs; returns their names. */
  nodeOutputs(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue | undefined> = {}, o: { outputs?: number | readonly string[]; name?: string; domain?: string } = {}): string[] {
    const name = o.name ?? this.#fresh(opType);
    const outputs = Array.isArray(o.outputs) ? [...(o.outputs as string[])] : Array.from({ length: (o.outputs as number | undefined) ?? 1 }, (_, i) => `${name}_out${i}`);
    const attribute_ = Object.entries(attrs).filter(([, v]) => v !== undefined).map(([k, v]) => attribute(k, v as AttrValue));
    this.#nodes.push({ name, opType, domain: o.domain ?? '', input: [...inputs], output: outputs, attribute: attribute_ });
    return outputs;
  }

  toGraph(): GraphProto {
    return {
      name: this.name,
      node: this.#nodes,
      input: this.#inputs,
      output: this.#outputs,
      initializer: [...this.#initializers].map(([n, t]) => protoFromHost(t, n)),
    };
  }

  /** The serialized model. */
  toBytes(o: ModelOptions = {}): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: o.irVersion ?? 8,
      opsetImport: [{ domain: '', version: o.opset ?? 17 }],
      producerName: o.producer ?? 'kiln',
      graph: this.toGraph(),
      metadataProps: Object.entries(o.metadata ?? {}).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }

  /** Writes the model to `path`. */
  save(path: string, o: ModelOptions = {}): void {
    writeFileSync(path, this.toBytes(o));
  }
}
