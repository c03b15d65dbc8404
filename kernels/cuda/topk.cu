// TopK on CUDA: the k largest (or smallest) elements of X along `axis`, in order, and where they were.
//   TopK(X [d_0..d_{r-1}] float*/int32/int64/uint8; axis, k, largest)
//     -> Values (X's dtype), Indices (int64): X's shape with k along axis
//   Order as on the CPU (topk.cc): descending when largest, ascending otherwise; equal values by
//   index, the lower first; NaN ranks above +inf; -0 == +0.
// The algorithm of topk.wgsl. The order is total (ties go by index), so an element's rank among any
// set of its slice is the count of the set's elements before it, and every position is written once.
//   topk_rank: an axis of at most kBlock elements; one thread per element counts its slice (O(n)).
//   A longer axis is a merge sort of indices along the axis (uint32) in scratch:
//     topk_block: the same count within each kBlock-long block, into the block's sorted run;
//     topk_merge: runs of L paired (2m with 2m + 1); an element's place in the pair is its place in
//       its run plus the count of the other run's elements before it, by binary search. Only the first
//       k of each run are placed and searched (nothing later can reach the first k of the pair), so a
//       small k idles most threads. The last merge writes Values and Indices.
//   O(n (kBlock + log^2 n)) per slice in 1 + ceil(log2(n / kBlock)) launches.
// Bench alone: the CPU's topk.cc line with `a.cuda.launch(0, 'TopK', ...)`.
#include "common.cuh"

namespace kiln {
namespace cuda {
namespace {

constexpr int64_t kBlock = 32;  // the webgpu kernel's BLOCK (src/backends/webgpu/sort-ops.ts)

template <typename K> __device__ __forceinline__ bool before(K a, K b, bool largest) {
  if constexpr (std::is_floating_point<K>::value) {
    const bool an = isnan(a), bn = isnan(b);
    if (an || bn) return largest ? an && !bn : bn && !an;
  }
  return largest ? a > b : a < b;
}

// One slice of X: element q precedes element r (values, then the lower index).
template <typename T> struct SliceOrder {
  const T* x;
  int64_t sx;
  bool largest;
  __device__ __forceinline__ bool precedes(int64_t q, int64_t r) const {
    const auto a = dload(x + q * sx), b = dload(x + r * sx);
    return before(a, b, largest) || (q < r && !before(b, a, largest));
  }
  __device__ __forceinline__ int64_t count_before(int64_t r, int64_t lo, int64_t hi) const {
    int64_t pos = 0;
    for (int64_t q = lo; q < hi; ++q) pos += precedes(q, r);
    return pos;
  }
};

// The strides of X, Values and Indices along the axis, and the axis itself.
template <typename T> struct TopkArgs {
  Geometry<3> g;  // the slices (every dim but axis) with the offsets of X, Values and Indices
  int64_t n, k;
  bool largest;
  const T* x;
  int64_t sx;
  T* v;
  int64_t sv;
  int64_t* idx;
  int64_t si;
  __device__ __forceinline__ SliceOrder<T> slice(const int64_t* off) const { return {x + off[0], sx, largest}; }
  __device__ __forceinline__ void emit(const int64_t* off, int64_t r, int64_t pos) const {
    v[off[1] + pos * sv] = x[off[0] + r * sx];
    idx[off[2] + pos * si] = r;
  }
};

template <typename T> __global__ void __launch_bounds__(kThreads) topk_rank_kernel(TopkArgs<T> a) {
  KILN_GRID_STRIDE(i, a.g.n * a.n) {
    const int64_t s = i / a.n, r = i - s * a.n;
    int64_t off[3];
    a.g.offsets(s, off);
    const int64_t pos = a.slice(off).count_before(r, 0, a.n);
    if (pos < a.k) a.emit(off, r, pos);
  }
}

template <typename T> __global__ void __launch_bounds__(kThreads) topk_block_kernel(TopkArgs<T> a, uint32_t* out) {
  KILN_GRID_STRIDE(i, a.g.n * a.n) {
    const int64_t s = i / a.n, r = i - s * a.n, lo = r - r % kBlock;
    int64_t off[3];
    a.g.offsets(s, off);
    const int64_t pos = a.slice(off).count_before(r, lo, min(lo + kBlock, a.n));
    if (pos < a.k) out[s * a.n + lo + pos] = (uint32_t)r;
  }
}

// One merge of runs of `run` in `in`: into `out`, or (out == nullptr) the last, into Values and Indices.
template <typename T>
__global__ void __launch_bounds__(kThreads) topk_merge_kernel(TopkArgs<T> a, int64_t run, const uint32_t* in, uint32_t* out) {
  KILN_GRID_STRIDE(i, a.g.n * a.n) {
    const int64_t s = i / a.n, j = i - s * a.n, start = j - j % run;
    if (j - start >= a.k) continue;
    int64_t off[3];
    a.g.offsets(s, off);
    const SliceOrder<T> order = a.slice(off);
    const uint32_t* row = in + s * a.n;
    const int64_t r = row[j], other = ((j / run) ^ 1) * run, base = min(other, a.n);
    int64_t lo = base, hi = min(other + min(run, a.k), a.n);
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (order.precedes(row[mid], r)) lo = mid + 1;
      else hi = mid;
    }
    const int64_t place = (j - start) + (lo - base);  // in the pair
    if (place >= a.k) continue;
    if (out) out[s * a.n + min(start, other) + place] = (uint32_t)r;
    else a.emit(off, r, place);
  }
}

void topk_run(const KernelArgs& a, const Stream& s) {
  const View &x = a.in[0], &vals = a.out[0], &idxs = a.out[1];
  const int axis = (int)a.attrs.i64("axis");
  const int64_t k = a.attrs.i64("k"), n = x.shape[axis];
  const bool largest = a.attrs.i64("largest", 1) != 0;
  if (x.numel() == 0 || k == 0) return;
  if (n > (int64_t)UINT32_MAX) fail("E_UNSUPPORTED", "TopK on cuda: an axis of " + std::to_string(n) + " elements is longer than 2^32 - 1");
  Dims ps, px, pv, pi;
  for (int d = 0; d < x.rank(); ++d)
    if (d != axis) ps.push_back(x.shape[d]), px.push_back(x.strides[d]), pv.push_back(vals.strides[d]), pi.push_back(idxs.strides[d]);
  auto g = make_geometry<3>(ps, {&px, &pv, &pi});
  const unsigned grid = grid_for(g.n * n, kThreads, s);
  dispatch(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same<T, dbool>::value) {
      const TopkArgs<T> t{g, n, k, largest, x.data<T>(), x.strides[axis], vals.data<T>(), vals.strides[axis], idxs.data<int64_t>(), idxs.strides[axis]};
      if (n <= kBlock) {
        topk_rank_kernel<T><<<grid, kThreads, 0, s.stream>>>(t);
        return check_launch("topk_rank_kernel");
      }
      Scratch ping(s, (size_t)(g.n * n) * sizeof(uint32_t)), pong(s, (size_t)(g.n * n) * sizeof(uint32_t));
      uint32_t *from = ping.as<uint32_t>(), *to = pong.as<uint32_t>();
      topk_block_kernel<T><<<grid, kThreads, 0, s.stream>>>(t, from);
      check_launch("topk_block_kernel");
      for (int64_t run = kBlock; run < n; run *= 2) {
        const bool last = 2 * run >= n;
        topk_merge_kernel<T><<<grid, kThreads, 0, s.stream>>>(t, run, from, last ? nullptr : to);
        check_launch("topk_merge_kernel");
        std::swap(from, to);
      }
    }
  });
}

KILN_CUDA_KERNEL("TopK", topk_run);

}  // namespace
}  // namespace cuda
}  // namespace kiln
