// GridSample's row loops for AVX-512 (compiled with the avx512 flags; grid_sample.cc calls them only
// when cpu_isa() is Avx512): grid_sample_simd.h on 16-lane gathers (vgatherdps zmm).
// Bench alone: `node dist/bench/grid-sample.js` (the default set on an AVX-512 host).
#include <immintrin.h>

#include "grid_sample_simd.h"

namespace kiln {
namespace gs {
namespace {

struct Avx512Gather {
  using V = __m512;
  static constexpr int kLanes = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  // the masked form: GCC 12 warns about the undefined source inside _mm512_i32gather_ps
  static V gather(const float* x, const int32_t* idx) { return _mm512_mask_i32gather_ps(zero(), 0xFFFF, _mm512_loadu_si512(idx), x, 4); }
  static V keep(V v, const uint32_t* k) { return _mm512_and_ps(v, _mm512_loadu_ps(reinterpret_cast<const float*>(k))); }
};

const RowKernels kAvx512 = {"avx512", weighted_f32<Avx512Gather>, copy_b32<Avx512Gather>};

}  // namespace

const RowKernels* row_kernels_avx512() { return &kAvx512; }

}  // namespace gs
}  // namespace kiln
