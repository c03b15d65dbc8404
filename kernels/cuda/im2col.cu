// Im2Col on CUDA: the patch matrix of a convolution, padding included.
//   Im2Col(X any[N, C, s_1..s_d]; kernel k_1..k_d, strides, dilations, pads p_1..p_d (begin), value)
//     -> Y[N, C, k_1..k_d, o_1..o_d] (contiguous), Y[n, c, j.., o..] = X[n, c, o*stride - p + j*dilation]
//        or `value` where that falls outside X (zero padding for Conv, -inf for max pooling).
// One thread per element of Y: its linear index splits into (n, c, j_1..j_d, o_1..o_d), each spatial
// dim i reads X at o_i * s_i - p_i + j_i * dil_i, or gives `value` when that is outside [0, in_i).
// Consecutive threads walk o_d, so reads along X's innermost dim coalesce when the stride is 1.
// The CPU table's check (kernels/cpu/im2col.cc) guarantees the attributes and Y's shape.
// Bench alone: a [1, 32, 224, 224] float 3x3 Im2Col through `a.cuda.launch(0, 'Im2Col', ...)`.
#include "common.cuh"

namespace kiln {
namespace cuda {
namespace {

constexpr int kMaxSpatial = 6;

struct Im2ColGeometry {
  int d;
  int64_t n, channels;                // numel(Y), C
  int64_t xs_n, xs_c;                 // X's strides of N and C
  int64_t k[kMaxSpatial], s[kMaxSpatial], dil[kMaxSpatial], p[kMaxSpatial];
  int64_t in[kMaxSpatial], out[kMaxSpatial], xs[kMaxSpatial];
};

template <typename T>
__global__ void __launch_bounds__(kThreads) im2col_kernel(Im2ColGeometry g, T* y, const T* x, double value) {
  const T v = from_double<T>(value);
  KILN_GRID_STRIDE(i, g.n) {
    // i = (((n * C + c) * k_1 + j_1) ... * k_d + j_d) * o_1 + q_1) ... * o_d + q_d
    int64_t rem = i, q[kMaxSpatial];
    for (int a = g.d - 1; a >= 0; --a) {
      int64_t r = rem / g.out[a];
      q[a] = rem - r * g.out[a], rem = r;
    }
    int64_t xo = 0;
    bool outside = false;
    for (int a = g.d - 1; a >= 0; --a) {
      int64_t r = rem / g.k[a], j = rem - r * g.k[a];
      rem = r;
      int64_t at = q[a] * g.s[a] - g.p[a] + j * g.dil[a];
      outside |= at < 0 || at >= g.in[a];
      xo += at * g.xs[a];
    }
    int64_t c = rem % g.channels, n = rem / g.channels;
    y[i] = outside ? v : x[n * g.xs_n + c * g.xs_c + xo];
  }
}

void im2col_run(const KernelArgs& a, const Stream& s) {
  const View &x = a.in[0], &y = a.out[0];
  Im2ColGeometry g{};
  g.d = x.rank() - 2;
  g.n = y.numel();
  if (g.n == 0) return;
  g.channels = x.shape[1];
  g.xs_n = x.strides[0], g.xs_c = x.strides[1];
  auto k = a.attrs.ints("kernel"), st = a.attrs.ints("strides"), dil = a.attrs.ints("dilations"), p = a.attrs.ints("pads");
  for (int i = 0; i < g.d; ++i) {
    g.k[i] = k[i], g.s[i] = st[i], g.dil[i] = dil[i], g.p[i] = p[i];
    g.in[i] = x.shape[2 + i], g.xs[i] = x.strides[2 + i];
    g.out[i] = y.shape[2 + g.d + i];
  }
  double value = a.attrs.num("value", 0);
  dispatch(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    im2col_kernel<T><<<grid_for(g.n, kThreads, s), kThreads, 0, s.stream>>>(g, y.data<T>(), x.data<T>(), value);
  });
  check_launch("im2col_kernel");
}

KILN_CUDA_KERNEL("Im2Col", im2col_run);

}  // namespace
}  // namespace cuda
}  // namespace kiln
