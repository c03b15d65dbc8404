// GridSample's row loops for AVX2 (compiled with the avx2 flags; grid_sample.cc calls them only when
// cpu_isa() is Avx2): grid_sample_simd.h on 8-lane gathers (vgatherdps).
// Bench alone: `node dist/bench/grid-sample.js` with KILN_CPU_ISA=avx2.
#include <immintrin.h>

#include "grid_sample_simd.h"

namespace kiln {
namespace gs {
namespace {

struct Avx2Gather {
  using V = __m256;
  static constexpr int kLanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V gather(const float* x, const int32_t* idx) {
    return _mm256_i32gather_ps(x, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx)), 4);
  }
  static V keep(V v, const uint32_t* k) { return _mm256_and_ps(v, _mm256_loadu_ps(reinterpret_cast<const float*>(k))); }
};

const RowKernels kAvx2 = {"avx2", weighted_f32<Avx2Gather>, copy_b32<Avx2Gather>};

}  // namespace

const RowKernels* row_kernels_avx2() { return &kAvx2; }

}  // namespace gs
}  // namespace kiln
