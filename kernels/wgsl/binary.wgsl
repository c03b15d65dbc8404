// binary.wgsl: the two-input ops of kernels/OPS.md as functions <Op>_<kind> (kinds: common.wgsl).
// Arithmetic (both operands and the result in one dtype): Add Sub Mul Div Pow Max Min Mod; integers
// wrap, x / 0 and x % 0 give 0, Mod takes the divisor's sign (NumPy), Max/Min propagate NaN, Pow
// follows C (pow(x, 0) = pow(1, y) = 1, pow(-1, +-inf) = 1, negative bases with integer exponents).
// Comparisons return 0/1 (bool); NaN compares unequal to everything. Logical ops on bool (0/1).
// Bitwise ops on int32, int64 and uint8 (uint8 computes in i32 and is stored as its low byte).
// BitShift is BitShiftLeft_<kind> or BitShiftRight_<kind> (its direction picks one), NumPy's
// (kernels/cpu/elementwise_ops.h): amounts outside [0, bits), negative ones included, give 0, or -1
// for a negative value shifted right (the right shift is arithmetic).
// Elementwise kernel: elementwise.wgsl.

fn Add_F(a: f32, b: f32) -> f32 { return a + b; }
fn Add_I(a: i32, b: i32) -> i32 { return a + b; }
fn Add_L(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { return l_add(a, b); }
fn Sub_F(a: f32, b: f32) -> f32 { return a - b; }
fn Sub_I(a: i32, b: i32) -> i32 { return a - b; }
fn Sub_L(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { return l_sub(a, b); }
fn Mul_F(a: f32, b: f32) -> f32 { return a * b; }
fn Mul_I(a: i32, b: i32) -> i32 { return a * b; }
fn Mul_L(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { return l_mul(a, b); }
fn Div_F(a: f32, b: f32) -> f32 { return a / b; }
fn Div_I(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  if (b == -1) { return 0 - a; } // wraps for the most negative value
  return a / b;
}
fn Div_L(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { return l_div(a, b); }

// Compared on the bits (f32_gt, common.wgsl): select(a, b, b > a) is the pattern of an fmax, which a
// driver may emit (NVIDIA's did: max(-0, +0) gave +0), losing the first operand on a tie of zeros.
fn Max_F(a: f32, b: f32) -> f32 {
  if (is_nan(a) || is_nan(b)) { return f32_nan(); }
  return select(a, b, f32_gt(b, a));
}
fn Max_I(a: i32, b: i32) -> i32 { return max(a, b); }
fn Max_L(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { return select(a, b, l_lt(a, b)); }
fn Min_F(a: f32, b: f32) -> f32 {
  if (is_nan(a) || is_nan(b)) { return f32_nan(); }
  return select(a, b, f32_gt(a, b));
}
fn Min_I(a: i32, b: i32) -> i32 { return min(a, b); }
fn Min_L(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { return select(a, b, l_lt(b, a)); }

// exact C fmod for quotients below 2^24: with q the truncated quotient, q * b = p + e exactly
// (two_prod), a - p is exact (Sterbenz), and the remainder a - p - e is representable, so the last
// subtraction is exact too
// Larger quotients (2^31 mod 2.5), by long division: |b| * 2^k for k from the exponents' gap down to
// 0 is subtracted where it fits, and each subtraction is exact (both within a factor of 2), as C's
// fmod is (the CPU's). Subnormal divisors are outside it (GPUs flush them to 0).
fn fmod_long(a: f32, b: f32) -> f32 {
  var r = abs(a);
  let d = abs(b);
  var k = i32((bitcast<u32>(r) >> 23u) & 0xffu) - i32((bitcast<u32>(d) >> 23u) & 0xffu);
  for (; k >= 0; k--) {
    let t = ldexp(d, k); // r < 2t here; infinite only past r's own range, and then r < t
    if (r >= t) { r = r - t; }
  }
  return select(r, -r, a < 0.0);
}
fn fmod_f(a: f32, b: f32) -> f32 {
  // WGSL bounds a / b only for |b| in [2^-126, 2^126] (a GPU may divide by way of 1 / b, which is 0
  // past 2^126): a larger divisor takes the long division too (at most 3 steps there)
  if (abs(a) >= abs(b) * 16777216.0 || abs(b) >= 8.507059e37) { return fmod_long(a, b); }
  let q = trunc(a / b);
  let pe = two_prod(q, b);
  var r = (a - pe.x) - pe.y;
  let ab = abs(b);
  if (abs(r) >= ab) { r = r - sign(r) * ab; }
  if (r != 0.0 && (r < 0.0) != (a < 0.0)) { r = r + sign(a) * ab; }
  return r;
}
fn Mod_F(a: f32, b: f32) -> f32 {
  if (is_nan(a) || is_nan(b) || is_inf(a) || b == 0.0) { return f32_nan(); }
  if (is_inf(b)) {
    if (a == 0.0 || (a < 0.0) == (b < 0.0)) { return a; }
    return b;
  }
  var r = fmod_f(a, b);
  if (r != 0.0 && (r < 0.0) != (b < 0.0)) { r = r + b; }
  if (r == 0.0) { r = select(0.0, -0.0, b < 0.0); }
  return r;
}
fn Mod_I(a: i32, b: i32) -> i32 {
  if (b == 0 || b == -1) { return 0; }
  let r = a % b;
  return select(r, r + b, r != 0 && ((r < 0) != (b < 0)));
}
fn Mod_L(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let r = l_rem(a, b);
  return select(r, l_add(r, b), !l_is_zero(r) && (l_is_neg(r) != l_is_neg(b)));
}

fn is_odd_integer(b: f32) -> bool { return abs(b) < 16777216.0 && trunc(b) == b && (i32(b) & 1) != 0; }
fn Pow_F(a: f32, b: f32) -> f32 {
  if (a == 1.0 || b == 0.0) { return 1.0; }
  if (is_nan(a) || is_nan(b)) { return f32_nan(); }
  if (a == -1.0 && is_inf(b)) { return 1.0; }
  let integer = trunc(b) == b;
  if (a < 0.0 && !integer && !is_inf(a)) { return f32_nan(); }
  let m = abs(a);
  var r: f32;
  if (m == 0.0) { r = select(0.0, f32_inf(), b < 0.0); }
  else if (is_inf(m)) { r = select(f32_inf(), 0.0, b < 0.0); }
  else { r = pow_pos(m, b); }
  let negative = (a < 0.0 || bitcast<u32>(a) == 0x80000000u) && is_odd_integer(b);
  return select(r, -r, negative);
}
// integer power by squaring (wrapping); negative exponents: 1 for 1, +-1 for -1, 0 otherwise
fn Pow_I(a: i32, b: i32) -> i32 {
  if (b < 0) {
    if (a == 1) { return 1; }
    if (a == -1) { return select(1, -1, (b & 1) != 0); }
    return 0;
  }
  var r = 1;
  var base = a;
  var e = b;
  while (e > 0) {
    if ((e & 1) != 0) { r = r * base; }
    base = base * base;
    e = e >> 1u;
  }
  return r;
}
fn Pow_L(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let one = vec2<u32>(1u, 0u);
  if (l_is_neg(b)) {
    if (l_eq(a, one)) { return one; }
    if (l_eq(a, vec2<u32>(0xffffffffu, 0xffffffffu))) { return select(one, a, (b.x & 1u) != 0u); }
    return vec2<u32>(0u, 0u);
  }
  var r = one;
  var base = a;
  var e = b;
  while (!l_is_zero(e)) {
    if ((e.x & 1u) != 0u) { r = l_mul(r, base); }
    base = l_mul(base, base);
    e = vec2<u32>((e.x >> 1u) | (e.y << 31u), e.y >> 1u);
  }
  return r;
}

fn b2i(c: bool) -> i32 { return select(0, 1, c); }
fn Equal_F(a: f32, b: f32) -> i32 { return b2i(!is_nan(a) && !is_nan(b) && a == b); }
fn Equal_I(a: i32, b: i32) -> i32 { return b2i(a == b); }
fn Equal_L(a: vec2<u32>, b: vec2<u32>) -> i32 { return b2i(l_eq(a, b)); }
fn NotEqual_F(a: f32, b: f32) -> i32 { return 1 - Equal_F(a, b); }
fn NotEqual_I(a: i32, b: i32) -> i32 { return b2i(a != b); }
fn NotEqual_L(a: vec2<u32>, b: vec2<u32>) -> i32 { return b2i(!l_eq(a, b)); }
fn Less_F(a: f32, b: f32) -> i32 { return b2i(!is_nan(a) && !is_nan(b) && a < b); }
fn Less_I(a: i32, b: i32) -> i32 { return b2i(a < b); }
fn Less_L(a: vec2<u32>, b: vec2<u32>) -> i32 { return b2i(l_lt(a, b)); }
fn LessOrEqual_F(a: f32, b: f32) -> i32 { return b2i(!is_nan(a) && !is_nan(b) && a <= b); }
fn LessOrEqual_I(a: i32, b: i32) -> i32 { return b2i(a <= b); }
fn LessOrEqual_L(a: vec2<u32>, b: vec2<u32>) -> i32 { return b2i(!l_lt(b, a)); }
fn Greater_F(a: f32, b: f32) -> i32 { return Less_F(b, a); }
fn Greater_I(a: i32, b: i32) -> i32 { return b2i(a > b); }
fn Greater_L(a: vec2<u32>, b: vec2<u32>) -> i32 { return b2i(l_lt(b, a)); }
fn GreaterOrEqual_F(a: f32, b: f32) -> i32 { return LessOrEqual_F(b, a); }
fn GreaterOrEqual_I(a: i32, b: i32) -> i32 { return b2i(a >= b); }
fn GreaterOrEqual_L(a: vec2<u32>, b: vec2<u32>) -> i32 { return b2i(!l_lt(a, b)); }

fn And_I(a: i32, b: i32) -> i32 { return b2i(a != 0 && b != 0); }
fn Or_I(a: i32, b: i32) -> i32 { return b2i(a != 0 || b != 0); }
fn Xor_I(a: i32, b: i32) -> i32 { return b2i((a != 0) != (b != 0)); }

fn BitwiseAnd_I(a: i32, b: i32) -> i32 { return a & b; }
fn BitwiseAnd_L(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { return a & b; }
fn BitwiseOr_I(a: i32, b: i32) -> i32 { return a | b; }
fn BitwiseOr_L(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { return a | b; }
fn BitwiseXor_I(a: i32, b: i32) -> i32 { return a ^ b; }
fn BitwiseXor_L(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { return a ^ b; }

// WGSL takes a runtime shift amount modulo 32, hence the explicit ranges. For uint8 (amounts 0..255)
// a left shift by 8..31 leaves a zero low byte, and a right shift of a value below 256 by 8..31 is 0,
// so the int32 bounds serve both.
fn BitShiftLeft_I(a: i32, b: i32) -> i32 { return select(0, a << bitcast<u32>(b), bitcast<u32>(b) < 32u); }
fn BitShiftRight_I(a: i32, b: i32) -> i32 { return a >> min(bitcast<u32>(b), 31u); }
// a negative amount has a non-zero high word
fn BitShiftLeft_L(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  if (b.y != 0u || b.x >= 64u) { return vec2<u32>(0u, 0u); }
  let s = b.x;
  if (s >= 32u) { return vec2<u32>(0u, a.x << (s - 32u)); }
  if (s == 0u) { return a; }
  return vec2<u32>(a.x << s, (a.y << s) | (a.x >> (32u - s)));
}
fn BitShiftRight_L(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let hi = bitcast<i32>(a.y);
  let fill = bitcast<u32>(hi >> 31u);
  if (b.y != 0u || b.x >= 64u) { return vec2<u32>(fill, fill); }
  let s = b.x;
  if (s >= 32u) { return vec2<u32>(bitcast<u32>(hi >> (s - 32u)), fill); }
  if (s == 0u) { return a; }
  return vec2<u32>((a.x >> s) | (a.y << (32u - s)), bitcast<u32>(hi >> s));
}
