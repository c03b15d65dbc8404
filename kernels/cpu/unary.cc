// Unary elementwise kernels: Y[...] = f(X[...]), X and Y of one shape and one dtype.
//   float only:      Exp Log Sqrt Rsqrt Reciprocal Sin Cos Tanh Sigmoid Erf Silu Floor Ceil Round
//                    Gelu (approximate 'none' | 'tanh'), LeakyRelu (alpha, default 0.01)
//   float, int32, int64:        Neg
//   float, int32, int64, uint8: Abs Relu Sign Clip (min, max; default -inf, +inf)
//   bool:            Not
// float16 and bfloat16 load to float32, compute there and round once on store. Integer Neg and
// Abs wrap at the type's minimum (Abs(INT_MIN) == INT_MIN, as in NumPy) without undefined
// behaviour. Each op is one functor; elementwise_map.h gives it a vectorizable loop for contiguous
// and broadcast runs and a strided loop for everything else. libm calls (exp, erf, ...) stay scalar:
// the build does not enable -ffast-math, which vector libm needs.
// Bench alone (memory-bound except the transcendental ones):
//   node -e "const a=require('./build/Release/kiln.node'),n=1<<24,x=a.alloc(4*n),y=a.alloc(4*n),
//     v={buf:x,offset:0,shape:[n],strides:[1],dtype:0},o={...v,buf:y};let t=process.hrtime.bigint();
//     for(let i=0;i<20;i++)a.launch('Exp',[v],[o],{});a.read(y,0,new Float32Array(1)).then(()=>
//     console.log(Number(process.hrtime.bigint()-t)/20e6,'ms'))"
#include <cmath>

#include "elementwise_map.h"

namespace kiln {
namespace {

// Floor, Ceil and Round without libm calls (SSE2 has no round instruction, so floorf and friends
// are calls, 2-3x slower than the loop below): adding and removing 2^23 rounds |x| < 2^23 to an
// integer, half to even in the default rounding mode (which Node never changes); larger |x|, inf
// and NaN are integral already. The selects go through lane masks because, under -ftrapping-math
// (the default), GCC keeps `c ? x - 1 : x` as a branch, which random data mispredicts half the time.
inline float select_f(bool c, float a, float b) {
  uint32_t m = 0u - (uint32_t)c;
  return f32_from_bits((bits_from_f32(a) & m) | (bits_from_f32(b) & ~m));
}
inline float round_even(float x) {
  float a = std::fabs(x);
  return select_f(a < 8388608.0f, std::copysign((a + 8388608.0f) - 8388608.0f, x), x);
}
// A zero floor or ceil has x's sign (ceil(-0.5) == -0), hence the copysign.
inline float floor_f(float x) {
  float r = round_even(x);
  return std::copysign(select_f(r > x, r - 1.0f, r), x);
}
inline float ceil_f(float x) {
  float r = round_even(x);
  return std::copysign(select_f(r < x, r + 1.0f, r), x);
}

#define KILN_UNARY_FN(Name, expr)                  \
  template <typename V> struct Name {              \
    V operator()(V x) const { return expr; }       \
  };

KILN_UNARY_FN(Exp, std::exp(x))
KILN_UNARY_FN(Log, std::log(x))
KILN_UNARY_FN(Sqrt, std::sqrt(x))
KILN_UNARY_FN(Rsqrt, 1.0f / std::sqrt(x))
KILN_UNARY_FN(Reciprocal, 1.0f / x)
KILN_UNARY_FN(Sin, std::sin(x))
KILN_UNARY_FN(Cos, std::cos(x))
KILN_UNARY_FN(Tanh, std::tanh(x))
KILN_UNARY_FN(Sigmoid, 1.0f / (1.0f + std::exp(-x)))
KILN_UNARY_FN(Erf, std::erf(x))
KILN_UNARY_FN(Silu, x / (1.0f + std::exp(-x)))
KILN_UNARY_FN(Floor, floor_f(x))
KILN_UNARY_FN(Ceil, ceil_f(x))
KILN_UNARY_FN(Round, round_even(x))
// NaN stays NaN (x < 0 is false for it), as in torch.relu and np.maximum(x, 0).
KILN_UNARY_FN(Relu, x < V(0) ? V(0) : x)
// 0, -0 and NaN map to themselves (np.sign); integers give -1, 0, 1.
KILN_UNARY_FN(Sign, x > V(0) ? V(1) : x < V(0) ? V(-1) : x)
KILN_UNARY_FN(Not, V(!x))

template <typename V> struct Neg {
  V operator()(V x) const {
    if constexpr (std::is_integral<V>::value) return wrap_neg(x);
    else return -x;
  }
};

template <typename V> struct Abs {
  V operator()(V x) const {
    if constexpr (std::is_floating_point<V>::value) return std::fabs(x);
    else if constexpr (std::is_signed<V>::value) return x < 0 ? wrap_neg(x) : x;
    else return x;
  }
};

template <typename V> struct Gelu {
  bool tanh_approx = false;
  explicit Gelu(const Attrs& a) {
    std::string s = a.str("approximate", "none");
    if (s != "none" && s != "tanh") fail("E_ARGUMENT", "Gelu: approximate must be 'none' or 'tanh', got '" + s + "'");
    tanh_approx = s == "tanh";
  }
  V operator()(V x) const {
    if (tanh_approx) return 0.5f * x * (1.0f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f));
  }
};

template <typename V> struct LeakyRelu {
  V alpha;
  explicit LeakyRelu(const Attrs& a) : alpha((V)a.num("alpha", 0.01)) {}
  // Branch-free so the loop vectorizes: under -ftrapping-math (the default) GCC will not turn
  // `x < 0 ? alpha * x : x` into a select, because the multiply would then run speculatively.
  // Same results, NaN and -0 included: one of max/min is 0 (or -0) and adds exactly.
  V operator()(V x) const { return std::max(x, V(0)) + alpha * std::min(x, V(0)); }
};

// Integer bounds round inward (min up, max down) and saturate to the type, so +-Infinity and
// out-of-range bounds mean "no bound". min > max gives max everywhere (NumPy, ONNX).
template <typename V> struct Clip {
  V lo, hi;
  explicit Clip(const Attrs& a) {
    double mn = a.num("min", -INFINITY), mx = a.num("max", INFINITY);
    if (std::isnan(mn) || std::isnan(mx)) fail("E_ARGUMENT", "Clip: min and max must not be NaN");
    if constexpr (std::is_floating_point<V>::value) lo = (V)mn, hi = (V)mx;
    else lo = saturate_cast<V>(std::ceil(mn)), hi = saturate_cast<V>(std::floor(mx));
  }
  V operator()(V x) const {
    V y = x < lo ? lo : x;
    return y > hi ? hi : y;
  }
};

#define KILN_UNARY(Name, mask) KILN_ELEMENTWISE(#Name, Name, mask, 1, false)

KILN_UNARY(Exp, kFloat);
KILN_UNARY(Log, kFloat);
KILN_UNARY(Sqrt, kFloat);
KILN_UNARY(Rsqrt, kFloat);
KILN_UNARY(Reciprocal, kFloat);
KILN_UNARY(Sin, kFloat);
KILN_UNARY(Cos, kFloat);
KILN_UNARY(Tanh, kFloat);
KILN_UNARY(Sigmoid, kFloat);
KILN_UNARY(Erf, kFloat);
KILN_UNARY(Silu, kFloat);
KILN_UNARY(Floor, kFloat);
KILN_UNARY(Ceil, kFloat);
KILN_UNARY(Round, kFloat);
KILN_UNARY(Gelu, kFloat);
KILN_UNARY(LeakyRelu, kFloat);
KILN_UNARY(Neg, kFloat | kSigned);
KILN_UNARY(Abs, kNumeric);
KILN_UNARY(Relu, kNumeric);
KILN_UNARY(Sign, kNumeric);
KILN_UNARY(Clip, kNumeric);
KILN_UNARY(Not, kBool);

}  // namespace
}  // namespace kiln
