// A write into a CPU buffer whose bytes arrive later, from another device's asynchronous read-back
// (WebGPU's mapAsync). Its queue task waits for them, so the transfer keeps its place in the CPU
// queue (work queued after it sees the bytes) while the JS thread goes on. The JS side always ends
// the wait: land() with the bytes, fail() with the source's error, or cancel() at teardown or when
// its handle is collected, so the queue never waits forever.
//
// land() copies the bytes straight into the destination, on the JS thread, before the task runs:
// nothing else touches those bytes until the task has run. The destination is a fresh buffer (a
// Tensor.to output) that no task queued before this one refers to, and tasks queued after it wait
// for it; the LateWrite holds the buffer, so a free() meanwhile only drops the handle.
#pragma once
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>

#include "buffer.h"

namespace kiln {

class LateWrite {
 public:
  LateWrite(BufferPtr dst, size_t offset, size_t nbytes) : dst_(std::move(dst)), offset_(offset), nbytes_(nbytes) {}
  size_t size() const { return nbytes_; }

  // JS thread: the bytes (copied now: the caller's array may be reused at once). False once ended.
  bool land(const char* bytes) {
    std::lock_guard<std::mutex> lk(mu_);
    if (state_ != State::Waiting) return false;
    if (nbytes_) std::memcpy(dst_->data() + offset_, bytes, nbytes_);  // an empty array's data may be null
    state_ = State::Landed;
    cv_.notify_all();
    return true;
  }
  bool fail(const std::string& code, const std::string& message) {
    std::lock_guard<std::mutex> lk(mu_);
    if (state_ != State::Waiting) return false;
    state_ = State::Failed;
    code_ = code;
    message_ = message;
    cv_.notify_all();
    return true;
  }
  bool cancel(const std::string& why) { return fail("E_NATIVE", why); }

  // Queue task: waits for the end; true when the bytes landed, else the error.
  bool wait(std::string& code, std::string& message) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [this] { return state_ != State::Waiting; });
    if (state_ == State::Landed) return true;
    code = code_;
    message = message_;
    return false;
  }

 private:
  enum class State { Waiting, Landed, Failed };
  const BufferPtr dst_;
  const size_t offset_, nbytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::Waiting;
  std::string code_, message_;
};

}  // namespace kiln
