// Reductions: Y = reduce(X) over the axes in `axes`, Y keeping X's rank with those axes set to 1.
//   ReduceSum ReduceProd   X any[...] -> Y: float in, same float out; bool/uint8/int32/int64 -> int64
//   ReduceMean             ints -> float32;  ReduceVariance (correction c): sum((x - mean)^2) / (n - c)
//   ReduceMax ReduceMin    keep the dtype;   ArgMax ArgMin -> int64, first occurrence, NaN wins
// Floats accumulate in float64 and round once on store; integer sums and products wrap in int64.
// X is any strided view, Y any strided view of the keepdims shape. The kept and reduced dims are
// coalesced separately, then one driver walks "items" = (block of outputs, chunk of the reduced range):
//   row    the reduced run is the faster one in memory (the common case: reducing the innermost axis):
//          one output per block, a tight loop over the run with 8 accumulators (regrouping is fine
//          for every reducer but Arg*, whose ties need the original order).
//   column a kept dim is faster in memory (reducing axis 0 of [M, N]), or the reduction is short
//          (<= 16 elements): a block is up to 256 adjacent outputs, and each reduced element updates
//          the whole block, so X streams through once instead of once per output, and a short
//          reduction pays no per-output overhead or serial add chain.
// With few blocks (< 256, e.g. a full reduction) the reduced range is split into fixed chunks of
// ~64K elements whose partial states merge in order afterwards, so a 10M-element sum uses every
// core, and the grouping (hence the float result) depends on the shape only, never on the thread
// count. Variance is two passes (mean, then sum of squared deviations with its first-order
// correction), which keeps float32 data with a large offset exact where E[x^2] - E[x]^2 is not.
// Bench alone (full sum of 2^24 floats):
//   node -e "const a=require('./build/Release/kiln.node'),n=1<<24,x=a.alloc(4*n),y=a.alloc(4);
//     a.launch('Fill',[],[{buf:x,offset:0,shape:[n],strides:[1],dtype:0}],{value:1});
//     let t=process.hrtime.bigint();for(let i=0;i<20;i++)a.launch('ReduceSum',[{buf:x,offset:0,
//     shape:[n],strides:[1],dtype:0}],[{buf:y,offset:0,shape:[1],strides:[1],dtype:0}],{axes:[0]});
//     a.read(y,0,new Float32Array(1)).then(()=>console.log(Number(process.hrtime.bigint()-t)/20e6,'ms'))"
#include <algorithm>
#include <cstdlib>
#include <vector>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "elementwise_common.h"

namespace kiln {
namespace {

// ---- the plan: how the kept and reduced dims split into work items --------------------------------

constexpr int64_t kReduceTile = 256;        // outputs per column block
constexpr int64_t kReduceItem = 1 << 16;    // elements per item when the reduced range is split
constexpr int64_t kReduceMinBlocks = 256;   // fewer blocks than this: split the reduced range too
constexpr int64_t kReduceShort = 16;        // reductions this short always use column blocks

struct ReducePlan {
  Coalesced kept;        // kept dims, strides {X, Y}
  Coalesced red;         // reduced dims, strides {X}
  Coalesced blockspace;  // kept dims with the innermost one tiled by `tile`
  int64_t outputs = 0, n = 0;  // outputs, reduced elements per output
  bool column = false;
  int64_t nk = 1, sk = 0, syk = 0;  // innermost kept dim: size, X stride, Y stride
  int64_t tile = 1, ntiles = 1, blocks = 0, parts = 1, chunk = 1, grain = 1;
};

ReducePlan make_reduce_plan(const View& x, const View& y, const std::vector<int64_t>& axes) {
  ReducePlan p;
  Dims ks, kx, ky, rs, rx;
  for (int d = 0; d < x.rank(); ++d) {
    if (std::find(axes.begin(), axes.end(), d) != axes.end()) {
      rs.push_back(x.shape[d]);
      rx.push_back(x.strides[d]);
    } else {
      ks.push_back(x.shape[d]);
      kx.push_back(x.strides[d]);
      ky.push_back(y.strides[d]);
    }
  }
  p.kept = coalesce(ks, {&kx, &ky});
  p.red = coalesce(rs, {&rx});
  p.outputs = 1, p.n = 1;
  for (auto d : ks) p.outputs *= d;
  for (auto d : rs) p.n *= d;
  if (p.outputs == 0) return p;
  p.nk = p.kept.shape.back(), p.sk = p.kept.strides[0].back(), p.syk = p.kept.strides[1].back();
  // Column blocks also win for short reductions: a row of 2 elements would pay the per-output
  // overhead and a serial add chain for very little work.
  p.column = p.n > 1 && p.nk > 1 && (std::abs(p.sk) < std::abs(p.red.strides[0].back()) || p.n <= kReduceShort);
  p.tile = p.column ? std::min(p.nk, kReduceTile) : 1;
  p.ntiles = (p.nk + p.tile - 1) / p.tile;
  p.blocks = p.outputs / p.nk * p.ntiles;
  p.blockspace = p.kept;
  p.blockspace.shape.back() = p.ntiles;
  for (auto& s : p.blockspace.strides) s.back() *= p.tile;
  // Splitting depends on the shape alone, so float results do not change with the thread count.
  if (p.blocks < kReduceMinBlocks && p.tile * p.n > kReduceItem) {
    p.chunk = std::max<int64_t>(1, kReduceItem / p.tile);
    p.parts = (p.n + p.chunk - 1) / p.chunk;
  } else {
    p.chunk = std::max<int64_t>(1, p.n);
  }
  p.grain = std::max<int64_t>(1, kElementwiseGrain / (p.tile * std::min(p.n, p.chunk) + 16));
  return p;
}

template <typename T> constexpr DType dtype_of() {
  if constexpr (std::is_same<T, float>::value) return DType::F32;
  else if constexpr (std::is_same<T, half>::value) return DType::F16;
  else if constexpr (std::is_same<T, bfloat16>::value) return DType::BF16;
  else if constexpr (std::is_same<T, int32_t>::value) return DType::I32;
  else if constexpr (std::is_same<T, int64_t>::value) return DType::I64;
  else if constexpr (std::is_same<T, uint8_t>::value) return DType::U8;
  else return DType::Bool;
}

// Arity, axes (distinct, in [0, rank)) and Y's shape (X's with the axes set to 1).
void check_reduce_args(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, 1, 1);
  const View &x = a.in[0], &y = a.out[0];
  if (x.rank() > 16) unsupported(op, a);  // for_each_run walks at most 16 dims
  if (!a.attrs.has("axes")) fail("E_ARGUMENT", op + ": missing attribute 'axes'");
  std::vector<int64_t> axes = a.attrs.ints("axes");
  if (axes.empty()) fail("E_ARGUMENT", op + ": axes must not be empty: " + describe(op, a));
  Dims want = x.shape;
  for (auto ax : axes) {
    if (ax < 0 || ax >= x.rank() || want[ax] < 0)
      fail("E_ARGUMENT", op + ": axes must be distinct dims in [0, " + std::to_string(x.rank()) + "), got " +
                             std::to_string(ax) + ": " + describe(op, a));
    want[ax] = -1;
  }
  for (auto& d : want) d = d < 0 ? 1 : d;
  if (y.shape != want) fail("E_SHAPE", op + ": Y must have X's shape with the reduced axes set to 1: " + describe(op, a));
}

template <typename R, typename T>
void reduce_row(const R& r, int64_t o, typename R::S& s, const T* x, int64_t n, int64_t st, int64_t i0);

// ---- reducers -------------------------------------------------------------------------------------
// V: what an element loads as; S: a running state; init(o): the identity state of output o (merge
// with it changes nothing); add(s, v, i): element i (row-major index within the reduced dims);
// merge(a, b): b's elements follow a's; finish(s, n) -> Out, Y's storage type.

template <typename T> constexpr bool kFloatIn = is_float_type<T>();

template <typename T> struct SumR {
  using Out = std::conditional_t<kFloatIn<T>, T, int64_t>;
  using S = std::conditional_t<kFloatIn<T>, double, uint64_t>;  // uint64: wraps without UB
  static constexpr bool kUnordered = true, kAllowEmpty = true, kRow = false;
  S init(int64_t) const { return 0; }
  void add(S& s, acc_t<T> v, int64_t) const { s += (S)v; }
  void merge(S& a, const S& b) const { a += b; }
  Out finish(S s, int64_t) const {
    if constexpr (kFloatIn<T>) return from_double<Out>(s);
    else return (int64_t)s;
  }
};

template <typename T> struct ProdR : SumR<T> {
  using S = typename SumR<T>::S;
  S init(int64_t) const { return 1; }
  void add(S& s, acc_t<T> v, int64_t) const { s *= (S)v; }
  void merge(S& a, const S& b) const { a *= b; }
};

template <typename T> struct MeanR {
  using Out = std::conditional_t<kFloatIn<T>, T, float>;
  using S = double;
  static constexpr bool kUnordered = true, kAllowEmpty = true, kRow = false;
  S init(int64_t) const { return 0; }
  void add(S& s, acc_t<T> v, int64_t) const { s += (double)v; }
  void merge(S& a, const S& b) const { a += b; }
  Out finish(S s, int64_t n) const { return from_double<Out>(s / (double)n); }
};

// Second pass of variance: deviations from the first pass's mean. `d` (the sum of deviations, zero
// in exact arithmetic) corrects the rounding of the mean (the "corrected two-pass" algorithm).
template <typename T> struct SqDevR : MeanR<T> {
  struct S { double mean, d, d2; };
  const double* means = nullptr;
  double correction = 0;
  S init(int64_t o) const { return {means[o], 0, 0}; }
  void add(S& s, acc_t<T> v, int64_t) const {
    double t = (double)v - s.mean;
    s.d += t;
    s.d2 += t * t;
  }
  void merge(S& a, const S& b) const { a.d += b.d, a.d2 += b.d2; }
  typename MeanR<T>::Out finish(const S& s, int64_t n) const {
    double m2 = s.d2 - s.d * s.d / (double)n;
    if (m2 < 0) m2 = 0;  // rounding only; NaN stays NaN
    double denom = (double)n - correction;
    return from_double<typename MeanR<T>::Out>(m2 / (denom > 0 ? denom : 0.0));  // NumPy: max(n - ddof, 0)
  }
};

// Cmp::wins is the plain comparison, which a NaN never wins, so the hot loops stay branch-free;
// NaN is tracked on the side. beats() is the full order: NaN beats everything, nothing beats NaN.
struct Greater {
  template <typename V> static bool wins(V a, V b) { return a > b; }
  template <typename V> static V identity() {
    return std::numeric_limits<V>::has_infinity ? -std::numeric_limits<V>::infinity() : std::numeric_limits<V>::lowest();
  }
};
struct Less {
  template <typename V> static bool wins(V a, V b) { return a < b; }
  template <typename V> static V identity() {
    return std::numeric_limits<V>::has_infinity ? std::numeric_limits<V>::infinity() : std::numeric_limits<V>::max();
  }
};
template <typename Cmp, typename V> bool beats(V a, V b) { return Cmp::wins(a, b) || (a != a && b == b); }

template <typename T> inline T to_storage(acc_t<T> v) {
  T t;
  store(&t, v);
  return t;
}

template <typename T, typename Cmp> struct ExtremeR {
  using Out = T;
  using V = acc_t<T>;
  struct S { V v; bool nan; };  // v never holds a NaN
#if defined(__SSE2__)
  static constexpr bool kRow = std::is_same<T, float>::value;
#else
  static constexpr bool kRow = false;
#endif
  static constexpr bool kUnordered = true, kAllowEmpty = false;
  S init(int64_t) const { return {Cmp::template identity<V>(), false}; }
  void add(S& s, V v, int64_t) const {
    s.v = Cmp::wins(v, s.v) ? v : s.v;
    s.nan |= v != v;
  }
  void merge(S& a, const S& b) const { add(a, b.v, 0), a.nan |= b.nan; }
  V value(const S& s) const { return s.nan ? std::numeric_limits<V>::quiet_NaN() : s.v; }
  Out finish(const S& s, int64_t) const { return to_storage<T>(value(s)); }
#if defined(__SSE2__)
  // float32 runs: GCC will not vectorize the select without -ffinite-math-only, so SSE2 (baseline
  // on x86-64) by hand: maxps(v, m) is exactly `v > m ? v : m`, and cmpunordps collects the NaNs.
  void row(S& s, const float* x, int64_t n, int64_t) const {
    constexpr bool kMax = std::is_same<Cmp, Greater>::value;
    __m128 m0 = _mm_set1_ps(s.v), m1 = m0, bad = _mm_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      __m128 a = _mm_loadu_ps(x + i), b = _mm_loadu_ps(x + i + 4);
      m0 = kMax ? _mm_max_ps(a, m0) : _mm_min_ps(a, m0);
      m1 = kMax ? _mm_max_ps(b, m1) : _mm_min_ps(b, m1);
      bad = _mm_or_ps(bad, _mm_or_ps(_mm_cmpunord_ps(a, a), _mm_cmpunord_ps(b, b)));
    }
    alignas(16) float lanes[8];
    _mm_store_ps(lanes, m0);
    _mm_store_ps(lanes + 4, m1);
    for (float v : lanes) add(s, v, 0);
    s.nan |= _mm_movemask_ps(bad) != 0;
    for (; i < n; ++i) add(s, x[i], 0);
  }
#endif
};

template <typename T, typename Cmp> struct ArgR {
  using Out = int64_t;
  struct S { acc_t<T> v; int64_t i; };  // i < 0: no element yet
  static constexpr bool kUnordered = false, kAllowEmpty = false, kRow = true;
  S init(int64_t) const { return {acc_t<T>(0), -1}; }
  void add(S& s, acc_t<T> v, int64_t i) const {
    if (s.i < 0 || beats<Cmp>(v, s.v)) s = {v, i};
  }
  void merge(S& a, const S& b) const {
    if (b.i >= 0 && (a.i < 0 || beats<Cmp>(b.v, a.v))) a = b;
  }
  Out finish(const S& s, int64_t) const { return s.i; }
  // A contiguous run in two passes: its extreme with the branch-free loop, then, only when that
  // beats the state, a scan for its first occurrence (a NaN, if there is one).
  void row(S& s, const T* x, int64_t n, int64_t i0) const {
    ExtremeR<T, Cmp> ext;
    auto e = ext.init(0);
    reduce_row(ext, 0, e, x, n, 1, 0);
    auto m = ext.value(e);
    if (n == 0 || (s.i >= 0 && !beats<Cmp>(m, s.v))) return;
    int64_t i = 0;
    if (e.nan) while (load(x + i) == load(x + i)) ++i;
    else while (!(load(x + i) == m)) ++i;
    s = {m, i0 + i};
  }
};

template <typename T> using MaxR = ExtremeR<T, Greater>;
template <typename T> using MinR = ExtremeR<T, Less>;
template <typename T> using ArgMaxR = ArgR<T, Greater>;
template <typename T> using ArgMinR = ArgR<T, Less>;

// ---- the two inner loops --------------------------------------------------------------------------

// One output over a run of n elements: s op= x[0], x[st], ...
template <typename R, typename T>
void reduce_row(const R& r, int64_t o, typename R::S& s, const T* x, int64_t n, int64_t st, int64_t i0) {
  if constexpr (R::kRow) {
    if (st == 1) return r.row(s, x, n, i0);
  }
  if constexpr (R::kUnordered) {
    if (st == 1 && n >= 32) {  // independent chains hide the add latency, and SLP may vectorize them
      typename R::S lane[8];
      for (auto& l : lane) l = r.init(o);
      int64_t i = 0;
      for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) r.add(lane[k], load(x + i + k), 0);
      for (; i < n; ++i) r.add(lane[0], load(x + i), 0);
      for (int w = 4; w > 0; w /= 2)  // a tree: the merges' latency adds up otherwise
        for (int k = 0; k < w; ++k) r.merge(lane[k], lane[k + w]);
      r.merge(s, lane[0]);
      return;
    }
  }
  if (st == 1)
    for (int64_t i = 0; i < n; ++i) r.add(s, load(x + i), i0 + i);
  else
    for (int64_t i = 0; i < n; ++i) r.add(s, load(x + i * st), i0 + i);
}

// A block of w outputs (stride sk apart in X) takes one reduced element each.
template <typename R, typename T>
void reduce_cols(const R& r, typename R::S* acc, const T* x, int64_t w, int64_t sk, int64_t i) {
  if (sk == 1)
    for (int64_t j = 0; j < w; ++j) r.add(acc[j], load(x + j), i);
  else
    for (int64_t j = 0; j < w; ++j) r.add(acc[j], load(x + j * sk), i);
}

// ---- the driver -----------------------------------------------------------------------------------

// Reduced elements [r0, r1) of the outputs whose first X element is x.
template <typename R, typename T>
void accumulate(const ReducePlan& p, const R& r, int64_t o, const T* x, typename R::S* acc, int64_t w, int64_t r0,
                int64_t r1) {
  if (r0 >= r1) return;  // (for_each_run divides by the dims, which may be 0 here)
  auto run = [&](int64_t off, int64_t cnt, int64_t st, int64_t pos) {
    if (!p.column) return reduce_row(r, o, acc[0], x + off, cnt, st, pos);
    for (int64_t k = 0; k < cnt; ++k) reduce_cols(r, acc, x + off + k * st, w, p.sk, pos + k);
  };
  if (p.red.shape.size() == 1) return run(r0 * p.red.strides[0][0], r1 - r0, p.red.strides[0][0], r0);
  int64_t pos = r0;
  for_each_run<1>(p.red, r0, r1, [&](const int64_t* off, int64_t cnt, const int64_t* st) {
    run(off[0], cnt, st[0], pos);
    pos += cnt;
  });
}

// sink(o, y_offset, state) for every output o (row-major over the kept dims).
template <typename R, typename T, typename Sink>
void reduce_plan(const ReducePlan& p, const R& r, const T* x, Sink&& sink) {
  using S = typename R::S;
  if (p.outputs == 0) return;
  std::vector<S> partial(p.parts > 1 ? p.blocks * p.tile * p.parts : 0);
  // Calls fn(blk, x_off, y_off, first output, width) for the blocks [b0, b1).
  auto blocks = [&](int64_t b0, int64_t b1, auto&& fn) {
    int64_t blk = b0, t = b0 % p.ntiles, o = (b0 / p.ntiles) * p.nk;  // tile t of the row of outputs at o
    for_each_run<2>(p.blockspace, b0, b1, [&](const int64_t* off, int64_t cnt, const int64_t* st) {
      for (int64_t i = 0; i < cnt; ++i, ++blk) {
        fn(blk, off[0] + i * st[0], off[1] + i * st[1], o + t * p.tile, std::min(p.tile, p.nk - t * p.tile));
        if (++t == p.ntiles) t = 0, o += p.nk;
      }
    });
  };
  parallel_for(p.blocks * p.parts, p.grain, [&](int64_t b, int64_t e) {
    blocks(b / p.parts, (e - 1) / p.parts + 1, [&](int64_t blk, int64_t xo, int64_t yo, int64_t o, int64_t w) {
      S acc[kReduceTile];
      for (int64_t q = std::max<int64_t>(b - blk * p.parts, 0); q < std::min(e - blk * p.parts, p.parts); ++q) {
        for (int64_t j = 0; j < w; ++j) acc[j] = r.init(o + j);
        accumulate(p, r, o, x + xo, acc, w, q * p.chunk, std::min(p.n, (q + 1) * p.chunk));
        for (int64_t j = 0; j < w; ++j) {
          if (p.parts == 1) sink(o + j, yo + j * p.syk, acc[j]);
          else partial[(blk * p.tile + j) * p.parts + q] = acc[j];
        }
      }
    });
  });
  if (p.parts == 1) return;
  parallel_for(p.blocks, std::max<int64_t>(1, 4096 / (p.tile * p.parts)), [&](int64_t b, int64_t e) {
    blocks(b, e, [&](int64_t blk, int64_t, int64_t yo, int64_t o, int64_t w) {
      for (int64_t j = 0; j < w; ++j) {
        const S* part = &partial[(blk * p.tile + j) * p.parts];
        S s = part[0];
        for (int64_t q = 1; q < p.parts; ++q) r.merge(s, part[q]);
        sink(o + j, yo + j * p.syk, s);
      }
    });
  });
}

template <template <typename> class R> void reduce_run(const KernelArgs& a) {
  const View &x = a.in[0], &y = a.out[0];
  ReducePlan p = make_reduce_plan(x, y, a.attrs.ints("axes"));
  dispatch_all(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    R<T> r;
    auto* out = y.data<typename R<T>::Out>();
    reduce_plan(p, r, x.data<T>(), [&](int64_t, int64_t yo, const auto& s) { out[yo] = r.finish(s, p.n); });
  });
}

void variance_run(const KernelArgs& a) {
  const View &x = a.in[0], &y = a.out[0];
  ReducePlan p = make_reduce_plan(x, y, a.attrs.ints("axes"));
  std::vector<double> means(p.outputs);
  dispatch_all(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    reduce_plan(p, MeanR<T>{}, x.data<T>(), [&](int64_t o, int64_t, double s) { means[o] = s / (double)p.n; });
    SqDevR<T> r;
    r.means = means.data();
    r.correction = a.attrs.num("correction", 0);
    auto* out = y.data<typename MeanR<T>::Out>();
    reduce_plan(p, r, x.data<T>(), [&](int64_t, int64_t yo, const auto& s) { out[yo] = r.finish(s, p.n); });
  });
}

template <template <typename> class R> void reduce_check(const std::string& op, const KernelArgs& a) {
  DType out = DType::F32;
  bool allow_empty = true;
  check_reduce_args(op, a);
  dispatch_all(a.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    out = dtype_of<typename R<T>::Out>();
    allow_empty = R<T>::kAllowEmpty;
  });
  if (a.out[0].dtype != out) unsupported(op, a);
  if (!allow_empty && a.in[0].numel() == 0 && a.out[0].numel() != 0)
    fail("E_SHAPE", op + ": cannot reduce over an empty axis (no identity): " + describe(op, a));
}

void variance_check(const std::string& op, const KernelArgs& a) {
  reduce_check<MeanR>(op, a);
  double c = a.attrs.num("correction", 0);
  if (!(c >= 0) || std::isinf(c))
    fail("E_ARGUMENT", op + ": correction must be a finite number >= 0, got " + std::to_string(c));
}

KILN_CPU_KERNEL("ReduceSum", reduce_run<SumR>, reduce_check<SumR>);
KILN_CPU_KERNEL("ReduceProd", reduce_run<ProdR>, reduce_check<ProdR>);
KILN_CPU_KERNEL("ReduceMean", reduce_run<MeanR>, reduce_check<MeanR>);
KILN_CPU_KERNEL("ReduceMax", reduce_run<MaxR>, reduce_check<MaxR>);
KILN_CPU_KERNEL("ReduceMin", reduce_run<MinR>, reduce_check<MinR>);
KILN_CPU_KERNEL("ArgMax", reduce_run<ArgMaxR>, reduce_check<ArgMaxR>);
KILN_CPU_KERNEL("ArgMin", reduce_run<ArgMinR>, reduce_check<ArgMinR>);
KILN_CPU_KERNEL("ReduceVariance", variance_run, variance_check);

}  // namespace
}  // namespace kiln
