// Data-parallel training of a linear model with Kiln ops: every rank computes the gradient of the
// mean squared error on its shard of one seeded dataset, allReduce averages the gradients, and every
// rank takes the same step, so the weights stay identical everywhere.
//   node dist/src/cli/main.js launch --nproc-per-node 4 examples/data-parallel/train.mjs [steps]
// (inside a project that depends on kiln: npx kiln launch ..., and import from 'kiln')
import * as kiln from '../../dist/src/index.js';

const steps = Number(process.argv[2] ?? 40);
const pg = await kiln.distributed.init(); // backend, rank and world size come from kiln launch
const [N, D, lr] = [4096, 16, 0.1];

// The same dataset on every rank (seeded), y = X w* + noise; rank r trains on rows r, r+W, r+2W, ...
const X = kiln.randn([N, D], { seed: 1 });
const wTrue = kiln.randn([D, 1], { seed: 2 });
const y = kiln.scope(() => X.matmul(wTrue).add(kiln.randn([N, 1], { seed: 3, std: 0.01 })));
const Xs = X.slice(0, pg.rank, N, pg.worldSize).contiguous();
const ys = y.slice(0, pg.rank, N, pg.worldSize).contiguous();
let w = kiln.zeros([D, 1]);

for (let step = 0; step <= steps; ++step) {
  const { grad, loss } = kiln.scope(() => {
    const err = Xs.matmul(w).sub(ys); // [n, 1]
    return { grad: Xs.transpose().matmul(err).mul(2 / Xs.shape[0]), loss: err.mul(err).mean() };
  });
  await pg.allReduce(grad, { op: 'avg' }); // the average of every shard's gradient = the full-batch gradient
  await pg.allReduce(loss, { op: 'avg' });
  if (step % 10 === 0 && pg.rank === 0) console.log(`step ${step} loss ${(await loss.item()).toExponential(3)}`);
  const next = kiln.scope(() => w.sub(grad.mul(lr)));
  for (const t of [w, grad, loss]) t.dispose();
  w = next;
}

// every rank prints a fingerprint of its weights: identical bits on every rank
const bits = Buffer.from((await w.data()).buffer).toString('base64');
console.log(`weights ${bits}`);
const gap = kiln.scope(() => w.sub(wTrue).abs().max());
console.log(`max |w - w*| ${(await gap.item()).toExponential(2)}`);
await pg.destroy();
