// norm.wgsl: LayerNormalization and RMSNormalization over the trailing dims from `axis`.
//   X any strided view [lead..., trail...]; Scale, Bias: views of shape trail (often broadcast)
//   LayerNorm: (x - mean) / sqrt(var + eps) * scale + bias;  RMSNorm: x / sqrt(mean(x^2) + eps) * scale
//   meta header: [0] rows, [1] block (elements per row), [2] lead rank, [3] lead shape at,
//   [4] X lead at (offset, strides), [5] Y lead at, [6] trail rank, [7] trail shape at,
//   [8] X trail strides at, [9] Y trail strides at, [10] Scale at (offset, trail strides),
//   [11] Bias at, [12] epsilon (f32 bits)
// One invocation per row; blocked sums and the corrected two-pass variance (moments.wgsl) in f32. Variants: overrides
// rms, has_scale, has_bias. The host generates the bindings X, S, B, Y and xF, sF, bF, store_y.
// WGSL has no f64 (the CPU and CUDA sum in double): x^2 overflows f32 past |x| = 1.8e19, so a row
// whose largest |x| passes 1 is normalized as x / s with s a power of two near it (exact), and
// epsilon / s^2: (x - mean) / sqrt(var + eps) is the same in those units, with nothing past 4.

override rms: bool = false;
override has_scale: bool = false;
override has_bias: bool = false;

fn trail(k: u32, strides_at: u32) -> i32 { return space_offset(k, u32(args[6]), u32(args[7]), strides_at); }

var<private> row_inv: f32 = 1.0; // 1 / s for the row (see above)
fn moment_element(x0: i32, k: u32) -> f32 { return xF(x0 + trail(k, u32(args[8]))) * row_inv; }

// s for the row: 1 when every |x| <= 1, or when one is infinite (the plain formula then gives what
// the CPU gives: 0 for the finite ones, NaN for the infinite), else 2^(ceil(log2(max |x|)) - 1), so
// |x| / s <= 2.
fn row_scale(x0: i32, n: u32) -> f32 {
  var m = 0.0;
  for (var k = 0u; k < n; k++) { m = max(m, abs(xF(x0 + trail(k, u32(args[8]))))); }
  if (!(m > 1.0) || m > 3.4028234e38) { return 1.0; }
  return exp2(ceil(log2(m)) - 1.0);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= u32(args[0])) { return; }
  let n = u32(args[1]);
  let xa = u32(args[4]);
  let ya = u32(args[5]);
  let x0 = args[xa] + space_offset(row, u32(args[2]), u32(args[3]), xa + 1u);
  let y0 = args[ya] + space_offset(row, u32(args[2]), u32(args[3]), ya + 1u);
  let xt = u32(args[8]);
  let s = row_scale(x0, n);
  row_inv = 1.0 / s;
  let eps = meta_f32(12u) * row_inv * row_inv;
  var inv: f32;
  var mean = 0.0; // in units of s, as are the moments
  if (rms) {
    inv = 1.0 / sqrt(moments(x0, n, 0.0).y / f32(n) + eps);
  } else {
    let mv = mean_and_m2(x0, n);
    mean = mv.x;
    inv = 1.0 / sqrt(mv.y / f32(n) + eps);
  }
  let sa = u32(args[10]);
  let ba = u32(args[11]);
  for (var k = 0u; k < n; k++) {
    var v = (xF(x0 + trail(k, xt)) * row_inv - mean) * inv;
    if (has_scale) { v = v * sF(args[sa] + trail(k, sa + 1u)); }
    if (has_bias) { v = v + bF(args[ba] + trail(k, ba + 1u)); }
    store_y(y0 + trail(k, u32(args[9])), v);
  }
}
