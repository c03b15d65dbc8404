// Conv: Y = act(X (*) W + B), the direct convolution behind the ONNX engine's Conv on the CPU.
//   Conv(X float32[N, C, (H,) W], W float32[M, C/group, (kh,) kw][, B float32[M]];
//        strides, dilations, pads (begin, one per spatial dim), group, activation 'none' | 'relu')
//     -> Y float32[N, M, (Ho,) Wo] (contiguous), 1 or 2 spatial dims. Y's spatial shape sets the
//        end padding: taps that fall outside X read 0.
// Work: one output row (n, g, oy) per unit, rows in parallel. A row kernel (conv_tile.h) reads
// the input rows under it in place, through masked vector loads, for a tile of output channels x
// adjacent output columns held in registers; bias and ReLU are applied before the single store.
// No patch matrix is built: against Im2Col + MatMul (the composed path other backends and other
// dtypes take), this removes a copy 9x the input's size for 3x3 kernels and the L1 conflicts of
// reading those columns with a power-of-two row stride.
// Layout: when the W stride is 1 and X's rows have unit stride, X is read where it lies; otherwise
// X is first copied into `P` phase planes per row (P = the W stride), which turns every tap of a
// strided conv into a unit-stride run.
// Weights are packed per call into slivers of <= max_mr output channels (the group's channels split
// into equal slivers, so M = 64 runs as 5 x 13 rows rather than 4 x 14 + 8).
// Bench alone: conv_avx512.cc's header.
#include <algorithm>
#include <cstring>
#include <vector>

#include "conv_tile.h"
#include "cpu_info.h"
#include "elementwise_common.h"

namespace kiln {
namespace {

using cv::ConvArgs;
using cv::ConvKernels;

// The portable set: eight floats per "vector" in plain loops the compiler vectorizes for the
// baseline ISA; masks are bit sets.
struct Portable {
  struct V {
    float v[8];
  };
  using Mask = uint32_t;
  static constexpr int kLanes = 8;
  static V zero() { return V{}; }
  static V set1(float x) {
    V r;
    for (float& e : r.v) e = x;
    return r;
  }
  static V fma(V a, V b, V c) {
    for (int l = 0; l < 8; ++l) c.v[l] += a.v[l] * b.v[l];
    return c;
  }
  static V add(V a, V b) {
    for (int l = 0; l < 8; ++l) a.v[l] += b.v[l];
    return a;
  }
  static V max(V a, V b) {
    for (int l = 0; l < 8; ++l) a.v[l] = a.v[l] > b.v[l] || a.v[l] != a.v[l] ? a.v[l] : b.v[l];
    return a;
  }
  static Mask range(int lo, int hi) {
    Mask m = 0;
    for (int l = std::max(lo, 0); l < std::min(hi, 8); ++l) m |= 1u << l;
    return m;
  }
  static V load(const float* p, Mask m) {
    V r{};
    for (int l = 0; l < 8; ++l)
      if (m >> l & 1) r.v[l] = p[l];
    return r;
  }
  static void store(float* p, V v, Mask m) {
    for (int l = 0; l < 8; ++l)
      if (m >> l & 1) p[l] = v.v[l];
  }
};

template <int NV> using PortableTiles = cv::TileTable<Portable, NV, 1, 2, 3, 4>;
const ConvKernels kPortable = {"portable", 4, cv::conv_row<Portable, 1, PortableTiles<1>>, cv::conv_row<Portable, 2, PortableTiles<2>>, 8};

const ConvKernels& conv_kernels() {
  switch (cpu_isa()) {
    case Isa::Avx512: return *cv::conv_kernels_avx512();
    case Isa::Avx2: return *cv::conv_kernels_avx2();
    default: return kPortable;
  }
}

struct Geometry {
  int d;  // spatial dims: 1 or 2
  int64_t N, C, H, W, M, G, kh, kw, sh, sw, dh, dw, ph, pw, Ho, Wo;
};

Geometry geometry(const KernelArgs& a) {
  const View &x = a.in[0], &w = a.in[1], &y = a.out[0];
  Geometry g{};
  g.d = x.rank() - 2;
  const auto s = a.attrs.ints("strides"), dil = a.attrs.ints("dilations"), p = a.attrs.ints("pads");
  const bool two = g.d == 2;
  g.N = x.shape[0], g.C = x.shape[1], g.M = w.shape[0], g.G = a.attrs.i64("group");
  g.H = two ? x.shape[2] : 1, g.W = x.shape[x.rank() - 1];
  g.kh = two ? w.shape[2] : 1, g.kw = w.shape[w.rank() - 1];
  g.sh = two ? s[0] : 1, g.sw = s[g.d - 1];
  g.dh = two ? dil[0] : 1, g.dw = dil[g.d - 1];
  g.ph = two ? p[0] : 0, g.pw = p[g.d - 1];
  g.Ho = two ? y.shape[2] : 1, g.Wo = y.shape[y.rank() - 1];
  return g;
}

// X rows as P phase planes of Wq floats: plane r of row (n, c, h) holds X[n, c, h, r + P*j].
std::vector<float> phase_planes(const View& x, const Geometry& g, int64_t P, int64_t Wq) {
  std::vector<float> out((size_t)(g.N * g.C * g.H * P * Wq), 0.0f);
  const float* xp = x.data<float>();
  const int64_t sn = x.strides[0], sc = x.strides[1], sh = g.d == 2 ? x.strides[2] : 0, sw = x.strides[x.rank() - 1];
  parallel_for(g.N * g.C * g.H, std::max<int64_t>(1, kElementwiseGrain / (g.W + 1)), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t h = row % g.H, c = row / g.H % g.C, n = row / (g.H * g.C);
      const float* src = xp + n * sn + c * sc + h * sh;
      float* dst = out.data() + row * P * Wq;
      for (int64_t col = 0; col < g.W; ++col) dst[(col % P) * Wq + col / P] = src[col * sw];
    }
  });
  return out;
}

void conv_run(const KernelArgs& a) {
  const View &x = a.in[0], &w = a.in[1], &y = a.out[0];
  const View* b = a.in.size() > 2 ? &a.in[2] : nullptr;
  const Geometry g = geometry(a);
  if (y.numel() == 0) return;
  const ConvKernels& kk = conv_kernels();
  ConvArgs c{};
  c.Cg = g.C / g.G, c.H = g.H, c.W = g.W;
  c.kh = g.kh, c.kw = g.kw, c.sh = g.sh, c.dh = g.dh, c.ph = g.ph, c.dw = g.dw, c.pw = g.pw;
  c.Ho = g.Ho, c.Wo = g.Wo;
  std::vector<float> planes;
  if (g.sw == 1 && x.strides[x.rank() - 1] == 1) {
    c.x = x.data<float>(), c.P = 1, c.Wq = g.W;
    c.xn = x.strides[0], c.xc = x.strides[1], c.xh = g.d == 2 ? x.strides[2] : 0;
  } else {
    c.P = g.sw, c.Wq = (g.W + g.sw - 1) / g.sw;
    planes = phase_planes(x, g, c.P, c.Wq);
    c.x = planes.data();
    c.xh = c.P * c.Wq, c.xc = g.H * c.xh, c.xn = g.C * c.xc;
  }
  // weights -> per group, equal slivers of <= max_mr channels: element (k, i) at k * mr + i
  c.Mg = g.M / g.G;
  c.slivers = (c.Mg + kk.max_mr - 1) / kk.max_mr;
  c.mr = (c.Mg + c.slivers - 1) / c.slivers;
  const int64_t K = c.Cg * g.kh * g.kw;
  std::vector<float> packed((size_t)(g.G * c.slivers * K * c.mr), 0.0f);
  const float* wp = w.data<float>();
  const int r = w.rank();
  for (int64_t m = 0; m < g.M; ++m) {
    const int64_t gi = m / c.Mg, s = m % c.Mg / c.mr, i = m % c.Mg % c.mr;
    float* dst = packed.data() + (gi * c.slivers + s) * K * c.mr + i;
    for (int64_t ci = 0; ci < c.Cg; ++ci)
      for (int64_t ky = 0; ky < g.kh; ++ky)
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          const int64_t k = (ci * g.kh + ky) * g.kw + kx;
          dst[k * c.mr] = wp[m * w.strides[0] + ci * w.strides[1] + (g.d == 2 ? ky * w.strides[2] : 0) + kx * w.strides[r - 1]];
        }
  }
  c.w = packed.data();
  std::vector<float> bias;
  if (b) {
    bias.resize((size_t)g.M);
    for (int64_t m = 0; m < g.M; ++m) bias[m] = b->data<float>()[m * b->strides[0]];
    c.bias = bias.data();
  }
  c.relu = a.attrs.str("activation", "none") == "relu";
  c.y = y.data<float>(), c.yc = g.Ho * g.Wo, c.yn = g.M * c.yc;
  const auto row = g.Wo <= kk.lanes ? kk.narrow : kk.wide;
  const int64_t rows = g.N * g.G * g.Ho;
  parallel_for(rows, 1, [&](int64_t b0, int64_t e) {
    for (int64_t i = b0; i < e; ++i) row(c, i / (g.G * g.Ho), i / g.Ho % g.G, i % g.Ho);
  });
}

void conv_check(const std::string& op, const KernelArgs& a) {
  if (a.in.size() < 2 || a.in.size() > 3 || a.out.size() != 1) fail("E_ARGUMENT", op + ": takes X, W[, B] and gives Y: " + describe(op, a));
  for (const View* v : {&a.in[0], &a.in[1], &a.out[0]})
    if (v->dtype != DType::F32) fail("E_DTYPE", op + ": X, W, B and Y must be float32: " + describe(op, a));
  if (a.in.size() == 3 && a.in[2].dtype != DType::F32) fail("E_DTYPE", op + ": X, W, B and Y must be float32: " + describe(op, a));
  const View &x = a.in[0], &w = a.in[1], &y = a.out[0];
  const int d = x.rank() - 2;
  if (d < 1 || d > 2 || w.rank() != x.rank() || y.rank() != x.rank())
    fail("E_SHAPE", op + ": X, W and Y must be [N, C, (H,) W], [M, C/group, (kh,) kw] and [N, M, (Ho,) Wo]: " + describe(op, a));
  for (const char* name : {"strides", "dilations", "pads"})
    if (!a.attrs.has(name) || (int)a.attrs.ints(name).size() != d)
      fail("E_ARGUMENT", op + ": attribute '" + name + "' needs one entry per spatial dim: " + describe(op, a));
  if (!a.attrs.has("group")) fail("E_ARGUMENT", op + ": attribute 'group' is required: " + describe(op, a));
  const std::string act = a.attrs.str("activation", "none");
  if (act != "none" && act != "relu") fail("E_ARGUMENT", op + ": activation must be 'none' or 'relu', got '" + act + "'");
  const Geometry g = geometry(a);
  if (g.G < 1 || g.C % g.G || g.M % g.G || w.shape[1] * g.G != g.C)
    fail("E_SHAPE", op + ": X's channels, W's shape and group " + std::to_string(g.G) + " do not fit: " + describe(op, a));
  if (y.shape[0] != g.N || y.shape[1] != g.M) fail("E_SHAPE", op + ": Y must be [N, M, ...]: " + describe(op, a));
  if (a.in.size() == 3 && (a.in[2].rank() != 1 || a.in[2].shape[0] != g.M)) fail("E_SHAPE", op + ": B must be [M]: " + describe(op, a));
  if (!y.contiguous()) fail("E_ARGUMENT", op + ": Y must be contiguous: " + describe(op, a));
  for (int64_t v : {g.sh, g.sw, g.dh, g.dw})
    if (v < 1) fail("E_ARGUMENT", op + ": strides and dilations must be >= 1: " + describe(op, a));
  if (g.ph < 0 || g.pw < 0) fail("E_ARGUMENT", op + ": pads must be >= 0: " + describe(op, a));
}

KILN_CPU_KERNEL("Conv", conv_run, conv_check);

}  // namespace
}  // namespace kiln
