// fma_loop_avx512: 16 zmm FMA chains (4-cycle latency x two FMA ports, with room), 16 lanes each.
#include <immintrin.h>

#include "peak.h"

namespace kiln {

double fma_loop_avx512(int64_t iters) {
  return fma_chains<__m512, 16, 16>(iters, [](__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); },
                                    [](float x) { return _mm512_set1_ps(x); });
}

}  // namespace kiln
