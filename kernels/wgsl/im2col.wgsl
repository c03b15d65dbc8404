// im2col.wgsl: Im2Col(X any[N, C, s_1..s_d]; kernel, strides, dilations, pads (begin), value)
//   -> Y[N, C, k_1..k_d, o_1..o_d] (contiguous), Y[n, c, j.., o..] = X[n, c, o*stride - p + j*dilation]
//   or `value` where that falls outside X (1 <= d <= 6; any dtype, elements move as raw bits).
// One invocation per element of Y: its linear index splits into (n, c, j_1..j_d, o_1..o_d); neighbours
// walk o_d, so reads along X's innermost dim are consecutive when the stride is 1.
//   meta header: [0] n (elements of Y), [1] d, [2] C, [3] Y offset, [4] X offset, [5] X stride of N,
//   [6] X stride of C, [7] geometry at: d words each of out, kernel, strides, dilations, pads, X's
//   spatial sizes, X's spatial strides, [8..10) the value in Y's kind (f32 bits, i32, or int64 words)
// The host generates the bindings X, Y, `fn copy_element(y, x)` and `fn store_value(y)`.

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg);
  if (i >= u32(args[0])) { return; }
  let d = u32(args[1]);
  let g = u32(args[7]);
  let y = args[3] + i32(i);
  var rem = i;
  var q: array<i32, 6>;
  for (var a = i32(d) - 1; a >= 0; a--) {
    let size = u32(args[g + u32(a)]);
    q[a] = i32(rem % size);
    rem = rem / size;
  }
  var x = 0;
  var outside = false;
  for (var a = i32(d) - 1; a >= 0; a--) {
    let u = u32(a);
    let k = u32(args[g + d + u]);
    let j = i32(rem % k);
    rem = rem / k;
    let at = q[a] * args[g + 2u * d + u] - args[g + 4u * d + u] + j * args[g + 3u * d + u];
    outside = outside || at < 0 || at >= args[g + 5u * d + u];
    x += at * args[g + 6u * d + u];
  }
  if (outside) { store_value(y); return; }
  let channels = u32(args[2]);
  let c = i32(rem % channels);
  let n = i32(rem / channels);
  copy_element(y, args[4] + n * args[5] + c * args[6] + x);
}
