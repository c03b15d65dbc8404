// matmul_cublas: MatMul through cuBLASLt (impl: 'cublas'), the peer `kiln bench matmul` measures
// Kiln's kernels against. The library is dlopen'ed (native/cublaslt.h); nothing links it.
// cuBLASLt is column-major, so the row-major product Y = A @ B runs as Y^T = B^T @ A^T: a matrix
// with unit column stride is, read column-major, its own transpose (op N); one with unit row stride
// is itself (op T). Each operand needs one unit stride and Y unit column stride (the front end's
// outputs are contiguous); other layouts get E_UNSUPPORTED naming the operand (Kiln's own kernels
// read any strides). One batch dim after coalescing runs as a strided batch; more, one call each.
// float32 at precision 'high' uses CUBLAS_COMPUTE_32F_FAST_TF32, else CUBLAS_COMPUTE_32F. The
// algorithm is cuBLASLt's heuristic first choice within a 32 MiB workspace, as torch.matmul asks.
#include <map>
#include <mutex>

#include "cublaslt.h"
#include "matmul.cuh"

namespace kiln {
namespace cuda {
namespace {

struct Operand {
  int op;
  uint64_t rows, cols;  // as stored, column-major
  int64_t ld;
};

// The column-major reading of a row-major R x C matrix with strides (rs, cs), as its transpose.
bool as_transpose(int64_t R, int64_t C, int64_t rs, int64_t cs, Operand& o) {
  if (cs == 1 && rs >= std::max<int64_t>(C, 1)) return o = {cublaslt::kOpN, (uint64_t)C, (uint64_t)R, rs}, true;
  if (rs == 1 && cs >= std::max<int64_t>(R, 1)) return o = {cublaslt::kOpT, (uint64_t)R, (uint64_t)C, cs}, true;
  return false;
}

cublaslt::Handle handle_for(const cublaslt::Api& api, int device) {
  static std::mutex mu;
  static std::map<int, cublaslt::Handle> handles;
  std::lock_guard<std::mutex> lk(mu);
  auto& h = handles[device];
  if (!h && api.create(&h) != 0) fail("E_NATIVE", "cublasLtCreate failed on cuda:" + std::to_string(device));
  return h;
}

void ok(cublaslt::Status st, const char* what) {
  if (st != 0) fail("E_NATIVE", std::string("MatMul impl 'cublas': ") + what + " failed with cublasStatus " + std::to_string(st));
}

// Host copy of Geometry::offsets, for calling once per batch entry.
void batch_offsets(const Geometry<4>& g, int64_t i, int64_t (&off)[4]) {
  for (auto& o : off) o = 0;
  for (int d = g.rank - 1; d >= 0; --d) {
    int64_t idx = i % g.shape[d];
    i /= g.shape[d];
    for (int v = 0; v < 4; ++v) off[v] += idx * g.stride[v][d];
  }
}

}  // namespace

void matmul_cublas(const KernelArgs& a, const GemmArgs& p, bool tf32, const Stream& s) {
  const cublaslt::Api* api = cublaslt::loaded();
  if (!api) fail("E_UNSUPPORTED", "MatMul impl 'cublas': cuBLASLt is not loaded");
  const DType t = a.out[0].dtype;
  if (t != DType::F32 && t != DType::F16 && t != DType::BF16)
    fail("E_UNSUPPORTED", std::string("MatMul impl 'cublas' takes float32, float16 or bfloat16, not ") + dtype_name(t));
  if (p.K == 0) return matmul_simt(p, t, s);  // no product to compute: Y = beta * C (cuBLASLt rejects K = 0)
  const int type = t == DType::F32 ? cublaslt::kR32F : t == DType::F16 ? cublaslt::kR16F : cublaslt::kR16BF;
  Operand first, second, d, c;
  if (!as_transpose(p.K, p.N, p.sbk, p.sbn, first)) fail("E_UNSUPPORTED", "MatMul impl 'cublas': B needs a unit stride: " + describe("MatMul", a));
  if (!as_transpose(p.M, p.K, p.sam, p.sak, second)) fail("E_UNSUPPORTED", "MatMul impl 'cublas': A needs a unit stride: " + describe("MatMul", a));
  if (!as_transpose(p.M, p.N, p.sym, p.syn, d) || d.op != cublaslt::kOpN)
    fail("E_UNSUPPORTED", "MatMul impl 'cublas': Y must be row-major: " + describe("MatMul", a));
  c = d;
  if (p.c && (!as_transpose(p.M, p.N, p.scm, p.scn, c) || c.op != cublaslt::kOpN))
    fail("E_UNSUPPORTED", "MatMul impl 'cublas': C must be row-major (not broadcast): " + describe("MatMul", a));

  const bool strided = p.batch.rank == 1 && p.batch.n > 1 && p.batch.n <= INT32_MAX;
  cublaslt::MatmulDesc desc = nullptr;
  cublaslt::Layout la = nullptr, lb = nullptr, lc = nullptr, ld = nullptr;
  cublaslt::Preference pref = nullptr;
  auto release = [&] {
    if (pref) api->pref_destroy(pref);
    if (desc) api->desc_destroy(desc);
    for (auto l : {la, lb, lc, ld})
      if (l) api->layout_destroy(l);
  };
  try {
    ok(api->desc_create(&desc, tf32 ? cublaslt::kCompute32FFastTF32 : cublaslt::kCompute32F, cublaslt::kR32F), "cublasLtMatmulDescCreate");
    int32_t ta = first.op, tb = second.op;
    ok(api->desc_set(desc, cublaslt::kDescTransA, &ta, sizeof ta), "TRANSA");
    ok(api->desc_set(desc, cublaslt::kDescTransB, &tb, sizeof tb), "TRANSB");
    ok(api->layout_create(&la, type, first.rows, first.cols, first.ld), "layout of B");
    ok(api->layout_create(&lb, type, second.rows, second.cols, second.ld), "layout of A");
    ok(api->layout_create(&lc, type, c.rows, c.cols, c.ld), "layout of C");
    ok(api->layout_create(&ld, type, d.rows, d.cols, d.ld), "layout of Y");
    if (strided) {
      int32_t count = (int32_t)p.batch.n;
      const int64_t sa = p.batch.stride[1][0], sb = p.batch.stride[0][0], sc = p.c ? p.batch.stride[2][0] : p.batch.stride[3][0],
                    sd = p.batch.stride[3][0];
      const std::pair<cublaslt::Layout, int64_t> ls[] = {{la, sa}, {lb, sb}, {lc, sc}, {ld, sd}};
      for (auto& l : ls) {
        ok(api->layout_set(l.first, cublaslt::kLayoutBatchCount, &count, sizeof count), "BATCH_COUNT");
        ok(api->layout_set(l.first, cublaslt::kLayoutStridedBatchOffset, &l.second, sizeof l.second), "STRIDED_BATCH_OFFSET");
      }
    }
    const size_t kWorkspace = size_t(32) << 20;
    Scratch workspace(s, kWorkspace);
    const float alpha = (float)p.alpha, beta = p.c ? (float)p.beta : 0.0f;
    cublaslt::Handle h = handle_for(*api, s.device);
    // The algorithm, as torch.matmul picks it: cuBLASLt's first heuristic choice under the workspace
    // it gets. A null algo makes cublasLtMatmul query with default preferences, whose workspace
    // limit is 0 (cublasLt.h): on an H200 that peer ran bfloat16 about 10% below torch.matmul.
    cublaslt::HeuristicResult best{};
    int found = 0;
    const uint64_t ws_limit = kWorkspace;
    ok(api->pref_create(&pref), "cublasLtMatmulPreferenceCreate");
    ok(api->pref_set(pref, cublaslt::kPrefMaxWorkspaceBytes, &ws_limit, sizeof ws_limit), "MAX_WORKSPACE_BYTES");
    const bool picked = api->algo_get_heuristic(h, desc, la, lb, lc, ld, pref, 1, &best, &found) == 0 && found > 0 && best.state == 0 &&
                        best.workspace_size <= kWorkspace;
    const void* algo = picked ? best.algo : nullptr;  // no heuristic answer: cuBLASLt's implicit choice
    const size_t isz = itemsize(t);
    const int64_t calls = strided ? 1 : p.batch.n;
    for (int64_t z = 0; z < calls; ++z) {
      int64_t off[4] = {0, 0, 0, 0};
      if (!strided) batch_offsets(p.batch, z, off);
      const char* y = p.y + off[3] * isz;
      const char* cp = p.c ? p.c + off[2] * isz : y;
      ok(api->matmul(h, desc, &alpha, p.b + off[1] * isz, la, p.a + off[0] * isz, lb, &beta, cp, lc, (void*)y, ld, algo,
                     workspace.as<void>(), kWorkspace, s.stream),
         "cublasLtMatmul");
    }
  } catch (...) {
    release();
    throw;
  }
  release();
}

}  // namespace cuda
}  // namespace kiln
