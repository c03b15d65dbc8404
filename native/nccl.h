// NCCL, loaded at run time with dlopen (never linked): a build and a host without NCCL still load the
// addon, and `kiln info` says why NCCL is absent. The N-API functions below return NCCL's result
// codes as numbers; src/distributed/nccl.ts turns every non-zero code into a KilnError carrying
// ncclGetErrorString. Collectives take raw device addresses and a cudaStream_t (as BigInts), so the
// CUDA backend that owns buffers and streams stays the only code that knows them.
#pragma once
#include <napi.h>

namespace kiln {
namespace nccl_api {

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
  X(abort)                     \
  X(destroy)

#define KILN_NCCL_DECLARE(name) Napi::Value name(const Napi::CallbackInfo& info);
KILN_NCCL_FUNCTIONS(KILN_NCCL_DECLARE)
#undef KILN_NCCL_DECLARE

}  // namespace nccl_api
}  // namespace kiln
