// The onnxruntime engine: onnxruntime-node's InferenceSession lives in a worker thread, so its
// synchronous run never blocks the JS thread. A Kiln tensor goes in as one read of its bytes into
// a JS buffer that is transferred (not copied) to the worker, where onnxruntime wraps it; a result
// comes back as one copy out of onnxruntime's buffer, transferred, then uploaded into a Kiln tensor.
// (Kiln's CPU buffers are native memory that cannot move between threads as ArrayBuffers.)
import { optionsArg } from '../args.js';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { storageArray, type DType, type StorageArray } from '../dtype.js';
import { KilnError, fail } from '../errors.js';
import { Tensor } from '../tensor.js';
import type { Model } from './model.js';
import { upload } from './upload.js';
import { RUN_OPTION_KEYS, inputsOf, metadataOf, type InferenceSession, type RunOptions } from './session.js';

const require = createRequire(import.meta.url);

/** onnxruntime-node session options Kiln passes through. */
export interface OrtSessionOptions {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** e.g. ['cpu'], or ['cuda', 'cpu'] where onnxruntime-node has its CUDA provider installed. */
  executionProviders?: string[];
  executionMode?: 'sequential' | 'parallel';
  enableCpuMemArena?: boolean;
  enableMemPattern?: boolean;
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

interface WireTensor {
  type: string;
  dims: number[];
  data: ArrayBuffer;
}

// ORT's JS type names for Kiln dtypes (bfloat16 has no onnxruntime-node tensor type).
const ORT_TYPE: Partial<Record<DType, string>> = { float32: 'float32', float16: 'float16', int32: 'int32', int64: 'int64', uint8: 'uint8', bool: 'bool' };
const KILN_TYPE: Record<string, DType> = Object.fromEntries(Object.entries(ORT_TYPE).map(([k, v]) => [v, k as DType]));

// The worker: CommonJS evaluated in a worker_threads Worker; requires onnxruntime-node by path.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const ARRAYS = { float32: Float32Array, float16: Uint16Array, int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, bool: Uint8Array };
let session;
const reply = (msg, transfer) => parentPort.postMessage(msg, transfer);
parentPort.on('message', async (m) => {
  try {
    if (m.kind === 'init') {
      session = await ort.InferenceSession.create(new Uint8Array(m.bytes), m.options);
      reply({ id: m.id, ok: true });
    } else if (m.kind === 'run') {
      const feeds = {};
      for (const [name, t] of Object.entries(m.feeds)) feeds[name] = new ort.Tensor(t.type, new ARRAYS[t.type](t.data), t.dims);
      const out = await session.run(feeds, m.outputs);
      const results = {}, transfer = [];
      for (const [name, t] of Object.entries(out)) {
        if (!ARRAYS[t.type]) throw new Error('output ' + name + ' has type ' + t.type + ', which Kiln has no dtype for');
        const data = t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength);
        results[name] = { type: t.type, dims: Array.from(t.dims), data };
        transfer.push(data);
      }
      reply({ id: m.id, ok: true, results }, transfer);
    } else if (m.kind === 'dispose') {
      if (session) await session.release();
      reply({ id: m.id, ok: true });
      process.exit(0);
    }
  } catch (e) {
    reply({ id: m.id, ok: false, message: String(e && e.message || e), code: e && e.code });
  }
});
`;

/** The bytes of a tensor in its storage dtype (float16 stays 16-bit), contiguous. */
async function storageBytes(t: Tensor): Promise<StorageArray> {
  const c = t.contiguous();
  try {
    const out = storageArray(c.dtype, c.size);
    await c.readInto(out, 'ort');
    return out;
  } finally {
    c.dispose();
  }
}

export class OrtSession implements InferenceSession {
  readonly engine = 'ort' as const;
  readonly inputs;
  readonly outputs;
  readonly metadata;
  #worker: Worker | undefined;
  #pending = new Map<number, { resolve: (v: Record<string, WireTensor> | undefined) => void; reject: (e: Error) => void }>();
  #next = 0;

  private constructor(model: Model, readonly device: string) {
    this.inputs = inputsOf(model);
    this.outputs = model.graph.outputs;
    this.metadata = metadataOf(model);
  }

  static async create(model: Model, device: string, options: OrtSessionOptions): Promise<OrtSession> {
    optionsArg('onnx.load: ort', options, ['intraOpNumThreads', 'interOpNumThreads', 'graphOptimizationLevel', 'executionProviders',
      'executionMode', 'enableCpuMemArena', 'enableMemPattern', 'logSeverityLevel']);
    if (device !== 'cpu') fail('E_UNSUPPORTED', `ort engine: results are delivered as cpu tensors; device '${device}' is not supported (pick GPU execution with ort.executionProviders)`);
    let ortPath: string;
    try {
      ortPath = require.resolve('onnxruntime-node');
    } catch (e) {
      fail('E_UNSUPPORTED', `ort engine: onnxruntime-node is not installed: ${(e as Error).message}`);
    }
    const s = new OrtSession(model, device);
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath } });
    s.#worker = worker;
    worker.on('message', (m: { id: number; ok: boolean; results?: Record<string, WireTensor>; message?: string }) => {
      const p = s.#pending.get(m.id);
      if (!p) return;
      s.#pending.delete(m.id);
      if (m.ok) p.resolve(m.results);
      else p.reject(new KilnError('E_ARGUMENT', `ort engine: onnxruntime: ${m.message}`));
    });
    worker.on('error', (e) => s.#failAll(new KilnError('E_NATIVE', `ort engine: the worker failed: ${e.message}`)));
    worker.on('exit', () => s.#failAll(new KilnError('E_DISPOSED', 'ort engine: the session was disposed')));
    worker.unref();
    const bytes = new Uint8Array(model.bytes).buffer; // a fresh, exactly sized copy to transfer (a Buffer may sit in a shared pool)
    try {
      await s.#call({ kind: 'init', bytes, options }, [bytes]);
    } catch (e) {
      await s.dispose();
      throw e;
    }
    return s;
  }

  #failAll(e: Error): void {
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
    this.#worker = undefined;
  }

  #call(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Record<string, WireTensor> | undefined> {
    const w = this.#worker ?? fail('E_DISPOSED', 'ort engine: the session was disposed');
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      // A pending call keeps the process alive; an idle session does not.
      w.ref();
      w.postMessage({ ...msg, id }, transfer);
    }).finally(() => {
      if (this.#pending.size === 0) this.#worker?.unref();
    }) as Promise<Record<string, WireTensor> | undefined>;
  }

  async run(feeds: Record<string, Tensor>, options?: RunOptions): Promise<Record<string, Tensor>> {
    options = optionsArg('ort engine run', options, RUN_OPTION_KEYS);
    if (!this.#worker) fail('E_DISPOSED', 'ort engine: run() after dispose()');
    if (typeof feeds !== 'object' || feeds === null) fail('E_ARGUMENT', 'ort engine run: feeds must be an object of tensors by input name');
    const wire: Record<string, WireTensor> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, t] of Object.entries(feeds)) {
      if (!(t instanceof Tensor)) fail('E_ARGUMENT', `ort engine run: input '${name}' must be a Tensor`);
      const type = ORT_TYPE[t.dtype] ?? fail('E_DTYPE', `ort engine run: input '${name}' is ${t.dtype}, which onnxruntime-node cannot take`);
      const data = (await storageBytes(t)).buffer as ArrayBuffer;
      wire[name] = { type, dims: [...t.shape], data };
      transfer.push(data);
    }
    const names = options.outputs ?? this.outputs.map((o) => o.name);
    const results = (await this.#call({ kind: 'run', feeds: wire, outputs: names }, transfer)) ?? {};
    const out: Record<string, Tensor> = {};
    for (const [name, r] of Object.entries(results)) {
      const dtype = KILN_TYPE[r.type];
      // A view of the transferred buffer in the dtype's storage type: the upload is the one copy.
      const view = storageArray(dtype, 0).constructor as new (b: ArrayBuffer) => StorageArray;
      out[name] = upload({ dtype, shape: r.dims, data: new view(r.data) }, this.device);
    }
    return out;
  }

  async dispose(): Promise<void> {
    const w = this.#worker;
    if (!w) return;
    try {
      await this.#call({ kind: 'dispose' });
    } catch {
      // the worker exits while answering; nothing else to release
    }
    await w.terminate();
    this.#worker = undefined;
  }
}
