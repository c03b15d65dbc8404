// scripts/check-report.mjs: the GPU check's output folder (sh kiln-run.sh check OUTDIR) turned into
// the Markdown record for bench/results. The folder here is written by hand in the formats the
// check's steps produce (nvidia-smi's header, kiln info --json, vitest's JSON report, kiln bench
// --json), with one target met, one missed, a failing test and a step cut off by its time limit.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/dist.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-check-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const put = (name: string, content: unknown) => writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
const report = () => spawnSync(process.execPath, [join(ROOT, 'scripts', 'check-report.mjs'), dir], { encoding: 'utf8' });

describe('check-report: the GPU check folder as a bench/results record', () => {
  it('names the host, every step, the tests, matmul against its targets and NCCL both ways', () => {
    put('summary.txt', '01-host rc=0 2s: sh -c ...\n02-test rc=1 212s: sh -c ...\n03-matmul-16bit rc=0 95s: sh -c ...\n04-matmul-wgmma rc=124 240s: sh -c ...\n08-nccl rc=0 31s: sh -c ...\n');
    put('01-host.log', 'kiln bundle: commit abc1234, node v20.20.2, 81 packages (...)\n| NVIDIA-SMI 580.65.06    Driver Version: 580.65.06      CUDA Version: 13.0     |\n');
    put('01-info.json', {
      node: 'v20.20.2',
      native: { cudaRuntime: '13.0' },
      backends: { cuda: { available: true, devices: [{ id: 'cuda:0', name: 'NVIDIA H200', details: { sm: '90', sms: 132 } }] } },
      nccl: { version: '2.27.3', path: '/site/nvidia/nccl/lib/libnccl.so.2', nonblocking: true },
    });
    put('02-test.json', {
      numTotalTests: 5, numPassedTests: 3, numFailedTests: 1, numPendingTests: 1,
      testResults: [{ name: '/b/kiln/test/cuda.test.ts', assertionResults: [
        { status: 'passed', fullName: 'cuda ok' },
        { status: 'failed', fullName: 'cuda matmul bfloat16 sweep', failureMessages: ['AssertionError: 3 mismatches\n    at x'] },
      ] }],
    });
    put('03-matmul-16bit.json', { rows: [
      { case: '4096^3', device: 'cuda', dtype: 'bfloat16', gflops: 610000, ms: 0.2, maxRelError: 0.002, peer: 'cuBLASLt', peerGflops: 650000, ratio: 610 / 650 },
      { case: '8192^3', device: 'cuda', dtype: 'float16', gflops: 520000, ms: 2.1, maxRelError: 0.003, peer: 'cuBLASLt', peerGflops: 700000, ratio: 520 / 700 },
    ] });
    put('04-matmul-wgmma.json', '');
    put('13-webgpu.json', {
      numTotalTests: 2, numPassedTests: 1, numFailedTests: 1, numPendingTests: 0,
      testResults: [{ name: '/b/kiln/test/ops-creation.test.ts', assertionResults: [
        { status: 'failed', fullName: 'webgpu:0 arange like NumPy', failureMessages: ['Error: 1 of 15 cases failed\n    at y'] },
      ] }],
    });
    put('08-nccl.json', { rows: [{ op: 'allReduce', size: 8, timeUs: 38.2, busbw: 0, wrong: 0 }, { op: 'allReduce', size: 1048576, timeUs: 61.5, busbw: 17.05, wrong: 0 }] });
    put('09-nccl-blocking.json', { rows: [{ op: 'allReduce', size: 8, timeUs: 9.7, busbw: 0, wrong: 0 }] });
    put('10-torch.json', { torch: '2.11.0+cu130', device: 'NVIDIA H200', rows: [{ case: '4096^3', dtype: 'bfloat16', precision: 'highest', ms: 0.2, tflops: 687.21 }] });

    const r = report();
    expect(r.status, r.stderr).toBe(0);
    const md = r.stdout;
    expect(md).toMatch(/^# GPU check: NVIDIA H200 \(sm_90, 132 SMs\)$/m);
    for (const line of [
      '- Kiln: bundle of commit abc1234, node v20.20.2, addon CUDA runtime 13.0',
      '- Driver 580.65.06 (CUDA 13.0 per nvidia-smi)',
      '- NCCL: 2.27.3 (/site/nvidia/nccl/lib/libnccl.so.2; nonblocking communicators)',
      '| 04-matmul-wgmma | 124 (time limit) | 240 |',
      '3 passed, 1 failed, 1 skipped (of 5).',
      '## WebGPU edge cases on the GPU (step 13, KILN_REQUIRE=webgpu)',
      '1 passed, 1 failed, 0 skipped (of 2).',
      '- test/ops-creation.test.ts: webgpu:0 arange like NumPy -- Error: 1 of 15 cases failed',
      '- test/cuda.test.ts: cuda matmul bfloat16 sweep -- AssertionError: 3 mismatches',
      '| 03-matmul-16bit | auto | 4096^3 | bfloat16 | 610.0 | 650.0 | 0.94x | 0.90x: met | 2.0e-3 |',
      '| 03-matmul-16bit | auto | 8192^3 | float16 | 520.0 | 700.0 | 0.74x | 0.90x: missed | 3.0e-3 |',
      '| 04-matmul-wgmma | wgmma | - | - | - | - | - | 0.90x | no rows |',
      '| 07-matmul-f32 | auto (SIMT float32) | - | - | - | - | - | 0.70x | missing |',
      '| allReduce | 8 | 38.2 | 9.7 | 0.00 | 0 |',
      '| allReduce | 1048576 | 61.5 | - | 17.05 | 0 |',
      'torch.matmul on the same GPU in the same check (torch 2.11.0+cu130,',
      '| 4096^3 | bfloat16 | highest | 687.2 |',
    ])
      expect(md).toContain(line);
  });

  it('merges the reports of test shards, and says which shards reported', () => {
    const sharded = mkdtempSync(join(tmpdir(), 'kiln-check-shards-'));
    try {
      const shard = (i: number, passed: number, failed: { file: string; name: string }[]) =>
        writeFileSync(join(sharded, `02-test-${i}.json`), JSON.stringify({
          numTotalTests: passed + failed.length, numPassedTests: passed, numFailedTests: failed.length, numPendingTests: 1,
          testResults: failed.map((f) => ({ name: `/b/kiln/test/${f.file}`, assertionResults: [{ status: 'failed', fullName: f.name, failureMessages: ['Error: boom'] }] })),
        }));
      shard(1, 10, []);
      shard(3, 5, [{ file: 'webgpu.test.ts', name: 'webgpu arange' }]); // shard 2 was cut short: no report
      const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'check-report.mjs'), sharded], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('15 passed, 1 failed, 2 skipped (of 16) in the reports of shards 1, 3 (a shard cut short by the time limit has none).');
      expect(r.stdout).toContain('- test/webgpu.test.ts: webgpu arange -- Error: boom');
    } finally {
      rmSync(sharded, { recursive: true, force: true });
    }
  });

  it('says what is missing when the check did not run, and refuses a folder that does not exist', () => {
    const empty = mkdtempSync(join(tmpdir(), 'kiln-check-empty-'));
    try {
      const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'check-report.mjs'), empty], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('summary.txt is missing: the check did not run.');
      expect(r.stdout).toContain('No JSON report: step 02 did not run or did not finish.');
      expect(r.stdout).toContain('Step 08 did not run.');
      expect(r.stdout).toContain('torch.matmul: step 10 did not run (see 10-torch.log).');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'check-report.mjs'), join(dir, 'nope')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^usage: node scripts\/check-report\.mjs OUTDIR/);
  });
});
