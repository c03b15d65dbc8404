// `kiln bench inference`: latency (p50, p99) and throughput of ONNX models per engine and device:
// the Kiln engine on each device, Kiln's ort engine (onnxruntime-node in a child process; ort-thread: in a worker thread), and
// onnxruntime-node called directly in this process as the peer, on the same inputs in the same run,
// in interleaved rounds. Every engine's output is checked against the peer's before it is timed.
// Latency is wall time per run() including the device sync (Kiln) or the round trip to onnxruntime (ort).
import { basename } from 'node:path';
import * as kiln from '../src/index.js';
import { storageArray } from '../src/dtype.js';
import { parseModel, readSource } from '../src/onnx/model.js';
import type { HostTensor } from '../src/onnx/proto.js';
import { upload } from '../src/onnx/upload.js';
import { maxRelError } from './matmul.js';
import { FIXTURES, values, type Fixture } from './onnx-models.js';
import { loadOrt } from './ort-peer.js';
import { median } from './timing.js';

export interface InferenceRow {
  model: string;
  engine: 'kiln' | 'ort' | 'ort-thread' | 'onnxruntime-node';
  device: string;
  p50: number;
  p99: number;
  /** Runs per second, one run at a time. */
  throughput: number;
  samples: number;
  /** Max |engine - peer| / max |peer| over the outputs. */
  maxRelError?: number;
  /** p50 / the peer's p50 (lower is faster). */
  ratio?: number;
}

export interface InferenceBenchOptions {
  /** Fixture names (mlp, cnn, transformer, small-mlp, lstm) and/or .onnx paths. */
  models?: string[];
  devices?: string[];
  budgetMs?: number;
  log?: (line: string) => void;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

interface BenchModel {
  name: string;
  bytes: Uint8Array;
  inputs: (HostTensor & { name: string })[];
}

const ORT_TYPES: Partial<Record<kiln.DType, string>> = { float32: 'float32', int32: 'int32', int64: 'int64', uint8: 'uint8', bool: 'bool' };

/**
 * A fixture, or a model file fed for every graph input without a default: random float32 values,
 * zeros for integers (valid as indices), false for bool; symbolic dims are 1.
 */
function modelFor(spec: string): BenchModel {
  const f = (FIXTURES as Record<string, () => Fixture>)[spec];
  if (f) {
    const fx = f();
    return { name: fx.name, bytes: fx.bytes, inputs: [{ name: fx.input.name, dtype: 'float32', shape: fx.input.shape, data: fx.input.data }] };
  }
  const src = readSource(spec);
  const m = parseModel(src);
  const inputs = m.graph.inputs.filter((v) => !m.graph.initializers.has(v.name)).map((v, i) => {
    const dtype = v.dtype as kiln.DType;
    if (!ORT_TYPES[dtype]) throw new kiln.KilnError('E_ARGUMENT', `bench inference: ${spec}: input '${v.name}' is ${v.dtype}; inputs must be float32, int32, int64, uint8 or bool`);
    const shape = (v.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
    const n = shape.reduce((a, b) => a * b, 1);
    return { name: v.name, dtype, shape, data: dtype === 'float32' ? values(n, 9 + i) : storageArray(dtype, n) };
  });
  return { name: basename(spec), bytes: src.bytes, inputs };
}


interface Contender {
  engine: InferenceRow['engine'];
  device: string;
  run: () => Promise<void>;
  close: () => Promise<void>;
  maxRelError?: number;
  times: number[];
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Times every engine on one model in interleaved rounds (a block of runs each, then the next
 * engine), so a busy host's load swings hit all of them alike; a short pause between blocks lets
 * onnxruntime's spinning worker threads settle before another engine runs.
 */
async function timeRounds(contenders: Contender[], budgetMs: number): Promise<void> {
  for (const c of contenders) for (let i = 0; i < 3; ++i) await c.run();
  const rounds = 8;
  const start = performance.now();
  for (let r = 0; r < rounds && (r < 2 || performance.now() - start < budgetMs * contenders.length); ++r)
    for (const c of contenders) {
      await pause(20);
      const t0 = performance.now();
      while (c.times.length < (r + 1) * 3 || (performance.now() - t0 < budgetMs / rounds && c.times.length < (r + 1) * 60)) {
        const s = performance.now();
        await c.run();
        c.times.push(performance.now() - s);
      }
    }
}

export async function benchInference(o: InferenceBenchOptions = {}): Promise<InferenceRow[]> {
  const log = o.log ?? (() => {});
  const budgetMs = o.budgetMs ?? 3000;
  const devices = o.devices ?? kiln.devices().map((d) => d.id);
  const threads = kiln.info().backends.cpu.devices[0]?.details.threads as number | undefined;
  const { ort, reason } = loadOrt();
  if (!ort) log(`peer: ${reason}`);
  const rows: InferenceRow[] = [];
  for (const spec of o.models ?? Object.keys(FIXTURES)) {
    const fx = modelFor(spec);
    const contenders: Contender[] = [];
    let want: ArrayLike<number> | undefined;
    if (ort) {
      const session = await ort.InferenceSession.create(fx.bytes, { intraOpNumThreads: threads });
      const feeds = Object.fromEntries(fx.inputs.map((h) => [h.name, new ort.Tensor(ORT_TYPES[h.dtype] as 'float32', h.data as Float32Array, h.shape)]));
      want = Array.from(Object.values(await session.run(feeds))[0].data as ArrayLike<number | bigint>, Number);
      contenders.push({ engine: 'onnxruntime-node', device: 'cpu', times: [], run: async () => void (await session.run(feeds)), close: () => session.release() });
    }
    const engines = [...devices.map((device) => ({ engine: 'kiln' as const, device })), ...(ort ? (['ort', 'ort-thread'] as const).map((engine) => ({ engine, device: 'cpu' })) : [])];
    for (const { engine, device } of engines) {
      let session: kiln.onnx.InferenceSession;
      try {
        const isolation = engine === 'ort-thread' ? 'thread' : 'process';
        session = await kiln.onnx.load(fx.bytes, { engine: engine === 'kiln' ? 'kiln' : 'ort', device, ort: { intraOpNumThreads: threads, isolation } });
      } catch (e) {
        log(`${fx.name} ${engine} on ${device}: skipped: ${(e as Error).message}`);
        continue;
      }
      const feeds = Object.fromEntries(fx.inputs.map((h) => [h.name, upload(h, device)]));
      // checked twice: the Kiln engine's second run on the CPU is a replay of the first (src/onnx/replay.ts)
      let err: number | undefined;
      for (let check = 0; check < 2; ++check) {
        const outs = await session.run(feeds);
        const got = Array.from((await Object.values(outs)[0].data()) as ArrayLike<number | bigint>, Number);
        for (const t of Object.values(outs)) t.dispose();
        if (want) err = Math.max(err ?? 0, got.length === want.length ? maxRelError(got, want) : Infinity);
      }
      if (err !== undefined && !(err <= 1e-3)) throw new kiln.KilnError('E_NATIVE', `bench inference ${fx.name}: the ${engine} engine on ${device} differs from onnxruntime (max rel error ${err.toExponential(2)})`);
      contenders.push({
        engine, device, maxRelError: err, times: [],
        run: async () => {
          // done when the outputs are in host memory, as onnxruntime-node's run returns them
          const r = await session.run(feeds);
          await Promise.all(Object.values(r).map((t) => t.data()));
          for (const t of Object.values(r)) t.dispose();
        },
        close: async () => {
          for (const t of Object.values(feeds)) t.dispose();
          await session.dispose();
        },
      });
    }
    await timeRounds(contenders, budgetMs);
    const peer = contenders.find((c) => c.engine === 'onnxruntime-node');
    const peerP50 = peer ? median(peer.times) : undefined;
    for (const c of contenders) {
      const p50 = median(c.times);
      const row: InferenceRow = {
        model: fx.name, engine: c.engine, device: c.device, p50, p99: percentile(c.times, 99),
        throughput: 1000 / (c.times.reduce((a, b) => a + b, 0) / c.times.length), samples: c.times.length,
        ...(c === peer ? {} : { maxRelError: c.maxRelError, ratio: peerP50 ? p50 / peerP50 : undefined }),
      };
      rows.push(row);
      log(formatRow(row));
      await c.close();
    }
  }
  return rows;
}

const HEADER = ['model', 'engine', 'device', 'p50 ms', 'p99 ms', 'runs/s', 'vs onnxruntime p50', 'max rel err'];

function cells(r: InferenceRow): string[] {
  return [r.model, r.engine, r.device, r.p50.toFixed(3), r.p99.toFixed(3), r.throughput.toFixed(1), r.ratio ? `${r.ratio.toFixed(2)}x` : '-', r.maxRelError?.toExponential(1) ?? '-'];
}

export const formatRow = (r: InferenceRow): string => cells(r).join('  ');

export function formatTable(rows: InferenceRow[]): string {
  return [HEADER, HEADER.map(() => '---'), ...rows.map(cells)].map((l) => `| ${l.join(' | ')} |`).join('\n');
}
