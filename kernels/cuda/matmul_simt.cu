// matmul_simt: the tiled CUDA-core matmul for every dtype and every architecture.
//   Y[BM x BN tile] per block of 256 threads, K in steps of BK through shared memory; each thread
//   accumulates a TM x TN sub-tile held in registers. A thread's rows are ty, ty + BM/TM, ... and
//   its columns tx, tx + BN/TN, ... (interleaved, not blocked), so a warp's shared-memory reads hit
//   distinct banks or broadcast, and its stores to Y are coalesced along N.
//   Tiles are loaded with any strides: consecutive threads walk the operand's unit-stride dim when
//   it has one (coalesced), zero-filling past the edges, so transposed and sliced operands need no
//   copy and odd shapes need no padding.
//   float32 / float16 / bfloat16: float accumulation (true float32: precision 'highest');
//   int32 / int64: wrapping unsigned arithmetic, int64 on a smaller tile (registers).
// Variants: <float, 128x128x8, 8x8 per thread> (the float path on any GPU, and float32 at
// precision 'highest'), <int64, 64x64x16, 4x4>. Bench alone: `kiln bench matmul --device cuda
// --dtype float32` with KILN_MATMUL_IMPL=simt (or impl: 'simt' on kiln.matmul).
#include "matmul.cuh"

namespace kiln {
namespace cuda {
namespace {

template <typename T, typename Acc, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__(256) gemm_simt(GemmArgs p) {
  static_assert((BM / TM) * (BN / TN) == 256, "256 threads per block");
  constexpr int RY = BM / TM, RX = BN / TN;  // thread grid
  __shared__ Acc As[BK][BM];
  __shared__ Acc Bs[BK][BN];
  const int tx = threadIdx.x % RX, ty = threadIdx.x / RX;
  const int64_t m0 = (int64_t)blockIdx.y * BM, n0 = (int64_t)blockIdx.x * BN;
  const T* A = reinterpret_cast<const T*>(p.a);
  const T* B = reinterpret_cast<const T*>(p.b);
  for (int64_t z = blockIdx.z; z < p.batch.n; z += gridDim.z) {
    int64_t off[4];
    p.batch.offsets(z, off);
    const T* a = A + off[0];
    const T* b = B + off[1];
    Acc acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = 0;
    for (int64_t k0 = 0; k0 < p.K; k0 += BK) {
      for (int e = threadIdx.x; e < BM * BK; e += 256) {
        int kk, mm;
        if (p.sak == 1) kk = e % BK, mm = e / BK;  // consecutive threads along K (row-major A)
        else mm = e % BM, kk = e / BM;             // along M (column-major A, a transposed view)
        const int64_t gm = m0 + mm, gk = k0 + kk;
        As[kk][mm] = (gm < p.M && gk < p.K) ? (Acc)dload(a + gm * p.sam + gk * p.sak) : Acc(0);
      }
      for (int e = threadIdx.x; e < BN * BK; e += 256) {
        int kk, nn;
        if (p.sbn == 1) nn = e % BN, kk = e / BN;  // along N (row-major B)
        else kk = e % BK, nn = e / BK;             // along K (column-major B)
        const int64_t gn = n0 + nn, gk = k0 + kk;
        Bs[kk][nn] = (gn < p.N && gk < p.K) ? (Acc)dload(b + gk * p.sbk + gn * p.sbn) : Acc(0);
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        Acc ra[TM], rb[TN];
#pragma unroll
        for (int i = 0; i < TM; ++i) ra[i] = As[kk][ty + i * RY];
#pragma unroll
        for (int j = 0; j < TN; ++j) rb[j] = Bs[kk][tx + j * RX];
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] += ra[i] * rb[j];
      }
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) gemm_store<T, Acc>(p, off, m0 + ty + i * RY, n0 + tx + j * RX, acc[i][j]);
  }
}

template <typename T, typename Acc, int BM, int BN, int BK, int TM, int TN>
void launch_simt(const GemmArgs& p, const Stream& s) {
  dim3 grid((unsigned)((p.N + BN - 1) / BN), (unsigned)((p.M + BM - 1) / BM), batch_grid(p.batch.n));
  if (grid.y > 65535) fail("E_UNSUPPORTED", "MatMul: M = " + std::to_string(p.M) + " needs more than 65535 row tiles");
  gemm_simt<T, Acc, BM, BN, BK, TM, TN><<<grid, 256, 0, s.stream>>>(p);
  check_launch("gemm_simt");
}

}  // namespace

void matmul_simt(const GemmArgs& p, DType t, const Stream& s) {
  switch (t) {
    case DType::F32: return launch_simt<float, float, 128, 128, 8, 8, 8>(p, s);
    case DType::F16: return launch_simt<__half, float, 128, 128, 8, 8, 8>(p, s);
    case DType::BF16: return launch_simt<__nv_bfloat16, float, 128, 128, 8, 8, 8>(p, s);
    case DType::I32: return launch_simt<int32_t, uint32_t, 128, 128, 8, 8, 8>(p, s);
    case DType::I64: return launch_simt<int64_t, unsigned long long, 64, 64, 16, 4, 4>(p, s);
    default: fail("E_UNSUPPORTED", std::string("MatMul on cuda: no kernel for ") + dtype_name(t));
  }
}

}  // namespace cuda
}  // namespace kiln
