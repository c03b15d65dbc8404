// Compiled by nvcc when the build finds it; cudart is linked statically, so a host without the
// driver still loads the addon and learns why there is no device.
#include <cuda_runtime.h>

#include "cuda_probe.h"

namespace kiln {

CudaProbe cuda_probe() {
  CudaProbe p;
  p.compiled = true;
  cudaRuntimeGetVersion(&p.runtime_version);
  if (cudaDriverGetVersion(&p.driver_version) != cudaSuccess) p.driver_version = 0;
  cudaError_t err = cudaGetDeviceCount(&p.device_count);
  if (err != cudaSuccess) {
    p.device_count = 0;
    p.reason = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    // With no driver at all the runtime still says "insufficient driver"; say what is missing.
    if (err == cudaErrorInsufficientDriver && p.driver_version == 0) p.reason += " (no NVIDIA driver is installed)";
    cudaGetLastError();  // clear, so later calls are not poisoned
  } else if (p.device_count == 0) {
    p.reason = "the CUDA driver reports no devices";
  }
  return p;
}

}  // namespace kiln
