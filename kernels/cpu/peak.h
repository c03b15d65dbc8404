// Peak FMA throughput loops, one per ISA (peak_avx512.cc, peak_avx2.cc, and portable in peak.cc),
// all instances of fma_chains. Each runs `iters` rounds and returns the flops it performed.
#pragma once
#include <cstdint>
#include <cstring>

namespace kiln {

double fma_loop_avx512(int64_t iters);  // compiled with -mavx512f; call only when the CPU has it
double fma_loop_avx2(int64_t iters);    // compiled with -mavx2 -mfma

// Chains independent accumulators (enough to hide FMA latency on every FMA port) of a vector type V
// holding Lanes floats; fma(a, b, c) = a * b + c and set1(x) broadcast are the ISA's intrinsics.
template <typename V, int Lanes, int Chains, typename Fma, typename Set1>
double fma_chains(int64_t iters, Fma fma, Set1 set1) {
  V acc[Chains];
  for (int i = 0; i < Chains; ++i) acc[i] = set1(1.0f + i * 1e-3f);
  const V a = set1(0.999999f), b = set1(1e-7f);
  for (int64_t n = 0; n < iters; ++n)
    for (int i = 0; i < Chains; ++i) acc[i] = fma(acc[i], a, b);
  float lanes[Lanes], sum = 0;
  for (int i = 0; i < Chains; ++i) {
    std::memcpy(lanes, &acc[i], sizeof(lanes));  // keeps every chain live
    sum += lanes[0];
  }
  volatile float sink = sum;
  (void)sink;
  return (double)iters * Chains * Lanes * 2;
}

}  // namespace kiln
