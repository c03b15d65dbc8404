// The interface between the Conv driver (conv.cc) and its per-ISA row kernels (conv_avx512.cc,
// conv_avx2.cc, and the portable instance inside conv.cc), all instances of conv_tile.h.
// Plain data and function pointers only: the header is included by files built with different
// -m flags.
#pragma once
#include <cstdint>

namespace kiln {
namespace cv {

// One float32 2-D convolution call (a 1-D one has H = kh = 1). The driver fills, per output row,
// a row panel: for each input channel c of the group and kernel row ky, the input row under it,
// zero padded on both sides and split into P = (W stride) phases of Lp floats each (phase r, index
// j holds padded column j*P + r), at panel[(c*kh + ky)*P*Lp + r*Lp + j]. Output column ox, tap kx
// then reads panel[... + off[kx] + ox], off[kx] = (kx*dw % P)*Lp + kx*dw / P: unit stride in ox.
struct ConvArgs {
  int64_t Cg, kh, kw, P, Lp;
  const int64_t* off;  // [kw]
  int64_t Wo;
  // Packed weights: per group, slivers of `mr` output channels, each [K = Cg*kh*kw][mr] (element
  // (k, i) at k*mr + i, zero padded past the group's last channel).
  const float* w;
  int64_t mr, slivers, Mg;
  const float* bias;  // [M] contiguous, or null
  bool relu;
  float* y;           // Y[n, m, oy, ox] at y + n*yn + m*yc + oy*Wo + ox
  int64_t yn, yc;
};

// A Winograd F(2x2, 3x3) call (conv_winograd.h): 3x3 kernel, stride 1, no dilation, one group.
// Slot s covers tiles tx0 .. tx0 + lanes of tile row ty of image n: n = s / (Th*spr), ty = s / spr
// % Th, tx0 = s % spr * lanes.
struct WinogradArgs {
  int64_t C, M, H, W, ph, pw;  // input channels and size, begin pads
  int64_t Ho, Wo;              // conv outputs computed
  int64_t Th, Tw, spr;         // tile rows and columns (2x2 outputs each), slots per tile row
  const float* x;
  int64_t xn, xc, xh, xw;      // X's strides
  // Transformed weights U = G w G^T: [16][slivers][C][mr], element (xi, s, c, i) for channel s*mr + i
  const float* u;
  int64_t mr, slivers;
  const float* bias;           // [M] contiguous, or null
  bool relu, pool;             // pool: Y is the 2x2 max pool of the conv (one value per tile)
  float* y;                    // Y[n, m, oy, ox] at y + n*yn + m*yc + oy*Wy + ox (contiguous)
  int64_t yn, yc, Wy;
};

// Per-thread scratch a winograd call needs, in floats.
inline int64_t winograd_scratch_floats(int64_t C, int64_t mr, int lanes, int nv) {
  return 16 * (C + mr) * nv * lanes + 2 * lanes + 2;
}

struct ConvKernels {
  const char* name;
  int max_mr;  // the most output channels a tile holds in registers
  // Y[n, g*Mg .. (g+1)*Mg, oy, 0 .. Wo) for one output row from its panel (kernel rows [ky0, ky1)
  // land inside X), in tiles one vector wide (narrow) or two vectors wide (wide); `lanes` floats
  // per vector: narrow is for Wo <= lanes.
  using RowFn = void (*)(const ConvArgs& a, const float* panel, int ky0, int ky1, int64_t n, int64_t g, int64_t oy);
  RowFn narrow, wide;
  int lanes;
  // The fused max pool: for each of `channels` channels (rows at rows + ch*qh*Wo, qh conv rows of
  // Wo floats; y at y + ch*ystride), y[px] = the NaN-keeping max of the qh x qw window at px*qw.
  void (*pool)(float* rows, int64_t channels, int64_t qh, int64_t qw, int64_t Wo, float* y, int64_t ystride);
  // Winograd slots [first, first + count), count <= winograd_nv; `scratch` as winograd_scratch_floats.
  void (*winograd)(const WinogradArgs& a, int64_t first, int count, float* scratch);
  int winograd_nv;
};

const ConvKernels* conv_kernels_avx512();  // conv_avx512.cc
const ConvKernels* conv_kernels_avx2();    // conv_avx2.cc

}  // namespace cv
}  // namespace kiln
