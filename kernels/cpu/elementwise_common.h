// The CPU kernels' shared toolkit: storage types per dtype, their float32/int compute types, exact
// conversions, a dtype dispatcher, and parallel strided loops over one or more views.
#pragma once
#include <cmath>
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "dtype.h"
#include "error.h"
#include "kernel.h"
#include "threadpool.h"
#include "view.h"

namespace kiln {

// bool is stored as one byte, 0 or 1 (a C++ bool may not hold other bit patterns).
struct kbool { uint8_t v; };

// Storage type -> the type arithmetic happens in. Half types compute in float32.
template <typename T> struct acc { using type = T; };
template <> struct acc<half> { using type = float; };
template <> struct acc<bfloat16> { using type = float; };
template <> struct acc<kbool> { using type = uint8_t; };
template <typename T> using acc_t = typename acc<T>::type;

template <typename T> inline acc_t<T> load(const T* p) { return *p; }
template <> inline float load<half>(const half* p) { return half_to_float(p->bits); }
template <> inline float load<bfloat16>(const bfloat16* p) { return bf16_to_float(p->bits); }
template <> inline uint8_t load<kbool>(const kbool* p) { return p->v != 0; }

template <typename T> inline void store(T* p, acc_t<T> v) { *p = v; }
template <> inline void store<half>(half* p, float v) { p->bits = float_to_half(v); }
template <> inline void store<bfloat16>(bfloat16* p, float v) { p->bits = float_to_bf16(v); }
template <> inline void store<kbool>(kbool* p, uint8_t v) { p->v = v != 0; }

template <typename T> constexpr bool is_float_type() {
  return std::is_same<T, float>::value || std::is_same<T, half>::value || std::is_same<T, bfloat16>::value;
}

// Float -> integer conversion is defined for every input: truncation toward zero, saturating at the
// type's range, NaN -> 0 (C++ leaves these undefined; Kiln documents them in the README).
template <typename I> inline I saturate_cast(double v) {
  if (std::isnan(v)) return 0;
  if (v <= (double)std::numeric_limits<I>::lowest()) return std::numeric_limits<I>::lowest();
  if (v >= (double)std::numeric_limits<I>::max()) return std::numeric_limits<I>::max();
  return (I)v;
}

// double -> float rounded to odd (the truncated float with its last bit forced to 1 when inexact).
// Rounding that float again to float16/bfloat16 then equals one correct rounding of the double,
// because float keeps at least 13 more bits than either target; a plain (float) cast would round twice.
inline float double_to_float_odd(double d) {
  float f = (float)d;
  if (std::isnan(d) || std::isinf(f) || (double)f == d) return f;
  uint32_t b = bits_from_f32(f);
  if (!(b & 1u)) b += (std::fabs((double)f) > std::fabs(d)) ? -1 : 1;  // step to the odd neighbour on d's side
  return f32_from_bits(b);
}

// int64 -> float rounded to odd, for the same purpose: (double)v itself rounds past 2^53, so going
// through double would round twice (2^62 + 2^54 + 1 gave bfloat16 2^62, not 2^62 + 2^55).
inline float int64_to_float_odd(int64_t v) {
  const float f = (float)v;         // one rounding
  const __int128 w = (__int128)f;   // exact: |f| <= 2^63
  if (w == v) return f;
  const __int128 av = v < 0 ? -(__int128)v : (__int128)v, aw = w < 0 ? -w : w;
  uint32_t b = bits_from_f32(f);
  if (!(b & 1u)) b += aw > av ? -1 : 1;  // step to the odd neighbour on v's side
  return f32_from_bits(b);
}

// A float64 value stored in T with a single rounding (nearest even); integers as saturate_cast.
template <typename T> inline T from_double(double v) {
  if constexpr (std::is_same<T, float>::value) return (float)v;
  else if constexpr (std::is_same<T, half>::value) return half{float_to_half(double_to_float_odd(v))};
  else if constexpr (std::is_same<T, bfloat16>::value) return bfloat16{float_to_bf16(double_to_float_odd(v))};
  else if constexpr (std::is_same<T, kbool>::value) return kbool{(uint8_t)(v != 0)};
  else return saturate_cast<T>(v);
}

template <typename T> inline double to_double(T v) {
  if constexpr (std::is_same<T, half>::value) return half_to_float(v.bits);
  else if constexpr (std::is_same<T, bfloat16>::value) return bf16_to_float(v.bits);
  else if constexpr (std::is_same<T, kbool>::value) return v.v != 0;
  else return (double)v;
}

// Converts between storage types with the rules above (the Cast kernel's semantics).
template <typename To, typename From> inline To convert(From v) {
  if constexpr (std::is_same<To, From>::value) return v;
  else if constexpr (std::is_same<From, kbool>::value) return from_double<To>(v.v != 0);
  else if constexpr (std::is_same<To, float>::value && std::is_integral<From>::value) return (float)v;  // one rounding, also past 2^53
  else if constexpr (std::is_same<From, int64_t>::value && std::is_same<To, int32_t>::value) return (int32_t)v;  // wraps, like NumPy
  else if constexpr (std::is_same<To, kbool>::value) return kbool{(uint8_t)(to_double(v) != 0)};
  else if constexpr (is_float_type<To>() || is_float_type<From>()) return from_double<To>(to_double(v));
  else return (To)v;  // integer -> integer: two's-complement wrap, like NumPy
}

// Calls fn(T{}) with the storage type of `t`.
template <typename Fn> void dispatch_all(DType t, Fn&& fn) {
  switch (t) {
    case DType::F32: fn(float{}); return;
    case DType::F16: fn(half{}); return;
    case DType::BF16: fn(bfloat16{}); return;
    case DType::I32: fn(int32_t{}); return;
    case DType::I64: fn(int64_t{}); return;
    case DType::U8: fn(uint8_t{}); return;
    case DType::Bool: fn(kbool{}); return;
  }
  fail("E_DTYPE", "unknown dtype");
}

template <typename Fn> void dispatch_float(DType t, Fn&& fn) {
  switch (t) {
    case DType::F32: fn(float{}); return;
    case DType::F16: fn(half{}); return;
    case DType::BF16: fn(bfloat16{}); return;
    default: fail("E_DTYPE", std::string("expected a float dtype, got ") + dtype_name(t));
  }
}

// Grain for elementwise loops: below this many elements a kernel stays on one thread.
constexpr int64_t kElementwiseGrain = 1 << 15;

// fn(off) for every element offset of `v`, in parallel.
template <typename Fn> void for_each_index(const View& v, Fn&& fn) {
  Coalesced c = coalesce(v.shape, {&v.strides});
  parallel_for(v.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
    for_each_run<1>(c, b, e, [&](const int64_t* off, int64_t n, const int64_t* st) {
      for (int64_t i = 0; i < n; ++i) fn(off[0] + i * st[0]);
    });
  });
}

// Runs of N views that share one shape (inputs already broadcast to the output's shape with
// stride-0 dims). fn(offsets, count, inner_strides) is called per innermost run, in parallel.
template <size_t N, typename Fn> void for_each_run_parallel(const Dims& shape, const std::array<const Dims*, N>& strides, Fn&& fn) {
  std::vector<const Dims*> s(strides.begin(), strides.end());
  Coalesced c = coalesce(shape, s);
  int64_t n = 1;
  for (auto d : shape) n *= d;
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) { for_each_run<N>(c, b, e, fn); });
}

void expect_arity(const std::string& op, const KernelArgs& a, size_t nin, size_t nout);
void expect_same_shape(const std::string& op, const KernelArgs& a);  // every view has out[0]'s shape

}  // namespace kiln
