// Picks the vmath.h set once per process and holds the portable one.
//   avx512  vmath_avx512.cc (AVX-512 F/BW/VL/DQ with FMA)   avx2  vmath_avx2.cc (AVX2 with FMA)
//   portable  no unary functions (the elementwise kernels keep their scalar libm loops), and
//             scalar max / exp-and-sum loops for Softmax.
// The set follows cpu_isa() (cpu_info.h: KILN_CPU_ISA=avx512|avx2|portable lowers it, for every
// vectorized CPU kernel at once); `kiln info` shows it (isa=, the cpu line).
// Bench alone: `npm run build:ts && node dist/bench/vmath.js` times the unary ops, Softmax and
// LayerNorm through the public API with each set the CPU has, beside the portable set in one run.
#include "vmath.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "cpu_info.h"

namespace kiln {
namespace vm {
namespace {

float max_portable(const float* x, int64_t n) {
  float r = -INFINITY;
  for (int64_t i = 0; i < n; ++i) r = x[i] > r ? x[i] : r;  // a NaN never wins
  return r;
}

double exp_shift_sum_portable(const float* x, float shift, float* y, int64_t n) {
  double l[4] = {0, 0, 0, 0};  // four chains: one would wait on the add's latency
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) {
      float t = std::exp(x[i + j] - shift);
      if (y) y[i + j] = t;
      l[j] += t;
    }
  for (; i < n; ++i) {
    float t = std::exp(x[i] - shift);
    if (y) y[i] = t;
    l[0] += t;
  }
  return (l[0] + l[1]) + (l[2] + l[3]);
}

const VMath kPortable = {"portable", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                         max_portable, exp_shift_sum_portable, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};

}  // namespace

const VMath& vmath() {
  switch (cpu_isa()) {
    case Isa::Avx512: return *vmath_avx512();
    case Isa::Avx2: return *vmath_avx2();
    default: return kPortable;
  }
}

}  // namespace vm
}  // namespace kiln
