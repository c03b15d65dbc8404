// Cast: Y[...] = convert(X[...]), X and Y of one shape, any dtype to any dtype, any strides.
// It is also the strided copy behind contiguous(), concat, stack and tile, so it has these paths:
//   copy_contiguous  same dtype, both views dense: memcpy in parallel chunks
//   convert_runs     float32 <-> float16, float32 -> bfloat16, both views dense: vmath.h's vector
//                    conversions in parallel chunks (F16C / AVX-512; the scalar rounding in dtype.h
//                    took ~4.5 ns per float16 element)
//   Identity         same dtype, strided: elements moved as raw bits (no float round trip, so NaN
//                    payloads and non-canonical bool bytes are copied as they are)
//   Convert          dtypes differ: Cast's rules from elementwise_common.h (float -> int truncates
//                    and saturates, NaN -> 0; int64 -> int32 wraps; anything -> bool is != 0)
// Identity and Convert run through copy_tiled when the copy transposes the last two dims (the
// contiguous() of a transpose), else through elementwise_map.h's loops, where contiguous and
// broadcast runs (tile, expand) vectorize.
// Bench alone: as in elementwise.cc with `a.launch('Cast',[v],[o],{})`; give `o` strides [1] and `v` a
// transposed 2-D view to time the strided copy, or dtype 1 on `o` for float32 -> float16.
#include <cstring>

#include "elementwise_map.h"
#include "vmath.h"

namespace kiln {
namespace {

// The conversion on compute types (acc_t) rather than storage types: half -> float is exact and a
// bool loads as 0 or 1, so this equals convert<To, From> on the stored values with one rounding on
// store, and it reuses map_views' load/store.
// Integer -> float16/bfloat16 would round twice through float (int32 16842753 -> bfloat16 gave
// 2^24, not 2^24 + 2^17); rounding the float to odd makes store's rounding the only one. An int64
// goes straight to that float, since (double)v itself rounds past 2^53.
template <typename To, typename From> struct Convert {
  acc_t<To> operator()(acc_t<From> v) const {
    if constexpr (std::is_same<To, kbool>::value) return v != 0;
    else if constexpr (is_float_type<To>() && sizeof(To) == 2 && std::is_same<acc_t<From>, int64_t>::value)
      return int64_to_float_odd(v);
    else if constexpr (is_float_type<To>() && sizeof(To) == 2 && std::is_integral<acc_t<From>>::value)
      return double_to_float_odd((double)v);
    else return convert<acc_t<To>, acc_t<From>>(v);
  }
};

template <typename U> struct Identity {
  U operator()(U v) const { return v; }
};

// A transposing copy (the input's stride-1 dim is the output's second-to-last) touches a new cache
// line, often a new page, for every element in the plain loop: ~20x slower than memcpy at 4096^2.
// Copying tile by tile keeps the tile's input lines in L1 until every element in them is used.
constexpr int64_t kTile = 64;

template <typename TOut, typename TIn, typename F>
bool copy_tiled(const View& y, const View& x, const F& f) {
  Coalesced c = coalesce(y.shape, {&y.strides, &x.strides});
  const int r = (int)c.shape.size();
  if (r < 2) return false;
  const Dims &ys = c.strides[0], &xs = c.strides[1];
  const int64_t rows = c.shape[r - 2], cols = c.shape[r - 1], yrow = ys[r - 2], xcol = xs[r - 1];
  if (ys[r - 1] != 1 || xs[r - 2] != 1 || xcol == 0 || rows < kTile || cols < kTile) return false;
  const int64_t rt = (rows + kTile - 1) / kTile, ct = (cols + kTile - 1) / kTile;
  const int64_t outer = y.numel() / (rows * cols);
  parallel_for(outer * rt * ct, 8, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      int64_t q = t / (rt * ct), i0 = (t / ct % rt) * kTile, j0 = t % ct * kTile;
      int64_t yo = 0, xo = 0;
      for (int d = r - 3; d >= 0; --d) {
        int64_t id = q % c.shape[d];
        q /= c.shape[d];
        yo += id * ys[d];
        xo += id * xs[d];
      }
      TOut* yp = y.data<TOut>() + yo;
      const TIn* xp = x.data<TIn>() + xo;
      const int64_t i1 = std::min(i0 + kTile, rows), j1 = std::min(j0 + kTile, cols);
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j) store(yp + i * yrow + j, f(load(xp + i + j * xcol)));
    }
  });
  return true;
}

template <typename TOut, typename TIn, typename F> void copy_views(const View& y, const View& x, const F& f) {
  if (!copy_tiled<TOut, TIn>(y, x, f)) map_views<TOut, TIn>(y, {&x}, f);
}

constexpr int64_t kCopyGrain = 1 << 18;  // bytes per thread at least: memcpy saturates bandwidth early

void copy_contiguous(const View& y, const View& x) {
  int64_t nbytes = y.numel() * (int64_t)itemsize(y.dtype);
  parallel_for(nbytes, kCopyGrain, [&](int64_t b, int64_t e) { std::memcpy(y.ptr + b, x.ptr + b, (size_t)(e - b)); });
}

constexpr int64_t kConvertGrain = 1 << 16;  // elements per thread at least

// The vector conversion for this pair of dense views, if the ISA's set has one; runs it.
bool convert_runs(const View& y, const View& x) {
  if (!x.contiguous() || !y.contiguous()) return false;
  const vm::VMath& m = vm::vmath();
  const auto chunks = [&](auto&& f) { parallel_for(y.numel(), kConvertGrain, f); };
  if (x.dtype == DType::F32 && (y.dtype == DType::F16 || y.dtype == DType::BF16)) {
    const auto to = y.dtype == DType::F16 ? m.to_f16 : m.to_bf16;
    if (!to) return false;
    chunks([&](int64_t b, int64_t e) { to(x.data<float>() + b, y.data<uint16_t>() + b, e - b); });
    return true;
  }
  if (x.dtype == DType::F16 && y.dtype == DType::F32 && m.from_f16) {
    chunks([&](int64_t b, int64_t e) { m.from_f16(x.data<uint16_t>() + b, y.data<float>() + b, e - b); });
    return true;
  }
  return false;
}

void cast_run(const KernelArgs& a) {
  const View &x = a.in[0], &y = a.out[0];
  if (convert_runs(y, x)) return;
  if (x.dtype == y.dtype) {
    if (x.contiguous() && y.contiguous()) return copy_contiguous(y, x);
    return dispatch_bits(y.dtype, [&](auto tag) {
      using U = decltype(tag);
      copy_views<U, U>(y, x, Identity<U>{});
    });
  }
  dispatch_all(y.dtype, [&](auto to) {
    dispatch_all(x.dtype, [&](auto from) {
      using To = decltype(to);
      using From = decltype(from);
      if constexpr (!std::is_same<To, From>::value) copy_views<To, From>(y, x, Convert<To, From>{});
    });
  });
}

void cast_check(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, 1, 1);
  expect_same_shape(op, a);
}

KILN_CPU_KERNEL("Cast", cast_run, cast_check);

}  // namespace
}  // namespace kiln
