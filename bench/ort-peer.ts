// onnxruntime-node as the CPU peer: a one-node MatMul model built in memory with onnx-proto.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

type Ort = typeof import('onnxruntime-node');

export function loadOrt(): { ort?: Ort; reason?: string } {
  try {
    return { ort: require('onnxruntime-node') as Ort };
  } catch (e) {
    return { reason: `onnxruntime-node could not be loaded: ${(e as Error).message}` };
  }
}

/** Bytes of an ONNX model computing Y = MatMul(A, B) for fixed float32 shapes. */
export function matmulModel(aShape: number[], bShape: number[], yShape: number[]): Uint8Array {
  const { onnx } = require('onnx-proto') as typeof import('onnx-proto');
  const value = (name: string, dims: number[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
    });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'kiln-bench',
    graph: {
      name: 'matmul',
      node: [{ opType: 'MatMul', input: ['A', 'B'], output: ['Y'], name: 'mm' }],
      input: [value('A', aShape), value('B', bShape)],
      output: [value('Y', yShape)],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
