// matmul_mma: tensor-core matmul with mma.sync (sm_80 and newer), float32 accumulation.
//   float16 / bfloat16: mma.m16n8k16 on the stored 16-bit values (exact products, float32 sums)
//   float32 at precision 'high': mma.m16n8k8.tf32, operands rounded to tf32 (cvt.rna) on load
// Tiling: a 128 x 128 tile of Y per block of 8 warps (2 along M x 4 along N), each warp a 64 x 32
// sub-tile = 4 x 4 mma tiles of 16 x 8 with 64 float accumulators per thread. K advances by one
// shared-memory tile of 16 32-bit words per row (32 halves or 16 tf32 values): A as [m][k] and B
// as [n][k], k contiguous, rows padded to 20 words so the fragment loads of a warp (rows g = 0..7,
// words t = 0..3) fall in 32 distinct banks. Fragments come straight from 32-bit shared loads in
// the PTX ISA's register layouts (m16n8k16 .f16/.bf16 and m16n8k8 .tf32 share the word offsets):
//   A: a0 (g, t) a1 (g + 8, t) a2 (g, t + 4) a3 (g + 8, t + 4)    [rows, words]
//   B: b0 (n = g, word t) b1 (n = g, word t + 4);  C: c0 c1 (g, 2t, 2t + 1)  c2 c3 (g + 8, ...)
// Tiles load through any strides (coalesced along an operand's unit-stride dim), zero-filled past
// the edges: odd shapes, transposed and batched operands need no copy.
// Bench alone: `kiln bench matmul --device cuda --dtype bfloat16,float16`; float32 with
// kiln.matmul(a, b, {precision: 'high'}).
#include "matmul.cuh"

namespace kiln {
namespace cuda {
namespace {

constexpr int kBM = 128, kBN = 128, kWords = 16, kPitch = 20;  // K tile: 16 words per row, + 4 pad

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t u;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(u) : "f"(x));
  return u;
}

template <typename T> __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same<T, __half>::value)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  else if constexpr (std::is_same<T, __nv_bfloat16>::value)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  else
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  __trap();  // the dispatcher never picks this kernel below sm_80
#endif
}

// Element (r, k) of a tile row in shared memory: 16-bit types by halfword, tf32 by word.
template <typename T> struct Smem {
  static constexpr bool kWide = std::is_same<T, float>::value;  // tf32
  static constexpr int kK = kWide ? kWords : 2 * kWords;        // K elements per tile
  __device__ static void put(uint32_t* rows, int r, int k, const T* src) {
    if constexpr (kWide) rows[r * kPitch + k] = src ? to_tf32(*src) : 0u;
    else reinterpret_cast<uint16_t*>(rows)[r * 2 * kPitch + k] = src ? *reinterpret_cast<const uint16_t*>(src) : (uint16_t)0;
  }
};

template <typename T> __global__ void __launch_bounds__(256) gemm_mma(GemmArgs p) {
  constexpr int BK = Smem<T>::kK;
  __shared__ uint32_t As[kBM * kPitch];
  __shared__ uint32_t Bs[kBN * kPitch];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / 4, t = lane % 4;
  const int wm = (warp % 2) * 64, wn = (warp / 2) * 32;
  const int64_t n0 = (int64_t)blockIdx.x * kBN;
  const T* A = reinterpret_cast<const T*>(p.a);
  const T* B = reinterpret_cast<const T*>(p.b);
  KILN_TILE_PAIRS(z, m0, p, kBM) {
    int64_t off[4];
    p.batch.offsets(z, off);
    const T* a = A + off[0];
    const T* b = B + off[1];
    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;
    for (int64_t k0 = 0; k0 < p.K; k0 += BK) {
      for (int e = threadIdx.x; e < kBM * BK; e += 256) {
        int kk, mm;
        if (p.sak == 1) kk = e % BK, mm = e / BK;
        else mm = e % kBM, kk = e / kBM;
        const int64_t gm = m0 + mm, gk = k0 + kk;
        Smem<T>::put(As, mm, kk, (gm < p.M && gk < p.K) ? a + gm * p.sam + gk * p.sak : nullptr);
      }
      for (int e = threadIdx.x; e < kBN * BK; e += 256) {
        int kk, nn;
        if (p.sbn == 1) nn = e % kBN, kk = e / kBN;
        else kk = e % BK, nn = e / BK;
        const int64_t gn = n0 + nn, gk = k0 + kk;
        Smem<T>::put(Bs, nn, kk, (gn < p.N && gk < p.K) ? b + gk * p.sbk + gn * p.sbn : nullptr);
      }
      __syncthreads();
#pragma unroll
      for (int w = 0; w < kWords; w += 8) {  // one mma K step = 8 words
        uint32_t fa[4][4], fb[4][2];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const uint32_t* r0 = As + (wm + i * 16 + g) * kPitch + w + t;
          const uint32_t* r8 = r0 + 8 * kPitch;
          fa[i][0] = r0[0], fa[i][1] = r8[0], fa[i][2] = r0[4], fa[i][3] = r8[4];
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const uint32_t* c = Bs + (wn + j * 8 + g) * kPitch + w + t;
          fb[j][0] = c[0], fb[j][1] = c[4];
        }
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) mma<T>(acc[i][j], fa[i], fb[j]);
      }
      __syncthreads();
    }
    using Out = std::conditional_t<std::is_same<T, float>::value, float, T>;
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int64_t r = m0 + wm + i * 16 + g, c = n0 + wn + j * 8 + 2 * t;
        gemm_store<Out, float>(p, off, r, c, acc[i][j][0]);
        gemm_store<Out, float>(p, off, r, c + 1, acc[i][j][1]);
        gemm_store<Out, float>(p, off, r + 8, c, acc[i][j][2]);
        gemm_store<Out, float>(p, off, r + 8, c + 1, acc[i][j][3]);
      }
  }
}

template <typename T> void launch_mma(const GemmArgs& p, const Stream& s) {
  dim3 grid((unsigned)((p.N + kBN - 1) / kBN), batch_grid((p.M + kBM - 1) / kBM), batch_grid(p.batch.n));
  gemm_mma<T><<<grid, 256, 0, s.stream>>>(p);
  check_launch("gemm_mma");
}

}  // namespace

void matmul_mma(const GemmArgs& p, DType t, bool tf32, const Stream& s) {
  if (t == DType::F16) return launch_mma<__half>(p, s);
  if (t == DType::BF16) return launch_mma<__nv_bfloat16>(p, s);
  if (t == DType::F32 && tf32) return launch_mma<float>(p, s);
  fail("E_UNSUPPORTED", std::string("MatMul on cuda: no tensor-core kernel for ") + dtype_name(t));
}

}  // namespace cuda
}  // namespace kiln
