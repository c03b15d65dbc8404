// The AVX2+FMA vector traits that the register-tiled templates (matmul_tile.h, conv_tile.h) are
// written against. Include only from files compiled with the avx2 flags (native/sources.txt); see
// simd_avx512.h for why the traits live in an anonymous namespace.
#pragma once
#include <immintrin.h>

namespace kiln {
namespace {

struct Avx2 {
  using V = __m256;
  struct Mask {  // a struct, so that containers of masks keep __m256i's alignment attributes
    __m256i bits;
  };
  static constexpr int kLanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }  // b where either is NaN (MAXPS)
  // a where a >= b or a is NaN, else b: a max that keeps a NaN from either side
  static V max_nan(V a, V b) {
    return _mm256_blendv_ps(b, a, _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_GE_OQ), _mm256_cmp_ps(a, a, _CMP_UNORD_Q)));
  }
  // lo, hi (2*kLanes consecutive floats) split into their even and odd elements
  static void deinterleave(V lo, V hi, V& even, V& odd) {
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  // p[0, 2*kLanes) split into its even and odd elements
  static void pairs(const float* p, V& even, V& odd) { deinterleave(load(p), load(p + kLanes), even, odd); }
  // the inverse of pairs: lo, hi = a0 b0 a1 b1 ... (lo from the first half of a and b, hi the second)
  static void interleave(V a, V b, V& lo, V& hi) {
    const V l = _mm256_unpacklo_ps(a, b), h = _mm256_unpackhi_ps(a, b);  // a0 b0 a1 b1 a4 b4 a5 b5 | a2 b2 a3 b3 a6 b6 a7 b7
    lo = _mm256_permute2f128_ps(l, h, 0x20);
    hi = _mm256_permute2f128_ps(l, h, 0x31);
  }
  // Lanes l with lo <= l < hi (all ones in a lane selects it), for stores of a partial vector.
  static Mask range(int lo, int hi) {
    const __m256i l = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return {_mm256_and_si256(_mm256_cmpgt_epi32(l, _mm256_set1_epi32(lo - 1)), _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), l))};
  }
  static void store(float* p, V v, Mask m) { _mm256_maskstore_ps(p, m.bits, v); }
  // the lanes in m from p, zero elsewhere; lanes outside m are not read (no fault)
  static V load(const float* p, Mask m) { return _mm256_maskload_ps(p, m.bits); }
};

}  // namespace
}  // namespace kiln
