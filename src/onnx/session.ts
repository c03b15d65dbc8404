// What both engines return from kiln.onnx.load().
import type { Tensor } from '../tensor.js';
import type { Model, ValueMeta } from './model.js';

export interface ModelMetadata {
  producer: string;
  irVersion: number;
  /** Opset version per domain ('' is ai.onnx). */
  opsets: Record<string, number>;
  /** The model's metadata_props. */
  props: Record<string, string>;
}

export interface RunOptions {
  /** Output names to compute (default: every graph output). */
  outputs?: readonly string[];
  /**
   * (kiln engine) Accumulates milliseconds per op type here, waiting for the device after every
   * node: slower, but shows where the time goes.
   */
  profile?: Record<string, number>;
  /**
   * Stops the run when it fires: the promise rejects at once with E_ABORTED (the signal's reason as
   * its cause), and outputs computed after that are disposed. The kiln engine stops at its next node
   * or Loop iteration (kernels already queued finish); the ort engine cannot stop a run onnxruntime
   * has started, so that run ends in its own time and its outputs are dropped (ort.timeoutMs stops a
   * run that never ends). `AbortSignal.timeout(ms)` bounds a run's time.
   */
  signal?: AbortSignal;
}
export const RUN_OPTION_KEYS = ['outputs', 'profile', 'signal'] as const;

/** A loaded model. */
export interface InferenceSession {
  readonly engine: 'kiln' | 'ort';
  readonly device: string;
  /** Graph inputs the caller feeds (inputs with an initializer default are listed with `optional`). */
  readonly inputs: readonly (ValueMeta & { optional?: boolean })[];
  readonly outputs: readonly ValueMeta[];
  readonly metadata: ModelMetadata;
  /** Runs the model; the returned tensors belong to the caller (dispose them). */
  run(feeds: Record<string, Tensor>, options?: RunOptions): Promise<Record<string, Tensor>>;
  /** Frees the weights (and, for ort, the worker). */
  dispose(): Promise<void>;
}

export function metadataOf(m: Model): ModelMetadata {
  return { producer: m.producer, irVersion: m.irVersion, opsets: Object.fromEntries(m.opsets), props: m.metadata };
}

export function inputsOf(m: Model): (ValueMeta & { optional?: boolean })[] {
  return m.graph.inputs.map((v) => (m.graph.initializers.has(v.name) ? { ...v, optional: true } : v));
}
