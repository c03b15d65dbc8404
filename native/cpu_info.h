// What the host CPU can run, detected once at load, and the vector ISA the CPU kernels use.
#pragma once
#include <string>
#include <vector>

namespace kiln {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512bf16 = false, avx512fp16 = false;
};

const CpuFeatures& cpu_features();

// The kernel sets the vectorized CPU kernels (matmul, conv) are compiled in: each kernel file
// picks its set from cpu_isa() once.
enum class Isa { Portable, Avx2, Avx512 };
// The best set this CPU runs (AVX-512 needs F/BW/VL/DQ + FMA + F16C; AVX2 needs FMA + F16C),
// lowered by KILN_CPU_ISA=avx512|avx2|portable (a set the CPU lacks is never picked), so tests and
// benchmarks can run the AVX2 and portable kernels on an AVX-512 host.
Isa cpu_isa();
const char* isa_name(Isa isa);
std::string cpu_model();
std::vector<std::string> cpu_feature_names();

}  // namespace kiln
