// Shared by the CUDA matmul kernels: the problem as a kernel argument, the batch walk and the
// epilogue. Y[..., M, N] = alpha * A[..., M, K] @ B[..., K, N] + beta * C[..., M, N] (C optional,
// used only when beta != 0, like the CPU, so a NaN in an unused C never shows). Every operand is a
// strided view: element (i, j) of a matrix sits at ptr + i * rs + j * cs, and batch entry z at the
// offsets that batch.offsets(z) gives for {A, B, C, Y}.
#pragma once
#include "common.cuh"

namespace kiln {
namespace cuda {

struct GemmArgs {
  const char* a;
  const char* b;
  const char* c;  // null when unused
  char* y;
  int64_t M, N, K;
  int64_t sam, sak, sbk, sbn, scm, scn, sym, syn;  // row / column strides, in elements
  Geometry<4> batch;                               // batch dims, strides {A, B, C, Y}
  double alpha, beta;
};

GemmArgs gemm_args(const KernelArgs& a);

// Batch entries go along gridDim.z and row tiles along gridDim.y, at most 65535 of each per pass;
// a kernel walks the (batch entry, row tile) pairs past those in a loop (KILN_TILE_PAIRS).
inline unsigned batch_grid(int64_t n) { return (unsigned)(n < 65535 ? (n < 1 ? 1 : n) : 65535); }

// The (batch entry, row tile) pairs of a [batch, ceil(M / BM)] space, block (y, z) taking pair
// w = z * gridDim.y + y first, then every gridDim.y * gridDim.z-th: with at most 65535 entries and
// row tiles, pair (blockIdx.z, blockIdx.y) alone.
#define KILN_TILE_PAIRS(z, m0, p, BM)                                                                          \
  for (int64_t w_ = (int64_t)blockIdx.z * gridDim.y + blockIdx.y, mt_ = ((p).M + (BM) - 1) / (BM),             \
               z = w_ / mt_, m0 = w_ % mt_ * (BM);                                                              \
       w_ < (p).batch.n * mt_;                                                                                  \
       w_ += (int64_t)gridDim.y * gridDim.z, z = w_ / mt_, m0 = w_ % mt_ * (BM))

// y(i, j) = alpha * acc + beta * c(i, j), rounded once into T. Acc is float for float types and the
// unsigned integer of T's width for integers (wrapping arithmetic, like the CPU).
template <typename T, typename Acc>
__device__ __forceinline__ void gemm_store(const GemmArgs& p, const int64_t (&off)[4], int64_t i, int64_t j, Acc acc) {
  if (i >= p.M || j >= p.N) return;
  const T* c = reinterpret_cast<const T*>(p.c);
  T* y = reinterpret_cast<T*>(p.y) + off[3] + i * p.sym + j * p.syn;
  if constexpr (std::is_floating_point<Acc>::value) {
    float v = (float)p.alpha * acc;
    if (c) v += (float)p.beta * dload(c + off[2] + i * p.scm + j * p.scn);
    dstore(y, v);
  } else {
    // alpha and beta are integers below 2^63 in magnitude (the CPU check); through int64 they wrap
    // into Acc (a direct double -> int32 conversion of 2^31 or more is undefined, saturating here).
    Acc v = (Acc)(int64_t)p.alpha * acc;
    if (c) v += (Acc)(int64_t)p.beta * (Acc)dload(c + off[2] + i * p.scm + j * p.scn);
    *y = (T)v;
  }
}

void matmul_simt(const GemmArgs& p, DType t, const Stream& s);
void matmul_mma(const GemmArgs& p, DType t, bool tf32, const Stream& s);
bool mma_compiled(const Stream& s);  // this build has sm_80+ code of the mma kernels for s's device
bool wgmma_compiled(const Stream& s);  // s's device is sm_90 and this build has the sm_90a wgmma kernel

}  // namespace cuda
}  // namespace kiln
