// The CPU kernel table. Each kernel file registers its ops with KILN_CPU_KERNEL at static-init time,
// so adding an op never edits a central switch. A kernel runs on the device queue's thread and may
// split its work with parallel_for (threadpool.h).
#pragma once
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

struct KernelEntry {
  KernelRun run;
  KernelCheck check;
};

void register_cpu_kernel(const char* op, KernelRun run, KernelCheck check);
const KernelEntry* find_cpu_kernel(const std::string& op);
std::vector<std::string> cpu_kernel_names();

struct KernelRegistrar {
  KernelRegistrar(const char* op, KernelRun run, KernelCheck check) { register_cpu_kernel(op, run, check); }
};

#define KILN_CONCAT_(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_(a, b)
#define KILN_CPU_KERNEL(op, run, check) \
  static ::kiln::KernelRegistrar KILN_CONCAT(kiln_kernel_, __COUNTER__)(op, run, check)

// Shared check helpers.
std::string describe(const std::string& op, const KernelArgs& a);  // "Add(float32[2,3], ...) -> ..."
void unsupported(const std::string& op, const KernelArgs& a);       // throws E_UNSUPPORTED

}  // namespace kiln
