// The row loops of the CPU GridSample (grid_sample.cc), per vector ISA: a run of n output positions
// of one channel, from a table of taps laid out tap-major (tap k of position i at k * ld + i), so
// that each tap is one unit-stride row of offsets and one of weights: a vector gather per tap.
//   weighted_f32  y[i] = sum over k < kr of keep(x[off[k ld + i]]) * w[k ld + i], the taps summed in
//                 order from k = 0, each product and sum rounded (no FMA), so every set gives the
//                 portable loop's bits; keep(v) ANDs v's bits with keep[k ld + i] (zeros padding:
//                 0 for a tap outside X), or is v itself when keep is null
//   copy_b32      y[i] = x[off[i]] AND keep[i] (nearest on 32-bit elements; keep null: none)
// The portable set (grid_sample.cc) is scalar; grid_sample_avx2.cc and grid_sample_avx512.cc gather.
// As vmath.h, this header declares only plain data and function pointers: it is included by files
// compiled with different -m flags.
#pragma once
#include <cstdint>

namespace kiln {
namespace gs {

struct RowKernels {
  const char* name;
  void (*weighted_f32)(const float* x, const int32_t* off, const float* w, const uint32_t* keep, int64_t ld, int kr, int64_t n, float* y);
  void (*copy_b32)(const uint32_t* x, const int32_t* off, const uint32_t* keep, int64_t n, uint32_t* y);
};

// Call only when cpu_isa() picked the ISA the file is compiled for.
const RowKernels* row_kernels_avx2();    // grid_sample_avx2.cc
const RowKernels* row_kernels_avx512();  // grid_sample_avx512.cc

}  // namespace gs
}  // namespace kiln
