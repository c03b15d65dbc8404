// Row-wise normalizations: each "row" is the set of elements that share one statistic.
//   Softmax(X; axis)      Y = exp(x - max) / sum(exp(x - max)) along `axis`, any axis
//   LogSoftmax(X; axis)   Y = (x - max) - log(sum(exp(x - max)))  (in that order: max + log(sum)
//                         first would round away log(sum)'s low bits when |max| is large)
//   LayerNormalization(X[, Scale, Bias]; axis, epsilon, has_scale, has_bias)
//                         over dims axis..rank-1: Y = (x - mean) / sqrt(var + eps) * scale + bias
//   RMSNormalization(X[, Scale]; axis, epsilon, has_scale)
//                         over dims axis..rank-1: Y = x / sqrt(mean(x^2) + eps) * scale
// Float dtypes only; X, Y, Scale, Bias are any strided views (Scale and Bias have shape
// X.shape[axis:], stride 0 where the front end broadcast them). Statistics accumulate in float64;
// the elementwise math is float32, rounded once on store. Rows run in parallel (a single huge row
// runs on one thread).
//   softmax  subtracting the max keeps exp from overflowing; exp(x - max) waits in a per-thread
//            scratch so exp runs once per element. When another dim is faster in memory than the
//            axis, 32 adjacent rows go together (see softmax_block). A contiguous float32 row
//            goes through vmath.h instead (vectorized max, exp and sum; KILN_CPU_ISA=portable makes
//            those scalar loops), and is computed in place in Y.
//   norms    the normalized dims are coalesced once (strides of X, Y, Scale, Bias), so a
//            contiguous row is one run; two-pass mean and variance (four float64 chains). A float32
//            row that is one unit-stride run in X and Y, with unit-stride Scale and Bias, goes
//            through vmath.h instead (vectorized sums flushed to float64, and the normalize).
// Bench alone (softmax over 4096 rows of 4096 floats):
//   node -e "const a=require('./build/Release/kiln.node'),n=1<<24,x=a.alloc(4*n),y=a.alloc(4*n),
//     v={buf:x,offset:0,shape:[4096,4096],strides:[4096,1],dtype:0},o={...v,buf:y};
//     let t=process.hrtime.bigint();for(let i=0;i<20;i++)a.launch('Softmax',[v],[o],{axis:1});
//     a.read(y,0,new Float32Array(1)).then(()=>console.log(Number(process.hrtime.bigint()-t)/20e6,'ms'))"
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <type_traits>
#include <vector>

#include "elementwise_common.h"
#include "vmath.h"

namespace kiln {
namespace {

// Rows are the dims outside [lo, hi); the normalized dims [lo, hi) are coalesced with the strides of
// {X, Y, Scale, Bias} (zeros for an absent parameter).
struct RowPlan {
  Coalesced outer;  // strides {X, Y}
  Coalesced inner;  // strides {X, Y, Scale, Bias}
  int64_t rows = 1, n = 1;
};

RowPlan make_row_plan(const View& x, const View& y, int lo, int hi, const View* scale, const View* bias) {
  RowPlan p;
  Dims os, ox, oy, is, ix, iy, iscale, ibias;
  for (int d = 0; d < x.rank(); ++d) {
    if (d >= lo && d < hi) {
      is.push_back(x.shape[d]);
      ix.push_back(x.strides[d]);
      iy.push_back(y.strides[d]);
      iscale.push_back(scale ? scale->strides[d - lo] : 0);
      ibias.push_back(bias ? bias->strides[d - lo] : 0);
      p.n *= x.shape[d];
    } else {
      os.push_back(x.shape[d]);
      ox.push_back(x.strides[d]);
      oy.push_back(y.strides[d]);
      p.rows *= x.shape[d];
    }
  }
  p.outer = coalesce(os, {&ox, &oy});
  p.inner = coalesce(is, {&ix, &iy, &iscale, &ibias});
  return p;
}

// One run of a row: offsets and strides of {X, Y, Scale, Bias}.
struct Run {
  int64_t off[4], st[4], n;
};

template <typename Fn> void for_each_row_run(const RowPlan& p, int64_t xo, int64_t yo, Fn&& fn) {
  if (p.n == 0) return;
  if (p.inner.shape.size() == 1) {
    const auto& s = p.inner.strides;
    return fn(Run{{xo, yo, 0, 0}, {s[0][0], s[1][0], s[2][0], s[3][0]}, p.n});
  }
  for_each_run<4>(p.inner, 0, p.n, [&](const int64_t* off, int64_t cnt, const int64_t* st) {
    fn(Run{{xo + off[0], yo + off[1], off[2], off[3]}, {st[0], st[1], st[2], st[3]}, cnt});
  });
}

// The sum over the row of f(x) (a double), in four chains for a contiguous run.
template <typename T, typename F> double row_sum(const RowPlan& p, const T* x, int64_t xo, F f) {
  double total = 0;
  for_each_row_run(p, xo, 0, [&](const Run& r) {
    const T* q = x + r.off[0];
    if (r.st[0] == 1) {
      double l[4] = {0, 0, 0, 0};
      int64_t i = 0;
      for (; i + 4 <= r.n; i += 4)
        for (int j = 0; j < 4; ++j) l[j] += f(load(q + i + j));
      for (; i < r.n; ++i) l[0] += f(load(q + i));
      total += (l[0] + l[1]) + (l[2] + l[3]);
    } else {
      for (int64_t i = 0; i < r.n; ++i) total += f(load(q + i * r.st[0]));
    }
  });
  return total;
}

// Y = f(x, scale, bias) over the row; an absent parameter reads as 1 (scale) or 0 (bias).
template <typename T, typename F>
void row_map(const RowPlan& p, const T* x, T* y, const T* scale, const T* bias, int64_t xo, int64_t yo, F f) {
  for_each_row_run(p, xo, yo, [&](const Run& r) {
    const T *q = x + r.off[0], *s = scale ? scale + r.off[2] : nullptr, *b = bias ? bias + r.off[3] : nullptr;
    T* o = y + r.off[1];
    for (int64_t i = 0; i < r.n; ++i) {
      float sv = s ? load(s + i * r.st[2]) : 1.0f, bv = b ? load(b + i * r.st[3]) : 0.0f;
      store(o + i * r.st[1], f(load(q + i * r.st[0]), sv, bv));
    }
  });
}

// fn(x_offset, y_offset) for every row, in parallel.
template <typename Fn> void for_each_row(const RowPlan& p, Fn&& fn) {
  if (p.rows == 0 || p.n == 0) return;
  parallel_for(p.rows, std::max<int64_t>(1, kElementwiseGrain / p.n), [&](int64_t b, int64_t e) {
    for_each_run<2>(p.outer, b, e, [&](const int64_t* off, int64_t cnt, const int64_t* st) {
      for (int64_t i = 0; i < cnt; ++i) fn(off[0] + i * st[0], off[1] + i * st[1]);
    });
  });
}

// Softmax rows are single dims, so they get their own walk: when another dim is faster in memory
// than the softmax axis (softmax over axis 0 of [M, N], or over channels in NCHW), up to kRowTile
// adjacent rows go together and every step along the axis reads kRowTile neighbours, instead of
// one element per cache line (and per page) for each row.
constexpr int64_t kRowTile = 32;

struct SoftmaxPlan {
  Coalesced blocks;          // the other dims, strides {X, Y}, the innermost tiled by `tile`
  int64_t n = 0, sxa = 0, sya = 0;  // the softmax axis: size, X and Y strides
  int64_t no = 1, sxo = 0, syo = 0, tile = 1, ntiles = 1, nblocks = 0;  // innermost other dim
};

SoftmaxPlan make_softmax_plan(const View& x, const View& y, int axis) {
  SoftmaxPlan p;
  Dims os, ox, oy;
  int64_t rows = 1;
  for (int d = 0; d < x.rank(); ++d)
    if (d != axis) os.push_back(x.shape[d]), ox.push_back(x.strides[d]), oy.push_back(y.strides[d]), rows *= x.shape[d];
  p.n = x.shape[axis], p.sxa = x.strides[axis], p.sya = y.strides[axis];
  if (rows == 0 || p.n == 0) return p;
  p.blocks = coalesce(os, {&ox, &oy});
  p.no = p.blocks.shape.back(), p.sxo = p.blocks.strides[0].back(), p.syo = p.blocks.strides[1].back();
  p.tile = p.no > 1 && p.n > 1 && std::abs(p.sxo) < std::abs(p.sxa) ? std::min(p.no, kRowTile) : 1;
  p.ntiles = (p.no + p.tile - 1) / p.tile;
  p.nblocks = rows / p.no * p.ntiles;
  p.blocks.shape.back() = p.ntiles;
  for (auto& st : p.blocks.strides) st.back() *= p.tile;
  return p;
}

// One contiguous float32 row: the max, exp(x - max) and its sum, and the scaling run through the
// vectorized set of vmath.h (exp once per element, kept in y for Softmax; LogSoftmax needs only the sum).
template <bool Log> void softmax_row_f32(int64_t n, const float* x, float* y) {
  const vm::VMath& v = vm::vmath();
  float m = v.max(x, n);
  double sum = v.exp_shift_sum(x, m, Log ? nullptr : y, n);
  if (Log) {
    float ls = (float)std::log(sum);
    for (int64_t k = 0; k < n; ++k) y[k] = (x[k] - m) - ls;
  } else {
    float c = (float)(1.0 / sum);
    if (v.normalize) v.normalize(y, y, n, 0.0f, c, nullptr, nullptr);  // (y - 0) * c: y * c, vectorized
    else
      for (int64_t k = 0; k < n; ++k) y[k] *= c;
  }
}

// w rows (X stride sxo, Y stride syo apart) along the axis; e: w * n floats of scratch. W = 1 is
// the common contiguous row, compiled apart so its state lives in registers rather than the arrays.
template <bool Log, int W, typename T>
void softmax_block(const SoftmaxPlan& p, const T* x, T* y, int64_t w, float* e) {
  if constexpr (W == 1 && std::is_same<T, float>::value) {
    if (p.sxa == 1 && p.sya == 1) return softmax_row_f32<Log>(p.n, x, y);
  }
  if (W) w = W;
  float m[kRowTile];
  double sum[kRowTile];
  for (int64_t j = 0; j < w; ++j) m[j] = -INFINITY, sum[j] = 0;
  // A NaN never wins the max but poisons its row's sum, so the whole row comes out NaN.
  int64_t k = 0;
  if (W == 1) {  // four chains: one would wait on maxss's latency
    float l[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    for (; k + 4 <= p.n; k += 4)
      for (int q = 0; q < 4; ++q) {
        float v = load(x + (k + q) * p.sxa);
        l[q] = v > l[q] ? v : l[q];
      }
    m[0] = std::max(std::max(l[0], l[1]), std::max(l[2], l[3]));
  }
  for (; k < p.n; ++k)
    for (int64_t j = 0; j < w; ++j) {
      float v = load(x + k * p.sxa + j * p.sxo);
      m[j] = v > m[j] ? v : m[j];
    }
  for (k = 0; k < p.n; ++k)
    for (int64_t j = 0; j < w; ++j) {
      float t = std::exp(load(x + k * p.sxa + j * p.sxo) - m[j]);
      if (!Log) e[k * w + j] = t;
      sum[j] += t;
    }
  float c[kRowTile];  // Log: log(sum); else 1 / sum
  for (int64_t j = 0; j < w; ++j) c[j] = Log ? (float)std::log(sum[j]) : (float)(1.0 / sum[j]);
  for (k = 0; k < p.n; ++k)
    for (int64_t j = 0; j < w; ++j)
      store(y + k * p.sya + j * p.syo, Log ? (load(x + k * p.sxa + j * p.sxo) - m[j]) - c[j] : e[k * w + j] * c[j]);
}

template <bool Log> void softmax_run(const KernelArgs& a) {
  const View &x = a.in[0], &y = a.out[0];
  SoftmaxPlan p = make_softmax_plan(x, y, (int)a.attrs.i64("axis"));
  if (p.nblocks == 0) return;
  int64_t grain = std::max<int64_t>(1, kElementwiseGrain / (p.n * p.tile));
  int nt = (int)std::min<int64_t>(num_threads(), (p.nblocks + grain - 1) / grain);
  std::vector<float> scratch(Log ? 0 : (size_t)nt * p.tile * p.n);  // allocated outside the parallel part
  dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    parallel_run(nt, [&](int t, int nts) {
      int64_t b = p.nblocks * t / nts, e = p.nblocks * (t + 1) / nts, tile = b % p.ntiles;
      float* s = Log ? nullptr : scratch.data() + t * p.tile * p.n;
      if (b < e)
        for_each_run<2>(p.blocks, b, e, [&](const int64_t* off, int64_t cnt, const int64_t* st) {
          for (int64_t i = 0; i < cnt; ++i, tile = tile + 1 == p.ntiles ? 0 : tile + 1) {
            const T* xb = x.data<T>() + off[0] + i * st[0];
            T* yb = y.data<T>() + off[1] + i * st[1];
            if (p.tile == 1) softmax_block<Log, 1>(p, xb, yb, 1, s);
            else softmax_block<Log, 0>(p, xb, yb, std::min(p.tile, p.no - tile * p.tile), s);
          }
        });
    });
  });
}

// Whether every row of X and Y is one unit-stride run, with Scale and Bias unit-stride (or absent):
// the vectorized path (vmath.h).
bool contiguous_rows(const RowPlan& p, const View* scale, const View* bias) {
  if (p.inner.shape.size() != 1) return false;
  const auto& st = p.inner.strides;
  return st[0][0] == 1 && st[1][0] == 1 && (!scale || st[2][0] == 1) && (!bias || st[3][0] == 1);
}

// The largest sum of squared deviations n * ms whose row the float path may normalize: every
// |x - mean| is at most sqrt(n * ms), so below FLT_MAX / 2, and x - mf (mf: mean rounded to float)
// stays finite.
constexpr double kFloatPathSS = 0.25 * (double)FLT_MAX * (double)FLT_MAX;

// RMS: y = x * rsqrt(mean(x^2) + eps) * scale. Layer: two-pass mean and variance, then
// y = (x - mean) * rsqrt(var + eps) * scale + bias.
template <bool RMS> void norm_run(const KernelArgs& a) {
  const View &x = a.in[0], &y = a.out[0];
  int axis = (int)a.attrs.i64("axis");
  bool has_scale = a.attrs.i64("has_scale", 0) != 0, has_bias = !RMS && a.attrs.i64("has_bias", 0) != 0;
  const View* scale = has_scale ? &a.in[1] : nullptr;
  const View* bias = has_bias ? &a.in[has_scale ? 2 : 1] : nullptr;
  double eps = a.attrs.num("epsilon", RMS ? 1e-6 : 1e-5);
  RowPlan p = make_row_plan(x, y, axis, x.rank(), scale, bias);
  dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    const T* sp = scale ? scale->data<T>() : nullptr;
    const T* bp = bias ? bias->data<T>() : nullptr;
    // a contiguous float32 row goes through vmath (same statistics, same rounding of y)
    const vm::VMath& vmath = vm::vmath();
    const bool fast = std::is_same<T, float>::value && vmath.normalize && contiguous_rows(p, scale, bias);
    const float* xf = reinterpret_cast<const float*>(xp);
    for_each_row(p, [&](int64_t xo, int64_t yo) {
      double n = (double)p.n, mean = 0;
      if (!RMS) mean = (fast ? vmath.sum(xf + xo, p.n) : row_sum(p, xp, xo, [](float v) { return (double)v; })) / n;
      const float mf = (float)mean;
      const auto sq_dev = [&](float v) { double d = v - mean; return d * d; };
      double ms = (fast ? vmath.sq_dev_sum(xf + xo, mf, p.n) : row_sum(p, xp, xo, sq_dev)) / n;
      const double rd = 1.0 / std::sqrt(ms + eps);
      const float r = (float)rd;
      if (!(std::isfinite(ms) && r >= FLT_MIN && ms * n <= kFloatPathSS)) {
        // |x - mean| past ~1e19: its square overflows float32 (vmath's sums) or 1/rms is below
        // float's normal range, or (statistics in double) x - mean may pass float's largest, which
        // the float path's x - mf would round to inf. Such rows go through double from end to end.
        if (!RMS) mean = row_sum(p, xp, xo, [](float v) { return (double)v; }) / n;
        const double msd = row_sum(p, xp, xo, sq_dev) / n, rr = 1.0 / std::sqrt(msd + eps);
        row_map(p, xp, y.data<T>(), sp, bp, xo, yo, [&](float v, float s, float b) { return (float)((v - mean) * rr * s + b); });
        return;
      }
      if (fast)
        vmath.normalize(xf + xo, reinterpret_cast<float*>(y.data<T>()) + yo, p.n, mf, r, reinterpret_cast<const float*>(sp),
                        reinterpret_cast<const float*>(bp));
      else
        row_map(p, xp, y.data<T>(), sp, bp, xo, yo, [&](float v, float s, float b) { return (v - mf) * r * s + b; });
    });
  });
}

// ---- checks ---------------------------------------------------------------------------------------

void expect_float_like(const std::string& op, const KernelArgs& a) {
  const View& x = a.in[0];
  if (!is_float(x.dtype)) unsupported(op, a);
  for (auto& v : a.in)
    if (v.dtype != x.dtype) unsupported(op, a);
  if (a.out[0].dtype != x.dtype) unsupported(op, a);
  if (a.out[0].shape != x.shape) fail("E_SHAPE", op + ": Y must have X's shape: " + describe(op, a));
}

int64_t checked_axis(const std::string& op, const KernelArgs& a) {
  if (!a.attrs.has("axis")) fail("E_ARGUMENT", op + ": missing attribute 'axis'");
  if (a.in[0].rank() > 16) unsupported(op, a);  // for_each_run walks at most 16 dims
  int64_t axis = a.attrs.i64("axis");
  if (axis < 0 || axis >= a.in[0].rank())
    fail("E_ARGUMENT", op + ": axis " + std::to_string(axis) + " is not a dim of X (normalized, in [0, rank)): " +
                           describe(op, a));
  return axis;
}

void softmax_check(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, 1, 1);
  checked_axis(op, a);
  expect_float_like(op, a);
}

template <bool RMS> void norm_check(const std::string& op, const KernelArgs& a) {
  size_t nin = 1 + (a.attrs.i64("has_scale", 0) != 0) + (!RMS && a.attrs.i64("has_bias", 0) != 0);
  expect_arity(op, a, nin, 1);
  int64_t axis = checked_axis(op, a);
  expect_float_like(op, a);
  Dims tail(a.in[0].shape.begin() + axis, a.in[0].shape.end());
  for (size_t i = 1; i < nin; ++i)
    if (a.in[i].shape != tail)
      fail("E_SHAPE", op + ": Scale and Bias must have the normalized shape X.shape[axis:]: " + describe(op, a));
  double eps = a.attrs.num("epsilon", 0);
  if (!(eps >= 0)) fail("E_ARGUMENT", op + ": epsilon must be >= 0, got " + std::to_string(eps));
}

KILN_CPU_KERNEL("Softmax", softmax_run<false>, softmax_check);
KILN_CPU_KERNEL("LogSoftmax", softmax_run<true>, softmax_check);
KILN_CPU_KERNEL("LayerNormalization", norm_run<false>, norm_check<false>);
KILN_CPU_KERNEL("RMSNormalization", norm_run<true>, norm_check<true>);

}  // namespace
}  // namespace kiln
