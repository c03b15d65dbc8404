// Element-wise reduction of raw tensor bytes into an accumulator, for the CPU collectives backend
// (see reduce_bytes.cc). Exported to JS as addon.reduceInto(dtype, op, acc, x).
#pragma once
#include <napi.h>

namespace kiln {

Napi::Value ReduceInto(const Napi::CallbackInfo& info);

}  // namespace kiln
