// Reductions on CUDA: Y = reduce(X) over `axes`, Y keeping X's rank with those axes set to 1.
//   ReduceSum ReduceProd   float in -> same float out; bool/uint8/int32/int64 -> int64 (wraps)
//   ReduceMean             ints -> float32;  ReduceVariance (correction c): sum((x - mean)^2) / (n - c)
//   ReduceMax ReduceMin    keep the dtype, NaN propagates;   ArgMax ArgMin -> int64, first occurrence
// Floats accumulate in float64 (as on the CPU) and round once on store. The kept dims and the
// reduced dims are coalesced separately (two Geometries); a group of threads owns one output:
//   reduce_warp   32 lanes per output (8 outputs per block) for reductions up to kWarpMax elements
//   reduce_block  256 threads per output for longer ones
//   reduce_parts  few outputs over long ranges (a full reduction of 10M elements): (part, output)
//                 blocks reduce chunks into scratch, reduce_finish merges each output's parts in order
// Each lane walks the reduced elements lane, lane + G, ... in order, then lanes merge with warp
// shuffles (__shfl_down_sync on the state's 32-bit words) and, for blocks, through shared memory.
// Arg* merges prefer the smaller index on ties, so "first occurrence" holds however lanes split.
// Variance is two passes like the CPU's: float64 means into scratch, then squared deviations with
// the first-order correction.
// Bench alone: `a.cuda.launch(0, 'ReduceSum', [x], [y], {axes: [0]})` on 2^24 floats.
#include <cfloat>

#include "common.cuh"

namespace kiln {
namespace cuda {
namespace {

constexpr int64_t kWarpMax = 4096;
constexpr int64_t kSplitMin = 1 << 16;  // reduced elements per output before a range is split

template <typename T> constexpr bool kF = is_dfloat<T>();

// Reducers: S the state; init(o), add(s, v, i) for element i of the reduced range, merge(a, b) with
// b's elements after a's (or, for Arg*, anywhere: ties go to the smaller index), finish(s, n) -> Out.
template <typename T> struct SumR {
  using Out = std::conditional_t<kF<T>, T, int64_t>;
  using S = std::conditional_t<kF<T>, double, unsigned long long>;
  __device__ S init(int64_t) const { return 0; }
  __device__ void add(S& s, dacc_t<T> v, int64_t) const { s += (S)v; }
  __device__ void merge(S& a, const S& b) const { a += b; }
  __device__ Out finish(S s, int64_t) const {
    if constexpr (kF<T>) return from_double<Out>(s);
    else return (int64_t)s;
  }
};

template <typename T> struct ProdR : SumR<T> {
  using S = typename SumR<T>::S;
  __device__ S init(int64_t) const { return 1; }
  __device__ void add(S& s, dacc_t<T> v, int64_t) const { s *= (S)v; }
  __device__ void merge(S& a, const S& b) const { a *= b; }
};

template <typename T> struct MeanR {
  using Out = std::conditional_t<kF<T>, T, float>;
  using S = double;
  __device__ S init(int64_t) const { return 0; }
  __device__ void add(S& s, dacc_t<T> v, int64_t) const { s += (double)v; }
  __device__ void merge(S& a, const S& b) const { a += b; }
  __device__ Out finish(S s, int64_t n) const { return from_double<Out>(s / (double)n); }
};

template <typename T> struct SqDevR {
  using Out = typename MeanR<T>::Out;
  struct S { double mean, d, d2; };
  const double* means;
  double correction;
  __device__ S init(int64_t o) const { return {means[o], 0, 0}; }
  __device__ void add(S& s, dacc_t<T> v, int64_t) const {
    double t = (double)v - s.mean;
    s.d += t;
    s.d2 += t * t;
  }
  __device__ void merge(S& a, const S& b) const { a.d += b.d, a.d2 += b.d2; }
  __device__ Out finish(const S& s, int64_t n) const {
    double m2 = s.d2 - s.d * s.d / (double)n;
    if (m2 < 0) m2 = 0;  // rounding only; NaN stays NaN
    double denom = (double)n - correction;
    return from_double<Out>(m2 / (denom > 0 ? denom : 0.0));
  }
};

struct Greater {
  template <typename V> __device__ static bool wins(V a, V b) { return a > b; }
  template <typename V> __device__ static V identity() {
    if constexpr (std::is_floating_point<V>::value) return -INFINITY;
    else return std::numeric_limits<V>::lowest();
  }
};
struct Less {
  template <typename V> __device__ static bool wins(V a, V b) { return a < b; }
  template <typename V> __device__ static V identity() {
    if constexpr (std::is_floating_point<V>::value) return INFINITY;
    else return std::numeric_limits<V>::max();
  }
};
// a beats b: strictly better, or a NaN against a number (NaN counts as both the largest and smallest).
template <typename Cmp, typename V> __device__ bool beats(V a, V b) { return Cmp::wins(a, b) || (a != a && b == b); }

template <typename T, typename Cmp> struct ExtremeR {
  using Out = T;
  using V = dacc_t<T>;
  struct S { V v; int nan; };  // v never holds a NaN
  __device__ S init(int64_t) const { return {Cmp::template identity<V>(), 0}; }
  __device__ void add(S& s, V v, int64_t) const {
    s.v = Cmp::wins(v, s.v) ? v : s.v;
    s.nan |= v != v;
  }
  __device__ void merge(S& a, const S& b) const { add(a, b.v, 0), a.nan |= b.nan; }
  __device__ Out finish(const S& s, int64_t) const {
    T out;
    if constexpr (std::is_floating_point<V>::value) dstore(&out, s.nan ? (V)NAN : s.v);
    else dstore(&out, s.v);
    return out;
  }
};

template <typename T, typename Cmp> struct ArgR {
  using Out = int64_t;
  struct S { dacc_t<T> v; int64_t i; };  // i < 0: no element yet
  __device__ S init(int64_t) const { return {dacc_t<T>(0), -1}; }
  __device__ void add(S& s, dacc_t<T> v, int64_t i) const {
    if (s.i < 0 || beats<Cmp>(v, s.v)) s = {v, i};
  }
  __device__ void merge(S& a, const S& b) const {
    if (b.i < 0) return;
    if (a.i < 0 || beats<Cmp>(b.v, a.v) || (!beats<Cmp>(a.v, b.v) && b.i < a.i)) a = b;
  }
  __device__ Out finish(const S& s, int64_t) const { return s.i; }
};

template <typename T> using MaxR = ExtremeR<T, Greater>;
template <typename T> using MinR = ExtremeR<T, Less>;
template <typename T> using ArgMaxR = ArgR<T, Greater>;
template <typename T> using ArgMinR = ArgR<T, Less>;

// A state moved between lanes word by word (any trivially copyable struct).
template <typename S> __device__ __forceinline__ S shfl_down(const S& s, int delta) {
  constexpr int W = (sizeof(S) + 3) / 4;
  unsigned w[W];
  memcpy(w, &s, sizeof(S));
#pragma unroll
  for (int k = 0; k < W; ++k) w[k] = __shfl_down_sync(0xffffffffu, w[k], delta);
  S out;
  memcpy(&out, w, sizeof(S));
  return out;
}

template <typename R> __device__ __forceinline__ void warp_merge(const R& r, typename R::S& s) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) {
    typename R::S other = shfl_down(s, d);
    r.merge(s, other);  // lane l merges lane l + d: later elements after earlier ones
  }
}

// The block's state in thread 0: warps merge by shuffles, then thread 0 merges the warps in order.
template <typename R> __device__ __forceinline__ typename R::S block_merge(const R& r, typename R::S s) {
  __shared__ typename R::S part[kThreads / 32];
  warp_merge(r, s);
  if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x == 0)
    for (int w = 1; w < kThreads / 32; ++w) r.merge(s, part[w]);
  __syncthreads();  // `part` may be reused by the caller's next iteration
  return s;
}

// Group = 32 (one warp per output) or kThreads (one block per output).
template <int Group, typename R, typename T>
__global__ void __launch_bounds__(kThreads) reduce_kernel(Geometry<2> kept, Geometry<1> red, R r, const T* x,
                                                          typename R::Out* y, int64_t outputs) {
  using S = typename R::S;
  const int lane = threadIdx.x % Group;
  const int64_t per_block = kThreads / Group;
  for (int64_t o = blockIdx.x * per_block + threadIdx.x / Group; o - threadIdx.x / Group < outputs;
       o += (int64_t)gridDim.x * per_block) {
    const bool live = o < outputs;  // whole blocks loop together (the block merge syncs)
    int64_t ko[2] = {0, 0};
    if (live) kept.offsets(o, ko);
    S s = r.init(live ? o : 0);
    if (live)
      for (int64_t j = lane; j < red.n; j += Group) {
        int64_t ro[1];
        red.offsets(j, ro);
        r.add(s, dload(x + ko[0] + ro[0]), j);
      }
    if constexpr (Group > 32) {
      s = block_merge(r, s);
      if (threadIdx.x == 0) y[ko[1]] = r.finish(s, red.n);
    } else {
      warp_merge(r, s);
      if (live && lane == 0) y[ko[1]] = r.finish(s, red.n);
    }
  }
}

// Few outputs over a long reduced range (a full reduction): blocks (part q, output o) each reduce
// one chunk of the range into parts[o * P + q]; reduce_finish merges the parts in order.
template <typename R, typename T>
__global__ void __launch_bounds__(kThreads) reduce_parts(Geometry<2> kept, Geometry<1> red, R r, const T* x,
                                                         typename R::S* parts, int64_t chunk) {
  const int64_t o = blockIdx.y, q = blockIdx.x, lo = q * chunk, hi = min(red.n, lo + chunk);
  int64_t ko[2];
  kept.offsets(o, ko);
  typename R::S s = r.init(o);
  for (int64_t j = lo + threadIdx.x; j < hi; j += kThreads) {
    int64_t ro[1];
    red.offsets(j, ro);
    r.add(s, dload(x + ko[0] + ro[0]), j);
  }
  s = block_merge(r, s);
  if (threadIdx.x == 0) parts[o * gridDim.x + q] = s;
}

template <typename R>
__global__ void __launch_bounds__(kThreads) reduce_finish(Geometry<2> kept, R r, const typename R::S* parts, int64_t nparts,
                                                          typename R::Out* y, int64_t n, int64_t outputs) {
  KILN_GRID_STRIDE(o, outputs) {
    int64_t ko[2];
    kept.offsets(o, ko);
    typename R::S s = parts[o * nparts];
    for (int64_t q = 1; q < nparts; ++q) r.merge(s, parts[o * nparts + q]);
    y[ko[1]] = r.finish(s, n);
  }
}

struct ReduceGeometry {
  Geometry<2> kept;  // strides {X, Y}
  Geometry<1> red;   // strides {X}
  int64_t outputs;
};

ReduceGeometry reduce_geometry(const View& x, const View& y, const std::vector<int64_t>& axes) {
  Dims ks, kx, ky, rs, rx;
  for (int d = 0; d < x.rank(); ++d) {
    if (std::find(axes.begin(), axes.end(), d) != axes.end()) rs.push_back(x.shape[d]), rx.push_back(x.strides[d]);
    else ks.push_back(x.shape[d]), kx.push_back(x.strides[d]), ky.push_back(y.strides[d]);
  }
  ReduceGeometry g;
  g.kept = make_geometry<2>(ks, {&kx, &ky});
  g.red = make_geometry<1>(rs, {&rx});
  g.outputs = g.kept.n;
  return g;
}

template <typename R, typename T>
void launch_reduce(const Stream& s, const ReduceGeometry& g, const R& r, const T* x, typename R::Out* y) {
  if (g.red.n > kSplitMin && g.outputs < (int64_t)s.sm_count * 2) {
    // Too few outputs to fill the GPU one block each: split the range into parts of >= kSplitMin / 4.
    const int64_t want = std::min<int64_t>((int64_t)s.sm_count * 8 / g.outputs + 1, 1024);
    const int64_t chunk = std::max<int64_t>((g.red.n + want - 1) / want, kSplitMin / 4);
    const int64_t nparts = (g.red.n + chunk - 1) / chunk;
    Scratch parts(s, (size_t)(nparts * g.outputs) * sizeof(typename R::S));
    reduce_parts<R, T><<<dim3((unsigned)nparts, (unsigned)g.outputs), kThreads, 0, s.stream>>>(g.kept, g.red, r, x,
                                                                                           parts.as<typename R::S>(), chunk);
    check_launch("reduce_parts");
    reduce_finish<R><<<grid_for(g.outputs, kThreads, s), kThreads, 0, s.stream>>>(g.kept, r, parts.as<typename R::S>(), nparts, y,
                                                                                 g.red.n, g.outputs);
    return check_launch("reduce_finish");
  }
  if (g.red.n > kWarpMax) {
    unsigned grid = (unsigned)std::min<int64_t>(g.outputs, (int64_t)s.sm_count * 32);
    reduce_kernel<kThreads, R, T><<<grid, kThreads, 0, s.stream>>>(g.kept, g.red, r, x, y, g.outputs);
  } else {
    int64_t blocks = (g.outputs + kThreads / 32 - 1) / (kThreads / 32);
    unsigned grid = (unsigned)std::min<int64_t>(blocks, (int64_t)s.sm_count * 32);
    reduce_kernel<32, R, T><<<grid, kThreads, 0, s.stream>>>(g.kept, g.red, r, x, y, g.outputs);
  }
  check_launch("reduce_kernel");
}

template <template <typename> class R> void reduce_run(const KernelArgs& a, const Stream& s) {
  const View &x = a.in[0], &y = a.out[0];
  ReduceGeometry g = reduce_geometry(x, y, a.attrs.ints("axes"));
  dispatch(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    launch_reduce(s, g, R<T>{}, x.data<T>(), y.data<typename R<T>::Out>());
  });
}

// Writes the float64 mean of each output into `means` (indexed by output number, not Y's layout).
template <typename T> struct MeanToScratch : MeanR<T> {
  using Out = double;
  __device__ double finish(double s, int64_t n) const { return s / (double)n; }
};

void variance_run(const KernelArgs& a, const Stream& s) {
  const View &x = a.in[0], &y = a.out[0];
  ReduceGeometry g = reduce_geometry(x, y, a.attrs.ints("axes"));
  Scratch means(s, (size_t)g.outputs * sizeof(double));
  // The means land densely: the kept geometry's Y strides become the row-major output numbering.
  ReduceGeometry dense = g;
  Dims ks, ones;
  {
    std::vector<int64_t> axes = a.attrs.ints("axes");
    for (int d = 0; d < x.rank(); ++d)
      if (std::find(axes.begin(), axes.end(), d) == axes.end()) ks.push_back(x.shape[d]);
    Dims kx, kd(ks.size());
    for (int d = 0; d < x.rank(); ++d)
      if (std::find(axes.begin(), axes.end(), d) == axes.end()) kx.push_back(x.strides[d]);
    int64_t st = 1;
    for (int d = (int)ks.size() - 1; d >= 0; --d) kd[d] = st, st *= ks[d];
    dense.kept = make_geometry<2>(ks, {&kx, &kd});
  }
  dispatch(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    launch_reduce(s, dense, MeanToScratch<T>{}, x.data<T>(), means.as<double>());
    SqDevR<T> r{means.as<double>(), a.attrs.num("correction", 0)};
    launch_reduce(s, g, r, x.data<T>(), y.data<typename SqDevR<T>::Out>());
  });
}

KILN_CUDA_KERNEL("ReduceSum", reduce_run<SumR>);
KILN_CUDA_KERNEL("ReduceProd", reduce_run<ProdR>);
KILN_CUDA_KERNEL("ReduceMean", reduce_run<MeanR>);
KILN_CUDA_KERNEL("ReduceMax", reduce_run<MaxR>);
KILN_CUDA_KERNEL("ReduceMin", reduce_run<MinR>);
KILN_CUDA_KERNEL("ArgMax", reduce_run<ArgMaxR>);
KILN_CUDA_KERNEL("ArgMin", reduce_run<ArgMinR>);
KILN_CUDA_KERNEL("ReduceVariance", variance_run);

}  // namespace
}  // namespace cuda
}  // namespace kiln
