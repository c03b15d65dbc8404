// fma_loop_avx512: 16 independent zmm FMA chains (enough to cover 4-cycle latency on two FMA ports),
// 16 lanes x 2 flops each. See peak.cc.
#include <immintrin.h>

#include "peak.h"

namespace kiln {

double fma_loop_avx512(int64_t iters) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t n = 0; n < iters; ++n)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float out[16];
  _mm512_store_ps(out, s);
  volatile float sink = out[0];
  (void)sink;
  return (double)iters * 16 * 16 * 2;
}

}  // namespace kiln
