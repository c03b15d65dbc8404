// The direct-convolution row kernel, written once over a vector ISA (traits S from
// simd_avx512.h, simd_avx2.h, or conv.cc's scalar one) and instantiated by each ISA file.
// A tile is MR output channels x NV*kLanes adjacent output columns of one output row: MR*NV
// accumulators in registers; per kernel tap (c, ky, kx) it loads NV vectors of the input row
// straight from X (masked: lanes that fall in the padding read 0 and touch no memory) and
// multiplies them by MR broadcast weights. X is never copied into patches, and a tap row of
// the 3 x C input rows under an output row stays in L1 across the output-channel slivers.
// The epilogue adds the bias, applies the ReLU and stores the valid columns.
#pragma once
#include <cstdint>
#include <vector>

#include "conv_kernels.h"

namespace kiln {
namespace cv {

// Per output-column tile: each tap's column offset into its phase row and its lanes' masks.
template <class S> struct TapLanes {
  std::vector<int64_t> off;                // [kw]
  std::vector<typename S::Mask> load;      // [kw * NV]
  std::vector<typename S::Mask> store;     // [NV]
};

template <class S, int MR, int NV>
void conv_tile(const ConvArgs& c, const float* x, int ky0, int ky1, int64_t iy0, const float* a, const TapLanes<S>& t,
               const float* bias, float* y) {
  using V = typename S::V;
  constexpr int L = S::kLanes;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = S::zero();
  const int64_t kw = c.kw, as = c.mr;
  const int64_t* off = t.off.data();
  const typename S::Mask* mask = t.load.data();
  for (int64_t ch = 0; ch < c.Cg; ++ch, x += c.xc) {
    const float* ak = a + (ch * c.kh + ky0) * kw * as;
    for (int ky = ky0; ky < ky1; ++ky) {
      const float* xr = x + (iy0 + ky * c.dh) * c.xh;
      for (int64_t kx = 0; kx < kw; ++kx, ak += as) {
        V b[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) b[j] = S::load(xr + off[kx] + L * j, mask[kx * NV + j]);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
          const V av = S::set1(ak[i]);
#pragma GCC unroll 4
          for (int j = 0; j < NV; ++j) acc[i][j] = S::fma(av, b[j], acc[i][j]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    const V bv = S::set1(bias ? bias[i] : 0.0f);
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      V v = S::add(acc[i][j], bv);
      if (c.relu) v = S::max(v, S::zero());
      S::store(y + i * c.yc + L * j, v, t.store[j]);
    }
  }
}

template <class S, int NV, int... MRs>
struct TileTable {
  using Fn = void (*)(const ConvArgs&, const float*, int, int, int64_t, const float*, const TapLanes<S>&, const float*, float*);
  static constexpr Fn fns[sizeof...(MRs)] = {conv_tile<S, MRs, NV>...};
};

// One output row of one (n, g): every column tile, every sliver of output channels.
// Tiles[i] computes i + 1 channels.
template <class S, int NV, class Tiles>
void conv_row(const ConvArgs& c, int64_t n, int64_t g, int64_t oy) {
  constexpr int L = S::kLanes, NR = L * NV;
  const float* x = c.x + n * c.xn + g * c.Cg * c.xc;
  // the kernel rows that land inside X for this output row
  const int64_t iy0 = oy * c.sh - c.ph;
  int ky0 = 0, ky1 = (int)c.kh;
  while (ky0 < ky1 && iy0 + ky0 * c.dh < 0) ++ky0;
  while (ky1 > ky0 && iy0 + (ky1 - 1) * c.dh >= c.H) --ky1;
  TapLanes<S> t;
  t.off.resize(c.kw);
  t.load.resize(c.kw * NV);
  t.store.resize(NV);
  const int64_t K = c.Cg * c.kh * c.kw;
  for (int64_t ox0 = 0; ox0 < c.Wo; ox0 += NR) {
    for (int64_t kx = 0; kx < c.kw; ++kx) {
      // input column of output column ox: ox * P + tap, tap = kx * dw - pw = base * P + r
      const int64_t tap = kx * c.dw - c.pw;
      const int64_t r = ((tap % c.P) + c.P) % c.P, base = (tap - r) / c.P;
      const int64_t valid = (c.W - r + c.P - 1) / c.P;  // columns of phase r
      const int64_t first = base + ox0;                  // phase column of lane 0
      t.off[kx] = r * c.Wq + first;
      for (int j = 0; j < NV; ++j) {
        const int64_t lo = -first - L * j, hi = std::min(valid - first, c.Wo - ox0) - L * j;
        t.load[kx * NV + j] = S::range((int)std::max<int64_t>(-1, std::min<int64_t>(lo, L)), (int)std::max<int64_t>(-1, std::min<int64_t>(hi, L)));
      }
    }
    for (int j = 0; j < NV; ++j) t.store[j] = S::range(0, (int)std::max<int64_t>(0, std::min<int64_t>(c.Wo - ox0 - L * j, L)));
    for (int64_t s = 0; s < c.slivers; ++s) {
      const int64_t m0 = s * c.mr, rows = std::min(c.mr, c.Mg - m0);
      const float* a = c.w + (g * c.slivers + s) * K * c.mr;
      const float* bias = c.bias ? c.bias + g * c.Mg + m0 : nullptr;
      float* y = c.y + n * c.yn + (g * c.Mg + m0) * c.yc + oy * c.Wo + ox0;
      Tiles::fns[rows - 1](c, x, ky0, ky1, iy0, a, t, bias, y);
    }
  }
}

}  // namespace cv
}  // namespace kiln
