// What a CUDA kernel launcher sees (nvcc-only header): the device's stream, a few device facts, where
// kernels report what they find in the values they read (a Gather index out of range: the launch's
// data-fault record when it has one, else the device's error word), and scratch memory from the
// device's pool. Each kernels/cuda/*.cu file registers its ops with KILN_CUDA_KERNEL, the
// way CPU kernels register with KILN_CPU_KERNEL; the argument checks are the CPU table's own (the
// op semantics are one, so the checks are too).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "error.h"
#include "kernel.h"

namespace kiln {
namespace cuda {

// Codes kernels store (atomicCAS from 0) into Stream::error_word; the runtime turns the first one
// into a KilnError at the next sync point.
enum DeviceError : unsigned { kNoDeviceError = 0, kIndexOutOfRange = 1 };

// A data fault's record (src/faults.ts). A Gather launched with a fault id writes the index it found
// out of range here instead of setting the error word; the host reads the record once the launch has
// completed (runtime.cu fault_found). Slot id % kFaultSlots, in mapped pinned memory.
struct FaultSlot {
  unsigned long long id;  // written last: the id of the last launch that failed in this slot
  long long index, axis, dim;
};
constexpr unsigned kFaultSlots = 1u << 14;

// Device memory, one per device: what orders the reports of the launch that is running (a device runs
// its launches one after another, on its one stream), so that its record names the index at the
// lowest position in Indices, as the CPU's does. Written under `lock` (IndexReport::bad).
struct FaultLowest {
  unsigned lock;          // 0: free, 1: held
  unsigned long long id;  // the launch that wrote `position` last (0: none yet)
  long long position;     // the lowest position that launch has recorded
};

struct Stream {
  cudaStream_t stream;
  int device;
  int cc;        // compute capability, major * 10 + minor (90 = sm_90)
  int sm_count;
  unsigned* error_word;  // device-visible (mapped pinned memory)
  FaultSlot* fault;      // the launch's slot (device-visible), or nullptr: untagged
  unsigned long long fault_id;
  FaultLowest* lowest;   // the device's (device memory)
};

// How a kernel reports an index out of range: into its launch's fault slot when it has one, else
// into the device's error word (the next sync point's error). Any thread may report `index`, found
// at `position` (row-major in Indices); the record keeps the one at the lowest position, whatever
// the order the threads come in, so the message names the index the CPU's names. Nothing runs on
// the happy path; a report reads one word, and takes the device's lock only while it may lower the
// recorded position (one thread at a time, so position and index always go together).
struct IndexReport {
  unsigned* error_word;
  FaultSlot* slot;
  FaultLowest* lowest;
  unsigned long long id;
  long long axis, dim;
  IndexReport(const Stream& s, long long axis, long long dim)
      : error_word(s.error_word), slot(s.fault), lowest(s.lowest), id(s.fault_id), axis(axis), dim(dim) {}
  __device__ void bad(long long position, long long index) const {
    if (!slot) {
      atomicCAS(error_word, kNoDeviceError, (unsigned)kIndexOutOfRange);
      return;
    }
    volatile FaultLowest* low = lowest;
    // a lower position of this launch is in already (id is written after position)
    if (low->id == id) {
      __threadfence();
      if (low->position <= position) return;
    }
    // the lock is taken and released in one branch, so lanes of one warp never wait on each other
    for (bool done = false; !done;) {
      if (atomicCAS(&lowest->lock, 0u, 1u) == 0u) {
        __threadfence();
        if (low->id != id || position < low->position) {  // the first of this launch (an earlier one wrote the rest), or lower
          volatile FaultSlot* r = slot;
          r->index = index;
          r->axis = axis;
          r->dim = dim;
          low->position = position;
          __threadfence_system();
          r->id = id;
          low->id = id;
        }
        __threadfence();
        atomicExch(&lowest->lock, 0u);
        done = true;
      }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
      else {
        __nanosleep(100);
      }
#endif
    }
  }
};

using CudaRun = void (*)(const KernelArgs&, const Stream&);
void register_kernel(const char* op, CudaRun run);

struct CudaKernelRegistrar {
  CudaKernelRegistrar(const char* op, CudaRun run) { register_kernel(op, run); }
};
#define KILN_CUDA_KERNEL(op, run) \
  static ::kiln::cuda::CudaKernelRegistrar KILN_CONCAT(kiln_cuda_kernel_, __COUNTER__)(op, run)

// Throws E_DEVICE_LOST (sticky errors, after marking the device lost) or E_NATIVE naming `what`.
void check(cudaError_t err, const std::string& what);
// After a launch: the launch error, if any.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), std::string("launching ") + kernel); }

// Device memory for one op's temporaries, from the device's pool, freed in stream order when the
// launcher returns (after the kernels it enqueued, so they may still use it).
class Scratch {
 public:
  Scratch(const Stream& s, size_t nbytes);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T> T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

// Blocks per grid for n threads' worth of work at `threads` per block, capped for grid-stride loops.
inline unsigned grid_for(long long n, int threads, const Stream& s) {
  long long b = (n + threads - 1) / threads;
  long long cap = (long long)s.sm_count * 32;
  if (b > cap) b = cap;
  return (unsigned)(b < 1 ? 1 : b);
}

}  // namespace cuda
}  // namespace kiln
