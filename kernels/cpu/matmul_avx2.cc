// MatMul building blocks for AVX2+FMA (compiled with -mavx2 -mfma -mf16c; matmul.cc calls them
// only when cpu_features() has all three and no AVX-512).
//   tile_simd<Avx2, 6, 2> (matmul_tile.h):  Y[6, 16] (+)= A_sliver[6 x kc] @ B_sliver[kc, 16]
//     12 ymm accumulators + 2 B vectors + 1 broadcast = 15 of the 16 registers (the classic
//     Haswell shape: 12 FMAs per 2 loads + 6 broadcasts).
//   gemv_dot_avx2 / gemv_axpy_avx2: the M == 1 and N == 1 shapes (memory-bound, never packed).
// Bench alone: KILN_CPU_ISA=avx2 forces this set on an AVX-512 CPU; then time
//   a.launch('MatMul', [A, B], [Y], {alpha: 1, beta: 0}); await a.sync();
#include <immintrin.h>

#include <cstdint>

#include "matmul_kernels.h"
#include "matmul_tile.h"
#include "simd_avx2.h"

namespace kiln {
namespace mm {
namespace {

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// y[r] = dot(x[r*ldx : r*ldx + K], v): four rows at a time.
void gemv_dot_avx2(int64_t R, int64_t K, const float* x, int64_t ldx, const float* v, float* y) {
  const int64_t K8 = K & ~(int64_t)7;
  int64_t r = 0;
  for (; r + 4 <= R; r += 4) {
    const float* x0 = x + r * ldx;
    const float* x1 = x0 + ldx;
    const float* x2 = x1 + ldx;
    const float* x3 = x2 + ldx;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t k = 0;
    for (; k < K8; k += 8) {
      const __m256 v0 = _mm256_loadu_ps(v + k);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + k), v0, a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + k), v0, a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + k), v0, a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + k), v0, a3);
    }
    float s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
    for (; k < K; ++k) {
      s0 += x0[k] * v[k];
      s1 += x1[k] * v[k];
      s2 += x2[k] * v[k];
      s3 += x3[k] * v[k];
    }
    y[r] = s0;
    y[r + 1] = s1;
    y[r + 2] = s2;
    y[r + 3] = s3;
  }
  for (; r < R; ++r) {
    const float* x0 = x + r * ldx;
    __m256 a0 = _mm256_setzero_ps(), b0 = a0;
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + k), _mm256_loadu_ps(v + k), a0);
      b0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + k + 8), _mm256_loadu_ps(v + k + 8), b0);
    }
    for (; k < K8; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + k), _mm256_loadu_ps(v + k), a0);
    float s0 = hsum(_mm256_add_ps(a0, b0));
    for (; k < K; ++k) s0 += x0[k] * v[k];
    y[r] = s0;
  }
}

// y[r] = sum_k v[k] * x[k*ldx + r]: y stays in L1 (chunks of 2048) while rows of x stream through.
void gemv_axpy_avx2(int64_t R, int64_t K, const float* x, int64_t ldx, const float* v, float* y) {
  constexpr int64_t kChunk = 2048;
  for (int64_t r0 = 0; r0 < R; r0 += kChunk) {
    const int64_t rc = R - r0 < kChunk ? R - r0 : kChunk;
    const int64_t rc8 = rc & ~(int64_t)7;
    float* yc = y + r0;
    for (int64_t r = 0; r < rc; ++r) yc[r] = 0;
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
      const float* x0 = x + k * ldx + r0;
      const float* x1 = x0 + ldx;
      const float* x2 = x1 + ldx;
      const float* x3 = x2 + ldx;
      const __m256 v0 = _mm256_set1_ps(v[k]), v1 = _mm256_set1_ps(v[k + 1]);
      const __m256 v2 = _mm256_set1_ps(v[k + 2]), v3 = _mm256_set1_ps(v[k + 3]);
      int64_t r = 0;
      for (; r < rc8; r += 8) {
        __m256 s = _mm256_mul_ps(_mm256_loadu_ps(x0 + r), v0);
        __m256 t = _mm256_mul_ps(_mm256_loadu_ps(x1 + r), v1);
        s = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + r), v2, s);
        t = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + r), v3, t);
        _mm256_storeu_ps(yc + r, _mm256_add_ps(_mm256_loadu_ps(yc + r), _mm256_add_ps(s, t)));
      }
      for (; r < rc; ++r) yc[r] += (x0[r] * v[k] + x1[r] * v[k + 1]) + (x2[r] * v[k + 2] + x3[r] * v[k + 3]);
    }
    for (; k < K; ++k) {
      const float* x0 = x + k * ldx + r0;
      const __m256 v0 = _mm256_set1_ps(v[k]);
      int64_t r = 0;
      for (; r < rc8; r += 8) _mm256_storeu_ps(yc + r, _mm256_fmadd_ps(_mm256_loadu_ps(x0 + r), v0, _mm256_loadu_ps(yc + r)));
      for (; r < rc; ++r) yc[r] += x0[r] * v[k];
    }
  }
}


// ---- packing -----------------------------------------------------------------------------------

// 8 consecutive elements of dtype DT (0 float32, 1 float16, 2 bfloat16) from element `i` of p, as
// float32. `n` < 8 reads only the first n (through a zeroed copy) and leaves the rest zero.
template <int DT>
inline __m256 load8(const void* p, int64_t i, int64_t n = 8) {
  if (n < 8) {
    alignas(32) uint16_t h[16] = {};
    alignas(32) float f[8] = {};
    for (int64_t l = 0; l < n; ++l) {
      if (DT == 0) f[l] = static_cast<const float*>(p)[i + l];
      else h[l] = static_cast<const uint16_t*>(p)[i + l];
    }
    return DT == 0 ? _mm256_load_ps(f) : load8<DT>(DT == 0 ? (const void*)f : (const void*)h, 0);
  }
  if (DT == 0) return _mm256_loadu_ps(static_cast<const float*>(p) + i);
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i));
  if (DT == 1) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// In-register transpose: r[i] lane j  ->  r[j] lane i.
inline void transpose8(__m256* r) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  // u[4i + c], 128-bit lane L: column 4L + c of rows 4i..4i+3
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
    r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
  }
}

// Row-major A [mc, kc] (a[i*lda + k]) -> MR slivers (MR <= 8) through 8x8 transposes.
template <int MR, int DT>
void pack_a_rows(int64_t mc, int64_t kc, const void* a, int64_t lda, float* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += kc * MR) {
    const int64_t mr = mc - i0 < MR ? mc - i0 : MR;
    for (int64_t k0 = 0; k0 < kc; k0 += 8) {
      const int64_t kr = kc - k0 < 8 ? kc - k0 : 8;
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = i < mr ? load8<DT>(a, (i0 + i) * lda + k0, kr) : _mm256_setzero_ps();
      transpose8(r);
      alignas(32) float tmp[8];
      float* d = dst + k0 * MR;
      // Each full store spills into the next row, which the next store overwrites.
      for (int64_t t = 0; t + 1 < kr; ++t) _mm256_storeu_ps(d + t * MR, r[t]);
      _mm256_store_ps(tmp, r[kr - 1]);
      for (int i = 0; i < MR; ++i) d[(kr - 1) * MR + i] = tmp[i];
    }
  }
}

// Col-major A [mc, kc] (a[k*lda + i]) -> MR slivers.
template <int MR, int DT>
void pack_a_cols(int64_t mc, int64_t kc, const void* a, int64_t lda, float* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += kc * MR) {
    const int64_t mr = mc - i0 < MR ? mc - i0 : MR;
    for (int64_t k = 0; k < kc; ++k) {
      alignas(32) float tmp[8];
      _mm256_store_ps(tmp, load8<DT>(a, k * lda + i0, mr));
      for (int i = 0; i < MR; ++i) dst[k * MR + i] = tmp[i];
    }
  }
}

// Row-major B [kc, nc] (b[k*ldb + j]) -> 16-wide slivers, walking B row by row.
template <int DT>
void pack_b_rows(int64_t kc, int64_t nc, const void* b, int64_t ldb, float* dst) {
  const int64_t full = nc / 16, rem = nc % 16;
  for (int64_t k = 0; k < kc; ++k) {
    const int64_t row = k * ldb;
    float* d = dst + k * 16;
    for (int64_t s = 0; s < full; ++s, d += kc * 16) {
      _mm256_store_ps(d, load8<DT>(b, row + s * 16));
      _mm256_store_ps(d + 8, load8<DT>(b, row + s * 16 + 8));
    }
    if (rem) {
      _mm256_store_ps(d, load8<DT>(b, row + full * 16, rem < 8 ? rem : 8));
      _mm256_store_ps(d + 8, rem > 8 ? load8<DT>(b, row + full * 16 + 8, rem - 8) : _mm256_setzero_ps());
    }
  }
}

// Col-major B [kc, nc] (b[j*ldb + k]) -> 16-wide slivers through 8x8 transposes.
template <int DT>
void pack_b_cols(int64_t kc, int64_t nc, const void* b, int64_t ldb, float* dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += 16, dst += kc * 16) {
    for (int h = 0; h < 2; ++h) {
      const int64_t jb = j0 + 8 * h;
      const int64_t cnt = nc - jb < 0 ? 0 : (nc - jb < 8 ? nc - jb : 8);
      for (int64_t k0 = 0; k0 < kc; k0 += 8) {
        const int64_t kr = kc - k0 < 8 ? kc - k0 : 8;
        __m256 r[8];
        for (int i = 0; i < 8; ++i) r[i] = i < cnt ? load8<DT>(b, (jb + i) * ldb + k0, kr) : _mm256_setzero_ps();
        transpose8(r);
        float* d = dst + k0 * 16 + 8 * h;
        for (int64_t t = 0; t < kr; ++t) _mm256_store_ps(d + t * 16, r[t]);
      }
    }
  }
}

constexpr int kMR = 6, kNV = 2;

const Kernels kAvx2 = {
    "avx2",
    kMR,
    kNV * 8,
    256,   // kc: B sliver 16 KB in L1
    144,   // mc
    3072,  // nc
    tile_simd<Avx2, kMR, kNV>,
    tile_simd<Avx2, kMR, kNV, kMR, 16>,
    gemv_dot_avx2,
    gemv_axpy_avx2,
    {{pack_a_rows<kMR, 0>, pack_a_rows<kMR, 1>, pack_a_rows<kMR, 2>},
     {pack_a_cols<kMR, 0>, pack_a_cols<kMR, 1>, pack_a_cols<kMR, 2>}},
    {{pack_b_rows<0>, pack_b_rows<1>, pack_b_rows<2>}, {pack_b_cols<0>, pack_b_cols<1>, pack_b_cols<2>}},
    {nullptr, tile_simd<Avx2, 1, kNV, kMR>, tile_simd<Avx2, 2, kNV, kMR>, tile_simd<Avx2, 3, kNV, kMR>, tile_simd<Avx2, 4, kNV, kMR>,
     tile_simd<Avx2, 5, kNV, kMR>},
};

}  // namespace

const Kernels* kernels_avx2() { return &kAvx2; }

}  // namespace mm
}  // namespace kiln
