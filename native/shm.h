// POSIX shared memory for the CPU collectives backend (src/distributed/shm-link.ts): a rank creates a
// segment, a peer on the same host maps it by name, and both see one ArrayBuffer over the same pages.
// Creation reserves every page up front (posix_fallocate), so a full /dev/shm is a KilnError here,
// never a SIGBUS on a later write. A mapping lives until its ArrayBuffer is collected.
#pragma once
#include <napi.h>

namespace kiln {
namespace shm_api {

// Each entry: a function exported to JS as addon.shm.<name> (addon.cc wraps each in its error guard).
#define KILN_SHM_FUNCTIONS(X) \
  X(create)                   \
  X(open)                     \
  X(unlink)

#define KILN_SHM_DECLARE(name) Napi::Value name(const Napi::CallbackInfo& info);
KILN_SHM_FUNCTIONS(KILN_SHM_DECLARE)
#undef KILN_SHM_DECLARE

}  // namespace shm_api
}  // namespace kiln
