#include "buffer.h"

#include <cstdlib>
#include <string>

#include "error.h"

namespace kiln {

static std::atomic<int64_t> g_bytes{0};
static std::atomic<int64_t> g_buffers{0};

HostBuffer::HostBuffer(size_t nbytes) : data_(nullptr), size_(nbytes) {
  size_t rounded = ((nbytes + 63) / 64) * 64;
  if (rounded == 0) rounded = 64;
  data_ = static_cast<char*>(std::aligned_alloc(64, rounded));
  if (!data_) {
    fail("E_OOM", "cpu: out of memory allocating " + std::to_string(nbytes) + " bytes (" +
                      std::to_string(g_bytes.load()) + " bytes in use in " + std::to_string(g_buffers.load()) +
                      " buffers)");
  }
  g_bytes += (int64_t)nbytes;
  g_buffers += 1;
}

HostBuffer::~HostBuffer() {
  std::free(data_);
  g_bytes -= (int64_t)size_;
  g_buffers -= 1;
}

int64_t HostBuffer::live_bytes() { return g_bytes.load(); }
int64_t HostBuffer::live_buffers() { return g_buffers.load(); }

}  // namespace kiln
