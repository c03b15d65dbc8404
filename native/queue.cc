#include "queue.h"

#include "threadpool.h"

namespace kiln {

Queue& Queue::cpu() {
  static Queue* q = new Queue();  // never destroyed: the workers may outlive static destructors
  start_workers();
  return *q;
}

void Queue::push(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    tasks_.push_back(std::move(task));
    size_.store(tasks_.size(), std::memory_order_release);
  }
  wake_worker();
}

uint64_t Queue::pending() const {
  std::lock_guard<std::mutex> lk(mu_);
  return tasks_.size();
}

bool Queue::run_if_idle(const std::function<void()>& fn) {
  if (size_.load(std::memory_order_acquire) != 0) return false;
  bool idle = false;
  if (!dispatching_.compare_exchange_strong(idle, true, std::memory_order_acq_rel)) return false;
  // Holding the dispatcher token, nothing else runs; the queue must still be empty, or fn would jump it.
  const bool empty = size_.load(std::memory_order_acquire) == 0;
  if (empty) fn();
  dispatching_.store(false, std::memory_order_release);
  if (size_.load(std::memory_order_acquire) != 0) wake_worker();  // pushed while we held the token
  return empty;
}

void Queue::drain() {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  push([&] {
    std::lock_guard<std::mutex> lk(m);
    done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lk(m);
  cv.wait(lk, [&] { return done; });
}

bool Queue::dispatch() {
  if (size_.load(std::memory_order_acquire) == 0) return false;
  bool idle = false;
  if (!dispatching_.compare_exchange_strong(idle, true, std::memory_order_acq_rel)) return false;
  // A task pushed after the last look below finds dispatching_ still set; the caller's loop comes
  // straight back here (threadpool.cc), so it is picked up all the same.
  for (;;) {
    std::function<void()> task;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (tasks_.empty()) break;
      task = std::move(tasks_.front());
      tasks_.pop_front();
      size_.store(tasks_.size(), std::memory_order_release);
    }
    task();          // tasks catch their own errors (see addon.cc); nothing escapes into the worker
    task = nullptr;  // release buffers the task held, in queue order
  }
  dispatching_.store(false, std::memory_order_release);
  return true;
}

}  // namespace kiln
