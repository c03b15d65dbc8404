// dlopen of cuBLASLt (see cublaslt.h). Plain C++: builds without nvcc, so the search and its error
// are the same (and testable) on every build.
#include "cublaslt.h"

#include <dlfcn.h>

#include <memory>
#include <mutex>

#include "error.h"

namespace kiln {
namespace cublaslt {
namespace {

std::mutex g_mu;
Api* g_api = nullptr;

template <typename F> bool bind(void* lib, const char* name, F& fn, std::string& missing) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn) missing += std::string(missing.empty() ? "" : ", ") + name;
  return fn != nullptr;
}

}  // namespace

const Api& load(const std::vector<std::string>& candidates) {
  std::lock_guard<std::mutex> lk(g_mu);
  if (g_api) return *g_api;
  std::string tried;
  for (const auto& path : candidates) {
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* e = dlerror();
      tried += "\n  " + path + ": " + (e ? e : "dlopen failed");
      continue;
    }
    auto api = std::make_unique<Api>();
    std::string missing;
    bind(lib, "cublasLtCreate", api->create, missing);
    bind(lib, "cublasLtGetVersion", api->get_version, missing);
    bind(lib, "cublasLtMatmulDescCreate", api->desc_create, missing);
    bind(lib, "cublasLtMatmulDescDestroy", api->desc_destroy, missing);
    bind(lib, "cublasLtMatmulDescSetAttribute", api->desc_set, missing);
    bind(lib, "cublasLtMatrixLayoutCreate", api->layout_create, missing);
    bind(lib, "cublasLtMatrixLayoutDestroy", api->layout_destroy, missing);
    bind(lib, "cublasLtMatrixLayoutSetAttribute", api->layout_set, missing);
    bind(lib, "cublasLtMatmul", api->matmul, missing);
    bind(lib, "cublasLtMatmulPreferenceCreate", api->pref_create, missing);
    bind(lib, "cublasLtMatmulPreferenceDestroy", api->pref_destroy, missing);
    bind(lib, "cublasLtMatmulPreferenceSetAttribute", api->pref_set, missing);
    bind(lib, "cublasLtMatmulAlgoGetHeuristic", api->algo_get_heuristic, missing);
    if (!missing.empty()) {
      tried += "\n  " + path + ": opened, but lacks " + missing;
      dlclose(lib);
      continue;
    }
    api->path = path;
    api->version = api->get_version();
    g_api = api.release();  // kept for the life of the process, like the library
    return *g_api;
  }
  fail("E_UNSUPPORTED", "cuBLASLt (libcublasLt.so.13 or .so.12) was not found; set KILN_CUBLASLT_PATH to the library, "
                        "install it on the loader path, or `pip install nvidia-cublas-cu12`. Tried:" +
                            (tried.empty() ? std::string(" (no candidates)") : tried));
}

const Api* loaded() {
  std::lock_guard<std::mutex> lk(g_mu);
  return g_api;
}

}  // namespace cublaslt
}  // namespace kiln
