// matmul_simt: the tiled CUDA-core matmul for every dtype and every architecture.
//   Y[BM x BN tile] per block of 256 threads, K in steps of BK through shared memory; each thread
//   accumulates a TM x TN sub-tile held in registers. A thread's rows are ty, ty + BM/TM, ... and
//   its columns tx, tx + BN/TN, ... (interleaved, not blocked), so a warp's shared-memory reads hit
//   distinct banks or broadcast, and its stores to Y are coalesced along N.
//   Tiles are loaded with any strides: consecutive threads walk the operand's unit-stride dim when
//   it has one (coalesced), zero-filling past the edges, so transposed and sliced operands need no
//   copy and odd shapes need no padding.
//   float32 / float16 / bfloat16: float accumulation (true float32: precision 'highest');
//   int32 / int64 / uint8: wrapping unsigned arithmetic (uint8 in 32 bits, wrapped on store), int64
//   on a smaller tile (registers).
// Variants: <float, 128x128x8, 8x8 per thread> (the float path on any GPU, and float32 at
// precision 'highest'), <int64, 64x64x16, 4x4>, and gemm_simt_f32: float32 with row-major A and B
// (unit K stride for A, unit N stride for B, rows 16-byte aligned), the common case, with float4
// global loads prefetched into registers during the previous tile's math (double-buffered shared
// memory, one __syncthreads per k-tile) and float4 shared reads: each thread's 8 x 8 sub-tile is
// the 2 x 2 blocks of 4 x 4 at rows {4ty, 64 + 4ty}, columns {4tx, 64 + 4tx}, so a warp's LDS.128
// reads of B cover 256 contiguous bytes (no bank conflicts) and those of A broadcast. Bench alone: `kiln bench matmul --device cuda
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
  const int64_t n0 = (int64_t)blockIdx.x * BN;
  const T* A = reinterpret_cast<const T*>(p.a);
  const T* B = reinterpret_cast<const T*>(p.b);
  KILN_TILE_PAIRS(z, m0, p, BM) {
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


// The vectorized float32 path (see the header). A thread loads one float4 of the A tile (row tid/2,
// k 4*(tid%2)) and one of the B tile (k row tid/32, columns 4*(tid%32)); a float4 that crosses
// M, N or K is loaded element by element with zero fill.
__device__ __forceinline__ float4 load4(const float* p, int64_t valid) {
  if (valid >= 4) return *reinterpret_cast<const float4*>(p);
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
  if (valid > 0) v.x = p[0];
  if (valid > 1) v.y = p[1];
  if (valid > 2) v.z = p[2];
  return v;
}

__global__ void __launch_bounds__(256) gemm_simt_f32(GemmArgs p) {
  __shared__ __align__(16) float As[2][8][128];
  __shared__ __align__(16) float Bs[2][8][128];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t n0 = (int64_t)blockIdx.x * 128;
  const int a_row = tid / 2, a_k = (tid % 2) * 4, b_k = tid / 32, b_col = (tid % 32) * 4;
  KILN_TILE_PAIRS(z, m0, p, 128) {
    int64_t off[4];
    p.batch.offsets(z, off);
    const float* a = reinterpret_cast<const float*>(p.a) + off[0];
    const float* b = reinterpret_cast<const float*>(p.b) + off[1];
    // Elements of this thread's float4 that lie inside the matrix, for the k-tile at k0.
    auto fetch = [&](int64_t k0, float4& ra, float4& rb) {
      const int64_t gm = m0 + a_row, gk = k0 + a_k;
      ra = load4(a + gm * p.sam + gk, gm < p.M ? p.K - gk : 0);
      const int64_t bk = k0 + b_k, gn = n0 + b_col;
      rb = load4(b + bk * p.sbk + gn, bk < p.K ? p.N - gn : 0);
    };
    auto stash = [&](int buf, const float4& ra, const float4& rb) {
      As[buf][a_k + 0][a_row] = ra.x;
      As[buf][a_k + 1][a_row] = ra.y;
      As[buf][a_k + 2][a_row] = ra.z;
      As[buf][a_k + 3][a_row] = ra.w;
      *reinterpret_cast<float4*>(&Bs[buf][b_k][b_col]) = rb;
    };
    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;
    float4 ra, rb;
    if (p.K > 0) {
      fetch(0, ra, rb);
      stash(0, ra, rb);
    }
    __syncthreads();
    int buf = 0;
    for (int64_t k0 = 0; k0 < p.K; k0 += 8) {
      const bool more = k0 + 8 < p.K;
      if (more) fetch(k0 + 8, ra, rb);  // in flight during the math below
#pragma unroll
      for (int kk = 0; kk < 8; ++kk) {
        const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][kk][4 * ty]);
        const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][kk][64 + 4 * ty]);
        const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][kk][4 * tx]);
        const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][kk][64 + 4 * tx]);
        const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[i][j] += av[i] * bv[j];
      }
      if (more) stash(buf ^ 1, ra, rb);  // the other buffer: nobody reads it during this k-tile
      __syncthreads();
      buf ^= 1;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < 8; ++j)
        gemm_store<float, float>(p, off, m0 + (i < 4 ? 4 * ty + i : 64 + 4 * ty + i - 4),
                                 n0 + (j < 4 ? 4 * tx + j : 64 + 4 * tx + j - 4), acc[i][j]);
    __syncthreads();  // the next tile's first stash must not overwrite tiles still being read
  }
}

// Row-major float32 operands whose rows (and base pointers, batch strides) allow float4 loads.
bool vector_ready(const GemmArgs& p) {
  auto aligned = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  bool strides_ok = true;  // every batch entry's A and B start 16-byte aligned too
  for (int d = 0; d < p.batch.rank && p.batch.n > 1; ++d) strides_ok &= p.batch.stride[0][d] % 4 == 0 && p.batch.stride[1][d] % 4 == 0;
  return p.sak == 1 && p.sbn == 1 && p.sam % 4 == 0 && p.sbk % 4 == 0 && aligned(p.a) && aligned(p.b) && strides_ok;
}

template <typename T, typename Acc, int BM, int BN, int BK, int TM, int TN>
void launch_simt(const GemmArgs& p, const Stream& s) {
  dim3 grid((unsigned)((p.N + BN - 1) / BN), batch_grid((p.M + BM - 1) / BM), batch_grid(p.batch.n));
  gemm_simt<T, Acc, BM, BN, BK, TM, TN><<<grid, 256, 0, s.stream>>>(p);
  check_launch("gemm_simt");
}

}  // namespace

void matmul_simt(const GemmArgs& p, DType t, const Stream& s) {
  switch (t) {
    case DType::F32:
      if (vector_ready(p)) {
        dim3 grid((unsigned)((p.N + 127) / 128), batch_grid((p.M + 127) / 128), batch_grid(p.batch.n));
        gemm_simt_f32<<<grid, 256, 0, s.stream>>>(p);
        return check_launch("gemm_simt_f32");
      }
      return launch_simt<float, float, 128, 128, 8, 8, 8>(p, s);
    case DType::F16: return launch_simt<__half, float, 128, 128, 8, 8, 8>(p, s);
    case DType::BF16: return launch_simt<__nv_bfloat16, float, 128, 128, 8, 8, 8>(p, s);
    case DType::I32: return launch_simt<int32_t, uint32_t, 128, 128, 8, 8, 8>(p, s);
    case DType::I64: return launch_simt<int64_t, unsigned long long, 64, 64, 16, 4, 4>(p, s);
    case DType::U8: return launch_simt<uint8_t, uint32_t, 128, 128, 8, 8, 8>(p, s);
    default: fail("E_UNSUPPORTED", std::string("MatMul on cuda: no kernel for ") + dtype_name(t));
  }
}

}  // namespace cuda
}  // namespace kiln
