// matmul_mma: tensor-core matmul with mma.sync (sm_80 and newer), float32 accumulation.
//   float16 / bfloat16: mma.m16n8k16 on the stored 16-bit values (exact products, float32 sums)
//   float32 at precision 'high': mma.m16n8k8.tf32, operands rounded to tf32 (cvt.rna) on load
// Both paths tile Y in 128 x 128 blocks of 8 warps (2 along M x 4 along N), each warp a 64 x 32
// sub-tile = 4 x 4 mma tiles of 16 x 8 with 64 float accumulators per thread, and store through
// gemm_store (alpha, beta, C, any Y strides).
// Fast path (gemm_mma_fast, float16 / bfloat16; the default for them on A100 and H100): taken when
// each operand has a unit-stride dim whose rows start a multiple of 16 bytes apart (A K- or
// M-contiguous, B K-contiguous = a B^T view, or N-contiguous = an ordinary row-major B), and the
// bases and batch offsets are 16-byte aligned (mma_layout::fast_path, checked in fast_layouts).
//   Global -> shared: cp.async.cg 16-byte chunks into a 4-stage ring of 32-deep K stages (A and B
//   tiles of 8 KiB each, 64 KiB of dynamic shared memory), one commit group per stage, waited with
//   cp.async.wait_group 2 and one __syncthreads per stage; edges zero-filled by cp.async's src-size
//   (a chunk wholly outside reads 0 bytes at the operand's base: no address past it is formed).
//   Tiles stay in the operand's own order: K-major (64-byte rows of K) or MN-major (256-byte rows of
//   M or N), 16-byte chunks XOR-swizzled so the copies and the ldmatrix reads are conflict-free.
//   Shared -> registers: ldmatrix.x4 (.trans for an MN-major tile), the next K step's fragments
//   loaded while the current one's 16 mmas run.
//   Layout, chunk / lane maps and pipeline: matmul_mma_layout.h, checked on the host against models
//   of cp.async, ldmatrix and the mma fragments by matmul_mma_layout_check.cc.
// General path (gemm_mma: tf32, and 16-bit operands the fast path does not take: unaligned leading
// dims or bases, no unit stride): K advances by one shared-memory tile of 16 32-bit words per row
// (32 halves or 16 tf32 values): A as [m][k] and B as [n][k], k contiguous, rows padded to 20 words
// so the fragment loads of a warp (rows g = 0..7, words t = 0..3) fall in 32 distinct banks.
// Fragments come straight from 32-bit shared loads in the PTX ISA's register layouts (m16n8k16
// .f16/.bf16 and m16n8k8 .tf32 share the word offsets):
//   A: a0 (g, t) a1 (g + 8, t) a2 (g, t + 4) a3 (g + 8, t + 4)    [rows, words]
//   B: b0 (n = g, word t) b1 (n = g, word t + 4);  C: c0 c1 (g, 2t, 2t + 1)  c2 c3 (g + 8, ...)
// Its tiles load element by element through any strides (coalesced along an operand's unit-stride
// dim), zero-filled past the edges: odd shapes, transposed and batched operands need no copy.
// Bench alone: `kiln bench matmul --device cuda --dtype bfloat16,float16`; float32 with
// kiln.matmul(a, b, {precision: 'high'}).
#include <atomic>

#include "matmul.cuh"
#include "matmul_mma_layout.h"

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

// A warp's 64 x 32 accumulators (4 x 4 mma tiles of 4 values per thread), both kernels.
__device__ __forceinline__ void zero(float (&acc)[4][4][4]) {
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;
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
    zero(acc);
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

// ---- The fast path: cp.async pipeline, swizzled stages, ldmatrix (matmul_mma_layout.h) --------
namespace ml = mma_layout;

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define KILN_MMA_FAST 1
#endif

#ifdef KILN_MMA_FAST
__device__ __forceinline__ uint32_t smem_u32(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }
// 16 bytes to shared memory, of which the first `bytes` come from src and the rest are zero.
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, uint32_t bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(__cvta_generic_to_global(src)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }
template <bool Trans> __device__ __forceinline__ void ldsm_x4(uint32_t (&d)[4], uint32_t addr) {
  if constexpr (Trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3]) : "r"(addr) : "memory");
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3]) : "r"(addr) : "memory");
}
#endif

// LA, LB: ml::kKMajor or ml::kMnMajor, how A and B are stored (their unit-stride dim).
template <typename T, int LA, int LB> __global__ void __launch_bounds__(ml::kThreads) gemm_mma_fast(GemmArgs p) {
#ifdef KILN_MMA_FAST
  extern __shared__ __align__(128) unsigned char smem[];
  const uint32_t sbase = smem_u32(smem);
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int wm = ml::warp_m(warp), wn = ml::warp_n(warp);
  const int64_t n0 = (int64_t)blockIdx.x * ml::kBN, kts = ml::k_tiles(p.K);
  // This lane's ldmatrix row offsets inside a stage's A / B tile, per K step and x4.
  uint32_t a_row[ml::kSteps][4], b_row[ml::kSteps][2];
#pragma unroll
  for (int s = 0; s < ml::kSteps; ++s) {
#pragma unroll
    for (int i = 0; i < 4; ++i) a_row[s][i] = ml::chunk_offset(LA, ml::ldsm_a(LA, lane, wm, i, s));
#pragma unroll
    for (int jj = 0; jj < 2; ++jj) b_row[s][jj] = ml::kTileBytes + ml::chunk_offset(LB, ml::ldsm_b(LB, lane, wn, jj, s));
  }
  const T* A = reinterpret_cast<const T*>(p.a);
  const T* B = reinterpret_cast<const T*>(p.b);
  KILN_TILE_PAIRS(z, m0, p, ml::kBM) {
    int64_t off[4];
    p.batch.offsets(z, off);
    const T* a = A + off[0];
    const T* b = B + off[1];
    // This thread's chunks of k-tile kt into stage `slot`; a chunk wholly outside reads 0 bytes at
    // the operand's base, so no address past the operand is formed.
    auto copy = [&](int64_t kt, int slot) {
      const uint32_t stage = sbase + (uint32_t)slot * ml::kStageBytes;
#pragma unroll
      for (int c = 0; c < ml::kChunksPerThread; ++c) {
        const int e = tid + ml::kThreads * c;
        const ml::Coord xa = ml::chunk_coord(LA, e), xb = ml::chunk_coord(LB, e);
        const int64_t gm = m0 + xa.mn, gka = kt * ml::kBK + xa.k, gn = n0 + xb.mn, gkb = kt * ml::kBK + xb.k;
        const uint32_t ba = ml::chunk_bytes(LA, gm, gka, p.M, p.K), bb = ml::chunk_bytes(LB, gn, gkb, p.N, p.K);
        cp_async16(stage + ml::chunk_offset(LA, xa), ba ? a + ml::chunk_element(LA, gm, gka, p.sam, p.sak) : a, ba);
        cp_async16(stage + ml::kTileBytes + ml::chunk_offset(LB, xb), bb ? b + ml::chunk_element(LB, gn, gkb, p.sbn, p.sbk) : b, bb);
      }
    };
    float acc[4][4][4];
    zero(acc);
#pragma unroll
    for (int s = 0; s < ml::kStages - 1; ++s) {
      if (s < kts) copy(s, ml::slot_of(s));
      cp_async_commit();
    }
    for (int64_t kt = 0; kt < kts; ++kt) {
      cp_async_wait<ml::kWaitPending>();  // this thread's copies of k-tile kt have landed
      __syncthreads();                     // everyone's have; and every warp is done with k-tile kt - 1
      const int64_t nk = kt + ml::kStages - 1;
      if (nk < kts) copy(nk, ml::slot_of(nk));  // into k-tile kt - 1's stage
      cp_async_commit();
      const uint32_t stage = sbase + (uint32_t)ml::slot_of(kt) * ml::kStageBytes;
      uint32_t fa[2][4][4], fb[2][4][2];
      auto load = [&](int buf, int s) {
#pragma unroll
        for (int i = 0; i < 4; ++i) ldsm_x4<LA == ml::kMnMajor>(fa[buf][i], stage + a_row[s][i]);
#pragma unroll
        for (int jj = 0; jj < 2; ++jj) {
          uint32_t d[4];
          ldsm_x4<LB == ml::kMnMajor>(d, stage + b_row[s][jj]);
#pragma unroll
          for (int q = 0; q < 4; ++q) fb[buf][ml::b_tile(jj, q)][ml::b_reg(q)] = d[q];
        }
      };
      load(0, 0);
#pragma unroll
      for (int s = 0; s < ml::kSteps; ++s) {
        if (s + 1 < ml::kSteps) load((s + 1) & 1, s + 1);  // the next K step's fragments while this one's mmas run
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) mma<T>(acc[i][j], fa[s & 1][i], fb[s & 1][j]);
      }
    }
    cp_async_wait<0>();  // only empty groups are left; the stages are free
    __syncthreads();     // for the next tile pair's prologue (when the grid walks several)
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          gemm_store<T, float>(p, off, m0 + ml::acc_row(wm, lane, i, e), n0 + ml::acc_col(wn, lane, j, e), acc[i][j][e]);
  }
#else
  __trap();  // the dispatcher never picks this kernel below sm_80
#endif
}

template <typename T, int LA, int LB> void launch_fast(const GemmArgs& p, const Stream& s) {
  const auto kernel = gemm_mma_fast<T, LA, LB>;
  // 64 KiB of dynamic shared memory is over the 48 KiB default: opt in once per device (bit d).
  static std::atomic<uint64_t> opted{0};
  const uint64_t bit = s.device >= 0 && s.device < 64 ? uint64_t{1} << s.device : 0;
  if (!bit || !(opted.load(std::memory_order_acquire) & bit)) {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)ml::kSmemBytes), "cudaFuncSetAttribute(gemm_mma_fast)");
    opted.fetch_or(bit, std::memory_order_release);
  }
  dim3 grid((unsigned)((p.N + ml::kBN - 1) / ml::kBN), batch_grid((p.M + ml::kBM - 1) / ml::kBM), batch_grid(p.batch.n));
  kernel<<<grid, ml::kThreads, ml::kSmemBytes, s.stream>>>(p);
  check_launch("gemm_mma_fast");
}

// The fast path's layouts for p, or false: 16-bit values only, one unit-stride dim per operand
// with rows 16 bytes apart multiples, 16-byte aligned bases and batch offsets (ml::fast_path).
bool fast_layouts(const GemmArgs& p, int& la, int& lb) {
  const ml::FastPath f = ml::fast_path(p.M, p.N, p.K, p.sam, p.sak, p.sbk, p.sbn, (uintptr_t)p.a, (uintptr_t)p.b);
  if (f.a == ml::kNoFastPath || p.batch.n < 1) return false;
  for (int d = 0; d < p.batch.rank; ++d)
    if (!ml::batch_stride_aligned(p.batch.shape[d], p.batch.stride[0][d]) || !ml::batch_stride_aligned(p.batch.shape[d], p.batch.stride[1][d]))
      return false;
  la = f.a, lb = f.b;
  return true;
}

template <typename T> void launch_half(const GemmArgs& p, const Stream& s) {
  int la, lb;
  if (!fast_layouts(p, la, lb)) return launch_mma<T>(p, s);
  if (la == ml::kKMajor) return lb == ml::kKMajor ? launch_fast<T, ml::kKMajor, ml::kKMajor>(p, s) : launch_fast<T, ml::kKMajor, ml::kMnMajor>(p, s);
  return lb == ml::kKMajor ? launch_fast<T, ml::kMnMajor, ml::kKMajor>(p, s) : launch_fast<T, ml::kMnMajor, ml::kMnMajor>(p, s);
}

}  // namespace

// The mma kernels are real only in code built for sm_80 or newer. A build whose architecture list
// (KILN_CUDA_ARCHITECTURES) stops below sm_80 runs them on a newer GPU from older PTX, where they
// are a __trap() that would lose the device: ask which PTX the device's copy came from, once per device.
bool mma_compiled(const Stream& s) {
  static std::atomic<uint64_t> known{0}, compiled{0};
  const uint64_t bit = s.device >= 0 && s.device < 64 ? uint64_t{1} << s.device : 0;
  if (bit && (known.load(std::memory_order_acquire) & bit)) return compiled.load(std::memory_order_relaxed) & bit;
  cudaFuncAttributes attr{};
  check(cudaFuncGetAttributes(&attr, gemm_mma<__half>), "cudaFuncGetAttributes(gemm_mma)");
  const bool ok = attr.ptxVersion >= 80;
  if (ok) compiled.fetch_or(bit, std::memory_order_relaxed);
  known.fetch_or(bit, std::memory_order_release);
  return ok;
}

void matmul_mma(const GemmArgs& p, DType t, bool tf32, const Stream& s) {
  if (t == DType::F16) return launch_half<__half>(p, s);
  if (t == DType::BF16) return launch_half<__nv_bfloat16>(p, s);
  if (t == DType::F32 && tf32) return launch_mma<float>(p, s);
  fail("E_UNSUPPORTED", std::string("MatMul on cuda: no tensor-core kernel for ") + dtype_name(t));
}

}  // namespace cuda
}  // namespace kiln
