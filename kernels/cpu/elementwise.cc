// The elementwise kernels on the CPU: every op of KILN_ELEMENTWISE_OPS (elementwise_ops.h, the
// op semantics shared with CUDA), plus Where. Y[...] = f(X[...]) or f(A[...], B[...]), inputs of one
// dtype broadcast to Y's shape by the front end (stride 0 along broadcast dims); comparisons and
// logical ops give bool. Floats compute in float32 (float16/bfloat16 round once on store), the
// inverse trigonometric and hyperbolic functions and Tan in float64 (elementwise_ops.h).
//   Where(C bool, X, Y) -> Z: any dtype, moved as raw bits (float16 NaN payloads survive)
// Loops come from elementwise_map.h: a vectorizable loop for contiguous and broadcast runs (a scalar
// operand, stride 0, is the common `x * 0.5` case) and a strided loop for everything else. The
// transcendental ops (Exp, Log, Tanh, Erf, Sigmoid, Silu, Gelu) on unit-stride float32 runs use the
// polynomial SIMD math of vmath.h (AVX-512 or AVX2, KILN_CPU_ISA forces a set); their other runs and
// dtypes, Sin/Cos, and the float64 ops (Asin ... Atanh) call scalar libm (the build does not enable
// -ffast-math, which vector libm needs). `node dist/bench/vmath.js` times those ops per set.
// Bench alone (memory-bound except the transcendental ones; Add at 3 x 4 bytes per element is a
// memory-bandwidth test with `a.launch('Add',[v,v],[o],{})`):
//   node -e "const a=require('./build/Release/kiln.node'),n=1<<24,x=a.alloc(4*n),y=a.alloc(4*n),
//     v={buf:x,offset:0,shape:[n],strides:[1],dtype:0},o={...v,buf:y};let t=process.hrtime.bigint();
//     for(let i=0;i<20;i++)a.launch('Exp',[v],[o],{});a.read(y,0,new Float32Array(1)).then(()=>
//     console.log(Number(process.hrtime.bigint()-t)/20e6,'ms'))"
#include "elementwise_map.h"

namespace kiln {
namespace {

#define KILN_CPU_ELEMENTWISE(Name, Op, mask, arity, bool_out) KILN_ELEMENTWISE(#Name, Op, mask, arity, bool_out);
KILN_ELEMENTWISE_OPS(KILN_CPU_ELEMENTWISE)

void where_run(const KernelArgs& a) {
  dispatch_bits(a.out[0].dtype, [&](auto tag) {
    using U = decltype(tag);
    map_views<U, kbool, U, U>(a.out[0], {&a.in[0], &a.in[1], &a.in[2]}, ops::Select<U>{});
  });
}

void where_check(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, 3, 1);
  expect_same_shape(op, a);
  DType t = a.out[0].dtype;
  if (a.in[0].dtype != DType::Bool || a.in[1].dtype != t || a.in[2].dtype != t) unsupported(op, a);
}

KILN_CPU_KERNEL("Where", where_run, where_check);

}  // namespace
}  // namespace kiln
