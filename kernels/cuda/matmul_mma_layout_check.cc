// Host-side check of matmul_mma's fast path (no GPU needed): the kernel's own index functions
// (matmul_mma_layout.h) drive models of the PTX instructions it issues, block by block, over a set
// of problems (odd M / N / K, all four A / B layouts, padded leading dims, batches), and every
// fragment register of every lane of every warp, for every K step of every stage, must hold the
// operand value the mma.m16n8k16 fragment layout requires there, or zero past an edge.
//   cp.async.cg.shared.global [dst], [src], 16, src-size: src and dst 16-byte aligned, src a valid
//     address inside the operand's allocation even when src-size is 0, src-size bytes read, the rest
//     of the 16 zero filled (PTX ISA, cp.async). Its writes land at some point between the issue and
//     the cp.async.wait_group that retires their group: run twice, landing at once ("early", which
//     catches a copy into a stage still being read) and at the last moment ("late", which catches
//     a read of a stage whose copies are not waited for).
//   ldmatrix.sync.aligned.m8n8.x4{.trans}.shared.b16 (PTX ISA, ldmatrix): lane 8q + r gives the
//     address of row r of matrix q (16 bytes, 16-byte aligned); register q of lane l receives row
//     l / 4, values 2 (l % 4) and 2 (l % 4) + 1 of matrix q, or with .trans (the matrix read column
//     by column) values at rows 2 (l % 4), 2 (l % 4) + 1 of column l / 4.
//   mma.m16n8k16 .f16 / .bf16 fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16"), lane
//     (g, t) = (l / 4, l % 4): A register j = rows g + 8 (j % 2), K 2t + 8 (j / 2) + {0, 1};
//     B register j = K 2t + 8 j + {0, 1}, column g; D element e = row g + 8 (e / 2), column 2t + e % 2.
// Also: each stage's 1024 chunks are written exactly once per k-tile; shared-memory bank conflicts
// of the cp.async stores (a 16-byte access serves a quarter warp per phase) and of each ldmatrix
// phase (one 8x8 matrix: 8 rows of 16 bytes) are counted and must be 1-way; the epilogue's
// accumulator -> (row, col) map must store each output of the tile once, from the right mma D
// element; the dispatch test must send each problem to the expected path. Then mutations (wrong
// swizzle, missing .trans, swapped x4 matrices, wrong lane -> row map, edge src-size off by one,
// pipeline off by one, ...) must each be caught, so the check is not vacuous.
// Values are tags: allocation index + 1 (0 = zero fill; kStale = never written).
//   c++ -std=c++17 -O2 -I kernels/cuda kernels/cuda/matmul_mma_layout_check.cc -o /tmp/chk && /tmp/chk [-v]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <string>
#include <vector>

#include "host_check.h"
#include "matmul_mma_layout.h"

using namespace kiln::cuda::mma_layout;

namespace {

using kiln::host_check::failures;
using kiln::host_check::mutant;

constexpr uint32_t kStale = 0xFFFFFFFFu;

struct Variant {  // the kernel as built (all defaults) or one mutation of it
  const char* name = "as built";
  bool no_swizzle = false;         // chunks stored and read unswizzled (data right, conflicts)
  bool read_unswizzled = false;    // ldmatrix ignores the swizzle the copies used
  bool mn_no_trans = false;        // MN-major tiles read without .trans
  bool k_trans = false;            // K-major tiles read with .trans
  bool a_x4_swapped = false;       // A: matrices 1 and 2 of the x4 exchanged
  bool b_regs_swapped = false;     // B: matrix q lands in b[2jj + q % 2][q / 2]
  bool lane_row_g = false;         // lane's row within its matrix (lane / 4) % 8, not lane % 8
  bool src_size_plus1 = false;     // an edge chunk reads one value too many
  bool edge_full_chunk = false;    // src-size 16 whenever any of the chunk is inside
  bool oob_source = false;         // a chunk wholly outside reads 0 bytes at its own (outside) address
  bool wait_one_less = false;      // cp.async.wait_group kStages - 1
  bool copy_into_current = false;  // k-tile kt + kStages - 1 copied into slot_of(kt)
  bool chunk_rows_by_8 = false;    // K-major chunk e at row e / 8
  bool mma_a_1_2 = false;          // a1 and a2 handed to mma in each other's place
  bool acc_col_t = false;          // epilogue column 2t -> t
};

// ---- Global memory: one allocation of 16-bit values per operand --------------------------------
struct Operand {
  int major;                    // the layout the kernel reads it with
  int64_t R, K, nb;             // rows (M or N), K, batch entries
  int64_t sr, sk, sbatch, off;  // strides and the view's first value, in elements
  uint64_t alloc = 0x100000;    // byte address of the allocation (16-byte aligned)
  int64_t elems = 0;            // allocation size in values: exactly the view's footprint
  void size() { elems = off + (nb - 1) * sbatch + (R - 1) * sr + (K - 1) * sk + 1; }
  uint64_t base(int64_t z) const { return alloc + 2 * (uint64_t)(off + z * sbatch); }
  uint32_t tag(int64_t z, int64_t r, int64_t k) const {  // 0 past an edge (the zero fill)
    if (r >= R || k >= K) return 0;
    return (uint32_t)(off + z * sbatch + r * sr + k * sk + 1);
  }
  bool read(uint64_t addr, uint32_t& t) const {
    if (addr < alloc || addr % 2 || (int64_t)((addr - alloc) / 2) >= elems) return false;
    t = (uint32_t)((addr - alloc) / 2 + 1);
    return true;
  }
};

struct Problem {
  std::string name;
  int64_t M, K, N, nb;
  Operand a, b;
  int expect_a, expect_b;  // the dispatch's answer: kNoFastPath in expect_a = general kernel
};

struct Stats {
  uint64_t blocks = 0, ktiles = 0, chunks = 0, zero_chunks = 0, partial_chunks = 0, a_regs = 0, b_regs = 0, ldsm = 0;
  int copy_ways = 0, ldsm_ways = 0;
};

// ---- Variant-aware views of the kernel's functions ------------------------------------------
Coord v_chunk_coord(const Variant& v, int major, int e) {
  if (v.chunk_rows_by_8 && major == kKMajor) return Coord{e / 8, (e % 4) * 8};
  return chunk_coord(major, e);
}
uint32_t plain_chunk(int major, Coord x) { return major == kKMajor ? (uint32_t)(x.mn * 64 + x.k / 8 * 16) : (uint32_t)(x.k * 256 + x.mn / 8 * 16); }
uint32_t v_write_offset(const Variant& v, int major, Coord x) { return v.no_swizzle ? plain_chunk(major, x) : chunk_offset(major, x); }
uint32_t v_read_offset(const Variant& v, int major, Coord x) {
  return v.no_swizzle || v.read_unswizzled ? plain_chunk(major, x) : chunk_offset(major, x);
}
uint32_t v_bytes(const Variant& v, int major, int64_t gmn, int64_t gk, int64_t R, int64_t K) {
  uint32_t b = chunk_bytes(major, gmn, gk, R, K);
  if (v.src_size_plus1 && b > 0 && b < 16) b += 2;
  if (v.edge_full_chunk && b > 0) b = 16;
  return b;
}
int mutate_lane(const Variant& v, int lane) { return v.lane_row_g ? (lane & 24) | ((lane >> 2) & 7) : lane; }
Coord v_ldsm_a(const Variant& v, int major, int lane, int wm, int i, int s) {
  lane = mutate_lane(v, lane);
  if (v.a_x4_swapped) lane = (lane & 7) | ((lane >> 3 & 1) << 4) | ((lane >> 4 & 1) << 3);
  return ldsm_a(major, lane, wm, i, s);
}
Coord v_ldsm_b(const Variant& v, int major, int lane, int wn, int jj, int s) { return ldsm_b(major, mutate_lane(v, lane), wn, jj, s); }
bool v_trans(const Variant& v, int major) {
  bool t = ldsm_trans(major);
  if (v.mn_no_trans && major == kMnMajor) t = false;
  if (v.k_trans && major == kKMajor) t = true;
  return t;
}

// Bank conflicts of one phase: 16-byte accesses at `addr` (byte addresses); the most distinct 4-byte
// words any of the 32 banks serves.
int ways(const std::vector<uint32_t>& addr) {
  int worst = 0;
  for (int bank = 0; bank < 32; ++bank) {
    std::vector<uint32_t> words;
    for (uint32_t a : addr)
      for (uint32_t w = a / 4; w < a / 4 + 4; ++w)
        if ((int)(w % 32) == bank && std::find(words.begin(), words.end(), w) == words.end()) words.push_back(w);
    worst = std::max(worst, (int)words.size());
  }
  return worst;
}

// ---- One block: the prologue, the main loop and its reads, as the kernel runs them ----------
struct Block {
  const Problem& pr;
  const Variant& v;
  bool early;
  int64_t z, m0, n0;
  Stats& st;
  std::vector<uint32_t> smem = std::vector<uint32_t>(kSmemBytes / 2, kStale);
  struct Write { uint32_t dst; uint32_t tag[8]; };
  std::deque<std::vector<Write>> groups;  // committed, not yet retired (late mode)
  std::vector<Write> open;                // issued since the last commit

  void apply(const Write& w) {
    for (int e = 0; e < 8; ++e) smem[w.dst / 2 + e] = w.tag[e];
  }
  // Every thread's cp.async chunks of k-tile kt into stage `slot`.
  void copy(int64_t kt, int slot) {
    std::vector<int> count(2 * kChunks, 0);
    for (int op = 0; op < 2; ++op) {
      const Operand& o = op == 0 ? pr.a : pr.b;
      const int64_t t0 = op == 0 ? m0 : n0;
      for (int c = 0; c < kChunksPerThread; ++c)
        for (int warp = 0; warp < kThreads / 32; ++warp)
          for (int phase = 0; phase < 4; ++phase) {  // a quarter warp per 16-byte store phase
            std::vector<uint32_t> dsts;
            for (int l = 8 * phase; l < 8 * phase + 8; ++l) {
              const int tid = warp * 32 + l, e = tid + kThreads * c;
              const Coord x = v_chunk_coord(v, o.major, e);
              const int64_t gmn = t0 + x.mn, gk = kt * kBK + x.k;
              const uint32_t bytes = v_bytes(v, o.major, gmn, gk, o.R, o.K);
              const int64_t el = chunk_element(o.major, gmn, gk, o.sr, o.sk);
              const uint64_t src = bytes > 0 || v.oob_source ? o.base(z) + 2 * (uint64_t)el : o.base(z);
              const uint32_t toff = v_write_offset(v, o.major, x);
              const uint32_t dst = (uint32_t)slot * kStageBytes + (uint32_t)op * kTileBytes + toff;
              ++st.chunks, st.zero_chunks += bytes == 0, st.partial_chunks += bytes > 0 && bytes < 16;
              CHECK(toff < kTileBytes && dst % 16 == 0, "%s [%s]: chunk %d of operand %d lands at %u, outside its tile or misaligned\n",
                    pr.name.c_str(), v.name, e, op, toff);
              if (!(toff < kTileBytes && dst % 16 == 0)) continue;
              ++count[op * kChunks + toff / 16];
              dsts.push_back(dst);
              uint32_t probe;
              CHECK(src % 16 == 0 && o.read(src, probe), "%s [%s]: cp.async source 0x%llx (operand %d, chunk at %lld, %lld) %s\n",
                    pr.name.c_str(), v.name, (unsigned long long)src, op, (long long)gmn, (long long)gk,
                    src % 16 ? "not 16-byte aligned" : "outside the allocation");
              CHECK(bytes <= 16 && bytes % 2 == 0, "%s: src-size %u\n", pr.name.c_str(), bytes);
              Write w{dst, {}};
              for (uint32_t i = 0; i < 8; ++i) {
                w.tag[i] = 0;
                if (2 * i < bytes && !o.read(src + 2 * i, w.tag[i])) {
                  CHECK(false, "%s [%s]: cp.async reads past the allocation at 0x%llx\n", pr.name.c_str(), v.name,
                        (unsigned long long)(src + 2 * i));
                  w.tag[i] = kStale;
                }
              }
              if (early) apply(w);
              else open.push_back(w);
            }
            const int wy = ways(dsts);
            st.copy_ways = std::max(st.copy_ways, wy);
            CHECK(wy == 1, "%s [%s]: cp.async stores of warp %d phase %d: %d-way bank conflict\n", pr.name.c_str(), v.name, warp, phase, wy);
          }
    }
    for (int i = 0; i < 2 * kChunks; ++i)
      CHECK(count[i] == 1, "%s [%s]: stage chunk %d (operand %d) written %d times by one k-tile's copies\n", pr.name.c_str(), v.name,
            i % kChunks, i / kChunks, count[i]);
  }
  void commit() { groups.push_back(std::move(open)), open.clear(); }
  void wait(int pending) {
    while ((int)groups.size() > pending) {
      for (const Write& w : groups.front()) apply(w);
      groups.pop_front();
    }
  }

  // One ldmatrix.x4 of a warp: the 32 lanes' row addresses -> the 4 registers of each lane.
  void ldsm(const std::vector<uint32_t>& addr, bool trans, uint32_t region, uint32_t (&out)[32][4][2]) {
    ++st.ldsm;
    for (int q = 0; q < 4; ++q) {
      std::vector<uint32_t> rows(addr.begin() + 8 * q, addr.begin() + 8 * q + 8);
      const int wy = ways(rows);
      st.ldsm_ways = std::max(st.ldsm_ways, wy);
      CHECK(wy == 1, "%s [%s]: ldmatrix matrix %d: %d-way bank conflict\n", pr.name.c_str(), v.name, q, wy);
    }
    for (int l = 0; l < 32; ++l) {
      const bool ok = addr[l] % 16 == 0 && addr[l] >= region && addr[l] + 16 <= region + kTileBytes;
      CHECK(ok, "%s [%s]: ldmatrix row address %u of lane %d misaligned or outside its tile\n", pr.name.c_str(), v.name, addr[l], l);
      if (!ok) return;
    }
    for (int l = 0; l < 32; ++l)
      for (int q = 0; q < 4; ++q)
        for (int h = 0; h < 2; ++h) {
          const uint32_t a = trans ? addr[8 * q + 2 * (l % 4) + h] + 2 * (l / 4) : addr[8 * q + l / 4] + 2 * (2 * (l % 4) + h);
          out[l][q][h] = smem[a / 2];
        }
  }

  // The warps' reads of stage `slot` (k-tile kt): every fragment register against the mma layout.
  void compute(int64_t kt, int slot) {
    const uint32_t abase = (uint32_t)slot * kStageBytes, bbase = abase + kTileBytes;
    for (int warp = 0; warp < kThreads / 32; ++warp) {
      const int wm = warp_m(warp), wn = warp_n(warp);
      for (int s = 0; s < kSteps; ++s) {
        uint32_t fa[4][32][4][2], fb[4][32][2][2];
        for (int i = 0; i < 4; ++i) {
          std::vector<uint32_t> addr(32);
          for (int l = 0; l < 32; ++l) addr[l] = abase + v_read_offset(v, pr.a.major, v_ldsm_a(v, pr.a.major, l, wm, i, s));
          ldsm(addr, v_trans(v, pr.a.major), abase, fa[i]);
        }
        for (int jj = 0; jj < 2; ++jj) {
          std::vector<uint32_t> addr(32);
          for (int l = 0; l < 32; ++l) addr[l] = bbase + v_read_offset(v, pr.b.major, v_ldsm_b(v, pr.b.major, l, wn, jj, s));
          uint32_t out[32][4][2];
          ldsm(addr, v_trans(v, pr.b.major), bbase, out);
          for (int l = 0; l < 32; ++l)
            for (int q = 0; q < 4; ++q) {
              const int tile = v.b_regs_swapped ? 2 * jj + (q & 1) : b_tile(jj, q), reg = v.b_regs_swapped ? q >> 1 : b_reg(q);
              fb[tile][l][reg][0] = out[l][q][0], fb[tile][l][reg][1] = out[l][q][1];
            }
        }
        // What mma.m16n8k16 takes from each register.
        for (int l = 0; l < 32; ++l) {
          const int g = l / 4, t = l % 4;
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
              const int src = v.mma_a_1_2 && (j == 1 || j == 2) ? 3 - j : j;  // the register the kernel hands over as a_j
              for (int h = 0; h < 2; ++h) {
                const int64_t m = m0 + wm + 16 * i + g + 8 * (j % 2), k = kt * kBK + kStepK * s + 2 * t + 8 * (j / 2) + h;
                const uint32_t want = pr.a.tag(z, m, k), got = fa[i][l][src][h];
                ++st.a_regs;
                CHECK(got == want, "%s [%s] %s: block (%lld, %lld, %lld) k-tile %lld step %d warp %d lane %d: A tile %d a%d[%d] = %d, want %d (m %lld, k %lld)\n",
                      pr.name.c_str(), v.name, early ? "early" : "late", (long long)z, (long long)m0, (long long)n0, (long long)kt, s, warp, l, i,
                      j, h, (int)got, (int)want, (long long)m, (long long)k);
              }
            }
          for (int jn = 0; jn < 4; ++jn)
            for (int j = 0; j < 2; ++j)
              for (int h = 0; h < 2; ++h) {
                const int64_t n = n0 + wn + 8 * jn + g, k = kt * kBK + kStepK * s + 2 * t + 8 * j + h;
                const uint32_t want = pr.b.tag(z, n, k), got = fb[jn][l][j][h];
                ++st.b_regs;
                CHECK(got == want, "%s [%s] %s: block (%lld, %lld, %lld) k-tile %lld step %d warp %d lane %d: B tile %d b%d[%d] = %d, want %d (k %lld, n %lld)\n",
                      pr.name.c_str(), v.name, early ? "early" : "late", (long long)z, (long long)m0, (long long)n0, (long long)kt, s, warp, l, jn,
                      j, h, (int)got, (int)want, (long long)k, (long long)n);
              }
        }
      }
    }
  }

  void run() {
    ++st.blocks;
    const int64_t kts = k_tiles(pr.K);
    for (int s = 0; s < kStages - 1; ++s) {
      if (s < kts) copy(s, slot_of(s));
      commit();
    }
    for (int64_t kt = 0; kt < kts; ++kt) {
      ++st.ktiles;
      wait(v.wait_one_less ? kWaitPending + 1 : kWaitPending);
      // __syncthreads: every thread's retired copies are visible to every warp from here.
      const int64_t nk = kt + kStages - 1;
      if (nk < kts) copy(nk, v.copy_into_current ? slot_of(kt) : slot_of(nk));
      commit();
      compute(kt, slot_of(kt));
    }
    wait(0);
  }
};

void run(const Problem& pr, const Variant& v, Stats& st, int max_blocks = 1 << 30) {
  const FastPath fp = fast_path(pr.M, pr.N, pr.K, pr.a.sr, pr.a.sk, pr.b.sk, pr.b.sr, pr.a.base(0), pr.b.base(0));
  const bool batch_ok = batch_stride_aligned(pr.nb, pr.a.sbatch) && batch_stride_aligned(pr.nb, pr.b.sbatch);
  const int got_a = batch_ok ? fp.a : kNoFastPath, got_b = got_a == kNoFastPath ? kNoFastPath : fp.b;
  CHECK(got_a == pr.expect_a && got_b == pr.expect_b, "%s: dispatch (%d, %d), expected (%d, %d)\n", pr.name.c_str(), got_a, got_b,
        pr.expect_a, pr.expect_b);
  if (pr.expect_a == kNoFastPath || got_a != pr.expect_a || got_b != pr.expect_b) return;
  int blocks = 0;
  for (int64_t z = 0; z < pr.nb; ++z)
    for (int64_t m0 = 0; m0 < pr.M; m0 += kBM)
      for (int64_t n0 = 0; n0 < pr.N; n0 += kBN) {
        if (blocks++ >= max_blocks) return;
        for (bool early : {true, false}) {
          Block b{pr, v, early, z, m0, n0, st};
          b.run();
        }
      }
}

// The epilogue: acc[i][j][e] of each lane of each warp goes to (acc_row, acc_col); the mma D
// layout says which output that accumulator holds. Each output of the tile stored once.
void check_epilogue(const Variant& v) {
  std::vector<int> seen(kBM * kBN, 0);
  for (int warp = 0; warp < kThreads / 32; ++warp)
    for (int l = 0; l < 32; ++l)
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          for (int e = 0; e < 4; ++e) {
            const int wm = warp_m(warp), wn = warp_n(warp);
            const int r = acc_row(wm, l, i, e), c = v.acc_col_t ? wn + 8 * j + (l & 3) + (e & 1) : acc_col(wn, l, j, e);
            const int want_r = wm + 16 * i + l / 4 + 8 * (e / 2), want_c = wn + 8 * j + 2 * (l % 4) + e % 2;
            CHECK(r == want_r && c == want_c, "[%s] epilogue: warp %d lane %d acc[%d][%d][%d] stored at (%d, %d), mma D puts (%d, %d) there\n",
                  v.name, warp, l, i, j, e, r, c, want_r, want_c);
            if (r >= 0 && r < kBM && c >= 0 && c < kBN) ++seen[r * kBN + c];
          }
  int bad = 0;
  for (int x : seen) bad += x != 1;
  CHECK(bad == 0, "[%s] epilogue: %d outputs of the tile not stored exactly once\n", v.name, bad);
}

// ---- Problems --------------------------------------------------------------------------------
int64_t round8(int64_t x) { return (x + 7) / 8 * 8; }
// A [nb][M][K] (major kKMajor: stored [m][k], rows lda apart; kMnMajor: stored [k][m]) and B
// [nb][K][N] (kKMajor: B^T stored [n][k]; kMnMajor: row-major [k][n]); leading dims the contiguous
// extent rounded up to 8 plus `pad`, batch entries packed (plus `bpad`), views `off` values in.
Problem make(const std::string& name, int64_t M, int64_t K, int64_t N, int64_t nb, int la, int lb, int64_t pad = 0, int64_t bpad = 0,
             int64_t off = 0) {
  auto op = [&](int major, int64_t R) {
    Operand o;
    o.major = major, o.R = R, o.K = K, o.nb = nb, o.off = off;
    const int64_t ld = round8(major == kKMajor ? K : R) + pad;
    if (major == kKMajor) o.sr = ld, o.sk = 1, o.sbatch = R * ld + bpad;
    else o.sr = 1, o.sk = ld, o.sbatch = K * ld + bpad;
    o.size();
    return o;
  };
  const char* names[] = {"K", "MN"};
  Problem p{name + " A " + names[la] + " B " + names[lb], M, K, N, nb, op(la, M), op(lb, N), la, lb};
  return p;
}

std::vector<Problem> problems() {
  std::vector<Problem> p;
  struct S { const char* name; int64_t M, K, N, nb, pad, bpad, off; };
  const S shapes[] = {
      {"1x1x1", 1, 1, 1, 1, 0, 0, 0},
      {"7x7x7 (ld 8)", 7, 7, 7, 1, 0, 0, 0},
      {"1x129x7", 1, 129, 7, 1, 0, 0, 0},
      {"129x7x200", 129, 7, 200, 1, 0, 0, 0},
      {"200x129x1", 200, 129, 1, 1, 0, 0, 0},
      {"129x200x136, ld +16", 129, 200, 136, 1, 16, 0, 0},
      {"64x40x256 (no N/M tail)", 64, 40, 256, 1, 0, 0, 0},
      {"130x300x136 (10 k-tiles), view at +8", 130, 300, 136, 1, 8, 0, 8},
      {"batched 3 x 65x33x17, entries +24 apart", 65, 33, 17, 3, 0, 24, 0},
  };
  for (int la : {kKMajor, kMnMajor})
    for (int lb : {kKMajor, kMnMajor})
      for (const S& s : shapes) {
        Problem q = make(s.name, s.M, s.K, s.N, s.nb, la, lb, s.pad, s.bpad, s.off);
        // K = 1: its stride never matters, so K is a unit-stride dim and both operands read K-major
        // (an M-contiguous A of M 1, 1x1x1, too).
        if (s.K == 1 && s.M == 1) q.expect_a = kKMajor;
        if (s.K == 1 && s.N == 1) q.expect_b = kKMajor;
        p.push_back(q);
      }
  // The general kernel's cases (the dispatch must refuse them).
  auto general = [&](Problem q, const char* why) {
    q.name = std::string(why) + ": " + q.name;
    q.expect_a = q.expect_b = kNoFastPath;
    p.push_back(q);
  };
  {
    Problem q = make("33x7x9 contiguous", 33, 7, 9, 1, kKMajor, kMnMajor);
    q.a.sr = 7, q.a.size();  // rows of 14 bytes
    general(q, "A ld 7");
  }
  {
    Problem q = make("33x16x9", 33, 16, 9, 1, kKMajor, kMnMajor);
    q.b.sk = 9, q.b.size();  // B row-major, N 9 unpadded
    general(q, "B ld 9");
  }
  general(make("40x64x48", 40, 64, 48, 1, kKMajor, kKMajor, 0, 0, 1), "views 1 value in (2-byte base)");
  general(make("40x64x48", 40, 64, 48, 2, kMnMajor, kKMajor, 0, 4), "batch stride not a multiple of 8");
  {
    Problem q = make("40x64x48", 40, 64, 48, 1, kKMajor, kMnMajor);
    q.a.sk = 2, q.a.sr = 128, q.a.size();  // every other column: no unit stride
    general(q, "A sliced (sak 2)");
  }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const int why = argc > 1 && std::string(argv[1]) == "-v" ? 3 : 0;  // -v: show why each mutation was caught
  std::printf("fast path: %dx%d tile, %d K per stage (%d mma K steps), %d stages, %u B shared memory per block, %d threads, %d chunks per thread and operand\n",
              kBM, kBN, kBK, kSteps, kStages, kSmemBytes, kThreads, kChunksPerThread);
  const int before = failures;
  Stats total;
  int fast = 0, general = 0;
  for (const Problem& pr : problems()) {
    Stats s;
    const int f0 = failures;
    run(pr, Variant{}, s);
    if (pr.expect_a == kNoFastPath) {
      ++general;
      std::printf("  %-66s general kernel  %s\n", pr.name.c_str(), failures == f0 ? "ok" : "FAILED");
      continue;
    }
    ++fast;
    std::printf("  %-66s blocks %2llu k-tiles %3llu chunks %6llu (zero %5llu, partial %4llu) A regs %8llu B regs %8llu  %s\n",
                pr.name.c_str(), (unsigned long long)s.blocks, (unsigned long long)s.ktiles, (unsigned long long)s.chunks,
                (unsigned long long)s.zero_chunks, (unsigned long long)s.partial_chunks, (unsigned long long)s.a_regs,
                (unsigned long long)s.b_regs, failures == f0 ? "ok" : "FAILED");
    total.blocks += s.blocks, total.a_regs += s.a_regs, total.b_regs += s.b_regs, total.ldsm += s.ldsm, total.chunks += s.chunks;
    total.copy_ways = std::max(total.copy_ways, s.copy_ways), total.ldsm_ways = std::max(total.ldsm_ways, s.ldsm_ways);
  }
  check_epilogue(Variant{});
  const bool built_ok = failures == before;
  std::printf("as built: %s (%d fast-path problems, %d general, %llu block runs (each block early and late); %llu A and %llu B fragment values, %llu cp.async chunks, %llu ldmatrix.x4 checked)\n",
              built_ok ? "PASS" : "FAIL", fast, general, (unsigned long long)total.blocks, (unsigned long long)total.a_regs,
              (unsigned long long)total.b_regs, (unsigned long long)total.chunks, (unsigned long long)total.ldsm);
  std::printf("bank conflicts: cp.async stores worst %d-way, ldmatrix phases worst %d-way\n", total.copy_ways, total.ldsm_ways);
  std::printf("epilogue: each of the %dx%d outputs stored once, from the mma D element that holds it\n", kBM, kBN);

  const Variant mutants[] = {
      mutant<Variant>("no swizzle (stores and reads plain)", [](Variant& v) { v.no_swizzle = true; }),
      mutant<Variant>("ldmatrix reads unswizzled addresses", [](Variant& v) { v.read_unswizzled = true; }),
      mutant<Variant>("MN-major tiles read without .trans", [](Variant& v) { v.mn_no_trans = true; }),
      mutant<Variant>("K-major tiles read with .trans", [](Variant& v) { v.k_trans = true; }),
      mutant<Variant>("A x4: matrices 1 and 2 swapped", [](Variant& v) { v.a_x4_swapped = true; }),
      mutant<Variant>("B x4: matrix q -> b[2jj + q % 2][q / 2]", [](Variant& v) { v.b_regs_swapped = true; }),
      mutant<Variant>("lane -> row map (lane / 4) % 8", [](Variant& v) { v.lane_row_g = true; }),
      mutant<Variant>("edge chunk src-size one value too many", [](Variant& v) { v.src_size_plus1 = true; }),
      mutant<Variant>("edge chunk src-size 16", [](Variant& v) { v.edge_full_chunk = true; }),
      mutant<Variant>("outside chunk reads 0 bytes at its own address", [](Variant& v) { v.oob_source = true; }),
      mutant<Variant>("cp.async.wait_group kStages - 1", [](Variant& v) { v.wait_one_less = true; }),
      mutant<Variant>("next k-tile copied into the stage being read", [](Variant& v) { v.copy_into_current = true; }),
      mutant<Variant>("K-major chunk e at row e / 8", [](Variant& v) { v.chunk_rows_by_8 = true; }),
      mutant<Variant>("mma gets a1 and a2 swapped", [](Variant& v) { v.mma_a_1_2 = true; }),
      mutant<Variant>("epilogue column 2t -> t", [](Variant& v) { v.acc_col_t = true; }),
  };
  const int caught = kiln::host_check::caught_mutants(mutants, [&](const Variant& v) {
    Stats s;
    check_epilogue(v);
    for (const Problem& pr : problems())
      if (pr.expect_a != kNoFastPath) run(pr, v, s, 4);
  }, why);
  const int n = (int)(sizeof(mutants) / sizeof(mutants[0]));
  std::printf("mutations caught: %d of %d\n", caught, n);
  const bool all = built_ok && failures == before && caught == n;
  std::printf("%s\n", all ? "ALL OK" : "PROBLEMS FOUND");
  return all ? 0 : 1;
}
