// Peak FMA throughput loops, one per ISA (peak_avx512.cc, peak_avx2.cc). Each runs `iters` rounds of
// independent FMA chains and returns the flops it performed; the caller times it.
#pragma once
#include <cstdint>

namespace kiln {
double fma_loop_avx512(int64_t iters);  // compiled with -mavx512f; call only when the CPU has it
double fma_loop_avx2(int64_t iters);    // compiled with -mavx2 -mfma
}  // namespace kiln
