// The register tile behind the matmul and conv micro-kernels (matmul_tile.h, conv_tile.h), over a
// vector ISA's traits S (simd_avx512.h, simd_avx2.h, conv.cc's portable one): MR x NV vector
// accumulators, and the rank-1 update both kernels repeat per k step.
#pragma once

namespace kiln {

template <class S, int MR, int NV> struct RegisterTile {
  typename S::V acc[MR][NV];

  void zero() {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) acc[i][j] = S::zero();
  }

  // acc[i][j] += a[i] * b[j*kLanes .. (j+1)*kLanes): NV vector loads, MR broadcasts, MR*NV FMAs
  void update(const float* a, const float* b) {
    typename S::V bv[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) bv[j] = S::load(b + S::kLanes * j);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const typename S::V av = S::set1(a[i]);
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) acc[i][j] = S::fma(av, bv[j], acc[i][j]);
    }
  }
};

}  // namespace kiln
