// matmul.wgsl: MatMul(A [..., M, K], B [..., K, N][, C [..., M, N]]; alpha, beta)
//   Y[b, m, n] = alpha * sum_k A[b, m, k] B[b, k, n] + beta * C[b, m, n]
// Register-tiled: a workgroup computes a BM x BN tile of Y, staging BM x BK of A and BK x BN of B in
// workgroup memory per step of K; each invocation accumulates a TM x TN block in registers (ACC:
// f32 for float dtypes, float16/bfloat16 included; i32 for int32 and uint8, vec2<u32> for int64,
// both wrapping; mac() is acc + a * b in ACC). Edge tiles load zeros
// outside the matrix and store only inside it, so any M, N, K works (K = 0 gives beta * C). Batches
// run on the z dimension of the dispatch; batch dims may be broadcast (stride 0). A and B are any
// strided views (transposes need no copy).
// Variants (constants prepended by the host, chosen per adapter by a short autotune, see
// src/backends/webgpu/matmul.ts): BM BN BK TM TN; VEC_A / VEC_B load 4 consecutive elements of A's
// rows / B's rows as one vec4 (float32 only, when those rows are contiguous and 16-byte aligned);
// SUBGROUPS shares A's register values across a subgroup by shuffles (adapters with `subgroups`).
//   meta header: [0] M, [1] N, [2] K, [3] batch rank, [4] batch shape at, [5] A at (offset, batch
//   strides, row stride, col stride), [6] B at, [7] C at, [8] Y at (same layout), [9] alpha f32,
//   [10] beta f32, [11] alpha i32, [12] beta i32 (integer dtypes; sign-extended for int64), [13] has C,
//   [14] first tile row, [15] first tile column of this dispatch (WebGPU caps a dispatch at 65535
//   workgroups per dimension, so a taller or wider Y runs as several dispatches over bands of tiles);
//   the dot path (below) reads [14] as the batch count instead
// The host generates the bindings A, B, C, Y (A4, B4 as array<vec4<f32>> for the vec4 variants),
// alias ACC, acc_zero, mac, load_a, load_b, load_a4, load_b4 (vec4 index), load_c, store_y,
// epilogue, sg_shuffle and the entry point `main`.
// Bench alone: `kiln bench matmul --device webgpu --case 1024^3`.

const WG_X: u32 = BN / TN;
const WG_Y: u32 = BM / TM;
const THREADS: u32 = WG_X * WG_Y;

var<workgroup> As: array<ACC, BK * BM>; // [k][m]
var<workgroup> Bs: array<ACC, BK * BN>; // [k][n]

struct Operand { base: i32, rs: i32, cs: i32 }

fn operand(at: u32, batch: u32) -> Operand {
  let rank = u32(args[3]);
  let base = args[at] + space_offset(batch, rank, u32(args[4]), at + 1u);
  return Operand(base, args[at + 1u + rank], args[at + 2u + rank]);
}

// A's TM values of this invocation's rows at step k. SUBGROUPS variant: when every lane of the
// subgroup works on the same rows (`shared_rows`, checked by the entry point), lane t reads element
// t % TM and the others receive it through subgroupShuffle: one workgroup-memory read per lane
// instead of TM. Otherwise (or without the feature) each invocation reads all TM.
fn fetch_a_row(ar: ptr<function, array<ACC, TM>>, at: u32, lane: u32, shared_rows: bool) {
  if (SUBGROUPS) {
    // the shuffles run in uniform control flow on every lane; only the use of their result branches
    let mine = As[at + lane % TM];
    for (var i = 0u; i < TM; i++) {
      let v = sg_shuffle(mine, i);
      if (shared_rows) { (*ar)[i] = v; } else { (*ar)[i] = As[at + i]; }
    }
  } else {
    for (var i = 0u; i < TM; i++) { (*ar)[i] = As[at + i]; }
  }
}

// The entry point is generated (with the subgroup builtins only where the variant uses them) and
// calls this with the invocation's ids.
fn matmul_tile(wg: vec3<u32>, lid: vec3<u32>, tid: u32, lane: u32, shared_rows: bool) {
  let M = u32(args[0]);
  let N = u32(args[1]);
  let K = u32(args[2]);
  let a = operand(u32(args[5]), wg.z);
  let b = operand(u32(args[6]), wg.z);
  let row0 = (wg.y + u32(args[14])) * BM;
  let col0 = (wg.x + u32(args[15])) * BN;
  var acc: array<ACC, TM * TN>;
  for (var i = 0u; i < TM * TN; i++) { acc[i] = acc_zero(); }
  var ar: array<ACC, TM>;
  var br: array<ACC, TN>;

  for (var k0 = 0u; k0 < K; k0 += BK) {
    // stage A[row0.., k0..] and B[k0.., col0..]
    if (VEC_A) {
      for (var e = tid; e < BM * BK / 4u; e += THREADS) {
        let m = e / (BK / 4u);
        let kq = (e % (BK / 4u)) * 4u;
        var v = vec4<f32>(0.0);
        if (row0 + m < M && k0 + kq < K) { v = load_a4((a.base + i32(row0 + m) * a.rs + i32(k0 + kq)) / 4); }
        for (var j = 0u; j < 4u; j++) { As[(kq + j) * BM + m] = acc_from_f32(v[j]); }
      }
    } else {
      for (var e = tid; e < BM * BK; e += THREADS) {
        let m = e / BK;
        let k = e % BK;
        var v = acc_zero();
        if (row0 + m < M && k0 + k < K) { v = load_a(a.base + i32(row0 + m) * a.rs + i32(k0 + k) * a.cs); }
        As[k * BM + m] = v;
      }
    }
    if (VEC_B) {
      for (var e = tid; e < BK * BN / 4u; e += THREADS) {
        let k = e / (BN / 4u);
        let nq = (e % (BN / 4u)) * 4u;
        var v = vec4<f32>(0.0);
        if (k0 + k < K && col0 + nq < N) { v = load_b4((b.base + i32(k0 + k) * b.rs + i32(col0 + nq)) / 4); }
        for (var j = 0u; j < 4u; j++) { Bs[k * BN + nq + j] = acc_from_f32(v[j]); }
      }
    } else {
      for (var e = tid; e < BK * BN; e += THREADS) {
        let k = e / BN;
        let n = e % BN;
        var v = acc_zero();
        if (k0 + k < K && col0 + n < N) { v = load_b(b.base + i32(k0 + k) * b.rs + i32(col0 + n) * b.cs); }
        Bs[k * BN + n] = v;
      }
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      fetch_a_row(&ar, k * BM + lid.y * TM, lane, shared_rows);
      for (var j = 0u; j < TN; j++) { br[j] = Bs[k * BN + lid.x * TN + j]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i * TN + j] = mac(acc[i * TN + j], ar[i], br[j]); }
      }
    }
    workgroupBarrier();
  }

  let y = operand(u32(args[8]), wg.z);
  let c = operand(u32(args[7]), wg.z);
  let has_c = args[13] != 0;
  for (var i = 0u; i < TM; i++) {
    let m = row0 + lid.y * TM + i;
    if (m >= M) { break; }
    for (var j = 0u; j < TN; j++) {
      let n = col0 + lid.x * TN + j;
      if (n >= N) { break; }
      var cv = acc_zero();
      if (has_c) { cv = load_c(c.base + i32(m) * c.rs + i32(n) * c.cs); }
      store_y(y.base + i32(m) * y.rs + i32(n) * y.cs, epilogue(acc[i * TN + j], cv));
    }
  }
}

// The dot path, for products the tiles would mostly leave idle (one row of A times a matrix, the
// matrix times one column, a large batch of tiny products: a BM x BN tile computing 1 x N of it
// wastes all but 1/BM): one invocation per element of Y, the elements in row-major order of
// [batch, M, N] (a linear id, so no dispatch dimension caps the batch), accumulating over k in the
// same order with the same mac() as a tile, so both paths give the same result.
@compute @workgroup_size(256)
fn dot(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg);
  let M = u32(args[0]);
  let N = u32(args[1]);
  let K = u32(args[2]);
  let z = i / (M * N);
  if (z >= u32(args[14])) { return; }
  let m = (i / N) % M;
  let n = i % N;
  let a = operand(u32(args[5]), z);
  let b = operand(u32(args[6]), z);
  var acc = acc_zero();
  for (var k = 0u; k < K; k++) { acc = mac(acc, load_a(a.base + i32(m) * a.rs + i32(k) * a.cs), load_b(b.base + i32(k) * b.rs + i32(n) * b.cs)); }
  let y = operand(u32(args[8]), z);
  var cv = acc_zero();
  if (args[13] != 0) {
    let c = operand(u32(args[7]), z);
    cv = load_c(c.base + i32(m) * c.rs + i32(n) * c.cs);
  }
  store_y(y.base + i32(m) * y.rs + i32(n) * y.cs, epilogue(acc, cv));
}
