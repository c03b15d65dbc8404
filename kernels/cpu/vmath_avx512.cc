// vmath.h's functions for AVX-512 (compiled with -mavx512f/bw/vl/dq -mfma; vmath.cc calls them only
// when cpu_isa() picks them): the vector-extension code of vmath_simd.h on 16-lane __m512.
// Bench alone: `node dist/bench/vmath.js` (every set beside the portable one; KILN_CPU_ISA=avx512 with
// --child times this set only).
#include <immintrin.h>

#include "vmath.h"

namespace kiln {
namespace vm {
namespace {
using F = __m512;
using I = __v16si;
constexpr int kLanes = 16;
inline F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
}  // namespace
}  // namespace vm
}  // namespace kiln

#include "vmath_simd.h"

namespace kiln {
namespace vm {

const VMath* vmath_avx512() {
  static const VMath s = simd_set("avx512");
  return &s;
}

}  // namespace vm
}  // namespace kiln
