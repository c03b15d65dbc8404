// A write into a CPU buffer whose bytes arrive later, from another device's asynchronous read-back
// (WebGPU's mapAsync). Its queue task waits for them, so the transfer keeps its place in the CPU
// queue (work queued after it sees the bytes) while the JS thread goes on. The JS side always ends
// the wait: land() with the bytes, fail() with the source's error, or cancel() at teardown or when
// its handle is collected, so the queue never waits forever.
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
  explicit LateWrite(size_t nbytes) : nbytes_(nbytes) {}
  size_t size() const { return nbytes_; }

  // JS thread: the bytes (copied: the caller's array may be reused at once). False once ended.
  bool land(const char* bytes) {
    auto staged = std::make_shared<HostBuffer>(nbytes_);
    if (nbytes_) std::memcpy(staged->data(), bytes, nbytes_);  // an empty array's data may be null
    return end(State::Landed, std::move(staged), "", "");
  }
  bool fail(const std::string& code, const std::string& message) { return end(State::Failed, nullptr, code, message); }
  bool cancel(const std::string& why) { return end(State::Failed, nullptr, "E_NATIVE", why); }

  // Queue task: waits for the end, then copies the bytes to `dst` (true) or gives the error (false).
  bool wait_into(char* dst, std::string& code, std::string& message) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [this] { return state_ != State::Waiting; });
    if (state_ == State::Failed) {
      code = code_;
      message = message_;
      return false;
    }
    if (nbytes_) std::memcpy(dst, bytes_->data(), nbytes_);
    bytes_.reset();
    return true;
  }

 private:
  enum class State { Waiting, Landed, Failed };
  bool end(State s, std::shared_ptr<HostBuffer> bytes, const std::string& code, const std::string& message) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (state_ != State::Waiting) return false;
      state_ = s;
      bytes_ = std::move(bytes);
      code_ = code;
      message_ = message;
    }
    cv_.notify_all();
    return true;
  }

  const size_t nbytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::Waiting;
  std::shared_ptr<HostBuffer> bytes_;
  std::string code_, message_;
};

}  // namespace kiln
