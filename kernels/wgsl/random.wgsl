// random.wgsl: RandomUniform and RandomNormal, the Philox4x32-10 stream of kernels/OPS.md, so every
// device gives the same numbers for a seed. Block b = Philox(counter b, key = seed) gives the words
// of elements 4b..4b+3. Uniform: u = (x >> 8) * 2^-24, low + u * (high - low) (fused, one rounding;
// exact wherever the CPU's float64 result is an f32). Normal: Box-Muller on the pairs (x0, x1) and
// (x2, x3) with u1 = ((x >> 8) + 1) * 2^-24. WGSL has no float64, so the f32 math keeps relative
// accuracy where the CPU's float64 does: the angle 2 pi u2 is reduced to [0, pi/4] in integers before
// sin/cos, and log(u1) near 1 is a log1p of the exact 1 - u1 (results within a few ulp of the CPU's).
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

// sqrt(-2 log u1), u1 = ((x >> 8) + 1) 2^-24; near 1, log(1 + d) = 2 atanh(d / (2 + d)) as a series
fn box_muller_radius(x: u32) -> f32 {
  let m = (x >> 8u) + 1u; // 1 ..= 2^24
  var l: f32;
  if (m > 8388608u) {
    let d = -f32(16777216u - m) * 5.9604644775390625e-8; // u1 - 1, exact
    let z = d / (2.0 + d);
    let z2 = z * z;
    var term = z;
    var sum = z;
    for (var k = 3.0; k < 40.0; k += 2.0) {
      term = term * z2;
      sum += term / k;
    }
    l = 2.0 * sum;
  } else {
    l = ln_f(f32(m) * 5.9604644775390625e-8); // math.wgsl's: WGSL specifies the builtin log loosely
  }
  return sqrt(-2.0 * l);
}

// (cos, sin) of 2 pi k 2^-24 for k = x >> 8: quadrant and octant in integers, then a small angle
fn turn_cos_sin(x: u32) -> vec2<f32> {
  let k = x >> 8u;
  let q = k >> 22u;            // quadrant
  var j = k & 0x3fffffu;       // position in the quadrant, 2^22 steps
  let flip = j > 0x200000u;    // past the octant: use the complement angle
  if (flip) { j = 0x400000u - j; }
  let a = f32(j) * 3.7450702e-7; // 2 pi / 2^24
  // unary.wgsl's polynomials, not the builtins: WGSL lets sin and cos err by 2^-11 absolute, and GPUs'
  // hardware ones (NVIDIA's, AMD's) err by ~2^-21 absolute, thousands of ulp of a small sin
  var c = cos_poly(a);
  var s = sin_poly(a);
  if (flip) { let t = c; c = s; s = t; }
  switch (q) {
    case 0u: { return vec2<f32>(c, s); }
    case 1u: { return vec2<f32>(-s, c); }
    case 2u: { return vec2<f32>(-c, -s); }
    default: { return vec2<f32>(s, -c); }
  }
}

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
    let r0 = box_muller_radius(w.x);
    let r1 = box_muller_radius(w.z);
    let t0 = turn_cos_sin(w.y);
    let t1 = turn_cos_sin(w.w);
    v = vec4<f32>(r0 * t0.x, r0 * t0.y, r1 * t1.x, r1 * t1.y);
  } else {
    v = vec4<f32>(unit(w.x), unit(w.y), unit(w.z), unit(w.w));
  }
  for (var k = 0u; k < 4u; k++) {
    let g = b * 4u + k;
    if (g < n) { store_y(args[5] + i32(g), fma(v[k], scale, shift)); }
  }
}
