// A service's view of inference: C clients, each sending one-row requests to the MLP fixture
// (784-1024-1024-10) in a closed loop (send, await the answer's values, send the next), for a fixed
// time per configuration. Contenders, on the cpu: onnxruntime-node called directly (the peer), the
// Kiln engine with each request its own run, the Kiln engine behind kiln.serve.batcher (requests
// joined along dim 0, maxBatch 32, maxDelayMs 0; maxInFlight 1 and 2), and Kiln's ort engine alone
// and batched. Every answer is checked against the
// peer's for the same row before the timing starts. Reports requests/s and latency p50/p99.
//   npm run build:ts && node dist/bench/serve.js [--clients 1,8,64] [--ms 1500]
import * as kiln from '../src/index.js';
import { mlp, values } from './onnx-models.js';
import { loadOrt } from './ort-peer.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const clients = arg('--clients', '1,8,64').split(',').map(Number);
const windowMs = Number(arg('--ms', '1500'));
if (!clients.every((c) => Number.isSafeInteger(c) && c > 0) || !(windowMs > 0)) throw new kiln.KilnError('E_ARGUMENT', 'serve bench: --clients takes positive integers, --ms a positive number');

const ROWS = 64; // distinct request rows, taken in turn
const fx = mlp('N');
const rows = Array.from({ length: ROWS }, (_, i) => values(784, 1000 + i));
const threads = kiln.info().backends.cpu.devices[0]?.details.threads as number | undefined;
const { ort, reason } = loadOrt();
if (!ort) console.log(`peer: ${reason}`);

type Ask = (i: number) => Promise<Float32Array>;
const contenders: { name: string; ask: Ask; close: () => Promise<void> }[] = [];
let want: Float32Array[] | undefined;
if (ort) {
  const s = await ort.InferenceSession.create(fx.bytes, { intraOpNumThreads: threads });
  const ask: Ask = async (i) => (await s.run({ x: new ort.Tensor('float32', rows[i], [1, 784]) })).probs.data as Float32Array;
  want = await Promise.all(rows.map((_, i) => ask(i)));
  contenders.push({ name: 'onnxruntime-node, each alone', ask, close: () => s.release() });
}
const session = await kiln.onnx.load(fx.bytes, { device: 'cpu' });
const inputs = rows.map((r) => kiln.tensor(r, { shape: [1, 784] }));
const read = async (out: Record<string, kiln.Tensor>) => {
  const d = (await out.probs.data()) as Float32Array;
  out.probs.dispose();
  return d;
};
contenders.push({ name: 'kiln, each alone', ask: async (i) => read(await session.run({ x: inputs[i] })), close: async () => {} });
const b = kiln.serve.batcher(session, { maxBatch: 32 });
contenders.push({ name: 'kiln, serve.batcher', ask: async (i) => read(await b.run({ x: inputs[i] })), close: () => b.close() });
const b2 = kiln.serve.batcher(session, { maxBatch: 32, maxInFlight: 2 });
contenders.push({ name: 'kiln, serve.batcher maxInFlight 2', ask: async (i) => read(await b2.run({ x: inputs[i] })), close: () => b2.close() });
// Kiln's onnxruntime engine (onnxruntime in a child process): each request a round trip, or batched
const ortSession = ort ? await kiln.onnx.load(fx.bytes, { engine: 'ort', ort: { intraOpNumThreads: threads } }) : undefined;
if (ortSession) {
  const bo = kiln.serve.batcher(ortSession, { maxBatch: 32 });
  contenders.push({ name: 'kiln ort engine, each alone', ask: async (i) => read(await ortSession.run({ x: inputs[i] })), close: async () => {} });
  contenders.push({ name: 'kiln ort engine, serve.batcher', ask: async (i) => read(await bo.run({ x: inputs[i] })), close: () => bo.close() });
}

// validate: every contender's answer for every row, all rows at once (batched where it batches)
for (const c of contenders) {
  const got = await Promise.all(rows.map((_, i) => c.ask(i)));
  if (want)
    for (let i = 0; i < ROWS; ++i)
      for (let j = 0; j < 10; ++j)
        if (!(Math.abs(got[i][j] - want[i][j]) <= 1e-5 + 1e-4 * Math.abs(want[i][j])))
          throw new kiln.KilnError('E_NATIVE', `serve bench: ${c.name} answered row ${i} with ${got[i][j]} at ${j}, onnxruntime ${want[i][j]}`);
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
console.log(`kiln serve bench: one-row requests to the MLP fixture in a closed loop, ${windowMs} ms per row of the table, ${threads} threads`);
console.log(['clients', 'contender', 'requests/s', 'p50 ms', 'p99 ms', 'vs onnxruntime requests/s'].join('\t'));
for (const c of clients) {
  let peer: number | undefined;
  for (const k of contenders) {
    const lat: number[] = [];
    let next = 0;
    const end = performance.now() + windowMs;
    await Promise.all(Array.from({ length: c }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await k.ask(next++ % ROWS);
        lat.push(performance.now() - t0);
      }
    }));
    const rate = lat.length / (windowMs / 1000);
    if (k.name.startsWith('onnxruntime')) peer = rate;
    console.log([c, k.name, rate.toFixed(0), pct(lat, 50).toFixed(3), pct(lat, 99).toFixed(3), peer ? `${(rate / peer).toFixed(2)}x` : '-'].join('\t'));
    await new Promise((r) => setTimeout(r, 100)); // let onnxruntime's spinning threads settle
  }
}
for (const k of contenders) await k.close();
await session.dispose();
await ortSession?.dispose();
