// Im2Col: the patch matrix of a convolution, padding included.
//   Im2Col(X any[N, C, s_1..s_d]; kernel k_1..k_d, strides, dilations, pads p_1..p_d (begin), value)
//     -> Y[N, C, k_1..k_d, o_1..o_d] (contiguous), Y[n, c, j.., o..] = X[n, c, o*stride - p + j*dilation]
//        or `value` where that falls outside X (zero padding for Conv, -inf for max pooling).
//   1 <= d <= 6; every dtype (elements move as raw bits of their width). The Conv front end reads Y
//   as [N, G, C/G * K, L] columns and multiplies them with Kiln's matmul.
// Work: one Y row (innermost spatial dim o_d) at a time, rows in parallel. A row is a left border,
// an interior run (memcpy when stride and X's innermost stride are 1) and a right border.
// Why native: the same copy through a 2d+2-dim strided view in Cast ran ~10x slower (index
// arithmetic per element) and needed a separate Pad pass.
// Bench alone: `kiln bench inference --model cnn` (Conv layers), or time a [1, 32, 224, 224]
// 3x3 Im2Col through the addon's launch().
#include <cstring>

#include "elementwise_common.h"

namespace kiln {
namespace {

constexpr int kMaxSpatial = 6;

struct Geometry {
  int d;
  int64_t k[kMaxSpatial], s[kMaxSpatial], dil[kMaxSpatial], p[kMaxSpatial], in[kMaxSpatial], out[kMaxSpatial];
};

template <typename U>
void im2col_typed(const View& x, const View& y, const Geometry& g, U value) {
  const int d = g.d;
  const int64_t ow = g.out[d - 1];
  int64_t rows = x.shape[0] * x.shape[1];
  for (int i = 0; i < d; ++i) rows *= g.k[i];
  for (int i = 0; i + 1 < d; ++i) rows *= g.out[i];
  const U* xp = x.data<U>();
  U* yp = y.data<U>();
  const int64_t xs_last = x.strides[2 + d - 1];
  parallel_for(rows, std::max<int64_t>(1, kElementwiseGrain / (ow + 8)), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      // row = ((((n * C + c) * k_1 + j_1) ... * k_d + j_d) * o_1 + q_1) ... * o_{d-1} + q_{d-1}
      int64_t rem = row, q[kMaxSpatial] = {0}, j[kMaxSpatial] = {0};
      for (int i = d - 2; i >= 0; --i) q[i] = rem % g.out[i], rem /= g.out[i];
      for (int i = d - 1; i >= 0; --i) j[i] = rem % g.k[i], rem /= g.k[i];
      const int64_t c = rem % x.shape[1], n = rem / x.shape[1];
      U* yr = yp + row * ow;
      int64_t base = n * x.strides[0] + c * x.strides[1];
      bool outside = false;
      for (int i = 0; i + 1 < d; ++i) {
        int64_t at = q[i] * g.s[i] - g.p[i] + j[i] * g.dil[i];
        outside |= at < 0 || at >= g.in[i];
        base += at * x.strides[2 + i];
      }
      if (outside) {
        for (int64_t w = 0; w < ow; ++w) yr[w] = value;
        continue;
      }
      const int L = d - 1;
      const int64_t start = j[L] * g.dil[L] - g.p[L], step = g.s[L], W = g.in[L];
      // ow positions w with 0 <= start + w * step < W form one interior run [lo, hi)
      int64_t lo = start >= 0 ? 0 : (-start + step - 1) / step;
      int64_t hi = start >= W ? 0 : (W - start + step - 1) / step;
      lo = std::min(lo, ow), hi = std::max(lo, std::min(hi, ow));
      for (int64_t w = 0; w < lo; ++w) yr[w] = value;
      const U* xr = xp + base + start * xs_last;
      if (step == 1 && xs_last == 1) std::memcpy(yr + lo, xr + lo, (hi - lo) * sizeof(U));
      else for (int64_t w = lo; w < hi; ++w) yr[w] = xr[w * step * xs_last];
      for (int64_t w = hi; w < ow; ++w) yr[w] = value;
    }
  });
}

Geometry geometry(const KernelArgs& a) {
  Geometry g{};
  g.d = a.in[0].rank() - 2;
  auto k = a.attrs.ints("kernel"), s = a.attrs.ints("strides"), dil = a.attrs.ints("dilations"), p = a.attrs.ints("pads");
  for (int i = 0; i < g.d; ++i) {
    g.k[i] = k[i], g.s[i] = s[i], g.dil[i] = dil[i], g.p[i] = p[i];
    g.in[i] = a.in[0].shape[2 + i];
    g.out[i] = a.out[0].shape[2 + g.d + i];
  }
  return g;
}

template <typename U> U raw_value(DType t, double v) {
  U raw = 0;
  dispatch_all(t, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (sizeof(T) == sizeof(U)) {
      T typed = from_double<T>(v);
      std::memcpy(&raw, &typed, sizeof(U));
    }
  });
  return raw;
}

void im2col_run(const KernelArgs& a) {
  const View &x = a.in[0], &y = a.out[0];
  Geometry g = geometry(a);
  if (y.numel() == 0) return;
  double v = a.attrs.num("value", 0);
  switch (itemsize(x.dtype)) {
    case 1: im2col_typed<uint8_t>(x, y, g, raw_value<uint8_t>(x.dtype, v)); break;
    case 2: im2col_typed<uint16_t>(x, y, g, raw_value<uint16_t>(x.dtype, v)); break;
    case 4: im2col_typed<uint32_t>(x, y, g, raw_value<uint32_t>(x.dtype, v)); break;
    default: im2col_typed<uint64_t>(x, y, g, raw_value<uint64_t>(x.dtype, v)); break;
  }
}

void im2col_check(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, 1, 1);
  const View &x = a.in[0], &y = a.out[0];
  const int d = x.rank() - 2;
  if (d < 1 || d > kMaxSpatial) fail("E_SHAPE", op + ": X must be [N, C, 1 to 6 spatial dims]: " + describe(op, a));
  if (y.dtype != x.dtype) fail("E_DTYPE", op + ": Y must have X's dtype: " + describe(op, a));
  if (!y.contiguous()) fail("E_ARGUMENT", op + ": Y must be contiguous: " + describe(op, a));
  for (const char* name : {"kernel", "strides", "dilations", "pads"})
    if (!a.attrs.has(name) || (int)a.attrs.ints(name).size() != d)
      fail("E_ARGUMENT", op + ": attribute '" + name + "' needs one entry per spatial dim: " + describe(op, a));
  Geometry g = geometry(a);
  if (y.rank() != 2 + 2 * d || y.shape[0] != x.shape[0] || y.shape[1] != x.shape[1])
    fail("E_SHAPE", op + ": Y must be [N, C, k..., o...]: " + describe(op, a));
  for (int i = 0; i < d; ++i) {
    if (g.k[i] < 1 || g.s[i] < 1 || g.dil[i] < 1 || g.p[i] < 0)
      fail("E_ARGUMENT", op + ": kernel, strides and dilations must be >= 1 and pads >= 0: " + describe(op, a));
    if (y.shape[2 + i] != g.k[i]) fail("E_SHAPE", op + ": Y's kernel dims must equal 'kernel': " + describe(op, a));
  }
}

KILN_CPU_KERNEL("Im2Col", im2col_run, im2col_check);

}  // namespace
}  // namespace kiln
