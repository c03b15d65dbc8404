// Row-wise normalizations on CUDA, fused: one group of threads owns one row and makes its passes
// over it without leaving the kernel (the row stays in L1/L2 between passes).
//   Softmax(X; axis)      Y = exp(x - max) / sum(exp(x - max)) along `axis`
//   LogSoftmax(X; axis)   Y = x - max - log(sum(exp(x - max)))
//   LayerNormalization(X[, Scale, Bias]; axis, epsilon, has_scale, has_bias) over dims axis..rank-1
//   RMSNormalization(X[, Scale]; axis, epsilon, has_scale)                    over dims axis..rank-1
// Float dtypes; X, Y, Scale, Bias any strided views (Scale and Bias X.shape[axis:], stride 0 where
// broadcast). Sums accumulate in float64 like the CPU's, the elementwise math is float32, rounded
// once on store. Rows are the dims outside the normalized ones (Geometry<2> {X, Y}); the normalized
// dims are one Geometry<4> {X, Y, Scale, Bias}. Group = one warp per row for rows up to kWarpRow
// elements, a whole block per row beyond; lanes combine with xor shuffles (every lane gets the result).
// Bench alone: `a.cuda.launch(0, 'Softmax', [x], [y], {axis: 1})` on [4096, 4096] floats.
#include <cfloat>

#include "common.cuh"

namespace kiln {
namespace cuda {
namespace {

constexpr int64_t kWarpRow = 1024;
enum NormMode { kSoftmax, kLogSoftmax, kLayer, kRms };

template <typename V> __device__ __forceinline__ V xor_shfl(V v, int mask) {
  if constexpr (sizeof(V) == 8) {
    unsigned long long u;
    memcpy(&u, &v, 8);
    u = __shfl_xor_sync(0xffffffffu, u, mask);
    memcpy(&v, &u, 8);
    return v;
  } else {
    return __shfl_xor_sync(0xffffffffu, v, mask);
  }
}

// Every thread of the group gets the group's sum (Op = sum) or max (Op = max).
template <int Group, bool Max, typename V> __device__ V group_all(V v, V* shared) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) {
    V o = xor_shfl(v, m);
    v = Max ? (o > v ? o : v) : v + o;
  }
  if constexpr (Group > 32) {
    const int warp = threadIdx.x / 32;
    __syncthreads();  // the previous use of `shared` is finished
    if (threadIdx.x % 32 == 0) shared[warp] = v;
    __syncthreads();
    v = shared[0];
    for (int w = 1; w < Group / 32; ++w) v = Max ? (shared[w] > v ? shared[w] : v) : v + shared[w];
  }
  return v;
}

struct NormParams {
  Geometry<2> rows;   // {X, Y}
  Geometry<4> inner;  // {X, Y, Scale, Bias}
  double eps;
};

template <int Group, NormMode Mode, typename T>
__global__ void __launch_bounds__(kThreads) norm_kernel(NormParams p, const T* x, T* y, const T* scale, const T* bias) {
  __shared__ double dshared[kThreads / 32];
  __shared__ float fshared[kThreads / 32];
  const int lane = threadIdx.x % Group;
  const int64_t per_block = kThreads / Group, n = p.inner.n;
  for (int64_t row = blockIdx.x * per_block + threadIdx.x / Group; row - threadIdx.x / Group < p.rows.n;
       row += (int64_t)gridDim.x * per_block) {
    const bool live = row < p.rows.n;  // whole blocks loop together (group_all syncs)
    int64_t ro[2] = {0, 0};
    if (live) p.rows.offsets(row, ro);
    const int64_t m_end = live ? n : 0;
    auto at = [&](int64_t j, int64_t (&off)[4]) { p.inner.offsets(j, off); };
    if constexpr (Mode == kSoftmax || Mode == kLogSoftmax) {
      float m = -INFINITY;
      for (int64_t j = lane; j < m_end; j += Group) {
        int64_t off[4];
        at(j, off);
        m = fmaxf(m, dload(x + ro[0] + off[0]));
      }
      m = group_all<Group, true>(m, fshared);
      double sum = 0;
      for (int64_t j = lane; j < m_end; j += Group) {
        int64_t off[4];
        at(j, off);
        sum += (double)expf(dload(x + ro[0] + off[0]) - m);
      }
      sum = group_all<Group, false>(sum, dshared);
      const float c = Mode == kLogSoftmax ? (float)log(sum) : (float)(1.0 / sum);  // Log: (v - m) - c, m subtracted first
      for (int64_t j = lane; j < m_end; j += Group) {
        int64_t off[4];
        at(j, off);
        float v = dload(x + ro[0] + off[0]);
        dstore(y + ro[1] + off[1], Mode == kLogSoftmax ? (v - m) - c : expf(v - m) * c);
      }
    } else {
      double mean = 0;
      if constexpr (Mode == kLayer) {
        double s = 0;
        for (int64_t j = lane; j < m_end; j += Group) {
          int64_t off[4];
          at(j, off);
          s += (double)dload(x + ro[0] + off[0]);
        }
        mean = group_all<Group, false>(s, dshared) / (double)n;
      }
      double ss = 0;
      for (int64_t j = lane; j < m_end; j += Group) {
        int64_t off[4];
        at(j, off);
        double d = (double)dload(x + ro[0] + off[0]) - mean;
        ss += d * d;
      }
      const double ms = group_all<Group, false>(ss, dshared) / (double)n;
      const double rd = 1.0 / sqrt(ms + p.eps);
      const float r = (float)rd, mf = (float)mean;
      // as on the CPU: where 1/rms is below float's normal range, or x - mean may pass float's
      // largest (every |x - mean| <= sqrt(n ms); above FLT_MAX / 2, x - mf could round to inf), the
      // row is normalized in double from end to end
      const bool wide = !(isfinite(ms) && r >= FLT_MIN && ms * (double)n <= 0.25 * (double)FLT_MAX * (double)FLT_MAX);
      for (int64_t j = lane; j < m_end; j += Group) {
        int64_t off[4];
        at(j, off);
        float v = dload(x + ro[0] + off[0]);
        float sv = scale ? dload(scale + off[2]) : 1.0f, bv = bias ? dload(bias + off[3]) : 0.0f;
        dstore(y + ro[1] + off[1], wide ? (float)(((double)v - mean) * rd * sv + bv) : (v - mf) * r * sv + bv);
      }
    }
  }
}

// Rows are the dims outside [lo, hi); the normalized dims [lo, hi) carry {X, Y, Scale, Bias}.
NormParams norm_params(const View& x, const View& y, int lo, int hi, const View* scale, const View* bias, double eps) {
  Dims os, ox, oy, is, ix, iy, isc, ib;
  for (int d = 0; d < x.rank(); ++d) {
    if (d >= lo && d < hi) {
      is.push_back(x.shape[d]), ix.push_back(x.strides[d]), iy.push_back(y.strides[d]);
      isc.push_back(scale ? scale->strides[d - lo] : 0), ib.push_back(bias ? bias->strides[d - lo] : 0);
    } else {
      os.push_back(x.shape[d]), ox.push_back(x.strides[d]), oy.push_back(y.strides[d]);
    }
  }
  return NormParams{make_geometry<2>(os, {&ox, &oy}), make_geometry<4>(is, {&ix, &iy, &isc, &ib}), eps};
}

template <NormMode Mode, typename T>
void launch_norm(const Stream& s, const NormParams& p, const T* x, T* y, const T* scale, const T* bias) {
  if (p.inner.n > kWarpRow) {
    unsigned grid = (unsigned)std::min<int64_t>(p.rows.n, (int64_t)s.sm_count * 32);
    norm_kernel<kThreads, Mode, T><<<grid, kThreads, 0, s.stream>>>(p, x, y, scale, bias);
  } else {
    int64_t blocks = (p.rows.n + kThreads / 32 - 1) / (kThreads / 32);
    unsigned grid = (unsigned)std::min<int64_t>(blocks, (int64_t)s.sm_count * 32);
    norm_kernel<32, Mode, T><<<grid, kThreads, 0, s.stream>>>(p, x, y, scale, bias);
  }
  check_launch("norm_kernel");
}

template <bool Log> void softmax_run(const KernelArgs& a, const Stream& s) {
  const View &x = a.in[0], &y = a.out[0];
  int axis = (int)a.attrs.i64("axis");
  NormParams p = norm_params(x, y, axis, axis + 1, nullptr, nullptr, 0);
  dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    launch_norm<Log ? kLogSoftmax : kSoftmax, T>(s, p, x.data<T>(), y.data<T>(), nullptr, nullptr);
  });
}

template <bool RMS> void norm_run(const KernelArgs& a, const Stream& s) {
  const View &x = a.in[0], &y = a.out[0];
  int axis = (int)a.attrs.i64("axis");
  bool has_scale = a.attrs.i64("has_scale", 0) != 0, has_bias = !RMS && a.attrs.i64("has_bias", 0) != 0;
  const View* scale = has_scale ? &a.in[1] : nullptr;
  const View* bias = has_bias ? &a.in[has_scale ? 2 : 1] : nullptr;
  NormParams p = norm_params(x, y, axis, x.rank(), scale, bias, a.attrs.num("epsilon", RMS ? 1e-6 : 1e-5));
  dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    launch_norm<RMS ? kRms : kLayer, T>(s, p, x.data<T>(), y.data<T>(), scale ? scale->data<T>() : nullptr,
                                        bias ? bias->data<T>() : nullptr);
  });
}

KILN_CUDA_KERNEL("Softmax", softmax_run<false>);
KILN_CUDA_KERNEL("LogSoftmax", softmax_run<true>);
KILN_CUDA_KERNEL("LayerNormalization", norm_run<false>);
KILN_CUDA_KERNEL("RMSNormalization", norm_run<true>);

}  // namespace
}  // namespace cuda
}  // namespace kiln
