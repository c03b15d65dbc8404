// fma_loop_avx2: 12 ymm FMA chains, 8 lanes each.
#include <immintrin.h>

#include "peak.h"

namespace kiln {

double fma_loop_avx2(int64_t iters) {
  return fma_chains<__m256, 8, 12>(iters, [](__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); },
                                   [](float x) { return _mm256_set1_ps(x); });
}

}  // namespace kiln
