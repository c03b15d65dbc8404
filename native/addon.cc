// N-API glue: the only file that knows JavaScript. It turns JS views into kiln::View, enqueues work on
// the CPU queue, settles promises from the queue's workers through a thread-safe function, and turns
// every C++ exception into a JS KilnError with the same code (one guard: `guarded`).
// DESIGN.md's "nothing heavy runs on the JS thread", made exact for the CPU: while the queue is idle,
// writes, reads of up to 1 MiB, sync points and kernels predicted to take at most KILN_INLINE_US run
// or settle on the calling thread, as the queue would have run them; everything else is queued.
#include <napi.h>

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "buffer.h"
#include "cpu_info.h"
#include "cublaslt.h"
#include "cuda/runtime.h"
#include "cuda_probe.h"
#include "error.h"
#include "kernel.h"
#include "late_write.h"
#include "nccl.h"
#include "program.h"
#include "queue.h"
#include "reduce_bytes.h"
#include "shm.h"
#include "threadpool.h"
#include "vmath.h"

#ifndef KILN_BUILDER
#define KILN_BUILDER "unknown"
#endif
#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

namespace kiln {
namespace {

// ---- completions: queue worker -> JS thread --------------------------------------------------------

struct Completion {
  Napi::Promise::Deferred deferred;
  std::unique_ptr<Napi::Reference<Napi::Value>> keep;  // the destination array, alive until settled
  std::string error_code, error_message;               // empty code = resolved
  double value = 0;                                    // resolved value for mark(); undefined otherwise
  bool has_value = false;
};

// One per JS environment. Closed at environment teardown; the queue's workers check under the mutex.
struct Channel {
  std::mutex mu;
  bool closed = false;
  Napi::ThreadSafeFunction tsfn;
  void post(Completion* c);
};

// A kernel error found on a queue worker waits here until the environment's next sync point.
// Data faults (src/faults.ts) wait here too, apart: a launch tagged with a fault id reports the
// E_INDEX it finds under that id instead of in the error word, and `reached` is the last tagged launch
// that has run; takeFaults() hands both to JS, which settles the faults.
struct FaultRecord {
  double id;
  std::string code, message;
};

struct ErrorSlot {
  std::mutex mu;
  std::string code, message;
  std::vector<FaultRecord> faults;
  double reached = 0;
  void set(const std::string& c, const std::string& m) {
    std::lock_guard<std::mutex> lk(mu);
    if (code.empty()) { code = c; message = m; }
  }
  void fault(double id, const std::string& c, const std::string& m) {
    std::lock_guard<std::mutex> lk(mu);
    faults.push_back({id, c, m});
  }
  void reach(double id) {
    std::lock_guard<std::mutex> lk(mu);
    reached = std::max(reached, id);
  }
  bool take(std::string& c, std::string& m) {
    std::lock_guard<std::mutex> lk(mu);
    if (code.empty()) return false;
    c = code; m = message; code.clear(); message.clear();
    return true;
  }
};

// The environment's late writes still waiting for their bytes: cancelled at teardown.
struct LateWrites {
  std::mutex mu;
  std::unordered_set<std::shared_ptr<LateWrite>> waiting;
  void add(const std::shared_ptr<LateWrite>& w) {
    std::lock_guard<std::mutex> lk(mu);
    waiting.insert(w);
  }
  void remove(const std::shared_ptr<LateWrite>& w) {
    std::lock_guard<std::mutex> lk(mu);
    waiting.erase(w);
  }
  void cancel_all(const std::string& why) {
    std::lock_guard<std::mutex> lk(mu);
    for (auto& w : waiting) w->cancel(why);
    waiting.clear();
  }
};

struct EnvData {
  Napi::FunctionReference error_class;
  std::shared_ptr<Channel> channel = std::make_shared<Channel>();
  std::shared_ptr<ErrorSlot> errors = std::make_shared<ErrorSlot>();
  std::shared_ptr<LateWrites> late = std::make_shared<LateWrites>();
  int pending = 0;  // unsettled promises; the tsfn keeps the loop alive only while > 0
};

EnvData* env_data(Napi::Env env) { return env.GetInstanceData<EnvData>(); }

Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message) {
  EnvData* d = env_data(env);
  if (d && !d->error_class.IsEmpty()) {
    Napi::Object e = d->error_class.New({Napi::String::New(env, code), Napi::String::New(env, message)});
    return Napi::Error(env, e);
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

void settle(Napi::Env env, Napi::Function, Completion* c) {
  std::unique_ptr<Completion> own(c);
  if (env == nullptr) return;  // environment gone
  if (c->error_code.empty())
    c->deferred.Resolve(c->has_value ? Napi::Number::New(env, c->value).As<Napi::Value>() : env.Undefined());
  else c->deferred.Reject(make_error(env, c->error_code, c->error_message).Value());
  EnvData* d = env_data(env);
  if (d && --d->pending == 0) d->channel->tsfn.Unref(env);
}

void Channel::post(Completion* c) {
  std::lock_guard<std::mutex> lk(mu);
  if (closed || tsfn.NonBlockingCall(c, settle) != napi_ok) delete c;  // its environment is gone
}

// Every exported function goes through here: C++ errors become KilnErrors, nothing escapes.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Error& e) {
    throw make_error(info.Env(), e.code(), e.what());
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw make_error(info.Env(), "E_OOM", "native allocation failed");
  } catch (const std::exception& e) {
    throw make_error(info.Env(), "E_NATIVE", e.what());
  }
}

// ---- buffers -------------------------------------------------------------------------------------

struct Handle {
  BufferPtr buf;
};

BufferPtr buffer_of(Napi::Value v) {
  if (!v.IsExternal()) fail("E_ARGUMENT", "expected a buffer handle");
  Handle* h = v.As<Napi::External<Handle>>().Data();
  if (!h->buf) fail("E_DISPOSED", "the buffer was freed");
  return h->buf;
}

double number_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) fail("E_ARGUMENT", std::string("expected a number for ") + what);
  return info[i].As<Napi::Number>().DoubleValue();
}

// A byte count argument: a non-negative integer a double holds exactly.
size_t byte_count_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  double n = number_arg(info, i, what);
  if (n < 0 || n > 9007199254740991.0 || n != (double)(int64_t)n)
    fail("E_ARGUMENT", std::string(what) + ": invalid byte count " + std::to_string(n));
  return (size_t)n;
}

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  auto* h = new Handle{std::make_shared<HostBuffer>(byte_count_arg(info, 0, "alloc"))};
  return Napi::External<Handle>::New(info.Env(), h, [](Napi::Env, Handle* p) { delete p; });
}

constexpr size_t kMaxExternalArray = size_t(1) << 32;

// hostArray(nbytes): an ArrayBuffer over fresh host memory (huge pages when large), freed when collected.
Napi::Value HostArray(const Napi::CallbackInfo& info) {
  const size_t n = byte_count_arg(info, 0, "hostArray");
  // Node refuses external ArrayBuffers past 4 GiB, and its failure path frees the memory twice.
  if (n > kMaxExternalArray)
    fail("E_ARGUMENT", "hostArray: " + std::to_string(n) + " bytes is more than one external ArrayBuffer holds (" + std::to_string(kMaxExternalArray) + ")");
  void* p = allocate_host(n, "hostArray");
  // V8 does not see memory it did not allocate: without this, collected-but-unswept arrays of
  // hundreds of MB piled up to GBs before a GC ran (measured: RSS grew by each array's size).
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), (int64_t)n);
  return Napi::ArrayBuffer::New(
      info.Env(), p, n,
      [](Napi::Env env, void* data, size_t* bytes) {
        std::free(data);
        Napi::MemoryManagement::AdjustExternalMemory(env, -(int64_t)*bytes);
        delete bytes;
      },
      new size_t(n));
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) fail("E_ARGUMENT", "free: expected a buffer handle");
  info[0].As<Napi::External<Handle>>().Data()->buf.reset();  // queued tasks still hold it
  return info.Env().Undefined();
}

struct Bytes {
  char* data;
  size_t size;
};

Bytes bytes_of(Napi::Value v, const char* what) {
  if (!v.IsTypedArray()) fail("E_ARGUMENT", std::string(what) + ": expected a typed array");
  auto ta = v.As<Napi::TypedArray>();
  auto ab = ta.ArrayBuffer();
  return Bytes{static_cast<char*>(ab.Data()) + ta.ByteOffset(), ta.ByteLength()};
}

void check_range(size_t size, double offset, size_t n, const char* what) {
  if (offset < 0 || offset != (double)(int64_t)offset || (size_t)offset + n > size)
    fail("E_ARGUMENT", std::string(what) + ": byte range [" + std::to_string((int64_t)offset) + ", +" +
                           std::to_string(n) + ") is outside a buffer of " + std::to_string(size) + " bytes");
}
void check_range(const BufferPtr& buf, double offset, size_t n, const char* what) { check_range(buf->size(), offset, n, what); }

Napi::Value Write(const Napi::CallbackInfo& info) {
  BufferPtr buf = buffer_of(info[0]);
  double offset = number_arg(info, 1, "offset");
  Bytes src = bytes_of(info[2], "write");
  check_range(buf, offset, src.size, "write");
  auto land = [buf, offset](const char* bytes, size_t n) {
    std::memcpy(buf->data() + (size_t)offset, bytes, n);
    buf->wrote();
  };
  // With nothing queued, the bytes land now (one copy). Otherwise the caller may reuse its array at
  // once, so they are staged (in a pooled host block, not fresh pages) and land in queue order.
  if (Queue::cpu().run_if_idle([&] { land(src.data, src.size); })) return info.Env().Undefined();
  auto staged = std::make_shared<HostBuffer>(src.size);
  std::memcpy(staged->data(), src.data, src.size);
  Queue::cpu().push([land, staged] { land(staged->data(), staged->size()); });
  return info.Env().Undefined();
}

// writeLater(buf, offset, nbytes): queues a write whose bytes the JS side delivers later through
// landLater(handle, bytes), or replaces with an error through failLater(handle, code, message) (the
// error of the next sync point). The queue waits for it in order; see late_write.h.
struct LateHandle {
  std::shared_ptr<LateWrite> write;
  std::shared_ptr<LateWrites> registry;
  void end() { registry->remove(write); }
};

Napi::Value WriteLater(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufferPtr buf = buffer_of(info[0]);
  double offset = number_arg(info, 1, "offset");
  size_t n = byte_count_arg(info, 2, "writeLater");
  check_range(buf, offset, n, "writeLater");
  EnvData* d = env_data(env);
  auto write = std::make_shared<LateWrite>(buf, (size_t)offset, n);
  auto errors = d->errors;
  d->late->add(write);
  Queue::cpu().push([buf, write, errors] {
    std::string code, message;
    if (write->wait(code, message)) buf->wrote();
    else errors->set(code, message);
  });
  return Napi::External<LateHandle>::New(env, new LateHandle{write, d->late}, [](Napi::Env, LateHandle* h) {
    h->write->cancel("a transfer's bytes were never delivered");
    h->end();
    delete h;
  });
}

LateHandle* late_handle(Napi::Value v) {
  if (!v.IsExternal()) fail("E_ARGUMENT", "expected a late-write handle");
  return v.As<Napi::External<LateHandle>>().Data();
}

Napi::Value LandLater(const Napi::CallbackInfo& info) {
  LateHandle* h = late_handle(info[0]);
  Bytes src = bytes_of(info[1], "landLater");
  if (src.size != h->write->size())
    fail("E_ARGUMENT", "landLater: expected " + std::to_string(h->write->size()) + " bytes, got " + std::to_string(src.size));
  h->write->land(src.data);
  h->end();
  return info.Env().Undefined();
}

Napi::Value FailLater(const Napi::CallbackInfo& info) {
  LateHandle* h = late_handle(info[0]);
  if (info.Length() < 3 || !info[1].IsString() || !info[2].IsString()) fail("E_ARGUMENT", "failLater: expected a code and a message");
  h->write->fail(info[1].As<Napi::String>(), info[2].As<Napi::String>());
  h->end();
  return info.Env().Undefined();
}

// A promise already resolved, or rejected with `code` (an error word taken by the caller).
Napi::Promise settled_now(Napi::Env env, const std::string& code, const std::string& message) {
  auto deferred = Napi::Promise::Deferred::New(env);
  if (code.empty()) deferred.Resolve(env.Undefined());
  else deferred.Reject(make_error(env, code, message).Value());
  return deferred.Promise();
}

Napi::Value Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufferPtr buf = buffer_of(info[0]);
  double offset = number_arg(info, 1, "offset");
  Bytes dst = bytes_of(info[2], "read");
  check_range(buf, offset, dst.size, "read");
  EnvData* d = env_data(env);
  // With nothing queued, the bytes are final now: a small read copies them and settles at once (a
  // microtask), not through the queue thread and the event loop (tens of microseconds). A large one
  // stays on the queue thread, which copies while the JS thread goes on.
  constexpr size_t kInlineReadBytes = 1 << 20;
  std::string code, message;
  if (dst.size <= kInlineReadBytes && Queue::cpu().run_if_idle([&] {
        if (!d->errors->take(code, message)) std::memcpy(dst.data, buf->data() + (size_t)offset, dst.size);
      }))
    return settled_now(env, code, message);
  auto* c = new Completion{Napi::Promise::Deferred::New(env), nullptr, "", ""};
  c->keep = std::make_unique<Napi::Reference<Napi::Value>>(Napi::Persistent(info[2]));
  Napi::Promise promise = c->deferred.Promise();
  if (d->pending++ == 0) d->channel->tsfn.Ref(env);
  auto channel = d->channel;
  auto errors = d->errors;
  Queue::cpu().push([buf, dst, offset, c, channel, errors] {
    if (!errors->take(c->error_code, c->error_message))
      std::memcpy(dst.data, buf->data() + (size_t)offset, dst.size);
    channel->post(c);
  });
  return promise;
}

// A promise settled when the queue reaches this point; with `timestamp`, it resolves with the queue
// thread's monotonic clock in milliseconds at that moment (the CPU device's timer).
Napi::Value Fence(const Napi::CallbackInfo& info, bool timestamp) {
  Napi::Env env = info.Env();
  EnvData* d = env_data(env);
  auto* c = new Completion{Napi::Promise::Deferred::New(env), nullptr, "", ""};
  Napi::Promise promise = c->deferred.Promise();
  if (d->pending++ == 0) d->channel->tsfn.Ref(env);
  auto channel = d->channel;
  auto errors = d->errors;
  Queue::cpu().push([c, channel, errors, timestamp] {
    if (!errors->take(c->error_code, c->error_message) && timestamp) {
      c->has_value = true;
      c->value = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
    }
    channel->post(c);
  });
  return promise;
}

// With nothing queued, every earlier task has run: the sync point is now (a microtask, not a trip
// through a worker and the event loop), and still reports the error word.
Napi::Value Sync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnvData* d = env_data(env);
  std::string code, message;
  if (!Queue::cpu().run_if_idle([&] { d->errors->take(code, message); })) return Fence(info, false);
  return settled_now(env, code, message);
}
Napi::Value Mark(const Napi::CallbackInfo& info) { return Fence(info, true); }

// ---- kernels -------------------------------------------------------------------------------------

// A view as a launch describes it: src/backends/cpu.ts packViews packs every view of a launch into
// one Float64Array [inputs, outputs, then per view: dtype, offset, rank, shape..., strides...], read
// here in one call (a property read per field cost ~2 us per view).
struct ViewDesc {
  DType dtype;
  int64_t offset;
  Dims shape, strides;
};

std::vector<ViewDesc> view_descs(const Napi::Value& v, size_t buffers, size_t& inputs) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    fail("E_ARGUMENT", "launch: expected a Float64Array view descriptor");
  auto a = v.As<Napi::Float64Array>();
  const double* d = a.Data();
  const size_t len = a.ElementLength();
  size_t at = 0;
  auto next = [&](const char* what) {
    if (at >= len) fail("E_ARGUMENT", std::string("launch: the view descriptor ends before ") + what);
    return d[at++];
  };
  auto count = [&](const char* what, double most) {
    const double x = next(what);
    if (!(x >= 0 && x <= most) || x != std::floor(x)) fail("E_ARGUMENT", std::string("launch: bad ") + what + " in the view descriptor");
    return (size_t)x;
  };
  inputs = count("input count", 1 << 16);
  const size_t outputs = count("output count", 1 << 16);
  if (inputs + outputs != buffers)
    fail("E_ARGUMENT", "launch: " + std::to_string(buffers) + " buffers for " + std::to_string(inputs + outputs) + " views");
  std::vector<ViewDesc> out(inputs + outputs);
  for (auto& vd : out) {
    const double dt = next("a dtype");
    if (!(dt >= 0 && dt < kNumDTypes) || dt != std::floor(dt)) fail("E_DTYPE", "unknown dtype code " + std::to_string(dt));
    vd.dtype = static_cast<DType>((int)dt);
    vd.offset = (int64_t)next("an offset");
    const size_t rank = count("rank (at most 16 dims)", 16);
    vd.shape.resize(rank);
    vd.strides.resize(rank);
    for (auto& e : vd.shape) e = (int64_t)next("a dimension");
    for (auto& e : vd.strides) e = (int64_t)next("a stride");
  }
  return out;
}

// The view `vd` of a `size`-byte buffer at `base` (host or device memory), once every element it can
// reach is proven to lie inside the buffer: a wrong view is an E_ARGUMENT here rather than a wild
// read on a queue worker or the GPU.
View bounded_view(const ViewDesc& vd, char* base, size_t size, size_t* reach = nullptr) {
  View view;
  view.dtype = vd.dtype;
  view.shape = vd.shape;
  view.strides = vd.strides;
  int64_t lo = vd.offset, hi = vd.offset;
  bool empty = false;
  for (size_t i = 0; i < view.shape.size(); ++i) {
    if (view.shape[i] < 0) fail("E_SHAPE", "negative dimension in a view");
    if (view.shape[i] == 0) empty = true;
    int64_t span = (view.shape[i] - 1) * view.strides[i];
    if (span < 0) lo += span; else hi += span;
  }
  int64_t isz = (int64_t)itemsize(view.dtype);
  if (!empty && (lo < 0 || (hi + 1) * isz > (int64_t)size))
    fail("E_ARGUMENT", "a view reaches outside its buffer (elements " + std::to_string(lo) + ".." + std::to_string(hi) +
                           " of a " + std::to_string(size) + "-byte buffer)");
  view.ptr = base + vd.offset * isz;
  if (reach) *reach = empty ? 0 : (size_t)((hi + 1) * isz);
  return view;
}

Attrs attrs_of(Napi::Value v) {
  Attrs attrs;
  if (v.IsUndefined() || v.IsNull()) return attrs;
  if (!v.IsObject()) fail("E_ARGUMENT", "attrs must be an object");
  auto o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    Napi::Value val = o.Get(k);
    AttrValue a;
    if (val.IsNumber()) a.number = val.As<Napi::Number>().DoubleValue();
    else if (val.IsBoolean()) a.number = val.As<Napi::Boolean>().Value() ? 1 : 0;
    else if (val.IsString()) { a.kind = AttrValue::String; a.str = val.As<Napi::String>().Utf8Value(); }
    else if (val.IsArray()) {
      a.kind = AttrValue::List;
      auto arr = val.As<Napi::Array>();
      for (uint32_t j = 0; j < arr.Length(); ++j) a.list.push_back(arr.Get(j).As<Napi::Number>().DoubleValue());
    } else if (val.IsUndefined() || val.IsNull()) continue;
    else fail("E_ARGUMENT", "attribute '" + k + "' has an unsupported type");
    attrs.values[k] = std::move(a);
  }
  return attrs;
}

// KILN_TRACE=1: one stderr line per CPU kernel, from the thread that ran it: its run time, whether it
// ran inline or how long it waited in the queue, and how long the queue sat idle before it (dispatch
// latency shows there).
bool trace_kernels() {
  static const bool on = [] {
    const char* e = std::getenv("KILN_TRACE");
    return e && *e && std::string(e) != "0";
  }();
  return on;
}

// Set while the JS thread runs a kernel inline (Launch), for the trace line.
thread_local bool running_inline = false;

void trace_kernel(const std::string& op, std::chrono::steady_clock::time_point queued, std::chrono::steady_clock::time_point start,
                  std::chrono::steady_clock::time_point end) {
  static std::chrono::steady_clock::time_point last_end;  // one dispatcher at a time (queue.cc orders them)
  const auto us = [](auto d) { return std::chrono::duration<double, std::micro>(d).count(); };
  std::fprintf(stderr, "kiln trace: %s %.1f us (%s %.1f us, queue idle %.1f us before)\n", op.c_str(), us(end - start),
               running_inline ? "inline on the JS thread, launched" : "queued", us(start - queued),
               last_end.time_since_epoch().count() ? us(start - last_end) : 0.0);
  last_end = end;
}

// KILN_INLINE_US: a kernel estimated (kernel.h KernelCost) to run within this many microseconds on
// one thread runs on the calling (JS) thread when the queue is idle. Default 20; 0 queues everything.
double inline_budget_ns() {
  static const double ns = [] {
    const char* e = std::getenv("KILN_INLINE_US");
    return 1000.0 * (e && *e ? std::max(0.0, std::atof(e)) : 20.0);
  }();
  return ns;
}

// A queue task's error handling: whatever `f` throws lands in the error word, which the next sync
// point reports; except an index out of range in a launch tagged with a fault id (> 0), which is
// that fault's (ErrorSlot).
template <class F> void reporting_errors(ErrorSlot& errors, const std::string& op, double fault, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    if (fault > 0 && e.code() == "E_INDEX") errors.fault(fault, e.code(), e.what());
    else errors.set(e.code(), e.what());
  } catch (const std::bad_alloc&) {
    errors.set("E_OOM", op + ": out of memory");
  } catch (const std::exception& e) {
    errors.set("E_NATIVE", op + ": " + e.what());
  }
  if (fault > 0) errors.reach(fault);
}

// The optional fault id argument of launch() and replay(): 0 when absent (untagged).
double fault_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return 0;
  const double id = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : -1;
  if (!(id >= 0 && id <= 9007199254740991.0) || id != std::floor(id)) fail("E_ARGUMENT", "expected a fault id (a whole number)");
  return id;
}

// takeFaults(): { reached, failed: [[id, code, message]...] } since the last call (see ErrorSlot).
Napi::Value TakeFaults(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ErrorSlot& slot = *env_data(env)->errors;
  std::vector<FaultRecord> failed;
  double reached;
  {
    std::lock_guard<std::mutex> lk(slot.mu);
    failed.swap(slot.faults);
    reached = slot.reached;
  }
  auto list = Napi::Array::New(env, failed.size());
  for (size_t i = 0; i < failed.size(); ++i) {
    auto r = Napi::Array::New(env, 3);
    r.Set(0u, Napi::Number::New(env, failed[i].id));
    r.Set(1u, Napi::String::New(env, failed[i].code));
    r.Set(2u, Napi::String::New(env, failed[i].message));
    list.Set(i, r);
  }
  auto o = Napi::Object::New(env);
  o.Set("reached", Napi::Number::New(env, reached));
  o.Set("failed", list);
  return o;
}

// After a kernel ran: its pace sample (kernel.h) and its trace line.
void kernel_ran(const std::string& op, const KernelEntry* k, double cost, std::chrono::steady_clock::time_point queued,
                std::chrono::steady_clock::time_point start, std::chrono::steady_clock::time_point end) {
  k->ran(cost, std::chrono::duration<double, std::nano>(end - start).count());
  if (trace_kernels()) trace_kernel(op, queued, start, end);
}

// Small work with nothing queued runs here and now, as a queue task would (same error word, same
// order: nothing else can start while it holds the queue), which spares it the two thread hand-offs
// (to a worker, and the sync point's back), 10-20 us each on the build VM. Everything else is queued.
void submit(std::function<void()> task, double predicted_ns) {
  if (predicted_ns <= inline_budget_ns()) {
    running_inline = true;
    const bool ran = Queue::cpu().run_if_idle(task);
    running_inline = false;
    if (ran) return;
  }
  Queue::cpu().push(std::move(task));
}

Napi::Value Launch(const Napi::CallbackInfo& info) {
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsArray())
    fail("E_ARGUMENT", "launch(op, buffers, viewDescriptor, attrs[, faultId])");
  std::string op = info[0].As<Napi::String>().Utf8Value();
  auto args = std::make_shared<KernelArgs>();
  auto keep = std::make_shared<std::vector<BufferPtr>>();
  auto written = std::make_shared<std::vector<BufferPtr>>();
  auto bufs = info[1].As<Napi::Array>();
  size_t inputs = 0;
  const std::vector<ViewDesc> descs = view_descs(info[2], bufs.Length(), inputs);
  for (size_t i = 0; i < descs.size(); ++i) {
    BufferPtr buf = buffer_of(bufs.Get((uint32_t)i));
    const View v = bounded_view(descs[i], buf->data(), buf->size());
    if (i < inputs) {
      args->in.push_back(v);
      args->in_buffers.push_back(buf.get());
    } else {
      args->out.push_back(v);
      written->push_back(buf);
    }
    keep->push_back(std::move(buf));
  }
  if (info.Length() > 3 && !info[3].IsUndefined()) args->attrs = attrs_of(info[3]);
  const double fault = fault_arg(info, 4);
  const KernelEntry* k = find_cpu_kernel(op);
  if (!k) fail("E_UNSUPPORTED", "the cpu backend has no op '" + op + "'");
  if (k->check) k->check(op, *args);
  auto errors = env_data(info.Env())->errors;
  const double cost = k->cost(*args);
  const auto queued = std::chrono::steady_clock::now();
  std::function<void()> task = [k, args, keep, written, errors, op, queued, cost, fault] {
    reporting_errors(*errors, op, fault, [&] {
      const auto start = std::chrono::steady_clock::now();
      k->run(*args);
      kernel_ran(op, k, cost, queued, start, std::chrono::steady_clock::now());
    });
    for (auto& b : *written) b->wrote();  // even after an error: the outputs may be half written
  };
  // An op's first run is always queued (its predicted time is infinite): it measures the op's pace.
  submit(std::move(task), k->predicted_ns(cost));
  return info.Env().Undefined();
}

// ---- recorded programs (program.h) ------------------------------------------------------------------

struct ProgramHandle {
  std::shared_ptr<Program> program;  // reset by freeProgram; queued replays hold their own reference
};

std::shared_ptr<Program> program_of(Napi::Value v) {
  if (!v.IsExternal()) fail("E_ARGUMENT", "expected a program handle");
  ProgramHandle* h = v.As<Napi::External<ProgramHandle>>().Data();
  if (!h->program) fail("E_DISPOSED", "the program was freed");
  return h->program;
}

// program(slots, handles, steps): slots is a Float64Array of [kind, bytes, arenaOffset] per slot
// (program.h SlotKind); handles[i] is the recorded buffer of a Constant, Input or Output slot; each
// step is {op, slots, desc, attrs} (a launch as launch() takes it, with a slot per view instead of a
// buffer) or {slot, offset, bytes} (a write). Every launch is checked here, as launch() checks it.
Napi::Value MakeProgram(const Napi::CallbackInfo& info) {
  if (info.Length() < 3 || !info[1].IsArray() || !info[2].IsArray()) fail("E_ARGUMENT", "program(slots, handles, steps)");
  auto prog = std::make_shared<Program>();
  Program& p = *prog;
  {
    Bytes raw = bytes_of(info[0], "program slots");
    const size_t n = raw.size / (3 * sizeof(double));
    const double* d = reinterpret_cast<const double*>(raw.data);
    auto handles = info[1].As<Napi::Array>();
    if (handles.Length() != n) fail("E_ARGUMENT", "program: one handle entry per slot");
    size_t arena_bytes = 0;
    for (size_t i = 0; i < n; ++i) {
      ProgramSlot slot;
      const double kind = d[3 * i], bytes = d[3 * i + 1], offset = d[3 * i + 2];
      if (!(kind >= 0 && kind <= 3) || kind != std::floor(kind) || !(bytes >= 0) || !(offset >= 0))
        fail("E_ARGUMENT", "program: bad slot " + std::to_string(i));
      slot.kind = (SlotKind)(int)kind;
      slot.bytes = (size_t)bytes;
      if (slot.kind == SlotKind::Arena) {
        slot.arena_offset = (size_t)offset;
        arena_bytes = std::max(arena_bytes, slot.arena_offset + slot.bytes);
      } else {
        BufferPtr buf = buffer_of(handles.Get((uint32_t)i));
        if (buf->size() < slot.bytes) fail("E_ARGUMENT", "program: slot " + std::to_string(i) + " is larger than its buffer");
        if (slot.kind == SlotKind::Constant) slot.constant = buf;
      }
      p.slots.push_back(std::move(slot));
    }
    p.arena = std::make_shared<HostBuffer>(arena_bytes);
  }
  // The recorded buffers' bases, for the checks (a kernel's check sees real pointers).
  std::vector<char*> bases(p.slots.size());
  auto handles = info[1].As<Napi::Array>();
  for (size_t i = 0; i < p.slots.size(); ++i)
    bases[i] = p.slots[i].kind == SlotKind::Arena ? p.arena->data() + p.slots[i].arena_offset : buffer_of(handles.Get((uint32_t)i))->data();
  const auto slot_at = [&](Napi::Value v) {
    const double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(x >= 0 && x < (double)p.slots.size()) || x != std::floor(x)) fail("E_ARGUMENT", "program: a step names a slot that does not exist");
    return (int)x;
  };
  const auto writable = [&](int slot) {
    const SlotKind k = p.slots[slot].kind;
    if (k == SlotKind::Constant || k == SlotKind::Input) fail("E_ARGUMENT", "program: a step writes a constant or an input");
  };
  auto steps = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < steps.Length(); ++i) {
    if (!steps.Get(i).IsObject()) fail("E_ARGUMENT", "program: each step must be an object");
    auto o = steps.Get(i).As<Napi::Object>();
    ProgramStep step;
    if (!o.Has("op")) {  // a write
      step.op = "write";
      step.write_slot = slot_at(o.Get("slot"));
      writable(step.write_slot);
      const double offset = o.Get("offset").IsNumber() ? o.Get("offset").As<Napi::Number>().DoubleValue() : -1;
      Bytes b = bytes_of(o.Get("bytes"), "program write");
      check_range(p.slots[step.write_slot].bytes, offset, b.size, "program write");
      step.write_offset = (int64_t)offset;
      step.bytes.assign(b.data, b.data + b.size);
      ProgramSlot& slot = p.slots[step.write_slot];
      slot.reach = std::max(slot.reach, (size_t)offset + b.size);
      p.steps.push_back(std::move(step));
      continue;
    }
    if (!o.Get("op").IsString() || !o.Get("slots").IsArray()) fail("E_ARGUMENT", "program: a launch step needs op and slots");
    step.op = o.Get("op").As<Napi::String>().Utf8Value();
    step.kernel = find_cpu_kernel(step.op);
    if (!step.kernel) fail("E_UNSUPPORTED", "the cpu backend has no op '" + step.op + "'");
    auto slots = o.Get("slots").As<Napi::Array>();
    size_t inputs = 0;
    const std::vector<ViewDesc> descs = view_descs(o.Get("desc"), slots.Length(), inputs);
    for (size_t v = 0; v < descs.size(); ++v) {
      const int slot = slot_at(slots.Get((uint32_t)v));
      if (v >= inputs) writable(slot);
      size_t reach = 0;
      const View view = bounded_view(descs[v], bases[slot], p.slots[slot].bytes, &reach);
      p.slots[slot].reach = std::max(p.slots[slot].reach, reach);
      step.slot_of.push_back(slot);
      step.byte_of.push_back(view.ptr - bases[slot]);
      if (v < inputs) {
        step.args.in.push_back(view);
        step.args.in_buffers.push_back(nullptr);  // set per run (Program::run)
      } else {
        step.args.out.push_back(view);
      }
    }
    step.args.attrs = attrs_of(o.Get("attrs"));
    if (step.kernel->check) step.kernel->check(step.op, step.args);
    step.cost = step.kernel->cost(step.args);
    p.steps.push_back(std::move(step));
  }
  auto* h = new ProgramHandle{std::move(prog)};
  return Napi::External<ProgramHandle>::New(info.Env(), h, [](Napi::Env, ProgramHandle* q) { delete q; });
}

Napi::Value FreeProgram(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) fail("E_ARGUMENT", "freeProgram: expected a program handle");
  info[0].As<Napi::External<ProgramHandle>>().Data()->program.reset();
  return info.Env().Undefined();
}

// replay(program, handles[, faultId]): one run of the program; handles[i] is this run's buffer for
// each Input and Output slot (anything for the others); an index out of range in any step is the
// fault's. One task: inline when the queue is idle and the kernels' predicted time fits
// KILN_INLINE_US, queued otherwise.
Napi::Value Replay(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[1].IsArray()) fail("E_ARGUMENT", "replay(program, handles)");
  std::shared_ptr<Program> prog = program_of(info[0]);
  auto handles = info[1].As<Napi::Array>();
  if (handles.Length() != prog->slots.size()) fail("E_ARGUMENT", "replay: one handle entry per slot");
  std::vector<char*> bases(prog->slots.size(), nullptr);
  std::vector<HostBuffer*> owners(prog->slots.size(), nullptr);
  auto keep = std::make_shared<std::vector<BufferPtr>>();
  std::vector<BufferPtr> written;
  for (size_t i = 0; i < prog->slots.size(); ++i) {
    const ProgramSlot& slot = prog->slots[i];
    if (slot.kind != SlotKind::Input && slot.kind != SlotKind::Output) continue;
    BufferPtr buf = buffer_of(handles.Get((uint32_t)i));
    if (buf->size() < slot.reach)
      fail("E_ARGUMENT", "replay: the buffer for slot " + std::to_string(i) + " has " + std::to_string(buf->size()) +
                             " bytes; the recorded run used " + std::to_string(slot.reach));
    bases[i] = buf->data();
    owners[i] = buf.get();
    if (slot.kind == SlotKind::Output) written.push_back(buf);
    keep->push_back(std::move(buf));
  }
  const double fault = fault_arg(info, 2);
  auto errors = env_data(info.Env())->errors;
  const auto queued = std::chrono::steady_clock::now();
  std::function<void()> task = [prog, bases, owners, keep, written, errors, queued, fault] {
    reporting_errors(*errors, "replay", fault, [&] {
      prog->run(bases, owners, [&](const ProgramStep& s, auto start, auto end) { kernel_ran(s.op, s.kernel, s.cost, queued, start, end); });
    });
    for (auto& b : written) b->wrote();
  };
  submit(std::move(task), prog->predicted_ns());
  return info.Env().Undefined();
}

Napi::Value HasKernel(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), info[0].IsString() && find_cpu_kernel(info[0].As<Napi::String>().Utf8Value()));
}

#include "cuda/addon_cuda.inc"  // the cuda* exports: same channel, guard and view parsing

// ---- introspection -------------------------------------------------------------------------------

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("builder", KILN_BUILDER);
  o.Set("version", KILN_VERSION);
#if defined(__clang__)
  o.Set("compiler", std::string("clang ") + __clang_version__);
#elif defined(__GNUC__)
  o.Set("compiler", std::string("gcc ") + __VERSION__);
#else
  o.Set("compiler", "unknown");
#endif
  o.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  o.Set("threads", Napi::Number::New(env, num_threads()));
  o.Set("cpuModel", cpu_model());
  auto feats = cpu_feature_names();
  auto fa = Napi::Array::New(env, feats.size());
  for (size_t i = 0; i < feats.size(); ++i) fa.Set(i, feats[i]);
  o.Set("cpuFeatures", fa);
  o.Set("cpuIsa", isa_name(cpu_isa()));
  auto names = cpu_kernel_names();
  auto ka = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) ka.Set(i, names[i]);
  o.Set("kernels", ka);
  CudaProbe p = cuda_probe();
  auto c = Napi::Object::New(env);
  c.Set("compiled", p.compiled);
  c.Set("runtimeVersion", p.runtime_version);
  c.Set("driverVersion", p.driver_version);
  c.Set("deviceCount", p.device_count);
  c.Set("reason", p.reason);
  o.Set("cuda", c);
  return o;
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("bytes", Napi::Number::New(info.Env(), (double)HostBuffer::live_bytes()));
  o.Set("buffers", Napi::Number::New(info.Env(), (double)HostBuffer::live_buffers()));
  o.Set("queued", Napi::Number::New(info.Env(), (double)Queue::cpu().pending()));
  o.Set("cap", Napi::Number::New(info.Env(), (double)HostBuffer::cap()));
  o.Set("available", Napi::Number::New(info.Env(), (double)host_memory_available()));
  return o;
}

// checkHostMemory(bytes, what): E_OOM when the host cannot hold `bytes` more (native/buffer.h).
Napi::Value CheckHostMemory(const Napi::CallbackInfo& info) {
  host_memory_check(byte_count_arg(info, 0, "checkHostMemory"), info[1].IsString() ? info[1].As<Napi::String>().Utf8Value().c_str() : "checkHostMemory");
  return info.Env().Undefined();
}

// setMemoryCap(bytes): caps the CPU device's live buffer bytes (0 removes the cap).
Napi::Value SetMemoryCap(const Napi::CallbackInfo& info) {
  HostBuffer::set_cap((int64_t)byte_count_arg(info, 0, "setMemoryCap"));
  return info.Env().Undefined();
}

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) fail("E_ARGUMENT", "setErrorClass expects a constructor");
  env_data(info.Env())->error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  set_num_threads((int)number_arg(info, 0, "threads"));
  return Napi::Number::New(info.Env(), num_threads());
}

// Node unloads an addon (dlclose) when the last environment that loaded it is torn down, e.g. a
// worker thread that was its only user exits. The device state is process-wide (the queue and
// pool threads, the CUDA runtime, caches) and outlives any one environment, so unloading the code
// under those threads would crash the process: the addon pins itself in memory once instead.
void pin_addon() {
  static const bool pinned = [] {
    Dl_info self{};
    return dladdr(reinterpret_cast<void*>(&pin_addon), &self) && self.dli_fname &&
           dlopen(self.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE) != nullptr;
  }();
  (void)pinned;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  pin_addon();
  auto* d = new EnvData();
  env.SetInstanceData<EnvData>(d);
  d->channel->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                                   "kiln-completions", 0, 1);
  d->channel->tsfn.Unref(env);
  // At teardown, let the queue finish anything that writes into this environment's arrays, then
  // close the channel so later completions are dropped instead of posted to a dead loop.
  env.AddCleanupHook([d] {
    d->late->cancel_all("the environment closed before a transfer's bytes arrived");
    Queue::cpu().drain();
    cuda::drain_all();
    std::lock_guard<std::mutex> lk(d->channel->mu);
    d->channel->closed = true;
    d->channel->tsfn.Release();
  });

  exports.Set("alloc", Napi::Function::New<guarded<Alloc>>(env, "alloc"));
  exports.Set("hostArrayMax", Napi::Number::New(env, (double)kMaxExternalArray));
  exports.Set("checkHostMemory", Napi::Function::New<guarded<CheckHostMemory>>(env, "checkHostMemory"));
  exports.Set("setMemoryCap", Napi::Function::New<guarded<SetMemoryCap>>(env, "setMemoryCap"));
  exports.Set("free", Napi::Function::New<guarded<Free>>(env, "free"));
  exports.Set("hostArray", Napi::Function::New<guarded<HostArray>>(env, "hostArray"));
  exports.Set("reduceInto", Napi::Function::New<guarded<ReduceInto>>(env, "reduceInto"));
  exports.Set("write", Napi::Function::New<guarded<Write>>(env, "write"));
  exports.Set("read", Napi::Function::New<guarded<Read>>(env, "read"));
  exports.Set("writeLater", Napi::Function::New<guarded<WriteLater>>(env, "writeLater"));
  exports.Set("landLater", Napi::Function::New<guarded<LandLater>>(env, "landLater"));
  exports.Set("failLater", Napi::Function::New<guarded<FailLater>>(env, "failLater"));
  exports.Set("sync", Napi::Function::New<guarded<Sync>>(env, "sync"));
  exports.Set("mark", Napi::Function::New<guarded<Mark>>(env, "mark"));
  exports.Set("launch", Napi::Function::New<guarded<Launch>>(env, "launch"));
  exports.Set("takeFaults", Napi::Function::New<guarded<TakeFaults>>(env, "takeFaults"));
  exports.Set("hasKernel", Napi::Function::New<guarded<HasKernel>>(env, "hasKernel"));
  exports.Set("program", Napi::Function::New<guarded<MakeProgram>>(env, "program"));
  exports.Set("freeProgram", Napi::Function::New<guarded<FreeProgram>>(env, "freeProgram"));
  exports.Set("replay", Napi::Function::New<guarded<Replay>>(env, "replay"));
  exports.Set("info", Napi::Function::New<guarded<Info>>(env, "info"));
  exports.Set("memory", Napi::Function::New<guarded<Memory>>(env, "memory"));
  exports.Set("setErrorClass", Napi::Function::New<guarded<SetErrorClass>>(env, "setErrorClass"));
  exports.Set("setNumThreads", Napi::Function::New<guarded<SetNumThreads>>(env, "setNumThreads"));
  auto nccl = Napi::Object::New(env);  // NCCL loaded at run time (native/nccl.h)
#define KILN_NCCL_EXPORT(name) nccl.Set(#name, Napi::Function::New<guarded<nccl_api::name>>(env, "nccl." #name));
  KILN_NCCL_FUNCTIONS(KILN_NCCL_EXPORT)
#undef KILN_NCCL_EXPORT
  exports.Set("nccl", nccl);
  auto shm = Napi::Object::New(env);  // POSIX shared memory for the CPU collectives (native/shm.h)
#define KILN_SHM_EXPORT(name) shm.Set(#name, Napi::Function::New<guarded<shm_api::name>>(env, "shm." #name));
  KILN_SHM_FUNCTIONS(KILN_SHM_EXPORT)
#undef KILN_SHM_EXPORT
  exports.Set("shm", shm);
  register_cuda_exports(env, exports);
  return exports;
}

}  // namespace
}  // namespace kiln

static Napi::Object InitKiln(Napi::Env env, Napi::Object exports) { return kiln::Init(env, exports); }
NODE_API_MODULE(kiln, InitKiln)
