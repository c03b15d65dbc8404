// A write into a CPU buffer whose bytes arrive later, from another device's asynchronous read-back
// (WebGPU's mapAsync). Its queue task waits for them, so the transfer keeps its place in the CPU
// queue (work queued after it sees the bytes) while the JS thread goes on. The JS side always ends
// the wait: land() with the bytes, fail() with the source's error, or cancel() at teardown or when
// its handle is collected, so the queue never waits forever.
//
// land() copies the bytes straight into the destination, on the JS thread, when the queue task is
// already waiting: every task queued before it has run, and those queued after it wait for it, so
// nothing else touches the destination meanwhile. Earlier, it stages them and the task copies them
// in queue order: a task queued before it may still write the destination (the poisoning fill of a
// fresh output, under kiln.debug.poison). The LateWrite holds the buffer until its task is done, so a
// free() meanwhile only drops the handle.
#pragma once
#include <condition_variable>
#include <cstring>
#include <memory>
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
    if (nbytes_) {  // an empty array's data may be null
      if (!waiting_) {
        staged_ = std::make_shared<HostBuffer>(nbytes_);
        std::memcpy(staged_->data(), bytes, nbytes_);
      } else {
        std::memcpy(dst_->data() + offset_, bytes, nbytes_);
      }
    }
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
    waiting_ = true;  // from here on, land() may write the destination itself
    cv_.wait(lk, [this] { return state_ != State::Waiting; });
    const bool landed = state_ == State::Landed;
    if (landed && staged_) std::memcpy(dst_->data() + offset_, staged_->data(), nbytes_);
    // Done with the destination: the JS handle may outlive this until it is collected, and must
    // not keep a disposed tensor's memory alive meanwhile.
    staged_.reset();
    dst_.reset();
    if (!landed) code = code_, message = message_;
    return landed;
  }

 private:
  enum class State { Waiting, Landed, Failed };
  BufferPtr dst_;  // until the queue task is done with it
  const size_t offset_, nbytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::Waiting;
  bool waiting_ = false;        // the queue task has started (every earlier task has run)
  std::shared_ptr<HostBuffer> staged_;  // bytes that landed before that
  std::string code_, message_;
};

}  // namespace kiln
