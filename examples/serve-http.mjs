// An inference service: a model behind node:http. Concurrent requests are joined into batches by
// kiln.serve.batcher; each request is bounded in time and dropped when its client goes away
// (an AbortSignal on the run). Bad input gets a 400 naming what was wrong, never a crash.
//   node examples/serve-http.mjs                  serves on a free port, sends itself 64 concurrent
//                                                 requests and a malformed one, checks, and stops
//   node examples/serve-http.mjs --listen 8080    serves until Ctrl-C:
//     curl -s localhost:8080/predict -d '{"x":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]}'
import { createServer } from 'node:http';
import * as kiln from '../dist/src/index.js';

const FEATURES = 8, CLASSES = 3, TIMEOUT_MS = 2000;

// A small MLP: probs = Softmax(Gemm(Relu(Gemm(x, W1, b1)), W2, b2)), seeded weights.
let seed = 1;
const rand = (n, scale) => Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * scale);
const g = new kiln.onnx.GraphBuilder('classifier');
const x = g.input('x', 'float32', ['batch', FEATURES]);
const h = g.node('Relu', [g.node('Gemm', [x, g.floats([FEATURES, 16], rand(FEATURES * 16, 1)), g.floats([16], rand(16, 0.2))])]);
const logits = g.node('Gemm', [h, g.floats([16, CLASSES], rand(16 * CLASSES, 1)), g.floats([CLASSES], rand(CLASSES, 0.2))]);
g.node('Softmax', [logits], { axis: -1 }, { outputs: ['probs'] });
g.output('probs', 'float32', ['batch', CLASSES]);

const session = await kiln.onnx.load(g.toBytes());
const batcher = kiln.serve.batcher(session, { maxBatch: 32 });

/** One request's features, as a [1, FEATURES] tensor; a KilnError (E_ARGUMENT, E_SHAPE) names what is wrong. */
function features(body) {
  let parsed;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new kiln.KilnError('E_ARGUMENT', 'the body must be JSON: {"x": [numbers]}');
  }
  return kiln.tensor([parsed?.x], { shape: [1, FEATURES] });
}

async function predict(req, res) {
  let body = '';
  for await (const chunk of req) body += chunk;
  // the run stops when the client goes away or the time is up, whichever comes first
  const gone = new AbortController();
  res.on('close', () => res.writableFinished || gone.abort(new Error('the client went away')));
  const signal = AbortSignal.any([gone.signal, AbortSignal.timeout(TIMEOUT_MS)]);
  let input;
  try {
    input = features(body);
    const { probs } = await batcher.run({ x: input }, { signal });
    const p = await probs.data();
    probs.dispose();
    const best = p.indexOf(Math.max(...p));
    return reply(res, 200, { probs: Array.from(p), class: best });
  } catch (e) {
    if (!(e instanceof kiln.KilnError)) return reply(res, 500, { error: 'internal error' });
    return reply(res, e.code === 'E_ABORTED' ? 504 : 400, { error: e.code, message: e.message });
  } finally {
    input?.dispose();
  }
}

function reply(res, status, json) {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
}

const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/predict') predict(req, res);
  else reply(res, 404, { error: 'POST /predict {"x": [numbers]}' });
});

const listen = process.argv.indexOf('--listen');
if (listen >= 0) {
  server.listen(Number(process.argv[listen + 1] ?? 8080), () => console.log(`serving on :${server.address().port}`));
  process.on('SIGINT', async () => {
    server.close();
    await batcher.close();
    await session.dispose();
  });
} else {
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/predict`;
  const post = async (body) => {
    const r = await fetch(url, { method: 'POST', body: JSON.stringify(body) });
    return { status: r.status, json: await r.json() };
  };
  const rows = Array.from({ length: 64 }, () => rand(FEATURES, 2));
  const answers = await Promise.all(rows.map((row) => post({ x: row })));
  // each answer against the same row run alone, straight on the session
  let worst = 0;
  for (const [i, row] of rows.entries()) {
    const t = kiln.tensor([row]);
    const { probs } = await session.run({ x: t });
    const want = await probs.data();
    probs.dispose();
    t.dispose();
    worst = Math.max(worst, ...want.map((v, j) => Math.abs(v - answers[i].json.probs[j])));
  }
  console.log(`${answers.filter((a) => a.status === 200).length} of ${rows.length} requests answered 200`);
  console.log(`answers agree with runs one at a time: ${worst < 1e-5 ? 'yes' : `no (${worst})`}`);
  console.log(`batcher: ${JSON.stringify(batcher.stats)}`);
  const bad = await post({ x: [1, 2, 3] });
  console.log(`a malformed request: ${bad.status} ${bad.json.error}`);
  server.close();
  await batcher.close();
  await session.dispose();
  console.log('memory', JSON.stringify(kiln.memory().devices));
}
