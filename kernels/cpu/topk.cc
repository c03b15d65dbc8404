// TopK: the k largest (or smallest) elements of X along `axis`, in order, and where they were.
//   TopK(X [d_0..d_{r-1}] float*/int32/int64/uint8; axis, k, largest)
//     -> Values [d_0..k..d_{r-1}] (X's dtype), Indices [d_0..k..d_{r-1}] int64 (positions along axis)
//   Order: descending when largest, ascending otherwise; equal values keep their index order (the
//   lower index first: ONNX's rule, and what makes the result deterministic). NaN ranks above +inf,
//   as PyTorch's topk and NumPy's sort place it: first when largest, last when smallest. -0 == +0.
//   k == d_axis sorts the axis (kiln.sort, kiln.argsort).
// One slice (a position outside `axis`) at a time, slices in parallel. Two variants per slice:
//   packed   (every dtype but int64, axis < 2^32): each element becomes one uint64, its value mapped
//            to an order-preserving 32-bit key (inverted when largest) above its index, so ascending
//            uint64 order is the output order, ties included, with no comparator branches. Selection
//            by a candidate buffer and nth_element (select_packed): O(n + k log k).
//   generic  (int64 values need all 64 bits; axes of 2^32 or more): (key, index) pairs and a
//            comparator, partial_sort.
// Values take X's elements bit for bit (a NaN keeps its payload).
// Bench: `node dist/bench/topk.js` (beside onnxruntime's TopK). Alone, top 5 of 64 rows of a
// 50257-word vocabulary on the raw addon:
//   node -e "const a=require('./build/Release/kiln.node'),R=64,V=50257,x=a.alloc(4*R*V),
//     v=a.alloc(4*R*5),i=a.alloc(8*R*5);a.write(x,0,Float32Array.from({length:R*V},Math.random));
//     let t=process.hrtime.bigint();for(let r=0;r<20;r++)a.launch('TopK',[{buf:x,offset:0,shape:[R,V],
//     strides:[V,1],dtype:0}],[{buf:v,offset:0,shape:[R,5],strides:[5,1],dtype:0},{buf:i,offset:0,
//     shape:[R,5],strides:[5,1],dtype:4}],{axis:1,k:5,largest:1});a.read(v,0,new Float32Array(1))
//     .then(()=>console.log(Number(process.hrtime.bigint()-t)/20e6,'ms'))"
#include <algorithm>
#include <cstring>
#include <vector>

#include "elementwise_map.h"

namespace kiln {
namespace {

// A (key, index) pair of the generic variant, and whether a comes before b in the output.
struct Entry {
  int64_t key, idx;
};
struct Before {
  bool largest;
  bool operator()(const Entry& a, const Entry& b) const {
    if (a.key != b.key) return largest ? a.key > b.key : a.key < b.key;
    return a.idx < b.idx;
  }
};

// An order-preserving unsigned key: a < b as values <=> key(a) < key(b); -0 as +0, every NaN as one
// value above +inf.
inline uint32_t sort_key(float v) {
  if (v != v) return 0xFFC00000u;
  const uint32_t u = bits_from_f32(v == 0.0f ? 0.0f : v);
  return u & 0x80000000u ? ~u : u | 0x80000000u;
}
inline uint32_t sort_key(int32_t v) { return (uint32_t)v ^ 0x80000000u; }
inline uint32_t sort_key(uint8_t v) { return v; }

template <typename T> uint32_t sort_key_of(const T* p) {
  if constexpr (is_float_type<T>()) return sort_key(load(p));
  else return sort_key(*p);
}

// Four-lane vectors (GCC's vector extensions: SSE on x86-64's baseline, NEON on arm64).
typedef float F4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));

// Fills order[0..k) with the indices of the first k elements of the slice xs (n elements, stride sx)
// in output order. keys: scratch.
//   A buffer of candidate keys, at most 2k + 16: when full, nth_element keeps its k smallest
//   and their largest becomes the bound that later keys must beat; at the end nth_element and a
//   sort of k. O(n) for the scan (each element one compare against the bound), O(k log k) to
//   order; on data without order, the candidates number about k * ln(n / k).
template <typename T>
void select_packed(const T* xs, int64_t sx, int64_t n, int64_t k, bool largest, std::vector<uint64_t>& keys, int64_t* order) {
  const uint32_t flip = largest ? 0xFFFFFFFFu : 0u;
  const size_t cap = (size_t)(2 * k + 16);
  keys.clear();
  keys.reserve(std::min<size_t>(cap, (size_t)n));
  uint64_t bound = ~uint64_t(0);  // keys at or above it cannot be among the first k
  auto offer = [&](int64_t r) {
    const uint64_t c = (uint64_t)(sort_key_of(xs + r * sx) ^ flip) << 32 | (uint64_t)r;
    if (c >= bound) return;
    keys.push_back(c);
    if (keys.size() == cap) {
      std::nth_element(keys.begin(), keys.begin() + (k - 1), keys.end());
      keys.resize((size_t)k);
      bound = keys[k - 1];
    }
  };
  int64_t r = 0;
  if constexpr (std::is_same<T, float>::value) {
    // Contiguous float32: 16 elements at a time against the value of the bound, in four-lane
    // compares; only a block holding a possible entrant (or a NaN: the compare is unordered) goes
    // element by element. An equal value cannot enter: the bound's element has the lower index.
    if (sx == 1)
      for (; r + 16 <= n; r += 16) {
        if (bound != ~uint64_t(0)) {
          const float worst = xs[bound & 0xFFFFFFFFu];
          const F4 w = {worst, worst, worst, worst};
          I4 hit = {0, 0, 0, 0};
          for (int j = 0; j < 16; j += 4) {
            F4 v;
            std::memcpy(&v, xs + r + j, sizeof v);
            hit |= largest ? ~(v <= w) : ~(v >= w);  // NaN lanes compare false: they hit
          }
          if (!(hit[0] | hit[1] | hit[2] | hit[3])) continue;
        }
        for (int j = 0; j < 16; ++j) offer(r + j);
      }
  }
  for (; r < n; ++r) offer(r);
  if ((int64_t)keys.size() > k) {
    std::nth_element(keys.begin(), keys.begin() + (k - 1), keys.end());
    keys.resize((size_t)k);
  }
  std::sort(keys.begin(), keys.end());
  for (int64_t p = 0; p < k; ++p) order[p] = (int64_t)(keys[p] & 0xFFFFFFFFu);
}

// int64 values as they are; the other dtypes by their sort keys (axes of 2^32 elements or more).
template <typename T>
void select_generic(const T* xs, int64_t sx, int64_t n, int64_t k, bool largest, std::vector<Entry>& buf, int64_t* order) {
  buf.resize((size_t)n);
  for (int64_t r = 0; r < n; ++r) {
    const T* p = xs + r * sx;
    int64_t key;
    if constexpr (std::is_same<T, int64_t>::value) key = *p;
    else key = (int64_t)sort_key_of(p);
    buf[r] = Entry{key, r};
  }
  std::partial_sort(buf.begin(), buf.begin() + k, buf.end(), Before{largest});
  for (int64_t p = 0; p < k; ++p) order[p] = buf[p].idx;
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
  const bool packed = x.dtype != DType::I64 && n < (int64_t(1) << 32);
  dispatch_all(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same<T, kbool>::value) {
      const T* xp = x.data<T>();
      T* vp = vals.data<T>();
      parallel_for(slices, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
        std::vector<uint64_t> keys;
        std::vector<Entry> buf;
        std::vector<int64_t> order((size_t)k);
        for_each_run<3>(pc, b, e, [&](const int64_t* off, int64_t cnt, const int64_t* st) {
          for (int64_t s = 0; s < cnt; ++s) {
            const T* xs = xp + off[0] + s * st[0];
            if constexpr (std::is_same<T, int64_t>::value) select_generic(xs, sx, n, k, largest, buf, order.data());
            else if (packed) select_packed(xs, sx, n, k, largest, keys, order.data());
            else select_generic(xs, sx, n, k, largest, buf, order.data());
            T* vs = vp + off[1] + s * st[1];
            int64_t* is = ip + off[2] + s * st[2];
            for (int64_t p = 0; p < k; ++p) vs[p * sv] = xs[order[p] * sx], is[p * si] = order[p];
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
