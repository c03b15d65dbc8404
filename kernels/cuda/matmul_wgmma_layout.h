// matmul_wgmma's shared-memory stage layout, its TMA boxes and its wgmma matrix descriptors, in
// plain C++ (no CUDA): the kernel uses these functions, and the host-side emulator
// kernels/cuda/matmul_wgmma_layout_check.cc runs the same ones against a model of TMA's 128-byte
// swizzle and of the shared-memory layout that wgmma reads (PTX ISA, wgmma "Shared Memory Matrix
// Layout": canonical layouts, leading / stride dimension byte offset, matrix descriptor).
//
// Element sizes: 2 bytes (float16 / bfloat16, wgmma m64nNk16) or 4 (float32 read as tf32, wgmma
// m64nNk8; N = the tile width bn). A stage's K depth is one 128-byte swizzle row whatever the element size: 64 16-bit
// values or 32 tf32 values (stage_k), and one wgmma K step is 32 bytes of it (2 16-byte chunks: 16
// or 8 values, step_k), so the stage layout in bytes, the descriptors and the K-step advance are
// the same for both; only the TMA box's inner extent in elements and the K coordinates differ.
// One stage: the A tile (128 rows x one 128-byte K row, K-major) at 0, the B tile (bn rows, bn the
// tile width: 128 or 256) at kTileBytes. Every region starts on a 1024-byte boundary, where the 128B
// swizzle pattern starts (descriptor base offset 0).
// - K-major operand (A [M, K]; B^T [N, K]): one TMA box of stage_k (K, 128 bytes) x 128 (A) or bn
//   (B^T) rows; row r at r * 128. Descriptor: LBO unused (encoded 1), SBO 1024 (8 rows of 128
//   bytes); the k-th wgmma K step starts 32 * k bytes in (inside the swizzled row).
// - MN-major B ([K, N], N contiguous; wgmma imm-trans-b = 1; 16-bit types only: PTX allows the
//   transpose only for .f16 / .bf16, so a tf32 B is always K-major, packed if need be): bn / 64 TMA
//   boxes of 64 (N, 128 bytes) x 64 (K) rows, box h (n in [64h, 64h + 64)) at h * 8192, K row k of
//   it at k * 128. Descriptor (canonical MN-major 128B layout ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO)),
//   T = 8 values, m = bn / 64): LBO = 8192, from one 64-wide N box to the next; SBO = 1024, from K
//   rows 0..7 to 8..15; the k-th 16-deep K step starts 16 rows = 2048 bytes in (still 1024-aligned).
// The block's shared memory (from the 1024-aligned base): the kStages-stage ring, then one epilogue
// staging buffer per consumer warpgroup, then the full / empty mbarriers (see "fast epilogue" below;
// its emulator is matmul_wgmma_epilogue_check.cc).
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define KILN_WL __host__ __device__ constexpr
#else
#define KILN_WL constexpr
#endif

namespace kiln {
namespace cuda {
namespace wgmma_layout {

constexpr int kTileM = 128, kBK = 64, kStepK = 16;        // output tile rows; 16-bit values: K per stage, K per wgmma
constexpr uint32_t kRowBytes = 128;                       // one swizzle row: 64 16-bit or 32 tf32 values
constexpr uint32_t kStepBytes = 32;                       // one wgmma K step of a K-major row: k16 x 2 B, k8 x 4 B
constexpr int kStepsPerStage = (int)(kRowBytes / kStepBytes);  // 4 wgmmas per stage and consumer
constexpr uint32_t kTileBytes = kTileM * kRowBytes;       // the A tile per stage: 16384
constexpr int kMnBoxN = 64;                               // an MN-major B box: 64 N (128 bytes) x 64 K rows
constexpr uint32_t kMnBoxBytes = kMnBoxN * kRowBytes;     // 8192
static_assert(kBK * 2 == (int)kRowBytes && kStepK * 2 == (int)kStepBytes, "16-bit stage: one swizzle row");
// The output tile's width N (the kernel's kBN, one wgmma m64nBNk16 / k8 per consumer and K step):
// 128, or 256, the wide tile (see matmul_wgmma.cu); auto_tile_n picks between them unless
// KILN_WGMMA_TILE_N says which. The B tile is bn rows of 128 bytes (K-major: one TMA box of bn rows;
// MN-major: bn / 64 boxes of 64 N); a stage is the A tile then the B tile.
KILN_WL bool tile_n_ok(int bn) { return bn == 128 || bn == 256; }
// The width auto takes, from a model of the persistent grid (one block per SM, each walking
// ceil(tiles / SMs) tiles: its "waves"). A wide tile is twice a 128 tile's work at about 1.2x its
// rate per multiply-add (on an H200 the wide tile ran bf16/f16 at 1.19-1.20x and tf32 at 1.12-1.14x
// the 128 tile's TFLOP/s at 4096^3 and 8192^3: bench/results/gpu-check-h200.md), so a wave of wide
// tiles costs about 5/3 of a wave of 128 tiles; the wide tile is taken where its waves cost less.
// On 132 SMs: 4096^3 is 4 wide waves (cost 20/3) against 8, so wide; 2048^3 1 wide wave (5/3)
// against 2, so wide (measured 1.12-1.16x); 1024^3 1 against 1, so 128 (the wide tile would leave
// 100 SMs idle); N <= 128 never wide (the same waves, half of each wide tile padding).
KILN_WL int auto_tile_n(int64_t M, int64_t N, int64_t batch, int64_t sms) {
  const int64_t rows = (M + kTileM - 1) / kTileM * batch;
  const int64_t waves128 = (rows * ((N + 127) / 128) + sms - 1) / sms, waves256 = (rows * ((N + 255) / 256) + sms - 1) / sms;
  return 5 * waves256 < 3 * waves128 ? 256 : 128;
}
KILN_WL uint32_t b_tile_bytes(int bn) { return (uint32_t)bn * kRowBytes; }
KILN_WL uint32_t stage_bytes(int bn) { return kTileBytes + b_tile_bytes(bn); }
// K per stage and K per wgmma for an element of `esize` bytes (2: m64nNk16; 4: tf32, m64nNk8).
KILN_WL int stage_k(uint32_t esize) { return (int)(kRowBytes / esize); }
KILN_WL int step_k(uint32_t esize) { return (int)(kStepBytes / esize); }
// wgmma's imm-trans-a / imm-trans-b (an MN-major operand in shared memory) exist only for .f16 and
// .bf16 (PTX ISA, wgmma.mma_async: "The transpose operation is only supported for the
// wgmma.mma_async variants with .f16/ .bf16 types"); the .tf32 form has no such operands.
KILN_WL bool mn_major_ok(uint32_t esize) { return esize == 2; }

// PTX matrix descriptor: start address, LBO and SBO each (x & 0x3FFFF) >> 4 in bits 0-13, 16-29 and
// 32-45; base offset 0 (bits 49-51); swizzle mode 1 = 128B (bits 62-63).
KILN_WL uint64_t descriptor(uint32_t smem_addr, uint32_t lbo, uint32_t sbo) {
  return (uint64_t)((smem_addr & 0x3FFFF) >> 4) | (uint64_t)((lbo & 0x3FFFF) >> 4) << 16 |
         (uint64_t)((sbo & 0x3FFFF) >> 4) << 32 | (uint64_t)1 << 62;
}
constexpr uint32_t kKmajorLbo = 16, kKmajorSbo = 1024;  // LBO: "not used, assumed 1" (encoded)
constexpr uint32_t kMnLbo = kMnBoxBytes, kMnSbo = 8 * kRowBytes;
// Byte offset of the kk-th K step of a stage's operand (kk < kStepsPerStage): step_k values of
// esize bytes = 32 bytes for every element size.
KILN_WL uint32_t kmajor_step(int kk) { return (uint32_t)kk * kStepBytes; }
KILN_WL uint32_t mn_step(int kk) { return (uint32_t)kk * kStepK * kRowBytes; }
// The descriptor of K step kk of a K-major operand (A: its consumer's 64 rows; B^T) or of an
// MN-major B whose tile starts at shared address `tile`.
KILN_WL uint64_t kmajor_desc(uint32_t tile, int kk) { return descriptor(tile + kmajor_step(kk), kKmajorLbo, kKmajorSbo); }
KILN_WL uint64_t mn_desc(uint32_t tile, int kk) { return descriptor(tile + mn_step(kk), kMnLbo, kMnSbo); }

// TMA: the global tensor is [batch][rows][inner] of esize-byte elements with `inner` contiguous (K
// for a K-major operand, N for an MN-major B), rows `ld` elements apart and batch entries `sb` apart
// (with one entry, the tensor map's batch stride is rows * ld, never used). A K-major box is one
// 128-byte K row deep and `tile_rows` rows (A: kTileM; B^T: the tile width bn; TMA allows 256); an
// MN-major box is 64 N x 64 K.
struct TmaGeometry {
  uint64_t dims[3];     // inner, rows, batch
  uint64_t strides[2];  // bytes: row, batch
  uint32_t box[3];      // inner, rows, 1; box[0] * esize bytes <= 128 (SWIZZLE_128B)
};
KILN_WL TmaGeometry tma_geometry(bool mn, int64_t rows, int64_t inner, int64_t ld, int64_t sb, int64_t batch, uint32_t esize, int tile_rows) {
  return TmaGeometry{{(uint64_t)inner, (uint64_t)rows, (uint64_t)batch},
                     {(uint64_t)ld * esize, (uint64_t)(batch > 1 ? sb : rows * ld) * esize},
                     {(uint32_t)(mn ? kMnBoxN : stage_k(esize)), (uint32_t)(mn ? kBK : tile_rows), 1}};
}

// The B boxes of stage (tile column n0, k0) for tile width bn: box i lands at B tile + off[i] with
// coordinates (c0[i], c1[i]) = (inner, row). An MN-major B takes bn / 64 boxes of 64 N, box i only
// when part of it is inside N (a box wholly past N is not loaded: its columns only feed outputs
// >= N, which are never stored, so the stale shared memory there is harmless). Returns the count.
struct BBoxes {
  int n;
  int c0[4], c1[4];
  uint32_t off[4];
};
KILN_WL BBoxes b_boxes(bool mn, int64_t N, int64_t n0, int64_t k0, int bn) {
  BBoxes r{1, {(int)k0, 0, 0, 0}, {(int)n0, 0, 0, 0}, {0, 0, 0, 0}};
  if (!mn) return r;
  r.n = 0;
  for (int i = 0; i < bn / kMnBoxN && n0 + (int64_t)i * kMnBoxN < N; ++i)
    r.c0[i] = (int)(n0 + (int64_t)i * kMnBoxN), r.c1[i] = (int)k0, r.off[i] = (uint32_t)i * kMnBoxBytes, r.n = i + 1;
  return r;
}
// The bytes the stage's full barrier expects: TMA counts whole boxes, zero-filled parts included.
// A K-major box is one 128-byte K row of its rows for every element size.
KILN_WL uint32_t stage_tx_bytes(bool mn, int64_t N, int64_t n0, int bn) {
  return kTileBytes + (mn ? (uint32_t)b_boxes(true, N, n0, 0, bn).n * kMnBoxBytes : b_tile_bytes(bn));
}

// TMA reads an operand in place when its base and row stride are 16-byte aligned, its rows do not
// overlap (ld >= inner) and its batch entries neither overlap nor broadcast (stride 0).
KILN_WL bool tma_ready(uint64_t addr, int64_t rows, int64_t inner, int64_t ld, int64_t sb, int64_t batch, uint32_t esize) {
  return addr % 16 == 0 && ld >= inner && ld > 0 && (ld * esize) % 16 == 0 &&
         (batch <= 1 || ((sb * esize) % 16 == 0 && sb >= rows * ld));
}
// The row pitch (elements) of a packed K-contiguous scratch: K rounded up to 16 bytes.
KILN_WL int64_t pack_ld(int64_t K, uint32_t esize) { return (K + 16 / esize - 1) / (16 / esize) * (16 / esize); }

// How B ([K, N] with strides sbk, sbn; one batch stride sbb over nb entries when one_stride) is
// read: in place K-major (a B^T view: K contiguous), in place MN-major (N contiguous, e.g. an
// ordinary row-major B; 16-bit types only, mn_major_ok), or packed to a K-major scratch first.
enum class BPath { KMajor, MnMajor, Pack };
KILN_WL BPath b_path(bool one_stride, uint64_t addr, int64_t K, int64_t N, int64_t sbk, int64_t sbn, int64_t sbb, int64_t nb, uint32_t esize) {
  if (!one_stride) return BPath::Pack;
  if ((sbk == 1 || K == 1) && tma_ready(addr, N, K, sbn, sbb, nb, esize)) return BPath::KMajor;
  if (mn_major_ok(esize) && (sbn == 1 || N == 1) && tma_ready(addr, K, N, sbk, sbb, nb, esize)) return BPath::MnMajor;
  return BPath::Pack;
}

// ---- The block's shared memory -------------------------------------------------------------
constexpr int kStages = 4;                                   // the TMA -> wgmma ring
constexpr uint32_t kEpiRows = 64, kEpiCols = 128;            // one consumer warpgroup's staged block (a 64 x 128 part of its rows)
constexpr uint32_t kEpiPitch = kEpiCols * 2;                 // 256 bytes per staged row of 16-bit values
constexpr uint32_t kEpiBytes = kEpiRows * kEpiPitch;         // 16384 per consumer warpgroup
// The ring, then warpgroup c's staging buffer at epi_offset + c * kEpiBytes, then full[kStages]
// and empty[kStages] (8 bytes each); + 1024: the base is rounded up to 1024.
KILN_WL uint32_t epi_offset(int bn) { return kStages * stage_bytes(bn); }
KILN_WL uint32_t bar_offset(int bn) { return epi_offset(bn) + 2 * kEpiBytes; }
KILN_WL uint32_t smem_bytes(int bn) { return bar_offset(bn) + 2 * kStages * 8 + 1024; }
constexpr uint32_t kSmemLimit = 227 * 1024;  // sm_90: the most dynamic shared memory a block may opt in to
static_assert(smem_bytes(128) <= kSmemLimit && smem_bytes(256) <= kSmemLimit, "shared memory over sm_90's per-block limit");

// ---- The fast epilogue ----------------------------------------------------------------------
// 16-bit T staged (below); a float32 Y (the tf32 path) stores the fragment's pairs directly (see
// epi_vec_bytes; its staging would need 32 KiB per warpgroup, which the wide tile does not have). Y = acc (alpha 1, no C) into a Y whose rows are contiguous (column stride 1), 16-byte aligned
// (row stride a multiple of 8 values, base + batch offset 16-byte aligned) and do not overlap
// (row stride >= N). Each consumer warpgroup takes its 64 x bn accumulators in bn / 128 column
// blocks of 64 x 128 (epi_blocks): it rounds the block's accumulators to T in pairs (cvt.rn, as
// the generic path's dstore) into its staging buffer, synchronizes its own 128 threads (named
// barrier kEpiBarrier0 + c; 0 is __syncthreads), then writes 16-byte vectors, 16 consecutive
// lanes covering one 256-byte row of the block, and synchronizes again before the next block's
// staging. Rows past M are skipped; the vector that crosses N (N % 8 != 0) is written value by
// value. Anything else: gemm_store.
constexpr int kEpiBarrier0 = 1;                              // warpgroup c (0, 1) uses barrier 1 + c
constexpr int kEpiPasses = (int)(kEpiBytes / (128 * 16));   // 16-byte reads per thread: 8

KILN_WL int epi_blocks(int bn) { return bn / (int)kEpiCols; }
// The accumulator fragment (wgmma m64nNk16, f32 D; the indexing of the generic epilogue: rows r0,
// r0 + 8; columns c0 + 8 n8 + {0, 1}): thread tid (0..127) of the warpgroup holds in
// d[4 n8 + 2 h + e] the value of (row, col) = (epi_frag_row(tid, h), epi_frag_col(tid, n8) + e),
// counted inside the warpgroup's 64 x bn block; column block j holds n8 in [16 j, 16 j + 16).
KILN_WL int epi_frag_row(int tid, int h) { return (tid / 32) * 16 + (tid % 32) / 4 + 8 * h; }
KILN_WL int epi_frag_col(int tid, int n8) { return n8 * 8 + 2 * (tid % 4); }
// Byte offset of staged (row, col): rows of 256 bytes, the 16-byte chunk col / 8 XORed with row % 8,
// so the 8 rows of a fragment store land in 8 different 16-byte bank groups (conflict-free 4-byte
// stores) and a 16-byte read of 8 consecutive chunks of one row covers all 32 banks once.
KILN_WL uint32_t epi_stage_offset(int row, int col) {
  return (uint32_t)row * kEpiPitch + (uint32_t)(((col / 8) ^ (row % 8)) * 16 + (col % 8) * 2);
}
// Read pass i (0..kEpiPasses-1) of thread tid: 8 values (16 bytes) of staged row epi_read_row from
// column epi_read_col; a warp reads two whole rows, lanes in column order.
KILN_WL int epi_read_row(int tid, int i) { return i * 8 + tid / 16; }
KILN_WL int epi_read_col(int tid) { return (tid % 16) * 8; }
// How many of the `width` values from column `col` (of Y) are inside N: `width` = one vector store
// (8 16-bit values from the staging; a float32 Y's pair, below: 2).
KILN_WL int64_t epi_vector_cols(int64_t N, int64_t col, int64_t width = 8) { return N - col >= width ? width : N - col > 0 ? N - col : 0; }
// A float32 Y (the tf32 path) takes no staging: the fragment's pairs (columns c, c + 1, c even) go
// straight out as 8-byte stores, and the 4 threads of a fragment row cover 32 contiguous bytes, so a
// warp's store fills 8 whole 32-byte sectors (16-bit pairs would fill half of each: hence their staging).
// The bytes of the fast epilogue's widest store: 16 (staged 16-bit rows), 8 (float32 pairs).
KILN_WL uint32_t epi_vec_bytes(uint32_t esize) { return esize == 2 ? 16 : 8; }
// The kernel-wide condition (alpha, C, Y's strides) and the per-tile one (the batch entry's base),
// for a Y of esize-byte values: rows contiguous, not overlapping, each starting on a vector boundary.
KILN_WL bool epi_fast(double alpha, bool has_c, int64_t N, int64_t sym, int64_t syn, uint32_t esize = 2) {
  return alpha == 1.0 && !has_c && syn == 1 && sym >= N && (sym * esize) % epi_vec_bytes(esize) == 0;
}
KILN_WL bool epi_fast_base(uint64_t y_batch_addr, uint32_t esize = 2) { return y_batch_addr % epi_vec_bytes(esize) == 0; }

}  // namespace wgmma_layout
}  // namespace cuda
}  // namespace kiln

#undef KILN_WL
