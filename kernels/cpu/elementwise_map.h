// map_views: the one loop behind the elementwise kernels (elementwise.cc, cast.cc).
//   out[i] = f(load(in_0[i]), ..., load(in_k[i])), stored in out's dtype, for every index of out.
// Inputs arrive broadcast to out's shape (stride 0 where broadcast). Each innermost run picks a loop
// specialized at compile time: out contiguous and every input either contiguous or one broadcast
// value (2^k plain loops over T* that -O3 vectorizes, the broadcast value hoisted out of the loop),
// or else the general strided loop. The op is a functor template, so it inlines into each loop.
// The fast loops take __restrict pointers: an output may be an input exactly (in place), but must
// not partly overlap one. A unit-stride float32 run of a transcendental op (Exp, Log, Tanh, Erf,
// Sigmoid, Silu, Gelu) goes to the vectorized set of vmath.h instead (vector_fn below), when the
// process's set has one (not the portable set, KILN_CPU_ISA=portable). Fast runs that read or write
// float16 go through float32 staging blocks converted by vmath.h's vector conversions (run_staged),
// where transcendental ops take vmath.h's functions too: dtype.h's scalar float16 rounding alone
// cost ~4.5 ns per element. bfloat16 runs are staged only for those transcendental ops (its scalar
// conversions vectorize as they are; its std::exp and friends do not).
#pragma once
#include <array>
#include <tuple>
#include <utility>

#include "elementwise_common.h"
#include "elementwise_ops.h"
#include "vmath.h"

namespace kiln {

template <typename T> constexpr unsigned dtype_class() {
  if constexpr (is_float_type<T>()) return kFloat;
  else if constexpr (std::is_same<T, kbool>::value) return kBool;
  else if constexpr (std::is_same<T, uint8_t>::value) return kU8;
  else return kSigned;
}

inline unsigned dtype_class(DType t) {
  unsigned c = 0;
  dispatch_all(t, [&](auto tag) { c = dtype_class<decltype(tag)>(); });
  return c;
}

// Ops whose functor reads attributes take them in a constructor; the check path builds one too, so
// a bad attribute throws at enqueue rather than on the worker thread.
template <typename Op> Op make_op(const Attrs& attrs) {
  if constexpr (std::is_constructible<Op, const Attrs&>::value) return Op(attrs);
  else return Op{};
}

// The vmath.h function computing op f on float32, or null (then the scalar loop runs).
template <typename F> vm::UnaryFn vector_fn(const F&) { return nullptr; }
inline vm::UnaryFn vector_fn(const ops::Exp<float>&) { return vm::vmath().exp; }
inline vm::UnaryFn vector_fn(const ops::Log<float>&) { return vm::vmath().log; }
inline vm::UnaryFn vector_fn(const ops::Tanh<float>&) { return vm::vmath().tanh; }
inline vm::UnaryFn vector_fn(const ops::Erf<float>&) { return vm::vmath().erf; }
inline vm::UnaryFn vector_fn(const ops::Sigmoid<float>&) { return vm::vmath().sigmoid; }
inline vm::UnaryFn vector_fn(const ops::Silu<float>&) { return vm::vmath().silu; }
inline vm::UnaryFn vector_fn(const ops::Gelu<float>& g) { return g.tanh_approx ? vm::vmath().gelu_tanh : vm::vmath().gelu; }

namespace detail {

// An op with a vectorizable fast() exact where fast_ok(), and a general operator() (ops::Mod).
template <typename F, typename = void> struct two_pass : std::false_type {};
template <typename F> struct two_pass<F, std::enable_if_t<F::kTwoPass>> : std::true_type {};

// Bit k of Mask set: input k is one value broadcast along this run; clear: contiguous.
template <unsigned Mask, typename TOut, typename F, typename... TIn, size_t... K>
void run_contiguous(TOut* __restrict y, int64_t n, const F f, std::index_sequence<K...>, const TIn* __restrict... x) {
  const std::tuple<acc_t<TIn>...> scalar(load(x)...);
  if constexpr (two_pass<F>::value) {
    for (int64_t i = 0; i < n; ++i) store(y + i, f.fast(((Mask >> K) & 1u) ? std::get<K>(scalar) : load(x + i)...));
    for (int64_t i = 0; i < n; ++i)
      if (!f.fast_ok(((Mask >> K) & 1u) ? std::get<K>(scalar) : load(x + i)...))
        store(y + i, f(((Mask >> K) & 1u) ? std::get<K>(scalar) : load(x + i)...));
  } else {
    for (int64_t i = 0; i < n; ++i) store(y + i, f(((Mask >> K) & 1u) ? std::get<K>(scalar) : load(x + i)...));
  }
}

// Float16 computes as float32 in staging blocks.
template <typename T> constexpr bool staged() { return std::is_same<T, half>::value || std::is_same<T, bfloat16>::value; }
template <typename T> using staged_t = std::conditional_t<staged<T>(), float, T>;

constexpr int64_t kStage = 256;

// run_contiguous over blocks of kStage elements, with float16 inputs converted to float32 first and a
// float16 output converted from float32 after: the same values (each result rounded once, on store),
// at vector speed. A broadcast input (Mask bit set) is converted once.
template <unsigned Mask, typename TOut, typename F, typename... TIn, size_t... K>
void run_staged(TOut* y, int64_t n, const F f, std::index_sequence<K...> seq, const TIn*... x) {
  const vm::VMath& m = vm::vmath();
  alignas(64) float in[sizeof...(TIn) ? sizeof...(TIn) : 1][kStage];
  alignas(64) float out[kStage];
  const auto src = [&](auto k, const auto* p, int64_t i0, int64_t b) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(p)>>;
    constexpr size_t kk = decltype(k)::value;
    if constexpr (staged<T>()) {
      if ((Mask >> kk) & 1u) in[kk][0] = load(p);
      else if constexpr (std::is_same<T, half>::value) m.from_f16(reinterpret_cast<const uint16_t*>(p + i0), in[kk], b);
      else
        for (int64_t j = 0; j < b; ++j) in[kk][j] = load(p + i0 + j);
      return static_cast<const float*>(in[kk]);
    } else {
      return ((Mask >> kk) & 1u) ? p : p + i0;
    }
  };
  for (int64_t i0 = 0; i0 < n; i0 += kStage) {
    const int64_t b = std::min(kStage, n - i0);
    staged_t<TOut>* yb;
    if constexpr (staged<TOut>()) yb = out;
    else yb = y + i0;
    bool done = false;
    if constexpr (sizeof...(TIn) == 1 && std::is_same<staged_t<TOut>, float>::value && (std::is_same<staged_t<TIn>, float>::value && ...))
      if (Mask == 0)
        if (vm::UnaryFn vf = vector_fn(f)) vf(src(std::integral_constant<size_t, 0>{}, x, i0, b)..., yb, b), done = true;
    if (!done) run_contiguous<Mask>(yb, b, f, seq, src(std::integral_constant<size_t, K>{}, x, i0, b)...);
    if constexpr (std::is_same<TOut, half>::value) m.to_f16(out, reinterpret_cast<uint16_t*>(y + i0), b);
    else if constexpr (std::is_same<TOut, bfloat16>::value) m.to_bf16(out, reinterpret_cast<uint16_t*>(y + i0), b);
  }
}

template <typename TOut, typename F, typename... TIn, size_t... K>
void run_strided(TOut* y, int64_t ys, int64_t n, const F f, const int64_t* st, std::index_sequence<K...>,
                 const TIn*... x) {
  // Strides in locals: through a pointer the compiler would reload them after every store.
  const int64_t xs[] = {st[K]...};
  for (int64_t i = 0; i < n; ++i) store(y + i * ys, f(load(x + i * xs[K])...));
}

template <unsigned M, unsigned End, typename Fn> void with_mask(unsigned mask, Fn&& fn) {
  if constexpr (M < End) {
    if (mask == M) fn(std::integral_constant<unsigned, M>{});
    else with_mask<M + 1, End>(mask, fn);
  }
}

template <typename TOut, typename... TIn, typename F, size_t... K>
void map_views(const View& out, const std::array<const View*, sizeof...(TIn)>& in, const F& f,
               std::index_sequence<K...> seq) {
  constexpr size_t N = sizeof...(TIn);
  std::array<const Dims*, N + 1> strides{&out.strides, &in[K]->strides...};
  for_each_run_parallel<N + 1>(out.shape, strides, [&](const int64_t* off, int64_t n, const int64_t* st) {
    TOut* y = out.data<TOut>() + off[0];
    unsigned mask = 0;
    bool fast = st[0] == 1;
    for (size_t k = 0; k < N; ++k) {
      if (st[k + 1] == 0) mask |= 1u << k;
      else if (st[k + 1] != 1) fast = false;
    }
    if constexpr (N == 1 && std::is_same<TOut, float>::value && (std::is_same<TIn, float>::value && ...)) {
      if (fast && mask == 0)
        if (vm::UnaryFn vf = vector_fn(f)) return vf(in[0]->template data<float>() + off[1], y, n);
    }
    constexpr bool f16 = std::is_same<TOut, half>::value || (std::is_same<TIn, half>::value || ...);
    constexpr bool bf16_unary = N == 1 && std::is_same<TOut, bfloat16>::value && (std::is_same<TIn, bfloat16>::value && ...);
    if constexpr (f16 || bf16_unary) {
      if (fast && vm::vmath().to_f16 && (f16 || vector_fn(f))) {  // a set with conversions (not the portable one)
        with_mask<0, (1u << N)>(mask, [&](auto m) {
          run_staged<decltype(m)::value>(y, n, f, seq, (in[K]->template data<TIn>() + off[K + 1])...);
        });
        return;
      }
    }
    if (fast) {
      with_mask<0, (1u << N)>(mask, [&](auto m) {
        run_contiguous<decltype(m)::value>(y, n, f, seq, (in[K]->template data<TIn>() + off[K + 1])...);
      });
    } else {
      run_strided(y, st[0], n, f, st + 1, seq, (in[K]->template data<TIn>() + off[K + 1])...);
    }
  });
}

template <typename T, size_t> using same_t = T;

}  // namespace detail

template <typename TOut, typename... TIn, typename F>
void map_views(const View& out, const std::array<const View*, sizeof...(TIn)>& in, const F& f) {
  detail::map_views<TOut, TIn...>(out, in, f, std::index_sequence_for<TIn...>{});
}

// The generic elementwise kernel: Arity inputs of one dtype T, the output in T (or bool for
// comparisons), Op<acc_t<T>> applied per element for every T whose class is in Mask.
template <template <typename> class Op, unsigned Mask, size_t Arity, bool BoolOut, size_t... I>
void elementwise_run_(const KernelArgs& a, std::index_sequence<I...>) {
  dispatch_all(a.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    using TOut = std::conditional_t<BoolOut, kbool, T>;
    if constexpr ((dtype_class<T>() & Mask) != 0)
      map_views<TOut, detail::same_t<T, I>...>(a.out[0], {&a.in[I]...}, make_op<Op<acc_t<T>>>(a.attrs));
    else
      fail("E_UNSUPPORTED", std::string("no elementwise kernel for ") + dtype_name(a.in[0].dtype));
  });
}

template <template <typename> class Op, unsigned Mask, size_t Arity, bool BoolOut>
void elementwise_run(const KernelArgs& a) {
  elementwise_run_<Op, Mask, Arity, BoolOut>(a, std::make_index_sequence<Arity>{});
}

template <template <typename> class Op, unsigned Mask, size_t Arity, bool BoolOut>
void elementwise_check(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, Arity, 1);
  expect_same_shape(op, a);
  DType t = a.in[0].dtype;
  bool ok = (dtype_class(t) & Mask) != 0 && a.out[0].dtype == (BoolOut ? DType::Bool : t);
  for (auto& v : a.in) ok = ok && v.dtype == t;
  if (!ok) unsupported(op, a);
  dispatch_all(t, [&](auto tag) {
    using T = decltype(tag);
    if constexpr ((dtype_class<T>() & Mask) != 0) (void)make_op<Op<acc_t<T>>>(a.attrs);
  });
}

#define KILN_ELEMENTWISE(name, Op, mask, arity, bool_out)                   \
  KILN_CPU_KERNEL(name, (::kiln::elementwise_run<Op, mask, arity, bool_out>), \
                  (::kiln::elementwise_check<Op, mask, arity, bool_out>))

}  // namespace kiln
