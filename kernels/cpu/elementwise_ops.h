// The elementwise ops as functors on compute types (float for float16/bfloat16, uint8 for bool),
// shared by the CPU kernels (elementwise.cc through elementwise_map.h) and the CUDA kernels
// (kernels/cuda/elementwise.cu): one definition of each op's semantics for every device. Under nvcc
// KILN_HD makes them __host__ __device__; the attribute-reading constructors stay host-only (the
// functor is built on the host and passed to the kernel by value).
//   float only:      Exp Log Sqrt Rsqrt Reciprocal Sin Cos Tanh Sigmoid Erf Silu Floor Ceil Round
//                    Asin Acos Atan Sinh Cosh Tan Asinh Acosh Atanh (in float64, see KILN_UNARY_F64)
//                    Gelu (approximate 'none' | 'tanh'), LeakyRelu (alpha, default 0.01)
//   float, int32, int64:        Neg
//   float, int32, int64, uint8: Abs Relu Sign Clip (min, max; default -inf, +inf)
//   bool:            Not
//   int32, int64, uint8:        BitwiseNot
//   binary: Add Sub Mul Div Pow Max Min Mod (numeric), comparisons (any dtype -> bool), And Or Xor (bool),
//           BitwiseAnd BitwiseOr BitwiseXor BitShift (direction 'LEFT' | 'RIGHT') (int32, int64, uint8)
// Integer semantics never trap and never hit undefined behaviour: Add/Sub/Mul wrap; Div truncates
// toward zero; Mod takes the divisor's sign (Python's %); x/0 and x%0 give 0; INT_MIN/-1 wraps to
// INT_MIN and INT_MIN%-1 is 0; Pow squares repeatedly and wraps, with a negative exponent giving 0
// unless the base is 1 or -1; Neg and Abs wrap at the type's minimum. BitShift is NumPy's: a left
// shift moves the two's-complement bits (wrapping), a right shift is arithmetic on signed types, and
// an amount outside [0, bits) (negative included) shifts everything out: 0, or -1 for a negative
// value shifted right. Float Max/Min propagate NaN
// (np.maximum); float Mod is np.mod (fmod moved to the divisor's sign, a zero result carries the
// divisor's sign).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "attrs.h"
#include "philox.h"  // KILN_HD

namespace kiln {

// The dtype classes an op accepts, as a bit mask.
enum : unsigned {
  kFloat = 1,
  kSigned = 2,  // int32, int64
  kU8 = 4,
  kBool = 8,
  kInt = kSigned | kU8,
  kNumeric = kFloat | kInt,
  kAll = kNumeric | kBool,
};

// Integer arithmetic that wraps (two's complement) instead of overflowing into undefined behaviour.
template <typename V> using uns_t = std::make_unsigned_t<V>;
template <typename V> KILN_HD V wrap_neg(V x) { return (V)(uns_t<V>)(uns_t<V>(0) - (uns_t<V>)x); }

namespace ops {

KILN_HD uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}
KILN_HD float f32_of(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// Floor, Ceil and Round without libm calls (SSE2 has no round instruction, so floorf and friends
// are calls, 2-3x slower than the loop below): adding and removing 2^23 rounds |x| < 2^23 to an
// integer, half to even in the default rounding mode (which Node never changes, and CUDA's add.rn
// is); larger |x|, inf and NaN are integral already. The selects go through lane masks because,
// under -ftrapping-math (the default), GCC keeps `c ? x - 1 : x` as a branch, which random data
// mispredicts half the time.
KILN_HD float select_f(bool c, float a, float b) {
  uint32_t m = 0u - (uint32_t)c;
  return f32_of((f32_bits(a) & m) | (f32_bits(b) & ~m));
}
KILN_HD float round_even(float x) {
  float a = std::fabs(x);
  return select_f(a < 8388608.0f, std::copysign((a + 8388608.0f) - 8388608.0f, x), x);
}
// A zero floor or ceil has x's sign (ceil(-0.5) == -0), hence the copysign.
KILN_HD float floor_f(float x) {
  float r = round_even(x);
  return std::copysign(select_f(r > x, r - 1.0f, r), x);
}
KILN_HD float ceil_f(float x) {
  float r = round_even(x);
  return std::copysign(select_f(r < x, r + 1.0f, r), x);
}

#define KILN_UNARY_FN(Name, expr)                  \
  template <typename V> struct Name {              \
    KILN_HD V operator()(V x) const { return expr; } \
  };

// exp on a CUDA device in float64, rounded once (the scalar CPU path is libm's expf): CUDA's expf is
// up to 2 ulp from the correctly rounded result (LLVM libc's exhaustive GPU conformance run of CUDA
// Math), past the 2 ulp of float64 Kiln holds exp to on every device (ops-elementwise's ulp test),
// and Sigmoid and Silu added their own roundings to it. (CUDA's logf, 1 ulp, tanhf and powf, 2, stay
// within their bounds there.) sm_80 and sm_90 run FP64 at half the FP32 rate; these ops stay
// memory-bound. Not yet measured on a GPU.
KILN_HD float exp_f32(float x) {
#if defined(__CUDA_ARCH__)
  return (float)exp((double)x);
#else
  return std::exp(x);
#endif
}
KILN_HD float sigmoid_f32(float x) {
#if defined(__CUDA_ARCH__)
  return (float)(1.0 / (1.0 + exp(-(double)x)));
#else
  return 1.0f / (1.0f + std::exp(-x));
#endif
}
KILN_HD float silu_f32(float x) {
#if defined(__CUDA_ARCH__)
  return (float)((double)x / (1.0 + exp(-(double)x)));
#else
  return x / (1.0f + std::exp(-x));
#endif
}

KILN_UNARY_FN(Exp, exp_f32(x))
KILN_UNARY_FN(Log, std::log(x))
KILN_UNARY_FN(Sqrt, std::sqrt(x))
KILN_UNARY_FN(Rsqrt, 1.0f / std::sqrt(x))
KILN_UNARY_FN(Reciprocal, 1.0f / x)
KILN_UNARY_FN(Sin, std::sin(x))
KILN_UNARY_FN(Cos, std::cos(x))
KILN_UNARY_FN(Tanh, std::tanh(x))
KILN_UNARY_FN(Sigmoid, sigmoid_f32(x))
KILN_UNARY_FN(Erf, std::erf(x))
KILN_UNARY_FN(Silu, silu_f32(x))
// Tan, the inverse trigonometric functions and the hyperbolic ones but Tanh (vmath.h) compute in
// float64 and round once: CUDA documents 2-4 ulp for its asinf, sinhf, tanf..., while the float64
// functions give the nearest float32 in all but rare near-halfway cases, alike on the CPU and CUDA
// (cost: a double libm call per element; sm_80 and sm_90 run FP64 at half the FP32 rate). float16
// and bfloat16 round that float32 again on store: at most 2^-24 relative beyond one rounding.
#define KILN_UNARY_F64(Name, fn) KILN_UNARY_FN(Name, V(fn(double(x))))
KILN_UNARY_F64(Asin, std::asin)
KILN_UNARY_F64(Acos, std::acos)
KILN_UNARY_F64(Atan, std::atan)
KILN_UNARY_F64(Sinh, std::sinh)
KILN_UNARY_F64(Cosh, std::cosh)
KILN_UNARY_F64(Tan, std::tan)
KILN_UNARY_F64(Asinh, std::asinh)
KILN_UNARY_F64(Acosh, std::acosh)
KILN_UNARY_F64(Atanh, std::atanh)
KILN_UNARY_FN(Floor, floor_f(x))
KILN_UNARY_FN(Ceil, ceil_f(x))
KILN_UNARY_FN(Round, round_even(x))
// NaN stays NaN (x < 0 is false for it), as in torch.relu and np.maximum(x, 0).
KILN_UNARY_FN(Relu, x < V(0) ? V(0) : x)
// 0, -0 and NaN map to themselves (np.sign); integers give -1, 0, 1.
KILN_UNARY_FN(Sign, x > V(0) ? V(1) : x < V(0) ? V(-1) : x)
KILN_UNARY_FN(Not, V(!x))

template <typename V> struct Neg {
  KILN_HD V operator()(V x) const {
    if constexpr (std::is_integral<V>::value) return wrap_neg(x);
    else return -x;
  }
};

template <typename V> struct Abs {
  KILN_HD V operator()(V x) const {
    if constexpr (std::is_floating_point<V>::value) return std::fabs(x);
    else if constexpr (std::is_signed<V>::value) return x < 0 ? wrap_neg(x) : x;
    else return x;
  }
};

// The GELU formulas in scalar float32 (the Gelu op's, and the matmul epilogue's without vmath.h).
KILN_HD float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f)); }
KILN_HD float gelu_tanh(float x) { return 0.5f * x * (1.0f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x))); }

template <typename V> struct Gelu {
  bool tanh_approx = false;
  explicit Gelu(const Attrs& a) {
    std::string s = a.str("approximate", "none");
    if (s != "none" && s != "tanh") fail("E_ARGUMENT", "Gelu: approximate must be 'none' or 'tanh', got '" + s + "'");
    tanh_approx = s == "tanh";
  }
  KILN_HD V operator()(V x) const { return tanh_approx ? gelu_tanh(x) : gelu_erf(x); }
};

template <typename V> struct LeakyRelu {
  V alpha;
  explicit LeakyRelu(const Attrs& a) : alpha((V)a.num("alpha", 0.01)) {}
  // A select (ONNX's and the WGSL kernel's definition): NaN and -0 map to themselves, and x >= 0 to x
  // whatever alpha is. (max(x, 0) + alpha * min(x, 0), the branch-free form this replaced, gave NaN
  // for every x >= 0 with an infinite or NaN alpha.) With -fno-trapping-math (CMakeLists.txt) GCC
  // vectorizes it as a multiply, a compare and a blend.
  KILN_HD V operator()(V x) const { return x < V(0) ? alpha * x : x; }
};

// Integer bounds round inward (min up, max down) and saturate to the type, so +-Infinity and
// out-of-range bounds mean "no bound". min > max gives max everywhere (NumPy, ONNX).
template <typename V> struct Clip {
  V lo, hi;
  explicit Clip(const Attrs& a) {
    double mn = a.num("min", -INFINITY), mx = a.num("max", INFINITY);
    if (std::isnan(mn) || std::isnan(mx)) fail("E_ARGUMENT", "Clip: min and max must not be NaN");
    if constexpr (std::is_floating_point<V>::value) lo = (V)mn, hi = (V)mx;
    else lo = saturate(std::ceil(mn)), hi = saturate(std::floor(mx));
  }
  static V saturate(double v) {
    if (v <= (double)std::numeric_limits<V>::lowest()) return std::numeric_limits<V>::lowest();
    if (v >= (double)std::numeric_limits<V>::max()) return std::numeric_limits<V>::max();
    return (V)v;
  }
  KILN_HD V operator()(V x) const {
    V y = x < lo ? lo : x;
    return y > hi ? hi : y;
  }
};

template <typename V> constexpr bool is_int = std::is_integral<V>::value;

#define KILN_WRAPPING(Name, op)                                                   \
  template <typename V> struct Name {                                             \
    KILN_HD V operator()(V a, V b) const {                                        \
      if constexpr (is_int<V>) return (V)(uns_t<V>)((uns_t<V>)a op (uns_t<V>)b); \
      else return a op b;                                                         \
    }                                                                             \
  };
KILN_WRAPPING(Add, +)
KILN_WRAPPING(Sub, -)
KILN_WRAPPING(Mul, *)

template <typename V> struct Div {
  KILN_HD V operator()(V a, V b) const {
    if constexpr (is_int<V>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed<V>::value)
        if (b == -1) return wrap_neg(a);
      return a / b;
    } else {
      return a / b;
    }
  }
};

// fmod for float32 operands. On the host, exact through float64 while |a / b| < 2^24: a and b are
// then both multiples of 2^(e - 23), e = b's exponent, so a non-integer a / b lies at least 2^-24
// from any integer n < 2^24 (a relative 2^-48, far above float64's rounding), trunc(a / b) is the
// true quotient q, and q * b (48 bits) and a - q * b (< |b|) are exact. libm's fmodf beyond that
// (larger quotients, infinities, NaN, b = 0), and on a GPU. Measured: Mod on 2^20 float32 pairs,
// 18-23 -> 8-12 ns per element on the build VM with one branchy loop; contiguous runs now take two
// passes (Mod::fast for every element, then Mod itself where !fmod_fast_ok), which vectorize
// (-fno-trapping-math, CMakeLists.txt): 12-18 -> 3-7 ns per element, interleaved runs, a loaded host.
KILN_HD bool fmod_fast_ok(float a, float b) {
  const double x = a, y = b;
  return std::fabs(x) < 16777216.0 * std::fabs(y) && std::fabs(y) <= 3.4028234663852886e38;
}
// Exact where fmod_fast_ok; a finite value of no meaning elsewhere. Branch-free: the quotient is
// zeroed past 2^31 (an out-of-range cast is undefined) rather than tested.
KILN_HD float fmod_fast(float a, float b) {
  const double x = a, y = b, q = x / y;
  const double t = std::fabs(q) < 2147483648.0 ? q : 0.0;
  const double r = x - (double)(int32_t)t * y;  // the cast truncates (trunc is a libm call without SSE4.1)
  return r == 0 ? std::copysign(0.0f, a) : (float)r;
}
KILN_HD float fmod_f32(float a, float b) {
#if !defined(__CUDA_ARCH__)
  if (fmod_fast_ok(a, b)) return fmod_fast(a, b);
#endif
  return std::fmod(a, b);
}

template <typename V> struct Mod {
  KILN_HD V operator()(V a, V b) const {
    if constexpr (is_int<V>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed<V>::value) {
        if (b == -1) return 0;
        V r = a % b;
        return r != 0 && ((r < 0) != (b < 0)) ? V(r + b) : r;
      }
      return a % b;
    } else {
      return to_divisor_sign(fmod_f32(a, b), b);
    }
  }
  // Floats on contiguous runs (elementwise_map.h): fast() for every element, then operator() again
  // where !fast_ok(), so the common case is a loop without calls or branches.
  static constexpr bool kTwoPass = !is_int<V>;
  KILN_HD V fast(V a, V b) const { return to_divisor_sign(fmod_fast(a, b), b); }
  KILN_HD bool fast_ok(V a, V b) const { return fmod_fast_ok(a, b); }

 private:
  // NumPy's mod from C's fmod: a non-zero remainder takes b's sign, a zero one is ±0 with b's sign.
  KILN_HD static V to_divisor_sign(V r, V b) {
    if (r != 0) return (r < 0) != (b < 0) ? r + b : r;
    return std::copysign(V(0), b);
  }
};

template <typename V> struct Pow {
  KILN_HD V operator()(V a, V b) const {
    if constexpr (is_int<V>) {
      if constexpr (std::is_signed<V>::value)
        if (b < 0) return a == 1 ? V(1) : a == -1 ? V((b & 1) ? -1 : 1) : V(0);
      uns_t<V> r = 1, base = (uns_t<V>)a, e = (uns_t<V>)b;
      for (; e; e >>= 1, base = (uns_t<V>)(base * base))
        if (e & 1) r = (uns_t<V>)(r * base);
      return (V)r;
    } else {
      return std::pow(a, b);
    }
  }
};

// a != a is the NaN test that still vectorizes (std::isnan is a call without -ffast-math). Equal
// operands give a, as NumPy's maximum and minimum (np.where(a >= b, a, b)), onnxruntime's Max and
// the WGSL kernels do: max(-0, +0) is -0 and max(+0, -0) is +0 on every device.
template <typename V> struct Max {
  KILN_HD V operator()(V a, V b) const { return (a >= b || a != a) ? a : b; }
};
template <typename V> struct Min {
  KILN_HD V operator()(V a, V b) const { return (a <= b || a != a) ? a : b; }
};

#define KILN_BOOL_RESULT(Name, expr)                                          \
  template <typename V> struct Name {                                         \
    KILN_HD uint8_t operator()(V a, V b) const { return (uint8_t)(expr); }    \
  };
KILN_BOOL_RESULT(Equal, a == b)
KILN_BOOL_RESULT(NotEqual, a != b)
KILN_BOOL_RESULT(Less, a < b)
KILN_BOOL_RESULT(LessOrEqual, a <= b)
KILN_BOOL_RESULT(Greater, a > b)
KILN_BOOL_RESULT(GreaterOrEqual, a >= b)
// Bool inputs load as exactly 0 or 1, so the bitwise forms are the logical ones.
KILN_BOOL_RESULT(And, a & b)
KILN_BOOL_RESULT(Or, a | b)
KILN_BOOL_RESULT(Xor, a ^ b)

#define KILN_BITWISE(Name, op)                                              \
  template <typename V> struct Name {                                       \
    KILN_HD V operator()(V a, V b) const { return (V)(a op b); }            \
  };
KILN_BITWISE(BitwiseAnd, &)
KILN_BITWISE(BitwiseOr, |)
KILN_BITWISE(BitwiseXor, ^)
KILN_UNARY_FN(BitwiseNot, V(~x))

template <typename V> struct BitShift {
  bool left = true;
  explicit BitShift(const Attrs& a) {
    const std::string& d = a.str("direction");
    if (d != "LEFT" && d != "RIGHT") fail("E_ARGUMENT", "BitShift: direction must be 'LEFT' or 'RIGHT', got '" + d + "'");
    left = d == "LEFT";
  }
  KILN_HD V operator()(V a, V b) const {
    using U = uns_t<V>;
    // A negative amount turns into a huge unsigned one, so it shifts everything out too (NumPy).
    const bool in_range = (U)b < (U)(8 * sizeof(V));
    if (left) return in_range ? (V)(U)((U)a << (U)b) : V(0);
    if constexpr (std::is_signed<V>::value) {
      // ~(~a >> b) shifts the ones of a negative a without C++17's implementation-defined >>.
      if (a < 0) return in_range ? V(~(V(~a) >> b)) : V(-1);
    }
    return in_range ? V(a >> b) : V(0);
  }
};

template <typename U> struct Select {
  KILN_HD U operator()(uint8_t c, U x, U y) const { return c ? x : y; }
};

}  // namespace ops

// Every elementwise op once: X(name, functor, dtype classes, arity, bool output). Each device
// expands the list with its own registration macro, so the op set cannot differ between devices.
#define KILN_ELEMENTWISE_OPS(X)                 \
  X(Exp, ops::Exp, kFloat, 1, false)            \
  X(Log, ops::Log, kFloat, 1, false)            \
  X(Sqrt, ops::Sqrt, kFloat, 1, false)          \
  X(Rsqrt, ops::Rsqrt, kFloat, 1, false)        \
  X(Reciprocal, ops::Reciprocal, kFloat, 1, false) \
  X(Sin, ops::Sin, kFloat, 1, false)            \
  X(Cos, ops::Cos, kFloat, 1, false)            \
  X(Tanh, ops::Tanh, kFloat, 1, false)          \
  X(Sigmoid, ops::Sigmoid, kFloat, 1, false)    \
  X(Erf, ops::Erf, kFloat, 1, false)            \
  X(Silu, ops::Silu, kFloat, 1, false)          \
  X(Floor, ops::Floor, kFloat, 1, false)        \
  X(Ceil, ops::Ceil, kFloat, 1, false)          \
  X(Round, ops::Round, kFloat, 1, false)        \
  X(Asin, ops::Asin, kFloat, 1, false)          \
  X(Acos, ops::Acos, kFloat, 1, false)          \
  X(Atan, ops::Atan, kFloat, 1, false)          \
  X(Sinh, ops::Sinh, kFloat, 1, false)          \
  X(Cosh, ops::Cosh, kFloat, 1, false)          \
  X(Tan, ops::Tan, kFloat, 1, false)            \
  X(Asinh, ops::Asinh, kFloat, 1, false)        \
  X(Acosh, ops::Acosh, kFloat, 1, false)        \
  X(Atanh, ops::Atanh, kFloat, 1, false)        \
  X(Gelu, ops::Gelu, kFloat, 1, false)          \
  X(LeakyRelu, ops::LeakyRelu, kFloat, 1, false) \
  X(Neg, ops::Neg, kFloat | kSigned, 1, false)  \
  X(Abs, ops::Abs, kNumeric, 1, false)          \
  X(Relu, ops::Relu, kNumeric, 1, false)        \
  X(Sign, ops::Sign, kNumeric, 1, false)        \
  X(Clip, ops::Clip, kNumeric, 1, false)        \
  X(Not, ops::Not, kBool, 1, false)             \
  X(BitwiseNot, ops::BitwiseNot, kInt, 1, false) \
  X(Add, ops::Add, kNumeric, 2, false)          \
  X(Sub, ops::Sub, kNumeric, 2, false)          \
  X(Mul, ops::Mul, kNumeric, 2, false)          \
  X(Div, ops::Div, kNumeric, 2, false)          \
  X(Pow, ops::Pow, kNumeric, 2, false)          \
  X(Max, ops::Max, kNumeric, 2, false)          \
  X(Min, ops::Min, kNumeric, 2, false)          \
  X(Mod, ops::Mod, kNumeric, 2, false)          \
  X(Equal, ops::Equal, kAll, 2, true)           \
  X(NotEqual, ops::NotEqual, kAll, 2, true)     \
  X(Less, ops::Less, kAll, 2, true)             \
  X(LessOrEqual, ops::LessOrEqual, kAll, 2, true) \
  X(Greater, ops::Greater, kAll, 2, true)       \
  X(GreaterOrEqual, ops::GreaterOrEqual, kAll, 2, true) \
  X(And, ops::And, kBool, 2, true)              \
  X(Or, ops::Or, kBool, 2, true)                \
  X(Xor, ops::Xor, kBool, 2, true)              \
  X(BitwiseAnd, ops::BitwiseAnd, kInt, 2, false) \
  X(BitwiseOr, ops::BitwiseOr, kInt, 2, false)  \
  X(BitwiseXor, ops::BitwiseXor, kInt, 2, false) \
  X(BitShift, ops::BitShift, kInt, 2, false)

}  // namespace kiln
