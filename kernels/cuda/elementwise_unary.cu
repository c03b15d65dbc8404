// The one-input ops of KILN_ELEMENTWISE_OPS on CUDA (see elementwise.cuh).
#define KILN_ELEMENTWISE_ARITY 1
#include "elementwise.cuh"

namespace kiln {
namespace cuda {
namespace {
KILN_ELEMENTWISE_OPS(KILN_CUDA_ELEMENTWISE)
}  // namespace
}  // namespace cuda
}  // namespace kiln
