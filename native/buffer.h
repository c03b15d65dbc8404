// Host buffers for the CPU device: 64-byte aligned, counted, freed when the last holder lets go.
// Queued tasks hold a shared_ptr to every buffer they touch, so JS may free a buffer at any time and
// the memory outlives the work already queued on it (stream-ordered free).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace kiln {

class HostBuffer {
 public:
  explicit HostBuffer(size_t nbytes);  // throws E_OOM
  ~HostBuffer();
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  char* data() const { return data_; }
  size_t size() const { return size_; }

  static int64_t live_bytes();
  static int64_t live_buffers();

 private:
  char* data_;
  size_t size_;
};

using BufferPtr = std::shared_ptr<HostBuffer>;

}  // namespace kiln
