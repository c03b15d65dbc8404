// MatMul on CUDA: the dispatcher over the kernels of matmul_simt.cu, matmul_mma.cu, matmul_wgmma.cu
// and matmul_cublas.cu.
//   Y[..., M, N] = alpha * A[..., M, K] @ B[..., K, N] + beta * C[..., M, N]
// attrs (beyond the op table's alpha and beta), set by kiln.matmul's options:
//   precision 'highest' (default: float32 is computed in true float32) | 'high' (tf32 allowed)
//   impl      'auto' | 'simt' | 'mma' | 'wgmma' (sm_90a: TMA + wgmma; float16/bfloat16, and float32
//             at 'high' as tf32; float32 at 'highest' is refused: wgmma has no float32) | 'cublas'
//   wgmma_tile_n  0 (default: auto_tile_n, matmul_wgmma_layout.h, picks by shape) | 128 | 256: the
//             wgmma kernel's output tile width, wherever it runs (set by the front end from
//             KILN_WGMMA_TILE_N; see matmul_wgmma.cu)
// auto picks by architecture, dtype, precision and shape: float16/bfloat16, and float32 at 'high'
// (tf32), -> wgmma on sm_90 when this build has sm_90a code and M, N and K are each at least 64 (on
// an H200 it ran 2.6-2.8x mma's speed for 16-bit and 9-10x for tf32 at 4096^3 and 8192^3:
// bench/results/gpu-check-h200.md), else mma (sm_80+; its cp.async + ldmatrix fast path when both
// operands have a 16-byte-aligned unit-stride layout, else its general kernel: matmul_mma.cu);
// float32 at 'highest' -> simt; int32/int64 and anything below sm_80 -> simt. Every kernel reads any
// strides (transposed, sliced and broadcast-batch operands need no copy) and handles edge tiles
// itself; cuBLASLt needs a unit stride per matrix, and the front end copies an operand without one.
#include "matmul.cuh"

namespace kiln {
namespace cuda {

GemmArgs gemm_args(const KernelArgs& a) {
  const View &A = a.in[0], &B = a.in[1], &Y = a.out[0];
  const View* C = a.in.size() > 2 ? &a.in[2] : nullptr;
  const int r = Y.rank();
  GemmArgs p;
  p.M = Y.shape[r - 2], p.N = Y.shape[r - 1], p.K = A.shape[r - 1];
  p.alpha = a.attrs.num("alpha", 1.0), p.beta = a.attrs.num("beta", 0.0);
  const bool use_c = C && p.beta != 0;  // as on the CPU: an unused C is never read
  p.a = A.ptr, p.b = B.ptr, p.c = use_c ? C->ptr : nullptr, p.y = Y.ptr;
  p.sam = A.strides[r - 2], p.sak = A.strides[r - 1];
  p.sbk = B.strides[r - 2], p.sbn = B.strides[r - 1];
  p.scm = use_c ? C->strides[r - 2] : 0, p.scn = use_c ? C->strides[r - 1] : 0;
  p.sym = Y.strides[r - 2], p.syn = Y.strides[r - 1];
  Dims bs(Y.shape.begin(), Y.shape.end() - 2), sa, sb, sc, sy;
  for (int d = 0; d < r - 2; ++d)
    sa.push_back(A.strides[d]), sb.push_back(B.strides[d]), sc.push_back(use_c ? C->strides[d] : 0), sy.push_back(Y.strides[d]);
  p.batch = make_geometry<4>(bs, {&sa, &sb, &sc, &sy});
  return p;
}

void matmul_cublas(const KernelArgs& a, const GemmArgs& p, bool tf32, const Stream& s);
void matmul_wgmma(const GemmArgs& p, DType t, bool tf32, int tile_n, const Stream& s);

namespace {

void matmul_run(const KernelArgs& a, const Stream& s) {
  const std::string impl = a.attrs.str("impl", "auto"), precision = a.attrs.str("precision", "highest");
  if (precision != "highest" && precision != "high")
    fail("E_ARGUMENT", "MatMul: precision must be 'highest' or 'high', got '" + precision + "'");
  if (impl != "auto" && impl != "simt" && impl != "mma" && impl != "wgmma" && impl != "cublas")
    fail("E_ARGUMENT", "MatMul: impl must be 'auto', 'simt', 'mma', 'wgmma' or 'cublas' on cuda, got '" + impl + "'");
  const DType t = a.out[0].dtype;
  const bool tensor_cores = s.cc >= 80 && mma_compiled(s), is_f32 = t == DType::F32;
  const bool half_types = t == DType::F16 || t == DType::BF16;
  const bool tf32 = is_f32 && precision == "high";
  const GemmArgs p = gemm_args(a);
  const int tile_n = (int)a.attrs.num("wgmma_tile_n", 0);
  if (impl == "cublas") return matmul_cublas(a, p, tf32, s);
  if (impl == "wgmma") return matmul_wgmma(p, t, tf32, tile_n, s);
  if (impl == "mma") {
    if (!tensor_cores)
      fail("E_UNSUPPORTED", "MatMul impl 'mma' needs sm_80 or newer, in the device and in this build's architecture list; this device is sm_" +
                                std::to_string(s.cc));
    if (!half_types && !tf32)
      fail("E_UNSUPPORTED", std::string("MatMul impl 'mma' takes float16, bfloat16, or float32 at precision 'high' (tf32), not ") +
                                dtype_name(t) + (is_f32 ? " at precision 'highest'" : ""));
    return matmul_mma(p, t, tf32, s);
  }
  // 64: wgmma's tiles are at least 128 x 128 (K in steps of 64); a smaller product would mostly compute padding.
  const bool big = p.M >= 64 && p.N >= 64 && p.K >= 64;
  if (impl == "auto" && big && (half_types || tf32) && wgmma_compiled(s)) return matmul_wgmma(p, t, tf32, tile_n, s);
  if (impl == "auto" && tensor_cores && (half_types || tf32)) return matmul_mma(p, t, tf32, s);
  matmul_simt(p, t, s);
}

KILN_CUDA_KERNEL("MatMul", matmul_run);

}  // namespace
}  // namespace cuda
}  // namespace kiln
