// NCCL, loaded at run time with dlopen (never linked): a build and a host without NCCL still load the
// addon, and `kiln info` says why NCCL is absent. The N-API functions below return NCCL's result
// codes as numbers; src/distributed/nccl.ts turns every non-zero code into a KilnError carrying
// ncclGetErrorString. Collectives take raw device addresses and a cudaStream_t (as BigInts), so the
// CUDA backend that owns buffers and streams stays the only code that knows them.
#pragma once
#include <napi.h>

namespace kiln {
namespace nccl_api {

// Communicators are nonblocking from NCCL 2.27 on (ncclConfig_t.blocking = 0; why not earlier: nccl.cc): init,
// each call and finalize then run on NCCL's own threads and return ncclInProgress; `settle` waits,
// bounded, until NCCL has enqueued a call, and `asyncError` polls init and finalize from JS timers, so
// a lost peer can always be aborted (ncclCommAbort) and no call blocks a thread past its deadline.
// Each entry: a function exported to JS as addon.nccl.<name> (addon.cc wraps each in its error guard).
#define KILN_NCCL_FUNCTIONS(X) \
  X(load)                      \
  X(errorString)               \
  X(uniqueId)                  \
  X(commInitRank)              \
  X(commInitAll)               \
  X(groupStart)                \
  X(groupEnd)                  \
  X(allReduce)                 \
  X(broadcast)                 \
  X(reduce)                    \
  X(allGather)                 \
  X(reduceScatter)             \
  X(send)                      \
  X(recv)                      \
  X(asyncError)                \
  X(settle)                    \
  X(finalize)                  \
  X(abort)                     \
  X(destroy)

#define KILN_NCCL_DECLARE(name) Napi::Value name(const Napi::CallbackInfo& info);
KILN_NCCL_FUNCTIONS(KILN_NCCL_DECLARE)
#undef KILN_NCCL_DECLARE

}  // namespace nccl_api
}  // namespace kiln
