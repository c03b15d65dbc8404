// `kiln bench inference` as a user runs it, on a model file given by path: every engine's row is
// validated against onnxruntime and carries latency, throughput and the ratio to the peer.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mlp } from '../bench/onnx-models.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { CLI, ROOT, assertDistFresh, ending } from './helpers/dist.js';

/** The Kiln engine's rows: one per device the host reported in the same run. */
const kilnRows = (out: { host: { devices: Record<string, { devices: { id: string }[] }> } }) =>
  Object.values(out.host.devices).flatMap((b) => b.devices.map((d) => `kiln@${d.id}`));

describe('kiln bench inference', () => {
  beforeAll(() => assertDistFresh());

  it('benchmarks a model path with every engine beside onnxruntime-node (--json)', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kiln-bench-')), 'small-mlp.onnx');
    writeFileSync(path, mlp(4, [16, 32, 8]).bytes);
    const r = spawnSync(process.execPath, [CLI, 'bench', 'inference', path, '--json', '--budget-ms', '50'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, ending(r)).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.suite).toBe('inference');
    const rows = out.rows as { model: string; engine: string; device: string; p50: number; p99: number; throughput: number; ratio?: number; maxRelError?: number }[];
    expect(rows.map((x) => `${x.engine}@${x.device}`)).toEqual(['onnxruntime-node@cpu', ...kilnRows(out), 'ort@cpu', 'ort-thread@cpu']);
    for (const row of rows) {
      expect(row.model).toBe('small-mlp.onnx');
      expect(row.p50).toBeGreaterThan(0);
      expect(row.p99).toBeGreaterThanOrEqual(row.p50);
      expect(row.throughput).toBeGreaterThan(0);
      if (row.engine !== 'onnxruntime-node') {
        expect(row.ratio).toBeGreaterThan(0);
        expect(row.maxRelError).toBeLessThan(1e-4);
      }
    }
  });

  it('feeds every input of a model path: random floats, zero indices', () => {
    const g = new GraphBuilder('lookup');
    g.node('Mul', [g.node('Gather', [g.input('table', 'float32', [6, 5]), g.input('ids', 'int64', ['n'])]), g.floats([], [2])], {}, { outputs: ['y'] });
    g.output('y', 'float32', ['n', 5]);
    const path = join(mkdtempSync(join(tmpdir(), 'kiln-bench-')), 'lookup.onnx');
    g.save(path);
    const r = spawnSync(process.execPath, [CLI, 'bench', 'inference', path, '--json', '--budget-ms', '20'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, ending(r)).toBe(0);
    const out = JSON.parse(r.stdout);
    const rows = out.rows as { engine: string; device: string; maxRelError?: number }[];
    expect(rows.map((x) => `${x.engine}@${x.device}`)).toEqual(['onnxruntime-node@cpu', ...kilnRows(out), 'ort@cpu', 'ort-thread@cpu']);
    for (const row of rows.slice(1)) expect(row.maxRelError).toBe(0);
  });

  it('refuses an unknown model with a KilnError code', () => {
    const r = spawnSync(process.execPath, [CLI, 'bench', 'inference', '/no/such.onnx'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/E_ARGUMENT/);
  });
});
