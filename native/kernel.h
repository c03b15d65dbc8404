// The CPU kernel table. Each kernel file registers its ops with KILN_CPU_KERNEL at static-init time,
// so adding an op never edits a central switch. A kernel runs on the device queue's thread and may
// split its work with parallel_for (threadpool.h).
#pragma once
#include <atomic>
#include <string>
#include <vector>

#include "attrs.h"
#include "buffer.h"
#include "view.h"

namespace kiln {

struct KernelArgs {
  std::vector<View> in;
  std::vector<View> out;
  Attrs attrs;
  std::vector<HostBuffer*> in_buffers;  // the buffer under each input (for HostBuffer::derived)
};

using KernelRun = void (*)(const KernelArgs&);
// Checked on the JS thread at enqueue: dtypes of inputs then outputs. Throws E_UNSUPPORTED/E_ARGUMENT.
using KernelCheck = void (*)(const std::string& op, const KernelArgs&);

// A kernel's work in its own units, for the launch's inline decision (addon.cc): the estimate, in
// nanoseconds at nominal rates, times the pace that op has measured on this host. Kernels whose time
// is not about linear in the elements they touch (matmul, convolution, pooling windows) register a
// cost function; the others get default_cost.
using KernelCost = double (*)(const KernelArgs&);

struct KernelEntry {
  KernelRun run;
  KernelCheck check;
  KernelCost cost;  // never null once registered
  // Measured ns per unit of cost, a running average over this process's runs of the op (0: none yet).
  // Per-element speeds differ 300x between ops (Add ~0.04 ns, fmod-based Mod ~13 ns, on the build
  // VM), far more than any fixed table would stay true to across ops, ISAs and hosts.
  std::atomic<float>* pace;

  // The run time to expect, in ns: infinite until the op has run once.
  double predicted_ns(double cost_units) const;
  void ran(double cost_units, double ns) const;  // one run's measurement, from whichever thread ran it
};

void register_cpu_kernel(const char* op, KernelRun run, KernelCheck check, KernelCost cost = nullptr);
const KernelEntry* find_cpu_kernel(const std::string& op);
std::vector<std::string> cpu_kernel_names();

struct KernelRegistrar {
  KernelRegistrar(const char* op, KernelRun run, KernelCheck check, KernelCost cost = nullptr) { register_cpu_kernel(op, run, check, cost); }
};

#define KILN_CONCAT_(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_(a, b)
// KILN_CPU_KERNEL(op, run, check[, cost])
#define KILN_CPU_KERNEL(op, ...) \
  static ::kiln::KernelRegistrar KILN_CONCAT(kiln_kernel_, __COUNTER__)(op, __VA_ARGS__)

// Cost units (nominal nanoseconds: the measured pace scales them): a fixed ~500 per call, 0.25 per
// element of every view, and 0.02 per multiply-add of a product. Their ratios are what matter: a
// matmul's time against its operands' sizes, a tiny op's fixed part against its elements.
double default_cost(const KernelArgs& a);
constexpr double kCallCost = 500, kCostPerElement = 0.25, kCostPerMultiplyAdd = 0.02;
double never_inline(const KernelArgs&);  // a kernel that must not run on the JS thread (PeakFlops)

// Shared check helpers.
std::string describe(const std::string& op, const KernelArgs& a);  // "Add(float32[2,3], ...) -> ..."
void unsupported(const std::string& op, const KernelArgs& a);       // throws E_UNSUPPORTED

}  // namespace kiln
