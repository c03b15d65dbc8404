// onnxruntime-node as the CPU peer: a one-node MatMul model built with Kiln's graph builder.
import { createRequire } from 'node:module';
import { GraphBuilder } from '../src/onnx/builder.js';

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
  const g = new GraphBuilder('matmul');
  g.node('MatMul', [g.input('A', 'float32', aShape), g.input('B', 'float32', bShape)], {}, { outputs: ['Y'], name: 'mm' });
  g.output('Y', 'float32', yShape);
  return g.toBytes({ producer: 'kiln-bench' });
}
