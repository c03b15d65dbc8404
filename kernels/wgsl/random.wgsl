// random.wgsl: RandomUniform and RandomNormal, the Philox4x32-10 stream of kernels/OPS.md, so every
// device gives the same numbers for a seed. Block b = Philox(counter b, key = seed) gives the words
// of elements 4b..4b+3. Uniform: u = (x >> 8) * 2^-24, low + u * (high - low) (fused, one rounding;
// exact wherever the CPU's float64 result is an f32). Normal: Box-Muller on the pairs (x0, x1) and
// (x2, x3) with u1 = ((x >> 8) + 1) * 2^-24, in f32 (WGSL has no float64: within a few ulp of the
// CPU's numbers).
//   meta header: [0] n (elements), [1] seed low word, [2] seed high word, [3] shift (low or mean),
//   [4] scale (high - low, or std), f32 bits; [5] Y offset
// One invocation per block of four. The host generates the binding Y and store_y; the override
// normal picks the variant.

override normal: bool = false;

fn mulhilo(a: u32, b: u32) -> vec2<u32> { return mul_wide(a, b); }

fn philox(counter: u32, k0_in: u32, k1_in: u32) -> vec4<u32> {
  var c = vec4<u32>(counter, 0u, 0u, 0u);
  var k0 = k0_in;
  var k1 = k1_in;
  for (var r = 0; r < 10; r++) {
    if (r > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
    let p0 = mulhilo(0xD2511F53u, c.x);
    let p1 = mulhilo(0xCD9E8D57u, c.z);
    c = vec4<u32>(p1.y ^ c.y ^ k0, p1.x, p0.y ^ c.w ^ k1, p0.x);
  }
  return c;
}

fn unit(x: u32) -> f32 { return f32(x >> 8u) * 5.9604644775390625e-8; }
fn unit_open0(x: u32) -> f32 { return f32((x >> 8u) + 1u) * 5.9604644775390625e-8; }

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = linear_id(gid, nwg);
  let n = u32(args[0]);
  if (b * 4u >= n) { return; }
  let w = philox(b, bitcast<u32>(args[1]), bitcast<u32>(args[2]));
  let shift = meta_f32(3u);
  let scale = meta_f32(4u);
  var v: vec4<f32>;
  if (normal) {
    let r0 = sqrt(-2.0 * log(unit_open0(w.x)));
    let t0 = 6.283185307179586 * unit(w.y);
    let r1 = sqrt(-2.0 * log(unit_open0(w.z)));
    let t1 = 6.283185307179586 * unit(w.w);
    v = vec4<f32>(r0 * cos(t0), r0 * sin(t0), r1 * cos(t1), r1 * sin(t1));
  } else {
    v = vec4<f32>(unit(w.x), unit(w.y), unit(w.z), unit(w.w));
  }
  for (var k = 0u; k < 4u; k++) {
    let g = b * 4u + k;
    if (g < n) { store_y(args[5] + i32(g), fma(v[k], scale, shift)); }
  }
}
