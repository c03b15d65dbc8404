// Host-side check of matmul_wgmma's shared-memory contract (no GPU needed): a model of the TMA
// tiled copy with CU_TENSOR_MAP_SWIZZLE_128B writes the kernel's boxes (matmul_wgmma_layout.h:
// tensor-map geometry, box coordinates, destinations) into a simulated stage, and a model of what
// wgmma reads (PTX ISA, wgmma "Shared Memory Matrix Layout": the canonical K-major / MN-major
// layouts with the 128B swizzle, LBO / SBO, the matrix descriptor fields) follows the kernel's
// descriptors. For every element of every wgmma K step the value wgmma reads must be the
// operand's element, 0 past K (TMA's zero fill), anything only past M / N (never stored). The
// 16-bit K-major A and B^T paths are the control; the MN-major B path and the tf32 (4-byte,
// K-major only) paths are the newer ones; every problem runs at both tile widths (128, and 256: the
// wide tile's four MN-major boxes and 256-row B^T box); mutated variants (wrong LBO/SBO, K step,
// transpose flag, swizzle, box, stage depth, the wide tile's boxes) must fail, so the check is not
// vacuous.
// Values are element tags (allocation index + 1; 0 = zero fill), moved one element (2 or 4 bytes)
// at a time: the swizzle moves 16-byte chunks, so an element never straddles two places.
//   c++ -std=c++17 -O2 -I kernels/cuda kernels/cuda/matmul_wgmma_layout_check.cc -o /tmp/wgmma_check && /tmp/wgmma_check
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "host_check.h"
#include "matmul_wgmma_layout.h"

using namespace kiln::cuda::wgmma_layout;

namespace {

using kiln::host_check::failures;
using kiln::host_check::mutant;

// ---- 128-byte swizzle, three independent statements that must agree -------------------------
// (1) PTX ISA 5.5.7 "Swizzling Modes", 128-byte swizzle, 16-byte atomicity: the table for a
//     1024-byte-aligned start; line i (128 bytes) holds at position p the 16-byte chunk kTable[i][p].
constexpr int kTable[8][8] = {{0, 1, 2, 3, 4, 5, 6, 7}, {1, 0, 3, 2, 5, 4, 7, 6}, {2, 3, 0, 1, 6, 7, 4, 5},
                              {3, 2, 1, 0, 7, 6, 5, 4}, {4, 5, 6, 7, 0, 1, 2, 3}, {5, 4, 7, 6, 1, 0, 3, 2},
                              {6, 7, 4, 5, 2, 3, 0, 1}, {7, 6, 5, 4, 3, 2, 1, 0}};
uint32_t swizzle_table(uint32_t addr) {  // where chunk c of line i lands: the position p with kTable[i][p] == c
  const uint32_t line = (addr >> 7) & 7, chunk = (addr >> 4) & 7;
  for (uint32_t p = 0; p < 8; ++p)
    if ((uint32_t)kTable[line][p] == chunk) return (addr & ~(uint32_t)0x70) | p << 4;
  std::abort();
}
// (2) CuTe Swizzle<3,4,3>::apply (include/cute/swizzle.hpp): offset ^ ((offset & yyy_msk) >> 3),
//     yyy_msk = 0b111 << 7, applied to the byte address (swizzle_ptr, include/cute/pointer_swizzle.hpp).
uint32_t swizzle_cute(uint32_t addr) { return addr ^ ((addr & (7u << 7)) >> 3); }
// (3) The description "16-byte chunk index XOR (128-byte row index mod 8)".
uint32_t swizzle_xor(uint32_t addr) { return addr ^ (((addr >> 7) & 7) << 4); }

// ---- Simulated memories ---------------------------------------------------------------------
struct Global {  // one allocation of esize-byte values (tag = index + 1), and the tensor map's address in it
  uint64_t base;
  int64_t elems;
  uint64_t view;
  uint32_t esize;
  bool read(uint64_t addr, uint32_t& tag) const {
    if (addr < base || addr % esize || (int64_t)((addr - base) / esize) >= elems) return false;
    tag = (uint32_t)((addr - base) / esize + 1);
    return true;
  }
};
constexpr uint32_t kStale = 0xFFFFFFFFu;
struct Smem {  // esize-byte slots over [0, bytes); a misaligned or out-of-range access is a failure
  std::vector<uint32_t> slot;
  uint32_t esize, junk = kStale;
  Smem(uint32_t bytes, uint32_t es) : slot(bytes / es, kStale), esize(es) {}
  uint32_t& at(uint32_t addr) {
    const bool ok = addr % esize == 0 && addr / esize < slot.size();
    CHECK(ok, "smem access at %u (element size %u) misaligned or out of range\n", addr, esize);
    if (!ok) return junk = kStale;
    return slot[addr / esize];
  }
};

struct Variant {  // the kernel as built (all defaults) or one mutation of it
  const char* name = "as built";
  bool swap_mn_lbo_sbo = false, mn_kstep_32 = false, mn_read_as_kmajor = false, kmajor_kstep_2048 = false;
  bool wgmma_no_swizzle = false, swizzle_element_units = false, skip_second_box = false, tma_box_128 = false;
  // tf32 mutations: the 16-bit K step (16 values = 64 bytes of tf32), the 16-bit box (64 values =
  // 256 bytes), the 16-bit stage depth (the producer advances 64 K per stage), an MN-major B.
  bool tf32_kstep_16 = false, tf32_box_64 = false, tf32_stage_64 = false, tf32_mn_major = false;
  // Wide-tile mutations (bn 256): the 128 tile's two MN-major boxes, the 128 tile's 128-row B^T box.
  bool wide_two_boxes = false, wide_box_rows_128 = false;
  // An alternative reading of the descriptor (not a kernel mutation): the swizzle pattern anchored
  // at the descriptor's start address instead of at 1024-byte boundaries of the address.
  bool swizzle_from_start = false;
};

// ---- TMA: cp.async.bulk.tensor.3d tiled, INTERLEAVE_NONE, SWIZZLE_128B, OOB zero fill -------
// Checks the cuTensorMapEncodeTiled requirements (cuda.h) and returns the bytes it delivers (the
// complete_tx count): the whole box, out-of-bound elements included as zeros.
uint32_t tma_load(Smem& sm, uint32_t dst, const Global& g, const TmaGeometry& m, int c0, int c1, int c2, const Variant& v) {
  const uint32_t es = g.esize;
  const uint32_t box0 = v.tma_box_128 ? 128 : v.tf32_box_64 && es == 4 ? (uint32_t)kBK : m.box[0];
  bool ok = g.view % 16 == 0 && m.strides[0] % 16 == 0 && m.strides[1] % 16 == 0 && m.strides[0] < (1ull << 40) &&
            m.strides[1] < (1ull << 40) && box0 * es % 16 == 0 && box0 * es <= 128 /* SWIZZLE_128B */ && box0 <= 256 &&
            m.box[1] <= 256 && m.box[2] == 1 && dst % 128 == 0;
  for (uint64_t d : m.dims) ok = ok && d >= 1 && d <= (1ull << 32);
  CHECK(ok, "tensor map / box invalid (box0 %u, strides %llu %llu, dst %u)\n", box0, (unsigned long long)m.strides[0],
        (unsigned long long)m.strides[1], dst);
  if (!ok) return 0;
  CHECK(dst % 1024 == 0, "TMA destination %u not 1024-aligned (swizzle base offset would be non-zero)\n", dst);
  for (uint32_t i1 = 0; i1 < m.box[1]; ++i1)
    for (uint32_t i0 = 0; i0 < box0; ++i0) {
      const int64_t x0 = (int64_t)c0 + i0, x1 = (int64_t)c1 + i1, x2 = c2;
      uint32_t tag = 0;
      if (x0 >= 0 && x1 >= 0 && x2 >= 0 && (uint64_t)x0 < m.dims[0] && (uint64_t)x1 < m.dims[1] && (uint64_t)x2 < m.dims[2]) {
        const uint64_t addr = g.view + (uint64_t)x0 * es + (uint64_t)x1 * m.strides[0] + (uint64_t)x2 * m.strides[1];
        CHECK(g.read(addr, tag), "TMA reads outside the allocation (coords %lld %lld %lld)\n", (long long)x0, (long long)x1, (long long)x2);
      }
      const uint32_t logical = dst + (i1 * box0 + i0) * es;  // dense box, inner dimension fastest
      sm.at(swizzle_xor(logical)) = tag;
    }
  return m.box[1] * box0 * m.box[2] * es;
}

// ---- wgmma's read of one operand through its descriptor ----------------------------------------
// Canonical layouts (PTX ISA "Canonical Layouts"; CuTe make_gmma_desc), T = 16 bytes of values
// (T = 128 / sizeof-bits: 8 16-bit values, 4 tf32 values):
//   K-major,  128B: ((8,m),(T,2k)):((8T,SBO),(1,T))      row i = i0 + 8 i1; K j = j0 + T j1
//   MN-major, 128B: ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO))  MN i = i0 + T i1 + 8T i2; K j = j0 + 8 j1
// strides in values (x esize bytes) except LBO / SBO (bytes, from the descriptor); then the 128B
// swizzle of the byte address (pattern anchored at 1024-byte boundaries: base offset 0). One K step
// is 2T values (k16 for 16-bit, k8 for tf32): 32 bytes of each row. MN-major exists only for 16-bit
// types (PTX ISA: the transpose is .f16 / .bf16 only); run() fails a tf32 MN-major read before this.
uint32_t wgmma_addr(uint64_t desc, bool mn_major, int i, int j, const Variant& v, uint32_t es) {
  const uint32_t start = (uint32_t)(desc & 0x3FFF) << 4, lbo = (uint32_t)((desc >> 16) & 0x3FFF) << 4,
                 sbo = (uint32_t)((desc >> 32) & 0x3FFF) << 4, base_off = (uint32_t)((desc >> 49) & 7), mode = (uint32_t)(desc >> 62);
  CHECK(mode == 1 && base_off == 0, "descriptor: swizzle mode %u, base offset %u\n", mode, base_off);
  const int T = (int)(16 / es);
  uint32_t off;
  if (!mn_major) {
    const int i0 = i % 8, i1 = i / 8, j0 = j % T, j1 = j / T;
    off = (uint32_t)(i0 * 8 * T + j0 + j1 * T) * es + (uint32_t)i1 * sbo;
  } else {
    const int i0 = i % T, i1 = (i / T) % 8, i2 = i / (8 * T), j0 = j % 8, j1 = j / 8;
    off = (uint32_t)(i0 + i1 * T + j0 * 8 * T) * es + (uint32_t)i2 * lbo + (uint32_t)j1 * sbo;
  }
  const uint32_t a = start + off;
  if (v.wgmma_no_swizzle) return a;
  if (v.swizzle_element_units) return start + ((off / es) ^ (((off / es) & (7u << 7)) >> 3)) * es;  // Swizzle<3,4,3> on value offsets
  if (v.swizzle_from_start) return start + swizzle_xor(off);
  return swizzle_xor(a);
}

// The descriptor the kernel gives wgmma for K step kk of a K-major operand (A or B^T; the kernel's
// function, or a mutation).
uint64_t k_desc(uint32_t tile, int kk, uint32_t es, const Variant& v) {
  if (v.kmajor_kstep_2048) return descriptor(tile + kk * 2048, kKmajorLbo, kKmajorSbo);
  if (v.tf32_kstep_16 && es == 4) return descriptor(tile + (uint32_t)kk * kStepK * es, kKmajorLbo, kKmajorSbo);
  return kmajor_desc(tile, kk);
}
// ... and of B on its path.
uint64_t b_desc(bool mn, uint32_t tile, int kk, uint32_t es, const Variant& v) {
  if (!mn) return k_desc(tile, kk, es, v);
  if (v.swap_mn_lbo_sbo) return descriptor(tile + mn_step(kk), kMnSbo, kMnLbo);
  if (v.mn_kstep_32) return descriptor(tile + kmajor_step(kk), kMnLbo, kMnSbo);
  return mn_desc(tile, kk);
}

// ---- One problem: A [nb][M][K] (row-major, K-major read) and B [nb][K][N] with strides ---------
struct Problem {
  std::string name;
  int64_t M, K, N, nb;
  int64_t sbk, sbn, sbb;  // B strides (values)
  int64_t b_off;          // B's first value inside its allocation (values)
  bool one_stride = true;
  BPath expect;
  uint32_t esize = 2;     // 2: float16 / bfloat16; 4: float32 read as tf32
};

struct Stats {
  uint64_t a_checked = 0, b_checked = 0, b_zero = 0, stages = 0, a_bad = 0, b_bad = 0;
};

void run(const Problem& pr, int bn, const Variant& v, Stats& st) {
  const uint32_t es = pr.esize;
  // B allocation: big enough for every element of the view.
  const int64_t b_last = pr.b_off + (pr.nb - 1) * pr.sbb + (pr.K - 1) * pr.sbk + (pr.N - 1) * pr.sbn;
  const Global gb{0x100000, b_last + 1, 0x100000 + (uint64_t)pr.b_off * es, es};
  const uint64_t b_addr = gb.view;
  BPath path = b_path(pr.one_stride, b_addr, pr.K, pr.N, pr.sbk, pr.sbn, pr.sbb, pr.nb, es);
  if (v.tf32_mn_major && es == 4 && path == BPath::Pack && pr.one_stride && (pr.sbn == 1 || pr.N == 1) &&
      tma_ready(b_addr, pr.K, pr.N, pr.sbk, pr.sbb, pr.nb, es))
    path = BPath::MnMajor;  // the mutation: b_path without its mn_major_ok test
  CHECK(path == pr.expect, "%s: B path %d, expected %d\n", pr.name.c_str(), (int)path, (int)pr.expect);
  // The instruction: wgmma .tf32 has no imm-trans-b (PTX ISA), so its B must be K-major.
  CHECK(path != BPath::MnMajor || es == 2, "%s [%s]: an MN-major B with %u-byte elements: wgmma has no transpose for tf32\n",
        pr.name.c_str(), v.name, es);
  if (path == BPath::MnMajor && es != 2) return;
  auto b_tag = [&](int64_t b, int64_t k, int64_t n) { return (uint32_t)(pr.b_off + b * pr.sbb + k * pr.sbk + n * pr.sbn + 1); };
  // The pack fallback: dst[z][n][k] = B(z, k, n) into a [nb][N][kp] scratch, then read K-major.
  const int64_t kp = pack_ld(pr.K, es);
  Global gp{0x40000000, pr.nb * pr.N * kp, 0x40000000, es};
  const bool mn = path == BPath::MnMajor;
  TmaGeometry mb;
  const Global* gsrc = &gb;
  std::vector<uint32_t> remap;  // for the packed scratch: scratch tag -> B tag
  const int b_rows = v.wide_box_rows_128 ? 128 : bn;  // the B^T box's rows: the tile width
  if (path == BPath::MnMajor) mb = tma_geometry(true, pr.K, pr.N, pr.sbk, pr.sbb, pr.nb, es, b_rows);
  else if (path == BPath::KMajor) mb = tma_geometry(false, pr.N, pr.K, pr.sbn, pr.sbb, pr.nb, es, b_rows);
  else {
    remap.assign(pr.nb * pr.N * kp + 1, 0);
    for (int64_t z = 0; z < pr.nb; ++z)
      for (int64_t n = 0; n < pr.N; ++n)
        for (int64_t k = 0; k < pr.K; ++k) remap[z * pr.N * kp + n * kp + k + 1] = b_tag(z, k, n);
    mb = tma_geometry(false, pr.N, pr.K, kp, pr.N * kp, pr.nb, es, b_rows);
    gsrc = &gp;
  }
  // A: contiguous [nb][M][K] when its rows are 16-byte aligned, else the packed [nb][M][kp] (tags
  // are the same).
  const int64_t lda = pr.K * es % 16 == 0 ? pr.K : kp;
  const Global ga{0x200000, pr.nb * pr.M * lda, 0x200000, es};
  const TmaGeometry ma = tma_geometry(false, pr.M, pr.K, lda, pr.M * lda, pr.nb, es, kTileM);
  auto a_tag = [&](int64_t b, int64_t m, int64_t k) { return (uint32_t)(b * pr.M * lda + m * lda + k + 1); };

  // The kernel's K per stage and per wgmma for this element size (the producer's stage depth may be
  // mutated; the consumers' is the kernel's).
  const int bk = stage_k(es), sk = step_k(es), bk_producer = v.tf32_stage_64 && es == 4 ? kBK : bk;
  const int64_t tm_count = (pr.M + kTileM - 1) / kTileM, tn_count = (pr.N + bn - 1) / bn, k_iters = (pr.K + bk - 1) / bk;
  const uint32_t smem_base = 1024 * 3;  // the kernel rounds its dynamic shared memory up to 1024
  const uint32_t stage = stage_bytes(bn);
  Smem sm(smem_base + kStages * stage, es);
  int64_t it = 0;
  for (int64_t b = 0; b < pr.nb; ++b)
    for (int64_t tm = 0; tm < tm_count; ++tm)
      for (int64_t tn = 0; tn < tn_count; ++tn)
        for (int64_t kt = 0; kt < k_iters; ++kt, ++it) {
          if (tm_count * tn_count * k_iters * pr.nb > 4000 && (tm + tn + kt) % 7 != 0 && tn != tn_count - 1) continue;
          ++st.stages;
          const uint32_t S = smem_base + (uint32_t)(it % kStages) * stage;
          std::fill(sm.slot.begin() + S / es, sm.slot.begin() + (S + stage) / es, kStale);
          const int64_t n0 = tn * bn, k0 = kt * bk, m0 = tm * kTileM, k0p = kt * bk_producer;
          // Producer, as the kernel issues it.
          uint32_t bytes = tma_load(sm, S, ga, ma, (int)k0p, (int)m0, (int)b, v);
          const BBoxes bb = b_boxes(mn, pr.N, n0, k0p, v.wide_two_boxes ? 128 : bn);
          const int nboxes = v.skip_second_box ? 1 : bb.n;
          for (int i = 0; i < nboxes; ++i) bytes += tma_load(sm, S + kTileBytes + bb.off[i], *gsrc, mb, bb.c0[i], bb.c1[i], (int)b, v);
          CHECK(bytes == stage_tx_bytes(mn, pr.N, n0, bn), "%s: expect-tx %u, delivered %u\n", pr.name.c_str(), stage_tx_bytes(mn, pr.N, n0, bn),
                bytes);
          // Consumers: A (64 rows each) and B through the kernel's descriptors.
          for (int kk = 0; kk < kStepsPerStage; ++kk) {
            for (int c = 0; c < 2; ++c) {
              const uint64_t da = k_desc(S + c * 64 * kRowBytes, kk, es, v);
              for (int i = 0; i < 64; ++i)
                for (int j = 0; j < sk; ++j) {
                  const uint32_t addr = wgmma_addr(da, false, i, j, v, es);
                  CHECK(addr >= S && addr < S + kTileBytes, "%s [%s]: A read outside the A tile\n", pr.name.c_str(), v.name);
                  if (!(addr >= S && addr < S + kTileBytes)) {
                    ++st.a_bad;
                    continue;
                  }
                  const int64_t m = m0 + c * 64 + i, k = k0 + kk * sk + j;
                  if (m >= pr.M) continue;
                  const uint32_t want = k < pr.K ? a_tag(b, m, k) : 0, got = sm.at(addr);
                  st.a_bad += got != want;
                  CHECK(got == want, "%s [%s]: A(b %lld, m %lld, k %lld) read %08x, want %08x\n", pr.name.c_str(), v.name, (long long)b,
                        (long long)m, (long long)k, got, want);
                  ++st.a_checked;
                }
            }
            const uint64_t db = b_desc(mn, S + kTileBytes, kk, es, v);
            const bool read_mn = mn && !v.mn_read_as_kmajor;
            for (int i = 0; i < bn; ++i)  // wgmma m64nBNk: bn rows of B
              for (int j = 0; j < sk; ++j) {
                const uint32_t addr = wgmma_addr(db, read_mn, i, j, v, es);
                CHECK(addr >= S + kTileBytes && addr < S + stage, "%s [%s]: B read outside the B tile\n", pr.name.c_str(), v.name);
                if (!(addr >= S + kTileBytes && addr < S + stage)) continue;
                const int64_t n = n0 + i, k = k0 + kk * sk + j;
                if (n >= pr.N) continue;  // feeds only outputs past N, never stored
                uint32_t got = sm.at(addr);
                if (path == BPath::Pack && got != kStale) got = remap[got];
                const uint32_t want = k < pr.K ? b_tag(b, k, n) : 0;
                st.b_bad += got != want;
                CHECK(got == want, "%s [%s]: B(b %lld, k %lld, n %lld) read %08x, want %08x\n", pr.name.c_str(), v.name, (long long)b,
                      (long long)k, (long long)n, got, want);
                ++st.b_checked;
                st.b_zero += want == 0;
              }
          }
        }
}

std::vector<Problem> problems() {
  std::vector<Problem> p;
  // name, M, K, N, nb, sbk, sbn, sbb, b_off, one_stride, expected path
  auto rm = [](std::string name, int64_t M, int64_t K, int64_t N, int64_t nb, BPath e, int64_t pad = 0, int64_t off = 0) {
    return Problem{name, M, K, N, nb, N + pad, 1, nb > 1 ? K * (N + pad) : 0, off, true, e};
  };
  auto tr = [](std::string name, int64_t M, int64_t K, int64_t N, int64_t nb, BPath e) {  // B = (B^T [N, K]).T
    return Problem{name, M, K, N, nb, 1, K, nb > 1 ? N * K : 0, 0, true, e};
  };
  // Control: B^T in place, K-major (today's path).
  p.push_back(tr("B^T 128x64x128", 128, 64, 128, 1, BPath::KMajor));
  p.push_back(tr("B^T 129x200x136", 129, 200, 136, 1, BPath::KMajor));
  p.push_back(tr("B^T batched 3 x 65x72x192", 65, 72, 192, 3, BPath::KMajor));
  // New: row-major B in place, MN-major.
  p.push_back(rm("B 128x64x128", 128, 64, 128, 1, BPath::MnMajor));
  p.push_back(rm("B 256x256x256", 256, 256, 256, 1, BPath::MnMajor));
  p.push_back(rm("B 129x200x136 (N tail 8: 2nd box of tile 1 skipped)", 129, 200, 136, 1, BPath::MnMajor));
  p.push_back(rm("B 65x72x192 (2nd box of tile 1 wholly past N)", 65, 72, 192, 1, BPath::MnMajor));
  p.push_back(rm("B 17x1x64 (K = 1)", 17, 1, 64, 1, BPath::MnMajor));
  p.push_back(rm("B 9x5x8 (K 5, N 8)", 9, 5, 8, 1, BPath::MnMajor));
  p.push_back(rm("B 64x64x200 (N tail in 2nd box)", 64, 64, 200, 1, BPath::MnMajor));
  p.push_back(rm("B batched 3 x 65x72x192", 65, 72, 192, 3, BPath::MnMajor));
  p.push_back(rm("B batched 2 x 130x100x264, rows padded by 24", 130, 100, 264, 2, BPath::MnMajor, 24));
  p.push_back(rm("B offset view (base + 2 rows)", 70, 96, 136, 1, BPath::MnMajor, 0, 2 * 136));
  p.push_back(rm("B 4096-ish: 128x130x4104", 128, 130, 4104, 1, BPath::MnMajor));
  // Fallback: packed (checked through the K-major read of the scratch).
  p.push_back(rm("B N 130 (row 260 bytes, unaligned) -> pack", 33, 40, 130, 1, BPath::Pack));
  p.push_back(rm("B offset by 1 value (base unaligned) -> pack", 20, 64, 64, 1, BPath::Pack, 0, 1));
  {
    Problem q = rm("B broadcast batch (stride 0) -> pack", 40, 48, 64, 3, BPath::Pack);
    q.sbb = 0;
    p.push_back(q);
  }
  {
    Problem q = rm("B overlapping batch entries -> pack", 40, 48, 64, 2, BPath::Pack);
    q.sbb = 64;  // < K * sbk
    p.push_back(q);
  }
  {
    Problem q = rm("B several batch dims -> pack", 40, 48, 64, 2, BPath::Pack);
    q.one_stride = false;
    p.push_back(q);
  }
  {
    Problem q{"B every other column (sbn 2) -> pack", 40, 48, 64, 1, 129, 2, 0, 1, true, BPath::Pack};
    p.push_back(q);
  }
  // tf32 (4-byte elements; stage 32 K deep, wgmma k8): both operands K-major, A packed when its rows
  // are not 16-byte aligned (K % 4 != 0), a row-major B always packed (no MN-major tf32).
  auto f32 = [](Problem q) {
    q.name = "tf32 " + q.name;
    q.esize = 4;
    return q;
  };
  p.push_back(f32(tr("B^T 128x32x128 (one stage)", 128, 32, 128, 1, BPath::KMajor)));
  p.push_back(f32(tr("B^T 256x256x256", 256, 256, 256, 1, BPath::KMajor)));
  p.push_back(f32(tr("B^T 129x200x136 (K tail 8, M and N tails)", 129, 200, 136, 1, BPath::KMajor)));
  p.push_back(f32(tr("B^T 70x100x200 (K tail 4)", 70, 100, 200, 1, BPath::KMajor)));
  p.push_back(f32(tr("B^T batched 3 x 65x72x192", 65, 72, 192, 3, BPath::KMajor)));
  p.push_back(f32(tr("B^T 9x5x8 (K 5: rows 20 B -> B and A packed)", 9, 5, 8, 1, BPath::Pack)));
  p.push_back(f32(tr("B^T 33x3x17 (K 3 -> packed)", 33, 3, 17, 1, BPath::Pack)));
  p.push_back(f32(rm("B 129x200x136 (row-major B -> pack, never MN-major)", 129, 200, 136, 1, BPath::Pack)));
  p.push_back(f32(rm("B batched 3 x 65x72x192 -> pack", 65, 72, 192, 3, BPath::Pack)));
  p.push_back(f32(rm("B 17x1x64 (K = 1) -> pack", 17, 1, 64, 1, BPath::Pack)));
  p.push_back(f32(rm("B 64x64x200 (N tail) -> pack", 64, 64, 200, 1, BPath::Pack)));
  p.push_back(f32(rm("B 128x130x4104 -> pack", 128, 130, 4104, 1, BPath::Pack)));
  p.push_back(f32(rm("B N 130 (rows 520 B, aligned) -> pack", 33, 40, 130, 1, BPath::Pack)));
  p.push_back(f32(rm("B offset by 1 value (base unaligned) -> pack", 20, 64, 64, 1, BPath::Pack, 0, 1)));
  {
    Problem q = f32(tr("B^T offset by 2 values (base 8 B: unaligned) -> pack", 40, 64, 72, 1, BPath::Pack));
    q.b_off = 2;
    p.push_back(q);
  }
  {
    Problem q = f32(rm("B broadcast batch (stride 0) -> pack", 40, 48, 64, 3, BPath::Pack));
    q.sbb = 0;
    p.push_back(q);
  }
  return p;
}

}  // namespace

int main() {
  // 1. The three statements of the 128B swizzle agree on every shared-memory address.
  for (uint32_t a = 0; a < (1u << 18); a += 2) {
    CHECK(swizzle_table(a) == swizzle_cute(a) && swizzle_cute(a) == swizzle_xor(a), "swizzle models disagree at %u\n", a);
    if (failures) break;
  }
  std::printf("128B swizzle: PTX 5.5.7 table == CuTe Swizzle<3,4,3> == chunk ^ (line %% 8) on all 2^18 byte addresses: %s\n",
              failures ? "NO" : "yes");
  // 2. Descriptor constants (the bit fields the kernel sends).
  std::printf("descriptors: K-major tile@0x4000 k0 = 0x%016llx (LBO %u, SBO %u, +%u B per K step), MN-major = 0x%016llx (LBO %u, SBO %u, +%u B per K step)\n",
              (unsigned long long)kmajor_desc(0x4000, 0), kKmajorLbo, kKmajorSbo, kmajor_step(1), (unsigned long long)mn_desc(0x4000, 0),
              kMnLbo, kMnSbo, mn_step(1));
  for (int bn : {128, 256})
    for (uint32_t es : {2u, 4u}) {
      const TmaGeometry g = tma_geometry(false, 512, 256, 256, 0, 1, es, bn);
      std::printf("tile 128x%d %s K-major: stage %d K deep, B box %u x %u (%u B rows), %d K per wgmma = %u B, %d wgmmas per stage, expect-tx %u, "
                  "MN-major B %s\n",
                  bn, es == 2 ? "16-bit" : "tf32  ", stage_k(es), g.box[0], g.box[1], g.box[0] * es, step_k(es), step_k(es) * es, kStepsPerStage,
                  stage_tx_bytes(false, 512, 0, bn), mn_major_ok(es) ? "allowed" : "never (packed to B^T)");
    }
  // 3. The kernel as built: every problem at both tile widths, A (K-major, control), B on its path.
  const int before = failures;
  Stats st;
  for (int bn : {128, 256})
    for (const Problem& pr : problems()) {
      Stats s1;
      const int f0 = failures;
      run(pr, bn, Variant{}, s1);
      const char* path = pr.expect == BPath::KMajor ? "K-major" : pr.expect == BPath::MnMajor ? "MN-major" : "pack";
      std::printf("  %s%-58s %-8s stages %5llu  A reads %9llu  B reads %9llu (zero-fill %llu)  %s\n", bn == 256 ? "[n256] " : "", pr.name.c_str(),
                  path, (unsigned long long)s1.stages, (unsigned long long)s1.a_checked, (unsigned long long)s1.b_checked,
                  (unsigned long long)s1.b_zero, failures == f0 ? "ok" : "FAILED");
      st.a_checked += s1.a_checked, st.b_checked += s1.b_checked;
    }
  const bool built_ok = failures == before;
  std::printf("as built: %s (%llu A and %llu B element reads checked)\n", built_ok ? "PASS" : "FAIL", (unsigned long long)st.a_checked,
              (unsigned long long)st.b_checked);
  // 4. Mutations must be caught (each runs on the MN-major or K-major problems it concerns).
  const Variant mutants[] = {
      mutant<Variant>("MN: LBO and SBO swapped", [](Variant& v) { v.swap_mn_lbo_sbo = true; }),
      mutant<Variant>("MN: K step +32 B (the K-major step)", [](Variant& v) { v.mn_kstep_32 = true; }),
      mutant<Variant>("MN: imm-trans-b 0 (read as K-major)", [](Variant& v) { v.mn_read_as_kmajor = true; }),
      mutant<Variant>("K-major: K step +2048 B", [](Variant& v) { v.kmajor_kstep_2048 = true; }),
      mutant<Variant>("wgmma without swizzle", [](Variant& v) { v.wgmma_no_swizzle = true; }),
      mutant<Variant>("Swizzle<3,4,3> on value offsets, not bytes", [](Variant& v) { v.swizzle_element_units = true; }),
      mutant<Variant>("MN: second N box never loaded", [](Variant& v) { v.skip_second_box = true; }),
      mutant<Variant>("MN: one 128-wide N box (256 bytes > 128B swizzle)", [](Variant& v) { v.tma_box_128 = true; }),
      mutant<Variant>("tf32: K step of 16 values (+64 B, the 16-bit k16)", [](Variant& v) { v.tf32_kstep_16 = true; }),
      mutant<Variant>("tf32: 64-wide K box (256 bytes > 128B swizzle)", [](Variant& v) { v.tf32_box_64 = true; }),
      mutant<Variant>("tf32: producer advances 64 K per stage", [](Variant& v) { v.tf32_stage_64 = true; }),
      mutant<Variant>("tf32: row-major B read MN-major (no tf32 transpose)", [](Variant& v) { v.tf32_mn_major = true; }),
      mutant<Variant>("n256 MN: the 128 tile's two boxes per stage", [](Variant& v) { v.wide_two_boxes = true; }),
      mutant<Variant>("n256 B^T: the 128 tile's 128-row box", [](Variant& v) { v.wide_box_rows_128 = true; }),
  };
  const int caught = kiln::host_check::caught_mutants(mutants, [&](const Variant& v) {
    Stats s1;
    const bool tf32 = v.tf32_kstep_16 || v.tf32_box_64 || v.tf32_stage_64 || v.tf32_mn_major;
    const bool wide = v.wide_two_boxes || v.wide_box_rows_128;  // run at bn 256 only: at 128 these are the kernel as built
    const BPath b_on = v.wide_box_rows_128 ? BPath::KMajor : BPath::MnMajor;
    for (const Problem& pr : problems())
      if (tf32 ? pr.esize == 4
               : pr.esize == 2 && (pr.expect == b_on || (v.kmajor_kstep_2048 && pr.expect == BPath::KMajor))) {
        run(pr, wide ? 256 : 128, v, s1);
        if (v.kmajor_kstep_2048 || v.wgmma_no_swizzle || v.swizzle_element_units || v.tf32_kstep_16 || v.tf32_box_64)
          break;  // one problem suffices (the stage-depth mutation needs problems of several stages)
      }
  });
  // 5. Robustness of the MN-major path to how the swizzle is anchored: its descriptors start on
  //    1024-byte boundaries, so anchoring the pattern at the start address changes nothing there
  //    (the K-major path, whose K steps start 32 bytes into a row, depends on the anchoring).
  {
    Variant alt;
    alt.name = "swizzle anchored at the descriptor start";
    alt.swizzle_from_start = true;
    kiln::host_check::quiet = true;  // an exploration: its failures are counted below, not reported
    int mn_fail = 0, mn_n = 0, k_fail = 0, k_n = 0, a_fail = 0, a_n = 0;
    for (const Problem& pr : problems()) {
      if (pr.expect == BPath::Pack) continue;
      const int f0 = failures;
      Stats s1;
      run(pr, 128, alt, s1);
      failures = f0;
      (pr.expect == BPath::MnMajor ? mn_fail : k_fail) += s1.b_bad > 0;
      (pr.expect == BPath::MnMajor ? mn_n : k_n) += 1;
      a_fail += s1.a_bad > 0, a_n += 1;
    }
    std::printf("alternative model (%s): B wrong in %d/%d K-major and %d/%d MN-major problems; A (K-major) wrong in %d/%d\n", alt.name,
                k_fail, k_n, mn_fail, mn_n, a_fail, a_n);
    kiln::host_check::quiet = false;
  }
  // 6. The width auto takes (auto_tile_n) on 132 SMs (an H200), where the measurements behind it were made.
  {
    struct Pick {
      const char* name;
      int64_t m, n, batch;
      int want;
    };
    const Pick picks[] = {{"4096^3", 4096, 4096, 1, 256},    {"8192^3", 8192, 8192, 1, 256}, {"2048^3", 2048, 2048, 1, 256},
                          {"1024^3", 1024, 1024, 1, 128},    {"128x768", 128, 768, 1, 128},  {"4096x128", 4096, 128, 1, 128},
                          {"4096x200", 4096, 200, 1, 128},   {"8 x 4096x200", 4096, 200, 8, 256}, {"4096x384", 4096, 384, 1, 128},
                          {"16 x 4096x384", 4096, 384, 16, 128}};
    std::printf("auto tile width on 132 SMs:");
    for (const Pick& k : picks) {
      const int got = auto_tile_n(k.m, k.n, k.batch, 132);
      CHECK(got == k.want, "\nauto_tile_n(%s) = %d, want %d\n", k.name, got, k.want);
      std::printf(" %s %d%s", k.name, got, &k == &picks[sizeof(picks) / sizeof(picks[0]) - 1] ? "\n" : ",");
    }
  }
  const bool all = built_ok && failures == before && caught == (int)(sizeof(mutants) / sizeof(mutants[0]));
  std::printf("%s\n", all ? "ALL OK" : "PROBLEMS FOUND");
  return all ? 0 : 1;
}
