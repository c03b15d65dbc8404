// kiln.gridSample on the CPU beside onnxruntime-node's GridSample (a one-node opset-20 model, called
// in this process) on the same float32 data: every mode on a 64x64 feature map and a batch of 128x128
// ones, the other paddings, align_corners and a 3-D volume. Grids are random in [-1.05, 1.05] (a few
// taps past the borders). Outputs are checked to agree first (within float32 rounding of the taps'
// sum), then timed: median ms per call (Kiln's result read back each call) and the ratio kiln / ort.
// Both use the host's threads, or KILN_NUM_THREADS of them when it is set (onnxruntime's
// intraOpNumThreads follows it).
//   npm run build:ts && node dist/bench/grid-sample.js
import * as kiln from '../src/index.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { loadOrt } from './ort-peer.js';
import { measure } from './timing.js';

type Mode = 'linear' | 'nearest' | 'cubic';
type Padding = 'zeros' | 'border' | 'reflection';
interface Case {
  x: number[]; // [N, C, ...spatial]
  out: number[]; // output positions per sample
  mode: Mode;
  padding?: Padding;
  align?: boolean;
}

const CASES: Case[] = [
  { x: [1, 64, 64, 64], out: [64, 64], mode: 'linear' },
  { x: [1, 64, 64, 64], out: [64, 64], mode: 'nearest' },
  { x: [1, 64, 64, 64], out: [64, 64], mode: 'cubic' },
  { x: [4, 32, 128, 128], out: [128, 128], mode: 'linear' },
  { x: [4, 32, 128, 128], out: [128, 128], mode: 'nearest' },
  { x: [4, 32, 128, 128], out: [128, 128], mode: 'cubic' },
  { x: [4, 32, 128, 128], out: [128, 128], mode: 'linear', padding: 'border', align: true },
  { x: [4, 32, 128, 128], out: [128, 128], mode: 'linear', padding: 'reflection' },
  { x: [1, 256, 32, 32], out: [7, 7], mode: 'linear' },
  { x: [1, 16, 32, 32, 32], out: [32, 32, 32], mode: 'linear' },
  { x: [1, 16, 32, 32, 32], out: [32, 32, 32], mode: 'nearest' },
];

const { ort, reason } = loadOrt();
if (!ort) throw new kiln.KilnError('E_UNSUPPORTED', `bench grid-sample needs onnxruntime-node as its peer: ${reason}`);

/** onnxruntime's thread count: Kiln's (0: the host's, for both). */
const THREADS = Number(process.env.KILN_NUM_THREADS ?? 0) || 0;

const label = (c: Case) => `${c.mode} ${c.padding ?? 'zeros'}${c.align ? ' align' : ''} ${c.x.join('x')} -> ${c.out.join('x')}`;

console.log(['case', 'kiln ms', 'onnxruntime ms', 'kiln/ort time'].join('\t'));
for (const c of CASES) {
  const r = c.x.length - 2, N = c.x[0];
  const gridShape = [N, ...c.out, r], yShape = [c.x[0], c.x[1], ...c.out];
  const g = new GraphBuilder('gridsample');
  g.input('x', 'float32', c.x);
  g.input('grid', 'float32', gridShape);
  g.output(g.node('GridSample', ['x', 'grid'], { mode: c.mode, padding_mode: c.padding ?? 'zeros', align_corners: c.align ? 1 : 0 }), 'float32', yShape);
  const session = await ort.InferenceSession.create(g.toBytes({ opset: 20 }), { intraOpNumThreads: THREADS });
  const x = kiln.rand(c.x, { seed: 7, low: -2, high: 2 });
  const grid = kiln.rand(gridShape, { seed: 8, low: -1.05, high: 1.05 });
  const feeds = {
    x: new ort.Tensor('float32', (await x.data()) as Float32Array, c.x),
    grid: new ort.Tensor('float32', (await grid.data()) as Float32Array, gridShape),
  };
  const options = { mode: c.mode, padding: c.padding, alignCorners: c.align };

  const want = Object.values(await session.run(feeds))[0].data as Float32Array;
  const y = kiln.gridSample(x, grid, options);
  const got = (await y.data()) as Float32Array;
  y.dispose();
  // |a - b| within a few float32 ulps of the taps' magnitudes (X is in [-2, 2]; cubic weights reach 1.3)
  const bad = got.length !== want.length ? 0 : got.findIndex((v, i) => !(Math.abs(v - want[i]) <= 1e-5 * (4 + Math.abs(want[i]))));
  if (got.length !== want.length || bad >= 0)
    throw new kiln.KilnError('E_NATIVE', `bench grid-sample: kiln and onnxruntime disagree on ${label(c)}${bad >= 0 ? ` at ${bad}: ${got[bad]} vs ${want[bad]}` : ''}`);

  const tKiln = await measure(async (reps) => {
    const t0 = performance.now();
    for (let i = 0; i < reps; ++i) {
      const out = kiln.gridSample(x, grid, options);
      await out.data(); // the result read back, as a caller would
      out.dispose();
    }
    return performance.now() - t0;
  });
  const tOrt = await measure(async (reps) => {
    const t0 = performance.now();
    for (let i = 0; i < reps; ++i) await session.run(feeds);
    return performance.now() - t0;
  });
  console.log([label(c), tKiln.median.toFixed(3), tOrt.median.toFixed(3), `${(tKiln.median / tOrt.median).toFixed(2)}x`].join('\t'));
  x.dispose();
  grid.dispose();
  await session.release();
}
