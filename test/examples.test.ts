// Every program under examples/ runs to completion against the built library (npm test builds it).
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = join(__dirname, '..', 'examples');

describe('examples', () => {
  it('quickstart prints the documented results', () => {
    const out = execFileSync(process.execPath, [join(dir, 'quickstart.mjs')], { encoding: 'utf8' });
    expect(out).toMatch(/relu\(a @ b \+ arange\(4\)\) =/);
    expect(out).toContain('every other column of a: [ [ 1, 3 ], [ 4, 6 ] ]');
    expect(out).toContain('a^T row sums: [ 5, 7, 9 ]');
    // every tensor the example made was disposed
    expect(out).toMatch(/"cpu":\{"tensors":0,"bytes":0\}/);
  });

  it('onnx builds a model, and both engines agree on it', () => {
    const out = execFileSync(process.execPath, [join(dir, 'onnx.mjs')], { encoding: 'utf8' });
    expect(out).toContain("kiln: probs = [ [ '0.4052', '0.0999', '0.4949' ], [ '0.0835', '0.0835', '0.8330' ] ]");
    expect(out).toContain("ort: probs = [ [ '0.4052', '0.0999', '0.4949' ], [ '0.0835', '0.0835', '0.8330' ] ]");
    for (const engine of ['kiln', 'ort']) expect(out).toContain(`${engine}: top 2 classes = [[2,0],[2,0]]`);
    expect(out).toMatch(/kiln and ort agree to (\d\.\de-([7-9]|[1-9]\d)|0\.0e\+0)\n/);
    expect(out).toMatch(/"cpu":\{"tensors":0,"bytes":0\}/);
  });

  it('serve-http answers concurrent HTTP requests through the batcher as runs alone would, and refuses a malformed one', () => {
    const out = execFileSync(process.execPath, [join(dir, 'serve-http.mjs')], { encoding: 'utf8' });
    expect(out).toContain('64 of 64 requests answered 200');
    expect(out).toContain('answers agree with runs one at a time: yes');
    expect(out).toMatch(/batcher: \{"requests":64,/);
    expect(out).toContain('a malformed request: 400 E_SHAPE');
    expect(out).toMatch(/"cpu":\{"tensors":0,"bytes":0\}/);
  });

  it('every example is exercised here', () => {
    expect(readdirSync(dir).filter((f) => f.endsWith('.mjs')).sort()).toEqual(['onnx.mjs', 'quickstart.mjs', 'serve-http.mjs']);
  });
});
