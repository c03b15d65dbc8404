#include "threadpool.h"

#include "queue.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln {
namespace {

thread_local bool in_parallel = false;

// One fan-out. Helpers hold it by shared_ptr, so a helper that wakes late only ever sees the run it
// copied, whose tids are already all claimed. A share that throws (a kernel's E_OOM for its scratch,
// std::bad_alloc) is caught here: escaping a helper thread would end the process, and escaping the
// caller before the helpers finish would leave them in the caller's frame. The first exception is
// rethrown to the caller once every share is done; shares not started by then are skipped.
struct Job {
  const std::function<void(int, int)>* fn;
  int n;
  std::atomic<int> next{0};
  std::atomic<int> done{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  std::exception_ptr error;

  void work() {
    bool outer = in_parallel;
    in_parallel = true;
    for (;;) {
      int tid = next.fetch_add(1, std::memory_order_acq_rel);
      if (tid >= n) break;
      if (!failed.load(std::memory_order_acquire)) {
        try {
          (*fn)(tid, n);
        } catch (...) {
          std::lock_guard<std::mutex> lk(error_mu);
          if (!error) error = std::current_exception();
          failed.store(true, std::memory_order_release);
        }
      }
      done.fetch_add(1, std::memory_order_acq_rel);
    }
    in_parallel = outer;
  }
};

// The CPU device's worker threads. Each one, when idle, looks for two kinds of work: a share of the
// running fan-out (parallel_run), and the device queue's next tasks (queue.h), which whichever worker
// gets there first dispatches, one task at a time, in order. So no single dispatcher thread can sit
// behind the JS thread on one core while the other core idles (measured on a 2-vCPU VM: a run's
// first kernel waited 80-200 us that way, while the pool's helper spun on the free core).
class Pool {
 public:
  explicit Pool(int workers) : workers_(workers) {
    for (int i = 0; i < workers; ++i) std::thread([this, i] { loop(i); }).detach();  // lives with the process
  }
  int workers() const { return workers_; }

  void run(int n, const std::function<void(int, int)>& fn) {
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->n = n;
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = job;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    job->work();
    while (job->done.load(std::memory_order_acquire) < n) std::this_thread::yield();
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (job_ == job) job_.reset();
    }
    if (job->failed.load(std::memory_order_acquire)) std::rethrow_exception(job->error);
  }

  // A task was queued: wake a sleeping worker. Taking the lock orders this after the sleeper's
  // check of its wait condition, so the wake cannot fall between that check and its sleep.
  void wake_one() {
    { std::lock_guard<std::mutex> lk(mu_); }
    cv_.notify_one();
  }

 private:
  void loop(int index) {
    const int64_t spin = index < kSpinningWorkers ? spin_window_us() : std::min(spin_window_us(), kHelperSpinUs);
    uint64_t seen = 0;
    Queue& queue = Queue::cpu();
    const auto waiting = [&] { return generation_.load(std::memory_order_acquire) != seen || queue.dispatchable(); };
    for (;;) {
      const uint64_t g = generation_.load(std::memory_order_acquire);
      if (g != seen) {
        seen = g;
        std::shared_ptr<Job> job;
        {
          std::lock_guard<std::mutex> lk(mu_);
          job = job_;
        }
        if (job) job->work();
        continue;
      }
      if (queue.dispatch()) continue;
      // Stay awake a moment before sleeping: kernels arrive back to back (threadpool.h).
      if (spin_until(waiting, spin)) continue;
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, waiting);
    }
  }

  int workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::shared_ptr<Job> job_;
};

int64_t read_spin_window() {
  const char* e = std::getenv("KILN_SPIN_US");
  return e ? std::max(0LL, std::atoll(e)) : 1000;
}

int initial_threads() {
  if (const char* env = std::getenv("KILN_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return std::min(n, 256);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

std::atomic<int> g_threads{0};

Pool& pool() {
  static Pool* p = new Pool(initial_threads());
  return *p;
}

}  // namespace

void start_workers() { pool(); }
void wake_worker() { pool().wake_one(); }

int64_t spin_window_us() {
  static const int64_t us = read_spin_window();
  return us;
}

int num_threads() {
  int n = g_threads.load();
  if (n == 0) {
    n = initial_threads();
    g_threads.store(n);
  }
  return std::min(n, pool().workers());
}

void set_num_threads(int n) { g_threads.store(std::max(1, std::min(n, 256))); }

void parallel_run(int nthreads, const std::function<void(int, int)>& fn) {
  nthreads = std::max(1, std::min(nthreads, num_threads()));
  if (nthreads == 1 || in_parallel) {
    for (int t = 0; t < nthreads; ++t) fn(t, nthreads);
    return;
  }
  pool().run(nthreads, fn);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t chunks = std::min<int64_t>(num_threads(), (n + grain - 1) / grain);
  if (chunks <= 1 || in_parallel) {
    fn(0, n);
    return;
  }
  parallel_run((int)chunks, [&](int t, int nt) {
    int64_t b = n * t / nt, e = n * (t + 1) / nt;
    if (b < e) fn(b, e);
  });
}

}  // namespace kiln
