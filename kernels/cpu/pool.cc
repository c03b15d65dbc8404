// Pooling over sliding windows, without a patch matrix.
//   MaxPool(X float[N, C, s_1..s_d]; kernel, strides, dilations, pads (begin))            -> Y
//   AveragePool(X; kernel, strides, dilations, pads (begin), pads_end, count_include_pad)  -> Y
//     Y float[N, C, o_1..o_d] (contiguous), 1 <= d <= 6; Y's spatial shape sets how far windows
//     reach (ceil_mode is the front end's business). A window's taps outside X are skipped: Max
//     of a window with no tap inside X is -inf, and NaN propagates (as ReduceMax). Average divides
//     by the taps inside X, or with count_include_pad by the taps inside X padded by `pads` and
//     `pads_end` (never by the extra reach of ceil_mode), as ONNX specifies.
// Work: one Y row (innermost dim o_d) at a time, rows in parallel: for every tap of the outer
// dims that lands inside X, each innermost tap sweeps the run of output positions it reads inside
// X into a float32 accumulator row (a loop without branches, which the compiler vectorizes).
// Bench alone: `kiln bench inference --model cnn` (two 2x2 MaxPools), or time
//   a.launch('MaxPool', [X], [Y], {kernel: [2, 2], strides: [2, 2], dilations: [1, 1], pads: [0, 0]}).
#include <cmath>
#include <limits>
#include <vector>

#include "elementwise_common.h"

namespace kiln {
namespace {

constexpr int kMaxSpatial = 6;

struct Window {
  int d;
  bool avg, include_pad;
  int64_t k[kMaxSpatial], s[kMaxSpatial], dil[kMaxSpatial], p[kMaxSpatial], pe[kMaxSpatial], in[kMaxSpatial], out[kMaxSpatial];
  // inside X: lo <= o*s - p + j*dil < hi (include_pad widens the range by the pads)
  int64_t lo(int i) const { return include_pad ? -p[i] : 0; }
  int64_t hi(int i) const { return include_pad ? in[i] + pe[i] : in[i]; }
  // taps j in [0, k) of dim i at output o with a <= o*s - p + j*dil < b, as [first, last), in
  // closed form: a kernel far wider than X costs nothing (pool_check bounds the products)
  void tap_range(int i, int64_t o, int64_t a, int64_t b, int64_t& first, int64_t& last) const {
    const int64_t start = o * s[i] - p[i];
    const auto ceil_div = [](int64_t n, int64_t m) { return (n + m - 1) / m; };  // n > 0
    first = std::min(k[i], start >= a ? 0 : ceil_div(a - start, dil[i]));
    last = std::max(first, std::min(k[i], start >= b ? 0 : ceil_div(b - start, dil[i])));
  }
  // taps j of dim i at output o that read X, as [first, last)
  void taps(int i, int64_t o, int64_t& first, int64_t& last) const { tap_range(i, o, 0, in[i], first, last); }
  // the average's divisor along dim i at output o
  int64_t count(int i, int64_t o) const {
    int64_t first, last;
    tap_range(i, o, lo(i), hi(i), first, last);
    return last - first;
  }
};

template <typename T>
void pool_typed(const View& x, const View& y, const Window& w) {
  const int d = w.d, L = d - 1;
  const int64_t ow = w.out[L];
  int64_t rows = x.shape[0] * x.shape[1];
  for (int i = 0; i < L; ++i) rows *= w.out[i];
  // The innermost taps that read X for some output: [t0, t1) (the first output's window starts
  // lowest, the last's highest). Dense: each such tap t sweeps the run [olo[t], ohi[t]) of outputs
  // it reads inside X. Sparse (strides so far apart that most of [t0, t1) reads X for no output):
  // each output walks its own taps instead, so work and memory stay bounded by X and Y.
  int64_t t0, t1, unused;
  w.taps(L, ow - 1, t0, unused);
  w.taps(L, 0, unused, t1);
  t1 = std::max(t0, t1);
  const bool sparse = t1 - t0 > 4 * (w.in[L] + ow);
  std::vector<int64_t> olo(sparse ? 0 : t1 - t0), ohi(sparse ? 0 : t1 - t0), inner_count(ow);
  for (int64_t t = t0; !sparse && t < t1; ++t) {
    const int64_t off = t * w.dil[L] - w.p[L];  // input position = o * s + off
    olo[t - t0] = std::min(ow, off >= 0 ? 0 : (-off + w.s[L] - 1) / w.s[L]);
    ohi[t - t0] = std::max(olo[t - t0], std::min(ow, off >= w.in[L] ? 0 : (w.in[L] - off + w.s[L] - 1) / w.s[L]));
  }
  for (int64_t o = 0; o < ow; ++o) inner_count[o] = w.count(L, o);
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  const float init = w.avg ? 0.0f : -std::numeric_limits<float>::infinity();
  const int64_t xs = x.strides[2 + L], step = w.s[L] * xs;
  parallel_for(rows, std::max<int64_t>(1, kElementwiseGrain / (ow * std::min(t1 - t0, w.in[L]) + 8)), [&](int64_t b, int64_t e) {
    std::vector<float> acc_row(ow);
    float* acc = acc_row.data();
    for (int64_t row = b; row < e; ++row) {
      // row = ((n * C + c) * o_1 + q_1) ... * o_{d-1} + q_{d-1}
      int64_t rem = row, q[kMaxSpatial] = {0}, j0[kMaxSpatial] = {0}, j1[kMaxSpatial] = {0};
      for (int i = L - 1; i >= 0; --i) q[i] = rem % w.out[i], rem /= w.out[i];
      const int64_t c = rem % x.shape[1], n = rem / x.shape[1];
      int64_t outer_count = 1;
      bool empty = false;
      for (int i = 0; i < L; ++i) {
        w.taps(i, q[i], j0[i], j1[i]);
        empty |= j0[i] >= j1[i];
        outer_count *= w.count(i, q[i]);
      }
      std::fill(acc, acc + ow, init);
      int64_t j[kMaxSpatial];
      for (int i = 0; i < L; ++i) j[i] = j0[i];
      while (!empty) {  // every valid tap of the outer dims, then each innermost tap's run
        int64_t base = n * x.strides[0] + c * x.strides[1];
        for (int i = 0; i < L; ++i) base += (q[i] * w.s[i] - w.p[i] + j[i] * w.dil[i]) * x.strides[2 + i];
        // keeps a NaN, takes a NaN, else the larger: compare + blend, which vectorizes
        const auto max_into = [](float& a, float v) { a = a >= v || a != a ? a : v; };
        for (int64_t t = t0; !sparse && t < t1; ++t) {
          const T* r = xp + base + (t * w.dil[L] - w.p[L]) * xs;
          const int64_t o1 = ohi[t - t0];
          if (w.avg) {
            for (int64_t o = olo[t - t0]; o < o1; ++o) acc[o] += load(r + o * step);
          } else {
            for (int64_t o = olo[t - t0]; o < o1; ++o) max_into(acc[o], load(r + o * step));
          }
        }
        for (int64_t o = 0; sparse && o < ow; ++o) {
          int64_t f, l;
          w.taps(L, o, f, l);
          for (int64_t t = f; t < l; ++t) {
            const float v = load(xp + base + (o * w.s[L] - w.p[L] + t * w.dil[L]) * xs);
            if (w.avg) acc[o] += v;
            else max_into(acc[o], v);
          }
        }
        int i = L - 1;
        for (; i >= 0 && ++j[i] == j1[i]; --i) j[i] = j0[i];
        if (i < 0) break;
      }
      T* yr = yp + row * ow;
      for (int64_t o = 0; o < ow; ++o) store(yr + o, w.avg ? acc[o] / (float)(outer_count * inner_count[o]) : acc[o]);
    }
  });
}

Window window_of(const std::string& op, const KernelArgs& a) {
  Window w{};
  const View &x = a.in[0], &y = a.out[0];
  w.d = x.rank() - 2;
  w.avg = op == "AveragePool";
  w.include_pad = w.avg && a.attrs.num("count_include_pad", 0) != 0;
  const auto k = a.attrs.ints("kernel"), s = a.attrs.ints("strides"), dil = a.attrs.ints("dilations"), p = a.attrs.ints("pads");
  const auto pe = w.avg ? a.attrs.ints("pads_end") : std::vector<int64_t>(w.d, 0);
  for (int i = 0; i < w.d; ++i) {
    w.k[i] = k[i], w.s[i] = s[i], w.dil[i] = dil[i], w.p[i] = p[i], w.pe[i] = pe[i];
    w.in[i] = x.shape[2 + i];
    w.out[i] = y.shape[2 + i];
  }
  return w;
}

void pool_run(const std::string& op, const KernelArgs& a) {
  const Window w = window_of(op, a);
  if (a.out[0].numel() == 0) return;
  dispatch_float(a.in[0].dtype, [&](auto tag) { pool_typed<decltype(tag)>(a.in[0], a.out[0], w); });
}

void pool_check(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, 1, 1);
  const View &x = a.in[0], &y = a.out[0];
  const int d = x.rank() - 2;
  if (d < 1 || d > kMaxSpatial) fail("E_SHAPE", op + ": X must be [N, C, 1 to 6 spatial dims]: " + describe(op, a));
  if (!is_float(x.dtype) || y.dtype != x.dtype) fail("E_DTYPE", op + ": X and Y must share a float dtype: " + describe(op, a));
  if (!y.contiguous()) fail("E_ARGUMENT", op + ": Y must be contiguous: " + describe(op, a));
  if (y.rank() != x.rank() || y.shape[0] != x.shape[0] || y.shape[1] != x.shape[1]) fail("E_SHAPE", op + ": Y must be [N, C, o...]: " + describe(op, a));
  std::vector<const char*> names = {"kernel", "strides", "dilations", "pads"};
  if (op == "AveragePool") names.push_back("pads_end");
  for (const char* name : names)
    if (!a.attrs.has(name) || (int)a.attrs.ints(name).size() != d)
      fail("E_ARGUMENT", op + ": attribute '" + name + "' needs one entry per spatial dim: " + describe(op, a));
  const Window w = window_of(op, a);
  for (int i = 0; i < d; ++i) {
    if (w.k[i] < 1 || w.s[i] < 1 || w.dil[i] < 1 || w.p[i] < 0 || w.pe[i] < 0)
      fail("E_ARGUMENT", op + ": kernel, strides and dilations must be >= 1 and pads >= 0: " + describe(op, a));
    // every position the window math forms, o*s - p + j*dil and the pads around X, fits in int64
    const long double reach = (long double)w.out[i] * w.s[i] + (long double)w.k[i] * w.dil[i] + w.p[i] + w.pe[i] + w.in[i];
    if (reach >= 0x1p62L) fail("E_ARGUMENT", op + ": the window's reach (strides, kernel, dilations, pads) exceeds 2^62 elements: " + describe(op, a));
  }
}

void max_pool_run(const KernelArgs& a) { pool_run("MaxPool", a); }
void average_pool_run(const KernelArgs& a) { pool_run("AveragePool", a); }

// Every output reads its whole window.
double pool_cost(const KernelArgs& a) {
  double window = 1;
  for (int64_t k : a.attrs.ints("kernel")) window *= (double)k;
  return (double)a.out[0].numel() * window * kCostPerElement + default_cost(a);
}

KILN_CPU_KERNEL("MaxPool", max_pool_run, pool_check, pool_cost);
KILN_CPU_KERNEL("AveragePool", average_pool_run, pool_check, pool_cost);

}  // namespace
}  // namespace kiln
