// softmax.wgsl: Softmax and LogSoftmax along one axis of any strided view (float dtypes; f32 math).
//   meta header: [0] rows (elements / axis length), [1] axis length, [2] row rank, [3] row shape at,
//   [4] X at (offset, row strides), [5] Y at (offset, row strides), [6] X axis stride, [7] Y axis stride
// One invocation per row, three passes: the maximum, the sum of exp(x - max), the outputs. Variant:
// the override log_softmax (x - max - log(sum)). The host generates the bindings X, Y, xF, store_y.

override log_softmax: bool = false;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= u32(args[0])) { return; }
  let n = u32(args[1]);
  let rank = u32(args[2]);
  let xa = u32(args[4]);
  let ya = u32(args[5]);
  let x0 = args[xa] + space_offset(row, rank, u32(args[3]), xa + 1u);
  let y0 = args[ya] + space_offset(row, rank, u32(args[3]), ya + 1u);
  let xs = args[6];
  let ys = args[7];
  var m = -f32_inf();
  var nan = false;
  for (var k = 0u; k < n; k++) {
    let v = xF(x0 + i32(k) * xs);
    nan = nan || is_nan(v);
    m = max(m, v);
  }
  var s = 0.0;
  for (var k = 0u; k < n; k++) { s += exp_f(xF(x0 + i32(k) * xs) - m); }
  let ls = ln_f(s);
  for (var k = 0u; k < n; k++) {
    let d = xF(x0 + i32(k) * xs) - m;
    var v = select(exp_f(d) / s, d - ls, log_softmax);
    if (nan) { v = f32_nan(); }
    store_y(y0 + i32(k) * ys, v);
  }
}
