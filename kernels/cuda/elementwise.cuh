// The elementwise ops on CUDA: every op of KILN_ELEMENTWISE_OPS (kernels/cpu/elementwise_ops.h, the
// functors the CPU runs too) through map_views (common.cuh): one grid-stride kernel per (op, dtype)
// over a coalesced strided iteration space, so broadcast (stride 0) and non-contiguous views need
// no copy. Floats compute in float32 (the inverse trigonometric and hyperbolic functions and Tan in
// float64, as on the CPU) and float16/bfloat16 round once on store (__float2half_rn,
// __float2bfloat16_rn: nearest even, as on the CPU). The list is split by arity across
// elementwise_unary.cu and elementwise_binary.cu (KILN_ELEMENTWISE_ARITY) so the two compile in
// parallel. Bench alone: like the CPU's elementwise.cc, with `a.cuda.launch(0, 'Exp', ...)` on
// buffers from `a.cuda.alloc(0, n)`.
#pragma once
#include "common.cuh"

namespace kiln {
namespace cuda {

template <typename T, size_t> using same_t = T;

template <template <typename> class Op, unsigned Mask, bool BoolOut, size_t... I>
void elementwise_run_(const KernelArgs& a, const Stream& s, std::index_sequence<I...>) {
  dispatch(a.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    using TOut = std::conditional_t<BoolOut, dbool, T>;
    if constexpr ((dclass<T>() & Mask) != 0)
      map_views<TOut, same_t<T, I>...>(s, a.out[0], {&a.in[I]...}, make_op<Op<dacc_t<T>>>(a.attrs));
    else
      fail("E_UNSUPPORTED", std::string("no elementwise kernel for ") + dtype_name(a.in[0].dtype));
  });
}

template <template <typename> class Op, unsigned Mask, size_t Arity, bool BoolOut>
void elementwise_run(const KernelArgs& a, const Stream& s) {
  elementwise_run_<Op, Mask, BoolOut>(a, s, std::make_index_sequence<Arity>{});
}

// Registers `name` when its arity is this file's, without instantiating the others' kernels.
template <bool Here, template <typename> class Op, unsigned Mask, size_t Arity, bool BoolOut>
bool register_elementwise(const char* name) {
  if constexpr (Here) register_kernel(name, elementwise_run<Op, Mask, Arity, BoolOut>);
  return Here;
}

#define KILN_CUDA_ELEMENTWISE(Name, Op, mask, arity, bool_out)                                              \
  static const bool KILN_CONCAT(kiln_cuda_ew_, Name) =                                                       \
      register_elementwise<(arity == KILN_ELEMENTWISE_ARITY), Op, mask, arity, bool_out>(#Name);

}  // namespace cuda
}  // namespace kiln
