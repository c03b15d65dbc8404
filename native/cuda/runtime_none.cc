// The CUDA runtime for builds made without nvcc: no devices, and every call says why.
#include "cuda_probe.h"
#include "runtime.h"

namespace kiln {
namespace cuda {

class DeviceBuffer {};
struct TimerEvent {};
struct HostStage {};

namespace {
[[noreturn]] void absent() { fail("E_DEVICE", "no CUDA device: " + cuda_probe().reason); }
}  // namespace

Probe probe() { return Probe{0, cuda_probe().reason}; }
DeviceProps properties(int) { absent(); }
DeviceBufferPtr alloc(int, size_t) { absent(); }
char* device_ptr(const DeviceBuffer&) { absent(); }
size_t buffer_size(const DeviceBuffer&) { absent(); }
int buffer_device(const DeviceBuffer&) { absent(); }
uintptr_t stream_address(int) { absent(); }
void write(const DeviceBufferPtr&, size_t, const void*, size_t) { absent(); }
void read(const DeviceBufferPtr&, size_t, void*, size_t, Done) { absent(); }
void sync(int, Done) { absent(); }
std::shared_ptr<TimerEvent> timer_start(int) { absent(); }
void timer_stop(const std::shared_ptr<TimerEvent>&, Done) { absent(); }
std::shared_ptr<HostStage> upload_later(const DeviceBufferPtr&, size_t, size_t) { absent(); }
std::shared_ptr<HostStage> download_later(const DeviceBufferPtr&, size_t, size_t) { absent(); }
void* stage_data(HostStage&) { absent(); }
void stage_ready(HostStage&) { absent(); }
void stage_wait(HostStage&) { absent(); }
bool has_kernel(const std::string&) { return false; }
uint64_t launch(int, const std::string&, const KernelArgs&, bool) { absent(); }
bool fault_found(int, uint64_t, std::string&) { absent(); }
void set_memory_cap(int, size_t) { absent(); }
void release_cached(int) { absent(); }
MemoryStats memory(int) { absent(); }
void drain_all() {}

}  // namespace cuda
}  // namespace kiln
