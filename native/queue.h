// The CPU device's ordered queue (its "stream"). Every kernel, copy, read-back and free is a task run
// in submission order, one at a time, by whichever of the pool's workers (threadpool.h) is free
// first; that worker then fans the task's compute out to the others.
// Process-wide and thread-safe: every JS environment (main thread and worker_threads) shares it.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace kiln {

class Queue {
 public:
  static Queue& cpu();

  void push(std::function<void()> task);
  // Blocks the caller until every task pushed before this call has run. Only for teardown paths.
  void drain();
  uint64_t pending() const;
  // Runs `fn` on the calling thread, now, if no task is queued or running (then nothing it could be
  // ordered against exists), and returns true; otherwise returns false and runs nothing. Tasks pushed
  // meanwhile (by another JS environment) wait until `fn` returns. For short work only: small copies,
  // small kernels (addon.cc Launch), sync points.
  bool run_if_idle(const std::function<void()>& fn);

  // For the pool's workers. True when tasks wait and no worker is dispatching them.
  bool dispatchable() const {
    return size_.load(std::memory_order_acquire) > 0 && !dispatching_.load(std::memory_order_acquire);
  }
  // Becomes the dispatcher if no one is, and runs tasks until the queue is empty. True if it was.
  bool dispatch();

 private:
  Queue() = default;

  mutable std::mutex mu_;
  std::deque<std::function<void()>> tasks_;
  std::atomic<size_t> size_{0};  // tasks_.size(), readable without the lock while spinning
  std::atomic<bool> dispatching_{false};
};

}  // namespace kiln
