// The interface between the matmul driver (matmul.cc) and its per-ISA building blocks
// (matmul_avx512.cc, matmul_avx2.cc, and the portable set inside matmul.cc).
//
// Packed layouts, all float32, 64-byte aligned, zero padded past the valid rows/columns:
//   A block: MR-tall slivers one after another; a sliver holds kc x MR, element (i, k) at a[k*MR + i]
//   B panel: NR-wide slivers one after another; a sliver holds kc x NR, element (k, j) at b[k*NR + j]
// The micro-kernel reads a packed A sliver and a B sliver whose rows are `ldb` floats apart (NR
// when packed, or B's own row stride when a row-major float32 B is read in place).
//
// This header is included by files compiled with different -m flags, so it declares only plain
// data and function pointers: no inline code that the linker could merge across ISAs.
#pragma once
#include <cstdint>

namespace kiln {
namespace mm {

struct Kernels {
  const char* name;
  int mr, nr;  // micro-tile: MR rows x NR columns of Y held in registers
  // Cache blocking: a B sliver [kc, NR] stays in L1 across an A block [mc, kc] held in L2; a B
  // panel is [kc, nc]. mc is a multiple of mr, nc of nr.
  int64_t kc, mc, nc;

  // c[MR, NR] (row stride ldc, unit column stride) = (accumulate ? c : 0) + A_sliver @ B_sliver
  //   a: packed A sliver [kc x MR];  b: B sliver [kc, NR] with row stride ldb
  using TileFn = void (*)(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);
  TileFn tile;
  // `tile` prefetching B rows ahead, for a B read in place (the small-M path); null where the set
  // has none (`tile` serves).
  TileFn tile_stream;

  // y[r] = sum_k x[r*ldx + k] * v[k]        for r in [0, R)   (rows of x contiguous: dot products)
  void (*gemv_dot)(int64_t R, int64_t K, const float* x, int64_t ldx, const float* v, float* y);
  // y[r] = sum_k v[k] * x[k*ldx + r]        for r in [0, R)   (columns of x contiguous: axpy form)
  void (*gemv_axpy)(int64_t R, int64_t K, const float* x, int64_t ldx, const float* v, float* y);

  // Packers for the unit-stride layouts, converting to float32 as they go; indexed
  // [layout][dtype code: 0 float32, 1 float16, 2 bfloat16]. A null entry means the generic
  // strided packer in matmul.cc.
  //   pack_a[0]: A[i, k] at a[i*ld + k] (row-major)   pack_a[1]: A[i, k] at a[k*ld + i] (col-major)
  //     (rows = mc, cols = kc): A block [mc, kc] -> MR slivers, mc padded to MR with zeros
  //   pack_b[0]: B[k, j] at b[k*ld + j] (row-major)   pack_b[1]: B[k, j] at b[j*ld + k] (col-major)
  //     (rows = kc, cols = nc): B panel [kc, nc] -> NR slivers, nc padded to NR with zeros
  using PackFn = void (*)(int64_t rows, int64_t cols, const void* src, int64_t ld, float* dst);
  PackFn pack_a[2][3];
  PackFn pack_b[2][3];

  // tile_rows[m] for 1 <= m < mr (null: the driver pads the tile instead): `tile` for the first m
  // rows of a packed A sliver (still mr floats per k) with a full NR-wide B sliver; writes only
  // those m rows of c. Spares the padded rows' FMAs when M % mr is small (M = 32 with mr = 14).
  TileFn tile_rows[16];
};

// Call only after checking cpu_features() for the ISA the file is compiled for.
const Kernels* kernels_avx512();  // matmul_avx512.cc
const Kernels* kernels_avx2();    // matmul_avx2.cc

}  // namespace mm
}  // namespace kiln
