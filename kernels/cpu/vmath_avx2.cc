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
constexpr int kLanes = 8;
inline F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
}  // namespace
}  // namespace vm
}  // namespace kiln

#include "vmath_simd.h"

namespace kiln {
namespace vm {

const VMath* vmath_avx2() {
  static const VMath s = simd_set("avx2");
  return &s;
}

}  // namespace vm
}  // namespace kiln
