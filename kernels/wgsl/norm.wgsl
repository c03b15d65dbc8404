// norm.wgsl: LayerNormalization and RMSNormalization over the trailing dims from `axis`.
//   X any strided view [lead..., trail...]; Scale, Bias: views of shape trail (often broadcast)
//   LayerNorm: (x - mean) / sqrt(var + eps) * scale + bias;  RMSNorm: x / sqrt(mean(x^2) + eps) * scale
//   meta header: [0] rows, [1] block (elements per row), [2] lead rank, [3] lead shape at,
//   [4] X lead at (offset, strides), [5] Y lead at, [6] trail rank, [7] trail shape at,
//   [8] X trail strides at, [9] Y trail strides at, [10] Scale at (offset, trail strides),
//   [11] Bias at, [12] epsilon (f32 bits)
// One invocation per row; blocked sums and the corrected two-pass variance (moments.wgsl) in f32. Variants: overrides
// rms, has_scale, has_bias. The host generates the bindings X, S, B, Y and xF, sF, bF, store_y.

override rms: bool = false;
override has_scale: bool = false;
override has_bias: bool = false;

fn trail(k: u32, strides_at: u32) -> i32 { return space_offset(k, u32(args[6]), u32(args[7]), strides_at); }
fn moment_element(x0: i32, k: u32) -> f32 { return xF(x0 + trail(k, u32(args[8]))); }

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
  var inv: f32;
  var mean = 0.0;
  if (rms) {
    inv = 1.0 / sqrt(moments(x0, n, 0.0).y / f32(n) + meta_f32(12u));
  } else {
    let mv = mean_and_m2(x0, n);
    mean = mv.x;
    inv = 1.0 / sqrt(mv.y / f32(n) + meta_f32(12u));
  }
  let sa = u32(args[10]);
  let ba = u32(args[11]);
  for (var k = 0u; k < n; k++) {
    var v = (xF(x0 + trail(k, xt)) - mean) * inv;
    if (has_scale) { v = v * sF(args[sa] + trail(k, sa + 1u)); }
    if (has_bias) { v = v + bF(args[ba] + trail(k, ba + 1u)); }
    store_y(y0 + trail(k, u32(args[9])), v);
  }
}
