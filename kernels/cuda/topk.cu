// TopK on CUDA: the k largest (or smallest) elements of X along `axis`, in order, and where they were.
//   TopK(X [d_0..d_{r-1}] float*/int32/int64/uint8; axis, k, largest)
//     -> Values (X's dtype), Indices (int64): X's shape with k along axis
//   Order as on the CPU (topk.cc): descending when largest, ascending otherwise; equal values by
//   index, the lower first; NaN ranks above +inf; -0 == +0.
// topk_rank (the algorithm of topk.wgsl): one thread per element of X counts the elements of its
// slice that come before it; an element of rank < k writes itself there. The order is total, so
// each output is written exactly once, with no atomics. O(n^2) per slice: model-output axes and
// sorts of a few thousand elements. A longer axis with k <= 256 comes in 1024-long blocks and then
// as their candidates (src/ops/sort.ts); a block-wide radix select would be the variant for a long
// axis with a large k.
// Bench alone: the CPU's topk.cc line with `a.cuda.launch(0, 'TopK', ...)`.
#include "common.cuh"

namespace kiln {
namespace cuda {
namespace {

template <typename K> __device__ __forceinline__ bool before(K a, K b, bool largest) {
  if constexpr (std::is_floating_point<K>::value) {
    const bool an = isnan(a), bn = isnan(b);
    if (an || bn) return largest ? an && !bn : bn && !an;
  }
  return largest ? a > b : a < b;
}

// g: the slices (every dim but axis) with the strides of X, Values and Indices.
template <typename T>
__global__ void __launch_bounds__(kThreads) topk_rank_kernel(Geometry<3> g, int64_t n, int64_t k, bool largest, const T* x,
                                                             int64_t sx, T* v, int64_t sv, int64_t* idx, int64_t si) {
  KILN_GRID_STRIDE(i, g.n * n) {
    const int64_t slice = i / n, r = i - slice * n;
    int64_t off[3];
    g.offsets(slice, off);
    const T* xs = x + off[0];
    const auto me = dload(xs + r * sx);
    int64_t pos = 0;
    for (int64_t q = 0; q < n; ++q) {
      const auto o = dload(xs + q * sx);
      pos += before(o, me, largest) || (q < r && !before(me, o, largest));
    }
    if (pos < k) {
      v[off[1] + pos * sv] = xs[r * sx];
      idx[off[2] + pos * si] = r;
    }
  }
}

void topk_run(const KernelArgs& a, const Stream& s) {
  const View &x = a.in[0], &vals = a.out[0], &idxs = a.out[1];
  const int axis = (int)a.attrs.i64("axis");
  const int64_t k = a.attrs.i64("k"), n = x.shape[axis];
  const bool largest = a.attrs.i64("largest", 1) != 0;
  if (x.numel() == 0 || k == 0) return;
  Dims ps, px, pv, pi;
  for (int d = 0; d < x.rank(); ++d)
    if (d != axis) ps.push_back(x.shape[d]), px.push_back(x.strides[d]), pv.push_back(vals.strides[d]), pi.push_back(idxs.strides[d]);
  auto g = make_geometry<3>(ps, {&px, &pv, &pi});
  dispatch(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same<T, dbool>::value)
      topk_rank_kernel<T><<<grid_for(g.n * n, kThreads, s), kThreads, 0, s.stream>>>(
          g, n, k, largest, x.data<T>(), x.strides[axis], vals.data<T>(), vals.strides[axis], idxs.data<int64_t>(), idxs.strides[axis]);
  });
  check_launch("topk_rank_kernel");
}

KILN_CUDA_KERNEL("TopK", topk_run);

}  // namespace
}  // namespace cuda
}  // namespace kiln
