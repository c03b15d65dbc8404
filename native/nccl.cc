// The NCCL binding: our own declarations of the few NCCL entry points Kiln calls (ABI facts from
// nccl.h: ncclUniqueId is 128 opaque bytes passed by value, ncclComm_t an opaque pointer, enums
// int-sized), resolved with dlsym from the first library in the search list that loads.
#include "nccl.h"

#include <dlfcn.h>

#include <cstring>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "error.h"

#ifdef KILN_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace kiln {
namespace {

using Result = int;   // ncclResult_t; 0 is ncclSuccess
using Comm = void*;   // ncclComm_t
using Stream = void*; // cudaStream_t
struct UniqueId {
  char internal[128];  // NCCL_UNIQUE_ID_BYTES
};
constexpr Result kInProgress = 7;  // ncclInProgress

// ncclConfig_t as NCCL 2.14 first defined it (ncclConfig_v21400). Later NCCLs read `size` bytes of it
// and, for a config whose `version` is older than a field, keep that field's default, so this prefix
// asks for a nonblocking communicator and leaves every other setting at NCCL's default.
struct ConfigV21400 {
  size_t size;
  unsigned int magic;    // NCCL_API_MAGIC
  unsigned int version;  // NCCL_VERSION(2, 14, 0)
  int blocking;
};
static_assert(offsetof(ConfigV21400, magic) == 8 && offsetof(ConfigV21400, version) == 12 &&
                  offsetof(ConfigV21400, blocking) == 16 && sizeof(ConfigV21400) == 24,
              "ncclConfig_v21400 layout");
constexpr ConfigV21400 kNonblocking{sizeof(ConfigV21400), 0xcafebeefu, 21400u, 0};
// NCCL has nonblocking communicators since 2.14, but before 2.27 a nonblocking init's group job lived
// in thread-local state of the thread that called it (here a shared libuv worker, free again at
// once): a second init on that thread could race the first, and before 2.19 an abort from another
// thread (the JS thread's watchdog) freed the communicator under the init thread. Kiln asks for
// nonblocking communicators from 2.27 on, where group jobs are per group and any thread may abort.
constexpr int kNonblockingSince = 22700;

struct Api {
  Result (*GetVersion)(int*);
  Result (*GetUniqueId)(UniqueId*);
  Result (*CommInitRank)(Comm*, int, UniqueId, int);
  Result (*CommInitRankConfig)(Comm*, int, UniqueId, int, ConfigV21400*);  // 2.14+, else null
  Result (*CommFinalize)(Comm);                                            // 2.14+, else null
  Result (*CommInitAll)(Comm*, int, const int*);
  Result (*GroupStart)();
  Result (*GroupEnd)();
  Result (*AllReduce)(const void*, void*, size_t, int, int, Comm, Stream);
  Result (*Broadcast)(const void*, void*, size_t, int, int, Comm, Stream);
  Result (*Reduce)(const void*, void*, size_t, int, int, int, Comm, Stream);
  Result (*AllGather)(const void*, void*, size_t, int, Comm, Stream);
  Result (*ReduceScatter)(const void*, void*, size_t, int, int, Comm, Stream);
  Result (*Send)(const void*, size_t, int, int, Comm, Stream);
  Result (*Recv)(void*, size_t, int, int, Comm, Stream);
  Result (*CommGetAsyncError)(Comm, Result*);
  Result (*CommAbort)(Comm);
  Result (*CommDestroy)(Comm);
  const char* (*GetErrorString)(Result);
};

std::mutex g_mu;
Api g_api{};
bool g_loaded = false;
std::string g_path;

template <typename F>
bool bind(void* lib, const char* name, F& slot, std::string& missing) {
  slot = reinterpret_cast<F>(dlsym(lib, name));
  if (!slot) missing += missing.empty() ? name : std::string(", ") + name;
  return slot != nullptr;
}

// Tries one path; on success fills g_api. Returns an empty string or why it failed.
std::string try_load(const std::string& path) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    return e ? e : "dlopen failed";
  }
  Api a{};
  std::string missing;
  bind(lib, "ncclGetVersion", a.GetVersion, missing);
  bind(lib, "ncclGetUniqueId", a.GetUniqueId, missing);
  bind(lib, "ncclCommInitRank", a.CommInitRank, missing);
  bind(lib, "ncclCommInitAll", a.CommInitAll, missing);
  bind(lib, "ncclGroupStart", a.GroupStart, missing);
  bind(lib, "ncclGroupEnd", a.GroupEnd, missing);
  bind(lib, "ncclAllReduce", a.AllReduce, missing);
  bind(lib, "ncclBroadcast", a.Broadcast, missing);
  bind(lib, "ncclReduce", a.Reduce, missing);
  bind(lib, "ncclAllGather", a.AllGather, missing);
  bind(lib, "ncclReduceScatter", a.ReduceScatter, missing);
  bind(lib, "ncclSend", a.Send, missing);
  bind(lib, "ncclRecv", a.Recv, missing);
  bind(lib, "ncclCommGetAsyncError", a.CommGetAsyncError, missing);
  bind(lib, "ncclCommAbort", a.CommAbort, missing);
  bind(lib, "ncclCommDestroy", a.CommDestroy, missing);
  bind(lib, "ncclGetErrorString", a.GetErrorString, missing);
  // Nonblocking communicators (kNonblockingSince and newer): both entry points, else calls block.
  a.CommInitRankConfig = reinterpret_cast<decltype(a.CommInitRankConfig)>(dlsym(lib, "ncclCommInitRankConfig"));
  a.CommFinalize = reinterpret_cast<decltype(a.CommFinalize)>(dlsym(lib, "ncclCommFinalize"));
  int version = 0;
  if (a.GetVersion) a.GetVersion(&version);
  if (!a.CommInitRankConfig || !a.CommFinalize || version < kNonblockingSince) a.CommInitRankConfig = nullptr, a.CommFinalize = nullptr;
  if (!missing.empty()) {
    dlclose(lib);
    return "missing symbols " + missing + " (NCCL older than 2.7?)";
  }
  g_api = a;
  g_loaded = true;
  g_path = path;
  return "";
}

const Api& api() {
  if (!g_loaded) fail("E_UNSUPPORTED", "NCCL is not loaded");
  return g_api;
}

// ---- argument helpers ----------------------------------------------------------------------------

struct CommBox {
  Comm comm = nullptr;
};

Comm comm_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsExternal()) fail("E_ARGUMENT", "nccl: expected a communicator handle");
  CommBox* b = info[i].As<Napi::External<CommBox>>().Data();
  if (!b->comm) fail("E_DISPOSED", "nccl: the communicator was destroyed or aborted");
  return b->comm;
}

int int_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) fail("E_ARGUMENT", "nccl: expected an integer argument");
  return info[i].As<Napi::Number>().Int32Value();
}

size_t count_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) fail("E_ARGUMENT", "nccl: expected an element count");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < 0 || d != (double)(int64_t)d) fail("E_ARGUMENT", "nccl: invalid element count");
  return (size_t)d;
}

// Device addresses and streams cross the boundary as BigInts (a 64-bit address does not fit a double).
void* ptr_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsBigInt()) fail("E_ARGUMENT", "nccl: expected a device address or stream as a BigInt");
  bool lossless = true;
  uint64_t v = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) fail("E_ARGUMENT", "nccl: address does not fit 64 bits");
  return reinterpret_cast<void*>(static_cast<uintptr_t>(v));
}

Napi::Value result(Napi::Env env, Result r) { return Napi::Number::New(env, r); }

Napi::Value comm_handle(Napi::Env env, Comm c) {
  // A communicator that JS drops without destroy() is aborted rather than leaked or left hanging.
  return Napi::External<CommBox>::New(env, new CommBox{c}, [](Napi::Env, CommBox* b) {
    if (b->comm && g_loaded) g_api.CommAbort(b->comm);
    delete b;
  });
}

void set_device(int device) {
#ifdef KILN_WITH_CUDA
  cudaError_t e = cudaSetDevice(device);
  if (e != cudaSuccess) fail("E_DEVICE", std::string("nccl: cudaSetDevice(") + std::to_string(device) + "): " + cudaGetErrorString(e));
#else
  (void)device;
  fail("E_UNSUPPORTED", "nccl: this build of Kiln has no CUDA (it was built without nvcc)");
#endif
}

// ncclCommInitRank runs on a libuv worker thread. A nonblocking init (NCCL 2.27+) returns at once with
// ncclInProgress and the communicator, which JS then polls (asyncError) and can abort; a blocking one
// (older NCCL, or NCCL_COMM_BLOCKING=1) returns once every rank has joined.
class InitRankWorker : public Napi::AsyncWorker {
 public:
  InitRankWorker(Napi::Env env, int nranks, UniqueId id, int rank, int device)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), nranks_(nranks), id_(id), rank_(rank), device_(device) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      set_device(device_);
      if (g_api.CommInitRankConfig) {
        ConfigV21400 config = kNonblocking;  // NCCL copies it before returning
        result_ = g_api.CommInitRankConfig(&comm_, nranks_, id_, rank_, &config);
      } else {
        result_ = g_api.CommInitRank(&comm_, nranks_, id_, rank_);
      }
      // a failed nonblocking init may still have made the communicator: free it, it is never returned
      if (result_ != 0 && result_ != kInProgress && comm_) g_api.CommAbort(comm_), comm_ = nullptr;
    } catch (const Error& e) {
      code_ = e.code();
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    auto o = Napi::Object::New(env);
    o.Set("result", result(env, result_));
    if (comm_) o.Set("comm", comm_handle(env, comm_));
    deferred_.Resolve(o);
  }
  // The code (E_DEVICE, E_UNSUPPORTED from set_device) travels with the message; nccl-group.ts
  // turns an error carrying a code into a KilnError.
  void OnError(const Napi::Error& e) override {
    Napi::Error err = Napi::Error::New(Env(), e.Message());
    err.Set("code", Napi::String::New(Env(), code_.empty() ? "E_NATIVE" : code_));
    deferred_.Reject(err.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  int nranks_;
  UniqueId id_;
  int rank_, device_;
  Comm comm_ = nullptr;
  Result result_ = 0;
  std::string code_;
};

}  // namespace

namespace nccl_api {

// load(paths: string[]) -> { path, version } | { error }: the first path that loads wins, once per process.
Napi::Value load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) fail("E_ARGUMENT", "nccl.load(paths: string[])");
  std::lock_guard<std::mutex> lk(g_mu);
  auto out = Napi::Object::New(env);
  std::string tried;
  auto paths = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < paths.Length() && !g_loaded; ++i) {
    std::string p = paths.Get(i).As<Napi::String>().Utf8Value();
    std::string why = try_load(p);
    if (!why.empty()) tried += (tried.empty() ? "" : "; ") + p + " (" + why + ")";
  }
  if (!g_loaded) {
    out.Set("error", "libnccl could not be loaded; tried " + tried);
    return out;
  }
  int v = 0;
  g_api.GetVersion(&v);
  out.Set("path", g_path);
  out.Set("version", Napi::Number::New(env, v));
  out.Set("nonblocking", Napi::Boolean::New(env, g_api.CommInitRankConfig != nullptr));
  return out;
}

Napi::Value errorString(const Napi::CallbackInfo& info) {
  int r = int_arg(info, 0);
  const char* s = g_loaded ? g_api.GetErrorString(r) : nullptr;
  return Napi::String::New(info.Env(), s ? s : "unknown NCCL result");
}

Napi::Value uniqueId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  UniqueId id{};
  Result r = api().GetUniqueId(&id);
  auto o = Napi::Object::New(env);
  o.Set("result", result(env, r));
  if (r == 0) {
    auto bytes = Napi::Uint8Array::New(env, sizeof id.internal);
    std::memcpy(bytes.Data(), id.internal, sizeof id.internal);
    o.Set("id", bytes);
  }
  return o;
}

// commInitRank(nranks, id: Uint8Array(128), rank, device) -> Promise<{ result, comm? }>
Napi::Value commInitRank(const Napi::CallbackInfo& info) {
  api();
  int nranks = int_arg(info, 0), rank = int_arg(info, 2), device = int_arg(info, 3);
  if (!info[1].IsTypedArray() || info[1].As<Napi::Uint8Array>().ByteLength() != sizeof(UniqueId::internal))
    fail("E_ARGUMENT", "nccl.commInitRank: the unique id must be 128 bytes");
  UniqueId id{};
  std::memcpy(id.internal, info[1].As<Napi::Uint8Array>().Data(), sizeof id.internal);
  auto* w = new InitRankWorker(info.Env(), nranks, id, rank, device);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// commInitAll(devices: number[]) -> { result, comms?: handle[] }: one process driving several GPUs.
Napi::Value commInitAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) fail("E_ARGUMENT", "nccl.commInitAll(devices: number[])");
  auto a = info[0].As<Napi::Array>();
  std::vector<int> devs(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) devs[i] = a.Get(i).As<Napi::Number>().Int32Value();
  std::vector<Comm> comms(devs.size(), nullptr);
  Result r = api().CommInitAll(comms.data(), (int)devs.size(), devs.data());
  auto o = Napi::Object::New(env);
  o.Set("result", result(env, r));
  if (r == 0) {
    auto arr = Napi::Array::New(env, comms.size());
    for (size_t i = 0; i < comms.size(); ++i) arr.Set(i, comm_handle(env, comms[i]));
    o.Set("comms", arr);
  }
  return o;
}

Napi::Value groupStart(const Napi::CallbackInfo& info) { return result(info.Env(), api().GroupStart()); }
Napi::Value groupEnd(const Napi::CallbackInfo& info) { return result(info.Env(), api().GroupEnd()); }

// allReduce(comm, send, recv, count, dtype, op, stream)
Napi::Value allReduce(const Napi::CallbackInfo& info) {
  return result(info.Env(), api().AllReduce(ptr_arg(info, 1), ptr_arg(info, 2), count_arg(info, 3), int_arg(info, 4), int_arg(info, 5), comm_arg(info, 0), ptr_arg(info, 6)));
}
// broadcast(comm, send, recv, count, dtype, root, stream)
Napi::Value broadcast(const Napi::CallbackInfo& info) {
  return result(info.Env(), api().Broadcast(ptr_arg(info, 1), ptr_arg(info, 2), count_arg(info, 3), int_arg(info, 4), int_arg(info, 5), comm_arg(info, 0), ptr_arg(info, 6)));
}
// reduce(comm, send, recv, count, dtype, op, root, stream)
Napi::Value reduce(const Napi::CallbackInfo& info) {
  return result(info.Env(), api().Reduce(ptr_arg(info, 1), ptr_arg(info, 2), count_arg(info, 3), int_arg(info, 4), int_arg(info, 5), int_arg(info, 6), comm_arg(info, 0), ptr_arg(info, 7)));
}
// allGather(comm, send, recv, sendcount, dtype, stream)
Napi::Value allGather(const Napi::CallbackInfo& info) {
  return result(info.Env(), api().AllGather(ptr_arg(info, 1), ptr_arg(info, 2), count_arg(info, 3), int_arg(info, 4), comm_arg(info, 0), ptr_arg(info, 5)));
}
// reduceScatter(comm, send, recv, recvcount, dtype, op, stream)
Napi::Value reduceScatter(const Napi::CallbackInfo& info) {
  return result(info.Env(), api().ReduceScatter(ptr_arg(info, 1), ptr_arg(info, 2), count_arg(info, 3), int_arg(info, 4), int_arg(info, 5), comm_arg(info, 0), ptr_arg(info, 6)));
}
// send(comm, buf, count, dtype, peer, stream)
Napi::Value send(const Napi::CallbackInfo& info) {
  return result(info.Env(), api().Send(ptr_arg(info, 1), count_arg(info, 2), int_arg(info, 3), int_arg(info, 4), comm_arg(info, 0), ptr_arg(info, 5)));
}
// recv(comm, buf, count, dtype, peer, stream)
Napi::Value recv(const Napi::CallbackInfo& info) {
  return result(info.Env(), api().Recv(ptr_arg(info, 1), count_arg(info, 2), int_arg(info, 3), int_arg(info, 4), comm_arg(info, 0), ptr_arg(info, 5)));
}

// asyncError(comm) -> the communicator's asynchronous error (0 while healthy)
Napi::Value asyncError(const Napi::CallbackInfo& info) {
  Result async = 0;
  Result r = api().CommGetAsyncError(comm_arg(info, 0), &async);
  return result(info.Env(), r != 0 ? r : async);
}

// settle(comm, timeoutMs) -> the communicator's state once it is no longer ncclInProgress (0 once NCCL has
// enqueued the last call on its stream), or ncclInProgress if the deadline came first. It waits on the
// calling (JS) thread, so that the next kernel Kiln launches on the stream lands after NCCL's: a few
// yields first (an enqueue takes tens of microseconds), then sleeps of up to a millisecond.
Napi::Value settle(const Napi::CallbackInfo& info) {
  Comm c = comm_arg(info, 0);
  if (info.Length() < 2 || !info[1].IsNumber()) fail("E_ARGUMENT", "nccl.settle(comm, timeoutMs)");
  const double ms = info[1].As<Napi::Number>().DoubleValue();
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::microseconds((int64_t)(ms > 0 ? ms * 1000 : 0));
  auto nap = std::chrono::microseconds(20);
  for (int polls = 0;; ++polls) {
    Result state = 0;
    Result r = api().CommGetAsyncError(c, &state);
    if (r != 0) return result(info.Env(), r);
    if (state != kInProgress || clock::now() >= deadline) return result(info.Env(), state);
    if (polls < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(nap);
      if (nap < std::chrono::milliseconds(1)) nap *= 2;
    }
  }
}

// finalize(comm) -> ncclCommFinalize's result (ncclInProgress while a nonblocking one flushes): the
// communicator's outstanding work completes before destroy(). 0 at once where NCCL has no finalize.
Napi::Value finalize(const Napi::CallbackInfo& info) {
  Comm c = comm_arg(info, 0);
  return result(info.Env(), api().CommFinalize ? g_api.CommFinalize(c) : 0);
}

// abort(comm) and destroy(comm): the handle is dead afterwards either way.
Napi::Value abort(const Napi::CallbackInfo& info) {
  Comm c = comm_arg(info, 0);
  info[0].As<Napi::External<CommBox>>().Data()->comm = nullptr;
  return result(info.Env(), api().CommAbort(c));
}
Napi::Value destroy(const Napi::CallbackInfo& info) {
  Comm c = comm_arg(info, 0);
  info[0].As<Napi::External<CommBox>>().Data()->comm = nullptr;
  return result(info.Env(), api().CommDestroy(c));
}

}  // namespace nccl_api
}  // namespace kiln
