#include "buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <utility>

#include "error.h"

namespace kiln {

static std::atomic<int64_t> g_bytes{0};
static std::atomic<int64_t> g_buffers{0};
static std::atomic<int64_t> g_cap{0};

namespace {

// Freed blocks of at least kMinBytes wait here (up to kCapBytes, oldest dropped first) for the next
// allocation of the same rounded size. Without it every large tensor is fresh memory from the OS,
// whose first touch page-faults: measured, the kernel's page clearing took 31% of a 256^3 matmul
// and 62% of a batched 12x(128x64@64x128) one, more than the product itself. Repeated shapes (an
// inference graph run after run, a training step) then reuse warm, already-mapped blocks.
class BlockCache {
 public:
  static constexpr size_t kMinBytes = size_t(32) << 10, kCapBytes = size_t(64) << 20;

  void* take(size_t bytes) {
    if (bytes < kMinBytes) return nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it)
      if (it->first == bytes) {
        void* p = it->second;
        blocks_.erase(std::next(it).base());
        held_ -= bytes;
        return p;
      }
    return nullptr;
  }

  // Keeps `p` for reuse, or frees it when it is too small or too large to keep.
  void give(void* p, size_t bytes) {
    if (bytes < kMinBytes || bytes > kCapBytes / 4) return std::free(p);
    std::deque<std::pair<size_t, void*>> dropped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks_.emplace_back(bytes, p);
      held_ += bytes;
      while (held_ > kCapBytes) {
        held_ -= blocks_.front().first;
        dropped.push_back(blocks_.front());
        blocks_.pop_front();
      }
    }
    for (auto& b : dropped) std::free(b.second);
  }

  // Frees everything held (before reporting out of memory).
  void drop_all() {
    std::deque<std::pair<size_t, void*>> dropped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      dropped.swap(blocks_);
      held_ = 0;
    }
    for (auto& b : dropped) std::free(b.second);
  }

 private:
  std::mutex mu_;
  std::deque<std::pair<size_t, void*>> blocks_;  // (rounded bytes, block), oldest first
  size_t held_ = 0;
};

// Never destroyed: buffers may be freed by other threads while the process exits.
BlockCache& block_cache() {
  static BlockCache* c = new BlockCache();
  return *c;
}

size_t rounded_bytes(size_t nbytes) { return nbytes == 0 ? 64 : ((nbytes + 63) / 64) * 64; }

// Blocks of 4 MiB and more start on a 2 MiB boundary and ask for transparent huge pages: their first
// touch then takes one fault per 2 MiB instead of one per 4 KiB. Measured on the 2-core build VM,
// first-touch copies of 64 MiB went from 1.4-2.2 GB/s to 10.6-11.2 GB/s (a warm copy: ~13 GB/s).
// KILN_HUGEPAGES=0 turns it off (hosts where the kernel's compaction stalls hurt more).
constexpr size_t kHugeMin = size_t(4) << 20, kHugeAlign = size_t(2) << 20;
const bool kHugePages = [] {
  const char* e = std::getenv("KILN_HUGEPAGES");
  return !(e && std::strcmp(e, "0") == 0);
}();

// The first number in a small file (a cgroup's limit or usage); -1 when absent or "max".
int64_t read_bytes_file(const char* path) {
  FILE* f = std::fopen(path, "r");
  if (!f) return -1;
  long long v = -1;
  if (std::fscanf(f, "%lld", &v) != 1) v = -1;
  std::fclose(f);
  return v;
}

// The process's cgroup headroom (limit - usage), or -1 when no limit is set or none is readable. v1
// reports "no limit" as a number near 2^63.
int64_t cgroup_headroom() {
  const char* limits[][2] = {{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
                             {"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"}};
  for (auto& l : limits) {
    const int64_t limit = read_bytes_file(l[0]), used = read_bytes_file(l[1]);
    if (limit > 0 && limit < (int64_t(1) << 60) && used >= 0) return std::max<int64_t>(0, limit - used);
  }
  return -1;
}

std::string in_use() {
  return std::to_string(g_bytes.load()) + " bytes in use in " + std::to_string(g_buffers.load()) + " buffers";
}

}  // namespace

int64_t host_memory_available() {
  int64_t avail = -1;
  if (FILE* f = std::fopen("/proc/meminfo", "r")) {
    char line[256];
    long long kb;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "MemAvailable: %lld kB", &kb) == 1) {
        avail = (int64_t)kb << 10;
        break;
      }
    std::fclose(f);
  }
  const int64_t headroom = cgroup_headroom();
  if (headroom >= 0 && (avail < 0 || headroom < avail)) avail = headroom;
  if (avail < 0) return avail;
  // Live buffers whose pages are not touched yet (a queued kernel's output) are not in use to the
  // kernel, but will be: count them as taken. The process's resident set bounds what of them is.
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  const int64_t untouched = g_bytes.load() - (int64_t)resident * (int64_t)sysconf(_SC_PAGESIZE);
  return std::max<int64_t>(0, avail - std::max<int64_t>(0, untouched));
}

void host_memory_check(size_t bytes, const char* what) {
  if (bytes < kCheckedBytes) return;
  int64_t avail = host_memory_available();
  if (avail < 0 || (int64_t)bytes <= avail) return;
  block_cache().drop_all();  // blocks held for reuse count as used: give them back, then ask again
  avail = host_memory_available();
  if ((int64_t)bytes <= avail) return;
  fail("E_OOM", std::string(what) + ": cannot allocate " + std::to_string(bytes) + " bytes: the host has " +
                    std::to_string(avail) + " bytes available (" + in_use() + ")");
}

void* allocate_host(size_t bytes, const char* what) {
  const size_t rounded = rounded_bytes(bytes);
  host_memory_check(rounded, what);
  void* p = nullptr;
  if (!kHugePages || rounded < kHugeMin) {
    p = std::aligned_alloc(64, rounded);
  } else if (posix_memalign(&p, kHugeAlign, rounded) == 0) {
#ifdef MADV_HUGEPAGE
    madvise(p, rounded, MADV_HUGEPAGE);  // advice only: where THP is off, the block still works
#endif
  } else {
    p = nullptr;
  }
  if (!p) fail("E_OOM", std::string(what) + ": out of memory allocating " + std::to_string(bytes) + " bytes (" + in_use() + ")");
  return p;
}

HostBuffer::HostBuffer(size_t nbytes) : data_(nullptr), size_(nbytes) {
  const int64_t cap = g_cap.load();
  if (cap > 0 && g_bytes.load() + (int64_t)nbytes > cap)
    fail("E_OOM", "cpu: cannot allocate " + std::to_string(nbytes) + " bytes: the cap (KILN_CPU_MEMORY_CAP) is " +
                      std::to_string(cap) + " bytes (" + in_use() + ")");
  const size_t rounded = rounded_bytes(nbytes);
  data_ = static_cast<char*>(block_cache().take(rounded));
  if (!data_) {
    try {
      data_ = static_cast<char*>(allocate_host(rounded, "cpu"));
    } catch (const Error&) {
      block_cache().drop_all();  // then once more; a second failure is the E_OOM to report
      data_ = static_cast<char*>(allocate_host(rounded, "cpu"));
    }
  }
  g_bytes += (int64_t)nbytes;
  g_buffers += 1;
}

HostBuffer::~HostBuffer() {
  block_cache().give(data_, rounded_bytes(size_));
  g_bytes -= (int64_t)size_;
  g_buffers -= 1;
}

int64_t HostBuffer::live_bytes() { return g_bytes.load(); }
int64_t HostBuffer::live_buffers() { return g_buffers.load(); }
void HostBuffer::set_cap(int64_t bytes) { g_cap.store(bytes); }
int64_t HostBuffer::cap() { return g_cap.load(); }

}  // namespace kiln
