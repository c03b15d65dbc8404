// matmul_mma's fast path (float16 / bfloat16, sm_80+): its shared-memory stage layout, which
// 16-byte chunk each thread copies with cp.async, the row address each lane hands ldmatrix, the
// fragment registers those land in, the cp.async pipeline's schedule and the dispatch test, in
// plain C++ (no CUDA). The kernel uses these functions; the host-side emulator
// kernels/cuda/matmul_mma_layout_check.cc runs the same ones against models of cp.async (src-size
// zero fill), ldmatrix (.x4, with and without .trans) and the mma.m16n8k16 fragment layouts from
// the PTX ISA, and counts shared-memory bank conflicts.
//
// Tiles: 128 (M) x 128 (N) per block of 8 warps, warp (w % 2, w / 2) owning rows 64 (w % 2) and
// columns 32 (w / 2) of it (4 x 4 mma tiles of 16 x 8); K advances 32 values (kBK) per stage, two
// mma K steps of 16. A stage holds an A tile (128 M x 32 K) then a B tile (128 N x 32 K), 8 KiB
// each, 16-bit values moved in 16-byte chunks of 8; kStages stages (64 KiB of dynamic shared memory).
// An operand's tile is stored one of two ways, chosen by which of its dims has unit stride:
// - K-major (A with sak == 1; B with sbk == 1, i.e. a B^T view): 128 rows (M or N) of 32 K values,
//   64 bytes = 4 chunks per row. Chunk kc of row r sits at r * 64 + 16 (kc ^ ((r / 2) % 4)): the 8
//   rows of an 8x8 ldmatrix matrix (same kc) and the 8 chunks a quarter-warp copies (2 rows x 4)
//   both fall in 8 different 16-byte bank groups. ldmatrix without .trans: an 8x8 matrix is 8 rows
//   (M or N) of 8 K values, as the mma fragments want them.
// - MN-major (A with sam == 1; B with sbn == 1, an ordinary row-major B [K, N]): 32 rows (K) of 128
//   values (M or N), 256 bytes = 16 chunks per row. Chunk c of K row k sits at k * 256 +
//   16 (c ^ (k % 8)): 8 consecutive K rows of one chunk column (an ldmatrix matrix) and 8
//   consecutive chunks of one row (a quarter-warp's copies) each cover the 8 bank groups once.
//   ldmatrix.trans: an 8x8 matrix is stored as 8 K rows of 8 M (N) values and each lane receives
//   it transposed, which is again the mma fragment.
// Edges: a chunk's cp.async src-size is the bytes inside the operand (the rest of the 16 is zero
// filled); a chunk wholly outside reads 0 bytes from the operand's base (a valid, aligned address),
// so no address past the operand is ever formed for a read.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define KILN_ML __host__ __device__ constexpr
#else
#define KILN_ML constexpr
#endif

namespace kiln {
namespace cuda {
namespace mma_layout {

constexpr int kBM = 128, kBN = 128, kBK = 32, kThreads = 256, kStages = 4;
constexpr int kWarpM = 64, kWarpN = 32;                    // warp tile: 4 x m16, 4 x n8
constexpr int kStepK = 16, kSteps = kBK / kStepK;          // mma.m16n8k16: 2 K steps per stage
constexpr uint32_t kTileBytes = 128 * kBK * 2;             // one operand's tile per stage: 8192
constexpr uint32_t kStageBytes = 2 * kTileBytes;           // A tile, then B tile
constexpr uint32_t kSmemBytes = kStages * kStageBytes;     // 65536: over the 48 KiB default (opt-in)
constexpr int kChunks = (int)(kTileBytes / 16);            // 16-byte chunks per tile: 512
constexpr int kChunksPerThread = kChunks / kThreads;       // 2 per operand
// cp.async.wait_group's N in the main loop: at iteration kt, kStages - 1 + kt groups have been
// committed (the prologue's kStages - 1, one per earlier iteration); leaving the newest
// kStages - 2 pending completes groups 0..kt, i.e. k-tile kt.
constexpr int kWaitPending = kStages - 2;
static_assert(kChunks % kThreads == 0, "whole chunks per thread");

enum Major : int { kKMajor = 0, kMnMajor = 1, kNoFastPath = -1 };

struct Coord { int mn, k; };  // tile-local (row of M or N, K) of a value

// ---- Dispatch ---------------------------------------------------------------------------------
// How an operand of R (M or N) x K values with strides (sr, sk), in elements, is read by the fast
// path: K-major when K is the unit-stride dim and the rows start 16 bytes apart multiples, MN-major
// when R is, else not at all (the general kernel). A dim of size 1 is never stepped along, so its
// stride does not matter.
KILN_ML int operand_major(int64_t R, int64_t K, int64_t sr, int64_t sk) {
  if ((sk == 1 || K == 1) && (R == 1 || sr % 8 == 0)) return kKMajor;
  if ((sr == 1 || R == 1) && (K == 1 || sk % 8 == 0)) return kMnMajor;
  return kNoFastPath;
}
// Base addresses and batch offsets (elements) must keep 16-byte alignment: chunk sources then are.
KILN_ML bool base_aligned(uint64_t addr) { return addr % 16 == 0; }
KILN_ML bool batch_stride_aligned(int64_t extent, int64_t stride) { return extent <= 1 || stride % 8 == 0; }
// The fast path's layouts for A [M, K] (strides sam, sak) and B [K, N] (sbk, sbn) at these base
// addresses, or kNoFastPath in .a (the launcher also checks every batch stride).
struct FastPath { int a, b; };
KILN_ML FastPath fast_path(int64_t M, int64_t N, int64_t K, int64_t sam, int64_t sak, int64_t sbk, int64_t sbn, uint64_t a, uint64_t b) {
  const int la = operand_major(M, K, sam, sak), lb = operand_major(N, K, sbn, sbk);
  if (M < 1 || N < 1 || K < 1 || la == kNoFastPath || lb == kNoFastPath || !base_aligned(a) || !base_aligned(b))
    return FastPath{kNoFastPath, kNoFastPath};
  return FastPath{la, lb};
}

// ---- Global -> shared: cp.async chunks ------------------------------------------------------
// Chunk e (0..kChunks-1) of an operand's tile: the tile-local coordinate of its first value. The
// thread tid copies chunks tid + kThreads * c, c < kChunksPerThread; 4 (K-major) or 16 (MN-major)
// consecutive threads cover one contiguous 64- or 256-byte run of global memory.
KILN_ML Coord chunk_coord(int major, int e) {
  return major == kKMajor ? Coord{e / 4, (e % 4) * 8} : Coord{(e % 16) * 8, e / 16};
}
// Byte offset inside the tile of the 16-byte chunk whose first value is tile-local (mn, k).
KILN_ML uint32_t kmajor_chunk(int row, int kc) { return (uint32_t)(row * 64 + ((kc ^ ((row >> 1) & 3)) << 4)); }
KILN_ML uint32_t mnmajor_chunk(int k, int c) { return (uint32_t)(k * 256 + ((c ^ (k & 7)) << 4)); }
KILN_ML uint32_t chunk_offset(int major, Coord x) {
  return major == kKMajor ? kmajor_chunk(x.mn, x.k / 8) : mnmajor_chunk(x.k, x.mn / 8);
}
// Byte offset of tile-local value (mn, k): its chunk, then 2 bytes per value along the contiguous dim.
KILN_ML uint32_t value_offset(int major, Coord x) {
  return major == kKMajor ? kmajor_chunk(x.mn, x.k / 8) + 2 * (x.k % 8) : mnmajor_chunk(x.k, x.mn / 8) + 2 * (x.mn % 8);
}
// The chunk's global position (gmn, gk) = tile origin + chunk_coord: its element offset from the
// operand's (batch entry's) base, and how many of its bytes lie inside the R x K operand (0..16).
// Only when bytes > 0 is base + offset formed as an address (then its first value is inside).
KILN_ML int64_t chunk_element(int major, int64_t gmn, int64_t gk, int64_t sr, int64_t sk) {
  return major == kKMajor ? gmn * sr + gk : gk * sk + gmn;
}
KILN_ML uint32_t chunk_bytes(int major, int64_t gmn, int64_t gk, int64_t R, int64_t K) {
  const int64_t along = major == kKMajor ? K - gk : R - gmn;   // values left along the contiguous dim
  const bool inside = major == kKMajor ? gmn < R : gk < K;     // the other dim
  return !inside || along <= 0 ? 0u : (uint32_t)(along >= 8 ? 16 : 2 * along);
}

// ---- Shared -> registers: ldmatrix.x4 ---------------------------------------------------------
// Warp w's tile origin.
KILN_ML int warp_m(int warp) { return (warp % 2) * kWarpM; }
KILN_ML int warp_n(int warp) { return (warp / 2) * kWarpN; }
// mma.m16n8k16 A fragment (PTX ISA, "Matrix Fragments for mma.m16n8k16", .f16/.bf16): register j
// of lane (g = lane / 4, t = lane % 4) holds rows g + 8 (j % 2), K 2t + 8 (j / 2) + {0, 1}. So
// matrix q of the x4 (register q) is rows 8 (q % 2).., K 8 (q / 2)..: lane 8q + r supplies the
// address of that matrix's row r. K-major: the row is M row (8 (q % 2) + r), K from 8 (q / 2).
// MN-major (.trans): the stored row is K row (8 (q / 2) + r), M from 8 (q % 2).
// For m16 tile i (rows wm + 16 i) and K step s of the stage: the tile-local (mn, k) of the 8
// values lane supplies.
KILN_ML Coord ldsm_a(int major, int lane, int wm, int i, int s) {
  const int q = lane >> 3, r = lane & 7;
  const int m = wm + 16 * i + 8 * (q & 1), k = kStepK * s + 8 * (q >> 1);
  return major == kKMajor ? Coord{m + r, k} : Coord{m, k + r};
}
// mma.m16n8k16 B fragment: register j of lane holds K 2t + 8 j + {0, 1}, column n = g. One x4
// covers two n8 tiles 2jj and 2jj + 1 (columns wn + 16 jj ..): matrix q is n8 tile 2jj + (q / 2),
// K 8 (q % 2).., and lands in b[2jj + q / 2][q % 2]. K-major (B^T): stored row = N; MN-major
// (.trans): stored row = K.
KILN_ML Coord ldsm_b(int major, int lane, int wn, int jj, int s) {
  const int q = lane >> 3, r = lane & 7;
  const int n = wn + 16 * jj + 8 * (q >> 1), k = kStepK * s + 8 * (q & 1);
  return major == kKMajor ? Coord{n + r, k} : Coord{n, k + r};
}
KILN_ML bool ldsm_trans(int major) { return major == kMnMajor; }
// Which fragment register matrix q of B x4 number jj fills: b[b_tile(jj, q)][b_reg(q)].
KILN_ML int b_tile(int jj, int q) { return 2 * jj + (q >> 1); }
KILN_ML int b_reg(int q) { return q & 1; }

// ---- The accumulators -----------------------------------------------------------------------
// mma.m16n8k16 D (f32): acc[i][j][e] of lane is (row, col) = (wm + 16 i + g + 8 (e / 2),
// wn + 8 j + 2t + e % 2) of the block tile; the epilogue stores it there (gemm_store).
KILN_ML int acc_row(int wm, int lane, int i, int e) { return wm + 16 * i + (lane >> 2) + 8 * (e >> 1); }
KILN_ML int acc_col(int wn, int lane, int j, int e) { return wn + 8 * j + 2 * (lane & 3) + (e & 1); }

// ---- The pipeline ---------------------------------------------------------------------------
// k-tile kt lives in stage slot_of(kt). The prologue copies k-tiles 0..kStages-2 (one commit
// group each, empty past K); iteration kt waits (kWaitPending), __syncthreads, copies k-tile
// kt + kStages - 1 into its slot (the one k-tile kt - 1 used: every warp has finished it, by the
// barrier), commits, then computes on slot_of(kt).
KILN_ML int slot_of(int64_t kt) { return (int)(kt % kStages); }
KILN_ML int64_t k_tiles(int64_t K) { return (K + kBK - 1) / kBK; }

}  // namespace mma_layout
}  // namespace cuda
}  // namespace kiln

#undef KILN_ML
