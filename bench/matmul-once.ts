// One matmul shape run a few times and synchronized, nothing else: the program to put under a kernel
// profiler, which then times each kernel a Kiln matmul launches (the tf32 path's copy of a row-major
// B to [N, K], then the product):
//   ncu --clock-control none --metrics gpu__time_duration.sum --kernel-name regex:'gemm|pack' \
//     node dist/bench/matmul-once.js --device cuda --dtype float32 --precision high --case 4096^3 [--b-layout nk]
// (the check's step 16 runs this for tf32 and bfloat16 where the host has ncu). The inputs are made
// before the first product, so only the rand/cast kernels come before it.
import * as kiln from '../src/index.js';
import { parseArgs } from '../src/cli/args.js';
import { checkDType, type DType } from '../src/dtype.js';
import { fail } from '../src/errors.js';
import { LARGE_CASES, QUICK_CASES } from './matmul.js';

async function matmulOnce(argv: string[]): Promise<void> {
  const { flags } = parseArgs(argv, [], ['device', 'dtype', 'case', 'precision', 'impl', 'b-layout', 'reps']);
  const device = String(flags.device ?? 'cuda');
  const dtype = checkDType(String(flags.dtype ?? 'float32'), '--dtype') as DType;
  const name = String(flags.case ?? '4096^3');
  const c = [...QUICK_CASES, ...LARGE_CASES].find((x) => x.name === name);
  if (!c) fail('E_ARGUMENT', `--case: unknown case '${name}'`);
  const nk = flags['b-layout'] === 'nk';
  const reps = Number(flags.reps ?? 3);
  await kiln.init(); // WebGPU finds its adapters asynchronously
  const lead = c.batch > 1 ? [c.batch] : [];
  const a = kiln.rand([...lead, c.m, c.k], { seed: 1, low: -1, high: 1, device }).cast(dtype);
  const b0 = kiln.rand(nk ? [...lead, c.n, c.k] : [...lead, c.k, c.n], { seed: 2, low: -1, high: 1, device }).cast(dtype);
  const b = nk ? b0.transpose() : b0;
  const options: kiln.MatmulOptions = {
    ...(flags.precision ? { precision: String(flags.precision) as 'high' | 'highest' } : {}),
    ...(flags.impl ? { impl: String(flags.impl) as kiln.MatmulOptions['impl'] } : {}),
  };
  let last: kiln.Tensor | undefined;
  for (let r = 0; r < reps; ++r) {
    last?.dispose();
    last = kiln.matmul(a, b, options);
  }
  const y = (await last!.data()) as Float32Array;
  process.stdout.write(`matmul-once: ${name} ${dtype} b-layout ${nk ? 'nk' : 'kn'} on ${device}, ${reps} products, y[0] = ${y[0]}\n`);
}

matmulOnce(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
});
