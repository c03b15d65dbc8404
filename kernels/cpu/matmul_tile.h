// The register-tiled micro-kernel, written once over a vector ISA and instantiated by each ISA file
// (matmul_avx512.cc, matmul_avx2.cc) with its traits struct S (simd_avx512.h, simd_avx2.h):
//   S::V            the vector type;  S::kLanes  floats per vector
//   S::zero(), S::load(p), S::store(p, v), S::set1(x), S::fma(a, b, c) = a * b + c, S::add(a, b)
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "register_tile.h"

namespace kiln {
namespace mm {

// c[MR, NV * kLanes] (row stride ldc) = (accumulate ? c : 0) + A_sliver[kc x MR] @ B_sliver[kc, NV * kLanes]
//   MR * NV accumulators + NV B vectors stay in registers; A is broadcast one element per row.
//   AS: floats per k step of the packed A sliver (MR, or the set's full MR when a short last sliver
//   of MR < full rows is computed by a smaller instance).
//   PF: rows of B to prefetch ahead (0: none). For tiles over a B read in place (rows ldb apart, or
//   a weight coming from beyond the L2): the hardware prefetcher does not keep up with the stride,
//   nor quite with a sliver-major weight; 16 rows of lead is ~200 cycles of FMAs. Packed B is
//   already in cache, where the prefetches only cost (3-5% at 512^3 .. 1024^3).
template <class S, int MR, int NV, int AS = MR, int PF = 0>
void tile_simd(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  using V = typename S::V;
  constexpr int L = S::kLanes;
  RegisterTile<S, MR, NV> t;
  t.zero();
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) {
    _mm_prefetch((const char*)(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char*)(c + i * ldc + NV * L - 1), _MM_HINT_T0);
  }
  for (int64_t k = 0; k < kc; ++k) {
    if (PF > 0) {
#pragma GCC unroll 8
      for (int j = 0; j < (NV * L * 4 + 63) / 64; ++j) _mm_prefetch((const char*)(b + PF * ldb) + 64 * j, _MM_HINT_T0);
    }
    t.update(a, b);
    a += AS;
    b += ldb;
  }
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) {
      float* p = c + i * ldc + L * j;
      V v = t.acc[i][j];
      if (accumulate) v = S::add(v, S::load(p));
      S::store(p, v);
    }
}

}  // namespace mm
}  // namespace kiln
