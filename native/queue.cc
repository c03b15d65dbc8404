#include "queue.h"

#include "threadpool.h"

namespace kiln {

Queue& Queue::cpu() {
  static Queue* q = new Queue();  // never destroyed: its thread may outlive static destructors
  return *q;
}

Queue::Queue() { std::thread([this] { loop(); }).detach(); }

void Queue::push(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    tasks_.push_back(std::move(task));
    size_.store(tasks_.size(), std::memory_order_release);
  }
  cv_.notify_one();
}

uint64_t Queue::pending() const {
  std::lock_guard<std::mutex> lk(mu_);
  return tasks_.size();
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

void Queue::loop() {
  for (;;) {
    std::function<void()> task;
    // stay awake a moment when the queue runs dry: the next op usually follows (threadpool.h)
    spin_until([&] { return size_.load(std::memory_order_acquire) > 0; }, spin_window_us());
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return !tasks_.empty(); });
      task = std::move(tasks_.front());
      tasks_.pop_front();
      size_.store(tasks_.size(), std::memory_order_release);
    }
    task();  // tasks catch their own errors (see addon.cc); nothing escapes into this thread
    task = nullptr;  // release buffers the task held, in queue order
  }
}

}  // namespace kiln
