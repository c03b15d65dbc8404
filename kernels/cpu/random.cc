// Random numbers from Philox4x32-10 (philox.h), the same stream on every device for one seed.
//   RandomUniform(-> Y float[...]; seed_lo, seed_hi, low, high)   Y = low + (high - low) * u
//   RandomNormal (-> Y float[...]; seed_lo, seed_hi, mean, std)   Y = mean + std * z
// Y is contiguous, element g takes word g % 4 of Philox block g / 4 (counter = g / 4, key = seed).
//   uniform: u = (x >> 8) * 2^-24 in [0, 1)
//   normal:  Box-Muller on the word pairs (x0, x1) -> elements 4i, 4i+1 and (x2, x3) -> 4i+2, 4i+3:
//            u1 = ((x0 >> 8) + 1) * 2^-24 in (0, 1], u2 = (x1 >> 8) * 2^-24,
//            z = sqrt(-2 ln u1) * (cos(2 pi u2), sin(2 pi u2))
// Everything is float64 and rounds once into Y's dtype (f32, f16, bf16), so a float16 tensor holds
// the float64 values correctly rounded. Blocks run in parallel; since each block depends on its
// counter alone, the result never depends on the thread count.
// Bench alone (2^24 normal floats; the sin/cos/log make it compute-bound):
//   node -e "const a=require('./build/Release/kiln.node'),n=1<<24,y=a.alloc(4*n);let t=process.hrtime
//     .bigint();for(let i=0;i<10;i++)a.launch('RandomNormal',[],[{buf:y,offset:0,shape:[n],strides:[1],
//     dtype:0}],{seed_lo:i,seed_hi:0,mean:0,std:1});a.read(y,0,new Float32Array(1)).then(()=>
//     console.log(Number(process.hrtime.bigint()-t)/10e6,'ms'))"
#include <cmath>

#include "philox.h"
#include "random_params.h"
#include "elementwise_common.h"

namespace kiln {
namespace {

// The four float64 values of block i, before the affine map.
template <bool Normal> inline void block_values(uint64_t i, uint32_t lo, uint32_t hi, double v[4]) {
  PhiloxBlock b = philox4x32_10(i, lo, hi);
  if constexpr (Normal) {
    for (int p = 0; p < 4; p += 2) {
      double r = std::sqrt(-2.0 * std::log(philox_unit_open0(b.x[p])));
      double t = 6.283185307179586 * philox_unit(b.x[p + 1]);
      v[p] = r * std::cos(t);
      v[p + 1] = r * std::sin(t);
    }
  } else {
    for (int k = 0; k < 4; ++k) v[k] = philox_unit(b.x[k]);
  }
}

// Y = shift + scale * value.
template <bool Normal> void random_run(const KernelArgs& a) {
  const View& y = a.out[0];
  const RandomParams r = random_params(a.attrs, Normal);
  const uint32_t lo = r.seed_lo, hi = r.seed_hi;
  const double shift = r.shift, scale = r.scale;
  const int64_t n = y.numel();
  dispatch_float(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* out = y.data<T>();
    parallel_for((n + 3) / 4, 1 << 11, [&](int64_t b, int64_t e) {
      double v[4];
      for (int64_t i = b; i < e; ++i) {
        block_values<Normal>((uint64_t)i, lo, hi, v);
        for (int64_t k = 0, g = 4 * i; k < 4 && g < n; ++k, ++g) out[g] = from_double<T>(shift + scale * v[k]);
      }
    });
  });
}

void random_check(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, 0, 1);
  const View& y = a.out[0];
  if (!is_float(y.dtype)) unsupported(op, a);
  if (!y.contiguous()) fail("E_ARGUMENT", op + " writes a contiguous output: " + describe(op, a));
  for (const char* k : {"seed_lo", "seed_hi"}) {
    double s = a.attrs.num(k, 0);
    if (!(s >= 0 && s < 4294967296.0) || s != std::floor(s))
      fail("E_ARGUMENT", op + ": " + k + " must be an integer in [0, 2^32), got " + std::to_string(s));
  }
}

KILN_CPU_KERNEL("RandomUniform", random_run<false>, random_check);
KILN_CPU_KERNEL("RandomNormal", random_run<true>, random_check);

}  // namespace
}  // namespace kiln
