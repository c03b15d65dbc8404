// Row-wise kernels on WebGPU (softmax, logSoftmax, layerNorm, rmsNorm, sum, max, argmax over the last
// axis): few long rows (one LLM decoding step's logits or hidden state) and many short ones. Wall
// time of one call followed by a sync, median of 7 after 2 warm-up calls, beside the CPU backend.
// `--path invocation|workgroup` (and `--size 64|256`) forces the WebGPU kernels' row path
// (src/backends/webgpu/row-path.ts), to compare both on one build; by default its rule picks.
//   npm run build:ts && node dist/bench/webgpu-rows.js [--device webgpu:0] [--no-cpu] [--path P] [--size S]
import { rowKernels } from '../src/backends/webgpu/row-path.js';
import * as kiln from '../src/index.js';
import { median } from './timing.js';

await kiln.init();
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const device = arg('--device') ?? 'webgpu:0';
const devices = process.argv.includes('--no-cpu') ? [device] : [device, 'cpu'];
const path = arg('--path');
if (path === 'invocation' || path === 'workgroup') rowKernels.path = path;
else if (path !== undefined) throw new Error(`--path must be 'invocation' or 'workgroup', got '${path}'`);
const size = arg('--size');
if (size !== undefined) rowKernels.size = size === '64' ? 64 : size === '256' ? 256 : (() => { throw new Error(`--size must be 64 or 256, got '${size}'`); })();

const SHAPES = [[1, 50257], [8, 50257], [128, 768], [4096, 512]];
const OPS: [string, (x: kiln.Tensor) => kiln.Tensor][] = [
  ['softmax', (x) => kiln.softmax(x, -1)],
  ['logSoftmax', (x) => kiln.logSoftmax(x, -1)],
  ['layerNorm', (x) => kiln.layerNorm(x)],
  ['rmsNorm', (x) => kiln.rmsNorm(x)],
  ['sum', (x) => x.sum({ axes: -1 })],
  ['max', (x) => x.max({ axes: -1 })],
  ['argmax', (x) => x.argmax({ axis: -1 })],
];

async function time(f: () => kiln.Tensor): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < 9; ++i) {
    await kiln.sync();
    const t0 = performance.now();
    const y = f();
    await kiln.sync();
    const t = performance.now() - t0;
    y.dispose();
    if (i >= 2) ms.push(t);
  }
  return median(ms);
}

console.log(`| op | shape | ${devices.map((d) => `${d} ms`).join(' | ')} |`);
console.log(`| --- | --- | ${devices.map(() => '---').join(' | ')} |`);
for (const [name, op] of OPS)
  for (const shape of SHAPES) {
    const cells: string[] = [];
    for (const d of devices) {
      const x = kiln.randn(shape, { seed: 7, device: d });
      cells.push((await time(() => op(x))).toFixed(2));
      x.dispose();
    }
    console.log(`| ${name} | [${shape}] | ${cells.join(' | ')} |`);
  }
