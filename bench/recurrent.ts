// A session of an RNN, GRU or LSTM model with a symbolic sequence length, fed sequences of
// changing length: the first run of each new length runs node by node and records a replay (the
// cost a service pays for every length it has not seen), later runs of that length replay it.
// Batch 1, 64 features, hidden 128, weights and bias as initializers. Milliseconds per run, the
// outputs read back: the first run, and the median of 7 replays.
//   npm run build:ts && node dist/bench/recurrent.js [--device webgpu] [--steps 500,1000,2000]
import * as kiln from '../src/index.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { values } from './onnx-models.js';

await kiln.init();
const arg = (name: string) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
};
const device = arg('--device') ?? 'cpu';
const lengths = (arg('--steps') ?? '500,1000,2000').split(',').map(Number);
const [I, H] = [64, 128];

type Kind = 'RNN' | 'GRU' | 'LSTM';

/** `lbr`: GRU's linear_before_reset (1 as PyTorch and Keras export a GRU). */
function model(kind: Kind, lbr = 0): Uint8Array {
  const G = { RNN: 1, GRU: 3, LSTM: 4 }[kind];
  const g = new GraphBuilder(kind);
  const x = g.input('x', 'float32', ['S', 1, I]);
  const w = g.floats([1, G * H, I], values(G * H * I, 3, 0.1));
  const r = g.floats([1, G * H, H], values(G * H * H, 4, 0.1));
  const b = g.floats([1, 2 * G * H], values(2 * G * H, 5, 0.1));
  g.nodeOutputs(kind, [x, w, r, b], { hidden_size: H, ...(lbr ? { linear_before_reset: 1 } : {}) }, { outputs: ['y', 'y_h', ...(kind === 'LSTM' ? ['y_c'] : [])] });
  g.output('y', 'float32', ['S', 1, 1, H]);
  return g.toBytes();
}

console.log(['model', 'steps', 'first run ms', 'replay ms (median)'].join('\t'));
const MODELS: [string, Kind, number][] = [['RNN', 'RNN', 0], ['GRU', 'GRU', 0], ['GRU lbr=1', 'GRU', 1], ['LSTM', 'LSTM', 0]];
for (const [name, kind, lbr] of MODELS) {
  const session = await kiln.onnx.load(model(kind, lbr), { engine: 'kiln', device });
  for (const steps of lengths) {
    const x = kiln.tensor(values(steps * I, steps), { shape: [steps, 1, I], device });
    const times: number[] = [];
    for (let i = 0; i < 8; ++i) {
      const t0 = performance.now();
      const out = await session.run({ x });
      await Promise.all(Object.values(out).map((t) => t.data()));
      times.push(performance.now() - t0);
      for (const t of Object.values(out)) t.dispose();
    }
    x.dispose();
    const replays = times.slice(1).sort((a, b) => a - b);
    console.log([name, steps, times[0].toFixed(1), replays[replays.length >> 1].toFixed(1)].join('\t'));
  }
  await session.dispose();
}
