// What one small op costs through the public API, beside its floor: the same kernel launched
// through the backend contract with prebuilt views into a preallocated output, which is what is
// left once the front end (argument checks, dtype promotion, broadcasting, the output tensor and its
// lifetime tracking) is taken away. 8-element float32 operands, so the kernels themselves are noise.
//   npm run build:ts && node dist/bench/dispatch.js [--device cpu]
import { resolveDevice } from '../src/backends/backend.js';
import * as kiln from '../src/index.js';
import { measure } from './timing.js';

await kiln.init();
const deviceArg = process.argv.indexOf('--device');
const devices = deviceArg > 0 ? [process.argv[deviceArg + 1]] : kiln.devices().map((d) => d.id);

async function perOp(f: () => void): Promise<number> {
  const t = await measure(async (reps) => {
    await kiln.sync();
    const t0 = performance.now();
    for (let i = 0; i < reps; ++i) f();
    await kiln.sync();
    return performance.now() - t0;
  }, { warmup: 3, targetMs: 20, budgetMs: 800, minSamples: 9, maxSamples: 30 });
  return t.median * 1000;
}

console.log('per-op cost of 8-element float32 ops, median us per call (ratio to the bare launch)');
console.log(['device', 'case', 'us', 'x floor'].join('\t'));
for (const device of devices) {
  const a = kiln.tensor(new Float32Array(8).fill(1.5), { device });
  const b = kiln.tensor(new Float32Array(8).fill(2), { device });
  const row = kiln.tensor([[3]], { device }).reshape([1]);
  const out = kiln.zeros([8], { device });
  const { backend } = resolveDevice(device);
  const views = [a.view('bench'), b.view('bench')], outViews = [out.view('bench')];
  const cases: [string, () => void][] = [
    ['bare Add launch (floor)', () => backend.run('Add', views, outViews, {})],
    ['add(a, b)', () => kiln.add(a, b).dispose()],
    ['add(a, 1)', () => kiln.add(a, 1).dispose()],
    ['mul(a, 0.5 + i)', (() => { let i = 0; return () => kiln.mul(a, 0.5 + (i++ % 4)).dispose(); })()],
    ['add(a, [1] tensor)', () => kiln.add(a, row).dispose()],
    ['where(a > 1, a, 0)', () => kiln.scope(() => kiln.where(kiln.greater(a, 1), a, 0)).dispose()],
  ];
  // Two rounds over every case, and the faster of the two: the first also pays for JIT compilation,
  // pipeline creation and the CPU queue's pacing measurements, whichever case comes first.
  const us = cases.map(() => Infinity);
  for (let round = 0; round < 2; ++round) for (const [i, [, f]] of cases.entries()) us[i] = Math.min(us[i], await perOp(f));
  for (const [i, [name]] of cases.entries()) console.log([device, name, us[i].toFixed(2), `${(us[i] / us[0]).toFixed(1)}x`].join('\t'));
  for (const t of [a, b, row, out]) t.dispose();
}
