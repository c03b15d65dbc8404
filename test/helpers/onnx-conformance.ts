// The ONNX backend node tests (../shared/onnx-node-tests, or KILN_ONNX_TESTS): which tests cover
// the ops the Kiln engine claims, and running one test on a device with the ONNX default
// tolerances (rtol 1e-3, atol 1e-7; NaN and Inf must match exactly).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as kiln from '../../src/index.js';
import { hostFromProto, onnx } from '../../src/onnx/proto.js';
import { upload } from '../../src/onnx/upload.js';
import { ROOT } from './dist.js';

export const SUITE_DIR = process.env.KILN_ONNX_TESTS ?? join(ROOT, '..', 'shared', 'onnx-node-tests');
export const suitePresent = () => existsSync(join(SUITE_DIR, 'BY_OP.txt'));

export interface ConformanceCase {
  op: string;
  test: string;
  opset: number;
}

/** Tests per op from BY_OP.txt that onnxruntime passes (ORT_PASS.txt). */
export function casesFor(ops: readonly string[]): ConformanceCase[] {
  const pass = new Set(readFileSync(join(SUITE_DIR, 'ORT_PASS.txt'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean));
  const out: ConformanceCase[] = [];
  let op = '';
  for (const line of readFileSync(join(SUITE_DIR, 'BY_OP.txt'), 'utf8').split('\n')) {
    const head = /^(\S+) \(\d+\)$/.exec(line);
    if (head) {
      op = head[1];
      continue;
    }
    const m = /^\s+(test_\S+).*\[(\S+):(\d+)\]/.exec(line);
    if (m && ops.includes(op) && m[2] === 'ai.onnx' && pass.has(m[1])) out.push({ op, test: m[1], opset: Number(m[3]) });
  }
  return out;
}

/** test name -> reason, from test/onnx-conformance-exceptions.txt ("test_name  reason"). */
export function exceptions(): Map<string, string> {
  const file = join(ROOT, 'test', 'onnx-conformance-exceptions.txt');
  const map = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#')) continue;
    const [name, ...reason] = l.split(/\s+/);
    map.set(name, reason.join(' '));
  }
  return map;
}

const readTensor = (path: string) => hostFromProto(onnx.TensorProto.decode(readFileSync(path)), path);

function close(got: number, want: number): boolean {
  if (Number.isNaN(want) || !Number.isFinite(want)) return Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want));
  return Math.abs(got - want) <= 1e-7 + 1e-3 * Math.abs(want);
}

/** The inputs a test's data set folder holds, uploaded to `device`, by the session's input names. */
export function loadFeeds(session: kiln.onnx.InferenceSession, at: string, device: string): Record<string, kiln.Tensor> {
  const feeds: Record<string, kiln.Tensor> = {};
  session.inputs.forEach((v, i) => {
    const file = join(at, `input_${i}.pb`);
    if (existsSync(file)) feeds[v.name] = upload(readTensor(file), device);
  });
  return feeds;
}

/**
 * Runs one test; returns undefined on success, else what went wrong. On the CPU every data set runs
 * twice, from freshly uploaded inputs: the second run is a replay of the first (src/onnx/replay.ts)
 * wherever the engine could record one, and `stats.replayed` counts the tests that had one.
 */
export async function runCase(test: string, device: string, stats?: { replayed: number }): Promise<string | undefined> {
  const dir = join(SUITE_DIR, test);
  const session = await kiln.onnx.load(join(dir, 'model.onnx'), { device });
  try {
    const sets = readdirSync(dir).filter((d) => d.startsWith('test_data_set_'));
    for (const set of device === 'cpu' ? sets.flatMap((d) => [d, d]) : sets) {
      const at = join(dir, set);
      const feeds = loadFeeds(session, at, device);
      const outs = await session.run(feeds);
      try {
        for (const [k, o] of session.outputs.entries()) {
          const want = readTensor(join(at, `output_${k}.pb`));
          const got = outs[o.name];
          if (got.dtype !== want.dtype) return `${set} output ${o.name}: dtype ${got.dtype}, expected ${want.dtype}`;
          if (got.shape.join(',') !== want.shape.join(',')) return `${set} output ${o.name}: shape [${got.shape}], expected [${want.shape}]`;
          const g = await got.data();
          const w = want.dtype === 'float16' || want.dtype === 'bfloat16' ? await (upload(want, device).data()) : want.data;
          for (let i = 0; i < w.length; ++i) {
            const a = Number(g[i]), b = Number(w[i]);
            if (!close(a, b)) return `${set} output ${o.name}[${i}]: got ${a}, expected ${b}`;
          }
        }
      } finally {
        for (const t of [...Object.values(feeds), ...Object.values(outs)]) t.dispose();
      }
    }
    if (stats && session instanceof kiln.onnx.KilnSession && session.replays().some((r) => r.kernels !== undefined)) stats.replayed++;
    return undefined;
  } finally {
    await session.dispose();
  }
}
