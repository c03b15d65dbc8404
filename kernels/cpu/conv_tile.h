// The direct-convolution tile, written once over a vector ISA (traits S from simd_avx512.h,
// simd_avx2.h, or conv.cc's portable one) and instantiated by each ISA file.
// A tile is MR output channels x NV*kLanes adjacent output columns of one output row: MR*NV
// accumulators in registers; per kernel tap (c, ky, kx) it loads NV vectors of the row panel and
// multiplies them by MR broadcast weights. The row panel (conv.cc) holds, for one output row, the
// input rows under it with their zero padding and split into stride phases, so every tap is an
// unmasked unit-stride load from L1 and nothing is copied per tap. The epilogue adds the bias,
// applies the ReLU and stores the tile's valid columns.
#pragma once
#include <algorithm>
#include <cstdint>

#include "conv_kernels.h"
#include "register_tile.h"

namespace kiln {
namespace cv {

template <class S, int MR, int NV>
void conv_tile(const ConvArgs& c, const float* panel, int ky0, int ky1, const float* a, const float* bias, float* y,
               const typename S::Mask* store) {
  using V = typename S::V;
  constexpr int L = S::kLanes;
  RegisterTile<S, MR, NV> t;
  t.zero();
  const int64_t kw = c.kw, as = c.mr, row = c.P * c.Lp;
  const int64_t* off = c.off;
  for (int64_t ch = 0; ch < c.Cg; ++ch) {
    const float* ak = a + (ch * c.kh + ky0) * kw * as;
    for (int ky = ky0; ky < ky1; ++ky) {
      const float* pr = panel + (ch * c.kh + ky) * row;
      for (int64_t kx = 0; kx < kw; ++kx, ak += as) t.update(ak, pr + off[kx]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    const V bv = S::set1(bias ? bias[i] : 0.0f);
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      V v = S::add(t.acc[i][j], bv);
      if (c.relu) v = S::max(S::zero(), v);  // NaN stays NaN, as Relu's x < 0 ? 0 : x
      S::store(y + i * c.yc + L * j, v, store[j]);
    }
  }
}

template <class S, int NV, int... MRs>
struct TileTable {
  using Fn = void (*)(const ConvArgs&, const float*, int, int, const float*, const float*, float*, const typename S::Mask*);
  static constexpr Fn fns[sizeof...(MRs)] = {conv_tile<S, MRs, NV>...};
};

// One output row of one (n, g) from its filled row panel: every column tile (stores masked to the
// valid columns), every sliver of output channels. Tiles::fns[i] computes i + 1 channels.
template <class S, int NV, class Tiles>
void conv_row(const ConvArgs& c, const float* panel, int ky0, int ky1, int64_t n, int64_t g, int64_t oy) {
  constexpr int L = S::kLanes, NR = L * NV;
  const int64_t K = c.Cg * c.kh * c.kw;
  typename S::Mask store[NV];
  for (int64_t ox0 = 0; ox0 < c.Wo; ox0 += NR) {
    for (int j = 0; j < NV; ++j) {
      const int64_t left = c.Wo - ox0 - L * j;
      store[j] = S::range(0, (int)(left < 0 ? 0 : left > L ? L : left));
    }
    for (int64_t s = 0; s < c.slivers; ++s) {
      const int64_t m0 = s * c.mr, rows = std::min(c.mr, c.Mg - m0);
      const float* a = c.w + (g * c.slivers + s) * K * c.mr;
      const float* bias = c.bias ? c.bias + g * c.Mg + m0 : nullptr;
      float* y = c.y + n * c.yn + (g * c.Mg + m0) * c.yc + oy * c.Wo + ox0;
      Tiles::fns[rows - 1](c, panel + ox0, ky0, ky1, a, bias, y, store);
    }
  }
}

// ConvKernels::pool: the qh rows are first reduced into the first one in place (whole vectors),
// then each qw-wide window of it (qw = 2: even and odd lanes of two vectors).
template <class S>
void pool_rows(float* rows, int64_t channels, int64_t qh, int64_t qw, int64_t Wo, float* y, int64_t ystride) {
  using V = typename S::V;
  constexpr int L = S::kLanes;
  const int64_t Wp = Wo / qw;
  auto max1 = [](float a, float b) { return a >= b || a != a ? a : b; };
  for (int64_t ch = 0; ch < channels; ++ch, rows += qh * Wo, y += ystride) {
    int64_t x = 0;
    for (; x + L <= Wo; x += L) {
      V v = S::load(rows + x);
      for (int64_t r = 1; r < qh; ++r) v = S::max_nan(v, S::load(rows + r * Wo + x));
      S::store(rows + x, v);
    }
    for (; x < Wo; ++x)
      for (int64_t r = 1; r < qh; ++r) rows[x] = max1(rows[x], rows[r * Wo + x]);
    int64_t px = 0;
    if (qw == 2)
      for (; px + L <= Wp; px += L) {
        V even, odd;
        S::pairs(rows + 2 * px, even, odd);
        S::store(y + px, S::max_nan(even, odd));
      }
    for (; px < Wp; ++px) {
      float v = rows[px * qw];
      for (int64_t s = 1; s < qw; ++s) v = max1(v, rows[px * qw + s]);
      y[px] = v;
    }
  }
}

}  // namespace cv
}  // namespace kiln
