// vmath.h's functions for AVX2 (compiled with -mavx2 -mfma -mf16c; vmath.cc calls them only
// when cpu_isa() picks them): the vector-extension code of vmath_simd.h on 8-lane __m256.
// Bench alone: `node dist/bench/vmath.js` (every set beside the portable one; KILN_CPU_ISA=avx2 with
// --child times this set only).
#include <immintrin.h>

#include "vmath.h"

namespace kiln {
namespace vm {
namespace {
using F = __m256;
using I = __v8si;
using U = __v8su;
constexpr int kLanes = 8;
inline F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
}  // namespace
}  // namespace vm
}  // namespace kiln

#include "vmath_simd.h"

namespace kiln {
namespace vm {

namespace {

// ---- float16 / bfloat16 runs (vmath.h to_f16, to_bf16, from_f16) -------------------------------------

void to_f16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  if (i < n) {
    alignas(32) float f[8] = {};
    alignas(16) uint16_t h[8];
    for (int64_t l = 0; l < n - i; ++l) f[l] = src[i + l];
    _mm_store_si128(reinterpret_cast<__m128i*>(h), _mm256_cvtps_ph(_mm256_load_ps(f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (int64_t l = 0; l < n - i; ++l) dst[i + l] = h[l];
  }
}

// Round to nearest even on the bit pattern, NaN -> its top half with the quiet bit (dtype.h's rule).
void to_bf16(const float* src, uint16_t* dst, int64_t n) {
  const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff), quiet = _mm256_set1_epi32(0x40);
  int64_t i = 0;
  auto round8 = [&](const float* s, uint16_t* d) {
    const __m256 v = _mm256_loadu_ps(s);
    const __m256i x = _mm256_castps_si256(v);
    const __m256i hi = _mm256_srli_epi32(x, 16);
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, bias), _mm256_and_si256(hi, one)), 16);
    r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, quiet), _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
    // 32 -> 16 bits: values are < 2^16, so an unsigned saturating pack is exact.
    const __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d), p);
  };
  for (; i + 8 <= n; i += 8) round8(src + i, dst + i);
  if (i < n) {
    alignas(32) float f[8] = {};
    alignas(16) uint16_t h[8];
    for (int64_t l = 0; l < n - i; ++l) f[l] = src[i + l];
    round8(f, h);
    for (int64_t l = 0; l < n - i; ++l) dst[i + l] = h[l];
  }
}

void from_f16(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  if (i < n) {
    alignas(16) uint16_t h[8] = {};
    alignas(32) float f[8];
    for (int64_t l = 0; l < n - i; ++l) h[l] = src[i + l];
    _mm256_store_ps(f, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h))));
    for (int64_t l = 0; l < n - i; ++l) dst[i + l] = f[l];
  }
}

}  // namespace

const VMath* vmath_avx2() {
  static const VMath s = simd_set("avx2", to_f16, to_bf16, from_f16);
  return &s;
}

}  // namespace vm
}  // namespace kiln
