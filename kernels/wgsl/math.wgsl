// math.wgsl: e^x and ln x in f32 to about 1 ulp on their whole domain, for every kernel that needs
// them (unary.wgsl's Exp, Log and the functions built on them; softmax.wgsl). WGSL bounds its own
// builtins loosely (exp to 3 + 2|x| ulp, log only absolutely, to 2^-21 on [0.5, 2]), and lavapipe's
// come that far off: measured against float64, exp up to 64 ulp (12 on average over [-87, 88]), log
// 474 ulp near 1, and a sigmoid built on them 17. These are built from exactly rounded steps instead:
// a Cody-Waite reduction by ln 2 and short polynomials.

const LN2_HI: f32 = 0.693145751953125; // 15 significant bits: k * LN2_HI is exact for |k| < 512
const LN2_LO: f32 = 1.4286068202862268e-6;
const LN2_F: f32 = 0.6931471805599453;

// 2^n for -126 <= n <= 127
fn pow2_i(n: i32) -> f32 { return bitcast<f32>(u32(n + 127) << 23u); }

// e^x 2^shift for |x| <= 104: x = k ln2 + r, |r| <= ln2/2 (x - k LN2_HI is exact: both are within a
// factor 2 of each other), e^r by its Taylor polynomial of degree 7 (truncation below 8e-9 relative,
// 0.07 ulp), and the power of two in two factors so that neither leaves float32's range before the
// product does
fn exp_scaled(x: f32, shift: i32) -> f32 {
  let k = round(x * 1.4426950408889634);
  let r = (x - k * LN2_HI) - k * LN2_LO;
  let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
  let n = i32(k) + shift;
  let n1 = n / 2;
  return p * pow2_i(n1) * pow2_i(n - n1);
}

// 2 atanh(s) = ln((1 + s) / (1 - s)) for |s| <= 0.1716 (truncation below 5e-11)
fn atanh_series2(s: f32) -> f32 {
  let z = s * s;
  return 2.0 * s + 2.0 * s * z * (1.0 / 3.0 + z * (1.0 / 5.0 + z * (1.0 / 7.0 + z * (1.0 / 9.0 + z * (1.0 / 11.0)))));
}

// ln u for finite normal u > 0: u = 2^e m, m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh((m - 1) / (m + 1))
// (m - 1 is exact)
fn ln_normal(u: f32) -> f32 {
  let bits = bitcast<u32>(u);
  var e = i32(bits >> 23u) - 127;
  var m = bitcast<f32>((bits & 0x7fffffu) | 0x3f800000u);
  if (m > 1.4142135623730951) {
    m = m * 0.5;
    e = e + 1;
  }
  let f = m - 1.0;
  let ef = f32(e);
  // f / (2 + f), 2 + f's rounding error included (Fast2Sum, |f| < 2; opaque: Mesa simplifies
  // 2 - (2 + f) to -f)
  let s = 2.0 + f;
  return ef * LN2_HI + (ef * LN2_LO + atanh_series2(div_near(f, s, (2.0 - opaque(s)) + f)));
}


// e^x: NaN stays NaN, overflow gives +inf (past 88.72), underflow 0 or a subnormal (below -87.34).
// Branch-free (the clamp keeps exp_scaled's powers of two in range; e^+-104 is already past float32's
// ends), which matters where invocations run in SIMD lanes, as on lavapipe.
fn exp_f(x: f32) -> f32 {
  return select(exp_scaled(clamp(x, -104.0, 104.0), 0), x, is_nan(x));
}

// ln x: NaN for x < 0 and NaN, -inf for +-0, +inf for +inf; subnormals scaled up by 2^23 first
fn ln_f(x: f32) -> f32 {
  if (is_nan(x) || x < 0.0) { return f32_nan(); }
  if (x == 0.0) { return -f32_inf(); }
  if (is_inf(x)) { return x; }
  if (x < 1.1754943508222875e-38) { return ln_normal(x * 8388608.0) - 23.0 * LN2_F; }
  return ln_normal(x);
}

// ---- a^b for a finite a > 0 -----------------------------------------------------------------------
// e^(b ln a), where b ln a needs more than float32: it reaches +-104 before the result leaves
// float32's range, so an ln a good to 2^-24 alone costs up to ~60 ulp of the result (lavapipe's
// exp2(b log2 a) was 84 ulp off). So ln a is kept as pieces, e ln2_hi + p1 + p2 + small, each of the
// first three multiplied by b exactly (two_prod) and reduced modulo ln 2 on its own; the remainders
// (each within ln 2 / 2) and the small rest then add in float32 with absolute errors near 2^-25.
// Nothing here relies on a rounding error recovered from a sum, (a + b) - a: drivers simplify that
// to b (Mesa does), while a - k ln2_hi near k ln2_hi and two_prod survive them.
// The pieces of ln m, m = 2^-e a in [sqrt(1/2), sqrt(2)): within 1/16 of 1, f = m - 1 (exact) and
// -f^2/2 (exact from two_prod); else the table's -ln C_j (hi + lo, C_j within 1/64 of 1 / m) and
// m C_j - 1 (exact, within 1/44 of 0). The series' truncation is below 2^-35.
// C_j = 32 / (j + 22.5) rounded to float32 for j = floor(32 m) - 22, and -ln C_j in two floats (from
// float64 logs): printed by scripts/wgsl-pow-table.mjs.
const LN_C = array<f32, 24>(1.42222226, 1.36170208, 1.30612242, 1.25490201, 1.20754719, 1.16363633, 1.12280703, 1.08474576, 1.04918027, 1.01587307, 0.984615386, 0.955223858, 0.927536249, 0.901408434, 0.876712322, 0.853333354, 0.831168830, 0.810126603, 0.790123463, 0.771084309, 0.752941191, 0.735632181, 0.719101131, 0.703296721);
const LN_T_HI = array<f32, 24>(-0.352220625, -0.308735460, -0.267062753, -0.227057487, -0.188591182, -0.151549861, -0.115831822, -0.0813456401, -0.0480091646, -0.0157484151, 0.0155041860, 0.0458095595, 0.0752234012, 0.103796810, 0.131576359, 0.158605009, 0.184922338, 0.210564747, 0.235566065, 0.259957552, 0.283768147, 0.307025045, 0.329753280, 0.351976395);
const LN_T_LO = array<f32, 24>(6.88154866e-9, 1.00583080e-8, -1.13209992e-8, 7.46933959e-10, -2.47680809e-9, -5.62715741e-9, -8.18796142e-10, -1.19370713e-9, 1.32436218e-9, 4.32160613e-10, -4.37010483e-10, -2.09700451e-10, 1.42228584e-9, 2.39636733e-9, 5.96729688e-9, -3.35514616e-9, 1.89329108e-9, -3.49109541e-9, -8.53199067e-10, 9.73365299e-9, 6.34272235e-9, -6.13627682e-9, -3.55805430e-9, 3.35814865e-9);

// p = k ln2 + r: (k, r) of one piece p, |k| < 512
fn reduce_ln2(p: f32) -> vec2<f32> {
  let k = round(p * 1.4426950408889634);
  return vec2<f32>(k, (p - k * LN2_HI) - k * LN2_LO);
}

// a^b for finite a > 0 and any b but NaN
fn pow_pos(a: f32, b: f32) -> f32 {
  if (a == 1.0) { return 1.0; }
  if (is_inf(b)) { return select(0.0, f32_inf(), (a > 1.0) == (b > 0.0)); }
  if (b == 2.0) { return a * a; } // the commonest exponent, rounded once
  let sub = a < 1.1754943508222875e-38;
  let bits = bitcast<u32>(select(a, a * 8388608.0, sub));
  var e = i32(bits >> 23u) - select(127, 150, sub);
  var m = bitcast<f32>((bits & 0x7fffffu) | 0x3f800000u);
  if (m > 1.4142135623730951) {
    m = m * 0.5;
    e = e + 1;
  }
  var p1: f32;
  var p2: f32;
  var small: f32;
  if (abs(m - 1.0) < 0.0625) {
    let f = m - 1.0;
    let q = two_prod(f, f);
    p1 = f;
    p2 = -0.5 * q.x;
    let poly = 1.0 / 3.0 + f * (-1.0 / 4.0 + f * (1.0 / 5.0 + f * (-1.0 / 6.0 + f * (1.0 / 7.0 + f * (-1.0 / 8.0 + f * (1.0 / 9.0))))));
    small = -0.5 * q.y + f * f * f * poly;
  } else {
    let j = i32(floor(m * 32.0)) - 22;
    let t = two_prod(m, LN_C[j]);
    let fh = t.x - 1.0; // exact: t.x is within 1/44 of 1
    let fl = t.y;
    let poly = -1.0 / 2.0 + fh * (1.0 / 3.0 + fh * (-1.0 / 4.0 + fh * (1.0 / 5.0 + fh * (-1.0 / 6.0))));
    p1 = LN_T_HI[j];
    p2 = fh;
    small = (LN_T_LO[j] + (fl - fh * fl)) + fh * fh * poly;
  }
  let ef = f32(e);
  let p0 = ef * LN2_HI; // exact
  small = small + ef * LN2_LO;
  let y = (b * p0 + b * p1) + b * p2;
  if (y > 104.0) { return f32_inf(); }
  if (y < -104.0) { return 0.0; }
  // |b p0|, |b p1|, |b p2| stay below 355 here (|y| <= 104), so k LN2_HI is exact in each reduction
  let q0 = two_prod(b, p0);
  let q1 = two_prod(b, p1);
  let q2 = two_prod(b, p2);
  let r0 = reduce_ln2(q0.x);
  let r1 = reduce_ln2(q1.x);
  let r2 = reduce_ln2(q2.x);
  let rest = ((q0.y + q1.y) + q2.y) + b * small;
  return exp_scaled(((r0.y + r1.y) + r2.y) + rest, i32(r0.x + r1.x + r2.x));
}
