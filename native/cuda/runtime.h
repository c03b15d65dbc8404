// The CUDA device runtime as plain C++ (no CUDA types), so the N-API glue compiles with or without
// nvcc: runtime.cu implements it over the CUDA runtime, runtime_none.cc for builds without CUDA.
//   - one non-blocking stream per device; every call below is ordered on it
//   - buffers from a stream-ordered memory pool (cudaMallocAsync), freed with cudaFreeAsync when the
//     last holder lets go, with an optional per-device cap on the bytes of live buffers
//   - uploads and reads go through pinned staging blocks; a read's `Done` runs on the device's
//     completion thread once a CUDA event recorded after the copy has completed (never polled)
//   - a sticky CUDA error marks the device lost: every later call throws E_DEVICE_LOST
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernel.h"

namespace kiln {
namespace cuda {

struct DeviceProps {
  std::string name;
  int major = 0, minor = 0;  // compute capability
  size_t total_memory = 0;
  int sm_count = 0;
  int clock_khz = 0;
  int memory_bus_bits = 0;
};

struct Probe {
  int device_count = 0;
  std::string reason;  // why device_count is 0
};

class DeviceBuffer;
using DeviceBufferPtr = std::shared_ptr<DeviceBuffer>;

// Settles a promise: code empty = success, `value` the result (elapsed milliseconds for timers).
// Called on a runtime thread; the glue forwards it to the JS thread through its channel.
using Done = std::function<void(const std::string& code, const std::string& message, double value)>;

struct MemoryStats {
  double in_use = 0;    // bytes of live buffers
  double buffers = 0;   // live buffers
  double reserved = 0;  // bytes the pool holds from the driver (in use + cached)
  double cap = 0;       // 0 = no cap
};

Probe probe();  // never throws; device_count 0 with a reason where there is no driver or device
DeviceProps properties(int device);

DeviceBufferPtr alloc(int device, size_t nbytes);  // E_OOM names the request and what is in use
char* device_ptr(const DeviceBuffer& b);
size_t buffer_size(const DeviceBuffer& b);
int buffer_device(const DeviceBuffer& b);
// The device's stream (a cudaStream_t) as an integer, for libraries that enqueue on it (NCCL).
uintptr_t stream_address(int device);

// Copies `n` bytes from host memory now (the caller may reuse its array at once); the upload lands
// in stream order.
void write(const DeviceBufferPtr& buf, size_t offset, const void* src, size_t n);
// `dst` must stay valid until `done` runs (the glue holds a reference to its typed array).
void read(const DeviceBufferPtr& buf, size_t offset, void* dst, size_t n, Done done);
void sync(int device, Done done);

// A device timer: start() records an event; stop() records another and resolves with the elapsed
// milliseconds between them once the second has completed.
struct TimerEvent;
std::shared_ptr<TimerEvent> timer_start(int device);
void timer_stop(const std::shared_ptr<TimerEvent>& start, Done done);

// Transfers with the CPU device's queue (Tensor.to), kept in order on both queues. Upload: the stream
// waits (a host function blocked on a latch) until the CPU queue has filled the staging block and
// called stage_ready, then copies it up. Download: the copy is enqueued now; a CPU queue task calls
// stage_wait (blocks until the copy is done, throws the device's error) and then reads the block.
struct HostStage;
std::shared_ptr<HostStage> upload_later(const DeviceBufferPtr& buf, size_t offset, size_t n);
std::shared_ptr<HostStage> download_later(const DeviceBufferPtr& buf, size_t offset, size_t n);
void* stage_data(HostStage& s);
void stage_ready(HostStage& s);
void stage_wait(HostStage& s);

bool has_kernel(const std::string& op);
// Enqueues `op` on the device's stream. The views' pointers are device pointers.
// `tagged`: the launch reports an index out of range as a data fault (src/faults.ts) under the id it
// returns (0 when untagged), which fault_found reads once the launch has completed; untagged, it
// rejects the device's next sync point.
uint64_t launch(int device, const std::string& op, const KernelArgs& args, bool tagged = false);
// After the launch `id` has completed: true, with the E_INDEX message, when it found an index out of
// range (or when a launch kFaultSlots ids later, which shares its record, did: said in the message).
bool fault_found(int device, uint64_t id, std::string& message);

void set_memory_cap(int device, size_t bytes);  // 0 = none
// Waits for the device's stream, then returns the pool's cached free blocks to the driver, so
// allocators outside the pool (NCCL's buffers, cuBLASLt's workspace) can have them.
void release_cached(int device);
MemoryStats memory(int device);
// Waits for every device's queued work and completions (environment teardown only).
void drain_all();

}  // namespace cuda
}  // namespace kiln
