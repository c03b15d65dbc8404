// int64.wgsl: 64-bit two's-complement integers as vec2<u32>(low, high), for WGSL which has none.
// Wrapping add, sub, mul (the low 64 bits, like C), truncating division and remainder by shift and
// subtract (64 steps; x / 0 and x % 0 give 0 like Kiln's CPU kernels), signed comparison.
// Used by every kernel that reads or writes int64 (elementwise, reductions, gather, range).

fn l_from_i32(v: i32) -> vec2<u32> { return vec2<u32>(bitcast<u32>(v), select(0u, 0xffffffffu, v < 0)); }
fn l_is_neg(a: vec2<u32>) -> bool { return (a.y & 0x80000000u) != 0u; }
fn l_is_zero(a: vec2<u32>) -> bool { return (a.x | a.y) == 0u; }

fn l_add(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let lo = a.x + b.x;
  return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}
fn l_neg(a: vec2<u32>) -> vec2<u32> { return l_add(vec2<u32>(~a.x, ~a.y), vec2<u32>(1u, 0u)); }
fn l_sub(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { return l_add(a, l_neg(b)); }

// full 32 x 32 -> 64 bit product
fn mul_wide(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u;
  let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  let lo = (p00 & 0xffffu) | (mid << 16u);
  let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  return vec2<u32>(lo, hi);
}

fn l_mul(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let p = mul_wide(a.x, b.x);
  return vec2<u32>(p.x, p.y + a.x * b.y + a.y * b.x);
}

fn l_lt(a: vec2<u32>, b: vec2<u32>) -> bool {
  let ah = bitcast<i32>(a.y); let bh = bitcast<i32>(b.y);
  return ah < bh || (ah == bh && a.x < b.x);
}
fn l_eq(a: vec2<u32>, b: vec2<u32>) -> bool { return a.x == b.x && a.y == b.y; }
fn l_abs(a: vec2<u32>) -> vec2<u32> { return select(a, l_neg(a), l_is_neg(a)); }

fn ul_lt(a: vec2<u32>, b: vec2<u32>) -> bool { return a.y < b.y || (a.y == b.y && a.x < b.x); }
fn ul_shl1(a: vec2<u32>, bit: u32) -> vec2<u32> { return vec2<u32>((a.x << 1u) | bit, (a.y << 1u) | (a.x >> 31u)); }

// unsigned 64-bit quotient and remainder (b != 0)
fn ul_divmod(a: vec2<u32>, b: vec2<u32>) -> array<vec2<u32>, 2> {
  var q = vec2<u32>(0u, 0u);
  var r = vec2<u32>(0u, 0u);
  for (var i = 63; i >= 0; i--) {
    let word = select(a.x, a.y, i >= 32);
    let bit = (word >> (u32(i) & 31u)) & 1u;
    r = ul_shl1(r, bit);
    q = ul_shl1(q, 0u);
    if (!ul_lt(r, b)) { r = l_sub(r, b); q.x = q.x | 1u; }
  }
  return array<vec2<u32>, 2>(q, r);
}

// truncating division and C remainder (sign of the dividend); by zero: 0
fn l_div(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  if (l_is_zero(b)) { return vec2<u32>(0u, 0u); }
  let qr = ul_divmod(l_abs(a), l_abs(b));
  return select(qr[0], l_neg(qr[0]), l_is_neg(a) != l_is_neg(b));
}
fn l_rem(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  if (l_is_zero(b)) { return vec2<u32>(0u, 0u); }
  let qr = ul_divmod(l_abs(a), l_abs(b));
  return select(qr[1], l_neg(qr[1]), l_is_neg(a));
}

// int64 -> f32: the top 32 significant bits with a sticky bit for the rest convert with one correct
// rounding (or round-to-odd, `odd`, ahead of a rounding to float16/bfloat16), then scale by a power
// of two (exact)
fn l_to_f32(a: vec2<u32>, odd: bool) -> f32 {
  let m = l_abs(a);
  var top = m.x;
  var shift = 0u;
  if (m.y != 0u) {
    shift = 32u - countLeadingZeros(m.y); // bits of the high word: 1..32
    var sticky: bool;
    if (shift == 32u) {
      top = m.y; sticky = m.x != 0u;
    } else {
      top = (m.y << (32u - shift)) | (m.x >> shift); sticky = (m.x << (32u - shift)) != 0u;
    }
    top = top | select(0u, 1u, sticky);
  }
  var v = select(f32(top), u32_to_f32_odd(top), odd) * exp2(f32(shift));
  return select(v, -v, l_is_neg(a));
}

// f32 -> int64, truncating toward zero, saturating; NaN gives 0
fn l_from_f32(x: f32) -> vec2<u32> {
  if (is_nan(x)) { return vec2<u32>(0u, 0u); }
  if (x >= 9223372036854775808.0) { return vec2<u32>(0xffffffffu, 0x7fffffffu); }
  if (x <= -9223372036854775808.0) { return vec2<u32>(0u, 0x80000000u); }
  let t = abs(trunc(x));
  let hi = floor(t / 4294967296.0);
  let lo = t - hi * 4294967296.0;
  let m = vec2<u32>(u32(lo), u32(hi));
  return select(m, l_neg(m), x < 0.0);
}
