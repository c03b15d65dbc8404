// What the CUDA runtime reports on this host, asked without ever aborting: compiled in or not, the
// runtime and driver versions, the device count, and when there is no device, why.
#pragma once
#include <string>

namespace kiln {

struct CudaProbe {
  bool compiled = false;     // built with nvcc
  int runtime_version = 0;   // e.g. 13000
  int driver_version = 0;    // 0 when no driver is installed
  int device_count = 0;
  std::string reason;        // why device_count is 0
};

CudaProbe cuda_probe();

}  // namespace kiln
