// Host-side emulator of matmul_wgmma's fast epilogue (no GPU needed). It runs the epilogue of the
// kernel (a transcription of its control flow in matmul_wgmma.cu, with the index arithmetic taken
// from matmul_wgmma_layout.h, the functions the kernel itself calls) for all 128 threads of both
// consumer warpgroups over every tile of a set of problems, one block walking the tiles in the
// kernel's order, at both tile widths (128, and 256: two 64 x 128 column blocks per warpgroup, staged
// one after the other), for a 16-bit Y (staged) and a float32 Y (the tf32 path: the fragment's pairs
// stored directly, 8 bytes each), with a simulated shared memory (the staging buffers) and a
// simulated Y, and checks:
//   - the accumulator fragment: epi_frag_row / epi_frag_col are the generic epilogue's indexing
//     (r0 = 16 warp + g, r0 + 8; c0 = 2 q, + 8 n8 + {0, 1}), literally transcribed, and the PTX
//     ISA's wgmma m64nNk16 D fragment; a bijection onto the 64 x 128 and 64 x 256 blocks;
//   - every output element is written exactly once, with its accumulator; nothing else is written;
//   - staging: no slot written twice, or written while another thread reads it, between two of the
//     warpgroup's barriers; no slot read before this tile wrote it, or in the phase it was written
//     (a missing barrier); neither warpgroup touches the other's buffer; all inside its buffer;
//   - every 16-byte global store is 16-byte aligned (float32 pairs: every 8-byte store 8-byte
//     aligned) and inside Y's valid part;
//   - the block's shared-memory layout fits sm_90 and the barrier ids do not collide;
// and counts the bank conflicts of the staging stores and loads and the 32-byte sectors of each
// warp's global store (a full warp's float32 pair store: 8 sectors, all bytes used). Mutated variants (wrong swizzle, fragment, pack order, a missing barrier, a
// missing guard, a weaker fast-path condition) must be caught, so the check is not vacuous.
// Rounding is not emulated (values are tags): the fast path rounds with cvt.rn.{bf16,f16}x2.f32,
// the generic one with cvt.rn.{bf16,f16}.f32 (see matmul_wgmma.cu, pack2 and common.cuh, dstore).
//   c++ -std=c++17 -O2 -I kernels/cuda kernels/cuda/matmul_wgmma_epilogue_check.cc -o /tmp/wgmma_epi && /tmp/wgmma_epi [-v]
// (-v: also the first two messages by which each mutation was caught)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "host_check.h"
#include "matmul_wgmma_layout.h"

using namespace kiln::cuda::wgmma_layout;

namespace {

using kiln::host_check::failures;
using kiln::host_check::mutant;

struct Variant {  // the kernel as built (all defaults) or one mutation of it
  const char* name = "as built";
  bool stage_no_swizzle = false;   // staging row-major without the chunk XOR (reads and writes)
  bool read_no_unswizzle = false;  // writes swizzled, reads as if not
  bool frag_h_plus4 = false;       // second fragment row r0 + 4 instead of r0 + 8
  bool pack_swapped = false;       // d[2i + 1] at the lower address
  bool no_barrier_before = false;  // no barrier before the staging writes (the previous tile's reads)
  bool no_barrier_after = false;   // no barrier between the staging writes and reads
  bool no_n_guard = false;         // the vector crossing N stored whole
  bool no_m_guard = false;         // rows past M stored
  bool read_rows_by_warp = false;  // read pass row i * 8 + tid / 32 (two warps on one row)
  bool fast_ignores_base = false;  // epi_fast_base not checked (batch entry / view offset)
  bool fast_ignores_pitch = false; // row stride alignment not checked
  bool wide_one_barrier = false;   // bn 256: no barrier between one column block's reads and the next one's staging
  bool wide_block0_values = false; // bn 256: every column block stages block 0's accumulators
  // float32 Y (direct pair stores)
  bool f32_no_n_guard = false;     // the pair crossing N stored whole
  bool f32_no_m_guard = false;     // rows past M stored
  bool f32_ignores_base = false;   // epi_fast_base(yb, 4) not checked
  bool f32_ignores_pitch = false;  // the row stride's 8-byte alignment not checked
  bool f32_pair_swapped = false;   // d[2i + 1] stored at the lower address
};

// ---- The fragment: three statements of it ------------------------------------------------------
// (1) the generic epilogue of matmul_wgmma.cu, literally: r0 = ... + warp * 16 + g, c0 = ... + 2 * q;
//     gemm_store(r0, c0 + n8 * 8, d[n8 * 4 + 0]), (r0, +1, d[+1]), (r0 + 8, c0 + n8 * 8, d[+2]), (r0 + 8, +1, d[+3]).
void generic_frag(int tid, int i, int& row, int& col) {
  const int warp = tid / 32, lane = tid % 32, g = lane / 4, q = lane % 4;
  const int r0 = warp * 16 + g, c0 = 2 * q, n8 = i / 4;
  switch (i % 4) {
    case 0: row = r0, col = c0 + n8 * 8; break;
    case 1: row = r0, col = c0 + n8 * 8 + 1; break;
    case 2: row = r0 + 8, col = c0 + n8 * 8; break;
    default: row = r0 + 8, col = c0 + n8 * 8 + 1; break;
  }
}
// (2) PTX ISA, "Register Fragments and Shared Memory Matrix Layouts", wgmma .m64nNk16 accumulator D
//     (f32): warp w of the warpgroup holds rows 16 w .. 16 w + 15; in each 8-column block, d{0,1}
//     are row lane/4, columns 2 (lane % 4) + {0, 1}, and d{2,3} the same 8 rows further down.
void ptx_frag(int tid, int i, int& row, int& col) {
  const int w = tid / 32, lane = tid % 32;
  row = 16 * w + lane / 4 + 8 * ((i % 4) / 2);
  col = 8 * (i / 4) + 2 * (lane % 4) + i % 2;
}
// (3) the kernel's fast epilogue: d[4 n8 + 2 h + e] at (epi_frag_row(tid, h), epi_frag_col(tid, n8) + e).
void kernel_frag(int tid, int i, int& row, int& col, const Variant& v) {
  const int n8 = i / 4, h = (i % 4) / 2, e = i % 2;
  row = v.frag_h_plus4 ? epi_frag_row(tid, 0) + 4 * h : epi_frag_row(tid, h);
  col = epi_frag_col(tid, n8) + e;
}

uint32_t stage_off(int row, int col, const Variant& v) {
  if (v.stage_no_swizzle) return (uint32_t)row * kEpiPitch + (uint32_t)col * 2;
  return epi_stage_offset(row, col);
}
uint32_t stage_off_read(int row, int col, const Variant& v) {
  if (v.read_no_unswizzle) return (uint32_t)row * kEpiPitch + (uint32_t)col * 2;
  return stage_off(row, col, v);
}

// ---- Simulated shared memory with a phase-based race check ------------------------------------
// Each consumer warpgroup's barrier splits its execution into phases; two accesses of one slot by
// different threads in the same phase are unordered (a race), and a read must see a write of this
// tile from an earlier phase.
constexpr uint32_t kNone = 0xFFFFFFFFu;
struct Slot {
  uint32_t value = kNone;
  int owner = -1;  // warpgroup that touched it
  int64_t w_phase = -1, w_tile = -1;
  int w_tid = -1;
  int64_t r_phase = -1;
  int r_tid = -1;  // -2: several readers in r_phase
};
struct Smem {
  std::vector<Slot> slot;  // 2-byte slots over the block's dynamic shared memory (from the 1024-aligned base)
  uint32_t epi;            // the staging buffers' offset for this tile width
  explicit Smem(int bn) : slot(smem_bytes(bn) / 2), epi(epi_offset(bn)) {}
  Slot* at(uint32_t addr, int c, const char* what) {
    const uint32_t lo = epi + c * kEpiBytes;
    CHECK(addr % 2 == 0 && addr >= lo && addr < lo + kEpiBytes, "%s: shared address %u outside warpgroup %d's staging [%u, %u)\n", what, addr,
          c, lo, lo + kEpiBytes);
    if (addr % 2 || addr / 2 >= slot.size()) return nullptr;
    Slot& s = slot[addr / 2];
    CHECK(s.owner == -1 || s.owner == c, "%s: warpgroup %d touches warpgroup %d's staging at %u (unordered)\n", what, c, s.owner, addr);
    s.owner = c;
    return &s;
  }
  void write(uint32_t addr, uint32_t value, int c, int tid, int64_t phase, int64_t tile) {
    Slot* s = at(addr, c, "staging write");
    if (!s) return;
    CHECK(s->w_phase != phase, "staging %u written twice in one phase (threads %d, %d)\n", addr, s->w_tid, tid);
    CHECK(!(s->r_phase == phase && s->r_tid != tid), "staging %u written by thread %d while read in the same phase (no barrier between)\n",
          addr, tid);
    s->value = value, s->w_phase = phase, s->w_tile = tile, s->w_tid = tid;
  }
  uint32_t read(uint32_t addr, int c, int tid, int64_t phase, int64_t tile) {
    Slot* s = at(addr, c, "staging read");
    if (!s) return kNone;
    CHECK(s->w_tile == tile, "staging %u read before this tile wrote it (thread %d)\n", addr, tid);
    CHECK(!(s->w_phase == phase && s->w_tid != tid), "staging %u read by thread %d in the phase thread %d wrote it (no barrier)\n", addr,
          tid, s->w_tid);
    if (s->r_phase == phase && s->r_tid != tid) s->r_tid = -2;
    else s->r_tid = tid;
    s->r_phase = phase;
    return s->value;
  }
};

// ---- Statistics ---------------------------------------------------------------------------------
struct Stats {
  int write_ways_max = 0, read_wavefronts_max = 0, read_wavefronts_warp_max = 0;
  int sectors_min = 1 << 30, sectors_max = 0;  // per warp st.global.v4 with all 32 lanes active
  int64_t vec_stores = 0, scalar_stores = 0, generic_stores = 0, fast_tiles = 0, generic_tiles = 0, elements = 0;
  int64_t pair_stores = 0, single_stores = 0;  // float32 Y: 8-byte pairs, lone values at N's edge
  int pair_sectors_min = 1 << 30, pair_sectors_max = 0;  // per warp st.global.v2.f32 with all 32 lanes active
  int64_t vec_bytes = 0, vec_sector_bytes = 0;
};
// Ways of a warp's shared access: per group of lanes served together, the most distinct 4-byte
// words in one bank; summed over the groups (4-byte accesses: one group of 32; 16-byte: four
// quarter-warps of 8 lanes, the usual description of 128-bit shared accesses).
int wavefronts(const std::vector<std::pair<uint32_t, int>>& acc /* (addr, bytes) per active lane */, int group) {
  int total = 0;
  for (size_t g0 = 0; g0 < acc.size(); g0 += group) {
    std::map<int, std::set<uint32_t>> bank;
    for (size_t l = g0; l < std::min(acc.size(), g0 + group); ++l)
      for (int b = 0; b < acc[l].second; b += 4) bank[((acc[l].first + b) / 4) % 32].insert((acc[l].first + b) / 4);
    int w = 0;
    for (auto& kv : bank) w = std::max(w, (int)kv.second.size());
    total += w;
  }
  return total;
}

// ---- One problem -------------------------------------------------------------------------------
struct Problem {
  std::string name;
  int64_t M, N, nb;
  int64_t sym, syn, sby;  // Y strides (values): row, column, batch entry
  int64_t y_off;          // Y's first value inside its allocation (values); the allocation is 256-aligned
  double alpha = 1.0;
  bool has_c = false;
  int expect_fast_tiles_pct = -1;  // 100: all fast, 0: none, -1: mixed / not checked
};

// The kernel's tile order (tile_coords in matmul_wgmma.cu): groups of 8 row tiles sweep the columns.
void tile_coords(int64_t t, int64_t tm_count, int64_t tn_count, int64_t& b, int64_t& tm, int64_t& tn) {
  const int64_t per_batch = tm_count * tn_count;
  b = t / per_batch;
  const int64_t r = t % per_batch, group = 8 * tn_count, first = r / group * 8;
  const int64_t rows = std::min((int64_t)8, tm_count - first), in_group = r % group;
  tm = first + in_group % rows;
  tn = in_group / rows;
}

bool fast_kernel(const Problem& pr, const Variant& v, uint32_t es) {
  if (es == 2 ? v.fast_ignores_pitch : v.f32_ignores_pitch) return pr.alpha == 1.0 && !pr.has_c && pr.syn == 1 && pr.sym >= pr.N;
  return epi_fast(pr.alpha, pr.has_c, pr.N, pr.sym, pr.syn, es);
}

// One problem's epilogue for a Y of es-byte values (2: staged; 4: float32 pairs).
void run(const Problem& pr, int bn, const Variant& v, Stats& st, uint32_t es = 2) {
  constexpr uint64_t kAlloc = 0x10000000;  // Y's allocation (cudaMalloc: 256-byte aligned)
  const int64_t last = pr.y_off + (pr.nb - 1) * pr.sby + (pr.M - 1) * pr.sym + (pr.N - 1) * pr.syn;
  const uint64_t y_bytes = (uint64_t)(last + 1) * es;
  const uint64_t yview = kAlloc + (uint64_t)pr.y_off * es;
  // Expected content: address -> accumulator tag of (b, row, col); tags are unique per (b, row, col)
  // of the padded tile grid, so values from past M / N never match anything valid.
  const int64_t tm_count = (pr.M + kTileM - 1) / kTileM, tn_count = (pr.N + bn - 1) / bn;
  const int64_t Mp = tm_count * kTileM, Np = tn_count * bn;
  auto tag = [&](int64_t b, int64_t r, int64_t c) { return (uint32_t)((b * Mp + r) * Np + c + 1); };
  std::vector<uint32_t> want(y_bytes / es, 0), got(y_bytes / es, 0);
  std::vector<uint8_t> writes(y_bytes / es, 0);
  for (int64_t b = 0; b < pr.nb; ++b)
    for (int64_t r = 0; r < pr.M; ++r)
      for (int64_t c = 0; c < pr.N; ++c) {
        const int64_t e = pr.y_off + b * pr.sby + r * pr.sym + c * pr.syn;
        CHECK(want[e] == 0, "%s: problem has overlapping Y elements\n", pr.name.c_str());
        want[e] = tag(b, r, c);
      }
  auto gstore = [&](uint64_t addr, uint32_t value, const char* path) {  // one es-byte element
    const bool in = addr >= kAlloc && addr + es <= kAlloc + y_bytes && addr % es == 0;
    CHECK(in, "%s [%s]: %s store outside Y's allocation at +%lld\n", pr.name.c_str(), v.name, path, (long long)(addr - kAlloc));
    if (!in) return;
    const uint64_t e = (addr - kAlloc) / es;
    CHECK(want[e] != 0, "%s [%s]: %s store to an element outside Y's valid part (+%llu)\n", pr.name.c_str(), v.name, path,
          (unsigned long long)e);
    ++writes[e];
    got[e] = value;
  };

  Smem sm(bn);
  int64_t phase[2] = {0, 0};
  const bool fast_all = fast_kernel(pr, v, es);
  const int64_t tiles = tm_count * tn_count * pr.nb;
  int64_t fast_tiles = 0;
  for (int64_t t = 0; t < tiles; ++t) {  // one block (gridDim 1) walks every tile: the most staging reuse
    int64_t b, tm, tn;
    tile_coords(t, tm_count, tn_count, b, tm, tn);
    const uint64_t yb = yview + (uint64_t)(b * pr.sby) * es;  // the kernel's yb = p.y + off[3]
    const bool fast = fast_all && ((es == 2 ? v.fast_ignores_base : v.f32_ignores_base) || epi_fast_base(yb, es));
    fast_tiles += fast;
    for (int c = 0; c < 2; ++c) {
      // d[i] of thread tid: the accumulator of (row, col) per the generic epilogue's indexing.
      auto d = [&](int tid, int i) {
        int r, col;
        generic_frag(tid, i, r, col);
        return tag(b, tm * kTileM + c * 64 + r, tn * bn + col);
      };
      if (!fast) {  // gemm_store, as the kernel's generic loop calls it
        for (int tid = 0; tid < 128; ++tid)
          for (int i = 0; i < bn / 2; ++i) {
            int r, col;
            generic_frag(tid, i, r, col);
            const int64_t gi = tm * kTileM + c * 64 + r, gj = tn * bn + col;
            if (gi >= pr.M || gj >= pr.N) continue;
            gstore(yb + (uint64_t)(gi * pr.sym + gj * pr.syn) * es, d(tid, i), "generic");
            ++st.generic_stores;
          }
        continue;
      }
      if (es == 4) {  // float32 Y: the kernel's direct pair stores, one warp instruction (h, n8) at a time
        for (int h = 0; h < 2; ++h)
          for (int n8 = 0; n8 < bn / 8; ++n8)
            for (int w = 0; w < 4; ++w) {
              std::set<uint64_t> sectors;
              int pair_lanes = 0;
              for (int lane = 0; lane < 32; ++lane) {
                const int tid = w * 32 + lane;
                int row, col;
                kernel_frag(tid, n8 * 4 + 2 * h, row, col, v);
                const int64_t gr = tm * kTileM + c * 64 + row;
                if (gr >= pr.M && !v.f32_no_m_guard) continue;
                const int64_t gc = tn * bn + col, nv = v.f32_no_n_guard && gc < pr.N ? 2 : epi_vector_cols(pr.N, gc, 2);
                const uint64_t dst = yb + (uint64_t)(gr * pr.sym + gc) * 4;
                const uint32_t lo = d(tid, n8 * 4 + 2 * h), hi = d(tid, n8 * 4 + 2 * h + 1);
                if (nv == 2) {
                  CHECK(dst % 8 == 0, "%s [%s]: st.global.v2.f32 at +%lld not 8-byte aligned\n", pr.name.c_str(), v.name, (long long)(dst - kAlloc));
                  gstore(dst, v.f32_pair_swapped ? hi : lo, "st.global.v2.f32");
                  gstore(dst + 4, v.f32_pair_swapped ? lo : hi, "st.global.v2.f32");
                  sectors.insert(dst / 32), sectors.insert((dst + 7) / 32);
                  ++pair_lanes, ++st.pair_stores;
                } else if (nv == 1) {
                  gstore(dst, lo, "st.global.f32"), ++st.single_stores;
                }
              }
              if (pair_lanes == 32)
                st.pair_sectors_min = std::min(st.pair_sectors_min, (int)sectors.size()),
                st.pair_sectors_max = std::max(st.pair_sectors_max, (int)sectors.size());
            }
        continue;
      }
      const uint32_t base = epi_offset(bn) + c * kEpiBytes;  // from the 1024-aligned shared base
      for (int j = 0; j < epi_blocks(bn); ++j) {  // the 64 x 128 column blocks
        const int64_t key = t * 4 + j;  // what the race check calls this block's "tile"
        // warpgroup_bar: the previous block's (or tile's) reads are done.
        if (!v.no_barrier_before && !(v.wide_one_barrier && j > 0)) ++phase[c];
        const int dj = v.wide_block0_values ? 0 : 16 * j;  // the block's first n8
        // Staging writes, one warp instruction (n8, h) at a time.
        for (int n8 = 0; n8 < 16; ++n8)
          for (int h = 0; h < 2; ++h)
            for (int w = 0; w < 4; ++w) {
              std::vector<std::pair<uint32_t, int>> acc;
              for (int lane = 0; lane < 32; ++lane) {
                const int tid = w * 32 + lane;
                int row, col;
                kernel_frag(tid, n8 * 4 + 2 * h, row, col, v);
                const uint32_t a = base + stage_off(row, col, v);
                CHECK(a % 4 == 0, "st.shared.b32 at %u not 4-byte aligned\n", a);
                const uint32_t lo = d(tid, (dj + n8) * 4 + 2 * h), hi = d(tid, (dj + n8) * 4 + 2 * h + 1);
                sm.write(a, v.pack_swapped ? hi : lo, c, tid, phase[c], key);
                sm.write(a + 2, v.pack_swapped ? lo : hi, c, tid, phase[c], key);
                acc.push_back({a, 4});
              }
              st.write_ways_max = std::max(st.write_ways_max, wavefronts(acc, 32));
            }
        // warpgroup_bar: the block is staged.
        if (!v.no_barrier_after) ++phase[c];
        // Reads and global stores, one warp instruction (pass i) at a time.
        const int64_t row0 = tm * kTileM + c * 64;
        for (int i = 0; i < kEpiPasses; ++i)
          for (int w = 0; w < 4; ++w) {
            std::vector<std::pair<uint32_t, int>> lds;
            std::set<uint64_t> sectors;
            int vec_lanes = 0;
            for (int lane = 0; lane < 32; ++lane) {
              const int tid = w * 32 + lane;
              const int64_t col = tn * bn + j * (int)kEpiCols + epi_read_col(tid), nv = v.no_n_guard ? 8 : epi_vector_cols(pr.N, col);
              const int r = v.read_rows_by_warp ? i * 8 + tid / 32 : epi_read_row(tid, i);
              // The kernel breaks out of its pass loop here (rows grow with i): inactive from now on.
              if ((!v.no_m_guard && row0 + r >= pr.M) || nv == 0) continue;
              const uint32_t a = base + stage_off_read(r, epi_read_col(tid), v);
              CHECK(a % 16 == 0, "ld.shared.v4 at %u not 16-byte aligned\n", a);
              uint32_t val[8];
              for (int e = 0; e < 8; ++e) val[e] = sm.read(a + 2 * e, c, tid, phase[c], key);
              lds.push_back({a, 16});
              const uint64_t dst = yb + (uint64_t)((row0 + r) * pr.sym + col) * 2;
              if (nv == 8) {
                CHECK(dst % 16 == 0, "%s [%s]: st.global.v4 at +%lld not 16-byte aligned\n", pr.name.c_str(), v.name, (long long)(dst - kAlloc));
                for (int e = 0; e < 8; ++e) gstore(dst + 2 * e, val[e], "st.global.v4");
                for (uint64_t s = dst / 32; s <= (dst + 15) / 32; ++s) sectors.insert(s);
                ++vec_lanes, ++st.vec_stores, st.vec_bytes += 16;
              } else {
                for (int e = 0; e < nv; ++e) gstore(dst + 2 * e, val[e], "st.global.u16"), ++st.scalar_stores;
              }
            }
            if (!lds.empty()) {
              st.read_wavefronts_max = std::max(st.read_wavefronts_max, wavefronts(lds, 8));
              st.read_wavefronts_warp_max = std::max(st.read_wavefronts_warp_max, wavefronts(lds, 32));
            }
            st.vec_sector_bytes += (int64_t)sectors.size() * 32;
            if (vec_lanes == 32)
              st.sectors_min = std::min(st.sectors_min, (int)sectors.size()), st.sectors_max = std::max(st.sectors_max, (int)sectors.size());
          }
      }
    }
  }
  st.fast_tiles += fast_tiles, st.generic_tiles += tiles - fast_tiles;
  if (pr.expect_fast_tiles_pct == 100)
    CHECK(fast_tiles == tiles, "%s [%s]: %lld of %lld tiles fast, want all\n", pr.name.c_str(), v.name, (long long)fast_tiles, (long long)tiles);
  if (pr.expect_fast_tiles_pct == 0)
    CHECK(fast_tiles == 0, "%s [%s]: %lld tiles fast, want none\n", pr.name.c_str(), v.name, (long long)fast_tiles);
  int64_t bad = 0, missing = 0, twice = 0;
  for (size_t e = 0; e < want.size(); ++e) {
    if (!want[e]) continue;
    ++st.elements;
    missing += writes[e] == 0, twice += writes[e] > 1, bad += writes[e] >= 1 && got[e] != want[e];
  }
  CHECK(missing == 0 && twice == 0 && bad == 0, "%s [%s]: %lld elements never written, %lld written more than once, %lld wrong\n",
        pr.name.c_str(), v.name, (long long)missing, (long long)twice, (long long)bad);
}

// The problems for a Y of es-byte values (2 or 4): the same shapes; the fast path's alignment is
// 16 bytes for a staged 16-bit row, 8 for float32 pairs, so some expectations differ.
std::vector<Problem> problems(uint32_t es = 2) {
  std::vector<Problem> p;
  // name, M, N, nb, sym, syn, sby, y_off, alpha, has_c, expect
  p.push_back({"256x384 contiguous", 256, 384, 1, 384, 1, 0, 0, 1.0, false, 100});
  p.push_back({"256x4096 contiguous (a 4096-wide row of tiles)", 256, 4096, 1, 4096, 1, 0, 0, 1.0, false, 100});
  p.push_back({"200x300, rows padded to 304 (M tail 72, N tail 44: 4 values)", 200, 300, 1, 304, 1, 0, 0, 1.0, false, 100});
  p.push_back({"130x136 (M tail 2, N tail 8)", 130, 136, 1, 136, 1, 0, 0, 1.0, false, 100});
  p.push_back({"70x13, rows padded to 16 (one edge tile)", 70, 13, 1, 16, 1, 0, 0, 1.0, false, 100});
  p.push_back({"batched 3 x 128x256, rows padded to 264", 128, 256, 3, 264, 1, 128 * 264, 0, 1.0, false, 100});
  p.push_back({"view offset 8 values (16-byte, not 32-byte aligned)", 256, 256, 1, 256, 1, 0, 8, 1.0, false, 100});
  p.push_back({"batched 3, entry stride M*ld + 4 (16-bit: entry 1 only 8-byte aligned)", 128, 128, 3, 128, 1, 128 * 128 + 4, 0, 1.0, false, es == 2 ? -1 : 100});
  p.push_back({"batched 3, entry stride M*ld + 1 (entries 1, 2 unaligned)", 128, 128, 3, 128, 1, 128 * 128 + 1, 0, 1.0, false, -1});
  p.push_back({"view offset 1 value (unaligned) -> generic", 128, 256, 1, 256, 1, 0, 1, 1.0, false, 0});
  p.push_back({"row stride 300 (16-bit: 600 bytes -> generic; float32: 1200)", 128, 300, 1, 300, 1, 0, 0, 1.0, false, es == 2 ? 0 : 100});
  p.push_back({"row stride 301 (odd) -> generic", 100, 280, 1, 301, 1, 0, 0, 1.0, false, 0});
  p.push_back({"200x301 (N odd: a lone value at N's edge), rows padded to 304", 200, 301, 1, 304, 1, 0, 0, 1.0, false, 100});
  p.push_back({"alpha 2 -> generic", 128, 128, 1, 128, 1, 0, 0, 2.0, false, 0});
  p.push_back({"beta * C -> generic", 128, 128, 1, 128, 1, 0, 0, 1.0, true, 0});
  p.push_back({"column stride 2 -> generic", 64, 128, 1, 256, 2, 0, 0, 1.0, false, 0});
  p.push_back({"transposed Y (column-major) -> generic", 128, 136, 1, 1, 128, 0, 0, 1.0, false, 0});
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const bool verbose = argc > 1 && std::string(argv[1]) == "-v";
  // 1. The block's shared memory and the barrier ids.
  for (int bn : {128, 256}) {
    const uint32_t stage = stage_bytes(bn), epi = epi_offset(bn), bar = bar_offset(bn), total = smem_bytes(bn);
    std::printf("shared memory, tile 128x%d: ring %u (%d x %u) + staging %u (2 x %u) at %u + mbarriers %u at %u + alignment 1024 = %u bytes (limit %u)\n",
                bn, kStages * stage, kStages, stage, 2 * kEpiBytes, kEpiBytes, epi, 2 * kStages * 8, bar, total, kSmemLimit);
    CHECK(total <= kSmemLimit, "shared memory over the limit\n");
    CHECK(epi >= kStages * stage && epi % 1024 == 0 && bar >= epi + 2 * kEpiBytes && bar % 8 == 0, "regions overlap or are misaligned\n");
  }
  CHECK(kEpiBytes == kEpiRows * kEpiCols * 2 && kEpiPasses * 128 * 16 == (int)kEpiBytes, "staging size\n");
  CHECK(kEpiBarrier0 >= 1 && kEpiBarrier0 + 1 <= 15, "named barrier ids %d, %d collide with 0 (__syncthreads) or exceed 15\n", kEpiBarrier0,
        kEpiBarrier0 + 1);
  // 2. The fragment: the kernel's functions == the generic epilogue == the PTX ISA figure; a bijection
  //    onto 64 x bn for both tile widths.
  for (int bn : {128, 256}) {
    const int f0 = failures;
    std::set<int> seen;
    for (int tid = 0; tid < 128; ++tid)
      for (int i = 0; i < bn / 2; ++i) {
        int r1, c1, r2, c2, r3, c3;
        generic_frag(tid, i, r1, c1);
        ptx_frag(tid, i, r2, c2);
        kernel_frag(tid, i, r3, c3, Variant{});
        CHECK(r1 == r2 && c1 == c2 && r1 == r3 && c1 == c3, "fragment of thread %d, d[%d]: generic (%d, %d), PTX (%d, %d), kernel (%d, %d)\n", tid,
              i, r1, c1, r2, c2, r3, c3);
        CHECK(r1 >= 0 && r1 < 64 && c1 >= 0 && c1 < bn, "fragment outside 64 x %d\n", bn);
        seen.insert(r1 * bn + c1);
      }
    CHECK(seen.size() == 64u * bn, "fragment is not a bijection\n");
    std::printf("fragment (m64n%dk16): epi_frag_row/col == the generic epilogue's r0 / r0 + 8, c0 + 8 n8 + {0,1} == PTX wgmma m64nNk16 D, "
                "bijective: %s\n",
                bn, failures == f0 ? "yes" : "NO");
  }
  // 3. The predicate on its own.
  {
    const int f0 = failures;
    CHECK(epi_fast(1.0, false, 4096, 4096, 1) && epi_fast(1.0, false, 100, 104, 1), "fast predicate rejects a plain Y\n");
    CHECK(!epi_fast(1.0, false, 256, 128, 1), "fast predicate takes overlapping rows\n");
    CHECK(!epi_fast(-1.0, false, 128, 128, 1) && !epi_fast(1.0, true, 128, 128, 1) && !epi_fast(1.0, false, 128, 132, 1) &&
              !epi_fast(1.0, false, 128, 128, 0),
          "fast predicate takes alpha != 1, C, a 264-byte row or a column stride 0\n");
    CHECK(epi_fast_base(0x1000) && epi_fast_base(0x1010) && !epi_fast_base(0x1008) && !epi_fast_base(0x1002), "base predicate\n");
    CHECK(epi_fast(1.0, false, 300, 300, 1, 4) && epi_fast(1.0, false, 13, 14, 1, 4) && !epi_fast(1.0, false, 13, 13, 1, 4) &&
              !epi_fast(1.0, false, 256, 128, 1, 4) && !epi_fast(2.0, false, 128, 128, 1, 4),
          "float32 fast predicate: an even row stride, not overlapping, alpha 1\n");
    CHECK(epi_fast_base(0x1008, 4) && !epi_fast_base(0x1004, 4), "float32 base predicate: 8-byte\n");
    CHECK(epi_vector_cols(301, 298, 2) == 2 && epi_vector_cols(301, 300, 2) == 1 && epi_vector_cols(301, 302, 2) == 0, "epi_vector_cols(width 2)\n");
    CHECK(epi_vector_cols(300, 288) == 8 && epi_vector_cols(300, 296) == 4 && epi_vector_cols(300, 304) == 0 && epi_vector_cols(300, 400) == 0,
          "epi_vector_cols\n");
    std::printf("fast-path predicate table: %s\n", failures == f0 ? "ok" : "FAILED");
  }
  // 4. The kernel as built over every problem.
  const int before = failures;
  Stats all;
  int pair_sectors_min = 1 << 30, pair_sectors_max = 0;
  for (uint32_t es : {2u, 4u})
  for (int bn : {128, 256})
  for (const Problem& pr : problems(es)) {
    Stats s;
    const int f0 = failures;
    run(pr, bn, Variant{}, s, es);
    if (es == 2)
      std::printf("  %s%-70s tiles fast %3lld generic %3lld  v4 stores %6lld  u16 %5lld  generic %6lld  %s\n", bn == 256 ? "[n256] " : "",
                  pr.name.c_str(), (long long)s.fast_tiles, (long long)s.generic_tiles, (long long)s.vec_stores, (long long)s.scalar_stores,
                  (long long)s.generic_stores, failures == f0 ? "ok" : "FAILED");
    else
      std::printf("  [f32]%s %-70s tiles fast %3lld generic %3lld  v2 stores %6lld  f32 %5lld  generic %6lld  %s\n", bn == 256 ? "[n256]" : "",
                  pr.name.c_str(), (long long)s.fast_tiles, (long long)s.generic_tiles, (long long)s.pair_stores, (long long)s.single_stores,
                  (long long)s.generic_stores, failures == f0 ? "ok" : "FAILED");
    if (s.sectors_max) std::printf("      sectors per full st.global.v4 warp instruction: %d..%d\n", s.sectors_min, s.sectors_max);
    pair_sectors_min = std::min(pair_sectors_min, s.pair_sectors_min), pair_sectors_max = std::max(pair_sectors_max, s.pair_sectors_max);
    all.write_ways_max = std::max(all.write_ways_max, s.write_ways_max);
    all.read_wavefronts_max = std::max(all.read_wavefronts_max, s.read_wavefronts_max);
    all.read_wavefronts_warp_max = std::max(all.read_wavefronts_warp_max, s.read_wavefronts_warp_max);
    all.elements += s.elements, all.vec_bytes += s.vec_bytes, all.vec_sector_bytes += s.vec_sector_bytes;
  }
  // Aligned 4096-wide case on its own for the sector count the report quotes.
  Stats big;
  run(problems()[1], 128, Variant{}, big);
  // The generic path's store pattern, for comparison: one warp instruction (n8, e, h) of 2-byte stores.
  int gen_sectors = 0;
  {
    std::set<uint64_t> s;
    for (int lane = 0; lane < 32; ++lane) {
      int r, c;
      generic_frag(lane, 0, r, c);
      s.insert(((uint64_t)r * 4096 + c) * 2 / 32);
    }
    gen_sectors = (int)s.size();
  }
  std::printf("staging writes (st.shared.b32, 32 lanes): worst %d-way bank conflict per instruction\n", all.write_ways_max);
  std::printf("staging reads (ld.shared.v4): worst %d wavefronts per instruction (ideal 4; quarter-warp model), %d (whole-warp model)\n",
              all.read_wavefronts_max, all.read_wavefronts_warp_max);
  std::printf("global stores: %d..%d sectors per st.global.v4 warp instruction (512 bytes; ideal 16) with a 256-aligned Y; generic path: %d "
              "sectors per 64-byte warp store (%d%% of the bytes moved are used)\n",
              big.sectors_min, big.sectors_max, gen_sectors, 64 * 100 / (gen_sectors * 32));
  CHECK(all.write_ways_max == 1, "staging writes conflict %d-way\n", all.write_ways_max);
  CHECK(all.read_wavefronts_max == 4 && all.read_wavefronts_warp_max == 4, "staging reads take %d / %d wavefronts\n", all.read_wavefronts_max,
        all.read_wavefronts_warp_max);
  CHECK(big.sectors_max == 16 && big.sectors_min == 16, "aligned Y: %d..%d sectors per warp store\n", big.sectors_min, big.sectors_max);
  Stats big32;
  run(problems(4)[1], 256, Variant{}, big32, 4);
  std::printf("float32 Y: %d..%d sectors per full st.global.v2.f32 warp instruction (256 bytes; ideal 8) with a 256-aligned Y whose rows are "
              "32-byte multiples; %d..%d over every problem (rows of other strides straddle sectors)\n",
              big32.pair_sectors_min, big32.pair_sectors_max, pair_sectors_min, pair_sectors_max);
  CHECK(big32.pair_sectors_min == 8 && big32.pair_sectors_max == 8, "float32 pairs: %d..%d sectors per warp store\n", big32.pair_sectors_min,
        big32.pair_sectors_max);
  const bool built_ok = failures == before;
  std::printf("as built: %s (%lld output elements checked)\n", built_ok ? "PASS" : "FAIL", (long long)all.elements);
  // 5. Mutations must be caught: wrong values, races, out-of-bounds or misaligned stores, or a
  //    staging layout whose bank conflicts exceed the as-built bound.
  const Variant mutants[] = {
      mutant<Variant>("staging without the chunk swizzle (bank conflicts)", [](Variant& v) { v.stage_no_swizzle = true; }),
      mutant<Variant>("reads do not undo the swizzle", [](Variant& v) { v.read_no_unswizzle = true; }),
      mutant<Variant>("fragment second row r0 + 4", [](Variant& v) { v.frag_h_plus4 = true; }),
      mutant<Variant>("pair packed high value first", [](Variant& v) { v.pack_swapped = true; }),
      mutant<Variant>("no barrier before the staging writes", [](Variant& v) { v.no_barrier_before = true; }),
      mutant<Variant>("no barrier between staging writes and reads", [](Variant& v) { v.no_barrier_after = true; }),
      mutant<Variant>("vector store across N (no value guard)", [](Variant& v) { v.no_n_guard = true; }),
      mutant<Variant>("rows past M stored", [](Variant& v) { v.no_m_guard = true; }),
      mutant<Variant>("read pass rows by warp (i * 8 + tid / 32)", [](Variant& v) { v.read_rows_by_warp = true; }),
      mutant<Variant>("fast path ignores the base / batch-entry alignment", [](Variant& v) { v.fast_ignores_base = true; }),
      mutant<Variant>("fast path ignores the row-stride alignment", [](Variant& v) { v.fast_ignores_pitch = true; }),
      mutant<Variant>("n256: no barrier between column blocks", [](Variant& v) { v.wide_one_barrier = true; }),
      mutant<Variant>("n256: every column block stages block 0's values", [](Variant& v) { v.wide_block0_values = true; }),
      mutant<Variant>("float32: the pair crossing N stored whole", [](Variant& v) { v.f32_no_n_guard = true; }),
      mutant<Variant>("float32: rows past M stored", [](Variant& v) { v.f32_no_m_guard = true; }),
      mutant<Variant>("float32: base / batch-entry alignment not checked", [](Variant& v) { v.f32_ignores_base = true; }),
      mutant<Variant>("float32: row-stride alignment not checked", [](Variant& v) { v.f32_ignores_pitch = true; }),
      mutant<Variant>("float32: pair stored high value first", [](Variant& v) { v.f32_pair_swapped = true; }),
  };
  const int caught = kiln::host_check::caught_mutants(mutants, [&](const Variant& v) {
    Stats s;
    const bool wide = v.wide_one_barrier || v.wide_block0_values;  // at bn 128 these are the kernel as built
    for (uint32_t es : {2u, 4u})
      for (const Problem& pr : problems(es)) run(pr, wide ? 256 : 128, v, s, es);
    CHECK(s.write_ways_max <= 1 && s.read_wavefronts_max <= 4, "bank conflicts: staging writes %d-way, reads %d wavefronts\n", s.write_ways_max,
          s.read_wavefronts_max);
  }, verbose ? 2 : 0);
  const int n_mutants = (int)(sizeof(mutants) / sizeof(mutants[0]));
  const bool ok = built_ok && failures == before && caught == n_mutants;
  std::printf("%s\n", ok ? "ALL OK" : "PROBLEMS FOUND");
  return ok ? 0 : 1;
}
