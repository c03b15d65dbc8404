// What a WebGPU device does with float32 edge cases that WGSL leaves to the implementation, read once
// per device at init by one tiny dispatch, and shown in the device's details (`kiln info`):
//   subnormals      'preserved' or 'flushed': 2^-140 * 1 is kept, or becomes 0 (WGSL allows a flush
//                   to zero; lavapipe keeps them, GPUs often flush)
//   fmaContraction  whether a * b + c may be fused into one rounding (SPIR-V allows it unless marked
//                   NoContraction): a * b + c with c = -fl(a * b) is 0 unfused, the product's
//                   rounding error fused
//   roundedProducts whether a product passed through an OR with a zero the compiler cannot know
//                   (common.wgsl's opaque(), which the bit-exact kernels use: two_prod, GridSample)
//                   keeps its own rounding beside the same add: 0 again, even where the device fuses
// Kiln's WGSL is written to give the CPU's results either way where it can (error-free products
// split by bits, not by Veltkamp; products that must round on their own through opaque()); these
// say which of its edge-case tests can hold on a device.
import { MapMode, Usage } from './dawn.js';

export interface FloatSemantics {
  subnormals: 'preserved' | 'flushed' | 'unknown';
  fmaContraction: boolean | 'unknown';
  roundedProducts: boolean | 'unknown';
}

// io[7] is 0 on input: the zero opaque() ORs in, read from memory as common.wgsl reads its own
const PROBE = `
@group(0) @binding(0) var<storage, read_write> io: array<f32, 8>;
@compute @workgroup_size(1) fn main() {
  let zero = bitcast<u32>(io[7]);
  io[4] = io[0] * io[1];
  io[5] = io[2] * io[3] + io[6];
  io[7] = bitcast<f32>(bitcast<u32>(io[2] * io[3]) | zero) + io[6];
}`;

const A = 1 + 2 ** -12; // exact in float32; A * A = 1 + 2^-11 + 2^-24 is not: it rounds off 2^-24

/** Inputs: io[0] = 2^-140 (subnormal), io[1] = 1, io[2] = io[3] = A, io[6] = -fl(A * A), io[7] = 0. */
export function probeInputs(): Float32Array {
  return Float32Array.from([2 ** -140, 1, A, A, 0, 0, -Math.fround(A * A), 0]);
}

/** Reads the outputs of the probe: io[4], io[5] and io[7]. */
export function probeVerdict(out: Float32Array): FloatSemantics {
  const sub = out[4] === 2 ** -140 ? 'preserved' : out[4] === 0 ? 'flushed' : 'unknown';
  const err = A * A - Math.fround(A * A); // the product's rounding error (float64 holds A * A exactly)
  const fma = out[5] === 0 ? false : out[5] === err ? true : 'unknown';
  const rounded = out[7] === 0 ? true : out[7] === err ? false : 'unknown';
  return { subnormals: sub, fmaContraction: fma, roundedProducts: rounded };
}

export async function probeFloatSemantics(device: GPUDevice): Promise<FloatSemantics> {
  const unknown: FloatSemantics = { subnormals: 'unknown', fmaContraction: 'unknown', roundedProducts: 'unknown' };
  device.pushErrorScope('validation'); // the probe's own: an error here is only an unknown answer
  let io: GPUBuffer | undefined, back: GPUBuffer | undefined, out: Float32Array | undefined;
  try {
    io = device.createBuffer({ size: 32, usage: Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST });
    back = device.createBuffer({ size: 32, usage: Usage.MAP_READ | Usage.COPY_DST });
    device.queue.writeBuffer(io, 0, probeInputs());
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: PROBE }), entryPoint: 'main' } });
    const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: io } }] });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(io, 0, back, 0, 32);
    device.queue.submit([enc.finish()]);
    await back.mapAsync(MapMode.READ);
    out = new Float32Array(back.getMappedRange().slice(0));
    back.unmap();
  } catch {
    out = undefined;
  } finally {
    io?.destroy();
    back?.destroy();
  }
  const error = await device.popErrorScope().catch(() => 'pop failed');
  return out && !error ? probeVerdict(out) : unknown;
}
