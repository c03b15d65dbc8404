// Small-M products with a weight operand, as inference runs them: Y[M, N] = X[M, K] @ W[K, N] with
// M a batch or a sequence (32 .. 128), W warm (the same W every call, in cache) or cold (twelve Ws
// taken in turn, 28-113 MB: each call reads its W from beyond the core's own caches, L3 or memory).
// Two layouts of W: row-major [K, N], read in place by the small-M path, and sliver-major
// [N/32, K, 32], the layout the ONNX engine stores constant weights in (src/onnx/fuse.ts).
// What it shows: how much of the kernel's speed survives a weight that is not in cache.
//   npm run build:ts && node dist/bench/weights.js [--shapes 128x768x768,32x1024x1024]
import * as kiln from '../src/index.js';
import { measure } from './timing.js';

const arg = process.argv.indexOf('--shapes');
const shapes = (arg > 0 ? process.argv[arg + 1] : '32x1024x1024,128x768x768,128x768x3072,128x3072x768').split(',').map((s) => {
  const d = s.split('x').map(Number);
  if (d.length !== 3 || !d.every((v) => Number.isInteger(v) && v > 0) || d[2] % 32) throw new kiln.KilnError('E_ARGUMENT', `--shapes: expected MxKxN with N a multiple of 32, got '${s}'`);
  return d as [number, number, number];
});
const COLD = 12;

console.log('float32 matmul with a weight operand on the cpu: median ms per call (GFLOP/s)');
console.log(['M x K x N', 'row-major warm', 'row-major cold', 'sliver-major warm', 'sliver-major cold'].join('\t'));
for (const [M, K, N] of shapes) {
  const x = kiln.rand([M, K]);
  const rowMajor = Array.from({ length: COLD }, () => kiln.rand([K, N]));
  const slivers = rowMajor.map((w) => w.reshape([K, N / 32, 32]).permute([1, 0, 2]).contiguous());
  const cells: string[] = [];
  for (const ws of [rowMajor, slivers]) {
    for (const cold of [false, true]) {
      let i = 0;
      const t = await measure(async (reps) => {
        await kiln.sync();
        const t0 = performance.now();
        const ys = [];
        for (let r = 0; r < reps; ++r) ys.push(kiln.matmul(x, ws[cold ? i++ % COLD : 0])); // sliver-major: Y as [N/32, M, 32]
        await kiln.sync();
        const ms = performance.now() - t0;
        for (const y of ys) y.dispose();
        return ms;
      }, { warmup: COLD, targetMs: 20, budgetMs: 1500, minSamples: 15, maxSamples: 60 });
      cells.push(`${t.median.toFixed(3)} (${((2 * M * K * N) / t.median / 1e6).toFixed(0)})`);
    }
  }
  console.log([`${M}x${K}x${N}`, ...cells].join('\t'));
  for (const t of [x, ...rowMajor, ...slivers]) t.dispose();
}
