// Cast and the creation kernels on CUDA.
//   Cast(X any[...]) -> Y any[...]   Y = convert(X), any strides (also the strided copy behind
//        contiguous(), concat, stack and tile): same dtype moves raw bits (NaN payloads kept);
//        otherwise the CPU's rules: float -> int truncates and saturates, NaN -> 0; int64 -> int32
//        and other int -> int wrap; anything -> bool is != 0; a float64 value rounds once into
//        float16/bfloat16 (__double2half/__double2bfloat16), an int64 through a double rounded to odd,
//        so that it too rounds once; int -> float32 rounds once.
//   Fill(-> Y any[...]; value)                Y = value converted like Cast from float64
//   Range(-> Y any[n]; start, delta)          Y[i] = start + i * delta, converted likewise
// One grid-stride kernel over the coalesced views (common.cuh Geometry).
// Bench alone: `a.cuda.launch(0, 'Cast', [x], [y], {})` on a transposed view of a [4096, 4096] x.
#include "common.cuh"

namespace kiln {
namespace cuda {
namespace {

template <typename To, typename From> __device__ __forceinline__ To convert(const From* p) {
  if constexpr (std::is_same<From, dbool>::value) return from_double<To>(p->v != 0 ? 1.0 : 0.0);
  else if constexpr (std::is_same<To, dbool>::value) return dbool{(uint8_t)(to_double(p) != 0)};
  else if constexpr (std::is_same<To, float>::value && std::is_integral<From>::value) return (float)*p;
  else if constexpr (std::is_integral<To>::value && std::is_integral<From>::value) return (To)*p;  // wraps
  else if constexpr (std::is_same<From, int64_t>::value && (std::is_same<To, __half>::value || std::is_same<To, __nv_bfloat16>::value)) {
    // (double)v rounds past 2^53 and the 16-bit store would round again: the double rounded to odd
    // (truncated, its last bit set when inexact) leaves the store the one rounding, as on the CPU
    const long long v = *p;
    double d = __ll2double_rz(v);
    if ((long long)d != v) d = __longlong_as_double(__double_as_longlong(d) | 1);
    return from_double<To>(d);
  }
  else return from_double<To>(to_double(p));
}

template <typename To, typename From>
__global__ void __launch_bounds__(kThreads) cast_kernel(Geometry<2> g, To* y, const From* x) {
  KILN_GRID_STRIDE(i, g.n) {
    int64_t off[2];
    g.offsets(i, off);
    if constexpr (std::is_same<To, From>::value) y[off[0]] = x[off[1]];
    else y[off[0]] = convert<To, From>(x + off[1]);
  }
}

void cast_run(const KernelArgs& a, const Stream& s) {
  const View &x = a.in[0], &y = a.out[0];
  auto g = make_geometry<2>(y.shape, {&y.strides, &x.strides});
  unsigned grid = grid_for(g.n, kThreads, s);
  if (x.dtype == y.dtype) {
    dispatch_bits(y.dtype, [&](auto tag) {
      using U = decltype(tag);
      cast_kernel<U, U><<<grid, kThreads, 0, s.stream>>>(g, y.data<U>(), x.data<U>());
    });
  } else {
    dispatch(y.dtype, [&](auto to) {
      dispatch(x.dtype, [&](auto from) {
        using To = decltype(to);
        using From = decltype(from);
        if constexpr (!std::is_same<To, From>::value)
          cast_kernel<To, From><<<grid, kThreads, 0, s.stream>>>(g, y.data<To>(), x.data<From>());
      });
    });
  }
  check_launch("cast_kernel");
}

template <typename T> __global__ void __launch_bounds__(kThreads) fill_kernel(Geometry<1> g, T* y, double value) {
  const T v = from_double<T>(value);
  KILN_GRID_STRIDE(i, g.n) {
    int64_t off[1];
    g.offsets(i, off);
    y[off[0]] = v;
  }
}

void fill_run(const KernelArgs& a, const Stream& s) {
  const View& y = a.out[0];
  auto g = make_geometry<1>(y.shape, {&y.strides});
  double value = a.attrs.num("value");
  dispatch(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    fill_kernel<T><<<grid_for(g.n, kThreads, s), kThreads, 0, s.stream>>>(g, y.data<T>(), value);
  });
  check_launch("fill_kernel");
}

template <typename T>
__global__ void __launch_bounds__(kThreads) range_kernel(T* y, int64_t stride, int64_t n, double start, double delta) {
  KILN_GRID_STRIDE(i, n) y[i * stride] = from_double<T>(__dadd_rn(start, __dmul_rn((double)i, delta)));  // unfused, as on the CPU
}

void range_run(const KernelArgs& a, const Stream& s) {
  const View& y = a.out[0];
  int64_t n = y.numel(), stride = y.strides.empty() ? 1 : y.strides[0];
  double start = a.attrs.num("start"), delta = a.attrs.num("delta");
  dispatch(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    range_kernel<T><<<grid_for(n, kThreads, s), kThreads, 0, s.stream>>>(y.data<T>(), stride, n, start, delta);
  });
  check_launch("range_kernel");
}

KILN_CUDA_KERNEL("Cast", cast_run);
KILN_CUDA_KERNEL("Fill", fill_run);
KILN_CUDA_KERNEL("Range", range_run);

}  // namespace
}  // namespace cuda
}  // namespace kiln
