// The CPU compute pool: N worker threads (N = KILN_NUM_THREADS, default the hardware's threads). An
// idle worker dispatches the device queue's next task (queue.h) or joins the running fan-out; the
// dispatching worker always takes a share of its task's work itself.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>

namespace kiln {

int num_threads();             // threads a kernel may use, the dispatching worker included
void set_num_threads(int n);   // from KILN_NUM_THREADS or the API; clamps to [1, 256]

// fn(tid, nthreads) runs once for each tid in [0, nthreads). Nested calls run inline (tid 0 of 1).
void parallel_run(int nthreads, const std::function<void(int, int)>& fn);

// fn(begin, end) over [0, n) in at most num_threads() contiguous chunks of at least `grain` items.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// How long an idle worker stays on its core before it blocks (KILN_SPIN_US, default 1000 us; 0
// blocks at once). On a virtual machine a blocked thread's vCPU halts, and waking it again costs the
// hypervisor up to milliseconds: measured here, a run's first kernel started 1-2 ms after it was
// queued, and a helper that had gone to sleep joined a kernel's fan-out 200-400 us late. Every
// worker can dispatch, so the queue never waits on one worker that shares its core with another
// thread while a spinning worker holds the free one. Only the first kSpinningWorkers spin that long;
// the others at most kHelperSpinUs (between the fan-outs of back-to-back kernels), so that a
// many-core host does not burn a core per worker after every burst of work.
int64_t spin_window_us();
constexpr int kSpinningWorkers = 2;
constexpr int64_t kHelperSpinUs = 100;

void start_workers();  // the pool exists from here on (Queue::cpu() calls it)
void wake_worker();    // a task was queued: wake one sleeping worker, if any

// Spins until ready() or `window` microseconds pass, yielding to any other runnable thread so that
// spinning never takes a core from real work. True when ready() became true.
template <class Ready> bool spin_until(Ready ready, int64_t window) {
  if (window <= 0) return ready();
  const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(window);
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      if (ready()) return true;
#if defined(__x86_64__) || defined(_M_X64)
      __builtin_ia32_pause();
#endif
    }
    if (std::chrono::steady_clock::now() >= end) return ready();
    std::this_thread::yield();
  }
}

// Hands out [0, n) one index at a time to whichever thread asks next: inside parallel_run, a thread
// the OS delays (a busy host) then holds nobody back, as a static split would.
struct WorkCounter {
  std::atomic<int64_t> next{0};
  int64_t n;
  explicit WorkCounter(int64_t n_) : n(n_) {}
  bool take(int64_t& i) {
    i = next.fetch_add(1, std::memory_order_relaxed);
    return i < n;
  }
};

}  // namespace kiln
