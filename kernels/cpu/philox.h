// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011; Random123's
// philox4x32_R with R = 10), the counter-based generator behind RandomUniform and RandomNormal on
// every backend. A counter-based generator needs no state between elements: element block i is
// philox(counter = (i_lo, i_hi, 0, 0), key = seed), so any thread (or GPU lane) computes any block on
// its own and the stream never depends on how the work was split. Plain C++ with 32x32->64 multiplies
// only, so the CUDA and WGSL versions mirror it line for line (WGSL has no 64-bit integers: there
// mulhi is built from 16-bit halves).
#pragma once
#include <cstdint>

#ifndef KILN_HD
#if defined(__CUDACC__)
#define KILN_HD __host__ __device__ __forceinline__
#else
#define KILN_HD inline
#endif
#endif

namespace kiln {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;

struct PhiloxBlock { uint32_t x[4]; };

KILN_HD void philox_round(uint32_t c[4], uint32_t k0, uint32_t k1) {
  uint64_t p0 = (uint64_t)kPhiloxM0 * c[0];
  uint64_t p1 = (uint64_t)kPhiloxM1 * c[2];
  uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
  uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
  uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
  c[0] = n0;
  c[1] = lo1;
  c[2] = n2;
  c[3] = lo0;
}

// The four 32-bit words of block `i` (elements 4i..4i+3) for the 64-bit key (seed_lo, seed_hi).
KILN_HD PhiloxBlock philox4x32_10(uint64_t i, uint32_t seed_lo, uint32_t seed_hi) {
  PhiloxBlock b{{(uint32_t)i, (uint32_t)(i >> 32), 0u, 0u}};
  uint32_t k0 = seed_lo, k1 = seed_hi;
  for (int r = 0; r < 10; ++r) {
    if (r > 0) { k0 += kPhiloxW0; k1 += kPhiloxW1; }
    philox_round(b.x, k0, k1);
  }
  return b;
}

// u in [0, 1) with 24 random bits: exactly representable in float32, so every device agrees.
KILN_HD double philox_unit(uint32_t x) { return (double)(x >> 8) * (1.0 / 16777216.0); }
// u in (0, 1]: the Box-Muller radius takes its log.
KILN_HD double philox_unit_open0(uint32_t x) { return (double)((x >> 8) + 1) * (1.0 / 16777216.0); }

}  // namespace kiln
