#include "cpu_info.h"

#include <cstdlib>
#include <fstream>

namespace kiln {

const CpuFeatures& cpu_features() {
  static CpuFeatures f = [] {
    CpuFeatures c;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    c.avx2 = __builtin_cpu_supports("avx2");
    c.fma = __builtin_cpu_supports("fma");
    c.avx512f = __builtin_cpu_supports("avx512f");
    c.avx512bw = __builtin_cpu_supports("avx512bw");
    c.avx512vl = __builtin_cpu_supports("avx512vl");
    c.avx512dq = __builtin_cpu_supports("avx512dq");
    unsigned a, b, cc, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(cc), "=d"(d) : "a"(1), "c"(0));
    c.f16c = (cc >> 29) & 1;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(cc), "=d"(d) : "a"(7), "c"(1));
    c.avx512bf16 = c.avx512f && ((a >> 5) & 1);
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(cc), "=d"(d) : "a"(7), "c"(0));
    c.avx512fp16 = c.avx512f && ((d >> 23) & 1);
#endif
    return c;
  }();
  return f;
}

Isa cpu_isa() {
  static const Isa isa = [] {
    const auto& f = cpu_features();
    const bool has2 = f.avx2 && f.fma && f.f16c;
    const bool has512 = has2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
    const char* e = std::getenv("KILN_CPU_ISA");
    const std::string want = e ? e : "";
    if (want == "portable") return Isa::Portable;
    if (has512 && want != "avx2") return Isa::Avx512;
    return has2 ? Isa::Avx2 : Isa::Portable;
  }();
  return isa;
}

const char* isa_name(Isa isa) {
  return isa == Isa::Avx512 ? "avx512" : isa == Isa::Avx2 ? "avx2" : "portable";
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  }
  return "unknown";
}

std::vector<std::string> cpu_feature_names() {
  const auto& f = cpu_features();
  std::vector<std::string> n;
  if (f.avx2) n.push_back("avx2");
  if (f.fma) n.push_back("fma");
  if (f.f16c) n.push_back("f16c");
  if (f.avx512f) n.push_back("avx512f");
  if (f.avx512bw) n.push_back("avx512bw");
  if (f.avx512vl) n.push_back("avx512vl");
  if (f.avx512dq) n.push_back("avx512dq");
  if (f.avx512bf16) n.push_back("avx512bf16");
  if (f.avx512fp16) n.push_back("avx512fp16");
  return n;
}

}  // namespace kiln
