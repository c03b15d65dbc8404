// Random numbers on CUDA from Philox4x32-10: kernels/cpu/philox.h itself (__host__ __device__), so
// every device produces the same stream for one seed.
//   RandomUniform(-> Y float[...]; seed_lo, seed_hi, low, high)   Y = low + (high - low) * u
//   RandomNormal (-> Y float[...]; seed_lo, seed_hi, mean, std)   Y = mean + std * z
// Y is contiguous; element g takes word g % 4 of block g / 4 (counter = g / 4, key = seed). Normal:
// Box-Muller on word pairs (x0, x1) -> 4i, 4i+1 and (x2, x3) -> 4i+2, 4i+3, in float64, rounded
// once into Y's dtype. One thread per block of four.
// Bench alone: `a.cuda.launch(0, 'RandomNormal', [], [y], {seed_lo: 1, seed_hi: 0, mean: 0, std: 1})`.
#include "common.cuh"
#include "philox.h"
#include "random_params.h"

namespace kiln {
namespace cuda {
namespace {

template <typename T, bool Normal>
__global__ void __launch_bounds__(kThreads) random_kernel(T* y, int64_t n, uint32_t lo, uint32_t hi, double shift, double scale) {
  KILN_GRID_STRIDE(i, (n + 3) / 4) {
    PhiloxBlock b = philox4x32_10((uint64_t)i, lo, hi);
    double v[4];
    if constexpr (Normal) {
#pragma unroll
      for (int p = 0; p < 4; p += 2) {
        double r = sqrt(-2.0 * log(philox_unit_open0(b.x[p])));
        double t = 6.283185307179586 * philox_unit(b.x[p + 1]);
        v[p] = r * cos(t);
        v[p + 1] = r * sin(t);
      }
    } else {
#pragma unroll
      for (int k = 0; k < 4; ++k) v[k] = philox_unit(b.x[k]);
    }
    // Unfused multiply and add (nvcc would contract them into an fma): the CPU's rounding exactly.
    for (int64_t k = 0, g = 4 * i; k < 4 && g < n; ++k, ++g) y[g] = from_double<T>(__dadd_rn(shift, __dmul_rn(scale, v[k])));
  }
}

template <bool Normal> void random_run(const KernelArgs& a, const Stream& s) {
  const View& y = a.out[0];
  const RandomParams r = random_params(a.attrs, Normal);
  const uint32_t lo = r.seed_lo, hi = r.seed_hi;
  const double shift = r.shift, scale = r.scale;
  const int64_t n = y.numel();
  dispatch_float(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    random_kernel<T, Normal><<<grid_for((n + 3) / 4, kThreads, s), kThreads, 0, s.stream>>>(y.data<T>(), n, lo, hi, shift, scale);
  });
  check_launch("random_kernel");
}

KILN_CUDA_KERNEL("RandomUniform", random_run<false>);
KILN_CUDA_KERNEL("RandomNormal", random_run<true>);

}  // namespace
}  // namespace cuda
}  // namespace kiln
