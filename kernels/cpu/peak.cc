// PeakFlops: the CPU's measured float32 FMA ceiling, the figure benchmarks report beside their own.
//   PeakFlops(-> Y: float32[1]; iters)   Y[0] = GFLOP/s of FMA chains on every pool thread at once
// Variants: AVX-512 (16 lanes), AVX2+FMA (8 lanes), portable (scalar chains the compiler may
// vectorize). The widest the CPU has is used, the same choice matmul makes.
// Bench alone: `kiln bench matmul` prints it in its header line.
#include <atomic>
#include <chrono>

#include "cpu_info.h"
#include "elementwise_common.h"
#include "peak.h"

namespace kiln {
namespace {

double fma_loop_portable(int64_t iters) {
  return fma_chains<float, 1, 32>(iters, [](float a, float b, float c) { return a * b + c; }, [](float x) { return x; });
}

void peak_run(const KernelArgs& a) {
  const auto& f = cpu_features();
  double (*loop)(int64_t) = f.avx512f ? fma_loop_avx512 : (f.avx2 && f.fma) ? fma_loop_avx2 : fma_loop_portable;
  const int64_t iters = a.attrs.i64("iters", 20000000);
  const int nt = num_threads();
  std::atomic<double> flops{0};
  auto t0 = std::chrono::steady_clock::now();
  parallel_run(nt, [&](int, int) {
    double mine = loop(iters);
    double cur = flops.load();
    while (!flops.compare_exchange_weak(cur, cur + mine)) {}
  });
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  a.out[0].data<float>()[0] = (float)(flops.load() / s / 1e9);
}

void peak_check(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, 0, 1);
  if (a.out[0].dtype != DType::F32 || a.out[0].numel() != 1) fail("E_SHAPE", op + " writes one float32: " + describe(op, a));
}

KILN_CPU_KERNEL("PeakFlops", peak_run, peak_check, never_inline);  // it times the pool's threads

}  // namespace
}  // namespace kiln
