// ONNX conformance: every op the Kiln engine claims runs the ONNX backend node tests that
// onnxruntime-node passes (ORT_PASS.txt), on every available device, with the ONNX default
// tolerances. A test may only fail when test/onnx-conformance-exceptions.txt lists it with a reason;
// a listed test that passes is reported too, so the list cannot go stale.
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { forEachBackend } from './helpers/backends.js';
import { SUITE_DIR, casesFor, exceptions, runCase, suitePresent } from './helpers/onnx-conformance.js';

if (!suitePresent()) {
  console.warn(`onnx conformance: skipped: the ONNX node tests are not at ${SUITE_DIR} (set KILN_ONNX_TESTS to their folder)`);
  describe.skip(`onnx conformance skipped: no suite at ${SUITE_DIR}`, () => it('runs the ONNX node tests', () => {}));
} else {
  const cases = casesFor(kiln.onnx.claimedOps());
  const allowed = exceptions();
  forEachBackend('onnx conformance', (device) => {
    it(`runs ${cases.length} node tests for ${kiln.onnx.claimedOps().length} ops`, async () => {
      const failures: string[] = [];
      const stale: string[] = [];
      let passed = 0;
      const stats = { replayed: 0 };
      const start = Date.now();
      for (const c of cases) {
        let error: string | undefined;
        try {
          error = await runCase(c.test, device, stats);
        } catch (e) {
          error = e instanceof Error ? e.message : String(e);
        }
        if (!error) {
          passed++;
          if (allowed.has(c.test)) stale.push(c.test);
        } else if (!allowed.has(c.test)) failures.push(`${c.test} (${c.op}, opset ${c.opset}): ${error}`);
      }
      console.log(`onnx conformance [${device}]: ${passed}/${cases.length} passed, ${cases.length - passed} listed as exceptions, in ${((Date.now() - start) / 1000).toFixed(1)} s` +
        (device === 'cpu' ? `; ${stats.replayed} of the passing tests also passed as replays` : ''));
      if (failures.length) console.log(`onnx conformance [${device}] failures:\n  ${failures.join('\n  ')}`);
      expect(failures, 'failing tests not in onnx-conformance-exceptions.txt').toEqual([]);
      expect(stale, 'tests listed as exceptions that now pass: remove them from the list').toEqual([]);
      // most node tests are a single op on fixed inputs: replayable (the rest read values back to the host)
      if (device === 'cpu') expect(stats.replayed).toBeGreaterThan(passed / 2);
    }, 600_000);
  });
}
