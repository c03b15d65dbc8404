#!/usr/bin/env node
// Turns the output folder of `sh kiln-run.sh check OUTDIR` (the GPU host's check, scripts/bundle.mjs)
// into the Markdown record that goes under bench/results/: the host (device, driver, CUDA, NCCL,
// the bundle's commit), each step's exit status and time, the test suite's counts and failures,
// matmul beside cuBLASLt against issue 3's targets, and NCCL at world size 1 (nonblocking, then
// blocking communicators). Reads only what is there: a step that did not run is said to be missing.
//   node scripts/check-report.mjs OUTDIR > bench/results/gpu-check-<device>.md
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realpathSync } from 'node:fs';

/** kiln/cuBLASLt targets (issue 3, deliverable 8) by matmul step. */
export const MATMUL_STEPS = [
  { step: '03-matmul-16bit', impl: 'auto', target: 0.9 },
  { step: '04-matmul-wgmma', impl: 'wgmma', target: 0.9 },
  { step: '11-matmul-wgmma-128', impl: 'wgmma 128x128', target: 0.9 },
  { step: '05-matmul-tf32', impl: 'auto (tf32)', target: 0.85 },
  { step: '06-matmul-tf32-wgmma', impl: 'wgmma (tf32)', target: 0.85 },
  { step: '12-matmul-tf32-128', impl: 'wgmma 128x128 (tf32)', target: 0.85 },
  { step: '15-matmul-nk', impl: 'auto, B = [N, K]^T', target: 0.9 },
  { step: '15-matmul-tf32-nk', impl: 'auto (tf32), B = [N, K]^T', target: 0.85 },
  { step: '07-matmul-f32', impl: 'auto (SIMT float32)', target: 0.7 },
];

/** The shards' vitest reports as one: counts summed, files concatenated; undefined when there are none. */
function mergeShards(shards) {
  const readable = shards.filter(([, r]) => r.unreadable === undefined);
  if (!shards.length) return undefined;
  if (!readable.length) return shards[0][1];
  const sum = (k) => readable.reduce((a, [, r]) => a + (r[k] ?? 0), 0);
  return {
    numTotalTests: sum('numTotalTests'), numPassedTests: sum('numPassedTests'), numFailedTests: sum('numFailedTests'),
    numPendingTests: sum('numPendingTests'), numTodoTests: sum('numTodoTests'),
    testResults: readable.flatMap(([, r]) => r.testResults ?? []),
    shards: readable.map(([i]) => i),
  };
}

const fmt = (x, d = 1) => (x === undefined || x === null || Number.isNaN(x) ? '-' : Number(x).toFixed(d));

/** The Markdown report of one check folder; `read(name)` returns a file's text or undefined. */
export function checkReport(read) {
  const json = (name) => {
    const t = read(name);
    if (t === undefined) return undefined;
    try {
      return JSON.parse(t);
    } catch {
      return { unreadable: t.slice(0, 200) };
    }
  };
  const out = [];
  const info = json('01-info.json');
  const host = read('01-host.log') ?? '';
  const gpu = info?.backends?.cuda?.devices?.[0];
  const driver = /Driver Version:\s*([\d.]+)/.exec(host)?.[1];
  const cudaVer = /CUDA Version:\s*([\d.]+)/.exec(host)?.[1];
  const bundle = /kiln bundle: commit ([^,]+)/.exec(host)?.[1];
  out.push(`# GPU check: ${gpu ? `${gpu.name} (sm_${gpu.details?.sm}, ${gpu.details?.sms} SMs)` : 'no CUDA device reported'}`);
  out.push('');
  out.push('Produced by `sh kiln-run.sh check OUTDIR` (the offline bundle, scripts/bundle.mjs) and `node scripts/check-report.mjs OUTDIR`.');
  out.push('');
  out.push(`- Kiln: bundle of commit ${bundle ?? 'unknown'}, node ${info?.node ?? '?'}, addon CUDA runtime ${info?.native?.cudaRuntime ?? '?'}`);
  out.push(`- Driver ${driver ?? '?'} (CUDA ${cudaVer ?? '?'} per nvidia-smi)`);
  const nccl = info?.nccl;
  out.push(`- NCCL: ${nccl?.version ? `${nccl.version} (${nccl.path}; ${nccl.nonblocking ? 'nonblocking' : 'blocking'} communicators)` : `absent: ${nccl?.reason ?? '?'}`}`);
  if (!gpu && info?.backends?.cuda?.reason) out.push(`- cuda backend: ${info.backends.cuda.reason}`);
  out.push('');

  out.push('## Steps');
  out.push('');
  const summary = read('summary.txt');
  if (!summary) out.push('summary.txt is missing: the check did not run.');
  else {
    out.push('| step | exit | seconds |');
    out.push('| --- | --- | --- |');
    for (const line of summary.trim().split('\n')) {
      const m = /^(\S+) rc=(\d+) (\d+)s:/.exec(line);
      if (m) out.push(`| ${m[1]} | ${m[2] === '0' ? '0' : m[2] === '124' || m[2] === '137' ? `${m[2]} (time limit)` : m[2]} | ${m[3]} |`);
    }
  }
  out.push('');

  /** A vitest JSON report's counts and first failures, or why there is none. */
  const testReport = (tests, step) => {
    if (!tests || tests.unreadable !== undefined) out.push(tests ? 'The JSON report is unreadable (the run was cut short?).' : `No JSON report: step ${step} did not run or did not finish.`);
    else {
      out.push(`${tests.numPassedTests} passed, ${tests.numFailedTests} failed, ${tests.numPendingTests + (tests.numTodoTests ?? 0)} skipped (of ${tests.numTotalTests})${tests.shards ? ` in the reports of shards ${tests.shards.join(', ')} (a shard cut short by the time limit has none)` : ''}.`);
      const failed = (tests.testResults ?? []).flatMap((f) => (f.assertionResults ?? []).filter((a) => a.status === 'failed').map((a) => ({ file: f.name, a })));
      if (failed.length) {
        out.push('');
        out.push('Failures:');
        for (const { file, a } of failed.slice(0, 40)) {
          const why = (a.failureMessages?.[0] ?? '').split('\n')[0].slice(0, 200);
          out.push(`- ${file.split('/').slice(-2).join('/')}: ${a.fullName}${why ? ` -- ${why}` : ''}`);
        }
        if (failed.length > 40) out.push(`- ... and ${failed.length - 40} more`);
      }
    }
    out.push('');
  };

  out.push('## WebGPU edge cases on the GPU (step 13, KILN_REQUIRE=webgpu)');
  out.push('');
  testReport(json('13-webgpu.json'), '13');

  out.push('## Test suite (KILN_REQUIRE=cuda)');
  out.push('');
  // one report, or one per shard (KILN_CHECK_TEST_SHARDS): 02-test-1.json, 02-test-2.json, ...
  const shards = Array.from({ length: 64 }, (_, i) => [i + 1, json(`02-test-${i + 1}.json`)]).filter(([, r]) => r !== undefined);
  testReport(json('02-test.json') ?? mergeShards(shards), '02');

  out.push('## Matmul beside cuBLASLt (same GPU, same run)');
  out.push('');
  out.push('| step | impl | case | dtype | Kiln TFLOP/s | cuBLASLt TFLOP/s | Kiln / cuBLASLt | target | max rel err |');
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const s of MATMUL_STEPS) {
    const r = json(`${s.step}.json`);
    if (!r?.rows?.length) {
      out.push(`| ${s.step} | ${s.impl} | - | - | - | - | - | ${s.target.toFixed(2)}x | ${r ? 'no rows' : 'missing'} |`);
      continue;
    }
    for (const row of r.rows) {
      const verdict = row.ratio === undefined ? 'no peer' : row.ratio >= s.target ? `${s.target.toFixed(2)}x: met` : `${s.target.toFixed(2)}x: missed`;
      out.push(`| ${s.step} | ${s.impl} | ${row.case} | ${row.dtype} | ${fmt(row.gflops / 1000)} | ${fmt(row.peerGflops / 1000)} | ${row.ratio === undefined ? '-' : `${fmt(row.ratio, 2)}x`} | ${verdict} | ${row.maxRelError?.toExponential(1) ?? '-'} |`);
    }
  }
  out.push('');

  const torch = json('10-torch.json');
  if (torch?.rows?.length) {
    out.push(`torch.matmul on the same GPU in the same check (torch ${torch.torch}, bench/peers/torch-matmul.py; random inputs, CUDA events):`);
    out.push('');
    out.push('| case | dtype | precision | torch TFLOP/s |');
    out.push('| --- | --- | --- | --- |');
    for (const r of torch.rows) out.push(`| ${r.case} | ${r.dtype} | ${r.precision} | ${fmt(r.tflops)} |`);
  } else out.push(`torch.matmul: ${torch ? (torch.error ?? 'no rows') : 'step 10 did not run'} (see 10-torch.log).`);
  out.push('');

  out.push('## NCCL at world size 1');
  out.push('');
  const nb = json('08-nccl.json'), bl = json('09-nccl-blocking.json');
  if (!nb) out.push('Step 08 did not run.');
  else if (!nb.rows?.length) out.push(`Step 08 has no rows${nb.unreadable !== undefined ? ' (unreadable JSON)' : ''}: see 08-nccl.log.`);
  else {
    const blocking = new Map((bl?.rows ?? []).map((r) => [`${r.op} ${r.size}`, r]));
    out.push('| op | size (B) | time, nonblocking (us) | time, NCCL_COMM_BLOCKING=1 (us) | busbw GB/s | #wrong |');
    out.push('| --- | --- | --- | --- | --- | --- |');
    for (const r of nb.rows) {
      const b = blocking.get(`${r.op} ${r.size}`);
      out.push(`| ${r.op} | ${r.size} | ${fmt(r.timeUs)} | ${b ? fmt(b.timeUs) : '-'} | ${fmt(r.busbw, 2)} | ${r.wrong + (b?.wrong ?? 0)} |`);
    }
  }
  out.push('');
  return out.join('\n');
}

function main() {
  const dir = process.argv[2];
  if (!dir || !existsSync(dir)) {
    process.stderr.write('usage: node scripts/check-report.mjs OUTDIR   (the folder `sh kiln-run.sh check OUTDIR` wrote)\n');
    process.exit(2);
  }
  process.stdout.write(checkReport((name) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : undefined)));
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) main();
