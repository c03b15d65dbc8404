// The onnxruntime engine: onnxruntime-node's InferenceSession lives in a child Node process of its
// own (or, with isolation 'thread', a worker thread), so its synchronous run never blocks the JS
// thread, and a native crash inside onnxruntime (a malformed model can segfault it) ends that
// process, not this one: the session's calls reject with E_ENGINE_LOST and the caller's process
// goes on. A Kiln tensor goes in as one read of its bytes into a JS buffer, sent as raw bytes in a
// frame (ort-frames.ts) over a socket; a result comes back the same way and is uploaded into a
// Kiln tensor. (In a worker thread the buffers are transferred instead.)
import { abortable, signalArg, throwIfAborted } from '../abort.js';
import { describeValue, optionsArg } from '../args.js';
import { createRequire } from 'node:module';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { storageArray, type DType, type StorageArray } from '../dtype.js';
import { KilnError, fail } from '../errors.js';
import { Tensor } from '../tensor.js';
import type { Model } from './model.js';
import { frameReader, writeFrame } from './ort-frames.js';
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
  /**
   * Where onnxruntime runs. 'process' (default): a child Node process, so a native crash inside
   * onnxruntime (some malformed models segfault it) fails this session with E_ENGINE_LOST and no
   * more; tensors are copied over a socket. 'thread': a worker thread of this process,
   * whose buffers are transferred, not copied; a crash there ends this process.
   */
  isolation?: 'process' | 'thread';
  /**
   * With isolation 'process': a run that onnxruntime has not answered within this many ms
   * (from the call, queueing included) stops its process, and the session is lost (E_ENGINE_LOST),
   * as after a crash. Default: no limit. (A worker thread stuck in native code cannot be stopped.)
   */
  timeoutMs?: number;
}

interface WireTensor {
  type: string;
  dims: number[];
  data: ArrayBuffer;
}

// ORT's JS type names for Kiln dtypes (bfloat16 has no onnxruntime-node tensor type).
const ORT_TYPE: Partial<Record<DType, string>> = { float32: 'float32', float16: 'float16', int32: 'int32', int64: 'int64', uint8: 'uint8', bool: 'bool' };
const KILN_TYPE: Record<string, DType> = Object.fromEntries(Object.entries(ORT_TYPE).map(([k, v]) => [v, k as DType]));

// The host's code, CommonJS, run either by `node -e` (argv[1] is onnxruntime-node's path), talking
// frames (ort-frames.ts) over the socket on its fd 3 and ending when its parent does (the socket
// closes), or in a worker thread (workerData.ortPath), talking messages whose buffers are
// transferred. A dispose answers, then ends the host.
const HOST_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(parentPort ? workerData.ortPath : process.argv[1]);
const ARRAYS = { float32: Float32Array, float16: Uint16Array, int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, bool: Uint8Array };
${writeFrame}
${frameReader}
let send, listen;
if (parentPort) {
  send = (msg, transfer, end) => {
    parentPort.postMessage(msg, transfer);
    if (end) process.exit(0);
  };
  listen = (handle) => parentPort.on('message', handle);
} else {
  const sock = new (require('node:net').Socket)({ fd: 3, readable: true, writable: true });
  sock.on('close', () => process.exit(0));
  sock.on('error', () => process.exit(0));
  // A run stuck in onnxruntime blocks this thread, so the socket's close is never seen: a watchdog
  // thread ends the process once its parent is gone (it has a new parent then), whatever it does.
  new (require('node:worker_threads').Worker)(
    "const { workerData: w } = require('node:worker_threads'); setInterval(() => { if (process.ppid !== w.ppid) process.kill(w.pid, 'SIGKILL'); }, 500);",
    { eval: true, workerData: { ppid: process.ppid, pid: process.pid } },
  ).unref();
  send = (msg, transfer, end) => {
    sock.cork();
    writeFrame((bytes) => sock.write(bytes), msg);
    sock.uncork();
    if (end) sock.end(() => process.exit(0));
  };
  listen = (handle) => sock.on('data', frameReader(handle));
}
let session;
listen(async (m) => {
  try {
    if (m.kind === 'init') {
      session = await ort.InferenceSession.create(new Uint8Array(m.bytes), m.options);
      send({ id: m.id, ok: true }, []);
    } else if (m.kind === 'run') {
      const feeds = {};
      for (const [name, t] of Object.entries(m.feeds)) feeds[name] = new ort.Tensor(t.type, new ARRAYS[t.type](t.data), t.dims);
      const out = await session.run(feeds, m.outputs);
      const results = {}, transfer = [];
      for (const [name, t] of Object.entries(out)) {
        if (!ARRAYS[t.type]) throw new Error('output ' + name + ' has type ' + t.type + ', which Kiln has no dtype for');
        // A worker transfers an exactly sized copy; the socket writes the output's bytes as they are.
        const data = parentPort ? t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength) : t.data;
        results[name] = { type: t.type, dims: Array.from(t.dims), data };
        if (parentPort) transfer.push(data);
      }
      send({ id: m.id, ok: true, results }, transfer);
    } else if (m.kind === 'dispose') {
      if (session) await session.release();
      send({ id: m.id, ok: true }, [], true);
    }
  } catch (e) {
    send({ id: m.id, ok: false, message: String(e && e.message || e) }, []);
  }
});
`;

type Reply = { id: number; ok: boolean; results?: Record<string, WireTensor>; message?: string };

/** The host of one session's onnxruntime, whichever isolation: the session sees only this. */
interface Host {
  /** Sends a message; `transfer` lists its buffers that the host may take over (they are not used again). */
  send(msg: Record<string, unknown>, transfer: ArrayBuffer[]): void;
  /** Whether the host keeps this process alive (while a call is pending) or not (idle). */
  hold(on: boolean): void;
  /** Resolves once the host has ended. */
  readonly exit: Promise<void>;
  /** Ends the host now. */
  stop(): void;
}

// Host processes still running: this process stops them as it exits (the host's own watchdog
// stops one whose parent was killed outright, within half a second).
const liveHosts = new Set<ChildProcess>();
let exitHooked = false;
function stopLiveHosts(): void {
  for (const c of liveHosts) c.kill('SIGKILL');
}

function startHost(isolation: 'process' | 'thread', ortPath: string, onReply: (m: Reply) => void, onEnd: (e: KilnError) => void): Host {
  const lost = (how: string) => onEnd(new KilnError('E_ENGINE_LOST', `ort engine: onnxruntime's ${isolation} ended (${how}); the session is lost, load the model again`));
  if (isolation === 'thread') {
    const w = new Worker(HOST_SOURCE, { eval: true, workerData: { ortPath } });
    const exit = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.on('message', onReply);
    w.on('error', (e) => lost(`it threw: ${e.message}`));
    w.on('exit', (code) => lost(`exit code ${code}`));
    return {
      send: (msg, transfer) => w.postMessage(msg, transfer),
      hold: (on) => (on ? w.ref() : w.unref()),
      exit,
      stop: () => void w.terminate(),
    };
  }
  const c = spawn(process.execPath, ['-e', HOST_SOURCE, ortPath], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  const sock = c.stdio[3] as Socket;
  const exit = new Promise<void>((resolve) => c.once('exit', () => resolve()));
  const read = frameReader((m) => onReply(m as Reply));
  // A frame this side cannot read, or a broken socket, ends the host; its exit reports the loss.
  sock.on('data', (chunk: Buffer) => {
    try {
      read(chunk);
    } catch {
      c.kill('SIGKILL');
    }
  });
  sock.on('error', () => c.kill('SIGKILL'));
  c.on('error', (e) => onEnd(new KilnError('E_NATIVE', `ort engine: onnxruntime's process could not run: ${e.message}`)));
  c.on('exit', (code, signal) => {
    liveHosts.delete(c);
    lost(signal ? `signal ${signal}` : `exit code ${code}`);
  });
  if (!exitHooked) process.on('exit', stopLiveHosts);
  exitHooked = true;
  liveHosts.add(c);
  return {
    send: (msg) => {
      sock.cork(); // one write of the whole frame
      writeFrame((bytes) => sock.write(bytes), msg);
      sock.uncork();
    },
    hold: (on) => {
      for (const h of [c, sock]) {
        if (on) h.ref();
        else h.unref();
      }
    },
    exit,
    stop: () => c.kill('SIGKILL'),
  };
}

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
  #host: Host | undefined;
  // Why no call may start any more: E_DISPOSED after dispose(), E_ENGINE_LOST once the host died.
  #gone: KilnError | undefined;
  #pending = new Map<number, { resolve: (v: Record<string, WireTensor> | undefined) => void; reject: (e: Error) => void }>();
  #next = 0;
  #runs = new Set<Promise<unknown>>(); // run() calls not yet settled
  #timeoutMs: number | undefined;

  private constructor(model: Model, readonly device: string) {
    this.inputs = inputsOf(model);
    this.outputs = model.graph.outputs;
    this.metadata = metadataOf(model);
  }

  static async create(model: Model, device: string, options: OrtSessionOptions): Promise<OrtSession> {
    optionsArg('onnx.load: ort', options, ['intraOpNumThreads', 'interOpNumThreads', 'graphOptimizationLevel', 'executionProviders',
      'executionMode', 'enableCpuMemArena', 'enableMemPattern', 'logSeverityLevel', 'isolation', 'timeoutMs']);
    const { isolation = 'process', timeoutMs, ...sessionOptions } = options;
    if (isolation !== 'process' && isolation !== 'thread') fail('E_ARGUMENT', `onnx.load: ort.isolation must be 'process' or 'thread', got ${describeValue(isolation)}`);
    if (timeoutMs !== undefined) {
      if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > 2 ** 31 - 1) fail('E_ARGUMENT', `onnx.load: ort.timeoutMs must be a number of ms in (0, 2^31), got ${describeValue(timeoutMs)}`);
      if (isolation !== 'process') fail('E_ARGUMENT', `onnx.load: ort.timeoutMs needs isolation 'process' (a worker thread stuck in onnxruntime cannot be stopped)`);
    }
    if (device !== 'cpu') fail('E_UNSUPPORTED', `ort engine: results are delivered as cpu tensors; device '${device}' is not supported (pick GPU execution with ort.executionProviders)`);
    let ortPath: string;
    try {
      ortPath = require.resolve('onnxruntime-node');
    } catch (e) {
      fail('E_UNSUPPORTED', `ort engine: onnxruntime-node is not installed: ${(e as Error).message}`);
    }
    const s = new OrtSession(model, device);
    s.#timeoutMs = timeoutMs;
    s.#host = startHost(isolation, ortPath, (m) => {
      const p = s.#pending.get(m.id);
      if (!p) return;
      s.#pending.delete(m.id);
      if (m.ok) p.resolve(m.results);
      else p.reject(new KilnError('E_ARGUMENT', `ort engine: onnxruntime: ${m.message}`));
    }, (e) => s.#end(e));
    s.#host.hold(false);
    try {
      await s.#call({ kind: 'init', bytes: model.bytes, options: sessionOptions });
    } catch (e) {
      await s.dispose();
      throw e;
    }
    return s;
  }

  // The host is gone (after dispose() it exits once its calls are answered): calls still waiting
  // on it reject with `e`, and later calls are refused with why it went first.
  #end(e: KilnError): void {
    this.#gone ??= e;
    this.#host = undefined;
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  #call(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Record<string, WireTensor> | undefined> {
    const h = this.#host;
    if (!h) throw this.#refusal();
    const id = this.#next++;
    const ms = msg.kind === 'run' ? this.#timeoutMs : undefined;
    const timer = ms === undefined ? undefined : setTimeout(() => {
      this.#end(new KilnError('E_ENGINE_LOST', `ort engine: onnxruntime did not answer a run within ort.timeoutMs (${ms} ms), so its process was stopped; the session is lost, load the model again`));
      h.stop();
    }, ms);
    return new Promise<Record<string, WireTensor> | undefined>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      // A pending call keeps the process alive; an idle session does not.
      h.hold(true);
      h.send({ ...msg, id }, transfer);
    }).finally(() => {
      clearTimeout(timer);
      if (this.#pending.size === 0) this.#host?.hold(false);
    });
  }

  #refusal(): KilnError {
    const g = this.#gone ?? new KilnError('E_DISPOSED', 'ort engine: the session was disposed');
    return new KilnError(g.code, g.message);
  }

  run(feeds: Record<string, Tensor>, options?: RunOptions): Promise<Record<string, Tensor>> {
    const run = this.#run(feeds, options);
    this.#runs.add(run);
    const forget = () => this.#runs.delete(run);
    run.then(forget, forget);
    return run;
  }

  async #run(feeds: Record<string, Tensor>, options?: RunOptions): Promise<Record<string, Tensor>> {
    options = optionsArg('ort engine run', options, RUN_OPTION_KEYS);
    const signal = signalArg('ort engine run', options.signal);
    if (this.#gone || !this.#host) throw this.#refusal();
    throwIfAborted('ort engine run', signal);
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
    throwIfAborted('ort engine run', signal); // fired while the feeds were read: nothing sent
    // onnxruntime cannot stop a run it has started: an abort answers the caller now, and the run's
    // results are dropped when they come (they are only bytes here until uploaded below)
    const results = (await abortable('ort engine run', this.#call({ kind: 'run', feeds: wire, outputs: names }, transfer), signal, () => {})) ?? {};
    const out: Record<string, Tensor> = {};
    for (const [name, r] of Object.entries(results)) {
      const dtype = KILN_TYPE[r.type];
      // A view of the received buffer in the dtype's storage type: the upload is the one copy.
      const view = storageArray(dtype, 0).constructor as new (b: ArrayBuffer) => StorageArray;
      out[name] = upload({ dtype, shape: r.dims, data: new view(r.data) }, this.device);
    }
    return out;
  }

  async dispose(): Promise<void> {
    const h = this.#host;
    if (!h || this.#gone) return;
    this.#gone = new KilnError('E_DISPOSED', 'ort engine: the session was disposed');
    await Promise.allSettled(this.#runs); // runs called before dispose() finish first
    try {
      await this.#call({ kind: 'dispose' });
    } catch {
      // the host ended first; nothing else to release
    }
    // The host ends once its answer is out; one that does not within a second is stopped.
    const timer = setTimeout(() => h.stop(), 1000);
    await h.exit;
    clearTimeout(timer);
  }
}
