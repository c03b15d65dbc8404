// MatMul building blocks for AVX-512 (compiled with -mavx512f/bw/vl/dq -mfma -mf16c; matmul.cc
// calls them only when cpu_features() has all of those).
//   tile_simd<Avx512, 14, 2> (matmul_tile.h):  Y[14, 32] (+)= A_sliver[14 x kc] @ B_sliver[kc, 32]
//     28 zmm accumulators + 2 B vectors = 30 of the 32 registers; A is broadcast straight from
//     memory into each FMA ({1to16}), so a k step is 2 loads + 14 broadcast loads for 28 FMAs.
//   gemv_dot_avx512 / gemv_axpy_avx512: the M == 1 and N == 1 shapes, which are memory-bound and
//     would spend more time packing than computing.
//   pack_a_rowmajor_avx512: the transposing pack of a row-major A (16x16 register transposes).
// Bench alone: node /tmp-style script over the raw addon, e.g.
//   a.launch('MatMul', [A, B], [Y], {alpha: 1, beta: 0}); await a.sync();
// with KILN_CPU_ISA=avx512 (the default on such a CPU) and KILN_NUM_THREADS=1 for one core.
#include <immintrin.h>

#include "matmul_kernels.h"
#include "matmul_tile.h"
#include "simd_avx512.h"

// GCC 12 reports its own intrinsics' deliberately undefined temporaries (_mm512_undefined_ps
// inside unpacklo/shuffle/cvtph) as maybe-uninitialized once they are inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace kiln {
namespace mm {
namespace {

// The maskz forms, because GCC 12 warns about the undefined-vector temporaries inside
// _mm512_reduce_add_ps, _mm512_shuffle_f32x4 and _mm512_castps512_ps128.
float hsum(__m512 v) {
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0x4E));
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0xB1));
  __m128 s = _mm512_maskz_extractf32x4_ps(0xF, v, 0);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// y[r] = dot(x[r*ldx : r*ldx + K], v): four rows at a time, two accumulators each.
void gemv_dot_avx512(int64_t R, int64_t K, const float* x, int64_t ldx, const float* v, float* y) {
  const int64_t K32 = K & ~(int64_t)31, K16 = K & ~(int64_t)15;
  const __mmask16 tail = (__mmask16)((1u << (K - K16)) - 1);
  int64_t r = 0;
  for (; r + 4 <= R; r += 4) {
    const float* x0 = x + r * ldx;
    const float* x1 = x0 + ldx;
    const float* x2 = x1 + ldx;
    const float* x3 = x2 + ldx;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t k = 0;
    for (; k < K32; k += 32) {
      __m512 v0 = _mm512_loadu_ps(v + k), v1 = _mm512_loadu_ps(v + k + 16);
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + k), v0, a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x1 + k), v0, a1);
      a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x2 + k), v0, a2);
      a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x3 + k), v0, a3);
      b0 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + k + 16), v1, b0);
      b1 = _mm512_fmadd_ps(_mm512_loadu_ps(x1 + k + 16), v1, b1);
      b2 = _mm512_fmadd_ps(_mm512_loadu_ps(x2 + k + 16), v1, b2);
      b3 = _mm512_fmadd_ps(_mm512_loadu_ps(x3 + k + 16), v1, b3);
    }
    for (; k < K16; k += 16) {
      __m512 v0 = _mm512_loadu_ps(v + k);
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + k), v0, a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x1 + k), v0, a1);
      a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x2 + k), v0, a2);
      a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x3 + k), v0, a3);
    }
    if (tail) {
      __m512 v0 = _mm512_maskz_loadu_ps(tail, v + k);
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x0 + k), v0, a0);
      a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x1 + k), v0, a1);
      a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x2 + k), v0, a2);
      a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x3 + k), v0, a3);
    }
    y[r] = hsum(_mm512_add_ps(a0, b0));
    y[r + 1] = hsum(_mm512_add_ps(a1, b1));
    y[r + 2] = hsum(_mm512_add_ps(a2, b2));
    y[r + 3] = hsum(_mm512_add_ps(a3, b3));
  }
  for (; r < R; ++r) {
    const float* x0 = x + r * ldx;
    __m512 a0 = _mm512_setzero_ps(), b0 = a0;
    int64_t k = 0;
    for (; k < K32; k += 32) {
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + k), _mm512_loadu_ps(v + k), a0);
      b0 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + k + 16), _mm512_loadu_ps(v + k + 16), b0);
    }
    for (; k < K16; k += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + k), _mm512_loadu_ps(v + k), a0);
    if (tail) a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x0 + k), _mm512_maskz_loadu_ps(tail, v + k), a0);
    y[r] = hsum(_mm512_add_ps(a0, b0));
  }
}

// y[r] = sum_k v[k] * x[k*ldx + r]: y stays in L1 (chunks of 2048) while rows of x stream through
// it four at a time, so every read of x is sequential and y costs one load+store per 4 FMAs.
void gemv_axpy_avx512(int64_t R, int64_t K, const float* x, int64_t ldx, const float* v, float* y) {
  constexpr int64_t kChunk = 2048;
  for (int64_t r0 = 0; r0 < R; r0 += kChunk) {
    const int64_t rc = R - r0 < kChunk ? R - r0 : kChunk;
    const int64_t rc16 = rc & ~(int64_t)15;
    const __mmask16 tail = (__mmask16)((1u << (rc - rc16)) - 1);
    float* yc = y + r0;
    for (int64_t r = 0; r < rc16; r += 16) _mm512_storeu_ps(yc + r, _mm512_setzero_ps());
    if (tail) _mm512_mask_storeu_ps(yc + rc16, tail, _mm512_setzero_ps());
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
      const float* x0 = x + k * ldx + r0;
      const float* x1 = x0 + ldx;
      const float* x2 = x1 + ldx;
      const float* x3 = x2 + ldx;
      const __m512 v0 = _mm512_set1_ps(v[k]), v1 = _mm512_set1_ps(v[k + 1]);
      const __m512 v2 = _mm512_set1_ps(v[k + 2]), v3 = _mm512_set1_ps(v[k + 3]);
      int64_t r = 0;
      for (; r < rc16; r += 16) {
        __m512 s = _mm512_mul_ps(_mm512_loadu_ps(x0 + r), v0);
        __m512 t = _mm512_mul_ps(_mm512_loadu_ps(x1 + r), v1);
        s = _mm512_fmadd_ps(_mm512_loadu_ps(x2 + r), v2, s);
        t = _mm512_fmadd_ps(_mm512_loadu_ps(x3 + r), v3, t);
        _mm512_storeu_ps(yc + r, _mm512_add_ps(_mm512_loadu_ps(yc + r), _mm512_add_ps(s, t)));
      }
      if (tail) {
        __m512 s = _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x0 + r), v0);
        __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x1 + r), v1);
        s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x2 + r), v2, s);
        t = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x3 + r), v3, t);
        _mm512_mask_storeu_ps(yc + r, tail, _mm512_add_ps(_mm512_maskz_loadu_ps(tail, yc + r), _mm512_add_ps(s, t)));
      }
    }
    for (; k < K; ++k) {
      const float* x0 = x + k * ldx + r0;
      const __m512 v0 = _mm512_set1_ps(v[k]);
      int64_t r = 0;
      for (; r < rc16; r += 16)
        _mm512_storeu_ps(yc + r, _mm512_fmadd_ps(_mm512_loadu_ps(x0 + r), v0, _mm512_loadu_ps(yc + r)));
      if (tail)
        _mm512_mask_storeu_ps(yc + r, tail,
                              _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x0 + r), v0, _mm512_maskz_loadu_ps(tail, yc + r)));
    }
  }
}


// ---- packing -----------------------------------------------------------------------------------

// 16 consecutive elements of dtype DT (0 float32, 1 float16, 2 bfloat16) from element `i` of p, as
// float32; lanes outside `m` read nothing and are zero.
template <int DT>
inline __m512 load16(const void* p, int64_t i, __mmask16 m) {
  if (DT == 0) return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
  const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i);
  if (DT == 1) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
template <int DT>
inline __m512 load16(const void* p, int64_t i) {
  if (DT == 0) return _mm512_loadu_ps(static_cast<const float*>(p) + i);
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + i));
  if (DT == 1) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

inline __mmask16 first_n(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

// In-register transpose: r[i] lane j  ->  r[j] lane i.
inline void transpose16(__m512* r) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // r[4i + c], 128-bit lane L: column 4L + c of rows 4i..4i+3
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
    t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
    t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
  }
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xDD);
    r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xDD);
  }
}

// Row-major A [mc, kc] (a[i*lda + k]) -> MR slivers: 16x16 transposes, MR lanes of each stored.
template <int MR, int DT>
void pack_a_rows(int64_t mc, int64_t kc, const void* a, int64_t lda, float* dst) {
  const __mmask16 keep = (__mmask16)((1u << MR) - 1);
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += kc * MR) {
    const int64_t mr = mc - i0 < MR ? mc - i0 : MR;
    for (int64_t k0 = 0; k0 < kc; k0 += 16) {
      const int64_t kr = kc - k0 < 16 ? kc - k0 : 16;
      const __mmask16 m = first_n(kr);
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) r[i] = i < mr ? load16<DT>(a, (i0 + i) * lda + k0, m) : _mm512_setzero_ps();
      transpose16(r);
      float* d = dst + k0 * MR;
      // Each full store spills two lanes into the next row, which the next store overwrites.
      for (int64_t t = 0; t + 1 < kr; ++t) _mm512_storeu_ps(d + t * MR, r[t]);
      _mm512_mask_storeu_ps(d + (kr - 1) * MR, keep, r[kr - 1]);
    }
  }
}

// Col-major A [mc, kc] (a[k*lda + i]) -> MR slivers: one masked load and store per k.
template <int MR, int DT>
void pack_a_cols(int64_t mc, int64_t kc, const void* a, int64_t lda, float* dst) {
  const __mmask16 keep = (__mmask16)((1u << MR) - 1);
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += kc * MR) {
    const __mmask16 m = first_n(mc - i0 < MR ? mc - i0 : MR);
    for (int64_t k = 0; k < kc; ++k) _mm512_mask_storeu_ps(dst + k * MR, keep, load16<DT>(a, k * lda + i0, m));
  }
}

// Row-major B [kc, nc] (b[k*ldb + j]) -> 32-wide slivers, walking B row by row so that the reads
// are sequential; the ragged last sliver is read with masks and padded with zeros.
template <int DT>
void pack_b_rows(int64_t kc, int64_t nc, const void* b, int64_t ldb, float* dst) {
  const int64_t full = nc / 32, rem = nc % 32;
  const __mmask16 m0 = first_n(rem), m1 = first_n(rem > 16 ? rem - 16 : 0);
  for (int64_t k = 0; k < kc; ++k) {
    const int64_t row = k * ldb;
    float* d = dst + k * 32;
    for (int64_t s = 0; s < full; ++s, d += kc * 32) {
      _mm512_store_ps(d, load16<DT>(b, row + s * 32));
      _mm512_store_ps(d + 16, load16<DT>(b, row + s * 32 + 16));
    }
    if (rem) {
      _mm512_store_ps(d, load16<DT>(b, row + full * 32, m0));
      _mm512_store_ps(d + 16, rem > 16 ? load16<DT>(b, row + full * 32 + 16, m1) : _mm512_setzero_ps());
    }
  }
}

// Col-major B [kc, nc] (b[j*ldb + k]) -> 32-wide slivers: 16x16 transposes, two per 16 k.
template <int DT>
void pack_b_cols(int64_t kc, int64_t nc, const void* b, int64_t ldb, float* dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += 32, dst += kc * 32) {
    for (int h = 0; h < 2; ++h) {
      const int64_t jb = j0 + 16 * h;
      const int64_t cnt = nc - jb < 0 ? 0 : (nc - jb < 16 ? nc - jb : 16);
      for (int64_t k0 = 0; k0 < kc; k0 += 16) {
        const int64_t kr = kc - k0 < 16 ? kc - k0 : 16;
        const __mmask16 m = first_n(kr);
        __m512 r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) r[i] = i < cnt ? load16<DT>(b, (jb + i) * ldb + k0, m) : _mm512_setzero_ps();
        transpose16(r);
        float* d = dst + k0 * 32 + 16 * h;
        for (int64_t t = 0; t < kr; ++t) _mm512_store_ps(d + t * 32, r[t]);
      }
    }
  }
}

constexpr int kMR = 14, kNV = 2;

const Kernels kAvx512 = {
    "avx512",
    kMR,
    kNV * 16,
    256,   // kc
    672,   // mc
    3072,  // nc
    tile_simd<Avx512, kMR, kNV>,
    tile_simd<Avx512, kMR, kNV, kMR, 16>,
    gemv_dot_avx512,
    gemv_axpy_avx512,
    {{pack_a_rows<kMR, 0>, pack_a_rows<kMR, 1>, pack_a_rows<kMR, 2>},
     {pack_a_cols<kMR, 0>, pack_a_cols<kMR, 1>, pack_a_cols<kMR, 2>}},
    {{pack_b_rows<0>, pack_b_rows<1>, pack_b_rows<2>}, {pack_b_cols<0>, pack_b_cols<1>, pack_b_cols<2>}},
    {nullptr, tile_simd<Avx512, 1, kNV, kMR>, tile_simd<Avx512, 2, kNV, kMR>, tile_simd<Avx512, 3, kNV, kMR>, tile_simd<Avx512, 4, kNV, kMR>,
     tile_simd<Avx512, 5, kNV, kMR>, tile_simd<Avx512, 6, kNV, kMR>, tile_simd<Avx512, 7, kNV, kMR>, tile_simd<Avx512, 8, kNV, kMR>,
     tile_simd<Avx512, 9, kNV, kMR>, tile_simd<Avx512, 10, kNV, kMR>, tile_simd<Avx512, 11, kNV, kMR>, tile_simd<Avx512, 12, kNV, kMR>,
     tile_simd<Avx512, 13, kNV, kMR>},
};

}  // namespace

const Kernels* kernels_avx512() { return &kAvx512; }

}  // namespace mm
}  // namespace kiln
