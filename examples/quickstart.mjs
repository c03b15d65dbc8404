// The README's API tour as a runnable program: `node examples/quickstart.mjs`
// (inside a project that depends on kiln, import from 'kiln' instead).
import * as kiln from '../dist/src/index.js';

// Creation: from data, filled, ranges, and seeded random numbers (the same on every device).
const a = kiln.tensor([[1, 2, 3], [4, 5, 6]]);             // float32 [2, 3]
const b = kiln.randn([3, 4], { seed: 42 });

// Ops enqueue and return at once; `await t.data()` (or toArray/item) is the sync point.
// kiln.scope frees every tensor made inside it except the ones it returns.
const y = kiln.scope(() => a.matmul(b).add(kiln.arange(4)).relu());
console.log('relu(a @ b + arange(4)) =', await y.toArray());

await kiln.scope(async () => {
  // Views share memory: transpose, slice with steps, expand, reshape.
  console.log('every other column of a:', await a.slice(1, 0, undefined, 2).toArray());
  console.log('a^T row sums:', await a.transpose().sum({ axes: 1 }).toArray());
  console.log('a broadcast to [2, 2, 3]:', a.expand([2, 2, 3]).describe());

  // Reductions, softmax and normalization along any axis.
  console.log('softmax rows sum to', await kiln.softmax(a, -1).sum({ axes: -1 }).toArray());
  console.log('layerNorm of row 0:', await a.layerNorm().slice(0, 0, 1).toArray());

  // float16 / bfloat16 storage with float32 accumulation.
  const h = a.cast('bfloat16').matmul(b.cast('bfloat16'));
  console.log('bf16 matmul', h.describe(), Array.from(await h.data()).map((v) => v.toFixed(2)).join(' '));
});

// Explicit lifetimes: dispose() (or `using` in TypeScript); the safety net counts what leaks.
for (const x of [a, b, y]) x.dispose();
console.log('memory:', JSON.stringify(kiln.memory()));
