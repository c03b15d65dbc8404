// What the host CPU can run, detected once at load. Matmul picks its micro-kernel from this.
#pragma once
#include <string>
#include <vector>

namespace kiln {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512bf16 = false, avx512fp16 = false;
};

const CpuFeatures& cpu_features();
std::string cpu_model();
std::vector<std::string> cpu_feature_names();

}  // namespace kiln
