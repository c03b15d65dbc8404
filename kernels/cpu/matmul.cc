// MatMul: Y[..., M, N] = act(alpha * A[..., M, K] @ B[..., K, N] + beta * C[..., M, N])
//   act: attribute activation 'none' (default), 'relu' (max(0, y); NaN stays NaN, as Relu's), or for
//   float dtypes 'gelu' / 'gelu_tanh' (as the Gelu op computes them: vmath.h on float32, before a
//   float16/bfloat16 Y is rounded), applied in the epilogue while the rows are in cache: an MLP's
//   Gemm -> Relu or a transformer's dense -> GELU in one pass over Y.
//   A, B, Y share one rank (>= 2) and their batch dims (the front end broadcasts with stride 0);
//   C is optional and already broadcast to Y's shape. Every operand is a strided view: transposed
//   and sliced operands are read in place by the packers, and Y is written through its strides.
//   Dtypes (one for all operands): float32; float16 and bfloat16 (converted to float32 while
//   packing, float32 accumulation, each output rounded once, RNE); int32, int64 and uint8 (wrapping
//   arithmetic; alpha and beta must be integers).
// Variants, picked per call:
//   gemm   BLIS/GotoBLAS: B in [kc, NR] slivers, A in [MR x kc] slivers, an MR x NR register tile
//          with FMAs over kc; edge tiles go through a zero-padded tile buffer and write back only
//          their valid part, except a short last row sliver with a full B sliver, which runs a
//          kernel of its own height where the set has one (tile_rows). Micro-kernels: AVX-512
//          14x32 (matmul_avx512.cc), AVX2 6x16 (matmul_avx2.cc), portable 4x16 (here), chosen once
//          from cpu_isa(); the packers for unit-stride layouts live with them, the strided
//          fallback here.
//   small-M gemm: M <= max(4*MR, 128) with a float32 B of unit column stride reads B in place
//          (packing B would cost as much as the product; only the ragged last sliver is packed).
//          Convolution columns (K = C*k*k small, N = H*W large) with M = 32 output channels ran
//          ~3x faster in place than packed; transformer projections (M = 128 tokens, K*N = 768*768
//          .. 768*3072) ~13% faster, since one m-block reads each B sliver from memory once anyway.
//          Tiles over an in-place B sliver run kk.tile_stream, which prefetches B 16 rows ahead:
//          those rows lie ldb apart (or come from beyond the L2, a weight), where the hardware
//          prefetcher falls behind (row-major B: 128x768x3072 1.15x warm, 1.45x cold; 32x1024x1024
//          1.3x warm; sliver-major weights 1.05-1.15x cold: bench/results/cpu-matmul-prefetch.md).
//          The packed paths lost 3-5% to the same prefetches, so they keep kk.tile.
//   narrow N < NR (a classifier head): computed as Y^T = B^T @ A^T, which pads M instead of N.
//   gemv   M == 1 or N == 1, float32, the matrix operand with one unit stride: dot products or axpy
//          sweeps straight from it (memory-bound: packing would double the traffic).
//   int    int32/int64: a plain strided i-k-j loop.
// Threads: a gemm runs in two parallel phases per chunk of work: phase 1 packs each A sliver and
// B sliver exactly once into a shared 64-byte-aligned arena; phase 2 computes mblk x nblk
// rectangles of Y from them, reading the packed A block from L2 and a B sliver from L1. Units of
// both phases are handed out through an atomic counter, so a thread the OS delays (a busy 2-core
// host) holds nobody back; the rectangle is picked by a cost model (compute, re-reads, tail).
// The arena is sized before any fan-out and kept for the next call (capped at 64 MB, beyond which
// batch entries go in groups and K in chunks), so no parallel body allocates or throws.
// Environment: KILN_CPU_ISA=avx512|avx2|portable lowers the micro-kernel set (cpu_info.h; tests run each);
// KILN_MATMUL_PACK_CAP=<floats> lowers the arena cap (tests reach the grouped and chunked paths).
// Bench alone: the raw addon (build/Release/kiln.node), A, B, Y views over a.alloc buffers:
//   a.launch('MatMul', [A, B], [Y], {alpha: 1, beta: 0}); await a.sync();   // median after warm-up
// `kiln bench matmul` times it beside onnxruntime-node.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>

#include "cpu_info.h"
#include "elementwise_common.h"
#include "elementwise_ops.h"
#include "matmul_kernels.h"
#include "vmath.h"

namespace kiln {
namespace {

using mm::Kernels;

// ---- portable building blocks (plain loops the compiler vectorizes for the baseline ISA) ----------

constexpr int kPortMR = 4, kPortNR = 16;

void tile_portable(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  float acc[kPortMR][kPortNR] = {};
  for (int64_t k = 0; k < kc; ++k, a += kPortMR, b += ldb)
    for (int i = 0; i < kPortMR; ++i)
      for (int j = 0; j < kPortNR; ++j) acc[i][j] += a[i] * b[j];
  for (int i = 0; i < kPortMR; ++i)
    for (int j = 0; j < kPortNR; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

void gemv_dot_portable(int64_t R, int64_t K, const float* x, int64_t ldx, const float* v, float* y) {
  for (int64_t r = 0; r < R; ++r) {
    const float* xr = x + r * ldx;
    float s[8] = {};
    int64_t k = 0;
    for (; k + 8 <= K; k += 8)
      for (int l = 0; l < 8; ++l) s[l] += xr[k + l] * v[k + l];
    float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; k < K; ++k) t += xr[k] * v[k];
    y[r] = t;
  }
}

void gemv_axpy_portable(int64_t R, int64_t K, const float* x, int64_t ldx, const float* v, float* y) {
  for (int64_t r = 0; r < R; ++r) y[r] = 0;
  for (int64_t k = 0; k < K; ++k) {
    const float* xk = x + k * ldx;
    const float vk = v[k];
    for (int64_t r = 0; r < R; ++r) y[r] += vk * xk[r];
  }
}

const Kernels kPortable = {"portable", kPortMR, kPortNR, 256, 128, 2048,
                           tile_portable, nullptr, gemv_dot_portable, gemv_axpy_portable, {}, {}, {}};

const Kernels* pick_kernels() {
  switch (cpu_isa()) {
    case Isa::Avx512: return mm::kernels_avx512();
    case Isa::Avx2: return mm::kernels_avx2();
    default: return &kPortable;
  }
}

// ---- views -------------------------------------------------------------------------------------

// One operand of one batch entry: element (i, j) at p + i*rs + j*cs (in elements of T).
template <typename T> struct Mat {
  const T* p;
  int64_t rs, cs;
  const T* at(int64_t i, int64_t j) const { return p + i * rs + j * cs; }
};

// Element offset of batch entry `b` (row-major over the leading rank-2 dims) in view `v`.
int64_t batch_offset(const View& v, int64_t b) {
  int64_t off = 0;
  for (int d = v.rank() - 3; d >= 0 && b; --d) {
    off += (b % v.shape[d]) * v.strides[d];
    b /= v.shape[d];
  }
  return off;
}

enum class Activation { None, Relu, Gelu, GeluTanh };

// The activation attribute; unknown names are E_ARGUMENT, GELU on integers E_UNSUPPORTED.
Activation activation_of(const std::string& op, const KernelArgs& a) {
  const std::string s = a.attrs.str("activation", "none");
  const Activation act = s == "none" ? Activation::None : s == "relu" ? Activation::Relu : s == "gelu" ? Activation::Gelu
                       : s == "gelu_tanh" ? Activation::GeluTanh
                       : (fail("E_ARGUMENT", op + ": activation must be 'none', 'relu', 'gelu' or 'gelu_tanh', got '" + s + "'"), Activation::None);
  if ((act == Activation::Gelu || act == Activation::GeluTanh) && !is_float(a.out[0].dtype))
    fail("E_UNSUPPORTED", op + ": activation '" + s + "' needs a float dtype");
  return act;
}

// v[0, n) = act(v[0, n)) for a float activation, in place.
void activate(Activation act, float* v, int64_t n) {
  if (act == Activation::Relu) {
    for (int64_t j = 0; j < n; ++j) v[j] = v[j] < 0.0f ? 0.0f : v[j];
  } else if (act == Activation::Gelu || act == Activation::GeluTanh) {
    const vm::VMath& m = vm::vmath();
    if (vm::UnaryFn f = act == Activation::Gelu ? m.gelu : m.gelu_tanh) return f(v, v, n);
    for (int64_t j = 0; j < n; ++j) v[j] = act == Activation::Gelu ? ops::gelu_erf(v[j]) : ops::gelu_tanh(v[j]);  // the portable set
  }
}

// Parsed call: sizes, attrs and the four views (C may be absent).
struct Problem {
  const View *A, *B, *C, *Y;
  int64_t batch, M, N, K;
  double alpha, beta;
  bool use_c;  // C present and beta != 0
  Activation act;
};

Problem problem_of(const KernelArgs& a) {
  Problem p;
  p.A = &a.in[0];
  p.B = &a.in[1];
  p.C = a.in.size() > 2 ? &a.in[2] : nullptr;
  p.Y = &a.out[0];
  const int r = p.Y->rank();
  p.M = p.Y->shape[r - 2];
  p.N = p.Y->shape[r - 1];
  p.K = p.A->shape[r - 1];
  p.batch = 1;
  for (int d = 0; d < r - 2; ++d) p.batch *= p.Y->shape[d];
  p.alpha = a.attrs.num("alpha", 1.0);
  p.beta = a.attrs.num("beta", 0.0);
  p.use_c = p.C && p.beta != 0;
  p.act = activation_of("MatMul", a);
  return p;
}

// ---- the arena ---------------------------------------------------------------------------------

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Packing buffers live in one 64-byte-aligned block, grown by the dispatching worker before the
// fan-out and kept for the next call; each thread takes its own slice. One block for the process,
// not one per worker: the queue runs one task at a time (queue.h), whichever worker dispatches it,
// so per-thread blocks would only multiply the memory kept (up to the 64 MB cap each).
float* arena(size_t floats) {
  static std::unique_ptr<float, FreeDeleter> block;
  static size_t capacity = 0;
  if (floats > capacity) {
    block.reset();
    capacity = 0;
    void* p = nullptr;
    const size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, bytes) != 0) throw std::bad_alloc();
    block.reset(static_cast<float*>(p));
    capacity = bytes / sizeof(float);
  }
  return block.get();
}

inline size_t round64(size_t floats) { return (floats + 15) & ~(size_t)15; }

// ---- packing (generic over the element type; reads through any strides) --------------------------

// Index of a float storage type in Kernels::pack_a / pack_b (its DType code).
template <typename T> constexpr int dtype_code() {
  return std::is_same<T, half>::value ? 1 : std::is_same<T, bfloat16>::value ? 2 : 0;
}

// Rows [0, n) x cols [0, kc) of `m` -> R-tall slivers (element (i, k) of a sliver at dst[k*R + i]),
// zero padded to a multiple of R: the generic strided packer behind both pack_a and pack_b.
template <typename T>
void pack_slivers(Mat<T> m, int64_t n, int64_t kc, int R, float* dst) {
  for (int64_t i0 = 0; i0 < n; i0 += R, dst += kc * R) {
    const int64_t r = std::min<int64_t>(R, n - i0);
    if (m.rs == 1 && r == R) {  // each k is one contiguous run of R
      for (int64_t k = 0; k < kc; ++k) {
        const T* s = m.at(i0, k);
        for (int i = 0; i < R; ++i) dst[k * R + i] = load(s + i);
      }
      continue;
    }
    for (int64_t i = 0; i < r; ++i) {
      const T* s = m.at(i0 + i, 0);
      if (m.cs == 1)
        for (int64_t k = 0; k < kc; ++k) dst[k * R + i] = load(s + k);
      else
        for (int64_t k = 0; k < kc; ++k) dst[k * R + i] = load(s + k * m.cs);
    }
    for (int64_t i = r; i < R; ++i)
      for (int64_t k = 0; k < kc; ++k) dst[k * R + i] = 0;
  }
}

// A block rows [0, mc) x cols [0, kc) of `a` -> MR-tall slivers, zero padded to a multiple of MR.
template <typename T>
void pack_a(const Kernels& kk, Mat<T> a, int64_t mc, int64_t kc, float* dst) {
  if (a.cs == 1 && kk.pack_a[0][dtype_code<T>()]) return kk.pack_a[0][dtype_code<T>()](mc, kc, a.p, a.rs, dst);
  if (a.rs == 1 && kk.pack_a[1][dtype_code<T>()]) return kk.pack_a[1][dtype_code<T>()](mc, kc, a.p, a.cs, dst);
  pack_slivers(a, mc, kc, kk.mr, dst);
}

// B panel rows [0, kc) x cols [0, nc) of `b` -> NR-wide slivers, zero padded to a multiple of NR:
// the A packing of B's transpose.
template <typename T>
void pack_b(const Kernels& kk, Mat<T> b, int64_t kc, int64_t nc, float* dst) {
  if (b.cs == 1 && kk.pack_b[0][dtype_code<T>()]) return kk.pack_b[0][dtype_code<T>()](kc, nc, b.p, b.rs, dst);
  if (b.rs == 1 && kk.pack_b[1][dtype_code<T>()]) return kk.pack_b[1][dtype_code<T>()](kc, nc, b.p, b.cs, dst);
  pack_slivers(Mat<T>{b.p, b.cs, b.rs}, nc, kc, kk.nr, dst);
}

// ---- epilogue --------------------------------------------------------------------------------------

// Y[i0 + i, j0 + j] = act(alpha * acc[i*ld + j] + beta * C[...]) for an mr x nr block of float32
// accumulators. acc may be Y itself (float32 Y with unit column stride, `in_place`): each element
// is read before it is written. Rows go through a float32 staging run so that contiguous float16
// and bfloat16 rows are rounded by the ISA's vector store.
template <typename T>
void finish(const Kernels& kk, const Problem& p, Mat<T> y, Mat<T> c, int64_t i0, int64_t j0, int64_t mr, int64_t nr,
            const float* acc, int64_t ld, bool in_place) {
  const float alpha = (float)p.alpha, beta = (float)p.beta;
  if (in_place && alpha == 1.0f && !p.use_c && p.act == Activation::None) return;
  constexpr int64_t kRun = 256;
  alignas(64) float run[kRun];
  for (int64_t i = 0; i < mr; ++i) {
    for (int64_t jb = 0; jb < nr; jb += kRun) {
      const int64_t n = std::min(kRun, nr - jb);
      const float* s = acc + i * ld + jb;
      T* d = const_cast<T*>(y.at(i0 + i, j0 + jb));
      const bool unit = y.cs == 1;
      // Float32 with a unit stride computes in place; everything else stages in `run`.
      float* v = std::is_same<T, float>::value && unit ? reinterpret_cast<float*>(d) : run;
      if (!p.use_c) {
        for (int64_t j = 0; j < n; ++j) v[j] = alpha * s[j];
      } else {
        const T* cr = c.at(i0 + i, j0 + jb);
        if (c.cs == 0) {
          const float cv = beta * load(cr);
          for (int64_t j = 0; j < n; ++j) v[j] = alpha * s[j] + cv;
        } else if (std::is_same<T, float>::value && c.cs == 1) {
          const float* cf = reinterpret_cast<const float*>(cr);
          for (int64_t j = 0; j < n; ++j) v[j] = alpha * s[j] + beta * cf[j];
        } else {
          for (int64_t j = 0; j < n; ++j) v[j] = alpha * s[j] + beta * load(cr + j * c.cs);
        }
      }
      activate(p.act, v, n);
      if (v == run) {
        auto rounding = std::is_same<T, half>::value ? vm::vmath().to_f16 : std::is_same<T, bfloat16>::value ? vm::vmath().to_bf16 : nullptr;
        if (unit && rounding) rounding(run, reinterpret_cast<uint16_t*>(d), n);
        else for (int64_t j = 0; j < n; ++j) store(d + j * y.cs, run[j]);
      }
    }
  }
}

// ---- float gemm --------------------------------------------------------------------------------------

// One batch entry's operands, offset to that entry.
template <typename T> struct Operands {
  Mat<T> a, b, c, y;
};

template <typename T>
Operands<T> operands(const Problem& p, int64_t bi) {
  const int r = p.Y->rank();
  auto mat = [&](const View* v) {
    if (!v) return Mat<T>{nullptr, 0, 0};
    return Mat<T>{v->data<T>() + batch_offset(*v, bi), v->strides[r - 2], v->strides[r - 1]};
  };
  return Operands<T>{mat(p.A), mat(p.B), mat(p.C), mat(p.Y)};
}

bool batch_broadcast(const View& v) {  // every batch entry sees the same matrix
  for (int d = 0; d < v.rank() - 2; ++d)
    if (v.shape[d] > 1 && v.strides[d] != 0) return false;
  return true;
}

// Packed operands cap (floats, 64 MB): beyond it, batch entries go in groups and then K in chunks.
// KILN_MATMUL_PACK_CAP overrides it so that tests can reach the grouped and chunked paths.
int64_t pack_cap() {
  static const int64_t cap = [] {
    const char* e = std::getenv("KILN_MATMUL_PACK_CAP");
    const long long v = e ? std::atoll(e) : 0;
    return v > 0 ? (int64_t)v : int64_t(16) << 20;
  }();
  return cap;
}

// How one call is cut up. A call runs group by group (batch entries) and chunk by chunk (K); per
// chunk, phase 1 packs every A block and B panel once into the shared arena and phase 2 computes
// mblk x nblk rectangles of Y from them. Both phases hand out their units through an atomic
// counter, so a thread the OS delays does not hold the others back.
struct Plan {
  int nt = 1;
  int64_t MR, NR, KC, Mp, Np;
  int64_t G = 1;          // batch entries per group
  int64_t kch = 0;        // K per chunk (a multiple of KC unless it is all of K)
  bool a_shared, b_shared;  // one packed copy serves the whole batch
  bool b_direct;            // float32 B with unit column stride, read in place (small M)
  bool direct;              // float32 Y with unit column stride: accumulate in Y itself
  bool acc_full;            // neither direct nor one chunk: float32 accumulators for the group
  int64_t mblk, nblk;       // phase-2 rectangle, multiples of MR and NR
  size_t a_per, b_per, acc, thr;  // arena floats: per packed A entry, per packed B entry, accumulators, per thread
};

template <typename T>
Plan plan_gemm(const Kernels& kk, const Problem& p) {
  Plan q;
  q.MR = kk.mr;
  q.NR = kk.nr;
  q.KC = kk.kc;
  q.Mp = (p.M + q.MR - 1) / q.MR * q.MR;
  q.Np = (p.N + q.NR - 1) / q.NR * q.NR;
  const int r = p.Y->rank();
  q.a_shared = batch_broadcast(*p.A);
  q.b_shared = batch_broadcast(*p.B);
  q.b_direct = std::is_same<T, float>::value && p.B->strides[r - 1] == 1 && p.M <= std::max<int64_t>(4 * q.MR, 128);
  q.direct = std::is_same<T, float>::value && p.Y->strides[r - 1] == 1;
  // Packed sizes per batch entry for all of K, then groups and chunks under the cap.
  auto b_floats = [&](int64_t k) {
    const int64_t panels = (k + q.KC - 1) / q.KC;
    return q.b_direct ? (p.N % q.NR ? panels * q.KC * q.NR : 0) : q.Np * k;
  };
  auto packed = [&](int64_t g, int64_t k) { return (q.a_shared ? 1 : g) * q.Mp * k + (q.b_shared ? 1 : g) * b_floats(k); };
  q.G = p.batch;
  q.kch = p.K;
  const int64_t cap = pack_cap();
  if (packed(q.G, q.kch) > cap) {  // packed(g, K) = shared + g * per_entry
    const int64_t per_entry = packed(2, p.K) - packed(1, p.K), shared = packed(1, p.K) - per_entry;
    q.G = per_entry > 0 ? std::max<int64_t>(1, std::min(p.batch, (cap - shared) / per_entry)) : p.batch;
    if (packed(q.G, q.kch) > cap) {
      q.G = 1;
      q.kch = std::max<int64_t>(q.KC, cap / (q.Mp + q.Np) / q.KC * q.KC);
    }
  }
  const bool chunked = q.kch < p.K;
  q.acc_full = !q.direct && chunked;
  q.a_per = (size_t)(q.Mp * q.kch);
  q.b_per = (size_t)b_floats(q.kch);

  // Threads and the phase-2 rectangle: minimize the estimated slowest thread, counting a task's
  // multiply-adds (~32 per cycle), its re-reads of packed A and B, and half a task of tail.
  const double macs = (double)p.batch * p.M * p.N * p.K;
  q.nt = macs < 128.0 * 1024 ? 1 : num_threads();
  const int64_t mmax = std::min<int64_t>(kk.mc, q.Mp), nmax = std::min<int64_t>(kk.nc, q.Np);
  const int64_t dm0 = (p.M + mmax - 1) / mmax, dn0 = (p.N + nmax - 1) / nmax;
  const int64_t um = q.Mp / q.MR, un = q.Np / q.NR;
  double best = -1;
  for (int64_t dm = dm0; dm <= std::min(um, dm0 + 16); ++dm)
    for (int64_t dn = dn0; dn <= std::min(un, dn0 + 32); ++dn) {
      const int64_t mb = (um + dm - 1) / dm * q.MR, nb = (un + dn - 1) / dn * q.NR;
      const double tasks = (double)q.G * ((p.M + mb - 1) / mb) * ((p.N + nb - 1) / nb);
      const double t_task = (double)mb * nb * p.K / 32.0 + (double)(mb + nb) * p.K * 0.5 + 2000.0;
      const double t = (std::ceil(tasks / q.nt) + (q.nt > 1 ? 0.5 : 0.0)) * t_task;
      if (best < 0 || t < best * 0.999) {
        best = t;
        q.mblk = mb;
        q.nblk = nb;
      }
    }
  q.acc = q.acc_full ? (size_t)(q.G * p.M * p.N) : 0;
  q.thr = q.direct || q.acc_full ? 0 : (size_t)(q.mblk * q.nblk);
  return q;
}

template <typename T>
void gemm_float(const Kernels& kk, const Problem& p) {
  const Plan q = plan_gemm<T>(kk, p);
  const int64_t MR = q.MR, NR = q.NR, KC = q.KC, M = p.M, N = p.N;
  const int64_t na_max = q.a_shared ? 1 : q.G, nb_max = q.b_shared ? 1 : q.G;
  const size_t a_total = round64(q.a_per * na_max), b_total = round64(q.b_per * nb_max);
  float* const base = arena(a_total + b_total + round64(q.acc) + round64(q.thr) * q.nt);
  float* const apack = base;
  float* const bpack = apack + a_total;
  float* const accum = bpack + b_total;
  float* const thr_base = accum + round64(q.acc);
  constexpr int64_t kSlabSlivers = 8;  // phase-1 unit: 8 slivers of one panel
  const int64_t dm = (M + q.mblk - 1) / q.mblk, dn = (N + q.nblk - 1) / q.nblk;

  for (int64_t g0 = 0; g0 < p.batch; g0 += q.G) {
    const int64_t gc = std::min(q.G, p.batch - g0);
    const int64_t na = q.a_shared ? 1 : gc, nb = q.b_shared ? 1 : gc;
    for (int64_t k0 = 0; k0 < p.K; k0 += q.kch) {
      const int64_t kn = std::min(q.kch, p.K - k0), P = (kn + KC - 1) / KC;
      const bool chunk_first = k0 == 0, chunk_last = k0 + kn == p.K;
      // Packed A of entry gi, panel pp (kcp deep): its slivers follow one another, kcp*MR apart.
      auto a_panel = [&](int64_t gi, int64_t pp) { return apack + (q.a_shared ? 0 : gi) * (q.Mp * kn) + q.Mp * pp * KC; };
      auto b_panel = [&](int64_t gi, int64_t pp) {
        return q.b_direct ? bpack + ((q.b_shared ? 0 : gi) * P + pp) * KC * NR
                          : bpack + (q.b_shared ? 0 : gi) * (q.Np * kn) + q.Np * pp * KC;
      };

      // Phase 1: pack. Units: (entry, panel, slab of 8 slivers) of A, then of B.
      const int64_t sa = (q.Mp / MR + kSlabSlivers - 1) / kSlabSlivers;
      const int64_t sb = q.b_direct ? (N % NR ? 1 : 0) : (q.Np / NR + kSlabSlivers - 1) / kSlabSlivers;
      const int64_t ua = na * P * sa, units = ua + nb * P * sb;
      WorkCounter c1(units);
      parallel_run((int)std::min<int64_t>(q.nt, units), [&](int, int) {
        int64_t u;
        while (c1.take(u)) {
          const bool is_a = u < ua;
          const int64_t v = is_a ? u : u - ua, slabs = is_a ? sa : sb;
          const int64_t gi = v / (P * slabs), pp = v / slabs % P, slab = v % slabs;
          const Operands<T> o = operands<T>(p, g0 + gi);
          const int64_t kp = k0 + pp * KC, kcp = std::min(KC, k0 + kn - kp);
          if (is_a) {
            const int64_t i0 = slab * kSlabSlivers * MR, rows = std::min(kSlabSlivers * MR, M - i0);
            pack_a(kk, Mat<T>{o.a.at(i0, kp), o.a.rs, o.a.cs}, rows, kcp, a_panel(gi, pp) + i0 * kcp);
          } else if (q.b_direct) {  // only the ragged last sliver of an in-place B
            const int64_t j0 = N / NR * NR;
            pack_b(kk, Mat<T>{o.b.at(kp, j0), o.b.rs, o.b.cs}, kcp, N - j0, b_panel(gi, pp));
          } else {
            const int64_t j0 = slab * kSlabSlivers * NR, cols = std::min(kSlabSlivers * NR, N - j0);
            pack_b(kk, Mat<T>{o.b.at(kp, j0), o.b.rs, o.b.cs}, kcp, cols, b_panel(gi, pp) + j0 * kcp);
          }
        }
      });

      // Phase 2: compute. Tasks: (entry, row block, column block).
      WorkCounter c2(gc * dm * dn);
      parallel_run((int)std::min<int64_t>(q.nt, gc * dm * dn), [&](int t, int) {
        float* const scratch = thr_base + round64(q.thr) * t;
        alignas(64) float edge[2048];  // one padded micro-tile (every kernel set has MR * NR <= 2048)
        int64_t task;
        while (c2.take(task)) {
          const int64_t gi = task / (dm * dn), m0 = task / dn % dm * q.mblk, n0 = task % dn * q.nblk;
          const int64_t m1 = std::min(M, m0 + q.mblk), n1 = std::min(N, n0 + q.nblk);
          const Operands<T> o = operands<T>(p, g0 + gi);
          float* out;
          int64_t ldo;
          if (q.direct) {
            out = reinterpret_cast<float*>(const_cast<T*>(o.y.at(m0, n0)));
            ldo = o.y.rs;
          } else if (q.acc_full) {
            out = accum + gi * M * N + m0 * N + n0;
            ldo = N;
          } else {
            out = scratch;
            ldo = n1 - n0;
          }
          for (int64_t pp = 0; pp < P; ++pp) {
            const int64_t kp = k0 + pp * KC, kcp = std::min(KC, k0 + kn - kp);
            const bool first = chunk_first && pp == 0, last = chunk_last && pp == P - 1;
            const float* const ap = a_panel(gi, pp);
            const float* const bp = b_panel(gi, pp);
            auto micro = [&](int64_t jr, int64_t ir) {
              const int64_t nr = std::min(NR, n1 - jr);
              const float* bs = bp + jr * kcp;
              int64_t ldb = NR;
              bool in_place = false;
              if (q.b_direct) {
                in_place = N - jr >= NR;
                if (in_place) {
                  bs = reinterpret_cast<const float*>(o.b.at(kp, jr));
                  ldb = o.b.rs;
                } else {
                  bs = bp;
                }
              }
              const int64_t mr = std::min(MR, m1 - ir);
              float* ct = out + (ir - m0) * ldo + (jr - n0);
              const float* as = ap + ir * kcp;
              if (mr == MR && nr == NR) {
                // a B read in place: the tile that prefetches its rows ahead
                (in_place && kk.tile_stream ? kk.tile_stream : kk.tile)(kcp, as, bs, ldb, ct, ldo, !first);
              } else if (nr == NR && kk.tile_rows[mr]) {
                kk.tile_rows[mr](kcp, as, bs, ldb, ct, ldo, !first);
              } else {
                kk.tile(kcp, as, bs, ldb, edge, NR, false);
                for (int64_t i = 0; i < mr; ++i)
                  for (int64_t j = 0; j < nr; ++j)
                    ct[i * ldo + j] = first ? edge[i * NR + j] : ct[i * ldo + j] + edge[i * NR + j];
              }
              if (last) finish(kk, p, o.y, o.c, ir, jr, mr, nr, ct, ldo, q.direct);
            };
            for (int64_t jr = n0; jr < n1; jr += NR)
              for (int64_t ir = m0; ir < m1; ir += MR) micro(jr, ir);
          }
        }
      });
    }
  }
}

// ---- gemv --------------------------------------------------------------------------------------------

// M == 1 or N == 1 on float32: R outputs, each a K-long dot product of the vector operand with a
// row (dot) or column (axpy) of the matrix operand X, which must have a unit stride.
struct Gemv {
  bool ok = false;
  bool dot = false;      // X rows contiguous: x[r*ldx + k]; else x[k*ldx + r]
  bool a_is_vec = true;  // M == 1: the vector is A's row and X is B; else the vector is B's column
};

Gemv plan_gemv(const Problem& p) {
  Gemv g;
  if (p.Y->dtype != DType::F32 || (p.M != 1 && p.N != 1)) return g;
  const int r = p.Y->rank();
  if (p.M == 1) {  // X = B: rows r = columns of B
    const int64_t rs = p.B->strides[r - 2], cs = p.B->strides[r - 1];
    g.a_is_vec = true;
    if (cs == 1 || p.N == 1) g = Gemv{true, false, true};
    else if (rs == 1 || p.K == 1) g = Gemv{true, true, true};
  } else {  // N == 1, X = A: rows r = rows of A
    const int64_t rs = p.A->strides[r - 2], cs = p.A->strides[r - 1];
    if (cs == 1 || p.K == 1) g = Gemv{true, true, false};
    else if (rs == 1) g = Gemv{true, false, false};
  }
  return g;
}

// One batch entry seen as a gemv: the vector (element k at v[k*vs]), X in the dot or axpy layout,
// and Y and C with the outputs along their columns (transposed views when N == 1).
struct GemvArgs {
  const float* v;
  int64_t vs;
  const float* x;
  int64_t ldx;
  Mat<float> y, c;
};

GemvArgs gemv_args(const Problem& p, const Gemv& g, int64_t bi) {
  const Operands<float> o = operands<float>(p, bi);
  if (g.a_is_vec) return GemvArgs{o.a.p, o.a.cs, o.b.p, g.dot ? o.b.cs : o.b.rs, o.y, o.c};
  return GemvArgs{o.b.p, o.b.rs, o.a.p, g.dot ? o.a.rs : o.a.cs, Mat<float>{o.y.p, o.y.cs, o.y.rs},
                  Mat<float>{o.c.p, o.c.cs, o.c.rs}};
}

// out[0, r1 - r0) = the sums over k in [k0, k1) for outputs [r0, r1); v: k1 - k0 floats of scratch.
void gemv_part(const Kernels& kk, const Gemv& g, const GemvArgs& a, int64_t r0, int64_t r1, int64_t k0, int64_t k1,
               float* v, float* out) {
  for (int64_t k = k0; k < k1; ++k) v[k - k0] = a.v[k * a.vs];
  if (g.dot) kk.gemv_dot(r1 - r0, k1 - k0, a.x + r0 * a.ldx + k0, a.ldx, v, out);
  else kk.gemv_axpy(r1 - r0, k1 - k0, a.x + k0 * a.ldx + r0, a.ldx, v, out);
}

// Units go to whichever thread asks next. The dot layout splits the outputs (each a contiguous run
// of X's rows). The axpy layout must read X's rows whole to stream memory at full speed (measured:
// 384-column pieces of a 768x3072 B ran at one thread's speed, whole rows at twice it), so a
// single entry splits K instead, into partial sums that a second pass adds up.
void gemv_float(const Kernels& kk, const Problem& p, const Gemv& g) {
  const int64_t R = p.M == 1 ? p.N : p.M, K = p.K;
  const int nt = (double)p.batch * R * K < 128.0 * 1024 ? 1 : num_threads();
  // K splits per entry: several per thread, so that a helper that wakes late still finds work.
  const int64_t S = !g.dot && p.batch < nt && K >= 256 ? std::min<int64_t>(4 * nt, K / 128) : 1;
  int64_t pieces = 1;                                                // output splits per entry
  if (g.dot) pieces = std::min<int64_t>(4 * nt, (R + 63) / 64);
  else if (S == 1 && p.batch < nt) pieces = std::min<int64_t>(nt, (R + 63) / 64);
  const int64_t chunk = (R + pieces - 1) / pieces;
  const size_t per = round64((size_t)K) + round64((size_t)chunk);
  const size_t parts = S > 1 ? round64((size_t)(p.batch * S * R)) : 0;
  float* const base = arena(parts + per * nt);
  float* const thr = base + parts;

  if (S > 1) {
    WorkCounter c(p.batch * S);
    parallel_run((int)std::min<int64_t>(nt, p.batch * S), [&](int t, int) {
      int64_t u;
      while (c.take(u)) {
        const int64_t bi = u / S, sk = u % S;
        gemv_part(kk, g, gemv_args(p, g, bi), 0, R, K * sk / S, K * (sk + 1) / S, thr + per * t, base + u * R);
      }
    });
    const int64_t rp = std::min<int64_t>(nt, (R + 255) / 256), rc = (R + rp - 1) / rp;
    WorkCounter c2(p.batch * rp);
    parallel_run((int)std::min<int64_t>(nt, p.batch * rp), [&](int, int) {
      int64_t u;
      while (c2.take(u)) {
        const int64_t bi = u / rp, r0 = u % rp * rc, r1 = std::min(R, r0 + rc);
        float* sum = base + bi * S * R;
        for (int64_t sk = 1; sk < S; ++sk)
          for (int64_t r = r0; r < r1; ++r) sum[r] += sum[sk * R + r];
        const GemvArgs a = gemv_args(p, g, bi);
        finish(kk, p, a.y, a.c, 0, r0, 1, r1 - r0, sum + r0, R, false);
      }
    });
    return;
  }
  WorkCounter c(p.batch * pieces);
  parallel_run((int)std::min<int64_t>(nt, p.batch * pieces), [&](int t, int) {
    float* v = thr + per * t;
    float* y = v + round64((size_t)K);
    int64_t u;
    while (c.take(u)) {
      const GemvArgs a = gemv_args(p, g, u / pieces);
      const int64_t r0 = u % pieces * chunk, r1 = std::min(R, r0 + chunk);
      if (r0 >= r1) continue;
      float* out = a.y.cs == 1 ? const_cast<float*>(a.y.at(0, r0)) : y;  // straight into Y when it is contiguous
      gemv_part(kk, g, a, r0, r1, 0, K, v, out);
      finish(kk, p, a.y, a.c, 0, r0, 1, r1 - r0, out, R, a.y.cs == 1);
    }
  });
}

// ---- driver --------------------------------------------------------------------------------------------

// v with its last two dims swapped (no data moves).
View transposed(const View& v) {
  View t = v;
  const int r = v.rank();
  std::swap(t.shape[r - 2], t.shape[r - 1]);
  std::swap(t.strides[r - 2], t.strides[r - 1]);
  return t;
}

// Whether Y = A @ B wastes fewer multiply-adds as Y^T = B^T @ A^T. The register tile is NR columns
// wide and Y's columns are padded to it, while a short last row sliver has kernels of its own height
// (tile_rows): so an N well below NR (a classifier's 10 outputs, NR = 32) pads every tile, and the
// same product with M and N exchanged does not. Measured on one thread (KILN_TRACE): 32x1024x10
// 18.1 -> 7.3 us, 128x1024x10 60.6 -> 26.8 us.
bool narrow(const Kernels& kk, const Problem& p) {
  const auto padded = [&](int64_t n) { return (n + kk.nr - 1) / kk.nr * kk.nr; };
  return p.N < kk.nr && 5 * p.N * padded(p.M) < 4 * p.M * padded(p.N);
}

template <typename T>
void matmul_float(const Problem& p) {
  const Kernels& kk = *pick_kernels();
  if (std::is_same<T, float>::value) {
    const Gemv g = plan_gemv(p);
    if (g.ok) return gemv_float(kk, p, g);
  }
  if (narrow(kk, p)) {
    const View a = transposed(*p.B), b = transposed(*p.A), y = transposed(*p.Y);
    const View c = p.C ? transposed(*p.C) : View{};
    Problem q = p;
    q.A = &a, q.B = &b, q.Y = &y, q.C = p.C ? &c : nullptr;
    std::swap(q.M, q.N);
    return gemm_float<T>(kk, q);
  }
  gemm_float<T>(kk, p);
}

// ---- K == 0 and integers ---------------------------------------------------------------------------

// Y = beta * C (or 0): the empty sum.
template <typename T>
void fill_bias(const Problem& p) {
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    const Operands<T> o = operands<T>(p, bi);
    for (int64_t i = 0; i < p.M; ++i)
      for (int64_t j = 0; j < p.N; ++j) {
        T* d = const_cast<T*>(o.y.at(i, j));
        if constexpr (is_float_type<T>()) {
          float v = p.use_c ? (float)p.beta * load(o.c.at(i, j)) : 0.0f;
          activate(p.act, &v, 1);
          store(d, v);
        } else {
          using U = std::make_unsigned_t<T>;
          const T v = p.use_c ? (T)((U)(int64_t)p.beta * (U)*o.c.at(i, j)) : (T)0;
          *d = p.act == Activation::Relu && v < 0 ? (T)0 : v;
        }
      }
  }
}

// Wrapping integer product: rows of Y in parallel, an i-k-j loop into a row of accumulators.
template <typename T>
void matmul_int(const Problem& p) {
  using U = std::make_unsigned_t<T>;
  const U alpha = (U)(int64_t)p.alpha, beta = (U)(int64_t)p.beta;  // integers: wrap mod 2^bits
  const int64_t rows = p.batch * p.M;
  const int nt = (int)std::min<int64_t>(num_threads(), std::max<int64_t>(1, rows * p.N * p.K / (1 << 16)));
  U* acc = reinterpret_cast<U*>(arena((size_t)nt * round64((size_t)p.N * sizeof(U) / sizeof(float) + 1)));
  const size_t stride = round64((size_t)p.N * sizeof(U) / sizeof(float) + 1) * sizeof(float) / sizeof(U);
  parallel_run(nt, [&](int t, int n) {
    U* row = acc + stride * t;
    for (int64_t r = rows * t / n; r < rows * (t + 1) / n; ++r) {
      const int64_t bi = r / p.M, i = r % p.M;
      const Operands<T> o = operands<T>(p, bi);
      for (int64_t j = 0; j < p.N; ++j) row[j] = 0;
      for (int64_t k = 0; k < p.K; ++k) {
        const U aik = (U)*o.a.at(i, k);
        const T* bk = o.b.at(k, 0);
        for (int64_t j = 0; j < p.N; ++j) row[j] += aik * (U)bk[j * o.b.cs];
      }
      for (int64_t j = 0; j < p.N; ++j) {
        U v = alpha * row[j];
        if (p.use_c) v += beta * (U)*o.c.at(i, j);
        *const_cast<T*>(o.y.at(i, j)) = p.act == Activation::Relu && (T)v < 0 ? (T)0 : (T)v;
      }
    }
  });
}

void matmul_run(const KernelArgs& a) {
  const Problem p = problem_of(a);
  if (p.batch == 0 || p.M == 0 || p.N == 0) return;
  switch (p.Y->dtype) {
    case DType::F32: p.K == 0 ? fill_bias<float>(p) : matmul_float<float>(p); return;
    case DType::F16: p.K == 0 ? fill_bias<half>(p) : matmul_float<half>(p); return;
    case DType::BF16: p.K == 0 ? fill_bias<bfloat16>(p) : matmul_float<bfloat16>(p); return;
    case DType::I32: p.K == 0 ? fill_bias<int32_t>(p) : matmul_int<int32_t>(p); return;
    case DType::I64: p.K == 0 ? fill_bias<int64_t>(p) : matmul_int<int64_t>(p); return;
    case DType::U8: p.K == 0 ? fill_bias<uint8_t>(p) : matmul_int<uint8_t>(p); return;
    default: fail("E_UNSUPPORTED", "MatMul: unsupported dtype");
  }
}

// ---- enqueue-time check ------------------------------------------------------------------------------

void matmul_check(const std::string& op, const KernelArgs& a) {
  if ((a.in.size() != 2 && a.in.size() != 3) || a.out.size() != 1)
    fail("E_ARGUMENT", op + " takes A, B[, C] and one output: " + describe(op, a));
  const View &A = a.in[0], &B = a.in[1], &Y = a.out[0];
  const int r = Y.rank();
  if (r < 2 || A.rank() != r || B.rank() != r)
    fail("E_SHAPE", op + ": A, B and Y must share one rank >= 2: " + describe(op, a));
  for (int d = 0; d < r - 2; ++d)
    if (A.shape[d] != Y.shape[d] || B.shape[d] != Y.shape[d])
      fail("E_SHAPE", op + ": batch dims must already be broadcast to Y's: " + describe(op, a));
  if (A.shape[r - 1] != B.shape[r - 2]) fail("E_SHAPE", op + ": inner dims differ (A's K vs B's K): " + describe(op, a));
  if (Y.shape[r - 2] != A.shape[r - 2] || Y.shape[r - 1] != B.shape[r - 1])
    fail("E_SHAPE", op + ": Y must be [..., M, N]: " + describe(op, a));
  if (a.in.size() == 3 && a.in[2].shape != Y.shape)
    fail("E_SHAPE", op + ": C must be broadcast to Y's shape: " + describe(op, a));
  for (auto& v : a.in)
    if (v.dtype != Y.dtype) fail("E_DTYPE", op + ": operands must share Y's dtype: " + describe(op, a));
  const DType t = Y.dtype;
  if (t != DType::F32 && t != DType::F16 && t != DType::BF16 && t != DType::I32 && t != DType::I64 && t != DType::U8)
    fail("E_UNSUPPORTED", "the cpu backend has no kernel for " + describe(op, a));
  for (int d = 0; d < r && Y.numel() > 0; ++d)
    if (Y.shape[d] > 1 && Y.strides[d] == 0)
      fail("E_UNSUPPORTED", op + ": Y may not be a broadcast (stride 0) view: " + describe(op, a));
  activation_of(op, a);
  const double alpha = a.attrs.num("alpha", 1.0), beta = a.attrs.num("beta", 0.0);
  auto integral = [](double v) { return std::abs(v) < 9.2e18 && v == (double)(int64_t)v; };
  if (!is_float(t) && (!integral(alpha) || !integral(beta)))
    fail("E_UNSUPPORTED", op + ": integer matmul takes integer alpha and beta: " + describe(op, a));
}

// batch * M * N * K multiply-adds (Y has batch * M * N elements), on top of touching every operand.
double matmul_cost(const KernelArgs& a) {
  const View& A = a.in[0];
  return (double)a.out[0].numel() * (double)A.shape[A.rank() - 1] * kCostPerMultiplyAdd + default_cost(a);
}

KILN_CPU_KERNEL("MatMul", matmul_run, matmul_check, matmul_cost);

}  // namespace
}  // namespace kiln
