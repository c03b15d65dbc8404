// The CUDA kernels' shared toolkit: device storage types per dtype and their compute types (float
// for float16/bfloat16, uint8 for bool), load/store with one rounding, conversions from float64,
// dtype dispatch, and Geometry: a coalesced strided iteration space that maps a linear element index
// to one element offset per view (the device twin of view.h's coalesce + for_each_run).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "elementwise_ops.h"
#include "cuda/launch.h"
#include "view.h"

namespace kiln {
namespace cuda {

struct dbool { uint8_t v; };  // bool storage: one byte, 0 or 1

template <typename T> struct dacc { using type = T; };
template <> struct dacc<__half> { using type = float; };
template <> struct dacc<__nv_bfloat16> { using type = float; };
template <> struct dacc<dbool> { using type = uint8_t; };
template <typename T> using dacc_t = typename dacc<T>::type;

template <typename T> __device__ __forceinline__ dacc_t<T> dload(const T* p) { return *p; }
template <> __device__ __forceinline__ float dload<__half>(const __half* p) { return __half2float(*p); }
template <> __device__ __forceinline__ float dload<__nv_bfloat16>(const __nv_bfloat16* p) { return __bfloat162float(*p); }
template <> __device__ __forceinline__ uint8_t dload<dbool>(const dbool* p) { return p->v != 0; }

template <typename T> __device__ __forceinline__ void dstore(T* p, dacc_t<T> v) { *p = v; }
template <> __device__ __forceinline__ void dstore<__half>(__half* p, float v) { *p = __float2half_rn(v); }
template <> __device__ __forceinline__ void dstore<__nv_bfloat16>(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ void dstore<dbool>(dbool* p, uint8_t v) { p->v = v != 0; }

template <typename T> constexpr bool is_dfloat() {
  return std::is_same<T, float>::value || std::is_same<T, __half>::value || std::is_same<T, __nv_bfloat16>::value;
}

template <typename T> constexpr unsigned dclass() {
  if constexpr (is_dfloat<T>()) return kFloat;
  else if constexpr (std::is_same<T, dbool>::value) return kBool;
  else if constexpr (std::is_same<T, uint8_t>::value) return kU8;
  else return kSigned;
}

// A float64 value stored in T with one rounding (nearest even); integers truncate toward zero and
// saturate, NaN -> 0; bool is v != 0. The same rules as the CPU's from_double (elementwise_common.h).
template <typename T> __device__ __forceinline__ T from_double(double v) {
  if constexpr (std::is_same<T, float>::value) return (float)v;
  else if constexpr (std::is_same<T, double>::value) return v;
  else if constexpr (std::is_same<T, __half>::value) return __double2half(v);
  else if constexpr (std::is_same<T, __nv_bfloat16>::value) return __double2bfloat16(v);
  else if constexpr (std::is_same<T, dbool>::value) return dbool{(uint8_t)(v != 0)};
  else {
    if (v != v) return 0;
    if (v <= (double)std::numeric_limits<T>::lowest()) return std::numeric_limits<T>::lowest();
    if (v >= (double)std::numeric_limits<T>::max()) return std::numeric_limits<T>::max();
    return (T)v;
  }
}

template <typename T> __device__ __forceinline__ double to_double(const T* p) { return (double)dload(p); }

// Calls fn(T{}) with the device storage type of `t`.
template <typename Fn> void dispatch(DType t, Fn&& fn) {
  switch (t) {
    case DType::F32: fn(float{}); return;
    case DType::F16: fn(__half{}); return;
    case DType::BF16: fn(__nv_bfloat16{}); return;
    case DType::I32: fn(int32_t{}); return;
    case DType::I64: fn(int64_t{}); return;
    case DType::U8: fn(uint8_t{}); return;
    case DType::Bool: fn(dbool{}); return;
  }
  fail("E_DTYPE", "unknown dtype");
}

template <typename Fn> void dispatch_float(DType t, Fn&& fn) {
  switch (t) {
    case DType::F32: fn(float{}); return;
    case DType::F16: fn(__half{}); return;
    case DType::BF16: fn(__nv_bfloat16{}); return;
    default: fail("E_DTYPE", std::string("expected a float dtype, got ") + dtype_name(t));
  }
}

constexpr int kMaxRank = 16;

// N views over one coalesced shape. offsets(i) gives element i's offset (in elements) in each view,
// i counting row-major over the shape. Rank 1 (contiguous or one broadcast value, the common case)
// needs no division.
template <int N> struct Geometry {
  int rank = 1;
  int64_t n = 0;
  int64_t shape[kMaxRank];
  int64_t stride[N][kMaxRank];

  __device__ __forceinline__ void offsets(int64_t i, int64_t (&off)[N]) const {
    if (rank == 1) {
#pragma unroll
      for (int v = 0; v < N; ++v) off[v] = i * stride[v][0];
      return;
    }
#pragma unroll
    for (int v = 0; v < N; ++v) off[v] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      int64_t s = shape[d], q = i / s, idx = i - q * s;
      i = q;
#pragma unroll
      for (int v = 0; v < N; ++v) off[v] += idx * stride[v][d];
    }
  }
};

template <int N> Geometry<N> make_geometry(const Dims& shape, const std::array<const Dims*, N>& strides) {
  Coalesced c = coalesce(shape, std::vector<const Dims*>(strides.begin(), strides.end()));
  if (c.shape.size() > (size_t)kMaxRank) fail("E_UNSUPPORTED", "more than 16 dims after coalescing");
  Geometry<N> g;
  g.rank = (int)c.shape.size();
  g.n = 1;
  for (int d = 0; d < g.rank; ++d) {
    g.shape[d] = c.shape[d];
    g.n *= c.shape[d];
    for (int v = 0; v < N; ++v) g.stride[v][d] = c.strides[v][d];
  }
  for (auto d : shape) g.n = d == 0 ? 0 : g.n;
  return g;
}

#define KILN_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

constexpr int kThreads = 256;

// Elementwise map: y = f(load(x_0), ..., load(x_k)) stored in TOut, over views of one shape.
template <int N> struct Ptrs { const char* p[N > 0 ? N : 1]; };

template <typename TOut, typename F, typename... TIn, size_t... K>
__device__ __forceinline__ void map_element(const Geometry<sizeof...(TIn) + 1>& g, int64_t i, char* y,
                                            const Ptrs<sizeof...(TIn)>& x, const F& f, std::index_sequence<K...>) {
  int64_t off[sizeof...(TIn) + 1];
  g.offsets(i, off);
  dstore(reinterpret_cast<TOut*>(y) + off[0], f(dload(reinterpret_cast<const TIn*>(x.p[K]) + off[K + 1])...));
}

template <typename TOut, typename F, typename... TIn>
__global__ void __launch_bounds__(kThreads) map_kernel(Geometry<sizeof...(TIn) + 1> g, char* y, Ptrs<sizeof...(TIn)> x, F f) {
  KILN_GRID_STRIDE(i, g.n) map_element<TOut, F, TIn...>(g, i, y, x, f, std::index_sequence_for<TIn...>{});
}

template <typename TOut, typename... TIn, typename F>
void map_views(const Stream& s, const View& out, const std::array<const View*, sizeof...(TIn)>& in, const F& f) {
  constexpr int N = sizeof...(TIn);
  std::array<const Dims*, N + 1> strides;
  strides[0] = &out.strides;
  Ptrs<N> x;
  for (int k = 0; k < N; ++k) strides[k + 1] = &in[k]->strides, x.p[k] = in[k]->ptr;
  auto g = make_geometry<N + 1>(out.shape, strides);
  if (g.n == 0) return;
  map_kernel<TOut, F, TIn...><<<grid_for(g.n, kThreads, s), kThreads, 0, s.stream>>>(g, out.ptr, x, f);
  check_launch("map_kernel");
}

// Functors that read attributes take them in a (host) constructor.
template <typename Op> Op make_op(const Attrs& attrs) {
  if constexpr (std::is_constructible<Op, const Attrs&>::value) return Op(attrs);
  else return Op{};
}

}  // namespace cuda
}  // namespace kiln
