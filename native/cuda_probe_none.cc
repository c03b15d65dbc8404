// The probe for builds made without nvcc.
#include "cuda_probe.h"

namespace kiln {

CudaProbe cuda_probe() {
  CudaProbe p;
  p.reason = "this build of the addon was compiled without CUDA (nvcc was not found at build time)";
  return p;
}

}  // namespace kiln
