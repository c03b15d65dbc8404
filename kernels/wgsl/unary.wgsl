// unary.wgsl: the one-input ops of kernels/OPS.md as functions <Op>_<kind> (kinds: common.wgsl).
// Float ops compute in f32 (float16/bfloat16 round once on store). NaN, infinities and signed zeros
// follow C/NumPy; where a WGSL builtin leaves them undefined or loses accuracy (erf does not exist,
// tanh overflows, 1 + tanh cancels), the function is written out here.
// Elementwise kernel: elementwise.wgsl. Bench alone: `kiln bench` has no unary row; time
// `kiln.exp(kiln.rand([1<<24], {device: 'webgpu'}))` with kiln.sync().

fn Exp_F(x: f32) -> f32 { return exp(x); }
fn Log_F(x: f32) -> f32 {
  if (x < 0.0) { return f32_nan(); }
  if (x == 0.0) { return -f32_inf(); }
  return log(x);
}
fn Sqrt_F(x: f32) -> f32 { return select(sqrt(x), f32_nan(), x < 0.0); }
fn Rsqrt_F(x: f32) -> f32 {
  if (x < 0.0) { return f32_nan(); }
  if (x == 0.0) { return select(f32_inf(), -f32_inf(), bitcast<u32>(x) != 0u); }
  return 1.0 / sqrt(x);
}
fn Reciprocal_F(x: f32) -> f32 { return 1.0 / x; }
fn Sin_F(x: f32) -> f32 { return select(sin(x), f32_nan(), is_inf(x)); }
fn Cos_F(x: f32) -> f32 { return select(cos(x), f32_nan(), is_inf(x)); }

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
    t = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
  }
  return select(t, -t, x < 0.0 || bitcast<u32>(x) == 0x80000000u);
}

fn Sigmoid_F(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x); // x < 0: no overflow, and 0 for very negative x
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
  return exp(-x * x) / (t * 1.7724538509055159);
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
fn Relu_F(x: f32) -> f32 { return select(x, 0.0, x < 0.0); }
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
fn Clip_F(x: f32, lo: f32, hi: f32) -> f32 { return select(min(max(x, lo), hi), x, is_nan(x)); }
fn Clip_I(x: i32, lo: i32, hi: i32) -> i32 { return min(max(x, lo), hi); }
fn Clip_L(x: vec2<u32>, lo: vec2<u32>, hi: vec2<u32>) -> vec2<u32> {
  let a = select(x, lo, l_lt(x, lo));
  return select(a, hi, l_lt(hi, a));
}
fn Not_I(x: i32) -> i32 { return select(1, 0, x != 0); }
