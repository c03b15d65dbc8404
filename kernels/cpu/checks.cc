// Argument checks shared by the CPU kernels (run on the JS thread at enqueue).
#include "elementwise_common.h"

namespace kiln {

void expect_arity(const std::string& op, const KernelArgs& a, size_t nin, size_t nout) {
  if (a.in.size() != nin || a.out.size() != nout)
    fail("E_ARGUMENT", op + " takes " + std::to_string(nin) + " inputs and " + std::to_string(nout) + " outputs, got " +
                           describe(op, a));
}

void expect_same_shape(const std::string& op, const KernelArgs& a) {
  const Dims& s = a.out[0].shape;
  for (auto& v : a.in)
    if (v.shape != s) fail("E_SHAPE", op + ": inputs must be broadcast to the output shape: " + describe(op, a));
  for (auto& v : a.out)
    if (v.shape != s) fail("E_SHAPE", op + ": outputs must share one shape: " + describe(op, a));
}

}  // namespace kiln
