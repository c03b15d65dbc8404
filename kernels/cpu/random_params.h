// The attributes of RandomUniform / RandomNormal (kernels/OPS.md), read once for every backend's
// kernel: the 64-bit seed as Philox's two key words, and the affine map Y = shift + scale * value
// (uniform: shift = low, scale = high - low; normal: shift = mean, scale = std).
#pragma once
#include <cstdint>

#include "attrs.h"

namespace kiln {

struct RandomParams {
  uint32_t seed_lo, seed_hi;
  double shift, scale;
};

inline RandomParams random_params(const Attrs& a, bool normal) {
  RandomParams r;
  r.seed_lo = (uint32_t)(uint64_t)a.num("seed_lo", 0);
  r.seed_hi = (uint32_t)(uint64_t)a.num("seed_hi", 0);
  if (normal) r.shift = a.num("mean", 0), r.scale = a.num("std", 1);
  else r.shift = a.num("low", 0), r.scale = a.num("high", 1) - r.shift;
  return r;
}

}  // namespace kiln
