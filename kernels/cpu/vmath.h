// Vectorized float32 transcendental math over contiguous runs: the interface between its users
// (elementwise_map.h for the unary ops, normalization.cc for Softmax/LogSoftmax) and the per-ISA
// sets (vmath_avx512.cc, vmath_avx2.cc, both built from vmath_simd.h; the portable set in vmath.cc).
//   y[i] = f(x[i]) for i in [0, n): exp, log, tanh, erf, sigmoid, silu, gelu ('none'), gelu_tanh;
//   and float16 / bfloat16 conversion of runs (Cast, matmul's float16 and bfloat16 outputs).
//   y may be x exactly (in place) but must not partly overlap it.
// Accuracy of the SIMD sets (test/ops-vmath.test.ts sweeps the float range against float64; worst
// seen): exp 0.9 ulp, log 0.7, tanh 1.3, erf 2.3, sigmoid 2.5, silu 3, gelu 6.4, gelu_tanh 4 ulp
// plus twice its conditioning (z is rounded in float32 before e^-2z sees it). NaN, infinities,
// signed zeros, overflow and underflow as libm gives them; subnormal results round once.
// The portable set has no unary functions (null: the caller's scalar libm loop runs instead).
//
// This header is included by files compiled with different -m flags, so it declares only plain
// data and function pointers: no inline code that the linker could merge across ISAs.
#pragma once
#include <cstdint>

namespace kiln {
namespace vm {

using UnaryFn = void (*)(const float* x, float* y, int64_t n);

struct VMath {
  const char* name;  // "avx512" | "avx2" | "portable"
  UnaryFn exp, log, tanh, erf, sigmoid, silu, gelu, gelu_tanh;
  // The largest of x[0, n) (n >= 1); a NaN never wins, -inf when every value is NaN or -inf.
  float (*max)(const float* x, int64_t n);
  // y[i] = exp(x[i] - shift) for i in [0, n) (y may be null: only the sum is wanted); returns the
  // sum of those values, accumulated in float64.
  double (*exp_shift_sum)(const float* x, float shift, float* y, int64_t n);
  // For LayerNormalization and RMSNormalization rows (null in the portable set, whose caller keeps
  // its scalar loops): the sum of x[0, n) and the sum of (x[i] - shift)^2, as float partial sums of
  // at most 8 terms per lane flushed to float64; and y[i] = (x[i] - shift) * r * s[i] + b[i],
  // rounded step by step as written (s, b null: 1 and 0), so y is what the scalar loop gives.
  double (*sum)(const float* x, int64_t n);
  double (*sq_dev_sum)(const float* x, float shift, int64_t n);
  void (*normalize)(const float* x, float* y, int64_t n, float shift, float r, const float* s, const float* b);
  // Float16 and bfloat16 runs (null in the portable set, whose callers keep dtype.h's scalar
  // functions): to_*: y[i] = x[i] rounded to nearest even (overflow to inf, NaN stays NaN, subnormals
  // exact), as the 16-bit patterns; from_f16: exact.
  void (*to_f16)(const float* x, uint16_t* y, int64_t n);
  void (*to_bf16)(const float* x, uint16_t* y, int64_t n);
  void (*from_f16)(const uint16_t* x, float* y, int64_t n);
};

// The set for this process: cpu_isa()'s (vmath.cc).
const VMath& vmath();

// Call only when cpu_isa() picked the ISA the file is compiled for.
const VMath* vmath_avx512();  // vmath_avx512.cc
const VMath* vmath_avx2();    // vmath_avx2.cc

}  // namespace vm
}  // namespace kiln
