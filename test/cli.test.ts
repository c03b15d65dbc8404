// The `kiln` command line, run as a user would (node dist/src/cli/main.js ...).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, assertDistFresh, ending } from './helpers/dist.js';

const kilnCli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });

describe('kiln CLI', () => {
  beforeAll(() => assertDistFresh());

  it('info --json parses, lists the cpu device and says why cuda and webgpu are absent', () => {
    const r = kilnCli('info', '--json');
    expect(r.status, ending(r)).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.native.loaded).toBe(true);
    expect(info.backends.cpu.available).toBe(true);
    expect(info.backends.cpu.devices.map((d: { id: string }) => d.id)).toEqual(['cpu']);
    expect(info.backends.cpu.devices[0].details.threads).toBeGreaterThan(0);
    for (const kind of ['cuda', 'webgpu']) {
      const b = info.backends[kind];
      expect(typeof b.available, kind).toBe('boolean');
      if (b.available) expect(b.devices.length, kind).toBeGreaterThan(0);
      else {
        expect(b.devices, kind).toEqual([]);
        expect(typeof b.reason, `${kind} needs a reason`).toBe('string');
        expect(b.reason.length, `${kind} needs a reason`).toBeGreaterThan(10);
      }
    }
  });

  it('info without --json prints a line per backend', () => {
    const r = kilnCli('info');
    expect(r.status, ending(r)).toBe(0);
    expect(r.stdout).toMatch(/^cpu\s+\S/m);
    // a device line ('webgpu:0  <name>') or the backend's absence
    expect(r.stdout).toMatch(/^cuda(:\d+\s+\S|\s+absent: \S+)/m);
    expect(r.stdout).toMatch(/^webgpu(:\d+\s+\S|\s+absent: \S+)/m);
    // a CUDA device's line names its memory, as `info --json` does
    if (/^cuda:\d/m.test(r.stdout)) expect(r.stdout).toMatch(/^cuda:\d+\s.*\(memory=\d+\.\dGiB /m);
  });

  it('bench matmul --json --case 256^3 --budget-ms 100 returns validated rows with GFLOP/s for the cpu', () => {
    const r = kilnCli('bench', 'matmul', '--json', '--case', '256^3', '--budget-ms', '100');
    expect(r.status, ending(r)).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.suite).toBe('matmul');
    const rows = out.rows as { case: string; device: string; dtype: string; gflops: number; ms: number; maxRelError: number }[];
    const cpu = rows.filter((row) => row.device === 'cpu');
    expect(cpu.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row.case).toBe('256^3');
      expect(row.gflops, JSON.stringify(row)).toBeGreaterThan(0);
      expect(Number.isFinite(row.gflops)).toBe(true);
      expect(row.ms).toBeGreaterThan(0);
      expect(row.maxRelError, JSON.stringify(row)).toBeLessThan(1e-4);
    }
  });

  it('bench matmul --b-layout nk reads B as the transposed view of a row-major [N, K], validated like the default', () => {
    const r = kilnCli('bench', 'matmul', '--json', '--device', 'cpu', '--case', '12x(128x64@64x128),128x768x768', '--b-layout', 'nk', '--budget-ms', '50');
    expect(r.status, ending(r)).toBe(0);
    const rows = JSON.parse(r.stdout).rows as { case: string; bLayout?: string; maxRelError: number; gflops: number }[];
    expect(rows.map((row) => row.case)).toEqual(['128x768x768', '12x(128x64@64x128)']); // the suite's order
    for (const row of rows) {
      expect(row.bLayout).toBe('nk');
      expect(row.gflops).toBeGreaterThan(0);
      expect(row.maxRelError, JSON.stringify(row)).toBeLessThan(1e-4);
    }
    const bad = kilnCli('bench', 'matmul', '--b-layout', 'kk', '--json');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/E_ARGUMENT.*--b-layout.*'kk'/);
  });

  it('matmul-once (the program for a kernel profiler) runs one shape and prints a finite result', () => {
    for (const layout of ['kn', 'nk']) {
      const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', 'matmul-once.js'), '--device', 'cpu', '--case', '256^3', '--reps', '2', '--b-layout', layout], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^matmul-once: 256\\^3 float32 b-layout ${layout} on cpu, 2 products, y\\[0\\] = -?\\d`));
    }
    const bad = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', 'matmul-once.js'), '--case', 'nope'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("unknown case 'nope'");
  });

  it('bad usage fails with a message and a non-zero exit code', () => {
    const unknown = kilnCli('frobnicate');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const badCase = kilnCli('bench', 'matmul', '--case', 'nope', '--json');
    expect(badCase.status).toBe(1);
    expect(badCase.stderr).toMatch(/E_ARGUMENT.*nope/);
    for (const args of [['--help'], ['bench', 'matmul', '--help'], ['bench', '-h'], ['info', '--help'], ['launch', '--help']]) {
      const help = kilnCli(...args);
      expect(help.status, args.join(' ')).toBe(0);
      expect(help.stdout, args.join(' ')).toContain('usage: kiln');
    }
  });
});
