// unary.wgsl: the one-input ops of kernels/OPS.md as functions <Op>_<kind> (kinds: common.wgsl).
// Float ops compute in f32 (float16/bfloat16 round once on store). NaN, infinities and signed zeros
// follow C/NumPy; where a WGSL builtin leaves them undefined or loses accuracy (exp and log:
// math.wgsl; erf does not exist, tanh overflows, 1 + tanh cancels, sinh and the inverse functions:
// their section), the function is written out here.
// Elementwise kernel: elementwise.wgsl. Bench alone: `kiln bench` has no unary row; time
// `kiln.exp(kiln.rand([1<<24], {device: 'webgpu'}))` with kiln.sync().

fn Exp_F(x: f32) -> f32 { return exp_f(x); }
fn Log_F(x: f32) -> f32 { return ln_f(x); }
fn Sqrt_F(x: f32) -> f32 { return select(sqrt(x), f32_nan(), x < 0.0); }
fn Rsqrt_F(x: f32) -> f32 {
  if (x < 0.0) { return f32_nan(); }
  if (x == 0.0) { return select(f32_inf(), -f32_inf(), bitcast<u32>(x) != 0u); }
  return 1.0 / sqrt(x);
}
fn Reciprocal_F(x: f32) -> f32 { return 1.0 / x; }
// sin and cos of any finite float to ~1 ulp, as the CPU's libm and CUDA's sinf give them: WGSL's
// builtins are only specified on [-pi, pi] (lavapipe's lose every digit by |x| ~ 1e8). |x| is
// reduced to r in [-pi/4, pi/4] and a quadrant: up to 4096 by Cody-Waite, beyond by Payne-Hanek
// (x * 2/pi mod 4 from a 96-bit window of 2/pi's bits times x's 24-bit mantissa, in 32-bit integer
// arithmetic). Then Taylor polynomials
// (their truncation error is below 1e-11 on [-pi/4, pi/4]).
// floor(2^256 * 2/pi), from Machin's formula (pi = 16 atan(1/5) - 4 atan(1/239)) in BigInt arithmetic
const TWO_OVER_PI = array<u32, 8>(0xa2f9836eu, 0x4e441529u, 0xfc2757d1u, 0xf534ddc0u, 0xdb629599u, 0x3c439041u, 0xfe5163abu, 0xdebbc561u);

// 32 bits of 2/pi from bit `p` on (bit 1 weighs 1/2; bits before 1 are 0, after 256 dropped)
fn two_over_pi_bits(p: i32) -> u32 {
  let q = p - 1;
  if (q <= -32) { return 0u; }
  if (q < 0) { return TWO_OVER_PI[0] >> u32(-q); }
  let i = q / 32;
  let off = u32(q % 32);
  let hi = select(0u, TWO_OVER_PI[min(i, 7)], i < 8);
  let lo = select(0u, TWO_OVER_PI[min(i + 1, 7)], i + 1 < 8);
  return select((hi << off) | (lo >> (32u - off)), hi, off == 0u);
}

// m * w as (low, high) words, m < 2^24
fn mul_24x32(m: u32, w: u32) -> vec2<u32> {
  let ml = m & 0xffffu;
  let mh = m >> 16u;
  let wl = w & 0xffffu;
  let wh = w >> 16u;
  let p0 = ml * wl;
  let p1 = ml * wh;
  let mid = p1 + mh * wl;
  let mid_carry = select(0u, 0x10000u, mid < p1);
  let lo = p0 + (mid << 16u);
  return vec2<u32>(lo, mh * wh + (mid >> 16u) + mid_carry + select(0u, 1u, lo < p0));
}

struct Reduced { r: f32, quadrant: u32 }

// a = quadrant * pi/2 + r, |r| <= pi/4, for finite a >= pi/4
fn reduce_half_pi(a: f32) -> Reduced {
  let bits = bitcast<u32>(a);
  let m = (bits & 0x7fffffu) | 0x800000u;
  let s = i32(bits >> 23u) - 150; // a = m * 2^s
  // a * 2/pi mod 4 = m * (2^s * 2/pi mod 4): the window starts at the bit that weighs 2 after the shift
  let w0 = two_over_pi_bits(s - 1);
  let w1 = two_over_pi_bits(s + 31);
  let w2 = two_over_pi_bits(s + 63);
  // m * (w0 w1 w2): limbs in units of 2^-94; limb2's top two bits are the integer part mod 4
  let a2 = mul_24x32(m, w2);
  let b = mul_24x32(m, w1);
  let c = mul_24x32(m, w0);
  let l1 = a2.y + b.x;
  let l2a = b.y + c.x;
  let l2 = l2a + select(0u, 1u, l1 < a2.y);
  var quadrant = l2 >> 30u;
  // the fraction f in [0, 1): 30 bits of limb2, limb1, limb0; past 1/2, take f - 1 (and the next quadrant)
  var f2 = l2 & 0x3fffffffu;
  var f1 = l1;
  var f0 = a2.x;
  var sign = 1.0;
  if (f2 >= 0x20000000u) {
    // 2^94-unit two's complement of (f2 f1 f0) within 62 + 32 bits: 1 - f
    f0 = ~f0 + 1u;
    f1 = ~f1 + select(0u, 1u, f0 == 0u);
    f2 = (~f2 + select(0u, 1u, f0 == 0u && f1 == 0u)) & 0x3fffffffu;
    quadrant += 1u;
    sign = -1.0;
  }
  let f = ((f32(f2) + (f32(f1) + f32(f0) * 2.3283064365386963e-10) * 2.3283064365386963e-10) * 9.313225746154785e-10);
  return Reduced(sign * f * 1.5707963267948966, quadrant & 3u);
}

// |a| <= 4096 (k < 2^12): Cody-Waite, cheaper than Payne-Hanek. pi/2 = C1 + C2 + C3 + C4 (from the
// same Machin BigInt value), C1..C3 of at most 12 significant bits and C4 the float32 rest: k * C1..C3
// are exact, and near a multiple of pi/2 (r small) each subtraction is exact too (Sterbenz), so r
// keeps its relative accuracy where sin or cos is near 0.
fn reduce_half_pi_small(a: f32) -> Reduced {
  let k = round(a * 0.6366197723675814);
  let r = (((a - k * 1.57080078125) - k * -4.453584551811218e-6) - k * -8.706138032721356e-10) - k * 6.223371969669989e-14;
  return Reduced(r, u32(k) & 3u);
}

fn sin_poly(r: f32) -> f32 {
  let z = r * r;
  return r + r * z * (-1.0 / 6.0 + z * (1.0 / 120.0 + z * (-1.0 / 5040.0 + z * (1.0 / 362880.0 + z * (-1.0 / 39916800.0)))));
}
fn cos_poly(r: f32) -> f32 {
  let z = r * r;
  return 1.0 + z * (-0.5 + z * (1.0 / 24.0 + z * (-1.0 / 720.0 + z * (1.0 / 40320.0 + z * (-1.0 / 3628800.0 + z * (1.0 / 479001600.0))))));
}
// finite a >= 0 as quadrant * pi/2 + r, |r| <= pi/4
fn reduce_angle(a: f32) -> Reduced {
  if (a <= 0.7853981633974483) { return Reduced(a, 0u); }
  if (a <= 4096.0) { return reduce_half_pi_small(a); }
  return reduce_half_pi(a);
}
// sin (shift 0) or cos (shift 1) of x
fn sin_quadrant(x: f32, shift: u32) -> f32 {
  if (is_nan(x) || is_inf(x)) { return f32_nan(); }
  let a = abs(x);
  let red = reduce_angle(a);
  let r = red.r;
  var q = red.quadrant;
  // sin is odd: sin(x) = -sin(|x|) for x < 0 (the small-|x| path keeps x's sign itself); cos is even
  if (shift == 0u && a <= 0.7853981633974483) { return sin_poly(x); }
  if (shift == 1u && a <= 0.7853981633974483) { return cos_poly(x); }
  q = (q + shift) & 3u;
  let v = select(sin_poly(r), cos_poly(r), (q & 1u) == 1u);
  let y = select(v, -v, q >= 2u);
  return select(y, -y, shift == 0u && x < 0.0);
}
fn Sin_F(x: f32) -> f32 { return sin_quadrant(x, 0u); }
fn Cos_F(x: f32) -> f32 { return sin_quadrant(x, 1u); }

// tan x from the same reduction: tan(q pi/2 + r) = tan r for even q, -1 / tan r for odd q
fn Tan_F(x: f32) -> f32 {
  if (is_nan(x) || is_inf(x)) { return f32_nan(); }
  let a = abs(x);
  if (a < TINY) { return x; } // tan x = x (1 + x^2/3): see TINY below
  let red = reduce_angle(a);
  let s = sin_poly(red.r);
  let c = cos_poly(red.r);
  let t = select(s / c, -c / s, (red.quadrant & 1u) == 1u);
  return select(t, -t, x < 0.0);
}

// ---- Asin Acos Atan Sinh Cosh Asinh Acosh Atanh (and Tan above) ---------------------------------
// Written out: WGSL specifies these builtins' accuracy only as that of formulas that cancel or
// overflow (sinh as (exp(x) - exp(-x)) / 2, tan as sin / cos, asin through atan2, itself 4096 ulp),
// and lavapipe's, measured against float64, are that bad: asin and acos off by up to 4e-4 relative,
// atan 2e-5; sinh, asinh and atanh lose every digit near 0, acosh most near 1; cosh and sinh
// overflow from x ~ 88.7 (exp's limit, not theirs), asinh and acosh from 1.8e19; tan is wrong for
// large |x|. These are built on math.wgsl's exp and log (exp_scaled, ln_normal) and keep relative
// precision on the whole domain: within 3.1 ulp of float64 on lavapipe. Odd functions take |x| and then x's sign; below 2^-12 they
// return x itself (the next term of their series is under half an ulp there), which keeps -0 and
// passes subnormals through where a device flushes them.
const PIO2_HI: f32 = 1.5707963267948966;
const PIO2_LO: f32 = -4.371139006309477e-8; // pi/2 - PIO2_HI
const PIO4_HI: f32 = 0.7853981633974483;
const PIO4_LO: f32 = -2.1855695031547384e-8;
const TINY: f32 = 0.000244140625; // 2^-12

// ln(1 + y) for y >= 0 (+inf included)
fn ln1p_pos(y: f32) -> f32 {
  if (y < 0.41421356237309503) { return atanh_series2(y / (2.0 + y)); }
  if (is_inf(y)) { return y; }
  // u = 1 + y rounded; y - (u - 1) is exactly what the rounding lost (for y < 2^23; beyond, it is
  // negligible)
  let u = 1.0 + y;
  return ln_normal(u) + (y - (u - 1.0)) / u;
}

// atan t for |t| <= tan(pi/8) = 0.4142: Taylor series, truncation below 1.1e-9 relative
fn atan_poly(t: f32) -> f32 {
  let z = t * t;
  return t - t * z * (1.0 / 3.0 - z * (1.0 / 5.0 - z * (1.0 / 7.0 - z * (1.0 / 9.0 - z * (1.0 / 11.0 - z * (1.0 / 13.0 - z * (1.0 / 15.0 - z * (1.0 / 17.0 - z * (1.0 / 19.0)))))))));
}
// atan a for a >= 0 (+inf included): atan a = pi/2 + atan(-1/a) = pi/4 + atan((a - 1) / (a + 1))
fn atan_pos(a: f32) -> f32 {
  if (is_inf(a)) { return PIO2_HI; }
  if (a > 2.414213562373095) { return PIO2_HI + (atan_poly(-1.0 / a) + PIO2_LO); }
  if (a > 0.41421356237309503) { return PIO4_HI + (atan_poly((a - 1.0) / (a + 1.0)) + PIO4_LO); }
  return atan_poly(a);
}

fn Atan_F(x: f32) -> f32 {
  if (is_nan(x) || abs(x) < TINY) { return x; }
  let y = atan_pos(abs(x));
  return select(y, -y, x < 0.0);
}
// asin a = atan(a / sqrt((1 - a)(1 + a))), 1 - a exact from 1/2 on
fn Asin_F(x: f32) -> f32 {
  let a = abs(x);
  if (is_nan(x) || a < TINY) { return x; }
  if (a > 1.0) { return f32_nan(); }
  var y = PIO2_HI;
  if (a < 1.0) { y = atan_pos(a / sqrt((1.0 - a) * (1.0 + a))); }
  return select(y, -y, x < 0.0);
}
// acos x = 2 atan(sqrt((1 - x) / (1 + x))): relative precision near 1 (1 - x is exact there), and
// no cancellation near -1
fn Acos_F(x: f32) -> f32 {
  if (is_nan(x) || abs(x) > 1.0) { return f32_nan(); }
  if (x == -1.0) { return 3.1415926535897932; }
  return 2.0 * atan_pos(sqrt((1.0 - x) / (1.0 + x)));
}

// sinh: Taylor below 1 (truncation below 1e-12), (e^a - e^-a) / 2 above, each term halved before
// it is formed so that e^a / 2 stays finite up to float32's largest sinh (x ~ 89.42)
fn Sinh_F(x: f32) -> f32 {
  let a = abs(x);
  if (is_nan(x) || a < TINY) { return x; }
  var y: f32;
  if (a < 1.0) {
    let z = a * a;
    y = a + a * z * (1.0 / 6.0 + z * (1.0 / 120.0 + z * (1.0 / 5040.0 + z * (1.0 / 362880.0 + z * (1.0 / 39916800.0 + z * (1.0 / 6227020800.0))))));
  } else if (a > 89.5) {
    y = f32_inf();
  } else {
    y = exp_scaled(a, -1) - exp_scaled(-a, -1);
  }
  return select(y, -y, x < 0.0);
}
// cosh = (e^a + e^-a) / 2: no cancellation; halved as in sinh
fn Cosh_F(x: f32) -> f32 {
  let a = abs(x);
  if (is_nan(x)) { return x; }
  if (a > 89.5) { return f32_inf(); }
  return exp_scaled(a, -1) + exp_scaled(-a, -1);
}

// asinh a = ln1p(a + a^2 / (1 + sqrt(1 + a^2))) (= ln(a + sqrt(1 + a^2)) without cancellation near
// 0); past 2^12, ln(2a) (the rest, 1/(4a^2), is under 2^-24 relative), without forming 2a
fn Asinh_F(x: f32) -> f32 {
  let a = abs(x);
  if (is_nan(x) || is_inf(x) || a < TINY) { return x; }
  var y: f32;
  if (a > 4096.0) {
    y = ln_normal(a) + LN2_F;
  } else {
    let q = a * a;
    y = ln1p_pos(a + q / (1.0 + sqrt(1.0 + q)));
  }
  return select(y, -y, x < 0.0);
}
// acosh x = ln1p(t + sqrt(t (2 + t))), t = x - 1 (exact): relative precision near 1, where
// acosh ~ sqrt(2t); past 2^12, ln(2x)
fn Acosh_F(x: f32) -> f32 {
  if (is_nan(x) || x < 1.0) { return f32_nan(); }
  if (is_inf(x)) { return x; }
  if (x > 4096.0) { return ln_normal(x) + LN2_F; }
  let t = x - 1.0;
  return ln1p_pos(t + sqrt(t * (2.0 + t)));
}
// atanh a = ln1p(2a / (1 - a)) / 2, 1 - a exact from 1/2 on; below, 2a / (1 - a) as
// 2a + 2a^2 / (1 - a) keeps the quotient's rounding off the leading term
fn Atanh_F(x: f32) -> f32 {
  let a = abs(x);
  if (is_nan(x) || a < TINY) { return x; }
  if (a > 1.0) { return f32_nan(); }
  var y = f32_inf();
  if (a < 1.0) {
    let d = 1.0 - a;
    y = 0.5 * ln1p_pos(select((a + a) / d, (a + a) + (a + a) * a / d, a < 0.5));
  }
  return select(y, -y, x < 0.0);
}

// tanh without overflow, and without cancellation near 0 (a Taylor polynomial there)
fn Tanh_F(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let a = abs(x);
  var t: f32;
  if (a < 0.3) {
    let z = a * a;
    t = a * (1.0 + z * (-1.0 / 3.0 + z * (2.0 / 15.0 + z * (-17.0 / 315.0 + z * (62.0 / 2835.0 + z * (-1382.0 / 155925.0))))));
  } else if (a > 20.0) {
    t = 1.0;
  } else {
    // 2 / (e^2a + 1), the sum's rounding error included (Fast2Sum: e^2a > 1), division as div_near
    let e2 = exp_f(2.0 * a);
    let s = e2 + 1.0;
    t = 1.0 - div_near(2.0, s, (e2 - opaque(s)) + 1.0);
  }
  return select(t, -t, x < 0.0 || bitcast<u32>(x) == 0x80000000u);
}

fn Sigmoid_F(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp_f(-x)); }
  let e = exp_f(x); // x < 0: no overflow, and 0 for very negative x
  return e / (1.0 + e);
}

// erfc accurate in relative terms on the whole line: a power series of erf near 0, a continued
// fraction for the tail (|x| >= 1.5), reflection for negative x
fn erf_series(x: f32) -> f32 {
  let z = x * x;
  var term = x;
  var sum = x;
  for (var n = 1; n < 40; n++) {
    term = -term * z / f32(n);
    let add = term / f32(2 * n + 1);
    sum += add;
    if (abs(add) < 1e-9 * abs(sum)) { break; }
  }
  return sum * 1.1283791670955126;
}
fn erfc_tail(x: f32) -> f32 { // x >= 1.5
  if (x > 10.5) { return 0.0; }
  var t = x;
  for (var k = 60; k >= 1; k--) { t = x + (f32(k) * 0.5) / t; }
  return exp_f(-x * x) / (t * 1.7724538509055159);
}
fn erfc_f(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  if (x >= 1.5) { return erfc_tail(x); }
  if (x <= -1.5) { return 2.0 - erfc_tail(-x); }
  return 1.0 - erf_series(x);
}
fn Erf_F(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let a = abs(x);
  if (a < 1.5) { return erf_series(x); }
  let e = 1.0 - erfc_tail(a);
  return select(e, -e, x < 0.0);
}

fn Silu_F(x: f32) -> f32 { return x * Sigmoid_F(x); }
// 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2): no cancellation for negative x
fn Gelu_F(x: f32) -> f32 { return 0.5 * x * erfc_f(-x * 0.7071067811865476); }
// 0.5 x (1 + tanh(u)) = x sigmoid(2u)
fn GeluTanh_F(x: f32) -> f32 {
  let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return x * Sigmoid_F(2.0 * u);
}
fn LeakyRelu_F(x: f32, alpha: f32) -> f32 { return select(x, alpha * x, x < 0.0); }

fn Floor_F(x: f32) -> f32 { return floor(x); }
fn Ceil_F(x: f32) -> f32 { return ceil(x); }
fn Round_F(x: f32) -> f32 { return round(x); } // WGSL round: half to even

fn Neg_F(x: f32) -> f32 { return -x; }
fn Neg_I(x: i32) -> i32 { return 0 - x; }
fn Neg_L(x: vec2<u32>) -> vec2<u32> { return l_neg(x); }
fn Abs_F(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) & 0x7fffffffu); }
fn Abs_I(x: i32) -> i32 { return select(x, 0 - x, x < 0); }
fn Abs_L(x: vec2<u32>) -> vec2<u32> { return l_abs(x); }
// Relu and Clip select as the CPU does (x < lo ? lo : x), but with a comparison no compiler can read
// as an fmax / fmin, which a driver may emit for a plain select (NVIDIA's did: relu(NaN) gave 0) and
// which, like WGSL's own max / min, leaves NaN and the sign of a zero tie to the implementation:
// integer compares of the bits (relu: x < 0; clip: f32_gt, common.wgsl).
fn Relu_F(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  return select(x, 0.0, b > 0x80000000u && b <= 0xff800000u); // x < 0: -0 and NaN are not
}
fn Relu_I(x: i32) -> i32 { return max(x, 0); }
fn Relu_L(x: vec2<u32>) -> vec2<u32> { return select(x, vec2<u32>(0u, 0u), l_is_neg(x)); }
fn Sign_F(x: f32) -> f32 {
  if (is_nan(x) || x == 0.0) { return x; }
  return select(1.0, -1.0, x < 0.0);
}
fn Sign_I(x: i32) -> i32 { return sign(x); }
fn Sign_L(x: vec2<u32>) -> vec2<u32> {
  if (l_is_zero(x)) { return x; }
  return select(vec2<u32>(1u, 0u), vec2<u32>(0xffffffffu, 0xffffffffu), l_is_neg(x));
}
// NaN passes through; bounds are already in the input's kind (integers: the integers inside [min, max])
fn Clip_F(x: f32, lo: f32, hi: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let y = select(x, lo, f32_gt(lo, x));
  return select(y, hi, f32_gt(y, hi));
}
fn Clip_I(x: i32, lo: i32, hi: i32) -> i32 { return min(max(x, lo), hi); }
fn Clip_L(x: vec2<u32>, lo: vec2<u32>, hi: vec2<u32>) -> vec2<u32> {
  let a = select(x, lo, l_lt(x, lo));
  return select(a, hi, l_lt(hi, a));
}
fn Not_I(x: i32) -> i32 { return select(1, 0, x != 0); }
// uint8 keeps the low byte on store
fn BitwiseNot_I(x: i32) -> i32 { return ~x; }
fn BitwiseNot_L(x: vec2<u32>) -> vec2<u32> { return ~x; }
