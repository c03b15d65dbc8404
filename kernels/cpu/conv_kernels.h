// The interface between the Conv driver (conv.cc) and its per-ISA row kernels (conv_avx512.cc,
// conv_avx2.cc, and the portable instance inside conv.cc), all instances of conv_tile.h.
// Plain data and function pointers only: the header is included by files built with different
// -m flags.
#pragma once
#include <cstdint>

namespace kiln {
namespace cv {

// One float32 2-D convolution call (a 1-D one has H = kh = 1), with the input already laid out
// for unit-stride reads along W: X[n, c, h] rows hold P phases of Wq floats, phase r holding the
// input columns r, r + P, r + 2P, ... (P = the W stride; P = 1 is the input row itself).
struct ConvArgs {
  const float* x;
  int64_t xn, xc, xh;  // strides of n, c, h in floats (a phase is Wq floats)
  int64_t Cg, H, W, Wq, P;
  int64_t kh, kw, sh, dh, ph, dw, pw;
  int64_t Ho, Wo;
  // Packed weights: per group, slivers of `mr` output channels, each [K = Cg*kh*kw][mr] (element
  // (k, i) at k*mr + i, zero padded past the group's last channel).
  const float* w;
  int64_t mr, slivers, Mg;
  const float* bias;  // [M] contiguous, or null
  bool relu;
  float* y;           // Y[n, m, oy, ox] at y + n*yn + m*yc + oy*Wo + ox
  int64_t yn, yc;
};

struct ConvKernels {
  const char* name;
  int max_mr;  // the most output channels a tile holds in registers
  // Y[n, g*Mg .. (g+1)*Mg, oy, 0 .. Wo) for one output row, in tiles one vector wide (narrow)
  // or two vectors wide (wide); `lanes` floats per vector: narrow is for Wo <= lanes.
  using RowFn = void (*)(const ConvArgs& a, int64_t n, int64_t g, int64_t oy);
  RowFn narrow, wide;
  int lanes;
};

const ConvKernels* conv_kernels_avx512();  // conv_avx512.cc
const ConvKernels* conv_kernels_avx2();    // conv_avx2.cc

}  // namespace cv
}  // namespace kiln
