// Host buffers for the CPU device: 64-byte aligned, counted, freed when the last holder lets go.
// Queued tasks hold a shared_ptr to every buffer they touch, so JS may free a buffer at any time and
// the memory outlives the work already queued on it (stream-ordered free).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace kiln {

// Fresh, 64-byte aligned host memory with HostBuffer's huge-page policy (buffer.cc), neither pooled nor
// counted: for large arrays JS holds itself. Throws E_OOM naming `what` and the request when the host
// cannot hold it (host_memory_check); release with std::free.
void* allocate_host(size_t bytes, const char* what);

// Bytes this process can still take without swapping or meeting the kernel's OOM killer: the
// kernel's MemAvailable, bounded by the cgroup's limit less its usage where one is set (v2 or v1),
// less the live buffers' bytes beyond the process's resident set (allocated, not yet touched).
// -1 when the kernel does not say.
int64_t host_memory_available();

// Linux overcommits: a request far beyond the host's memory succeeds, and the process is killed when
// its pages are first touched. So a request of kCheckedBytes or more is refused up front (E_OOM, the
// message naming `what`, the request and what is available) when it exceeds what is available.
constexpr size_t kCheckedBytes = size_t(64) << 20;
void host_memory_check(size_t bytes, const char* what);

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
  // A cap on live bytes (0: none; KILN_CPU_MEMORY_CAP): an allocation past it is E_OOM.
  static void set_cap(int64_t bytes);
  static int64_t cap();

  // Derived data a kernel keeps with the buffer it was derived from (Conv's packed or transformed
  // weights), so a constant weight is prepared once rather than on every call. An entry holds while
  // the contents stay as they were: every task that writes the buffer (a kernel with it as an
  // output, an upload, a copy into it) calls wrote() as it finishes, in queue order (queue.h), so a
  // later task never sees an entry older than the bytes. Queue tasks only: they run one at a time.
  void wrote() { writes_.fetch_add(1, std::memory_order_relaxed); }
  // The entry for `key` if it is current. Otherwise null, and `keep` says whether to build one and
  // set_derived it: only when the last call asked for the same key with the contents unchanged, so
  // data rewritten between uses (weights in training) never pays for a copy it cannot reuse.
  std::shared_ptr<const void> derived(const std::string& key, bool& keep) {
    const uint64_t now = writes_.load(std::memory_order_relaxed);
    const bool same = derived_key_ == key && derived_writes_ == now;
    if (same && derived_) return derived_;
    keep = same;
    if (!same) derived_key_ = key, derived_ = nullptr, derived_writes_ = now;
    return nullptr;
  }
  void set_derived(std::shared_ptr<const void> data) { derived_ = std::move(data); }

 private:
  char* data_;
  size_t size_;
  std::atomic<uint64_t> writes_{0};
  std::string derived_key_;
  std::shared_ptr<const void> derived_;
  uint64_t derived_writes_ = 0;
};

using BufferPtr = std::shared_ptr<HostBuffer>;

}  // namespace kiln
