// kiln.topk on a device (the CPU unless --device) beside onnxruntime-node's TopK on the CPU (a one-node
// model, called in this process) on the same float32 data: classifier heads and samplers (top 5 of a
// 50k vocabulary, top 1000 of detection scores) and full sorts. Outputs are checked equal first
// (values and indices; the random values have no ties, so the orders agree). Median ms per call, the
// result read back each call, and the ratio kiln / ort.
//   npm run build:ts && node dist/bench/topk.js [--device webgpu]
import * as kiln from '../src/index.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { loadOrt } from './ort-peer.js';
import { measure } from './timing.js';

const CASES: [rows: number, n: number, k: number][] = [
  [1, 50257, 5],
  [64, 50257, 5],
  [8, 25200, 1000],
  [256, 1000, 1000],
  [1, 100000, 100000],
];

await kiln.init();
const at = process.argv.indexOf('--device');
const device = at > 0 ? process.argv[at + 1] : 'cpu';

const { ort, reason } = loadOrt();
if (!ort) throw new kiln.KilnError('E_UNSUPPORTED', `bench topk needs onnxruntime-node as its peer: ${reason}`);

console.log([`rows x n, k`, `kiln ${device} ms`, 'onnxruntime ms', 'kiln/ort time'].join('\t'));
for (const [rows, n, k] of CASES) {
  const g = new GraphBuilder('topk');
  g.nodeOutputs('TopK', [g.input('x', 'float32', [rows, n]), g.ints([k])], { axis: 1 }, { outputs: ['v', 'i'] });
  g.output('v', 'float32', [rows, k]);
  g.output('i', 'int64', [rows, k]);
  const session = await ort.InferenceSession.create(g.toBytes({ opset: 11 }), { intraOpNumThreads: 0 });
  const x = kiln.rand([rows, n], { seed: 7, device });
  const data = (await x.data()) as Float32Array;
  const feeds = { x: new ort.Tensor('float32', data, [rows, n]) };

  const want = await session.run(feeds);
  const got = kiln.topk(x, k);
  const same = (a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>) => a.length === b.length && Array.from(a).every((v, j) => v === b[j]);
  if (!same((await got.values.data()) as Float32Array, want.v.data as Float32Array) || !same((await got.indices.data()) as BigInt64Array, want.i.data as BigInt64Array))
    throw new kiln.KilnError('E_NATIVE', `bench topk: kiln and onnxruntime disagree on ${rows}x${n}, k ${k}`);
  got.values.dispose();
  got.indices.dispose();

  const tKiln = await measure(async (reps) => {
    const t0 = performance.now();
    for (let r = 0; r < reps; ++r) {
      const { values, indices } = kiln.topk(x, k);
      await indices.data(); // the result read back, as a caller would
      values.dispose();
      indices.dispose();
    }
    return performance.now() - t0;
  });
  const tOrt = await measure(async (reps) => {
    const t0 = performance.now();
    for (let r = 0; r < reps; ++r) await session.run(feeds);
    return performance.now() - t0;
  });
  console.log([`${rows}x${n}, ${k}`, tKiln.median.toFixed(3), tOrt.median.toFixed(3), `${(tKiln.median / tOrt.median).toFixed(2)}x`].join('\t'));
  x.dispose();
  await session.release();
}
