// Binary elementwise kernels: Y[...] = f(A[...], B[...]), A and B broadcast to Y's shape by the front
// end (stride 0 along broadcast dims), A and B of one dtype.
//   Add Sub Mul Div Pow Max Min Mod:  float, int32, int64, uint8 -> the same dtype
//   Equal NotEqual Less LessOrEqual Greater GreaterOrEqual: any dtype -> bool
//   And Or Xor: bool -> bool
//   Where(C bool, X, Y) -> Z: any dtype, moved as raw bits (float16 NaN payloads survive)
// Floats compute in float32 (float16/bfloat16 round once on store). Integer semantics never trap
// and never hit undefined behaviour: Add/Sub/Mul wrap; Div truncates toward zero; Mod takes the
// divisor's sign (Python's %); x/0 and x%0 give 0; INT_MIN/-1 wraps to INT_MIN and INT_MIN%-1 is 0;
// Pow squares repeatedly and wraps, with a negative exponent giving 0 unless the base is 1 or -1.
// Float Max/Min propagate NaN (np.maximum); float Mod is np.mod (fmod moved to the divisor's sign,
// a zero result carries the divisor's sign). Loops come from elementwise_map.h: a scalar operand
// (stride 0) gets its own vectorized loop, which is the common `x * 0.5` case.
// Bench alone: as in unary.cc, with two inputs (`a.launch('Add',[v,v],[o],{})`); Add at 3 x 4 bytes
// per element is a memory-bandwidth test.
#include <cmath>

#include "elementwise_map.h"

namespace kiln {
namespace {

template <typename V> constexpr bool is_int = std::is_integral<V>::value;

#define KILN_WRAPPING(Name, op)                                                   \
  template <typename V> struct Name {                                             \
    V operator()(V a, V b) const {                                                \
      if constexpr (is_int<V>) return (V)(uns_t<V>)((uns_t<V>)a op (uns_t<V>)b); \
      else return a op b;                                                         \
    }                                                                             \
  };
KILN_WRAPPING(Add, +)
KILN_WRAPPING(Sub, -)
KILN_WRAPPING(Mul, *)

template <typename V> struct Div {
  V operator()(V a, V b) const {
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

template <typename V> struct Mod {
  V operator()(V a, V b) const {
    if constexpr (is_int<V>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed<V>::value) {
        if (b == -1) return 0;
        V r = a % b;
        return r != 0 && ((r < 0) != (b < 0)) ? V(r + b) : r;
      }
      return a % b;
    } else {
      V r = std::fmod(a, b);
      if (r != 0) return (r < 0) != (b < 0) ? r + b : r;
      return std::copysign(V(0), b);
    }
  }
};

template <typename V> struct Pow {
  V operator()(V a, V b) const {
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

// a != a is the NaN test that still vectorizes (std::isnan is a call without -ffast-math).
template <typename V> struct Max {
  V operator()(V a, V b) const { return (a > b || a != a) ? a : b; }
};
template <typename V> struct Min {
  V operator()(V a, V b) const { return (a < b || a != a) ? a : b; }
};

#define KILN_BOOL_RESULT(Name, expr)                                          \
  template <typename V> struct Name {                                         \
    uint8_t operator()(V a, V b) const { return (uint8_t)(expr); }            \
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

#define KILN_BINARY(Name, mask, bool_out) KILN_ELEMENTWISE(#Name, Name, mask, 2, bool_out)

KILN_BINARY(Add, kNumeric, false);
KILN_BINARY(Sub, kNumeric, false);
KILN_BINARY(Mul, kNumeric, false);
KILN_BINARY(Div, kNumeric, false);
KILN_BINARY(Pow, kNumeric, false);
KILN_BINARY(Max, kNumeric, false);
KILN_BINARY(Min, kNumeric, false);
KILN_BINARY(Mod, kNumeric, false);
KILN_BINARY(Equal, kAll, true);
KILN_BINARY(NotEqual, kAll, true);
KILN_BINARY(Less, kAll, true);
KILN_BINARY(LessOrEqual, kAll, true);
KILN_BINARY(Greater, kAll, true);
KILN_BINARY(GreaterOrEqual, kAll, true);
KILN_BINARY(And, kBool, true);
KILN_BINARY(Or, kBool, true);
KILN_BINARY(Xor, kBool, true);

template <typename U> struct Select {
  U operator()(uint8_t c, U x, U y) const { return c ? x : y; }
};

void where_run(const KernelArgs& a) {
  dispatch_bits(a.out[0].dtype, [&](auto tag) {
    using U = decltype(tag);
    map_views<U, kbool, U, U>(a.out[0], {&a.in[0], &a.in[1], &a.in[2]}, Select<U>{});
  });
}

void where_check(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, 3, 1);
  expect_same_shape(op, a);
  DType t = a.out[0].dtype;
  if (a.in[0].dtype != DType::Bool || a.in[1].dtype != t || a.in[2].dtype != t) unsupported(op, a);
}

KILN_CPU_KERNEL("Where", where_run, where_check);

}  // namespace
}  // namespace kiln
