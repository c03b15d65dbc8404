// pad.wgsl: Pad(X any[n_0..]; pads [b_0.., e_0..], mode, value) -> Y[n_d + b_d + e_d]
//   constant: the border is `value`; reflect: mirrors without repeating the edge (pads < n_d);
//   edge: repeats the border element. Any dtype (elements move as raw bits), X and Y strided.
// One invocation per output element maps each coordinate back into X.
//   meta header: [0] n, [1] rank, [2] Y shape at, [3] Y at (offset, strides), [4] X at (offset,
//   strides), [5] X shape at, [6] befores at, [7] mode (0 constant, 1 reflect, 2 edge),
//   [8..10) the constant in Y's kind (f32 bits, i32, or int64 words)
// The host generates the bindings X, Y, `fn copy_element(y, x)` and `fn store_value(y)`.

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg);
  if (i >= u32(args[0])) { return; }
  let rank = u32(args[1]);
  let ya = u32(args[3]);
  let xa = u32(args[4]);
  let y = args[ya] + space_offset(i, rank, u32(args[2]), ya + 1u);
  let mode = args[7];
  var rem = i;
  var x = args[xa];
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let size = u32(args[u32(args[2]) + u32(d)]);
    let c = i32(rem % size);
    rem = rem / size;
    let n = args[u32(args[5]) + u32(d)];
    var j = c - args[u32(args[6]) + u32(d)];
    if (j < 0 || j >= n) {
      if (mode == 0) { store_value(y); return; }
      if (mode == 1) { j = select(2 * (n - 1) - j, -j, j < 0); }
      else { j = clamp(j, 0, n - 1); }
    }
    x += j * args[xa + 1u + u32(d)];
  }
  copy_element(y, x);
}
