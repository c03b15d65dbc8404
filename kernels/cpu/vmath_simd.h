// The vectorized math of vmath.h written once for any SIMD width, with GCC/Clang vector extensions
// (operators on __m512 / __m256 act lane by lane; a comparison gives an int lane mask that `?:`
// selects with). Included only by vmath_avx512.cc and vmath_avx2.cc, each of which first defines,
// in namespace kiln::vm::(anonymous):
//   F (the float vector), I and U (the int32 and uint32 vectors of as many lanes), kLanes, fmadd(a, b, c) = a*b+c once
//   rounded (the build keeps -ffp-contract off, so FMAs are spelled out).
// Everything here is in that anonymous namespace: each ISA's file gets its own copy.
//
// The approximations (coefficients fitted for this file: float64 least squares on Chebyshev nodes,
// reweighted toward minimax relative error, then rounded to float32):
//   exp    n = round(x / ln2), r = x - n*ln2 in two FMA steps (exact: |n| <= 150 and r needs at most
//          24 bits), e^r by its degree-7 Taylor polynomial (|r| <= ln2/2: truncation 5e-9), scaled
//          by 2^floor(n/2) * 2^(n - floor(n/2)) so results down into the subnormals and up to
//          overflow round once. x is clamped to [-150, 89]: beyond, the result is 0 or inf anyway
//          (the low clamp sits past e^x's own underflow at -104 so that scaled uses such as
//          silu(-104) = -104 e^-104, a subnormal, keep their value).
//   log    x = m * 2^e with m in [sqrt(1/2), sqrt(2)), f = m - 1, s = f / (2 + f):
//          log(1+f) = 2 atanh(s) = f - (f^2/2 - s*(f^2/2 + R(s^2))), R the atanh series to s^10;
//          e*ln2 added in a high part (exact product) and a low part. Subnormal x scaled by 2^23.
//   tanh   |x| < 0.625: x + x^3 P(x^2), P degree 5 (fit error 6e-10);
//          else 1 - 2 / (e^(2|x|) + 1) with |x| clamped to 20 (tanh = 1 in float32 long before).
//   erf    |x| < 0.875: x P(x^2), P degree 6 (fit error 1e-10);
//          else 1 - erfc(|x|), erfc(a) = e^(-a^2) Q(t), t = 1 / (1 + a/2), Q degree 9 on
//          a in [0.5, 10.5] (fit error 2e-9); a^2 is carried as an exact hi + lo pair, since
//          e^(-a^2) magnifies its rounding by 2a^2.
//   gelu   x * Phi(x), a = |x|/sqrt2: for a < 0.5 Phi = (1 +- erf(a)) / 2 by the series; beyond,
//          Phi(x) = erfc(a)/2 for x < 0, 1 - erfc(a)/2 for x > 0, with erfc computed directly (no
//          1 + erf cancellation: the tail stays accurate down to the underflow).
//   sigmoid, silu, gelu_tanh  v * sigmoid(t) with v, t = 1, x | x, x | x, 2z (z = sqrt(2/pi)
//          (x + 0.044715 x^3), as 0.5 (1 + tanh(z)) = sigmoid(2z)), through e^-|t| so that neither
//          tail overflows or cancels: sigmoid(-88.8) is the subnormal 2.8e-39, not 1 / (1 + inf).
// Results that land in the subnormals scale e^x's power of two last (ExpParts), so they round once.
// Infinities follow the scalar formulas (gelu(-inf) = silu(-inf) = NaN, as -inf * 0).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "vmath.h"

namespace kiln {
namespace vm {
namespace {

inline F splat(float c) { return F{} + c; }
inline F load(const float* p) {
  F v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, F v) { std::memcpy(p, &v, sizeof v); }
inline I bits(F v) { return (I)v; }
inline F from_bits(I v) { return (F)v; }
// Lane arithmetic that may wrap (the bits of a negative float, a NaN's garbage exponent) or shift a
// negative value left goes through unsigned lanes, where both are defined (UBSan flagged the signed
// form: scripts/sanitize.sh). The arithmetic shift right stays signed.
inline I sub_wrap(I a, I b) { return (I)((U)a - (U)b); }
inline I sub_wrap(I a, int32_t b) { return (I)((U)a - (uint32_t)b); }
inline I shl(I a, int n) { return (I)((U)a << n); }
inline F abs_v(F x) { return from_bits(bits(x) & 0x7fffffff); }
inline F copysign_v(F mag, F sign) { return from_bits(bits(mag) | (bits(sign) & (int32_t)0x80000000)); }
// Clamp to [lo, hi] with NaN passing through (both comparisons are false for it).
inline F clamp_v(F x, float lo, float hi) {
  x = x < lo ? splat(lo) : x;
  return x > hi ? splat(hi) : x;
}
template <size_t N> inline F poly(F x, const float (&c)[N]) {  // c[0] + c[1] x + ... (Horner)
  F p = splat(c[N - 1]);
  for (size_t k = N - 1; k-- > 0;) p = fmadd(p, x, splat(c[k]));
  return p;
}

constexpr float kLn2Hi = 0.693145751953125f;     // ln 2 to 15 bits: e * kLn2Hi is exact
constexpr float kLn2Lo = 1.42860682030941723e-6f;  // ln 2 - kLn2Hi
constexpr float kLn2 = 0.693147182f, kLn2Tail = -1.90465421e-09f;  // ln 2 = kLn2 + kLn2Tail

// e^x as p * s1 * s2 (p = e^r in [0.7, 1.42], s1 and s2 powers of two): a caller that scales the
// result multiplies p first, so the one rounding into the subnormals comes last.
struct ExpParts {
  F p, s1, s2;
  F times(F k) const { return p * k * s1 * s2; }
  F value() const { return p * s1 * s2; }
};

ExpParts exp_parts(F x0) {
  static const float taylor[] = {1.0f, 1.0f, 0.5f, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};
  F x = clamp_v(x0, -150.0f, 89.0f);
  const F magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  F n = fmadd(x, splat(1.44269504f), magic) - magic;
  F r = fmadd(n, splat(-kLn2), x);
  r = fmadd(n, splat(-kLn2Tail), r);
  I ni = __builtin_convertvector(n, I);  // NaN gives garbage here, but p is NaN then
  I h = ni >> 1, k = ni - h;
  // Below the clamp the true value is 0 even after a caller's scaling (k e^x with |k| < 2^40).
  F s2 = x0 < -150.0f ? F{} : from_bits(shl(k + 127, 23));
  return {poly(r, taylor), from_bits(shl(h + 127, 23)), s2};
}

F exp_v(F x) { return exp_parts(x).value(); }

F log_v(F x) {
  const auto sub = x < 1.17549435e-38f;  // subnormal (or zero, or negative: replaced below)
  F xs = sub ? x * 8388608.0f : x;
  I e = sub_wrap(bits(xs), 0x3f3504f3) >> 23;  // m = xs / 2^e lands in [sqrt(1/2), sqrt(2))
  F m = from_bits(sub_wrap(bits(xs), shl(e, 23)));
  F ef = __builtin_convertvector(sub ? e - 23 : e, F);
  F f = m - 1.0f, hf = 0.5f * f * f, s = f / (f + 2.0f), z = s * s;
  static const float atanh_tail[] = {2.0f / 3, 2.0f / 5, 2.0f / 7, 2.0f / 9, 2.0f / 11};
  F R = z * poly(z, atanh_tail);
  F lo = fmadd(s, hf + R, ef * kLn2Lo);
  F y = fmadd(ef, splat(kLn2Hi), f - (hf - lo));
  y = x == INFINITY ? x : y;
  y = x == 0.0f ? splat(-INFINITY) : y;
  y = x < 0.0f ? splat(NAN) : y;
  return x != x ? x : y;
}

F tanh_v(F x) {
  static const float p[] = {-0.333333343f, 0.133333042f, -0.0539594069f, 0.0217697807f, -0.00834615622f, 0.0022948042f};
  F a = abs_v(x), z = a * a;
  F small = fmadd(a * z, poly(z, p), a);
  F big = 1.0f - 2.0f / (exp_v(2.0f * clamp_v(a, 0.0f, 20.0f)) + 1.0f);
  return copysign_v(a < 0.625f ? small : big, x);
}

constexpr float kErfSmall = 0.875f;  // below: the series form; above: through erfc

F erf_small(F a) {  // |a| < kErfSmall
  static const float p[] = {1.12837923f, -0.376126349f, 0.11283733f, -0.0268615838f, 0.00520674745f, -0.000821110327f, 8.67538984e-05f};
  return a * poly(a * a, p);
}

// k * erfc(a) for a >= 0.5, given a^2 = a2hi + a2lo (a2lo the rounding error of a2hi).
F erfc_big_times(F a, F a2hi, F a2lo, F k) {
  static const float q[] = {3.49824973e-06f, 0.281985521f, 0.283583611f, 0.235195026f, 0.233974189f, -0.104524188f,
                            0.400679499f, -0.605390191f, 0.348169178f, -0.0736830384f};
  F t = 1.0f / fmadd(a, splat(0.5f), splat(1.0f));
  return exp_parts(-a2hi).times(k * (1.0f - a2lo) * poly(t, q));
}

F erf_v(F x) {
  F a = clamp_v(abs_v(x), 0.0f, 10.5f);  // erf(10.5) = 1; inf clamps too
  F a2 = a * a, a2lo = fmadd(a, a, -a2);
  F y = a < kErfSmall ? erf_small(a) : 1.0f - erfc_big_times(a, a2, a2lo, splat(1.0f));
  return copysign_v(y, x);
}

F gelu_v(F x) {
  // a = |x| / sqrt2, a^2 = x^2 / 2 = (xx + xxlo) / 2 exactly; beyond |x| = 30 Phi is 0 or 1.
  F xa = clamp_v(abs_v(x), 0.0f, 30.0f), a = xa * 0.707106769f;
  F xx = xa * xa, xxlo = fmadd(xa, xa, -xx);
  const auto neg = x < 0.0f;
  // a < 0.5: x Phi(x) with Phi = (1 +- erf(a)) / 2. Else t = x erfc(a) / 2, which is the result
  // for x < 0 (Phi(x) = erfc(a) / 2) and x - t for x > 0 (Phi(x) = 1 - erfc(a) / 2).
  F sm = erf_small(a);
  F near = x * (neg ? 0.5f - 0.5f * sm : fmadd(splat(0.5f), sm, splat(0.5f)));
  F t = erfc_big_times(a, 0.5f * xx, 0.5f * xxlo, copysign_v(0.5f * xa, x));
  F far = neg ? t : x - t;
  F y = a < 0.5f ? near : far;
  return x == -INFINITY ? splat(NAN) : y;  // -inf * Phi(-inf) = -inf * 0, as the scalar formula
}

// v * sigmoid(t), accurate in both tails: e = e^-|t|, r = 1 / (1 + e), then v r for t >= 0 and
// v e r for t < 0 (e scaled last, so a subnormal result rounds once). t = -inf gives v * 0.
F times_sigmoid(F v, F t) {
  ExpParts e = exp_parts(-abs_v(t));
  F r = 1.0f / (1.0f + e.value());
  F y = t < 0.0f ? e.times(v * r) : v * r;
  return t == -INFINITY ? v * 0.0f : y;
}

F gelu_tanh_v(F x) {  // 0.5 x (1 + tanh(z)) = x sigmoid(2z)
  F z2 = 1.59576912f * fmadd(0.044715f * x * x, x, x);
  return times_sigmoid(x, z2);
}

F sigmoid_v(F x) { return times_sigmoid(splat(1.0f), x); }
F silu_v(F x) { return times_sigmoid(x, x); }

// The loop: full vectors, then the tail through a zero-padded vector on the stack.
template <F (*Fn)(F)> void map_run(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) store(y + i, Fn(load(x + i)));
  if (i < n) {
    float buf[kLanes] = {};
    std::memcpy(buf, x + i, (size_t)(n - i) * sizeof(float));
    store(buf, Fn(load(buf)));
    std::memcpy(y + i, buf, (size_t)(n - i) * sizeof(float));
  }
}

float max_run(const float* x, int64_t n) {
  F m = splat(-INFINITY);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    F v = load(x + i);
    m = v > m ? v : m;  // a NaN v loses
  }
  // lanes folded pairwise (4 steps for 16 lanes, where one chain would be 16 dependent compares)
  float t[kLanes];
  store(t, m);
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) t[l] = t[l + w] > t[l] ? t[l + w] : t[l];
  float r = t[0];
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

// The sum over x[0, n) of term(v, out), v the next kLanes values, as float partial sums per lane
// (at most 8 terms each) flushed to float64. term may store its kLanes results at `out` (y + i, or
// null when y is): the tail goes through a vector padded with `pad`, for which term must give 0,
// and only its real lanes reach y. A flush adds the lanes pairwise in float64 (4 dependent adds
// for 16 lanes, where one chain was 16: most of a short row's time, a softmax over 128 scores).
template <class Term> double lane_sum(const float* x, int64_t n, float pad, float* y, Term term) {
  F acc = F{};
  double total = 0;
  int64_t i = 0;
  auto flush = [&] {
    double t[kLanes];
    for (int l = 0; l < kLanes; ++l) t[l] = acc[l];
    for (int w = kLanes / 2; w >= 1; w /= 2)
      for (int l = 0; l < w; ++l) t[l] += t[l + w];
    total += t[0];
    acc = F{};
  };
  for (int64_t blk = 0; i + kLanes <= n; i += kLanes) {
    acc += term(load(x + i), y ? y + i : nullptr);
    if (++blk % 8 == 0) flush();
  }
  const bool pending = n % (8 * kLanes) != 0;  // terms added since the last flush
  if (i < n) {
    float buf[kLanes], out[kLanes];
    for (int l = 0; l < kLanes; ++l) buf[l] = i + l < n ? x[i + l] : pad;
    acc += term(load(buf), y ? out : nullptr);
    if (y) std::memcpy(y + i, out, (size_t)(n - i) * sizeof(float));
  }
  if (pending) flush();
  return total;
}

double exp_shift_sum_run(const float* x, float shift, float* y, int64_t n) {
  return lane_sum(x, n, -INFINITY, y, [shift](F v, float* out) {  // e^-inf = 0
    F e = exp_v(v - shift);
    if (out) store(out, e);
    return e;
  });
}

double sum_run(const float* x, int64_t n) {
  return lane_sum(x, n, 0.0f, nullptr, [](F v, float*) { return v; });
}

double sq_dev_sum_run(const float* x, float shift, int64_t n) {
  return lane_sum(x, n, shift, nullptr, [shift](F v, float*) {
    F d = v - shift;
    return d * d;
  });
}

void normalize_run(const float* x, float* y, int64_t n, float shift, float r, const float* s, const float* b) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    F v = (load(x + i) - shift) * r;
    if (s) v = v * load(s + i);
    if (b) v = v + load(b + i);
    store(y + i, v);
  }
  for (; i < n; ++i) {
    float v = (x[i] - shift) * r;
    if (s) v = v * s[i];
    if (b) v = v + b[i];
    y[i] = v;
  }
}

// The set, with the ISA file's own float16/bfloat16 conversions (their intrinsics differ per ISA).
VMath simd_set(const char* name, decltype(VMath::to_f16) to_f16, decltype(VMath::to_bf16) to_bf16, decltype(VMath::from_f16) from_f16) {
  return {name, map_run<exp_v>, map_run<log_v>, map_run<tanh_v>, map_run<erf_v>, map_run<sigmoid_v>,
          map_run<silu_v>, map_run<gelu_v>, map_run<gelu_tanh_v>, max_run, exp_shift_sum_run,
          sum_run, sq_dev_sum_run, normalize_run, to_f16, to_bf16, from_f16};
}

}  // namespace
}  // namespace vm
}  // namespace kiln
