// The ONNX protobuf messages (onnx-proto, protobufjs static code) and conversions between
// TensorProto and host arrays. No wire parsing here: protobufjs decodes, this maps the fields.
import { createRequire } from 'node:module';
import type * as OnnxProto from 'onnx-proto';
import type { DType, StorageArray } from '../dtype.js';
import { itemSize, storageArray } from '../dtype.js';
import { fail } from '../errors.js';
import { checkShape, numel } from '../shape.js';

const require = createRequire(import.meta.url);
export const { onnx } = require('onnx-proto') as typeof OnnxProto;
export type TensorProto = OnnxProto.onnx.ITensorProto;
export type NodeProto = OnnxProto.onnx.INodeProto;
export type GraphProto = OnnxProto.onnx.IGraphProto;
export type ModelProto = OnnxProto.onnx.IModelProto;
export type AttributeProto = OnnxProto.onnx.IAttributeProto;
export type ValueInfoProto = OnnxProto.onnx.IValueInfoProto;

const DT = onnx.TensorProto.DataType;

/** ONNX element type names (for messages), by code. */
export const ONNX_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(DT).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v as number, k.toLowerCase()]),
);

const TO_KILN: Partial<Record<number, DType>> = {
  [DT.FLOAT]: 'float32', [DT.FLOAT16]: 'float16', [DT.BFLOAT16]: 'bfloat16', [DT.INT32]: 'int32',
  [DT.INT64]: 'int64', [DT.UINT8]: 'uint8', [DT.BOOL]: 'bool',
};
const FROM_KILN: Record<DType, number> = {
  float32: DT.FLOAT, float16: DT.FLOAT16, bfloat16: DT.BFLOAT16, int32: DT.INT32, int64: DT.INT64, uint8: DT.UINT8, bool: DT.BOOL,
};

/** The Kiln dtype of an ONNX element type, or undefined when Kiln has none (double, int8, string, ...). */
export const kilnDType = (elemType: number): DType | undefined => TO_KILN[elemType];
export const onnxElemType = (d: DType): number => FROM_KILN[d];
export const typeName = (elemType: number): string => ONNX_TYPE_NAMES[elemType] ?? `type ${elemType}`;

/** int64 fields arrive as numbers or Long objects. */
export function toNumber(v: number | { toString(): string } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : Number(v.toString());
}
export const toBigInt = (v: number | { toString(): string }): bigint => BigInt(typeof v === 'number' ? v : v.toString());

/** A host tensor: the raw storage of a Kiln dtype plus its shape. */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: StorageArray;
}

/**
 * The values of a TensorProto, from raw_data or from the typed fields. `raw` overrides raw_data
 * (external data already read by the caller). `where` names the tensor for messages.
 */
export function hostFromProto(t: TensorProto, where: string, raw?: Uint8Array): HostTensor {
  const elem = t.dataType ?? 0;
  const dtype = kilnDType(elem);
  if (!dtype) fail('E_DTYPE', `${where}: element type ${typeName(elem)} has no Kiln dtype (Kiln has float32, float16, bfloat16, int32, int64, uint8, bool)`);
  const shape = checkShape((t.dims ?? []).map(toNumber), where);
  const n = numel(shape);
  // The data's own length is checked against the shape before anything is allocated, so a shape
  // that claims more than the data holds is E_ARGUMENT, never a huge allocation. A raw_data field on
  // the wire is the data even when empty, as in onnxruntime: an empty one beside float_data was read
  // as the float_data (onnxruntime fuzz seed 1292).
  const bytes = raw ?? (Object.prototype.hasOwnProperty.call(t, 'rawData') && t.rawData ? t.rawData : undefined);
  if (bytes) {
    const need = n * itemSize(dtype);
    if (bytes.length !== need) fail('E_ARGUMENT', `${where}: ${bytes.length} bytes of data for ${dtype}[${shape.join(', ')}] (needs ${need})`);
    const data = storageArray(dtype, n);
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes);
    return { dtype, shape, data };
  }
  const field: ArrayLike<number | { toString(): string }> =
    dtype === 'float32' ? t.floatData ?? [] : dtype === 'int64' ? t.int64Data ?? [] : t.int32Data ?? [];
  if (field.length !== n) fail('E_ARGUMENT', `${where}: ${field.length} values for ${dtype}[${shape.join(', ')}] (needs ${n})`);
  const data = storageArray(dtype, n);
  for (let i = 0; i < n; ++i) {
    if (dtype === 'int64') (data as BigInt64Array)[i] = toBigInt(field[i]);
    else (data as Float32Array)[i] = field[i] as number; // float16/bfloat16: 16-bit patterns in int32_data
  }
  return { dtype, shape, data };
}

/** A TensorProto holding `h` in raw_data. */
export function protoFromHost(h: HostTensor, name = ''): TensorProto {
  const raw = new Uint8Array(h.data.buffer, h.data.byteOffset, h.data.byteLength).slice();
  return { name, dataType: onnxElemType(h.dtype), dims: h.shape, rawData: raw };
}
