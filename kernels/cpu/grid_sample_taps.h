// GridSample's tap math for one spatial dim of one output position: the one definition behind the
// CPU kernel (grid_sample.cc) and the CUDA kernel (kernels/cuda/grid_sample.cu); grid_sample.wgsl
// spells the same steps out in WGSL. Under nvcc KILN_HD makes these __host__ __device__.
//   unnormalize  the grid value g in [-1, 1] -> a coordinate in X's pixels, in float32, in
//                onnxruntime's order of operations (so taps split at the same coordinates):
//                align_corners: ((g + 1) * 0.5) * (size - 1); else (((g + 1) * size) - 1) * 0.5
//   taps         linear: floor(x) + {0, 1}, weights 1 - f and f (f = x - floor(x));
//                cubic: floor(x) + {-1, 0, 1, 2}, Keys' weights (A = -0.75) of d = |x - tap|;
//                nearest: round(x) half to even, one tap
//   padding      applied to each integer tap: zeros (a tap outside X reads 0), border (clamped),
//                reflection (mirrored with a period of 2 (size - 1) with align_corners, of 2 size
//                without: the borders are the corner pixels' centers, or their outer edges)
// Each float operation rounds to float32 on its own: the CPU build has -ffp-contract=off, and device
// code goes through __fmul_rn / __fadd_rn, which nvcc never fuses into an FMA.
#pragma once
#include <cmath>
#include <cstdint>

#include "elementwise_ops.h"  // ops::floor_f, ops::round_even; KILN_HD

namespace kiln {
namespace gs {

enum Mode : int { kLinear = 0, kNearest = 1, kCubic = 2 };
enum Padding : int { kZeros = 0, kBorder = 1, kReflection = 2 };

constexpr int taps_per_dim(int mode) { return mode == kNearest ? 1 : mode == kLinear ? 2 : 4; }

KILN_HD float fmul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
KILN_HD float fadd(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
KILN_HD float fsub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

KILN_HD float unnormalize(float g, int64_t size, bool align) {
  return align ? fmul(fmul(fadd(g, 1.0f), 0.5f), (float)(size - 1)) : fmul(fsub(fmul(fadd(g, 1.0f), (float)size), 1.0f), 0.5f);
}

// A tap (a float32 whole number, an infinity or NaN) as an integer: NaN -> 0, saturating at the
// int64 range (Cast's rule for float -> int64).
KILN_HD int64_t to_index(float t) {
  if (t != t) return 0;
  if (t >= 9223372036854775808.0f) return INT64_MAX;
  if (t <= -9223372036854775808.0f) return INT64_MIN;
  return (int64_t)t;
}

// Where tap t reads along a dim of `size` (>= 1), in [0, size); `inside` is false for a zeros-padded
// tap outside X (NaN included), which reads 0.
KILN_HD int64_t pad_tap(float t, int64_t size, int padding, bool align, bool& inside) {
  const int64_t last = size - 1;
  inside = true;
  if (padding == kZeros) {
    inside = t >= 0.0f && t <= (float)last;
    const int64_t i = to_index(t);
    return inside ? (i < last ? i : last) : 0;
  }
  const int64_t i = to_index(t);
  if (padding == kBorder || size == 1) return i < 0 ? 0 : i > last ? last : i;
  const int64_t period = align ? 2 * last : 2 * size;
  int64_t m = i % period;
  if (m < 0) m += period;
  return m < size ? m : (align ? period : period - 1) - m;
}

// pad_tap's zeros and border rules for a dim of fewer than 2^24 positions (`last` = size - 1, exact in
// float32), without branches or 64-bit conversions, so that loops over positions vectorize (the
// CPU kernel's fill): the same results.
constexpr int64_t kSmallDim = int64_t(1) << 24;
KILN_HD int32_t zeros_tap(float t, float last, bool& inside) {
  inside = t >= 0.0f && t <= last;
  return (int32_t)(inside ? t : 0.0f);
}
KILN_HD int32_t border_tap(float t, float last) {
  const float lo = last < t ? last : t;  // NaN stays NaN here ...
  return (int32_t)(0.0f < lo ? lo : 0.0f);  // ... and becomes 0 here, as -inf does
}

// Keys' cubic convolution kernel (A = -0.75), for the two inner taps (d < 1) and the outer two.
constexpr float kCubicA = -0.75f;
KILN_HD float cubic_inner(float d) {  // ((d (A + 2) - (A + 3)) d) d + 1
  return fadd(fmul(fmul(fsub(fmul(d, kCubicA + 2.0f), kCubicA + 3.0f), d), d), 1.0f);
}
KILN_HD float cubic_outer(float d) {  // (((d A - 5A) d + 8A) d - 4A
  return fsub(fmul(fadd(fmul(fsub(fmul(d, kCubicA), 5.0f * kCubicA), d), 8.0f * kCubicA), d), 4.0f * kCubicA);
}

// The first tap's position (floor, or round half to even for nearest), tap k's, and tap k's weight.
template <int MODE> KILN_HD float base_of(float x) { return MODE == kNearest ? ops::round_even(x) : ops::floor_f(x); }
template <int MODE> KILN_HD float tap_of(float base, int k) { return fadd(base, MODE == kCubic ? (float)(k - 1) : (float)k); }
template <int MODE> KILN_HD float weight_of(float x, float base, float tap, int k) {
  if (MODE == kLinear) {
    const float f = fsub(x, base);  // exact: the upper tap's weight
    return k == 0 ? fsub(1.0f, f) : f;
  }
  const float d = std::fabs(fsub(x, tap));
  return k == 1 || k == 2 ? cubic_inner(d) : cubic_outer(d);
}

// One dim's taps at grid value g: index[k] in [0, size), weight[k] (not for nearest), inside[k].
template <int MODE>
KILN_HD void dim_taps(float g, int64_t size, int padding, bool align, int64_t* index, float* weight, bool* inside) {
  const float x = unnormalize(g, size, align);
  const float base = base_of<MODE>(x);
  for (int k = 0; k < taps_per_dim(MODE); ++k) {
    const float tap = tap_of<MODE>(base, k);
    index[k] = pad_tap(tap, size, padding, align, inside[k]);
    if (MODE != kNearest) weight[k] = weight_of<MODE>(x, base, tap, k);
  }
}

}  // namespace gs
}  // namespace kiln
