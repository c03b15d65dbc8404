// The two-input ops of KILN_ELEMENTWISE_OPS on CUDA (see elementwise.cuh), and Where.
//   Where(C bool, X, Y) -> Z: any dtype, moved as raw bits (float16 NaN payloads survive)
#define KILN_ELEMENTWISE_ARITY 2
#include "elementwise.cuh"

namespace kiln {
namespace cuda {
namespace {
KILN_ELEMENTWISE_OPS(KILN_CUDA_ELEMENTWISE)

void where_run(const KernelArgs& a, const Stream& s) {
  dispatch_bits(a.out[0].dtype, [&](auto tag) {
    using U = decltype(tag);
    map_views<U, dbool, U, U>(s, a.out[0], {&a.in[0], &a.in[1], &a.in[2]}, ops::Select<U>{});
  });
}

KILN_CUDA_KERNEL("Where", where_run);
}  // namespace
}  // namespace cuda
}  // namespace kiln
