// DeviceTimer for WebGPU: timestamp queries written by an empty compute pass at start() and at
// stop(), so the span covers exactly the passes encoded in between. Without the timestamp-query
// feature it falls back to wall time from an idle queue to the end of the work (an upper bound).
import { fail } from '../../errors.js';
import type { DeviceTimer } from '../backend.js';
import { MapMode, Usage } from './dawn.js';
import type { GpuDevice } from './device.js';

export function deviceTimer(dev: GpuDevice): DeviceTimer {
  if (!dev.features.has('timestamp-query')) return wallTimer(dev);
  const querySet = dev.device.createQuerySet({ type: 'timestamp', count: 2 });
  let started = false;
  const mark = (index: 0 | 1) => {
    const pass = dev.encoder().beginComputePass({
      timestampWrites: index === 0 ? { querySet, beginningOfPassWriteIndex: 0 } : { querySet, endOfPassWriteIndex: 1 },
    });
    pass.end();
  };
  return {
    start() {
      dev.assertAlive('timer.start');
      mark(0);
      started = true;
    },
    async stop() {
      if (!started) fail('E_ARGUMENT', 'timer.stop() before timer.start()');
      started = false;
      mark(1);
      const resolved = dev.device.createBuffer({ size: 16, usage: Usage.QUERY_RESOLVE | Usage.COPY_SRC });
      const out = dev.device.createBuffer({ size: 16, usage: Usage.MAP_READ | Usage.COPY_DST });
      dev.encoder().resolveQuerySet(querySet, 0, 2, resolved, 0);
      dev.encoder().copyBufferToBuffer(resolved, 0, out, 0, 16);
      dev.retire(resolved);
      try {
        await dev.settle('timer.stop');
        await out.mapAsync(MapMode.READ);
        const [t0, t1] = new BigUint64Array(out.getMappedRange().slice(0));
        out.unmap();
        return Number(t1 - t0) / 1e6;
      } finally {
        out.destroy();
      }
    },
  };
}

function wallTimer(dev: GpuDevice): DeviceTimer {
  let t0: Promise<number> | undefined;
  return {
    start() {
      t0 = dev.settle('timer.start').then(() => performance.now());
    },
    async stop() {
      if (!t0) fail('E_ARGUMENT', 'timer.stop() before timer.start()');
      const begin = await t0;
      await dev.settle('timer.stop');
      t0 = undefined;
      return performance.now() - begin;
    },
  };
}
