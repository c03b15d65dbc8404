// vmath.h's functions for AVX-512 (compiled with -mavx512f/bw/vl/dq -mfma; vmath.cc calls them only
// when cpu_isa() picks them): the vector-extension code of vmath_simd.h on 16-lane __m512.
// Bench alone: `node dist/bench/vmath.js` (every set beside the portable one; KILN_CPU_ISA=avx512 with
// --child times this set only).
#include <immintrin.h>

#include "vmath.h"

// GCC 12 reports its own intrinsics' deliberately undefined temporaries (_mm512_undefined_* inside
// the masked conversions) as maybe-uninitialized once they are inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace kiln {
namespace vm {
namespace {
using F = __m512;
using I = __v16si;
using U = __v16su;
constexpr int kLanes = 16;
inline F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
}  // namespace
}  // namespace vm
}  // namespace kiln

#include "vmath_simd.h"

namespace kiln {
namespace vm {

namespace {

// ---- float16 / bfloat16 runs (vmath.h to_f16, to_bf16, from_f16) -------------------------------------

inline __mmask16 first_n(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

void to_f16(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = first_n(n - i);
    const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_mask_storeu_epi16(dst + i, m, h);
  }
}

// Round to nearest even on the bit pattern, NaN -> its top half with the quiet bit (dtype.h's rule).
void to_bf16(const float* src, uint16_t* dst, int64_t n) {
  const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff), quiet = _mm512_set1_epi32(0x40);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = first_n(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, src + i);
    const __m512i x = _mm512_castps_si512(v);
    const __m512i hi = _mm512_srli_epi32(x, 16);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(x, bias), _mm512_and_si512(hi, one)), 16);
    r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_or_si512(hi, quiet));
    _mm256_mask_storeu_epi16(dst + i, m, _mm512_cvtepi32_epi16(r));
  }
}

void from_f16(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = first_n(n - i);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + i)));
  }
}

}  // namespace

const VMath* vmath_avx512() {
  static const VMath s = simd_set("avx512", to_f16, to_bf16, from_f16);
  return &s;
}

}  // namespace vm
}  // namespace kiln
