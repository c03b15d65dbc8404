// A check of an ONNX model's protobuf wire format before it is decoded: every field the ONNX schema
// knows must come with the wire type the schema gives it. The decoder (protobufjs, onnx-proto) reads
// a known field by its schema type whatever wire type the bytes carry, where protobuf's C++ parser
// (onnxruntime's) sets such a field aside as unknown: a damaged model then means one thing to Kiln
// and another to onnxruntime (a dim whose tag lost its length bit: 4 dims for Kiln, 3 for it).
// Kiln refuses such a model instead. Unknown fields (from newer ONNX versions) are skipped by their
// own wire type, as protobuf does.
import { fail } from '../errors.js';

const VARINT = 0, FIXED64 = 1, LEN = 2, FIXED32 = 5;
const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'group start', 'group end', 'fixed32', 'wire type 6', 'wire type 7'];

/** A field's kind: a scalar wire type, a repeated scalar (packed or not), bytes/strings, or a message by name. */
type Kind = 'varint' | 'fixed32' | 'fixed64' | 'varint[]' | 'fixed32[]' | 'fixed64[]' | 'bytes' | { message: string };

const msg = (message: string): Kind => ({ message });

// Field numbers and types of onnx.proto (IR version 10; later fields are unknown here and skipped).
const SCHEMA: Record<string, Record<number, [string, Kind]>> = {
  ModelProto: {
    1: ['ir_version', 'varint'], 8: ['opset_import', msg('OperatorSetIdProto')], 2: ['producer_name', 'bytes'], 3: ['producer_version', 'bytes'],
    4: ['domain', 'bytes'], 5: ['model_version', 'varint'], 6: ['doc_string', 'bytes'], 7: ['graph', msg('GraphProto')],
    14: ['metadata_props', msg('StringStringEntryProto')], 20: ['training_info', msg('TrainingInfoProto')], 25: ['functions', msg('FunctionProto')],
  },
  OperatorSetIdProto: { 1: ['domain', 'bytes'], 2: ['version', 'varint'] },
  StringStringEntryProto: { 1: ['key', 'bytes'], 2: ['value', 'bytes'] },
  TrainingInfoProto: {
    1: ['initialization', msg('GraphProto')], 2: ['algorithm', msg('GraphProto')],
    3: ['initialization_binding', msg('StringStringEntryProto')], 4: ['update_binding', msg('StringStringEntryProto')],
  },
  FunctionProto: {
    1: ['name', 'bytes'], 4: ['input', 'bytes'], 5: ['output', 'bytes'], 6: ['attribute', 'bytes'], 7: ['node', msg('NodeProto')],
    8: ['doc_string', 'bytes'], 9: ['opset_import', msg('OperatorSetIdProto')], 10: ['domain', 'bytes'],
  },
  GraphProto: {
    1: ['node', msg('NodeProto')], 2: ['name', 'bytes'], 5: ['initializer', msg('TensorProto')], 15: ['sparse_initializer', msg('SparseTensorProto')],
    10: ['doc_string', 'bytes'], 11: ['input', msg('ValueInfoProto')], 12: ['output', msg('ValueInfoProto')], 13: ['value_info', msg('ValueInfoProto')],
    14: ['quantization_annotation', msg('TensorAnnotation')],
  },
  TensorAnnotation: { 1: ['tensor_name', 'bytes'], 2: ['quant_parameter_tensor_names', msg('StringStringEntryProto')] },
  NodeProto: {
    1: ['input', 'bytes'], 2: ['output', 'bytes'], 3: ['name', 'bytes'], 4: ['op_type', 'bytes'], 7: ['domain', 'bytes'],
    5: ['attribute', msg('AttributeProto')], 6: ['doc_string', 'bytes'],
  },
  AttributeProto: {
    1: ['name', 'bytes'], 21: ['ref_attr_name', 'bytes'], 13: ['doc_string', 'bytes'], 20: ['type', 'varint'], 2: ['f', 'fixed32'], 3: ['i', 'varint'],
    4: ['s', 'bytes'], 5: ['t', msg('TensorProto')], 6: ['g', msg('GraphProto')], 22: ['sparse_tensor', msg('SparseTensorProto')], 14: ['tp', msg('TypeProto')],
    7: ['floats', 'fixed32[]'], 8: ['ints', 'varint[]'], 9: ['strings', 'bytes'], 10: ['tensors', msg('TensorProto')], 11: ['graphs', msg('GraphProto')],
    23: ['sparse_tensors', msg('SparseTensorProto')], 15: ['type_protos', msg('TypeProto')],
  },
  ValueInfoProto: { 1: ['name', 'bytes'], 2: ['type', msg('TypeProto')], 3: ['doc_string', 'bytes'] },
  TensorProto: {
    1: ['dims', 'varint[]'], 2: ['data_type', 'varint'], 3: ['segment', msg('Segment')], 4: ['float_data', 'fixed32[]'], 5: ['int32_data', 'varint[]'],
    6: ['string_data', 'bytes'], 7: ['int64_data', 'varint[]'], 8: ['name', 'bytes'], 12: ['doc_string', 'bytes'], 9: ['raw_data', 'bytes'],
    13: ['external_data', msg('StringStringEntryProto')], 14: ['data_location', 'varint'], 10: ['double_data', 'fixed64[]'], 11: ['uint64_data', 'varint[]'],
  },
  Segment: { 1: ['begin', 'varint'], 2: ['end', 'varint'] },
  SparseTensorProto: { 1: ['values', msg('TensorProto')], 2: ['indices', msg('TensorProto')], 3: ['dims', 'varint[]'] },
  TensorShapeProto: { 1: ['dim', msg('Dimension')] },
  Dimension: { 1: ['dim_value', 'varint'], 2: ['dim_param', 'bytes'], 3: ['denotation', 'bytes'] },
  TypeProto: {
    1: ['tensor_type', msg('TypeTensor')], 4: ['sequence_type', msg('TypeSequence')], 5: ['map_type', msg('TypeMap')],
    9: ['optional_type', msg('TypeOptional')], 8: ['sparse_tensor_type', msg('TypeTensor')], 6: ['denotation', 'bytes'],
  },
  TypeTensor: { 1: ['elem_type', 'varint'], 2: ['shape', msg('TensorShapeProto')] },
  TypeSequence: { 1: ['elem_type', msg('TypeProto')] },
  TypeMap: { 1: ['key_type', 'varint'], 2: ['value_type', msg('TypeProto')] },
  TypeOptional: { 1: ['elem_type', msg('TypeProto')] },
};

/** The wire types a field of this kind may arrive with (a repeated scalar: packed, or one by one). */
function allowed(kind: Kind): number[] {
  switch (kind) {
    case 'varint': return [VARINT];
    case 'fixed32': return [FIXED32];
    case 'fixed64': return [FIXED64];
    case 'varint[]': return [VARINT, LEN];
    case 'fixed32[]': return [FIXED32, LEN];
    case 'fixed64[]': return [FIXED64, LEN];
    default: return [LEN];
  }
}

const MAX_DEPTH = 64; // nested graphs (If inside Loop inside ...) and types; deeper is refused

/** Throws E_ARGUMENT naming the first field whose wire type the ONNX schema does not give it. */
export function checkWireFormat(bytes: Uint8Array): void {
  walk(bytes, 0, bytes.length, 'ModelProto', 'model', 0);
}

function walk(b: Uint8Array, at: number, end: number, type: string, path: string, depth: number): void {
  if (depth > MAX_DEPTH) damaged(at, `${path} nests more than ${MAX_DEPTH} messages deep`);
  const fields = SCHEMA[type];
  while (at < end) {
    const start = at;
    let tag: number;
    [tag, at] = varint(b, at, end, path);
    const number = Math.floor(tag / 8), wire = tag % 8;
    if (number === 0) damaged(start, `${path} holds a field numbered 0`);
    const field = fields[number];
    if (field && !allowed(field[1]).includes(wire)) {
      damaged(start, `field ${number} of ${type} (${path}.${field[0]}) has wire type ${WIRE_NAMES[wire]}, where ONNX gives it ${WIRE_NAMES[allowed(field[1])[0]]}`);
    }
    switch (wire) {
      case VARINT:
        at = varint(b, at, end, path)[1];
        break;
      case FIXED64:
      case FIXED32:
        at += wire === FIXED64 ? 8 : 4;
        break;
      case LEN: {
        let n: number;
        [n, at] = varint(b, at, end, path);
        if (n > end - at) damaged(start, `${path}${field ? `.${field[0]}` : ''} claims ${n} bytes where ${end - at} are left`);
        const kind = field?.[1];
        if (kind && typeof kind === 'object') walk(b, at, at + n, kind.message, `${path}.${field![0]}`, depth + 1);
        at += n;
        break;
      }
      default:
        damaged(start, `${path} holds a field of ${WIRE_NAMES[wire]}, which ONNX does not use`);
    }
    if (at > end) damaged(start, `${path} ends inside a field`);
  }
}

function varint(b: Uint8Array, at: number, end: number, path: string): [number, number] {
  let v = 0, scale = 1;
  for (let i = 0; i < 10; ++i) {
    if (at >= end) damaged(at, `${path} ends inside a varint`);
    const byte = b[at++];
    v += (byte & 0x7f) * scale; // past 2^53 the value is only used to skip (a tag or a length that large fails anyway)
    if (byte < 0x80) return [v, at];
    scale *= 128;
  }
  return damaged(at, `${path} holds a varint longer than 10 bytes`);
}

function damaged(at: number, what: string): never {
  fail('E_ARGUMENT', `onnx.load: not an ONNX model (damaged at byte ${at}: ${what})`);
}
