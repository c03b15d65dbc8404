// norm.wgsl: LayerNormalization and RMSNormalization over the trailing dims from `axis`.
//   X any strided view [lead..., trail...]; Scale, Bias: views of shape trail (often broadcast)
//   LayerNorm: (x - mean) / sqrt(var + eps) * scale + bias;  RMSNorm: x / sqrt(mean(x^2) + eps) * scale
//   meta header: [0] rows, [1] block (elements per row), [2] lead rank, [3] lead shape at,
//   [4] X lead at (offset, strides), [5] Y lead at, [6] trail rank, [7] trail shape at,
//   [8] X trail strides at, [9] Y trail strides at, [10] Scale at (offset, trail strides),
//   [11] Bias at, [12] epsilon (f32 bits)
// Blocked sums and the corrected two-pass variance (moments.wgsl) in f32. Variants:
//   main            one invocation per row (many short rows keep a GPU busy this way);
//   main_workgroup  one workgroup of WG lanes per row (few long rows: one LLM decoding step's hidden
//                   state): lane l takes the elements l, l + WG, ... of every pass; the largest |x|
//                   and the moments combine across lanes in workgroup memory (workgroup_tree.wgsl).
// The host (reduce-ops.ts) picks the entry point by row count and length. Overrides rms, has_scale,
// has_bias. The host generates the bindings X, S, B, Y and xF, sF, bF, store_y.
// WGSL has no f64 (the CPU and CUDA sum in double): x^2 overflows f32 past |x| = 1.8e19, so a row
// whose largest |x| passes 1 is normalized as x / s with s a power of two near it (exact), and
// epsilon / s^2: (x - mean) / sqrt(var + eps) is the same in those units, with nothing past 4
// (s <= 2^126, so 1 / s is a normal float32: see scale_for).
// Benchmark: `node dist/bench/webgpu-rows.js` (bench/webgpu-rows.ts).

override rms: bool = false;
override has_scale: bool = false;
override has_bias: bool = false;

fn trail(k: u32, strides_at: u32) -> i32 { return space_offset(k, u32(args[6]), u32(args[7]), strides_at); }

var<private> row_inv: f32 = 1.0; // 1 / s for the row (see above)
fn moment_element(x0: i32, k: u32) -> f32 { return xF(x0 + trail(k, u32(args[8]))) * row_inv; }

// s for a row whose largest |x| is m: 1 when every |x| <= 1, or when one is infinite (the plain
// formula then gives what the CPU gives: 0 for the finite ones, NaN for the infinite) or NaN, else
// 2^(ceil(log2(m)) - 1), so |x| / s <= 2, but at most 2^126 (|x| / s <= 4): 1 / 2^127 is subnormal,
// which a device may flush to 0 (NVIDIA's does: every x / s of a row near 3e38 was 0 on an H200).
// The infinity and NaN are told by their bits: WGSL lets a compiler assume finite floats, and
// `m > FLT_MAX` may then fold to false (s = 2^inf, every x / s 0).
fn scale_for(m: f32) -> f32 {
  if (is_nan(m) || is_inf(m) || m <= 1.0) { return 1.0; }
  return exp2(min(ceil(log2(m)) - 1.0, 126.0));
}

// The row's x0 and y0 (element offsets of its first element in X and Y)
fn row_at(row: u32) -> vec2<i32> {
  let xa = u32(args[4]);
  let ya = u32(args[5]);
  return vec2<i32>(args[xa] + space_offset(row, u32(args[2]), u32(args[3]), xa + 1u), args[ya] + space_offset(row, u32(args[2]), u32(args[3]), ya + 1u));
}

// (mean, 1 / sqrt(var + eps)) in units of s from the row's mean and squared deviations `mv`
// (LayerNorm), or (0, 1 / sqrt(mean(x^2) + eps)) from its sum of squares `sq` (RMSNorm)
// epsilon in units of s^2 falls below float32's range past s ~ 2^66 (1e-5 / 2^132), and a constant
// row's 0 * 1 / sqrt(0 + 0) was then NaN where the CPU's float64 gives 0 (cpu/webgpu fuzz seed 5496:
// a row [5.7e25]): a positive epsilon stays at least FLT_MIN, which beside any nonzero variance in
// these units (2^-60 or more) changes nothing.
fn norm_params(sq: f32, mv: vec2<f32>, n: u32) -> vec2<f32> {
  let e = meta_f32(12u);
  let eps = select(0.0, max(e * row_inv * row_inv, 1.17549435e-38), e > 0.0);
  if (rms) { return vec2<f32>(0.0, 1.0 / sqrt(sq / f32(n) + eps)); }
  return vec2<f32>(mv.x, 1.0 / sqrt(mv.y / f32(n) + eps));
}

// Element k of the row: ((x / s - mean) * inv) * scale + bias
fn norm_store(x0: i32, y0: i32, k: u32, p: vec2<f32>) {
  let sa = u32(args[10]);
  let ba = u32(args[11]);
  var v = (xF(x0 + trail(k, u32(args[8]))) * row_inv - p.x) * p.y;
  if (has_scale) { v = v * sF(args[sa] + trail(k, sa + 1u)); }
  if (has_bias) { v = v + bF(args[ba] + trail(k, ba + 1u)); }
  store_y(y0 + trail(k, u32(args[9])), v);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= u32(args[0])) { return; }
  let n = u32(args[1]);
  let at = row_at(row);
  var m = 0.0;
  for (var k = 0u; k < n; k++) { m = max(m, abs(xF(at.x + trail(k, u32(args[8]))))); }
  row_inv = 1.0 / scale_for(m);
  var p: vec2<f32>;
  if (rms) { p = norm_params(moments(at.x, n, 0.0).y, vec2<f32>(0.0), n); } else { p = norm_params(0.0, mean_and_m2(at.x, n), n); }
  for (var k = 0u; k < n; k++) { norm_store(at.x, at.y, k, p); }
}

// One workgroup per row; rows past the last (a 2-D grid's tail) leave as a whole workgroup
@compute @workgroup_size(WG)
fn main_workgroup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  lane = li;
  let row = wid.x + wid.y * nwg.x;
  if (row >= u32(args[0])) { return; }
  let n = u32(args[1]);
  let at = row_at(row);
  var m = 0.0;
  for (var k = lane; k < n; k += WG) { m = max_nan(m, abs(xF(at.x + trail(k, u32(args[8]))))); }
  row_inv = 1.0 / scale_for(tree_max(m));
  var p: vec2<f32>;
  if (rms) { p = norm_params(row_moments(at.x, n, 0.0).y, vec2<f32>(0.0), n); } else { p = norm_params(0.0, row_mean_and_m2(at.x, n), n); }
  for (var k = lane; k < n; k += WG) { norm_store(at.x, at.y, k, p); }
}
