// The AVX-512 vector traits that the register-tiled templates (matmul_tile.h, conv_tile.h) are
// written against. Include only from files compiled with the avx512 flags (native/sources.txt);
// the anonymous namespace gives every instantiation internal linkage, so code built for one ISA
// can never be merged by the linker into a caller built for another.
#pragma once
#include <immintrin.h>

namespace kiln {
namespace {

struct Avx512 {
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  // max(a, b); b where either is NaN (MAXPS). The maskz form: GCC 12 warns about the undefined
  // temporary inside _mm512_max_ps.
  static V max(V a, V b) { return _mm512_maskz_max_ps(0xFFFF, a, b); }
  // a where a >= b or a is NaN, else b: a max that keeps a NaN from either side
  static V max_nan(V a, V b) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_GE_OQ) | _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), b, a);
  }
  // lo, hi (2*kLanes consecutive floats) split into their even and odd elements
  static void deinterleave(V lo, V hi, V& even, V& odd) {
    even = _mm512_permutex2var_ps(lo, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), hi);
    odd = _mm512_permutex2var_ps(lo, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), hi);
  }
  // p[0, 2*kLanes) split into its even and odd elements
  static void pairs(const float* p, V& even, V& odd) { deinterleave(load(p), load(p + kLanes), even, odd); }
  // the inverse of pairs: lo, hi = a0 b0 a1 b1 ... (lo from the first half of a and b, hi the second)
  static void interleave(V a, V b, V& lo, V& hi) {
    lo = _mm512_permutex2var_ps(a, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), b);
    hi = _mm512_permutex2var_ps(a, _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), b);
  }
  // Lanes l with lo <= l < hi (clamped to [0, kLanes]), for stores of a partial vector.
  static Mask range(int lo, int hi) {
    lo = lo < 0 ? 0 : lo > kLanes ? kLanes : lo;
    hi = hi < lo ? lo : hi > kLanes ? kLanes : hi;
    return (Mask)(((1u << hi) - 1) & ~((1u << lo) - 1));
  }
  static void store(float* p, V v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  // the lanes in m from p, zero elsewhere; lanes outside m are not read (no fault)
  static V load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
};

}  // namespace
}  // namespace kiln
