#include "kernel.h"

#include <cmath>
#include <limits>
#include <map>
#include <mutex>

namespace kiln {

static std::map<std::string, KernelEntry>& table() {
  static std::map<std::string, KernelEntry> t;
  return t;
}

void register_cpu_kernel(const char* op, KernelRun run, KernelCheck check, KernelCost cost) {
  table()[op] = KernelEntry{run, check, cost ? cost : default_cost, new std::atomic<float>(0)};  // lives with the process
}

double default_cost(const KernelArgs& a) {
  double elements = 0;
  for (auto* views : {&a.in, &a.out})
    for (const View& v : *views) elements += (double)v.numel();
  return kCallCost + elements * kCostPerElement;
}

double never_inline(const KernelArgs&) { return std::numeric_limits<double>::infinity(); }

double KernelEntry::predicted_ns(double cost_units) const {
  const float p = pace->load(std::memory_order_relaxed);
  return p > 0 ? p * cost_units : std::numeric_limits<double>::infinity();
}

void KernelEntry::ran(double cost_units, double ns) const {
  if (!(cost_units > 0) || !std::isfinite(cost_units)) return;
  const float sample = (float)(ns / cost_units), p = pace->load(std::memory_order_relaxed);
  // each run weighs a quarter: a run the OS preempted shifts the pace, and the next runs pull it back
  pace->store(p > 0 ? 0.75f * p + 0.25f * sample : sample, std::memory_order_relaxed);
}

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
