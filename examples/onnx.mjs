// ONNX with Kiln: build a small model with the graph builder, save it, and run it with both engines.
//   node examples/onnx.mjs
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as kiln from '../dist/src/index.js';

// probs = Softmax(Relu(x @ W + b)) for x [batch, 4]
const g = new kiln.onnx.GraphBuilder('tiny');
const x = g.input('x', 'float32', ['batch', 4]);
const w = g.floats([4, 3], [1, 0, -1, 0.5, 1, 0, 0, -0.5, 1, 1, 1, 1]);
const b = g.floats([3], [0.1, 0.2, 0.3]);
const h = g.node('Relu', [g.node('Add', [g.node('MatMul', [x, w]), b])]);
g.node('Softmax', [h], { axis: -1 }, { outputs: ['probs'] });
g.output('probs', 'float32', ['batch', 3]);
const path = join(mkdtempSync(join(tmpdir(), 'kiln-example-')), 'tiny.onnx');
g.save(path);

const input = kiln.tensor([[1, 2, 3, 4], [-1, 0, 1, 0]]);
const results = {};
for (const engine of ['kiln', 'ort']) {
  const session = await kiln.onnx.load(path, { engine });
  console.log(`${engine}: inputs ${JSON.stringify(session.inputs)}`);
  const { probs } = await session.run({ x: input });
  results[engine] = await probs.toArray();
  console.log(`${engine}: probs =`, results[engine].map((row) => row.map((v) => v.toFixed(4))));
  // the two likeliest classes per row (equal probabilities keep their class order)
  const top = kiln.topk(probs, 2);
  console.log(`${engine}: top 2 classes =`, JSON.stringify(await top.indices.toArray()));
  top.values.dispose();
  top.indices.dispose();
  probs.dispose();
  await session.dispose();
}
const diff = Math.max(...results.kiln.flat().map((v, i) => Math.abs(v - results.ort.flat()[i])));
console.log(`kiln and ort agree to ${diff.toExponential(1)}`);
input.dispose();
console.log('memory', JSON.stringify(kiln.memory().devices));
