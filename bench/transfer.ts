// What Tensor.to() costs between the CPU and each other device, beside its peers in the same run:
// an upload from a JS array (kiln.tensor on the device) and a read-back into one (data()), which
// move the same bytes without the other device's queue in the way. Validated first: the round trip
// gives back the bytes it took. Wall time from the call to the destination's sync point.
//   npm run build:ts && node dist/bench/transfer.js [--sizes 1,16,64] (MiB of float32)
import * as kiln from '../src/index.js';
import { measure } from './timing.js';

await kiln.init();
const sizeArg = process.argv.indexOf('--sizes');
const sizes = (sizeArg > 0 ? process.argv[sizeArg + 1] : '1,16,64').split(',').map(Number);
const devices = kiln.devices().map((d) => d.id).filter((d) => d !== 'cpu');
if (!devices.length) console.log('no device besides the cpu: nothing to measure');

const ms = async (f: () => Promise<void>): Promise<number> =>
  (await measure(async (reps) => {
    const t0 = performance.now();
    for (let i = 0; i < reps; ++i) await f();
    return performance.now() - t0;
  }, { warmup: 1, targetMs: 50, budgetMs: 2000, minSamples: 5, maxSamples: 15 })).median;

console.log(['device', 'MiB', 'cpu->dev ms', 'GiB/s', 'upload peer ms', 'dev->cpu ms', 'GiB/s', 'read-back peer ms'].join('\t'));
for (const device of devices)
  for (const mib of sizes) {
    const n = (mib << 20) / 4;
    const host = new Float32Array(n).map((_, i) => (i % 1021) * 0.5);
    const onCpu = kiln.tensor(host);
    const onDev = kiln.tensor(host, { device });
    // validate: there and back again, every element
    const back = await onCpu.to(device).to('cpu').data();
    if (back.some((v, i) => v !== host[i])) throw new Error(`${device}: the round trip changed the values`);
    const gibps = (t: number) => (mib / 1024 / (t / 1000)).toFixed(2);
    const up = await ms(async () => {
      const t = onCpu.to(device);
      await kiln.sync();
      t.dispose();
    });
    const upPeer = await ms(async () => {
      const t = kiln.tensor(host, { device });
      await kiln.sync();
      t.dispose();
    });
    const down = await ms(async () => {
      const t = onDev.to('cpu');
      await t.data();
      t.dispose();
    });
    const downPeer = await ms(async () => {
      await onDev.data();
    });
    console.log([device, mib, up.toFixed(1), gibps(up), upPeer.toFixed(1), down.toFixed(1), gibps(down), downPeer.toFixed(1)].join('\t'));
    onCpu.dispose();
    onDev.dispose();
  }
