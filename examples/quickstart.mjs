// The README's API tour as a runnable program: `node examples/quickstart.mjs`
// (inside a project that depends on kiln, import from 'kiln' instead).
import * as kiln from '../dist/src/index.js';

// Creation: from data, filled, ranges, and seeded random numbers (the same on every device).
const a = kiln.tensor([[1, 2, 3], [4, 5, 6]]);            // float32 [2, 3]
const b = kiln.randn([3, 4], { seed: 42 });
const bias = kiln.arange(4).cast('float32');              // int32 0..3 -> float32

// Ops enqueue and return at once; `await t.data()` (or toArray/item) is the sync point.
const y = kiln.scope(() => a.matmul(b).add(bias).relu());  // intermediates are freed with the scope
console.log('relu(a @ b + bias) =', await y.toArray());

// Views share memory: transpose, slice with steps, expand, reshape.
const t = a.transpose();                                   // [3, 2], no copy
console.log('every other column of a:', await a.slice(1, 0, undefined, 2).toArray());
console.log('a^T row sums:', await t.sum({ axes: 1 }).toArray());

// Reductions, softmax and normalization along any axis.
const p = kiln.softmax(a, -1);
console.log('softmax rows sum to', await p.sum({ axes: -1 }).toArray());

// float16 / bfloat16 storage with float32 accumulation.
const h = a.cast('bfloat16').matmul(b.cast('bfloat16'));
console.log('bf16 matmul', h.describe(), (await h.data()).slice(0, 4));

// Explicit lifetimes: dispose(), `using`, or kiln.scope(); the safety net counts what leaks.
for (const x of [a, b, bias, y, t, p, h]) x.dispose();
console.log('memory:', JSON.stringify(kiln.memory()));
