// matmul_wgmma: the sm_90a (Hopper) tensor-core matmul for float16 / bfloat16, and for float32 at
// precision 'high' with tf32 operands; float32 accumulation.
//   TMA loads (cp.async.bulk.tensor, 128-byte swizzle) of 128-row tiles of A and 128- (or 256-) row
//   tiles of B, one 128-byte K row deep (64 16-bit or 32 float32 values), into a 4-stage
//   shared-memory ring; wgmma.mma_async m64n128k16 (.f16 / .bf16) or m64n128k8 (.tf32) (n256 for the
//   wide tile) reads them through matrix descriptors, four K steps of 32 bytes per stage.
//   Warp specialization: warpgroup 0 is the producer (one thread issues the TMA copies and arms the
//   stage's "full" mbarrier with the byte count); warpgroups 1 and 2 are consumers, each owning 64
//   rows of the 128 x 128 (or 128 x 256) output tile, and release a stage through its "empty" mbarrier.
//   Persistent grid (one block per SM) walking the tiles in a swizzled order: groups of 8 row tiles
//   sweep the columns together, so the A and B tiles in flight stay in L2.
// Operands: TMA reads A ([M, K]) in place when K is its unit stride and its rows are 16-byte
// aligned (a row-major A). B is read in place either K-major, as B^T ([N, K], a B that is a
// transposed view), or MN-major, as [K, N] with N contiguous (an ordinary row-major B: two 64-wide
// N boxes per stage, and wgmma's imm-trans-b = 1). Any other operand, and operands of several batch
// dims or a broadcast batch (the tensor maps are 3-D: inner, rows, batch), is first copied to a
// K-contiguous scratch (pack_kmajor). Edge tiles: TMA zero-fills reads past M, N and K.
// tf32 (float32, precision 'high'): wgmma's .tf32 form has no transpose (PTX ISA: imm-trans-a / -b
// exist only for .f16 / .bf16), so both operands are K-major: a row-major B is packed to B^T. Its
// tensor maps are CU_TENSOR_MAP_DATA_TYPE_TFLOAT32: TMA rounds each float32 to tf32 on the copy
// (CUTLASS sm90 collectives rely on this: "TMA converts f32 input to tf32 when copying from GMEM to
// SMEM"), where wgmma itself would truncate the low 13 bits (PTX ISA, wgmma.mma_async, "Precision
// and rounding"); truncation would fail the tf32 tolerance for small K, rounding to nearest stays
// within it like mma.sync's cvt.rna (numbers in the tf32 report).
// Epilogue: in the common case (alpha 1, no C, Y rows contiguous and 16-byte aligned: the
// conditions are epi_fast / epi_fast_base in matmul_wgmma_layout.h) each consumer warpgroup rounds
// its accumulators to T into its own 16 KiB staging buffer, synchronizes its 128 threads on a
// named barrier, and writes whole 256-byte rows with 16-byte stores (rows past M skipped, the
// vector crossing N written value by value); a float32 Y (tf32) under the same conditions (its rows
// 8-byte aligned) takes no staging: each thread's fragment pairs go out as 8-byte stores, which fill
// whole 32-byte sectors. Otherwise gemm_store (shared with the other kernels:
// alpha, beta, C, any strides) writes the valid part value by value. The staging layout and the
// epilogue's index arithmetic are checked on the host by matmul_wgmma_epilogue_check.cc.
// Shared-memory layout, TMA boxes and descriptors: matmul_wgmma_layout.h (K-major: LBO unused, SBO
// 1024, +32 bytes per K step of 16 16-bit or 8 tf32 values; MN-major B: LBO 8192 between the two N halves, SBO 1024
// between 8-row K groups, +2048 bytes per K step; 128B swizzle), checked on the host against models
// of TMA's swizzle and of wgmma's canonical layouts by matmul_wgmma_layout_check.cc.
// Validated on an H200 (the matmul sweep's odd, batched and strided shapes) and `impl: 'auto'`'s pick
// on sm_90 for M, N, K >= 64 since (matmul.cu; bench/results/gpu-check-h200.md: the 128 tile, 0.82-0.86x cuBLASLt).
// The wide tile (kBN = 256; attr wgmma_tile_n, KILN_WGMMA_TILE_N, or picked by shape): each consumer issues
// m64n256k16 (k8 for tf32) over 64 x 256, so a K step reads A's 64 rows once per 256 columns, not
// per 128, and the epilogue runs half as often per multiply-add: the usual step from about 600 to
// 700 TFLOP/s for bf16 on an H100/H200 (CUTLASS's 128x256x64 cooperative kernel). Its stage is 48
// KiB (4 stages: 192 KiB), its 128 accumulators a thread need the registers the producer gives up
// (setmaxnreg, below: no spills per -Xptxas -v), and its fast epilogue stages two 64 x 128 column
// blocks in turn through the same 16 KiB buffer. Its layouts and epilogue are checked on the host
// like the 128 tile's. On an H200 it passed the matmul sweep and ran at 0.96-0.98x cuBLASLt for
// bf16/f16 and 0.80-0.87x for tf32 at 4096^3 and 8192^3 (the 128 tile: 0.80-0.83x and 0.70-0.78x in
// the same run; tf32 0.91-0.94x since its direct float32 epilogue and faster copy of B, 0.95-0.99x
// with B already [N, K]: bench/results/gpu-check-h200.md), so the width is picked by shape
// (wgmma_layout::auto_tile_n: the wide tile wherever its waves over the SMs cost less) unless
// KILN_WGMMA_TILE_N=128 or 256 says which.
// Bench alone: `kiln bench matmul --device cuda --dtype bfloat16 --case 4096^3` with impl 'wgmma'
// (float32: `--dtype float32 --precision high`; `--b-layout nk` for a B^T operand); each kernel's
// time: bench/matmul-once.ts under ncu.
#include <cuda.h>

#include "matmul.cuh"
#include "matmul_wgmma_layout.h"

namespace kiln {
namespace cuda {
namespace {

using wgmma_layout::kStages;
using wgmma_layout::kTileM;
constexpr int kThreadsW = 384;
// The block's shared memory (wgmma_layout::smem_bytes): the ring of kStages stages (A and B tiles of
// 128 and bn rows x 128 bytes of K), two 16 KiB epilogue staging buffers, the mbarriers and 1024 for
// the alignment: 164928 bytes for bn 128, 230464 for bn 256 (sm_90 allows 227 KiB = 232448;
// cudaFuncSetAttribute below asks for exactly this).
static_assert(wgmma_layout::smem_bytes(128) == 164928 && wgmma_layout::smem_bytes(256) == 230464, "shared-memory budget");

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define KILN_WGMMA 1
#endif

#ifdef KILN_WGMMA
__device__ __forceinline__ uint32_t smem_u32(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void bar_init(uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(bar)), "r"(count));
}
__device__ __forceinline__ void bar_expect_tx(uint64_t* bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void bar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(bar)) : "memory");
}
__device__ __forceinline__ void bar_wait(uint64_t* bar, unsigned parity) {
  asm volatile(
      "{\n.reg .pred done;\nWAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n}\n" ::"r"(smem_u32(bar)),
      "r"(parity)
      : "memory");
}
// TMA: the box at (k, row, batch) of `map` into shared memory, completing bytes on `bar`.
__device__ __forceinline__ void tma_load(void* dst, const CUtensorMap* map, int k, int row, int batch, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];" ::"r"(smem_u32(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(k), "r"(row), "r"(batch), "r"(smem_u32(bar))
      : "memory");
}
// The accumulator operands of one wgmma: kN / 2 float32 registers per thread ("+f"), and the
// register list that names them in the instruction (%0 .. %63 for n128, %0 .. %127 for n256); the
// descriptors, the scale-d predicate's source and imm-trans-b follow them (%64.. or %128..).
#define KILN_D4(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3])
#define KILN_D16(i) KILN_D4(i), KILN_D4(i + 4), KILN_D4(i + 8), KILN_D4(i + 12)
#define KILN_D64(i) KILN_D16(i), KILN_D16(i + 16), KILN_D16(i + 32), KILN_D16(i + 48)
#define KILN_D128 KILN_D64(0), KILN_D64(64)
#define KILN_WGMMA_REGS64 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define KILN_WGMMA_REGS128 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}"
// One wgmma.mma_async: SHAPE_TYPES (e.g. "m64n128k16.f32.bf16.bf16"), the register list, the
// operand numbers of the scale-d source and of the two descriptors, TAIL (", 0, %N": imm-trans-a 0
// and imm-trans-b, for .f16 / .bf16; "" for .tf32, which has neither), then the outputs and inputs.
#define KILN_WGMMA_ASM(SHAPE_TYPES, REGS, PRED, DESCS, TAIL, OUTS, ...)                                                              \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " PRED ", 0;\nwgmma.mma_async.sync.aligned." SHAPE_TYPES " " REGS ", " DESCS \
               ", p, 1, 1" TAIL ";\n}\n"                                                                                       \
               : OUTS                                                                                                         \
               : __VA_ARGS__)
// D (+)= A B for one K step (16 16-bit or 8 tf32 values) over a 64 x kN block (kN = the tile width:
// 128 or 256); kTnspB: 0 = B K-major in shared memory, 1 = B MN-major (N contiguous; PTX:
// imm-trans-b, allowed for .f16 / .bf16 with descriptors). The .tf32 form takes no imm-trans
// operands (both operands K-major): "..., scale-d, imm-scale-a, imm-scale-b".
template <typename T, int kTnspB, int kN>
__device__ __forceinline__ void wgmma(float (&d)[kN / 2], uint64_t da, uint64_t db, int accumulate) {
  static_assert(kN == 128 || kN == 256, "tile width");
  static_assert(!std::is_same<T, float>::value || kTnspB == 0, "wgmma .tf32 reads K-major operands only");
  if constexpr (kN == 128) {
    if constexpr (std::is_same<T, float>::value)
      KILN_WGMMA_ASM("m64n128k8.f32.tf32.tf32", KILN_WGMMA_REGS64, "%66", "%64, %65", "", KILN_D64(0), "l"(da), "l"(db), "r"(accumulate));
    else if constexpr (std::is_same<T, __half>::value)
      KILN_WGMMA_ASM("m64n128k16.f32.f16.f16", KILN_WGMMA_REGS64, "%66", "%64, %65", ", 0, %67", KILN_D64(0), "l"(da), "l"(db), "r"(accumulate),
                 "n"(kTnspB));
    else
      KILN_WGMMA_ASM("m64n128k16.f32.bf16.bf16", KILN_WGMMA_REGS64, "%66", "%64, %65", ", 0, %67", KILN_D64(0), "l"(da), "l"(db), "r"(accumulate),
                 "n"(kTnspB));
  } else {
    if constexpr (std::is_same<T, float>::value)
      KILN_WGMMA_ASM("m64n256k8.f32.tf32.tf32", KILN_WGMMA_REGS128, "%130", "%128, %129", "", KILN_D128, "l"(da), "l"(db), "r"(accumulate));
    else if constexpr (std::is_same<T, __half>::value)
      KILN_WGMMA_ASM("m64n256k16.f32.f16.f16", KILN_WGMMA_REGS128, "%130", "%128, %129", ", 0, %131", KILN_D128, "l"(da), "l"(db),
                 "r"(accumulate), "n"(kTnspB));
    else
      KILN_WGMMA_ASM("m64n256k16.f32.bf16.bf16", KILN_WGMMA_REGS128, "%130", "%128, %129", ", 0, %131", KILN_D128, "l"(da), "l"(db),
                 "r"(accumulate), "n"(kTnspB));
  }
}
#undef KILN_WGMMA_ASM
#undef KILN_WGMMA_REGS64
#undef KILN_WGMMA_REGS128
#undef KILN_D128
#undef KILN_D64
#undef KILN_D16
#undef KILN_D4
// The wide tile's register budget: each consumer thread holds 128 accumulators, past the 168
// registers a thread gets when 384 share the register file, so the producer warpgroup gives up
// its registers (it needs few: one thread issues the copies) to the consumers, as CUTLASS's sm90
// warp-specialized kernels do: 2 x 128 x 232 + 128 x 40 = 64512 <= 65536. setmaxnreg is per
// warpgroup: all 128 threads execute it (PTX ISA: .sync.aligned), before the producer's early return.
constexpr int kProducerRegs = 40, kConsumerRegs = 232;
static_assert(2 * 128 * kConsumerRegs + 128 * kProducerRegs <= 65536, "register file");
template <bool kInc, int kRegs> __device__ __forceinline__ void setmaxnreg() {
  static_assert(kRegs % 8 == 0 && kRegs >= 24 && kRegs <= 256, "setmaxnreg: a multiple of 8 in [24, 256]");
  if constexpr (kInc) asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(kRegs));
  else asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(kRegs));
}
// Named barrier kEpiBarrier0 + c over the 128 threads of consumer warpgroup c (orders their
// shared-memory accesses; the producer and the other consumer do not take part). Immediate ids,
// so ptxas counts the barriers the kernel really uses.
__device__ __forceinline__ void warpgroup_bar(int c) {
  static_assert(wgmma_layout::kEpiBarrier0 == 1, "the ids below are 1 and 2");
  if (c == 0) asm volatile("bar.sync 1, 128;" ::: "memory");
  else asm volatile("bar.sync 2, 128;" ::: "memory");
}
// The epilogue's explicit-width accesses: 4-byte shared stores, 16-byte shared loads, 8-byte (float32
// pairs) and 16-byte global stores (plain C++ let the compiler split the global store into four 4-byte ones).
__device__ __forceinline__ void st_shared_b32(uint32_t addr, uint32_t v) {
  asm volatile("st.shared.b32 [%0], %1;" ::"r"(addr), "r"(v) : "memory");
}
__device__ __forceinline__ uint4 ld_shared_v4(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr) : "memory");
  return v;
}
__device__ __forceinline__ void st_global_v2(float* p, float x, float y) {
  asm volatile("st.global.v2.f32 [%0], {%1, %2};" ::"l"(__cvta_generic_to_global(p)), "f"(x), "f"(y) : "memory");
}
__device__ __forceinline__ void st_global_v4(void* p, uint4 v) {
  asm volatile("st.global.v4.b32 [%0], {%1, %2, %3, %4};" ::"l"(__cvta_generic_to_global(p)), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w)
               : "memory");
}
// Two accumulators rounded to T (nearest even, the cvt.rn of dstore), `lo` at the lower address.
template <typename T> __device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same<T, __half>::value) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  } else {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
}
// The tile order: groups of 8 row tiles sweep all column tiles together (L2 reuse), batch outermost.
__device__ __forceinline__ void tile_coords(int64_t t, int64_t tm_count, int64_t tn_count, int64_t& b, int64_t& tm, int64_t& tn) {
  const int64_t per_batch = tm_count * tn_count;
  b = t / per_batch;
  const int64_t r = t % per_batch, group = 8 * tn_count, first = r / group * 8;
  const int64_t rows = min((int64_t)8, tm_count - first), in_group = r % group;
  tm = first + in_group % rows;
  tn = in_group / rows;
}

#endif

// T: __half / __nv_bfloat16, or float (tf32 operands, float32 Y). kBmn: B is read MN-major ([K, N],
// N contiguous: kBN / 64 boxes of 64 x 64 per stage, imm-trans-b = 1; 16-bit T only); otherwise
// K-major (B^T [N, K], one box of kBN rows x 128 bytes of K). kBN: the tile width, 128 or 256.
template <typename T, bool kBmn, int kBN>
__global__ void __launch_bounds__(kThreadsW, 1) gemm_wgmma(const __grid_constant__ CUtensorMap map_a, const __grid_constant__ CUtensorMap map_b, GemmArgs p) {
  static_assert(!kBmn || wgmma_layout::mn_major_ok(sizeof(T)), "an MN-major operand needs a 16-bit type");
  static_assert(wgmma_layout::tile_n_ok(kBN), "tile width 128 or 256");
  constexpr uint32_t kStageBytes = wgmma_layout::stage_bytes(kBN);
#ifdef KILN_WGMMA
  constexpr int kBK = wgmma_layout::stage_k(sizeof(T));  // K per stage: 64 (16-bit), 32 (tf32)
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  unsigned char* smem = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~(uintptr_t)1023);
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + wgmma_layout::bar_offset(kBN));
  uint64_t* empty = full + kStages;
  const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) bar_init(&full[s], 1), bar_init(&empty[s], 8);  // 8 = 2 consumers x 4 warps
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  const int64_t tm_count = (p.M + kTileM - 1) / kTileM, tn_count = (p.N + kBN - 1) / kBN;
  const int64_t tiles = tm_count * tn_count * p.batch.n, k_iters = (p.K + kBK - 1) / kBK;
  if (wg == 0) {  // producer
    if constexpr (kBN == 256) setmaxnreg<false, kProducerRegs>();
    if (tid != 0) return;
    int64_t it = 0;
    for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
      int64_t b, tm, tn;
      tile_coords(t, tm_count, tn_count, b, tm, tn);
      const unsigned tx = wgmma_layout::stage_tx_bytes(kBmn, p.N, tn * kBN, kBN);
      for (int64_t kt = 0; kt < k_iters; ++kt, ++it) {
        const int s = (int)(it % kStages);
        bar_wait(&empty[s], (unsigned)((it / kStages) & 1) ^ 1u);
        unsigned char* st = smem + s * kStageBytes;
        bar_expect_tx(&full[s], tx);
        tma_load(st, &map_a, (int)(kt * kBK), (int)(tm * kTileM), (int)b, &full[s]);
        const wgmma_layout::BBoxes bb = wgmma_layout::b_boxes(kBmn, p.N, tn * kBN, kt * kBK, kBN);
        for (int i = 0; i < bb.n; ++i) tma_load(st + wgmma_layout::kTileBytes + bb.off[i], &map_b, bb.c0[i], bb.c1[i], (int)b, &full[s]);
      }
    }
    return;
  }
  const int c = wg - 1;  // consumer: rows [64c, 64c + 64) of each tile
  if constexpr (kBN == 256) setmaxnreg<true, kConsumerRegs>();
  const int warp = tid / 32, lane = tid % 32, g = lane / 4, q = lane % 4;
  const bool fast_y = wgmma_layout::epi_fast(p.alpha, p.c != nullptr, p.N, p.sym, p.syn, sizeof(T));
  const uint32_t stage_y = smem_u32(smem + wgmma_layout::epi_offset(kBN) + c * wgmma_layout::kEpiBytes);  // this warpgroup's staging
  int64_t it = 0;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    int64_t b, tm, tn;
    tile_coords(t, tm_count, tn_count, b, tm, tn);
    float d[kBN / 2];
#pragma unroll
    for (int i = 0; i < kBN / 2; ++i) d[i] = 0.0f;
    for (int64_t kt = 0; kt < k_iters; ++kt, ++it) {
      const int s = (int)(it % kStages);
      bar_wait(&full[s], (unsigned)((it / kStages) & 1));
      const uint32_t a_tile = smem_u32(smem + s * kStageBytes + c * 64 * wgmma_layout::kRowBytes);
      const uint32_t b_tile = smem_u32(smem + s * kStageBytes + wgmma_layout::kTileBytes);
      asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
      for (int kk = 0; kk < wgmma_layout::kStepsPerStage; ++kk)
        wgmma<T, kBmn ? 1 : 0, kBN>(d, wgmma_layout::kmajor_desc(a_tile, kk),
                               kBmn ? wgmma_layout::mn_desc(b_tile, kk) : wgmma_layout::kmajor_desc(b_tile, kk), (kt > 0 || kk > 0) ? 1 : 0);
      asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
      // Keep this k-tile's wgmmas in flight while the previous k-tile's finish: once at most one
      // group is pending, the previous stage's tiles have been read and go back to the producer.
      asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
      if (kt > 0 && lane == 0) bar_arrive(&empty[(it - 1) % kStages]);
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    if (k_iters > 0 && lane == 0) bar_arrive(&empty[(it - 1) % kStages]);
    int64_t off[4];
    p.batch.offsets(b, off);
    T* const yb = reinterpret_cast<T*>(p.y) + off[3];
    if constexpr (sizeof(T) == 4) {  // float32 Y (tf32): the fragment's pairs straight out, 8 bytes each
      if (fast_y && wgmma_layout::epi_fast_base(reinterpret_cast<uintptr_t>(yb), 4)) {
        using namespace wgmma_layout;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int64_t row = tm * kTileM + c * 64 + epi_frag_row(tid, h);
          if (row >= p.M) continue;
          T* const yr = yb + row * p.sym;
#pragma unroll
          for (int n8 = 0; n8 < kBN / 8; ++n8) {
            const int64_t col = tn * kBN + epi_frag_col(tid, n8), nv = epi_vector_cols(p.N, col, 2);
            if (nv == 2) st_global_v2(yr + col, d[n8 * 4 + 2 * h], d[n8 * 4 + 2 * h + 1]);
            else if (nv == 1) yr[col] = d[n8 * 4 + 2 * h];
          }
        }
        continue;
      }
    } else {
    if (fast_y && wgmma_layout::epi_fast_base(reinterpret_cast<uintptr_t>(yb))) {
      using namespace wgmma_layout;
#pragma unroll
      for (int j = 0; j < epi_blocks(kBN); ++j) {  // 64 x 128 column blocks
        warpgroup_bar(c);  // every thread is done reading the staging (the previous block or tile)
#pragma unroll
        for (int n8 = 0; n8 < 16; ++n8)
#pragma unroll
          for (int h = 0; h < 2; ++h)
            st_shared_b32(stage_y + epi_stage_offset(epi_frag_row(tid, h), epi_frag_col(tid, n8)),
                          pack2<T>(d[(16 * j + n8) * 4 + 2 * h], d[(16 * j + n8) * 4 + 2 * h + 1]));
        warpgroup_bar(c);  // the whole 64 x 128 block is staged
        const int64_t row0 = tm * kTileM + c * 64, col = tn * kBN + j * (int)kEpiCols + epi_read_col(tid);
        const int64_t nv = epi_vector_cols(p.N, col);
#pragma unroll
        for (int i = 0; i < kEpiPasses; ++i) {
          const int r = epi_read_row(tid, i);
          if (row0 + r >= p.M || nv == 0) break;  // rows grow with i
          const uint4 v = ld_shared_v4(stage_y + epi_stage_offset(r, epi_read_col(tid)));
          T* const dst = yb + (row0 + r) * p.sym + col;
          if (nv == 8) {
            st_global_v4(dst, v);
          } else {  // the vector that crosses N
            const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
            for (int e = 0; e < 8; ++e)
              if (e < nv) reinterpret_cast<uint16_t*>(dst)[e] = (uint16_t)(w[e / 2] >> (16 * (e % 2)));
          }
        }
      }
      continue;
    }
    }
    const int64_t r0 = tm * kTileM + c * 64 + warp * 16 + g, c0 = tn * kBN + 2 * q;
#pragma unroll
    for (int n8 = 0; n8 < kBN / 8; ++n8) {
      gemm_store<T, float>(p, off, r0, c0 + n8 * 8, d[n8 * 4 + 0]);
      gemm_store<T, float>(p, off, r0, c0 + n8 * 8 + 1, d[n8 * 4 + 1]);
      gemm_store<T, float>(p, off, r0 + 8, c0 + n8 * 8, d[n8 * 4 + 2]);
      gemm_store<T, float>(p, off, r0 + 8, c0 + n8 * 8 + 1, d[n8 * 4 + 3]);
    }
  }
#else
  __trap();  // the dispatcher only launches this on sm_90a builds running on sm_90
#endif
}

// dst[z][r][k] = src(z, r, k) for a K-contiguous copy of an operand ([rows, K] per batch entry,
// T of 2 or 4 bytes, copied bit for bit (tf32's rounding is TMA's, on the copy to shared memory),
// rows padded to `ld` elements (pack_ld: 16 bytes) so TMA's 16-byte row alignment holds; the padding
// is never read: the tensor map's K extent ends at K). Through 64 x 64 shared-memory tiles, so both
// the reads and the writes are coalesced when the source is row-contiguous (an ordinary row-major B,
// read as B^T, the tf32 path's every row-major B): a plain element-per-thread copy then reads with a
// stride of N elements, ~16x the bytes it uses. Each thread moves 16 values per tile, all its loads
// issued before its shared-memory stores, so more bytes are in flight per SM than with a 32 x 32
// tile's 4 per thread (this copy is the tf32 path's cost over cuBLAS for a row-major B).
// `lanes_on_rows`: consecutive threads read consecutive rows of one k (a row-contiguous source), else consecutive k.
constexpr int kPackTile = 64;
template <typename T>
__global__ void __launch_bounds__(kThreads) pack_kmajor(T* dst, const T* src, Geometry<4> batch, int which, int64_t rows, int64_t K,
                                                        int64_t ld, int64_t s_row, int64_t s_k, bool lanes_on_rows) {
  constexpr int kT = kPackTile, kLines = kThreads / kT, kPer = kT / kLines;  // 4 lines of 64 threads, 16 values each
  static_assert(kThreads % kT == 0, "whole lines of threads");
  __shared__ T tile[kT][kT + 1];  // tile[k - k0][r - r0]; the odd pitch spreads a column over the banks
  // Thread (line, a) moves the values at index a along the contiguous direction and line + 4 i
  // across it (i < 16), so each of its addresses is the previous plus a fixed step.
  const int a = (int)threadIdx.x % kT, line = (int)threadIdx.x / kT;
  const int64_t step = kLines * (lanes_on_rows ? s_k : s_row);  // source: 4 lines further
  for (int64_t z = blockIdx.z; z < batch.n; z += gridDim.z) {
    int64_t off[4];
    batch.offsets(z, off);
    const T* s = src + (which == 0 ? off[0] : off[1]);  // a constant index keeps off[] in registers
    T* d = dst + z * rows * ld;
    const int64_t k0 = (int64_t)blockIdx.x * kT;
    const int nk = (int)min((int64_t)kT, K - k0);
    for (int64_t r0 = (int64_t)blockIdx.y * kT; r0 < rows; r0 += (int64_t)gridDim.y * kT) {
      const int nr = (int)min((int64_t)kT, rows - r0);
      // lanes_on_rows: the thread reads row a, k = line + 4 i; otherwise row line + 4 i, k = a
      const int n_a = lanes_on_rows ? nr : nk, n_i = lanes_on_rows ? nk : nr;
      const T* sp = s + (r0 + (lanes_on_rows ? a : line)) * s_row + (k0 + (lanes_on_rows ? line : a)) * s_k;
      T v[kPer];
#pragma unroll
      for (int i = 0; i < kPer; ++i)
        if (a < n_a && line + kLines * i < n_i) v[i] = sp[i * step];
#pragma unroll
      for (int i = 0; i < kPer; ++i)
        if (a < n_a && line + kLines * i < n_i) {
          if (lanes_on_rows) tile[line + kLines * i][a] = v[i];
          else tile[a][line + kLines * i] = v[i];
        }
      __syncthreads();
      // the write: row line + 4 i of the destination, k = a (64 consecutive values of a row per 64 threads)
      T* dp = d + (r0 + line) * ld + k0 + a;
#pragma unroll
      for (int i = 0; i < kPer; ++i)
        if (a < nk && line + kLines * i < nr) dp[i * kLines * ld] = tile[a][line + kLines * i];
      __syncthreads();  // the next row tile's reads must not overwrite this one before it is written
    }
  }
}

template <typename T>
void launch_pack(T* dst, const void* src, const Geometry<4>& batch, int which, int64_t rows, int64_t K, int64_t ld, int64_t s_row,
                 int64_t s_k, const Stream& s) {
  const dim3 grid((unsigned)((K + kPackTile - 1) / kPackTile), batch_grid((rows + kPackTile - 1) / kPackTile), batch_grid(batch.n));
  pack_kmajor<T><<<grid, kThreads, 0, s.stream>>>(dst, reinterpret_cast<const T*>(src), batch, which, rows, K, ld, s_row, s_k,
                                                  s_row == 1 && s_k != 1);
  check_launch("pack_kmajor");
}

using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*, const cuuint64_t*,
                                 const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                 CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

EncodeTiled encode_fn() {
  static EncodeTiled fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
      f = nullptr;
    cudaGetLastError();
    return reinterpret_cast<EncodeTiled>(f);
  }();
  if (!fn) fail("E_UNSUPPORTED", "MatMul impl 'wgmma': the driver has no cuTensorMapEncodeTiled");
  return fn;
}

// A [batch][rows][inner] tensor map with contiguous rows `ld` elements apart, batch entries `sb`
// apart: inner = K for a K-major operand (box 128 bytes of K x tile_rows rows: 128 for A, the tile
// width for B^T), N for an MN-major B (box 64 N x 64 K). float32 is mapped as TFLOAT32: TMA rounds
// each value to tf32 on the copy (see the top).
CUtensorMap tensor_map(DType t, bool mn, const void* base, int64_t rows, int64_t inner, int64_t ld, int64_t sb, int64_t batch, int tile_rows) {
  CUtensorMap m;
  const uint32_t esize = t == DType::F32 ? 4 : 2;
  const wgmma_layout::TmaGeometry g = wgmma_layout::tma_geometry(mn, rows, inner, ld, sb, batch, esize, tile_rows);
  const cuuint64_t dims[3] = {g.dims[0], g.dims[1], g.dims[2]};
  const cuuint64_t strides[2] = {g.strides[0], g.strides[1]};
  const cuuint32_t box[3] = {g.box[0], g.box[1], g.box[2]}, unit[3] = {1, 1, 1};
  const CUtensorMapDataType dt = t == DType::F32   ? CU_TENSOR_MAP_DATA_TYPE_TFLOAT32
                                : t == DType::F16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                                                  : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  CUresult r = encode_fn()(&m, dt, 3,
                           const_cast<void*>(base), dims, strides, box, unit, CU_TENSOR_MAP_INTERLEAVE_NONE,
                           CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) fail("E_UNSUPPORTED", "MatMul impl 'wgmma': cuTensorMapEncodeTiled failed (" + std::to_string((int)r) + ")");
  return m;
}

// The kernel for B's path and the tile width: tf32 has no MN-major instantiation (the dispatch never
// asks for one).
template <typename T, int kBN> auto kernel_for(bool b_mn) {
  if constexpr (wgmma_layout::mn_major_ok(sizeof(T))) return b_mn ? gemm_wgmma<T, true, kBN> : gemm_wgmma<T, false, kBN>;
  else return gemm_wgmma<T, false, kBN>;
}

template <typename T> void launch_wgmma(const GemmArgs& p, DType t, int bn, const Stream& s) {
  // K = 0: no product, Y = beta * C. A tensor map's dims must be non-zero (cuTensorMapEncodeTiled
  // rejects globalDim[0] = 0), so this case goes to the simt kernel, as impl 'cublas' does.
  if (p.K == 0) return matmul_simt(p, t, s);
  const int64_t nb = p.batch.n;
  // In place needs one batch stride per operand (a 3-D tensor map); several batch dims are packed.
  const bool one_stride = p.batch.rank == 1 || nb <= 1;
  const int64_t sba = p.batch.stride[0][0], sbb = p.batch.stride[1][0];
  // A: in place when K-contiguous and aligned, else packed. B: in place as B^T (K-contiguous) or
  // MN-major (N-contiguous, an ordinary row-major B), else packed K-major.
  // tf32: B is never MN-major (b_path), so a row-major B is packed K-major.
  constexpr uint32_t es = sizeof(T);
  const int64_t kp = wgmma_layout::pack_ld(p.K, es);
  const bool a_direct = one_stride && (p.sak == 1 || p.K == 1) && wgmma_layout::tma_ready((uintptr_t)p.a, p.M, p.K, p.sam, sba, nb, es);
  const wgmma_layout::BPath bp = wgmma_layout::b_path(one_stride, (uintptr_t)p.b, p.K, p.N, p.sbk, p.sbn, sbb, nb, es);
  const bool b_mn = bp == wgmma_layout::BPath::MnMajor, b_direct = bp != wgmma_layout::BPath::Pack;
  Scratch pa(s, a_direct ? 0 : (size_t)(nb * p.M * kp * es)), pb(s, b_direct ? 0 : (size_t)(nb * p.N * kp * es));
  if (!a_direct) launch_pack(pa.as<T>(), p.a, p.batch, 0, p.M, p.K, kp, p.sam, p.sak, s);
  if (!b_direct) launch_pack(pb.as<T>(), p.b, p.batch, 1, p.N, p.K, kp, p.sbn, p.sbk, s);
  const CUtensorMap ma = a_direct ? tensor_map(t, false, p.a, p.M, p.K, p.sam, sba, nb, kTileM)
                                  : tensor_map(t, false, pa.as<T>(), p.M, p.K, kp, p.M * kp, nb, kTileM);
  const CUtensorMap mb = b_mn       ? tensor_map(t, true, p.b, p.K, p.N, p.sbk, sbb, nb, bn)
                         : b_direct ? tensor_map(t, false, p.b, p.N, p.K, p.sbn, sbb, nb, bn)
                                    : tensor_map(t, false, pb.as<T>(), p.N, p.K, kp, p.N * kp, nb, bn);
  const auto kernel = bn == 256 ? kernel_for<T, 256>(b_mn) : kernel_for<T, 128>(b_mn);
  const int smem = (int)wgmma_layout::smem_bytes(bn);
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem), "cudaFuncSetAttribute");
  const int64_t tiles = ((p.M + kTileM - 1) / kTileM) * ((p.N + bn - 1) / bn) * nb;
  const unsigned blocks = (unsigned)std::min<int64_t>(tiles, s.sm_count);
  kernel<<<blocks, kThreadsW, smem, s.stream>>>(ma, mb, p);
  check_launch("gemm_wgmma");
}

}  // namespace

bool wgmma_compiled(const Stream& s) {
#ifdef KILN_CUDA_SM90A
  return s.cc == 90;
#else
  (void)s;
  return false;
#endif
}

void matmul_wgmma(const GemmArgs& p, DType t, bool tf32, int tile_n, const Stream& s) {
  // The dtype first: it is refused the same way on every GPU.
  if (t == DType::F32 && !tf32)
    fail("E_UNSUPPORTED", "MatMul impl 'wgmma' takes float16, bfloat16, or float32 at precision 'high' (tf32), not float32 at precision "
                          "'highest': wgmma has no float32 operands (its float32 form is tf32, 10 mantissa bits); pass precision 'high', "
                          "or use impl 'auto' / 'simt' for true float32");
  if (t != DType::F16 && t != DType::BF16 && t != DType::F32)
    fail("E_UNSUPPORTED", std::string("MatMul impl 'wgmma' takes float16, bfloat16, or float32 at precision 'high' (tf32), not ") + dtype_name(t));
  if (s.cc != 90) fail("E_UNSUPPORTED", "MatMul impl 'wgmma' needs an sm_90 GPU (this is sm_" + std::to_string(s.cc) + ")");
#ifndef KILN_CUDA_SM90A
  fail("E_UNSUPPORTED", "MatMul impl 'wgmma': this build has no sm_90a code (add 90a to KILN_CUDA_ARCHITECTURES)");
#endif
  if (tile_n == 0) tile_n = wgmma_layout::auto_tile_n(p.M, p.N, p.batch.n, s.sm_count);
  if (!wgmma_layout::tile_n_ok(tile_n))
    fail("E_ARGUMENT", "MatMul impl 'wgmma': the tile width must be 128 or 256 (or 0: by shape), got " + std::to_string(tile_n));
  if (t == DType::F16) return launch_wgmma<__half>(p, t, tile_n, s);
  if (t == DType::BF16) return launch_wgmma<__nv_bfloat16>(p, t, tile_n, s);
  return launch_wgmma<float>(p, t, tile_n, s);  // tf32
}

}  // namespace cuda
}  // namespace kiln
