// Pad on CUDA: Y = X with pads[d] elements before and pads[r + d] after each dim d.
//   Pad(X any[n_0..n_{r-1}]; pads [b_0..b_{r-1}, e_0..e_{r-1}] >= 0, mode, value) -> Y
//   constant  the border is `value` (converted like Fill)
//   reflect   mirrors about the edge without repeating it (NumPy 'reflect')
//   edge      repeats the border element
// One thread per element of Y: its coordinates map dim by dim to X's (or to the border value).
// The front end and the CPU table's check guarantee the pads fit the mode. Elements move as raw bits
// of their width; `value` is converted once per thread from float64.
// Bench alone: a [4096, 4096] float pad by 1 on each side through `a.cuda.launch(0, 'Pad', ...)`.
#include "common.cuh"

namespace kiln {
namespace cuda {
namespace {

enum PadMode : int { kConstant = 0, kReflect = 1, kEdge = 2 };

struct PadGeometry {
  int rank;
  int mode;
  int64_t n;
  int64_t yshape[kMaxRank], ystride[kMaxRank], xshape[kMaxRank], xstride[kMaxRank], before[kMaxRank];
};

// The source coordinate of padded coordinate c (already shifted by `before`), or -1 for the border.
__device__ __forceinline__ int64_t pad_source(int64_t c, int64_t n, int mode) {
  if (c >= 0 && c < n) return c;
  if (mode == kConstant) return -1;
  if (mode == kEdge) return c < 0 ? 0 : n - 1;
  return c < 0 ? -c : 2 * (n - 1) - c;  // reflect: pads < n, so one mirror suffices
}

template <typename T> __global__ void __launch_bounds__(kThreads) pad_kernel(PadGeometry g, T* y, const T* x, double value) {
  const T v = from_double<T>(value);
  KILN_GRID_STRIDE(i, g.n) {
    int64_t rem = i, yo = 0, xo = 0;
    bool border = false;
    for (int d = g.rank - 1; d >= 0; --d) {
      int64_t q = rem / g.yshape[d], c = rem - q * g.yshape[d];
      rem = q;
      yo += c * g.ystride[d];
      int64_t src = pad_source(c - g.before[d], g.xshape[d], g.mode);
      border |= src < 0;
      xo += (src < 0 ? 0 : src) * g.xstride[d];
    }
    y[yo] = border ? v : x[xo];
  }
}

void pad_run(const KernelArgs& a, const Stream& s) {
  const View &x = a.in[0], &y = a.out[0];
  std::vector<int64_t> pads = a.attrs.ints("pads");
  std::string m = a.attrs.str("mode", "constant");
  PadGeometry g;
  g.mode = m == "reflect" ? kReflect : m == "edge" ? kEdge : kConstant;
  g.rank = x.rank();
  g.n = y.numel();
  if (g.rank > kMaxRank) fail("E_UNSUPPORTED", "Pad: more than 16 dims");
  for (int d = 0; d < g.rank; ++d) {
    g.yshape[d] = y.shape[d], g.ystride[d] = y.strides[d];
    g.xshape[d] = x.shape[d], g.xstride[d] = x.strides[d];
    g.before[d] = pads[d];
  }
  if (g.rank == 0) g.rank = 1, g.yshape[0] = g.xshape[0] = 1, g.ystride[0] = g.xstride[0] = 0, g.before[0] = 0;
  double value = a.attrs.num("value", 0);
  dispatch(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    pad_kernel<T><<<grid_for(g.n, kThreads, s), kThreads, 0, s.stream>>>(g, y.data<T>(), x.data<T>(), value);
  });
  check_launch("pad_kernel");
}

KILN_CUDA_KERNEL("Pad", pad_run);

}  // namespace
}  // namespace cuda
}  // namespace kiln
