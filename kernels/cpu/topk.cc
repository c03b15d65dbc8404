// TopK: the k largest (or smallest) elements of X along `axis`, in order, and where they were.
//   TopK(X [d_0..d_{r-1}] float*/int32/int64/uint8; axis, k, largest)
//     -> Values [d_0..k..d_{r-1}] (X's dtype), Indices [d_0..k..d_{r-1}] int64 (positions along axis)
//   Order: descending when largest, ascending otherwise; equal values keep their index order (the
//   lower index first: ONNX's rule, and what makes the result deterministic). NaN ranks above +inf,
//   as PyTorch's topk and NumPy's sort place it: first when largest, last when smallest. -0 == +0.
//   k == d_axis sorts the axis (kiln.sort, kiln.argsort).
// One slice (a position outside `axis`) at a time, slices in parallel: the slice's (key, index)
// pairs go into a per-chunk buffer, std::partial_sort orders the first k (O(n log k)), and Values
// take X's elements bit for bit (a NaN keeps its payload). Keys: float for the float dtypes (every
// float16/bfloat16 is exact in float), int64 for the integers (exact, unlike a double past 2^53).
// Bench alone (top 5 of 64 rows of a 50257-word vocabulary):
//   node -e "const a=require('./build/Release/kiln.node'),R=64,V=50257,x=a.alloc(4*R*V),
//     v=a.alloc(4*R*5),i=a.alloc(8*R*5);a.write(x,0,Float32Array.from({length:R*V},Math.random));
//     let t=process.hrtime.bigint();for(let r=0;r<20;r++)a.launch('TopK',[{buf:x,offset:0,shape:[R,V],
//     strides:[V,1],dtype:0}],[{buf:v,offset:0,shape:[R,5],strides:[5,1],dtype:0},{buf:i,offset:0,
//     shape:[R,5],strides:[5,1],dtype:4}],{axis:1,k:5,largest:1});a.read(v,0,new Float32Array(1))
//     .then(()=>console.log(Number(process.hrtime.bigint()-t)/20e6,'ms'))"
#include <algorithm>
#include <cmath>
#include <vector>

#include "elementwise_map.h"

namespace kiln {
namespace {

template <typename K> struct Entry {
  K key;
  int64_t idx;
};

// Whether a comes before b in the output.
template <typename K> struct Before {
  bool largest;
  bool operator()(const Entry<K>& a, const Entry<K>& b) const {
    if constexpr (std::is_floating_point<K>::value) {
      const bool an = std::isnan(a.key), bn = std::isnan(b.key);
      if (an != bn) return largest ? an : bn;
      if (an) return a.idx < b.idx;
    }
    if (a.key != b.key) return largest ? a.key > b.key : a.key < b.key;
    return a.idx < b.idx;
  }
};

template <typename T> using KeyOf = typename std::conditional<is_float_type<T>(), float, int64_t>::type;

template <typename T> KeyOf<T> key_of(const T* p) {
  if constexpr (is_float_type<T>()) return load(p);
  else return (int64_t)*p;
}

void topk_run(const KernelArgs& a) {
  const View &x = a.in[0], &vals = a.out[0], &idxs = a.out[1];
  const int axis = (int)a.attrs.i64("axis");
  const int64_t k = a.attrs.i64("k"), n = x.shape[axis];
  const bool largest = a.attrs.i64("largest", 1) != 0;
  // Slices: every dim but axis, with the strides of X, Values and Indices.
  Dims ps, px, pv, pi;
  for (int d = 0; d < x.rank(); ++d)
    if (d != axis) ps.push_back(x.shape[d]), px.push_back(x.strides[d]), pv.push_back(vals.strides[d]), pi.push_back(idxs.strides[d]);
  int64_t slices = 1;
  for (auto s : ps) slices *= s;
  if (slices == 0 || k == 0) return;
  const Coalesced pc = coalesce(ps, {&px, &pv, &pi});
  const int64_t sx = x.strides[axis], sv = vals.strides[axis], si = idxs.strides[axis];
  int64_t* const ip = idxs.data<int64_t>();
  dispatch_all(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    using K = KeyOf<T>;
    if constexpr (!std::is_same<T, kbool>::value) {
      const T* xp = x.data<T>();
      T* vp = vals.data<T>();
      const Before<K> before{largest};
      parallel_for(slices, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
        std::vector<Entry<K>> buf((size_t)n);
        for_each_run<3>(pc, b, e, [&](const int64_t* off, int64_t cnt, const int64_t* st) {
          for (int64_t s = 0; s < cnt; ++s) {
            const T* xs = xp + off[0] + s * st[0];
            for (int64_t r = 0; r < n; ++r) buf[r] = Entry<K>{key_of(xs + r * sx), r};
            std::partial_sort(buf.begin(), buf.begin() + k, buf.end(), before);
            T* vs = vp + off[1] + s * st[1];
            int64_t* is = ip + off[2] + s * st[2];
            for (int64_t p = 0; p < k; ++p) vs[p * sv] = xs[buf[p].idx * sx], is[p * si] = buf[p].idx;
          }
        });
      });
    }
  });
}

void topk_check(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, 1, 2);
  const View &x = a.in[0], &vals = a.out[0], &idxs = a.out[1];
  if (x.dtype == DType::Bool) unsupported(op, a);
  if (vals.dtype != x.dtype || idxs.dtype != DType::I64)
    fail("E_DTYPE", op + ": Values must have X's dtype and Indices int64: " + describe(op, a));
  if (x.rank() < 1 || x.rank() > 16) unsupported(op, a);  // for_each_run walks at most 16 dims
  for (const char* attr : {"axis", "k"})
    if (!a.attrs.has(attr)) fail("E_ARGUMENT", op + ": missing attribute '" + attr + "'");
  const int64_t axis = a.attrs.i64("axis"), k = a.attrs.i64("k");
  if (axis < 0 || axis >= x.rank())
    fail("E_ARGUMENT", op + ": axis " + std::to_string(axis) + " is not a dim of X: " + describe(op, a));
  if (k < 0 || k > x.shape[axis])
    fail("E_ARGUMENT", op + ": k " + std::to_string(k) + " is outside [0, " + std::to_string(x.shape[axis]) + "]: " + describe(op, a));
  Dims want = x.shape;
  want[axis] = k;
  if (vals.shape != want || idxs.shape != want)
    fail("E_SHAPE", op + ": Values and Indices must have X's shape with k along axis: " + describe(op, a));
}

double topk_cost(const KernelArgs& a) {
  const View& x = a.in[0];
  const int64_t k = a.attrs.i64("k", 1);
  return default_cost(a) + (double)x.numel() * std::log2((double)std::max<int64_t>(k, 2)) * kCostPerElement;
}

KILN_CPU_KERNEL("TopK", topk_run, topk_check, topk_cost);

}  // namespace
}  // namespace kiln
