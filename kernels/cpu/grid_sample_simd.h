// grid_sample_rows.h's row loops written once over a gather trait S (grid_sample_avx2.cc,
// grid_sample_avx512.cc define it): S::kLanes positions per step, the tail in scalar steps of the
// same operations, so the results do not depend on where the vector steps end. Include only from
// files compiled with S's ISA flags.
#pragma once
#include <cstring>

#include "grid_sample_rows.h"

namespace kiln {
namespace gs {
namespace {

inline float keep_bits(float v, uint32_t keep) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u &= keep;
  std::memcpy(&v, &u, 4);
  return v;
}

template <class S>
void weighted_f32(const float* x, const int32_t* off, const float* w, const uint32_t* keep, int64_t ld, int kr, int64_t n, float* y) {
  int64_t i = 0;
  for (; i + S::kLanes <= n; i += S::kLanes) {
    typename S::V acc = S::zero();
    for (int k = 0; k < kr; ++k) {
      typename S::V v = S::gather(x, off + k * ld + i);
      if (keep) v = S::keep(v, keep + k * ld + i);
      const typename S::V term = S::mul(v, S::load(w + k * ld + i));
      acc = k == 0 ? term : S::add(acc, term);
    }
    S::store(y + i, acc);
  }
  for (; i < n; ++i) {
    float acc = 0.0f;
    for (int k = 0; k < kr; ++k) {
      float v = x[off[k * ld + i]];
      if (keep) v = keep_bits(v, keep[k * ld + i]);
      const float term = v * w[k * ld + i];
      acc = k == 0 ? term : acc + term;
    }
    y[i] = acc;
  }
}

template <class S>
void copy_b32(const uint32_t* x, const int32_t* off, const uint32_t* keep, int64_t n, uint32_t* y) {
  int64_t i = 0;
  for (; i + S::kLanes <= n; i += S::kLanes) {
    typename S::V v = S::gather(reinterpret_cast<const float*>(x), off + i);
    if (keep) v = S::keep(v, keep + i);
    S::store(reinterpret_cast<float*>(y + i), v);
  }
  for (; i < n; ++i) y[i] = keep ? x[off[i]] & keep[i] : x[off[i]];
}

}  // namespace
}  // namespace gs
}  // namespace kiln
