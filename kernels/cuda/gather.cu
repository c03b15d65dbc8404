// Gather on CUDA: picks slices of Data along `axis` by index.
//   Gather(Data any[d_0..d_{r-1}], Indices int32|int64[i_0..i_{q-1}]; axis)
//     -> Y[d_0..d_{axis-1}, i_0..i_{q-1}, d_{axis+1}..d_{r-1}]
//     Y[o, k, s] = Data[o, idx(Indices[k]), s],  idx(v) = v < 0 ? v + d_axis : v
// One thread per element of Y over a Geometry of three views on Y's shape: Y, Data without the
// gathered axis (stride 0 along the index dims), Indices (stride 0 along Data's dims). An index out
// of range leaves its elements unwritten and is reported (IndexReport, launch.h) as the launch's
// data fault, which rejects the reads of Y and of what is computed from it (src/faults.ts); so is one
// in an empty gather (check_indices_kernel). With several out of range, the report names the one at
// the lowest position in Indices (row-major), as the CPU's: element i of Y reads position
// (i / inner) % count, inner being the elements of Y after the index dims and count those of Indices.
// Elements move as raw bits of their width.
// Bench alone: the embedding lookup of the CPU's gather.cc with `a.cuda.launch(0, 'Gather', ...)`.
#include "common.cuh"

namespace kiln {
namespace cuda {
namespace {

template <typename U, typename I>
__global__ void __launch_bounds__(kThreads) gather_kernel(Geometry<3> g, U* y, const U* data, const I* idx, int64_t dim,
                                                          int64_t axis_stride, int64_t inner, int64_t count, IndexReport report) {
  KILN_GRID_STRIDE(i, g.n) {
    int64_t off[3];
    g.offsets(i, off);
    int64_t v = (int64_t)idx[off[2]], w = v < 0 ? v + dim : v;
    if (w < 0 || w >= dim) {
      report.bad(i / inner % count, v);
      continue;
    }
    y[off[0]] = data[off[1] + w * axis_stride];
  }
}

// Y is empty (a dim of Data besides the axis is 0) but the indices are still checked, as the CPU
// checks them: one thread per index, nothing copied.
template <typename I>
__global__ void __launch_bounds__(kThreads) check_indices_kernel(Geometry<1> g, const I* idx, int64_t dim, IndexReport report) {
  KILN_GRID_STRIDE(i, g.n) {
    int64_t off[1];
    g.offsets(i, off);
    int64_t v = (int64_t)idx[off[0]], w = v < 0 ? v + dim : v;
    if (w < 0 || w >= dim) report.bad(i, v);
  }
}

void gather_run(const KernelArgs& a, const Stream& s) {
  const View &d = a.in[0], &ix = a.in[1], &y = a.out[0];
  const int axis = (int)a.attrs.i64("axis"), q = ix.rank();
  const IndexReport report(s, axis, d.shape[axis]);
  if (y.numel() == 0) {
    auto g = make_geometry<1>(ix.shape, {&ix.strides});
    if (g.n == 0) return;
    if (ix.dtype == DType::I32)
      check_indices_kernel<int32_t><<<grid_for(g.n, kThreads, s), kThreads, 0, s.stream>>>(g, ix.data<int32_t>(), d.shape[axis], report);
    else
      check_indices_kernel<int64_t><<<grid_for(g.n, kThreads, s), kThreads, 0, s.stream>>>(g, ix.data<int64_t>(), d.shape[axis], report);
    check_launch("check_indices_kernel");
    return;
  }
  // Y's dims: [0, axis) from Data, [axis, axis + q) from Indices, the rest Data's after the axis.
  Dims ds(y.rank(), 0), is(y.rank(), 0);
  for (int k = 0; k < y.rank(); ++k) {
    if (k < axis) ds[k] = d.strides[k];
    else if (k < axis + q) is[k] = ix.strides[k - axis];
    else ds[k] = d.strides[k - q + 1];
  }
  auto g = make_geometry<3>(y.shape, {&y.strides, &ds, &is});
  int64_t inner = 1;
  for (int k = axis + q; k < y.rank(); ++k) inner *= y.shape[k];
  const int64_t count = ix.numel();
  unsigned grid = grid_for(g.n, kThreads, s);
  dispatch_bits(d.dtype, [&](auto tag) {
    using U = decltype(tag);
    if (ix.dtype == DType::I32)
      gather_kernel<U, int32_t><<<grid, kThreads, 0, s.stream>>>(g, y.data<U>(), d.data<U>(), ix.data<int32_t>(),
                                                                 d.shape[axis], d.strides[axis], inner, count, report);
    else
      gather_kernel<U, int64_t><<<grid, kThreads, 0, s.stream>>>(g, y.data<U>(), d.data<U>(), ix.data<int64_t>(),
                                                                 d.shape[axis], d.strides[axis], inner, count, report);
  });
  check_launch("gather_kernel");
}

KILN_CUDA_KERNEL("Gather", gather_run);

}  // namespace
}  // namespace cuda
}  // namespace kiln
