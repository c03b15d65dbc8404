#include "kernel.h"

#include <map>
#include <mutex>

namespace kiln {

static std::map<std::string, KernelEntry>& table() {
  static std::map<std::string, KernelEntry> t;
  return t;
}

void register_cpu_kernel(const char* op, KernelRun run, KernelCheck check) { table()[op] = KernelEntry{run, check}; }

const KernelEntry* find_cpu_kernel(const std::string& op) {
  auto it = table().find(op);
  return it == table().end() ? nullptr : &it->second;
}

std::vector<std::string> cpu_kernel_names() {
  std::vector<std::string> names;
  for (auto& kv : table()) names.push_back(kv.first);
  return names;
}

static std::string view_str(const View& v) {
  std::string s = dtype_name(v.dtype);
  s += "[";
  for (size_t i = 0; i < v.shape.size(); ++i) s += (i ? "," : "") + std::to_string(v.shape[i]);
  return s + "]";
}

std::string describe(const std::string& op, const KernelArgs& a) {
  std::string s = op + "(";
  for (size_t i = 0; i < a.in.size(); ++i) s += (i ? ", " : "") + view_str(a.in[i]);
  s += ") -> ";
  for (size_t i = 0; i < a.out.size(); ++i) s += (i ? ", " : "") + view_str(a.out[i]);
  return s;
}

void unsupported(const std::string& op, const KernelArgs& a) {
  fail("E_UNSUPPORTED", "the cpu backend has no kernel for " + describe(op, a));
}

}  // namespace kiln
