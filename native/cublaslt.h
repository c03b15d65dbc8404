// cuBLASLt, loaded at run time with dlopen (never linked, never required). The few types and entry
// points Kiln uses are declared here (no cuBLAS header is guaranteed on the build host); values
// follow cublasLt.h / cublas_api.h / library_types.h of CUDA 12 and 13, whose ABI is stable.
// The search order is policy and lives in TypeScript (src/backends/cublas.ts): KILN_CUBLASLT_PATH,
// then libcublasLt.so.13 / .so.12 on the loader path, then python3's pip-wheel layout
// (site-packages/nvidia/cublas/lib); this file only tries the candidates it is given, in order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln {
namespace cublaslt {

using Status = int;  // cublasStatus_t: 0 = success
using Handle = void*;
using MatmulDesc = void*;
using Layout = void*;
using Preference = void*;

// cublasLtMatmulHeuristicResult_t: the algorithm (cublasLtMatmulAlgo_t, 8 x uint64), the workspace
// it needs, its status and waves count, then 4 reserved ints.
struct HeuristicResult {
  uint64_t algo[8];
  size_t workspace_size;
  Status state;
  float waves;
  int reserved[4];
};
static_assert(sizeof(HeuristicResult) == 96, "cublasLtMatmulHeuristicResult_t is 96 bytes");

// Enumerators Kiln passes (cublasComputeType_t, cudaDataType_t, attribute ids, cublasOperation_t).
enum : int {
  kCompute32F = 68,
  kCompute32FFastTF32 = 77,
  kR32F = 0,
  kR16F = 2,
  kR16BF = 14,
  kDescComputeType = 0,
  kDescScaleType = 1,
  kDescTransA = 3,
  kDescTransB = 4,
  kLayoutBatchCount = 5,
  kLayoutStridedBatchOffset = 6,
  kOpN = 0,
  kOpT = 1,
  kPrefMaxWorkspaceBytes = 1,  // cublasLtMatmulPreferenceAttributes_t: uint64_t
};

struct Api {
  std::string path;
  size_t version = 0;
  Status (*create)(Handle*) = nullptr;
  size_t (*get_version)() = nullptr;
  Status (*desc_create)(MatmulDesc*, int compute, int scale_type) = nullptr;
  Status (*desc_destroy)(MatmulDesc) = nullptr;
  Status (*desc_set)(MatmulDesc, int attr, const void* buf, size_t size) = nullptr;
  Status (*layout_create)(Layout*, int type, uint64_t rows, uint64_t cols, int64_t ld) = nullptr;
  Status (*layout_destroy)(Layout) = nullptr;
  Status (*layout_set)(Layout, int attr, const void* buf, size_t size) = nullptr;
  Status (*matmul)(Handle, MatmulDesc, const void* alpha, const void* a, Layout, const void* b, Layout, const void* beta,
                   const void* c, Layout, void* d, Layout, const void* algo, void* workspace, size_t workspace_size,
                   void* stream) = nullptr;
  // The heuristic query (what torch.matmul calls to pick an algorithm under a workspace limit).
  Status (*pref_create)(Preference*) = nullptr;
  Status (*pref_destroy)(Preference) = nullptr;
  Status (*pref_set)(Preference, int attr, const void* buf, size_t size) = nullptr;
  Status (*algo_get_heuristic)(Handle, MatmulDesc, Layout, Layout, Layout, Layout, Preference, int requested, HeuristicResult* results,
                               int* returned) = nullptr;
};

// Loads the first candidate that opens and has every entry point; remembers it for the process.
// Throws E_UNSUPPORTED naming every candidate and why it failed. Later calls return the loaded one.
const Api& load(const std::vector<std::string>& candidates);
// The loaded library, or null when load() has not succeeded yet.
const Api* loaded();

}  // namespace cublaslt
}  // namespace kiln
