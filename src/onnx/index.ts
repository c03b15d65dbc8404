// kiln.onnx: load ONNX models and run them on Kiln's own kernels (any device) or through
// onnxruntime-node; build ONNX graphs in TypeScript.
import { describeValue, optionsArg } from '../args.js';
import { fail } from '../errors.js';
import { KilnSession } from './kiln-engine.js';
import { parseModel, readSource } from './model.js';
import { OrtSession, type OrtSessionOptions } from './ort-engine.js';
import type { InferenceSession } from './session.js';

export { GraphBuilder, float, hostTensor, type AttrValue, type ModelOptions } from './builder.js';
export { claimedOps } from './ops/registry.js';
export { KilnSession } from './kiln-engine.js';
export type { InferenceSession, ModelMetadata, RunOptions } from './session.js';
export type { Dim, ValueMeta } from './model.js';
export type { HostTensor } from './proto.js';
export type { OrtSessionOptions } from './ort-engine.js';

export interface LoadOptions {
  /** 'kiln' (default): Kiln's kernels on `device`; 'ort': onnxruntime-node in a child process (or a worker thread: `ort.isolation`). */
  engine?: 'kiln' | 'ort';
  /** Kiln engine device: 'cpu' (default), 'cuda:0', 'webgpu:0'. */
  device?: string;
  /** Where external data files live when the model is given as bytes (default: the model file's folder). */
  baseDir?: string;
  /** onnxruntime session options (engine 'ort'). */
  ort?: OrtSessionOptions;
}

/** Loads a model from a path or bytes. The Kiln engine throws E_UNSUPPORTED naming the first node it cannot run. */
export async function load(pathOrBytes: string | Uint8Array | ArrayBuffer, options?: LoadOptions): Promise<InferenceSession> {
  options = optionsArg('onnx.load', options, ['engine', 'device', 'baseDir', 'ort']);
  const engine = options.engine ?? 'kiln';
  if (engine !== 'kiln' && engine !== 'ort') fail('E_ARGUMENT', `onnx.load: engine must be 'kiln' or 'ort', got ${describeValue(engine)}`);
  const model = parseModel(readSource(pathOrBytes, options.baseDir));
  if (engine === 'ort') return OrtSession.create(model, options.device ?? 'cpu', options.ort ?? {});
  return KilnSession.create(model, options.device ?? 'cpu');
}
