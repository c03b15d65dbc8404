// The CUDA device runtime (see runtime.h for the contract). One Device per GPU, created on first use:
// its stream, its memory pool, a mapped word kernels report device-side errors through, a cache of
// pinned staging blocks, and a completion thread that waits on CUDA events in order and settles the
// promises behind read(), sync() and timers. Nothing here polls: the completion thread sleeps in
// cudaEventSynchronize on events created with cudaEventBlockingSync.
#include <cuda_runtime.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "cuda_probe.h"
#include "launch.h"
#include "runtime.h"

namespace kiln {
namespace cuda {
namespace {

// Errors after which the CUDA context is unusable (the runtime returns them from every later call).
bool is_sticky(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress: case cudaErrorLaunchFailure: case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction: case cudaErrorMisalignedAddress: case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc: case cudaErrorAssert: case cudaErrorLaunchTimeout: case cudaErrorECCUncorrectable:
    case cudaErrorContextIsDestroyed: case cudaErrorDevicesUnavailable: case cudaErrorUnknown:
      return true;
    default:
      break;
  }
  // Also "the process must be terminated and relaunched" (driver_types.h), by number: not every
  // supported toolkit names them (cudaErrorContained, cudaErrorTensorMemoryLeak,
  // cudaErrorMpsClientTerminated, cudaErrorExternalDevice).
  switch ((int)e) {
    case 226: case 721: case 810: case 911:
      return true;
    default:
      return false;
  }
}

std::string err_text(cudaError_t e) { return std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")"; }

std::string fmt_bytes(double b) {
  const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char s[48];
  std::snprintf(s, sizeof s, u ? "%.2f %s" : "%.0f %s", b, unit[u]);
  return s;
}

thread_local int t_device = -1;  // the device the calling thread last used (for check())

// Pinned host blocks for staging, reused by size: cudaHostAlloc costs far more than a copy.
class PinnedCache {
 public:
  void* acquire(size_t n, size_t& cap) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      auto it = free_.lower_bound(n);
      if (it != free_.end() && it->first <= 2 * n + (64 << 10)) {
        cap = it->first;
        void* p = it->second;
        cached_ -= it->first;
        free_.erase(it);
        return p;
      }
    }
    cap = n < (64 << 10) ? (64 << 10) : n;
    void* p = nullptr;
    cudaError_t e = cudaHostAlloc(&p, cap, cudaHostAllocPortable);
    if (e != cudaSuccess) {
      cudaGetLastError();
      fail("E_OOM", "cannot allocate " + fmt_bytes((double)n) + " of pinned host memory for a transfer: " + err_text(e));
    }
    return p;
  }
  void release(void* p, size_t cap) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (cached_ + cap <= kMaxCached) {
        free_.emplace(cap, p);
        cached_ += cap;
        return;
      }
    }
    cudaFreeHost(p);
  }

 private:
  static constexpr size_t kMaxCached = size_t(256) << 20;
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
};

}  // namespace

class Device {
 public:
  explicit Device(int index);
  const int index;
  DeviceProps props;
  cudaStream_t stream = nullptr;
  cudaMemPool_t pool = nullptr;
  unsigned* error_host = nullptr;  // mapped: kernels write error_dev, the completion thread reads here
  unsigned* error_dev = nullptr;
  FaultSlot* faults_host = nullptr;  // mapped: kFaultSlots data-fault records (launch.h), read by fault_found
  FaultSlot* faults_dev = nullptr;
  FaultLowest* lowest_dev = nullptr;  // device memory: orders one launch's reports (launch.h)
  std::atomic<unsigned long long> next_fault{1};  // fault ids, process-wide: every JS environment shares the slots
  PinnedCache pinned;
  std::atomic<int64_t> in_use{0}, buffers{0};
  std::atomic<size_t> cap{0};

  // Throws E_DEVICE_LOST once the device is lost; makes it the calling thread's current device.
  void use() {
    if (lost_.load()) {
      std::lock_guard<std::mutex> lk(mu_);
      fail("E_DEVICE_LOST", "cuda:" + std::to_string(index) + " is lost after " + lost_reason_ +
                                "; every later call on it fails (restart the process to use it again)");
    }
    t_device = index;
    cudaSetDevice(index);
  }
  bool lost() const { return lost_.load(); }
  void lose(const std::string& why) {
    std::lock_guard<std::mutex> lk(mu_);
    if (!lost_.exchange(true)) lost_reason_ = why;
  }
  // Runs fn(status, device_error) on the completion thread once the work enqueued so far is done.
  // `reports`: fn settles a caller's promise and takes the device's error word; a completion that only
  // recycles memory passes false and leaves the word for the next one that reports.
  void when_done(std::function<void(cudaError_t, unsigned)> fn, bool reports = true);
  void drain();
  Stream launch_context(unsigned long long fault_id = 0) const {
    return Stream{stream, index, props.major * 10 + props.minor, props.sm_count, error_dev,
                  fault_id ? faults_dev + fault_id % kFaultSlots : nullptr, fault_id, lowest_dev};
  }

 private:
  struct Pending {
    cudaEvent_t event;
    std::function<void(cudaError_t, unsigned)> fn;
    bool reports;
  };
  void complete_loop();
  cudaEvent_t take_event();

  std::mutex mu_;
  std::condition_variable cv_, idle_;
  std::deque<Pending> pending_;
  std::vector<cudaEvent_t> events_;
  std::atomic<bool> lost_{false};
  std::string lost_reason_;
  std::thread thread_;
};

void check(cudaError_t err, const std::string& what);

Device::Device(int i) : index(i) {
  t_device = i;
  check(cudaSetDevice(i), "cudaSetDevice");
  cudaDeviceProp p;
  check(cudaGetDeviceProperties(&p, i), "cudaGetDeviceProperties");
  props.name = p.name;
  props.major = p.major;
  props.minor = p.minor;
  props.total_memory = p.totalGlobalMem;
  props.sm_count = p.multiProcessorCount;
  cudaDeviceGetAttribute(&props.clock_khz, cudaDevAttrClockRate, i);
  cudaDeviceGetAttribute(&props.memory_bus_bits, cudaDevAttrGlobalMemoryBusWidth, i);
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  cudaMemPoolProps pp;
  std::memset(&pp, 0, sizeof pp);
  pp.allocType = cudaMemAllocationTypePinned;
  pp.location.type = cudaMemLocationTypeDevice;
  pp.location.id = i;
  check(cudaMemPoolCreate(&pool, &pp), "cudaMemPoolCreate");
  uint64_t keep_all = UINT64_MAX;  // cache freed blocks until a cap or an allocation failure trims them
  check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all), "cudaMemPoolSetAttribute");
  check(cudaHostAlloc(reinterpret_cast<void**>(&error_host), sizeof(unsigned), cudaHostAllocMapped | cudaHostAllocPortable),
        "cudaHostAlloc(error word)");
  *error_host = kNoDeviceError;
  check(cudaHostGetDevicePointer(reinterpret_cast<void**>(&error_dev), error_host, 0), "cudaHostGetDevicePointer");
  check(cudaHostAlloc(reinterpret_cast<void**>(&faults_host), kFaultSlots * sizeof(FaultSlot), cudaHostAllocMapped | cudaHostAllocPortable),
        "cudaHostAlloc(fault records)");
  std::memset(faults_host, 0, kFaultSlots * sizeof(FaultSlot));
  check(cudaHostGetDevicePointer(reinterpret_cast<void**>(&faults_dev), faults_host, 0), "cudaHostGetDevicePointer");
  check(cudaMalloc(reinterpret_cast<void**>(&lowest_dev), sizeof(FaultLowest)), "cudaMalloc(fault order)");
  check(cudaMemsetAsync(lowest_dev, 0, sizeof(FaultLowest), stream), "cudaMemsetAsync(fault order)");  // before any launch
  thread_ = std::thread([this] { complete_loop(); });
  thread_.detach();  // devices live for the whole process
}

cudaEvent_t Device::take_event() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!events_.empty()) {
      cudaEvent_t e = events_.back();
      events_.pop_back();
      return e;
    }
  }
  cudaEvent_t e;
  check(cudaEventCreateWithFlags(&e, cudaEventBlockingSync | cudaEventDisableTiming), "cudaEventCreate");
  return e;
}

void Device::when_done(std::function<void(cudaError_t, unsigned)> fn, bool reports) {
  cudaEvent_t e = take_event();
  check(cudaEventRecord(e, stream), "cudaEventRecord");
  std::lock_guard<std::mutex> lk(mu_);
  pending_.push_back(Pending{e, std::move(fn), reports});
  cv_.notify_one();
}

void Device::complete_loop() {
  cudaSetDevice(index);
  for (;;) {
    Pending p;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return !pending_.empty(); });
      p = std::move(pending_.front());
    }
    cudaError_t st = cudaEventSynchronize(p.event);
    if (st != cudaSuccess && is_sticky(st)) lose(err_text(st) + " while running queued work");
    // The device's error word: the first device-side error since the last completion, then cleared.
    unsigned dev_err = st == cudaSuccess && p.reports ? __atomic_exchange_n(error_host, 0u, __ATOMIC_SEQ_CST) : 0u;
    try {
      p.fn(st, dev_err);
    } catch (...) {
    }
    std::lock_guard<std::mutex> lk(mu_);
    events_.push_back(p.event);
    pending_.pop_front();
    if (pending_.empty()) idle_.notify_all();
  }
}

void Device::drain() {
  std::unique_lock<std::mutex> lk(mu_);
  idle_.wait(lk, [&] { return pending_.empty(); });
}

namespace {

std::once_flag g_once;
std::vector<std::unique_ptr<Device>>* g_devices = nullptr;
Probe g_probe;

void init() {
  std::call_once(g_once, [] {
    g_devices = new std::vector<std::unique_ptr<Device>>();
    CudaProbe p = cuda_probe();
    g_probe.device_count = p.device_count;
    g_probe.reason = p.reason;
    g_devices->resize(p.device_count);
  });
}

std::mutex g_create_mu;

Device& device(int i) {
  init();
  if (i < 0 || i >= (int)g_devices->size())
    fail("E_DEVICE", "cuda:" + std::to_string(i) + " does not exist (" + std::to_string(g_devices->size()) + " CUDA devices" +
                         (g_probe.reason.empty() ? "" : ": " + g_probe.reason) + ")");
  std::lock_guard<std::mutex> lk(g_create_mu);
  auto& d = (*g_devices)[i];
  if (!d) d = std::make_unique<Device>(i);
  return *d;
}

std::map<std::string, CudaRun>& table() {
  static std::map<std::string, CudaRun> t;
  return t;
}

// The message for a code kernels left in the error word.
std::string device_error_text(unsigned code, int dev) {
  std::string where = " (found on cuda:" + std::to_string(dev) + ")";
  if (code == kIndexOutOfRange) return "Gather: an index is out of range for the gathered axis" + where;
  return "a kernel reported device error " + std::to_string(code) + where;
}

// The Done of a completion: a CUDA failure, a device-side error, or success.
void settle(Done& done, Device& d, cudaError_t st, unsigned dev_err, double value = 0) {
  if (st != cudaSuccess)
    done(d.lost() ? "E_DEVICE_LOST" : "E_NATIVE", "cuda:" + std::to_string(d.index) + ": queued work failed: " + err_text(st), 0);
  else if (dev_err == kIndexOutOfRange)
    done("E_INDEX", device_error_text(dev_err, d.index), 0);
  else if (dev_err != 0)
    done("E_NATIVE", device_error_text(dev_err, d.index), 0);
  else
    done("", "", value);
}

}  // namespace

void check(cudaError_t err, const std::string& what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so later calls are not poisoned by it
  std::string where = t_device >= 0 ? "cuda:" + std::to_string(t_device) + ": " : "";
  if (is_sticky(err)) {
    if (t_device >= 0 && g_devices && t_device < (int)g_devices->size() && (*g_devices)[t_device])
      (*g_devices)[t_device]->lose(err_text(err) + " in " + what);
    fail("E_DEVICE_LOST", where + what + " failed: " + err_text(err) + "; the device is lost");
  }
  if (err == cudaErrorMemoryAllocation) fail("E_OOM", where + what + ": " + err_text(err));
  fail("E_NATIVE", where + what + " failed: " + err_text(err));
}

void register_kernel(const char* op, CudaRun run) { table()[op] = run; }

Scratch::Scratch(const Stream& s, size_t nbytes) : stream_(s.stream) {
  if (nbytes == 0) return;
  Device& d = device(s.device);
  check(cudaMallocFromPoolAsync(&ptr_, nbytes, d.pool, stream_), "cudaMallocAsync (scratch, " + fmt_bytes((double)nbytes) + ")");
}
Scratch::~Scratch() {
  if (ptr_) cudaFreeAsync(ptr_, stream_);
}

// ---- runtime.h -------------------------------------------------------------------------------------

class DeviceBuffer {
 public:
  DeviceBuffer(const DeviceBuffer&) = delete;  // owns the allocation
  DeviceBuffer(Device& d, void* p, size_t n) : dev(d), ptr(static_cast<char*>(p)), size(n) {
    dev.in_use += (int64_t)n;
    dev.buffers += 1;
  }
  ~DeviceBuffer() {
    dev.in_use -= (int64_t)size;
    dev.buffers -= 1;
    if (ptr && !dev.lost()) {
      cudaSetDevice(dev.index);
      cudaFreeAsync(ptr, dev.stream);  // after every kernel already queued on it
    }
  }
  Device& dev;
  char* const ptr;
  const size_t size;
};

Probe probe() {
  init();
  return g_probe;
}

DeviceProps properties(int i) { return device(i).props; }

DeviceBufferPtr alloc(int i, size_t n) {
  Device& d = device(i);
  d.use();
  auto in_use = [&] {
    size_t reserved = 0;
    cudaMemPoolGetAttribute(d.pool, cudaMemPoolAttrReservedMemCurrent, &reserved);
    return fmt_bytes((double)d.in_use.load()) + " in use by " + std::to_string(d.buffers.load()) + " buffers, the pool holds " +
           fmt_bytes((double)reserved);
  };
  size_t cap = d.cap.load();
  if (cap && (size_t)d.in_use.load() + n > cap)
    fail("E_OOM", "cuda:" + std::to_string(i) + ": a request for " + fmt_bytes((double)n) + " exceeds the memory cap of " +
                      fmt_bytes((double)cap) + " (" + in_use() + ")");
  if (n == 0) return std::make_shared<DeviceBuffer>(d, nullptr, 0);
  void* p = nullptr;
  cudaError_t e = cudaMallocFromPoolAsync(&p, n, d.pool, d.stream);
  if (e == cudaErrorMemoryAllocation) {
    // Release what the pool caches (blocks freed in stream order become free once the stream passes
    // their frees), then try once more.
    cudaGetLastError();
    check(cudaStreamSynchronize(d.stream), "cudaStreamSynchronize");
    cudaMemPoolTrimTo(d.pool, 0);
    e = cudaMallocFromPoolAsync(&p, n, d.pool, d.stream);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      fail("E_OOM", "cuda:" + std::to_string(i) + ": out of memory for a request of " + fmt_bytes((double)n) +
                        " after releasing cached blocks (" + in_use() + "; the device has " + fmt_bytes((double)free_b) +
                        " free of " + fmt_bytes((double)total_b) + ")");
    }
  }
  check(e, "cudaMallocAsync(" + std::to_string(n) + " bytes)");
  return std::make_shared<DeviceBuffer>(d, p, n);
}

char* device_ptr(const DeviceBuffer& b) { return b.ptr; }
size_t buffer_size(const DeviceBuffer& b) { return b.size; }
int buffer_device(const DeviceBuffer& b) { return b.dev.index; }
uintptr_t stream_address(int i) {
  Device& d = device(i);
  d.use();
  return reinterpret_cast<uintptr_t>(d.stream);
}

void write(const DeviceBufferPtr& buf, size_t offset, const void* src, size_t n) {
  Device& d = buf->dev;
  d.use();
  if (n == 0) return;
  size_t cap = 0;
  void* stage = d.pinned.acquire(n, cap);
  std::memcpy(stage, src, n);
  check(cudaMemcpyAsync(buf->ptr + offset, stage, n, cudaMemcpyHostToDevice, d.stream), "cudaMemcpyAsync (upload)");
  Device* dp = &d;
  d.when_done([dp, stage, cap](cudaError_t, unsigned) { dp->pinned.release(stage, cap); }, false);
}

void read(const DeviceBufferPtr& buf, size_t offset, void* dst, size_t n, Done done) {
  Device& d = buf->dev;
  d.use();
  size_t cap = 0;
  void* stage = n ? d.pinned.acquire(n, cap) : nullptr;
  if (n) check(cudaMemcpyAsync(stage, buf->ptr + offset, n, cudaMemcpyDeviceToHost, d.stream), "cudaMemcpyAsync (read)");
  Device* dp = &d;
  d.when_done([dp, stage, cap, dst, n, done](cudaError_t st, unsigned dev_err) mutable {
    if (st == cudaSuccess && dev_err == 0 && n) std::memcpy(dst, stage, n);
    if (stage) dp->pinned.release(stage, cap);
    settle(done, *dp, st, dev_err);
  });
}

void sync(int i, Done done) {
  Device& d = device(i);
  d.use();
  Device* dp = &d;
  d.when_done([dp, done](cudaError_t st, unsigned dev_err) mutable { settle(done, *dp, st, dev_err); });
}

struct TimerEvent {
  Device* dev;
  cudaEvent_t event;
  TimerEvent(Device* d, cudaEvent_t e) : dev(d), event(e) {}
  TimerEvent(const TimerEvent&) = delete;  // owns the event: a copy's destructor would destroy it
  TimerEvent& operator=(const TimerEvent&) = delete;
  ~TimerEvent() { cudaEventDestroy(event); }
};

std::shared_ptr<TimerEvent> timer_start(int i) {
  Device& d = device(i);
  d.use();
  cudaEvent_t e;
  check(cudaEventCreateWithFlags(&e, cudaEventBlockingSync), "cudaEventCreate (timer)");
  auto t = std::make_shared<TimerEvent>(&d, e);
  check(cudaEventRecord(e, d.stream), "cudaEventRecord (timer)");
  return t;
}

void timer_stop(const std::shared_ptr<TimerEvent>& start, Done done) {
  Device& d = *start->dev;
  d.use();
  auto stop = timer_start(d.index);
  Device* dp = &d;
  d.when_done([dp, start, stop, done](cudaError_t st, unsigned dev_err) mutable {
    float ms = 0;
    if (st == cudaSuccess) st = cudaEventElapsedTime(&ms, start->event, stop->event);
    settle(done, *dp, st, dev_err, ms);
  });
}

struct HostStage {
  Device* dev;
  void* host = nullptr;
  size_t cap = 0;
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  cudaEvent_t done = nullptr;  // downloads: recorded after the copy
  ~HostStage() {
    if (done) cudaEventDestroy(done);
    if (host) dev->pinned.release(host, cap);
  }
};

namespace {
// Runs on CUDA's host-function thread: holds the stream until the CPU queue has filled the block.
void CUDART_CB wait_for_stage(void* p) {
  auto* s = static_cast<HostStage*>(p);
  std::unique_lock<std::mutex> lk(s->mu);
  s->cv.wait(lk, [&] { return s->ready; });
}
}  // namespace

std::shared_ptr<HostStage> upload_later(const DeviceBufferPtr& buf, size_t offset, size_t n) {
  Device& d = buf->dev;
  d.use();
  auto s = std::make_shared<HostStage>();
  s->dev = &d;
  if (n == 0) return s;
  s->host = d.pinned.acquire(n, s->cap);
  check(cudaLaunchHostFunc(d.stream, wait_for_stage, s.get()), "cudaLaunchHostFunc");
  // From here the stream holds s.get(): whatever happens, s lives until the stream has passed it.
  const cudaError_t copy = cudaMemcpyAsync(buf->ptr + offset, s->host, n, cudaMemcpyHostToDevice, d.stream);
  if (copy != cudaSuccess) stage_ready(*s);  // release the waiting host function: nothing will fill it
  d.when_done([s](cudaError_t, unsigned) {}, false);  // keeps the block until the copy has completed
  check(copy, "cudaMemcpyAsync (upload)");
  return s;
}

std::shared_ptr<HostStage> download_later(const DeviceBufferPtr& buf, size_t offset, size_t n) {
  Device& d = buf->dev;
  d.use();
  auto s = std::make_shared<HostStage>();
  s->dev = &d;
  check(cudaEventCreateWithFlags(&s->done, cudaEventBlockingSync | cudaEventDisableTiming), "cudaEventCreate");
  if (n) {
    s->host = d.pinned.acquire(n, s->cap);
    check(cudaMemcpyAsync(s->host, buf->ptr + offset, n, cudaMemcpyDeviceToHost, d.stream), "cudaMemcpyAsync (download)");
  }
  check(cudaEventRecord(s->done, d.stream), "cudaEventRecord");
  return s;
}

void* stage_data(HostStage& s) { return s.host; }

void stage_ready(HostStage& s) {
  std::lock_guard<std::mutex> lk(s.mu);
  s.ready = true;
  s.cv.notify_all();
}

void stage_wait(HostStage& s) {
  cudaError_t st = cudaEventSynchronize(s.done);
  if (st == cudaSuccess) {
    // A kernel before the copy may have reported a device-side error (an untagged Gather's index out
    // of range; a tagged one's goes with the copy as its data fault): the copy fails like a read().
    unsigned dev_err = __atomic_exchange_n(s.dev->error_host, 0u, __ATOMIC_SEQ_CST);
    if (dev_err == kIndexOutOfRange) fail("E_INDEX", device_error_text(dev_err, s.dev->index));
    if (dev_err != 0) fail("E_NATIVE", device_error_text(dev_err, s.dev->index));
    return;
  }
  if (is_sticky(st)) s.dev->lose(err_text(st) + " while running queued work");
  fail(s.dev->lost() ? "E_DEVICE_LOST" : "E_NATIVE", "cuda:" + std::to_string(s.dev->index) + ": a copy to the cpu failed: " + err_text(st));
}

bool has_kernel(const std::string& op) { return table().count(op) != 0; }

uint64_t launch(int i, const std::string& op, const KernelArgs& args, bool tagged) {
  auto it = table().find(op);
  if (it == table().end()) fail("E_UNSUPPORTED", "the cuda backend has no op '" + op + "'");
  const KernelEntry* cpu = find_cpu_kernel(op);
  if (cpu && cpu->check) cpu->check(op, args);  // one op semantics, one set of argument checks
  Device& d = device(i);
  d.use();
  const unsigned long long id = tagged ? d.next_fault++ : 0;
  // Nothing to write: the inputs of an empty output are never read, except Gather's indices, which
  // are checked whatever the output holds (as on the CPU).
  for (auto& v : args.out)
    if (v.numel() == 0 && op != "Gather") return id;
  it->second(args, d.launch_context(id));
  return id;
}

bool fault_found(int i, uint64_t id, std::string& message) {
  Device& d = device(i);
  if (id == 0) return false;
  FaultSlot& r = d.faults_host[id % kFaultSlots];
  const unsigned long long last = __atomic_load_n(&r.id, __ATOMIC_ACQUIRE);
  if (last < id) return false;  // empty, or an earlier launch's record: this one found nothing
  const std::string where = " (found on cuda:" + std::to_string(i) + ")";
  if (last == id)
    message = "Gather: index " + std::to_string(r.index) + " is out of range for axis " + std::to_string(r.axis) + " of size " +
              std::to_string(r.dim) + where;
  else  // a later launch failed in this record before it was read: this one may have too
    message = "Gather: an index may be out of range (a launch " + std::to_string(last - id) +
              " Gathers later, which shares this one's record, found one before this one was checked)" + where;
  return true;
}

void set_memory_cap(int i, size_t bytes) {
  Device& d = device(i);
  d.use();
  d.cap = bytes;
  uint64_t threshold = bytes ? (uint64_t)bytes : UINT64_MAX;  // with a cap, the pool caches at most the cap
  check(cudaMemPoolSetAttribute(d.pool, cudaMemPoolAttrReleaseThreshold, &threshold), "cudaMemPoolSetAttribute");
}

void release_cached(int i) {
  Device& d = device(i);
  d.use();
  check(cudaStreamSynchronize(d.stream), "cudaStreamSynchronize");
  check(cudaMemPoolTrimTo(d.pool, 0), "cudaMemPoolTrimTo");
}

MemoryStats memory(int i) {
  Device& d = device(i);
  MemoryStats m;
  m.in_use = (double)d.in_use.load();
  m.buffers = (double)d.buffers.load();
  m.cap = (double)d.cap.load();
  size_t reserved = 0;
  if (!d.lost()) cudaMemPoolGetAttribute(d.pool, cudaMemPoolAttrReservedMemCurrent, &reserved);
  m.reserved = (double)reserved;
  return m;
}

void drain_all() {
  if (!g_devices) return;
  for (auto& d : *g_devices)
    if (d && !d->lost()) d->drain();
}

}  // namespace cuda
}  // namespace kiln
