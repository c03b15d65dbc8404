// Conv: Y = act(X (*) W + B), the convolution behind the ONNX engine's Conv on the CPU.
//   Conv(X float32[N, C, (H,) W], W float32[M, C/group, (kh,) kw][, B float32[M]];
//        strides, dilations, pads (begin, one per spatial dim), group, activation 'none' | 'relu'
//        [, pool: a max pool's window, one per spatial dim, its stride equal to it]
//        [, algorithm 'auto' | 'direct' | 'winograd'])
//     -> Y float32[N, M, (Ho,) Wo] (contiguous), 1 or 2 spatial dims. Y's spatial shape sets the
//        end padding: taps that fall outside X read 0. With `pool`, Y is the max over each window
//        of the conv's output (floor mode): Y's shape times the window is the conv output computed.
// Work: one output row (n, g, oy) per unit (with a pool: the rows under one pooled row), handed
// to whichever thread asks next. Per row, the input rows under it are copied into a small row
// panel (conv_kernels.h: zero padded and split into W-stride phases, so every tap is an unmasked
// unit-stride run; contiguous, so the channels' rows do not collide in L1 as rows a power-of-two
// apart do); the row kernel (conv_tile.h) then computes tiles of output channels x adjacent output
// columns in registers from it, adding bias and ReLU before the single store (with a pool: into a
// per-thread buffer that the ISA's pool_rows reduces into Y). Scratch memory stays with each
// thread between calls. No patch matrix is built: against Im2Col + MatMul (the composed path of
// other backends and dtypes) this saves a copy 9x the input's size for 3x3 kernels, and its reads.
// Weights are packed into slivers of <= max_mr output channels (the group's channels split into
// equal slivers, so M = 64 runs as 5 x 13 rows rather than 4 x 14 + 8), and kept packed with W's
// buffer while W is unchanged (prepared_weights).
// 3x3 stride-1 convolutions may run as Winograd F(2x2, 3x3) instead (conv_winograd.h; see
// use_winograd for when 'auto' does): 2.25x fewer multiplies, transformed weights kept likewise.
// Bench alone: conv_avx512.cc's header.
#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "conv_tile.h"
#include "conv_winograd.h"
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
  static V sub(V a, V b) {
    for (int l = 0; l < 8; ++l) a.v[l] -= b.v[l];
    return a;
  }
  static V max(V a, V b) {  // b where either is NaN, as MAXPS
    for (int l = 0; l < 8; ++l) a.v[l] = a.v[l] > b.v[l] ? a.v[l] : b.v[l];
    return a;
  }
  static V max_nan(V a, V b) {
    for (int l = 0; l < 8; ++l) a.v[l] = a.v[l] >= b.v[l] || a.v[l] != a.v[l] ? a.v[l] : b.v[l];
    return a;
  }
  static void deinterleave(V lo, V hi, V& even, V& odd) {
    for (int l = 0; l < 4; ++l) even.v[l] = lo.v[2 * l], odd.v[l] = lo.v[2 * l + 1], even.v[l + 4] = hi.v[2 * l], odd.v[l + 4] = hi.v[2 * l + 1];
  }
  static void pairs(const float* p, V& even, V& odd) { deinterleave(load(p), load(p + 8), even, odd); }
  static void interleave(V a, V b, V& lo, V& hi) {
    for (int l = 0; l < 4; ++l) lo.v[2 * l] = a.v[l], lo.v[2 * l + 1] = b.v[l], hi.v[2 * l] = a.v[l + 4], hi.v[2 * l + 1] = b.v[l + 4];
  }
  static Mask range(int lo, int hi) {
    Mask m = 0;
    for (int l = std::max(lo, 0); l < std::min(hi, 8); ++l) m |= 1u << l;
    return m;
  }
  static V load(const float* p) {
    V r;
    for (int l = 0; l < 8; ++l) r.v[l] = p[l];
    return r;
  }
  static void store(float* p, V v) {
    for (int l = 0; l < 8; ++l) p[l] = v.v[l];
  }
  static void store(float* p, V v, Mask m) {
    for (int l = 0; l < 8; ++l)
      if (m >> l & 1) p[l] = v.v[l];
  }
  static V load(const float* p, Mask m) {
    V r;
    for (int l = 0; l < 8; ++l) r.v[l] = m >> l & 1 ? p[l] : 0.0f;
    return r;
  }
};

template <int NV> using PortableTiles = cv::TileTable<Portable, NV, 1, 2, 3, 4>;
const ConvKernels kPortable = {"portable", 4, cv::conv_row<Portable, 1, PortableTiles<1>>, cv::conv_row<Portable, 2, PortableTiles<2>>, 8,
                               cv::pool_rows<Portable>, cv::winograd_slots<Portable, 2, cv::ProductTable<Portable, 2, 1, 2, 3, 4>>, 2};

const ConvKernels& conv_kernels() {
  switch (cpu_isa()) {
    case Isa::Avx512: return *cv::conv_kernels_avx512();
    case Isa::Avx2: return *cv::conv_kernels_avx2();
    default: return kPortable;
  }
}

// Memory kept between calls (grown, never shrunk), so a call allocates, faults in and zero-fills
// nothing: the packed weights of a call (one copy for the process: the queue runs one task at a
// time, whichever worker dispatches it), and every thread's row panel, pooled rows and Winograd
// tiles.
enum Scratch { kPackedWeights, kPanel, kPooledRows, kWinograd, kScratchSlots };
float* thread_scratch(Scratch slot, size_t floats) {
  static std::vector<float> shared;
  thread_local std::vector<float> bufs[kScratchSlots];
  std::vector<float>& buf = slot == kPackedWeights ? shared : bufs[slot];
  if (buf.size() < floats) {
    // sized by attributes (strides, dilations, a fused pool's window): refused up front when the
    // host cannot hold it, rather than touched into the kernel's OOM killer
    host_memory_check(floats > SIZE_MAX / sizeof(float) ? SIZE_MAX : floats * sizeof(float), "Conv scratch");
    buf.resize(floats);
  }
  return buf.data();
}

// W prepared for a kernel (packed, or Winograd-transformed) by build(dst). Kept with W's buffer
// (HostBuffer::derived) once a second call finds W unchanged, as an inference graph's constant
// weights are; otherwise built into the dispatching worker's scratch. `how` names the layout (ISA
// and tile sizes included); W's view is added to the key here. The returned holder keeps a kept
// copy alive for the call.
std::shared_ptr<const void> prepared_weights(const KernelArgs& a, const std::string& how, size_t floats,
                                             const std::function<void(float*)>& build, const float*& out) {
  HostBuffer* buf = a.in_buffers.size() > 1 ? a.in_buffers[1] : nullptr;
  bool keep = false;
  std::shared_ptr<const void> held;
  if (buf) {
    const View& w = a.in[1];
    std::string key = how + " at " + std::to_string(w.ptr - buf->data());
    for (int i = 0; i < w.rank(); ++i) key += " " + std::to_string(w.shape[i]) + ":" + std::to_string(w.strides[i]);
    held = buf->derived(key, keep);
  }
  if (held) {
    out = static_cast<const float*>(held.get());
    return held;
  }
  if (keep) {
    std::shared_ptr<float[]> data(new float[floats]);
    build(data.get());
    buf->set_derived(data);
    out = data.get();
    return data;
  }
  float* scratch = thread_scratch(kPackedWeights, floats);
  build(scratch);
  out = scratch;
  return nullptr;
}

// M channels in equal slivers of at most max_mr: {slivers, rows per sliver}.
std::pair<int64_t, int64_t> equal_slivers(int64_t M, int64_t max_mr) {
  const int64_t slivers = (M + max_mr - 1) / max_mr;
  return {slivers, (M + slivers - 1) / slivers};
}

struct Geometry {
  int d;  // spatial dims: 1 or 2
  int64_t N, C, H, W, M, G, kh, kw, sh, sw, dh, dw, ph, pw;
  int64_t Ho, Wo;      // the conv output rows and columns computed
  int64_t qh = 1, qw = 1;  // the fused max pool's window (= stride); 1 x 1 without one
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
  if (a.attrs.has("pool")) {
    const auto q = a.attrs.ints("pool");
    g.qh = two ? q[0] : 1, g.qw = q[g.d - 1];
  }
  // with a pool, only the conv rows and columns its windows cover (floor mode drops the rest)
  g.Ho = (two ? y.shape[2] : 1) * g.qh, g.Wo = y.shape[y.rank() - 1] * g.qw;
  return g;
}

// Fills the row panel of output row oy of (n, g) (layout: conv_kernels.h) for kernel rows [ky0, ky1).
void fill_panel(const View& x, const Geometry& g, const ConvArgs& c, int64_t n, int64_t gi, int64_t oy, int ky0, int ky1, float* panel) {
  const float* xp = x.data<float>();
  const int64_t sc = x.strides[1], sh = g.d == 2 ? x.strides[2] : 0, sw = x.strides[x.rank() - 1];
  for (int64_t ch = 0; ch < c.Cg; ++ch)
    for (int ky = ky0; ky < ky1; ++ky) {
      const int64_t iy = oy * g.sh - g.ph + ky * g.dh;
      const float* src = xp + n * x.strides[0] + (gi * c.Cg + ch) * sc + iy * sh;
      float* dst = panel + (ch * c.kh + ky) * c.P * c.Lp;
      if (c.P == 1 && sw == 1) {  // [pw zeros][the row][zeros]
        const int64_t lead = std::min(g.pw, c.Lp), body = std::max<int64_t>(0, std::min(g.W, c.Lp - lead));
        std::fill(dst, dst + lead, 0.0f);
        std::memcpy(dst + lead, src, body * sizeof(float));
        std::fill(dst + lead + body, dst + c.Lp, 0.0f);
        continue;
      }
      for (int64_t r = 0; r < c.P; ++r)
        for (int64_t j = 0; j < c.Lp; ++j) {
          const int64_t col = j * c.P + r - g.pw;
          dst[r * c.Lp + j] = col >= 0 && col < g.W ? src[col * sw] : 0.0f;
        }
    }
}

// Winograd F(2x2, 3x3) (conv_winograd.h) fits 3x3, stride-1, undilated, one-group 2-D convolutions
// with no pool or a 2x2 one. `algorithm` 'auto' takes it where it fits, both channel counts are at
// least 16, and a tile row fills at least half of the vectors it occupies (lanes run over its
// tiles). Measured against direct (AVX-512, 2 threads, weights kept): 1.5x at 64->64 on 56x56, 1.2x
// at 16->16 on 32x32; a tie at 14x14 (7 tiles in 16 lanes) and 0.8x at 32->32 on 8x8.
bool winograd_fits(const Geometry& g) {
  return g.d == 2 && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.G == 1 &&
         ((g.qh == 1 && g.qw == 1) || (g.qh == 2 && g.qw == 2));
}

bool use_winograd(const KernelArgs& a, const Geometry& g, int lanes) {
  const std::string algo = a.attrs.str("algorithm", "auto");
  if (algo == "direct") return false;
  if (algo == "winograd") return true;  // conv_check made sure it fits
  const int64_t tiles = (g.Wo + 1) / 2, vectors = (tiles + lanes - 1) / lanes;
  return winograd_fits(g) && g.C >= 16 && g.M >= 16 && 2 * tiles >= vectors * lanes;
}

// The direct kernel's row layout and per-thread scratch: NR output columns per tile, P = sw stride
// phases of Lp columns each in the row panel, the panel's floats, and with a fused pool the pooled
// rows' floats. conv_run lays its panel out by these; conv_check refuses at enqueue what the host
// cannot hold (attributes size them: pads of 2^31 made a 25.7 GB panel, which failed on a worker
// and then at the next kiln.sync() rather than at the call: cpu/webgpu fuzz seed 5491).
struct DirectSizes {
  int64_t NR, P, Lp;
  double panel, rows;  // floats (double: absurd attributes must not wrap)
};
DirectSizes direct_sizes(const Geometry& g, const ConvKernels& kk) {
  DirectSizes s{};
  s.NR = g.Wo <= kk.lanes ? kk.lanes : 2 * kk.lanes;
  s.P = g.sw;
  s.Lp = (g.Wo + s.NR - 1) / s.NR * s.NR + (g.kw - 1) * g.dw / s.P;
  s.panel = (double)(g.C / g.G) * (double)g.kh * (double)s.P * (double)s.Lp;
  s.rows = g.qh * g.qw > 1 ? (double)g.M * (double)g.qh * (double)g.Wo : 0.0;
  return s;
}

// U[xi][s][c][i] = (G w[m, c] G^T)[xi] for m = s*mr + i: G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
void winograd_weights(const View& w, int64_t M, int64_t C, int64_t mr, int64_t slivers, float* u) {
  const float* wp = w.data<float>();
  parallel_for(M, std::max<int64_t>(1, kElementwiseGrain / (C * 16)), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t c = 0; c < C; ++c) {
        const float* src = wp + m * w.strides[0] + c * w.strides[1];
        // G applied to three values (a column of w, then a row of G w): four out
        const auto G = [](float a, float b, float c, float* out, int64_t step) {
          out[0] = a, out[step] = 0.5f * (a + b + c), out[2 * step] = 0.5f * (a - b + c), out[3 * step] = c;
        };
        float g[3][3], gg[4][3];
        for (int r = 0; r < 3; ++r)
          for (int q = 0; q < 3; ++q) g[r][q] = src[r * w.strides[2] + q * w.strides[3]];
        for (int q = 0; q < 3; ++q) G(g[0][q], g[1][q], g[2][q], &gg[0][q], 3);
        const int64_t s = m / mr, i = m % mr, xi_stride = slivers * C * mr;
        float* dst = u + (s * C + c) * mr + i;
        for (int r = 0; r < 4; ++r) G(gg[r][0], gg[r][1], gg[r][2], dst + r * 4 * xi_stride, xi_stride);
      }
  });
}

void winograd_run(const KernelArgs& a, const Geometry& g, const ConvKernels& kk, const float* bias) {
  const View &x = a.in[0], &w = a.in[1], &y = a.out[0];
  cv::WinogradArgs wa{};
  wa.C = g.C, wa.M = g.M, wa.H = g.H, wa.W = g.W, wa.ph = g.ph, wa.pw = g.pw, wa.Ho = g.Ho, wa.Wo = g.Wo;
  wa.pool = g.qh == 2;
  wa.Th = (g.Ho + 1) / 2, wa.Tw = (g.Wo + 1) / 2;  // with the pool, Ho and Wo are even
  wa.spr = (wa.Tw + kk.lanes - 1) / kk.lanes;
  wa.x = x.data<float>();
  wa.xn = x.strides[0], wa.xc = x.strides[1], wa.xh = x.strides[2], wa.xw = x.strides[3];
  std::tie(wa.slivers, wa.mr) = equal_slivers(g.M, kk.max_mr);
  const auto held = prepared_weights(a, std::string("winograd ") + kk.name + " mr " + std::to_string(wa.mr),
                                     (size_t)(16 * wa.slivers * g.C * wa.mr),
                                     [&](float* u) { winograd_weights(w, g.M, g.C, wa.mr, wa.slivers, u); }, wa.u);
  wa.bias = bias;
  wa.relu = a.attrs.str("activation", "none") == "relu";
  wa.y = y.data<float>();
  wa.Wy = y.shape[3], wa.yc = y.shape[2] * wa.Wy, wa.yn = g.M * wa.yc;
  const int64_t slots = g.N * wa.Th * wa.spr, nv = kk.winograd_nv;
  WorkCounter next((slots + nv - 1) / nv);
  const size_t scratch = (size_t)cv::winograd_scratch_floats(g.C, wa.mr, kk.lanes, (int)nv);
  parallel_run((int)std::min<int64_t>(num_threads(), next.n), [&](int, int) {
    float* s = thread_scratch(kWinograd, scratch);
    int64_t i;
    while (next.take(i)) kk.winograd(wa, i * nv, (int)std::min(nv, slots - i * nv), s);
  });
}

void conv_run(const KernelArgs& a) {
  const View &x = a.in[0], &w = a.in[1], &y = a.out[0];
  const View* b = a.in.size() > 2 ? &a.in[2] : nullptr;
  const Geometry g = geometry(a);
  if (y.numel() == 0) return;
  const ConvKernels& kk = conv_kernels();
  std::vector<float> bias;
  if (b) {
    bias.resize((size_t)g.M);
    for (int64_t m = 0; m < g.M; ++m) bias[m] = b->data<float>()[m * b->strides[0]];
  }
  if (use_winograd(a, g, kk.lanes)) return winograd_run(a, g, kk, bias.empty() ? nullptr : bias.data());
  const auto row = g.Wo <= kk.lanes ? kk.narrow : kk.wide;
  const DirectSizes sz = direct_sizes(g, kk);
  ConvArgs c{};
  c.Cg = g.C / g.G, c.kh = g.kh, c.kw = g.kw, c.Wo = g.Wo;
  c.P = sz.P;
  c.Lp = sz.Lp;
  std::vector<int64_t> off((size_t)g.kw);
  for (int64_t kx = 0; kx < g.kw; ++kx) off[kx] = (kx * g.dw % c.P) * c.Lp + kx * g.dw / c.P;
  c.off = off.data();
  // weights -> per group, equal slivers of <= max_mr channels: element (k, i) at k * mr + i (a
  // sliver's rows past the group's last channel are never read)
  c.Mg = g.M / g.G;
  std::tie(c.slivers, c.mr) = equal_slivers(c.Mg, kk.max_mr);
  const int64_t K = c.Cg * g.kh * g.kw;
  const float* wp = w.data<float>();
  const int r = w.rank();
  const auto held = prepared_weights(a, std::string("direct ") + kk.name + " mr " + std::to_string(c.mr), (size_t)(g.G * c.slivers * K * c.mr), [&](float* packed) {
    parallel_for(g.M, std::max<int64_t>(1, kElementwiseGrain / (K + 1)), [&](int64_t m0, int64_t m1) {
      for (int64_t m = m0; m < m1; ++m) {
        const int64_t gi = m / c.Mg, s = m % c.Mg / c.mr, i = m % c.Mg % c.mr;
        float* dst = packed + (gi * c.slivers + s) * K * c.mr + i;
        const float* src = wp + m * w.strides[0];
        if (w.contiguous()) {
          for (int64_t k = 0; k < K; ++k) dst[k * c.mr] = src[k];
          continue;
        }
        for (int64_t ci = 0; ci < c.Cg; ++ci)
          for (int64_t ky = 0; ky < g.kh; ++ky)
            for (int64_t kx = 0; kx < g.kw; ++kx) {
              const int64_t k = (ci * g.kh + ky) * g.kw + kx;
              dst[k * c.mr] = src[ci * w.strides[1] + (g.d == 2 ? ky * w.strides[2] : 0) + kx * w.strides[r - 1]];
            }
      }
    });
  }, c.w);
  c.bias = bias.empty() ? nullptr : bias.data();
  c.relu = a.attrs.str("activation", "none") == "relu";
  c.y = y.data<float>(), c.yc = g.Ho * g.Wo, c.yn = g.M * c.yc;
  const size_t panel_floats = (size_t)sz.panel;
  const bool pooled = g.qh * g.qw > 1;
  // one unit = one output row of Y: a conv row, or with a fused pool the qh conv rows under a
  // pooled row, computed into a per-thread buffer [M][qh][Wo] (L1/L2-sized) and pooled from there
  ConvArgs pc = c;
  if (pooled) pc.yn = 0, pc.yc = g.qh * g.Wo;
  const int64_t Hy = g.Ho / g.qh;
  const int64_t units = g.N * g.G * Hy;
  WorkCounter next(units);
  parallel_run((int)std::min<int64_t>(num_threads(), units), [&](int, int) {
    float* panel = thread_scratch(kPanel, panel_floats);
    float* rows = pooled ? thread_scratch(kPooledRows, (size_t)(g.M * g.qh * g.Wo)) : nullptr;
    ConvArgs tc = pc;
    if (pooled) tc.y = rows;
    int64_t i;
    while (next.take(i)) {
      const int64_t n = i / (g.G * Hy), gi = i / Hy % g.G, yrow = i % Hy;
      for (int64_t r = 0; r < g.qh; ++r) {
        const int64_t oy = yrow * g.qh + r;
        // the kernel rows that land inside X
        const int64_t iy0 = oy * g.sh - g.ph;
        int ky0 = 0, ky1 = (int)g.kh;
        while (ky0 < ky1 && iy0 + ky0 * g.dh < 0) ++ky0;
        while (ky1 > ky0 && iy0 + (ky1 - 1) * g.dh >= g.H) --ky1;
        fill_panel(x, g, c, n, gi, oy, ky0, ky1, panel);
        if (pooled) row(tc, panel, ky0, ky1, 0, gi, r);
        else row(tc, panel, ky0, ky1, n, gi, oy);
      }
      if (pooled) {
        const int64_t Wp = g.Wo / g.qw;
        float* dst = y.data<float>() + ((n * g.M + gi * c.Mg) * Hy + yrow) * Wp;
        kk.pool(rows + gi * c.Mg * g.qh * g.Wo, c.Mg, g.qh, g.qw, g.Wo, dst, Hy * Wp);
      }
    }
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
  if (a.attrs.has("pool") && (int)a.attrs.ints("pool").size() != d)
    fail("E_ARGUMENT", op + ": attribute 'pool' needs one entry per spatial dim: " + describe(op, a));
  const std::string act = a.attrs.str("activation", "none");
  if (act != "none" && act != "relu") fail("E_ARGUMENT", op + ": activation must be 'none' or 'relu', got '" + act + "'");
  const Geometry g = geometry(a);
  if (g.G < 1 || g.C % g.G || g.M % g.G || w.shape[1] * g.G != g.C)
    fail("E_SHAPE", op + ": X's channels, W's shape and group " + std::to_string(g.G) + " do not fit: " + describe(op, a));
  if (y.shape[0] != g.N || y.shape[1] != g.M) fail("E_SHAPE", op + ": Y must be [N, M, ...]: " + describe(op, a));
  if (a.in.size() == 3 && (a.in[2].rank() != 1 || a.in[2].shape[0] != g.M)) fail("E_SHAPE", op + ": B must be [M]: " + describe(op, a));
  if (!y.contiguous()) fail("E_ARGUMENT", op + ": Y must be contiguous: " + describe(op, a));
  for (int64_t v : {g.sh, g.sw, g.dh, g.dw, g.qh, g.qw})
    if (v < 1) fail("E_ARGUMENT", op + ": strides, dilations and pool windows must be >= 1: " + describe(op, a));
  if (g.ph < 0 || g.pw < 0) fail("E_ARGUMENT", op + ": pads must be >= 0: " + describe(op, a));
  const std::string algo = a.attrs.str("algorithm", "auto");
  if (algo != "auto" && algo != "direct" && algo != "winograd")
    fail("E_ARGUMENT", op + ": algorithm must be 'auto', 'direct' or 'winograd', got '" + algo + "'");
  if (algo == "winograd" && !winograd_fits(g))
    fail("E_ARGUMENT", op + ": algorithm 'winograd' needs a 3x3 kernel, stride 1, no dilation, one group and no pool or a 2x2 one: " + describe(op, a));
  // the direct kernel's scratch, one copy per thread, or E_OOM now (see DirectSizes)
  const ConvKernels& kk = conv_kernels();
  if (y.numel() > 0 && !use_winograd(a, g, kk.lanes)) {
    const DirectSizes sz = direct_sizes(g, kk);
    const double bytes = (sz.panel + sz.rows) * sizeof(float) * (double)num_threads();
    host_memory_check(bytes >= (double)SIZE_MAX ? SIZE_MAX : (size_t)bytes, "Conv scratch");
  }
}

// Every conv output (before a fused pool) takes C/G * kh * kw multiply-adds.
double conv_cost(const KernelArgs& a) {
  const Geometry g = geometry(a);
  return (double)(g.N * g.M * g.Ho * g.Wo) * (double)(g.C / g.G * g.kh * g.kw) * kCostPerMultiplyAdd + default_cost(a);
}

KILN_CPU_KERNEL("Conv", conv_run, conv_check, conv_cost);

}  // namespace
}  // namespace kiln
