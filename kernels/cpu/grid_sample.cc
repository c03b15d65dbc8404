// GridSample: X sampled at the positions a grid gives, interpolated (ONNX GridSample, PyTorch's
// F.grid_sample).
//   GridSample(X float*[N, C, s_1..s_r], Grid float32[N, p_1..p_q, r]; mode, padding, align_corners)
//     -> Y (X's dtype)[N, C, p_1..p_q], 1 <= r <= 3
//   Grid[n, p, :] holds the normalized coordinates of output position p, innermost dim first
//   (x, then y, then z), -1 and 1 being X's borders. mode 'linear' | 'nearest' | 'cubic',
//   padding 'zeros' | 'border' | 'reflection', align_corners 0 | 1: the tap math is
//   grid_sample_taps.h's (shared with CUDA). Y = sum over the K^r taps (K = 2, 1, 4 per dim) of
//   X[tap] * (w_1 * w_2 * w_3), in float32, the taps in row-major order of their per-dim steps
//   (the last dim's varying fastest), summed left to right, rounded once into X's dtype; nearest
//   copies X's element. A zeros-padded tap outside X reads 0 (so a NaN weight still gives NaN).
// Work, per chunk of a sample's output positions (a few thousand: its tap table stays in L2):
//   1. the taps, positions split between threads: each dim's from its grid values, in loops over
//      positions that vectorize (dims under 2^24 with zeros or border padding; others, and
//      reflection's int64 modulo, position by position), then their K^r combinations, stored
//      tap-major: per tap a row of offsets into a channel of X, of weights and (zeros padding) of
//      keep masks;
//   2. every channel through the table, channels (and, when they are few, runs of positions) split
//      between threads: per output a gather of K^r elements. The row loops are grid_sample_rows.h's:
//      AVX-512 or AVX2 gathers for float32 (the taps' order and roundings as the scalar loop's, so
//      every ISA set gives the same bits), scalar otherwise.
// Every view is read and written through its strides (int64 offsets where a channel of X spans
// 2^31 elements or more, and then the scalar loops).
// Bench: `npm run build:ts && node dist/bench/grid-sample.js` (beside onnxruntime's GridSample);
// alone, the kernel's time per call: KILN_TRACE=1 prints it for every CPU kernel.
#include <algorithm>
#include <vector>

#include "cpu_info.h"
#include "elementwise_common.h"
#include "grid_sample_rows.h"
#include "grid_sample_taps.h"
#include "vmath.h"

namespace kiln {
namespace {

constexpr int kMaxGridRank = 3;

struct Geometry {
  int r, mode, padding;
  bool align;
  int64_t N, C, P;
  int64_t size[kMaxGridRank], xs[kMaxGridRank];  // X's spatial sizes and strides
  int64_t xn, xc, yn, yc, gn, gk;                 // batch and channel strides of X and Y; Grid's batch and coordinate strides
  Coalesced pos;                                  // the output positions, with the strides of Y (0) and Grid (1)
};

int mode_of(const Attrs& attrs) {
  const std::string m = attrs.str("mode");
  if (m == "linear") return gs::kLinear;
  if (m == "nearest") return gs::kNearest;
  if (m == "cubic") return gs::kCubic;
  fail("E_ARGUMENT", "GridSample: mode '" + m + "' is not one of linear, nearest, cubic");
}

int padding_of(const Attrs& attrs) {
  const std::string p = attrs.str("padding");
  if (p == "zeros") return gs::kZeros;
  if (p == "border") return gs::kBorder;
  if (p == "reflection") return gs::kReflection;
  fail("E_ARGUMENT", "GridSample: padding '" + p + "' is not one of zeros, border, reflection");
}

Geometry geometry_of(const KernelArgs& a) {
  const View &x = a.in[0], &grid = a.in[1], &y = a.out[0];
  Geometry g;
  g.r = x.rank() - 2;
  g.mode = mode_of(a.attrs);
  g.padding = padding_of(a.attrs);
  g.align = a.attrs.i64("align_corners") != 0;
  g.N = x.shape[0], g.C = x.shape[1], g.P = 1;
  for (int d = 0; d < g.r; ++d) g.size[d] = x.shape[2 + d], g.xs[d] = x.strides[2 + d];
  g.xn = x.strides[0], g.xc = x.strides[1], g.yn = y.strides[0], g.yc = y.strides[1];
  g.gn = grid.strides[0], g.gk = grid.strides[grid.rank() - 1];
  Dims shape, ys, gs;
  for (int d = 1; d + 1 < grid.rank(); ++d) shape.push_back(grid.shape[d]), ys.push_back(y.strides[d + 1]), gs.push_back(grid.strides[d]), g.P *= grid.shape[d];
  g.pos = coalesce(shape, {&ys, &gs});
  return g;
}

// A chunk's taps, tap-major (tap k of position i at k * cap + i: one unit-stride row per tap, which
// the vector row loops gather from): offsets into a channel of X, weights (not for nearest), and with
// zeros padding keep masks (all ones, or 0 for a tap outside X: the value read is ANDed with it).
// The dim_* rows hold the same for each spatial dim's K taps (row d * K + j), which the K^r taps
// combine. I: int32 where every offset into a channel fits (the gathers' index width), else int64.
template <typename I> struct Table {
  int64_t cap = 0;
  std::vector<I> off, dim_off;
  std::vector<float> w, dim_w, coord;  // coord: each dim's grid values
  std::vector<uint32_t> keep, dim_keep;
  std::vector<int64_t> yoff;  // each position's offset in a channel of Y
  bool ycontiguous = false;   // the chunk's outputs are one unit-stride run of Y
};

template <int MODE, int R> constexpr int taps_of() {
  constexpr int K = gs::taps_per_dim(MODE);
  return K * (R > 1 ? K : 1) * (R > 2 ? K : 1);
}

// Row j of one dim's taps (dim_taps' results) for m positions whose grid values along that dim are
// gv[0, m), when the dim has fewer than 2^24 positions and zeros or border padding: a loop without
// branches that vectorizes, through grid_sample_taps.h's own functions.
template <int MODE, bool ZEROS, bool ALIGN, int J, typename I>
void small_dim_row(const float* __restrict gv, int64_t m, int64_t size, I xs, I* __restrict off, float* __restrict w, uint32_t* __restrict keep) {
  const float last = (float)(size - 1);
  for (int64_t i = 0; i < m; ++i) {
    const float x = gs::unnormalize(gv[i], size, ALIGN);
    const float base = gs::base_of<MODE>(x);
    const float t = gs::tap_of<MODE>(base, J);
    int32_t idx;
    if (ZEROS) {
      bool in;
      idx = gs::zeros_tap(t, last, in);
      keep[i] = in ? 0xFFFFFFFFu : 0u;
    } else {
      idx = gs::border_tap(t, last);
    }
    off[i] = (I)idx * xs;
    if (MODE != gs::kNearest) w[i] = gs::weight_of<MODE>(x, base, t, J);
  }
}

template <int MODE, bool ZEROS, typename I, int... J>
void small_dim_rows(std::integer_sequence<int, J...>, const float* gv, int64_t m, int64_t size, bool align, I xs, I* off, float* w, uint32_t* keep, int64_t ld) {
  if (align) (small_dim_row<MODE, ZEROS, true, J, I>(gv, m, size, xs, off + J * ld, w ? w + J * ld : nullptr, keep ? keep + J * ld : nullptr), ...);
  else (small_dim_row<MODE, ZEROS, false, J, I>(gv, m, size, xs, off + J * ld, w ? w + J * ld : nullptr, keep ? keep + J * ld : nullptr), ...);
}

// Rows [i0, i1) of the table for positions p0 + i0 .. p0 + i1 of sample n: the grid values gathered
// into a row per dim, each dim's taps (grid_sample_taps.h), then their K^r combinations, in loops
// over positions that vectorize.
template <int MODE, int R, typename I>
void fill_taps(const Geometry& g, const float* grid, int64_t n, int64_t p0, int64_t i0, int64_t i1, Table<I>& t) {
  constexpr int K = gs::taps_per_dim(MODE), KR = taps_of<MODE, R>();
  constexpr bool weighted = MODE != gs::kNearest;
  const bool zeros = g.padding == gs::kZeros;
  const int64_t ld = t.cap, m = i1 - i0;
  int64_t i = i0;
  for_each_run<2>(g.pos, p0 + i0, p0 + i1, [&](const int64_t* off, int64_t cnt, const int64_t* st) {
    for (int64_t s = 0; s < cnt; ++s, ++i) {
      t.yoff[i] = off[0] + s * st[0];
      const float* gp = grid + n * g.gn + off[1] + s * st[1];
      for (int d = 0; d < R; ++d) t.coord[d * ld + i] = gp[(R - 1 - d) * g.gk];
    }
  });
  for (int d = 0; d < R; ++d) {
    const float* gv = t.coord.data() + d * ld + i0;
    I* off = t.dim_off.data() + d * K * ld + i0;
    float* w = weighted ? t.dim_w.data() + d * K * ld + i0 : nullptr;
    uint32_t* keep = zeros ? t.dim_keep.data() + d * K * ld + i0 : nullptr;
    if (g.size[d] < gs::kSmallDim && g.padding != gs::kReflection) {
      if (zeros) small_dim_rows<MODE, true, I>(std::make_integer_sequence<int, K>{}, gv, m, g.size[d], g.align, (I)g.xs[d], off, w, keep, ld);
      else small_dim_rows<MODE, false, I>(std::make_integer_sequence<int, K>{}, gv, m, g.size[d], g.align, (I)g.xs[d], off, w, keep, ld);
      continue;
    }
    for (int64_t j = 0; j < m; ++j) {
      int64_t idx[4];
      float wk[4];
      bool in[4];
      gs::dim_taps<MODE>(gv[j], g.size[d], g.padding, g.align, idx, wk, in);
      for (int k = 0; k < K; ++k) {
        off[k * ld + j] = (I)(idx[k] * g.xs[d]);
        if (weighted) w[k * ld + j] = wk[k];
        if (zeros) keep[k * ld + j] = in[k] ? 0xFFFFFFFFu : 0u;
      }
    }
  }
  // the K^r combinations, the last dim's taps fastest; offsets summed, weights multiplied in dim order
  for (int k = 0; k < KR; ++k) {
    int rest = k, step[R];
    for (int d = R - 1; d >= 0; --d) step[d] = rest % K, rest /= K;
    const int64_t r0 = step[0] * ld, r1 = R > 1 ? (K + step[R > 1 ? 1 : 0]) * ld : r0, r2 = R > 2 ? (2 * K + step[R > 2 ? 2 : 0]) * ld : r0;
    I* __restrict o = t.off.data() + k * ld;
    const I *o0 = t.dim_off.data() + r0, *o1 = t.dim_off.data() + r1, *o2 = t.dim_off.data() + r2;
    for (int64_t j = i0; j < i1; ++j) o[j] = R == 1 ? o0[j] : R == 2 ? o0[j] + o1[j] : o0[j] + o1[j] + o2[j];
    if (weighted) {
      float* __restrict w = t.w.data() + k * ld;
      const float *w0 = t.dim_w.data() + r0, *w1 = t.dim_w.data() + r1, *w2 = t.dim_w.data() + r2;
      for (int64_t j = i0; j < i1; ++j) w[j] = R == 1 ? w0[j] : R == 2 ? w0[j] * w1[j] : w0[j] * w1[j] * w2[j];
    }
    if (zeros) {
      uint32_t* __restrict m = t.keep.data() + k * ld;
      const uint32_t *m0 = t.dim_keep.data() + r0, *m1 = t.dim_keep.data() + r1, *m2 = t.dim_keep.data() + r2;
      for (int64_t j = i0; j < i1; ++j) m[j] = R == 1 ? m0[j] : R == 2 ? m0[j] & m1[j] : m0[j] & m1[j] & m2[j];
    }
  }
}

inline float keep_bits(float v, uint32_t keep) { return f32_from_bits(bits_from_f32(v) & keep); }

// The portable row loop (grid_sample_rows.h's weighted_f32 for any X dtype and offset width).
// float16 goes a block of positions at a time: each tap's raw bits are picked, then converted as a
// run by vmath.h (F16C where the CPU has it; dtype.h's scalar conversion branches on every value).
template <typename T, typename I, int KR, bool ZEROS>
void weighted_rows(const T* x, const I* off, const float* w, const uint32_t* keep, int64_t ld, int64_t n, float* y) {
  const auto from_f16 = vm::vmath().from_f16;
  if constexpr (std::is_same<T, half>::value) {
    if (from_f16) {
      constexpr int64_t kBlock = 64;
      uint16_t bits[kBlock];
      float v[kBlock];
      for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
        const int64_t b = std::min(kBlock, n - i0);
        float* acc = y + i0;
        for (int k = 0; k < KR; ++k) {
          const I* o = off + k * ld + i0;
          for (int64_t i = 0; i < b; ++i) bits[i] = x[o[i]].bits;
          from_f16(bits, v, b);
          const float* wk = w + k * ld + i0;
          const uint32_t* mk = ZEROS ? keep + k * ld + i0 : nullptr;
          for (int64_t i = 0; i < b; ++i) {
            const float term = (ZEROS ? keep_bits(v[i], mk[i]) : v[i]) * wk[i];
            acc[i] = k == 0 ? term : acc[i] + term;
          }
        }
      }
      return;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    float acc = 0.0f;
    for (int k = 0; k < KR; ++k) {
      float v = load(x + off[k * ld + i]);
      if (ZEROS) v = keep_bits(v, keep[k * ld + i]);
      const float term = v * w[k * ld + i];
      acc = k == 0 ? term : acc + term;
    }
    y[i] = acc;
  }
}

// Y[n, c, p0 + i0 .. p0 + i1) from the chunk's taps. scratch: at least i1 - i0 floats.
template <typename T, int MODE, int R, typename I>
void apply_rows(const Geometry& g, const T* xp, T* yp, int64_t n, int64_t c, int64_t i0, int64_t i1, const Table<I>& t,
                const gs::RowKernels* rows, float* scratch) {
  constexpr int KR = taps_of<MODE, R>();
  const bool zeros = g.padding == gs::kZeros;
  const int64_t m = i1 - i0, ld = t.cap;
  const T* xc = xp + n * g.xn + c * g.xc;
  T* yc = yp + n * g.yn + c * g.yc;
  const I* off = t.off.data() + i0;
  const uint32_t* keep = zeros ? t.keep.data() + i0 : nullptr;
  const int64_t* yoff = t.yoff.data() + i0;
  constexpr bool vector = std::is_same<T, float>::value && std::is_same<I, int32_t>::value;
  if constexpr (MODE == gs::kNearest) {
    using U = std::conditional_t<sizeof(T) == 2, uint16_t, uint32_t>;  // raw bits: NaN payloads kept
    const U* xu = reinterpret_cast<const U*>(xc);
    U* yu = reinterpret_cast<U*>(yc);
    if constexpr (vector)
      if (rows && t.ycontiguous) return rows->copy_b32(xu, off, keep, m, yu + yoff[0]);
    for (int64_t i = 0; i < m; ++i) yu[yoff[i]] = (U)(zeros ? xu[off[i]] & keep[i] : xu[off[i]]);
  } else {
    const float* w = t.w.data() + i0;
    float* out = scratch;
    if constexpr (std::is_same<T, float>::value)
      if (t.ycontiguous) out = yc + yoff[0];
    bool done = false;
    if constexpr (vector)
      if (rows) rows->weighted_f32(xc, off, w, keep, ld, KR, m, out), done = true;
    if (!done) {
      if (zeros) weighted_rows<T, I, KR, true>(xc, off, w, keep, ld, m, out);
      else weighted_rows<T, I, KR, false>(xc, off, w, keep, ld, m, out);
    }
    if (out != scratch) return;
    // float16 and bfloat16 round in runs where Y is contiguous (vmath.h), one by one elsewhere
    if constexpr (!std::is_same<T, float>::value) {
      const vm::VMath& vmath = vm::vmath();
      auto to16 = std::is_same<T, half>::value ? vmath.to_f16 : vmath.to_bf16;
      if (to16 && t.ycontiguous) return to16(out, reinterpret_cast<uint16_t*>(yc + yoff[0]), m);
    }
    for (int64_t i = 0; i < m; ++i) store(yc + yoff[i], out[i]);
  }
}

template <typename T, int MODE, int R, typename I>
void grid_sample_typed(const Geometry& g, const View& x, const View& grid, const View& y) {
  constexpr int KR = taps_of<MODE, R>();
  const bool zeros = g.padding == gs::kZeros;
  // positions per chunk: its table (about KR * 12 bytes per position) stays in L2
  const int64_t per_position = KR * (int64_t)(sizeof(I) + (MODE == gs::kNearest ? 0 : 4) + (zeros ? 4 : 0)) + 8;
  const int64_t cap = std::min(g.P, std::max<int64_t>(256, std::min<int64_t>(16384, (int64_t(1) << 18) / per_position)));
  Table<I> t;
  t.cap = cap;
  constexpr int DK = gs::taps_per_dim(MODE) * R;
  t.off.resize(KR * cap), t.dim_off.resize(DK * cap), t.coord.resize(R * cap), t.yoff.resize(cap);
  if (MODE != gs::kNearest) t.w.resize(KR * cap), t.dim_w.resize(DK * cap);
  if (zeros) t.keep.resize(KR * cap), t.dim_keep.resize(DK * cap);
  const gs::RowKernels* rows = cpu_isa() == Isa::Avx512 ? gs::row_kernels_avx512() : cpu_isa() == Isa::Avx2 ? gs::row_kernels_avx2() : nullptr;
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  const float* gp = grid.data<float>();
  const int64_t threads = num_threads();
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t p0 = 0; p0 < g.P; p0 += cap) {
      const int64_t m = std::min(cap, g.P - p0);
      // 1. the chunk's taps, positions split between threads
      parallel_for(m, std::max<int64_t>(64, 4096 / KR), [&](int64_t b, int64_t e) { fill_taps<MODE, R, I>(g, gp, n, p0, b, e, t); });
      t.ycontiguous = true;
      for (int64_t i = 1; i < m && t.ycontiguous; ++i) t.ycontiguous = t.yoff[i] == t.yoff[0] + i;
      // 2. every channel through them; a few channels split their positions too
      const int64_t splits = std::max<int64_t>(1, std::min((4 * threads + g.C - 1) / g.C, (m + 255) / 256));
      const int64_t len = (m + splits - 1) / splits;
      parallel_for(g.C * splits, std::max<int64_t>(1, 16384 / (len * KR)), [&](int64_t b, int64_t e) {
        std::vector<float> scratch(std::is_same<T, float>::value && t.ycontiguous ? 0 : len);
        for (int64_t task = b; task < e; ++task) {
          const int64_t c = task / splits, i0 = task % splits * len, i1 = std::min(m, i0 + len);
          if (i0 < i1) apply_rows<T, MODE, R, I>(g, xp, yp, n, c, i0, i1, t, rows, scratch.data());
        }
      });
    }
}

template <typename T, int MODE, int R> void with_index(const Geometry& g, const View& x, const View& grid, const View& y) {
  // the farthest offset into a channel of X: every dim at its last index (strides may be negative)
  int64_t span = 0;
  for (int d = 0; d < g.r; ++d) span += (g.size[d] - 1) * (g.xs[d] < 0 ? -g.xs[d] : g.xs[d]);
  if (span < (int64_t(1) << 31)) grid_sample_typed<T, MODE, R, int32_t>(g, x, grid, y);
  else grid_sample_typed<T, MODE, R, int64_t>(g, x, grid, y);
}

template <typename T, int MODE> void with_rank(const Geometry& g, const View& x, const View& grid, const View& y) {
  if (g.r == 1) with_index<T, MODE, 1>(g, x, grid, y);
  else if (g.r == 2) with_index<T, MODE, 2>(g, x, grid, y);
  else with_index<T, MODE, 3>(g, x, grid, y);
}

void grid_sample_run(const KernelArgs& a) {
  const View &x = a.in[0], &grid = a.in[1], &y = a.out[0];
  if (y.numel() == 0) return;
  const Geometry g = geometry_of(a);
  dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (g.mode == gs::kLinear) with_rank<T, gs::kLinear>(g, x, grid, y);
    else if (g.mode == gs::kNearest) with_rank<T, gs::kNearest>(g, x, grid, y);
    else with_rank<T, gs::kCubic>(g, x, grid, y);
  });
}

void grid_sample_check(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, 2, 1);
  const View &x = a.in[0], &grid = a.in[1], &y = a.out[0];
  if (!is_float(x.dtype) || y.dtype != x.dtype || grid.dtype != DType::F32)
    fail("E_DTYPE", op + ": X and Y must share a float dtype and Grid must be float32: " + describe(op, a));
  const int r = x.rank() - 2;
  if (r < 1 || r > kMaxGridRank) fail("E_SHAPE", op + ": X must be [N, C, 1 to 3 spatial dims]: " + describe(op, a));
  if (grid.rank() < 2 || grid.shape[0] != x.shape[0] || grid.shape.back() != r)
    fail("E_SHAPE", op + ": Grid must be [N, positions..., " + std::to_string(r) + "] for X's N and spatial rank: " + describe(op, a));
  Dims want = {x.shape[0], x.shape[1]};
  want.insert(want.end(), grid.shape.begin() + 1, grid.shape.end() - 1);
  if (y.shape != want) fail("E_SHAPE", op + ": Y must be [N, C, positions...] of X and Grid: " + describe(op, a));
  if (y.rank() > 16) unsupported(op, a);  // for_each_run walks at most 16 dims
  for (const char* attr : {"mode", "padding", "align_corners"})
    if (!a.attrs.has(attr)) fail("E_ARGUMENT", op + ": missing attribute '" + attr + "'");
  mode_of(a.attrs), padding_of(a.attrs);
  int64_t S = 1;
  for (int d = 2; d < x.rank(); ++d) S *= x.shape[d];
  if (S == 0 && y.numel() > 0) fail("E_SHAPE", op + ": X has an empty spatial dim, so there is nothing to sample: " + describe(op, a));
}

// The work is the taps, not X's size: a gather per tap of every output, and each position's taps
// computed once (a few times an output's cost per tap).
double grid_sample_cost(const KernelArgs& a) {
  const View &grid = a.in[1], &y = a.out[0];
  const std::string m = a.attrs.str("mode", "linear");
  const double taps = std::pow(m == "nearest" ? 1.0 : m == "cubic" ? 4.0 : 2.0, (double)(a.in[0].rank() - 2));
  return kCallCost + ((double)y.numel() + 4.0 * (double)grid.numel()) * taps * kCostPerElement;
}

KILN_CPU_KERNEL("GridSample", grid_sample_run, grid_sample_check, grid_sample_cost);

}  // namespace
}  // namespace kiln
