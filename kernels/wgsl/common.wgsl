// common.wgsl: storage codecs, index helpers and float/int64 bit helpers shared by every WebGPU kernel.
//
// Every tensor buffer is bound as raw 32-bit words, so one binding type serves every dtype:
//   inputs   var<storage, read>        array<u32>
//   outputs  var<storage, read_write>  array<u32>          (4- and 8-byte dtypes)
//            var<storage, read_write>  array<atomic<u32>>  (1- and 2-byte dtypes: bool, uint8,
//                                                           float16, bfloat16)
// Narrow elements share a word with their neighbours, which other invocations may write at the same
// time: a store clears its bits with atomicAnd and sets them with atomicOr, so it never clobbers a
// neighbour. Offsets count elements of the view's dtype (never bytes).
//
// Values travel in one of three compute kinds:
//   F  f32         float32, float16, bfloat16 (float16/bfloat16 compute in f32, round once on store)
//   I  i32         int32, uint8, bool (bool is 0 or 1; uint8 wraps on store)
//   L  vec2<u32>   int64 as (low word, high word), two's complement
// Kernels read their shapes, strides and parameters from `args`, one read-only array<i32> at
// binding 0: a header of 16 words (kernel-specific) followed by shapes and strides.
//
// Standalone check: `npx vitest run test/webgpu-shaders.test.ts` compiles every variant through Dawn.

@group(0) @binding(0) var<storage, read> args: array<i32>;

const HEADER: u32 = 16u;

fn meta_f32(i: u32) -> f32 { return bitcast<f32>(args[i]); }
fn meta_l(i: u32) -> vec2<u32> { return vec2<u32>(bitcast<u32>(args[i]), bitcast<u32>(args[i + 1u])); }

// The element offset of linear index `i` of a row-major index space of `rank` dims whose sizes are at
// args[shape_at..] and whose strides (elements, may be 0 or negative) are at args[strides_at..].
// The outermost dim needs no division (i is inside the space), so a rank-1 space divides nothing:
// integer division is the costliest step here on SIMD hardware.
fn space_offset(i: u32, rank: u32, shape_at: u32, strides_at: u32) -> i32 {
  if (rank == 0u) { return 0; }
  var rem = i;
  var off = 0;
  for (var d = rank - 1u; d > 0u; d--) {
    let size = u32(args[shape_at + d]);
    let c = rem % size;
    rem = rem / size;
    off += i32(c) * args[strides_at + d];
  }
  return off + i32(rem) * args[strides_at];
}

// The linear invocation index of a 2-D dispatch of 256-wide workgroups (x wraps at 65535 groups).
fn linear_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * 256u; }

// ---- float bits: NaN and infinities are handled on the bits, never left to the compiler -----------

fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn is_inf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
// b > a for b and a not NaN, on the bits (IEEE order: -0 == +0; subnormals as the CPU has them, even
// where the device flushes). A select on a float compare of the values it selects is the pattern of
// an fmax / fmin, which a driver may emit (NVIDIA's did: max(-0, +0) gave +0 where the first operand
// was asked for); integer compares leave it nothing to match. On lavapipe maximum costs 3% more than
// with the plain compare (an opaque() comparand cost 10%).
fn f32_order_key(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  return select(u | 0x80000000u, ~u, (u & 0x80000000u) != 0u);
}
fn f32_gt(b: f32, a: f32) -> bool {
  return f32_order_key(b) > f32_order_key(a) && ((bitcast<u32>(a) | bitcast<u32>(b)) & 0x7fffffffu) != 0u;
}
// private variables, not constants: WGSL rejects a constant expression that evaluates to NaN or inf
var<private> NAN_BITS: u32 = 0x7fc00000u;
var<private> INF_BITS: u32 = 0x7f800000u;
fn f32_nan() -> f32 { return bitcast<f32>(NAN_BITS); }
fn f32_inf() -> f32 { return bitcast<f32>(INF_BITS); }

// ---- values the compiler cannot see through ---------------------------------------------------------
// opaque(x) is x, bit for bit, as an OR with a zero the compiler cannot know: the last word of
// `args`, which the host always leaves 0 (webgpu/device.ts, Constants). Two uses:
// - A product that must round on its own. SPIR-V lets a driver fuse a * b + c into one fma, rounded
//   once, unless the product is decorated NoContraction, which WGSL cannot ask for; NVIDIA's driver
//   fuses (Mesa's lavapipe does not: the device's `fmaContraction`, float-probe.ts). The bits of the
//   CPU (built with -ffp-contract=off) and of CUDA's __fmul_rn, and error-free transforms, need the
//   product rounded: opaque(a * b) + c is not a product beside an add, so nothing fuses.
// - A constant that must not fold with another: Mesa folds (v * 2^64) * 2^64 into v * 2^128, which is
//   inf in f32 (its inexact algebra reassociates); (v * 2^64) * opaque(2^64) stays two steps.
// - An error-free sum: Mesa simplifies (a + b) - a to b, and a - (a - b) to a, which zeroes a
//   two-sum's error; with the sum and its differences opaque there is nothing to match
//   (fill.wgsl's Range).
fn opaque(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) | bitcast<u32>(args[arrayLength(&args) - 1u])); }

// Error-free products without fma (WGSL does not promise a fused one): x = hi + lo with hi holding
// the top 12 significand bits, and a * b = p + e exactly (Dekker). hi is cut from the bits, not by
// Veltkamp's c - (c - x) with c = 4097 x: that overflowed past |x| = 8.3e34 (fmod of 3e38 by 2e38
// was NaN), and a compiler that contracts 4097 x - x into an fma (SPIR-V allows it unless marked
// NoContraction) or folds c - (c - x) to x would have broken the split; x - hi is exact either way.
// p is opaque(a * b): a compiler that fused it into `hi * hi - p` (fma(-a, b, hi * hi), the error
// of the exact product rather than of p) or into a caller's `c + p` would break p + e = a * b; the
// partial products hi * hi, hi * lo, lo * lo are exact, so fusing them changes nothing.
fn split_f32(x: f32) -> vec2<f32> {
  let hi = bitcast<f32>(bitcast<u32>(x) & 0xfffff000u);
  return vec2<f32>(hi, x - hi);
}
fn two_prod(a: f32, b: f32) -> vec2<f32> {
  let p = opaque(a * b);
  let as_ = split_f32(a);
  let bs = split_f32(b);
  return vec2<f32>(p, ((as_.x * bs.x - p) + as_.x * bs.y + as_.y * bs.x) + as_.y * bs.y);
}

// a / (b + b_lo) within a hair of correctly rounded, for b = x + y rounded and b_lo = its exact
// rounding error (0 for an exact b), finite a and normal b with a / b normal. WGSL lets a division be
// 2.5 ulp off, and NVIDIA's driver computes a * (1 / b): on an H200, ln and tanh, each one division
// of a rounded sum, came out 2.0-2.6 ulp from float64 (lavapipe, whose division rounds correctly:
// 1.9 and 2.4, the rounding of the sum being most of it). The quotient q is corrected by the
// remainder a - q (b + b_lo), which is exact up to q b_lo's rounding: a - p is exact (two_prod's p
// is within a factor 2 of a), and the remainder's own division, a few ulp off, moves the result by a
// fraction of an ulp (simulated in float32: ln within 1.1 ulp, tanh 1.8, either division).
fn div_near(a: f32, b: f32, b_lo: f32) -> f32 {
  let q = a / b;
  let t = two_prod(q, b);
  return q + opaque(opaque(opaque(a - t.x) - t.y) - q * b_lo) / b;
}

// float16 bits -> f32 (exact: subnormals, infinities and NaN included)
fn f16_bits_to_f32(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0x1fu) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  if (e == 0u) {
    // subnormal: m * 2^-24, exact in f32
    let v = f32(m) * bitcast<f32>(0x33800000u);
    return select(v, -v, sign != 0u);
  }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

// f32 -> float16 bits, rounding to nearest even; overflow gives infinity, NaN stays NaN.
fn f32_to_f16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u; }
  if (a >= 0x477ff000u) { return sign | 0x7c00u; } // rounds to >= 65520: infinity
  if (a < 0x38800000u) {
    // result is subnormal (or zero): round |x| * 2^24 to an integer, ties to even
    let v = bitcast<f32>(a) * 16777216.0;
    let r = u32(round(v));
    return sign | r;
  }
  let m = a + 0xc8000fffu + ((a >> 13u) & 1u); // rebias exponent by -112 (<<23) and round
  return sign | (m >> 13u);
}

fn bf16_bits_to_f32(h: u32) -> f32 { return bitcast<f32>(h << 16u); }

fn f32_to_bf16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return ((b >> 16u) & 0x8000u) | 0x7fc0u; }
  return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
}

// ---- loads: element offset -> compute kind -------------------------------------------------------

fn byte_at(b: ptr<storage, array<u32>, read>, o: i32) -> u32 { return ((*b)[u32(o) >> 2u] >> ((u32(o) & 3u) * 8u)) & 0xffu; }
fn half_at(b: ptr<storage, array<u32>, read>, o: i32) -> u32 { return ((*b)[u32(o) >> 1u] >> ((u32(o) & 1u) * 16u)) & 0xffffu; }

fn ld_float32(b: ptr<storage, array<u32>, read>, o: i32) -> f32 { return bitcast<f32>((*b)[o]); }
fn ld_float16(b: ptr<storage, array<u32>, read>, o: i32) -> f32 { return f16_bits_to_f32(half_at(b, o)); }
fn ld_bfloat16(b: ptr<storage, array<u32>, read>, o: i32) -> f32 { return bf16_bits_to_f32(half_at(b, o)); }
fn ld_int32(b: ptr<storage, array<u32>, read>, o: i32) -> i32 { return bitcast<i32>((*b)[o]); }
fn ld_uint8(b: ptr<storage, array<u32>, read>, o: i32) -> i32 { return i32(byte_at(b, o)); }
fn ld_bool(b: ptr<storage, array<u32>, read>, o: i32) -> i32 { return select(0, 1, byte_at(b, o) != 0u); }
fn ld_int64(b: ptr<storage, array<u32>, read>, o: i32) -> vec2<u32> { return vec2<u32>((*b)[2 * o], (*b)[2 * o + 1]); }

// ---- stores: compute kind -> element offset ------------------------------------------------------

fn put_bits(b: ptr<storage, array<atomic<u32>>, read_write>, word: u32, shift: u32, mask: u32, v: u32) {
  atomicAnd(&(*b)[word], ~(mask << shift));
  atomicOr(&(*b)[word], (v & mask) << shift);
}
fn put_byte(b: ptr<storage, array<atomic<u32>>, read_write>, o: i32, v: u32) { put_bits(b, u32(o) >> 2u, (u32(o) & 3u) * 8u, 0xffu, v); }
fn put_half(b: ptr<storage, array<atomic<u32>>, read_write>, o: i32, v: u32) { put_bits(b, u32(o) >> 1u, (u32(o) & 1u) * 16u, 0xffffu, v); }

fn st_float32(b: ptr<storage, array<u32>, read_write>, o: i32, v: f32) { (*b)[o] = bitcast<u32>(v); }
fn st_float16(b: ptr<storage, array<atomic<u32>>, read_write>, o: i32, v: f32) { put_half(b, o, f32_to_f16_bits(v)); }
fn st_bfloat16(b: ptr<storage, array<atomic<u32>>, read_write>, o: i32, v: f32) { put_half(b, o, f32_to_bf16_bits(v)); }
fn st_int32(b: ptr<storage, array<u32>, read_write>, o: i32, v: i32) { (*b)[o] = bitcast<u32>(v); }
fn st_uint8(b: ptr<storage, array<atomic<u32>>, read_write>, o: i32, v: i32) { put_byte(b, o, bitcast<u32>(v)); }
fn st_bool(b: ptr<storage, array<atomic<u32>>, read_write>, o: i32, v: i32) { put_byte(b, o, select(0u, 1u, v != 0)); }
fn st_int64(b: ptr<storage, array<u32>, read_write>, o: i32, v: vec2<u32>) { (*b)[2 * o] = v.x; (*b)[2 * o + 1] = v.y; }
