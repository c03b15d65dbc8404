// softmax.wgsl: Softmax and LogSoftmax along one axis of any strided view (float dtypes; f32 math).
//   meta header: [0] rows (elements / axis length), [1] axis length, [2] row rank, [3] row shape at,
//   [4] X at (offset, row strides), [5] Y at (offset, row strides), [6] X axis stride, [7] Y axis stride
// Three passes over each row: the maximum, the sum of exp(x - max), the outputs (a NaN in the row
// makes every output NaN). Variants:
//   main            one invocation per row (many short rows keep a GPU busy this way);
//   main_workgroup  one workgroup of WG lanes per row (few long rows: one LLM decoding step's 50257
//                   logits): lane l takes the elements l, l + WG, ...; the maximum and the sum
//                   combine across lanes in workgroup memory (workgroup_tree.wgsl), the sum pairwise.
// The host (reduce-ops.ts) picks the entry point by row count and length. Override log_softmax:
// (x - max) - log(sum). The host generates the bindings X, Y, xF, store_y. exp_f and ln_f are
// math.wgsl's. Benchmark: `node dist/bench/webgpu-rows.js` (bench/webgpu-rows.ts).

override log_softmax: bool = false;

// (X, Y) offsets of row `row`'s first element
fn row_at(row: u32) -> vec2<i32> {
  let rank = u32(args[2]);
  let xa = u32(args[4]);
  let ya = u32(args[5]);
  return vec2<i32>(args[xa] + space_offset(row, rank, u32(args[3]), xa + 1u), args[ya] + space_offset(row, rank, u32(args[3]), ya + 1u));
}

// element k of the row at `at`: its X value, and the store of its Y value
fn x_k(at: vec2<i32>, k: u32) -> f32 { return xF(at.x + i32(k) * args[6]); }
fn store_k(at: vec2<i32>, k: u32, v: f32) { store_y(at.y + i32(k) * args[7], v); }

fn softmax_out(d: f32, s: f32, ls: f32, nan: bool) -> f32 {
  if (nan) { return f32_nan(); }
  return select(exp_f(d) / s, d - ls, log_softmax);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= u32(args[0])) { return; }
  let n = u32(args[1]);
  let at = row_at(row);
  var m = -f32_inf();
  var nan = false;
  for (var k = 0u; k < n; k++) {
    let v = x_k(at, k);
    nan = nan || is_nan(v);
    m = max(m, v);
  }
  var s = 0.0;
  for (var k = 0u; k < n; k++) { s += exp_f(x_k(at, k) - m); }
  let ls = ln_f(s);
  for (var k = 0u; k < n; k++) { store_k(at, k, softmax_out(x_k(at, k) - m, s, ls, nan)); }
}

// One workgroup per row; rows past the last (a 2-D grid's tail) leave as a whole workgroup
@compute @workgroup_size(WG)
fn main_workgroup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  lane = li;
  let row = wid.x + wid.y * nwg.x;
  if (row >= u32(args[0])) { return; }
  let n = u32(args[1]);
  let at = row_at(row);
  var m = -f32_inf();
  for (var k = lane; k < n; k += WG) { m = max_nan(m, x_k(at, k)); }
  m = tree_max(m); // NaN when the row holds one
  var s = 0.0;
  for (var k = lane; k < n; k += WG) { s += exp_f(x_k(at, k) - m); }
  s = tree_sum2(vec2<f32>(s, 0.0)).x;
  let ls = ln_f(s);
  let nan = is_nan(m);
  for (var k = lane; k < n; k += WG) { store_k(at, k, softmax_out(x_k(at, k) - m, s, ls, nan)); }
}
