// The CPU device's ordered queue (its "stream"). Every kernel, copy, read-back and free is a task run
// in submission order on one dispatcher thread, which fans compute out to the pool (threadpool.h).
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

 private:
  Queue();
  void loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::atomic<size_t> size_{0};  // tasks_.size(), readable without the lock while spinning
};

}  // namespace kiln
