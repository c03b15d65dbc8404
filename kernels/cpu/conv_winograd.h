// Winograd F(2x2, 3x3) convolution (Lavin & Gray, 2016), written once over a vector ISA's traits S
// (simd_avx512.h, simd_avx2.h, conv.cc's portable one) and instantiated by each ISA file.
// Y = A^T [ (G w G^T) . (B^T d B) ] A computes a 2x2 output tile from a 4x4 input tile d with 16
// multiplies per input channel instead of 36: the product becomes 16 small matrix products
// U[xi] (M x C) times V[xi] (C x tiles), 2.25x fewer FMAs than direct convolution.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
// Vector lanes run over adjacent tiles of one tile row, so a tile's 4 input columns are the even
// and odd elements of the input row at two offsets (S::pairs), and with a 2x2 max pool each pooled
// output is one tile's 4 values. conv.cc transforms the weights (U) and hands out slots: L tiles
// of one tile row (L = lanes), NV slots per call.
#pragma once
#include <algorithm>
#include <cstdint>

#include "conv_kernels.h"
#include "register_tile.h"

namespace kiln {
namespace cv {

// C[i][j*L ..] = sum_k a[k*as + i] * b[k*bs + j*L ..] for i < MR: one sliver of U[xi] times V[xi].
template <class S, int MR, int NV>
void wino_product(const float* a, int64_t as, const float* b, int64_t bs, int64_t K, float* c, int64_t cs) {
  RegisterTile<S, MR, NV> t;
  t.zero();
  for (int64_t k = 0; k < K; ++k) t.update(a + k * as, b + k * bs);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) S::store(c + i * cs + S::kLanes * j, t.acc[i][j]);
}

template <class S, int NV, int... MRs>
struct ProductTable {
  using Fn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t);
  static constexpr Fn fns[sizeof...(MRs)] = {wino_product<S, MRs, NV>...};
};

// Slots [first, first + count) (count <= NV). Scratch: winograd_scratch_floats(C, mr, lanes, NV).
template <class S, int NV, class Products>
void winograd_slots(const WinogradArgs& w, int64_t first, int count, float* scratch) {
  using V = typename S::V;
  constexpr int L = S::kLanes, NT = NV * L;
  float* vt = scratch;                  // V: [16][C][NT]
  float* mt = vt + 16 * w.C * NT;       // products of one sliver: [16][mr][NT]
  float* row = mt + 16 * w.mr * NT;     // one zero-padded input row segment: 2L + 2 floats
  const int64_t per_image = w.Th * w.spr;
  int64_t n[NV], ty[NV], tx0[NV];
  for (int j = 0; j < NV; ++j) {
    const int64_t s = first + std::min(j, count - 1);
    n[j] = s / per_image, ty[j] = s % per_image / w.spr, tx0[j] = s % w.spr * L;
  }
  // input transform: V[xi][c][j*L + l] = (B^T d B)[xi] of tile (ty, tx0 + l) of slot j
  for (int j = 0; j < NV; ++j)
    for (int64_t c = 0; c < w.C; ++c) {
      V d[4][4];
      const float* plane = w.x + n[j] * w.xn + c * w.xc;
      const int64_t col0 = 2 * tx0[j] - w.pw;
      for (int r = 0; r < 4; ++r) {
        const int64_t iy = 2 * ty[j] - w.ph + r;
        if (iy < 0 || iy >= w.H) {
          for (int k = 0; k < 4; ++k) d[r][k] = S::zero();
          continue;
        }
        const float* src = plane + iy * w.xh;
        if (w.xw == 1) {  // masked loads: the lanes outside X read as zero and are never touched
          V a[4];
          for (int q = 0; q < 4; ++q) {
            const int64_t at = col0 + (q & 1) * L + (q >> 1) * 2;
            a[q] = S::load(src + at, S::range((int)std::max<int64_t>(-at, -1), (int)std::min<int64_t>(w.W - at, L + 1)));
          }
          S::deinterleave(a[0], a[1], d[r][0], d[r][1]);
          S::deinterleave(a[2], a[3], d[r][2], d[r][3]);
          continue;
        }
        for (int64_t q = 0; q < 2 * L + 2; ++q) {  // strided columns: a zero-padded copy
          const int64_t ix = col0 + q;
          row[q] = ix >= 0 && ix < w.W ? src[ix * w.xw] : 0.0f;
        }
        S::pairs(row, d[r][0], d[r][1]);
        S::pairs(row + 2, d[r][2], d[r][3]);
      }
      V u[4][4];
      for (int k = 0; k < 4; ++k) {
        u[0][k] = S::sub(d[0][k], d[2][k]);
        u[1][k] = S::add(d[1][k], d[2][k]);
        u[2][k] = S::sub(d[2][k], d[1][k]);
        u[3][k] = S::sub(d[1][k], d[3][k]);
      }
      float* out = vt + c * NT + j * L;
      for (int i = 0; i < 4; ++i) {
        S::store(out + (i * 4 + 0) * w.C * NT, S::sub(u[i][0], u[i][2]));
        S::store(out + (i * 4 + 1) * w.C * NT, S::add(u[i][1], u[i][2]));
        S::store(out + (i * 4 + 2) * w.C * NT, S::sub(u[i][2], u[i][1]));
        S::store(out + (i * 4 + 3) * w.C * NT, S::sub(u[i][1], u[i][3]));
      }
    }
  // per sliver of output channels: the 16 products, then the output transform from L1
  for (int64_t s = 0; s < w.slivers; ++s) {
    const int64_t m0 = s * w.mr, rows = std::min(w.mr, w.M - m0);
    for (int xi = 0; xi < 16; ++xi)
      Products::fns[rows - 1](w.u + (xi * w.slivers + s) * w.C * w.mr, w.mr, vt + xi * w.C * NT, NT, w.C, mt + xi * w.mr * NT, NT);
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t m = m0 + i;
      const V bias = S::set1(w.bias ? w.bias[m] : 0.0f);
      for (int j = 0; j < count; ++j) {
        const float* mp = mt + i * NT + j * L;
        V q[4][4];
        for (int xi = 0; xi < 16; ++xi) q[xi / 4][xi % 4] = S::load(mp + xi * w.mr * NT);
        V s0[4], s1[4];
        for (int k = 0; k < 4; ++k) {
          s0[k] = S::add(S::add(q[0][k], q[1][k]), q[2][k]);
          s1[k] = S::sub(S::sub(q[1][k], q[2][k]), q[3][k]);
        }
        V y[2][2] = {{S::add(S::add(s0[0], s0[1]), s0[2]), S::sub(S::sub(s0[1], s0[2]), s0[3])},
                     {S::add(S::add(s1[0], s1[1]), s1[2]), S::sub(S::sub(s1[1], s1[2]), s1[3])}};
        for (auto& yr : y)
          for (V& v : yr) {
            v = S::add(v, bias);
            if (w.relu) v = S::max(S::zero(), v);  // NaN stays NaN, as Relu's x < 0 ? 0 : x
          }
        float* plane = w.y + n[j] * w.yn + m * w.yc;
        if (w.pool) {  // Y[ty][tx]: the max of the tile's 4 outputs, NaN kept
          const V v = S::max_nan(S::max_nan(y[0][0], y[0][1]), S::max_nan(y[1][0], y[1][1]));
          S::store(plane + ty[j] * w.Wy + tx0[j], v, S::range(0, (int)(w.Wy - tx0[j])));
          continue;
        }
        for (int r = 0; r < 2; ++r) {
          const int64_t oy = 2 * ty[j] + r, ox = 2 * tx0[j];
          if (oy >= w.Ho) break;
          V lo, hi;
          S::interleave(y[r][0], y[r][1], lo, hi);
          S::store(plane + oy * w.Wy + ox, lo, S::range(0, (int)(w.Wo - ox)));
          S::store(plane + oy * w.Wy + ox + L, hi, S::range(0, (int)(w.Wo - ox - L)));
        }
      }
    }
  }
}

}  // namespace cv
}  // namespace kiln
