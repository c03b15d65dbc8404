// grid_sample.wgsl: GridSample(X float*[N, C, s_1..s_r], Grid float32[N, p_1..p_q, r]; mode,
//   padding, align_corners) -> Y (X's dtype)[N, C, p_1..p_q], 1 <= r <= 3 (kernels/OPS.md).
// The tap math of kernels/cpu/grid_sample_taps.h (the CPU and CUDA kernels' own), step by step in
// float32: a grid value becomes a coordinate ((g + 1) * 0.5 * (size - 1) with align_corners, else
// ((g + 1) * size - 1) * 0.5), its taps floor + {0, 1} (linear, weights 1 - f and f), floor +
// {-1, 0, 1, 2} (cubic, Keys' weights with A = -0.75) or round half to even (nearest); padding
// applies to each integer tap. Y = the sum of X[tap] * (w_1 * w_2 * w_3) over the taps, the last
// dim's varying fastest, left to right; a zeros-padded tap outside X reads 0. Nearest copies X.
// Every product that meets an add goes through opaque() (common.wgsl): a driver that fused it into
// an fma would round once where the CPU and CUDA round twice, and the native op would no longer give
// the composed path's bits (its ops are separate kernels, nothing to fuse). The cubic weights and the
// products and sums of taps are opaque at every step: on an H200 (NVIDIA's Vulkan driver) the cubic
// weights still differed from the composed path's in the last bit with only their products opaque,
// as if (t * d) * d had become t * (d * d); a value the compiler cannot see through leaves it
// nothing to reassociate.
// grid_sample_element: one invocation per element of Y, which computes its position's taps itself
// (a few dozen float operations beside the K^r loads).
//   meta header: [0] elements of Y, [1] C, [2] P (positions per sample), [3] position rank,
//   [4] position shape at, [5] Y at (offset, N stride, C stride, position strides),
//   [6] Grid at (offset, N stride, coordinate stride, position strides), [7] X at (offset, N stride,
//   C stride, r spatial sizes, r spatial strides)
// The host generates the bindings X, G, Y, the constants R, MODE (0 linear, 1 nearest, 2 cubic),
// PAD (0 zeros, 1 border, 2 reflection) and ALIGN, `fn x_at(o: i32) -> f32`, `fn store_y(o: i32,
// v: f32)`, `fn copy_element(y: i32, x: i32)` and `fn zero_y(y: i32)`.

fn gs_unnormalize(g: f32, size: i32) -> f32 {
  if (ALIGN) { return opaque(((g + 1.0) * 0.5) * f32(size - 1)); }
  return opaque((opaque((g + 1.0) * f32(size)) - 1.0) * 0.5);
}

// floor(t) mod period for a whole-number tap t, as an int64 saturated like Cast (NaN -> 0)
fn gs_mod(t: f32, period: i32) -> i32 {
  var m: i32;
  if (t > -2147483648.0 && t < 2147483648.0) {
    m = i32(t) % period;
  } else {
    m = bitcast<i32>(l_rem(l_from_f32(t), l_from_i32(period)).x);
  }
  return select(m, m + period, m < 0);
}

// Where tap t reads along a dim of `size`, in [0, size); `inside` is false for a zeros-padded tap
// outside X (NaN included)
fn gs_pad(t: f32, size: i32, inside: ptr<function, bool>) -> i32 {
  let last = size - 1;
  if (PAD == 0u) {
    *inside = t >= 0.0 && t <= f32(last);
    return select(0, min(i32(t), last), *inside);
  }
  *inside = true;
  if (is_nan(t)) { return 0; }
  if (PAD == 1u || size == 1) { return min(i32(clamp(t, 0.0, f32(last))), last); }
  let period = select(2 * size, 2 * last, ALIGN);
  let m = gs_mod(t, period);
  return select(select(period - 1, period, ALIGN) - m, m, m < size);
}

// Keys' cubic (A = -0.75) for the inner taps, ((1.25 d - 2.25) d) d + 1, and the outer ones,
// ((-0.75 d + 3.75) d - 6) d + 3, one rounded step at a time in the composed path's order
fn gs_cubic_inner(d: f32) -> f32 { return opaque(opaque(opaque(opaque(d * 1.25) - 2.25) * d) * d) + 1.0; }
fn gs_cubic_outer(d: f32) -> f32 { return opaque(opaque(opaque(opaque(opaque(d * -0.75) - -3.75) * d) + -6.0) * d) - -3.0; }

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg);
  if (i >= u32(args[0])) { return; }
  let channels = u32(args[1]);
  let positions = u32(args[2]);
  let p = i % positions;
  let c = i32((i / positions) % channels);
  let n = i32(i / positions / channels);
  let prank = u32(args[3]);
  let ya = u32(args[5]);
  let ga = u32(args[6]);
  let xa = u32(args[7]);
  let y = args[ya] + n * args[ya + 1u] + c * args[ya + 2u] + space_offset(p, prank, u32(args[4]), ya + 3u);
  let g0 = args[ga] + n * args[ga + 1u] + space_offset(p, prank, u32(args[4]), ga + 3u);
  let K = select(select(4u, 1u, MODE == 1u), 2u, MODE == 0u);
  var off: array<array<i32, 4>, 3>;
  var wt: array<array<f32, 4>, 3>;
  var inside: array<array<bool, 4>, 3>;
  for (var d = 0u; d < R; d++) {
    let size = args[xa + 3u + d];
    let x = gs_unnormalize(ld_float32(&G, g0 + i32(R - 1u - d) * args[ga + 2u]), size);
    let base = select(floor(x), round(x), MODE == 1u);
    for (var k = 0u; k < K; k++) {
      let tap = base + select(f32(k), f32(k) - 1.0, MODE == 2u);
      var in_x = true;
      off[d][k] = gs_pad(tap, size, &in_x) * args[xa + 3u + R + d];
      inside[d][k] = in_x;
      if (MODE == 2u) {
        let dist = abs(x - tap);
        wt[d][k] = select(gs_cubic_outer(dist), gs_cubic_inner(dist), k == 1u || k == 2u);
      }
    }
    if (MODE == 0u) {
      let f = x - base;
      wt[d][0] = 1.0 - f;
      wt[d][1] = f;
    }
  }
  let xb = args[xa] + n * args[xa + 1u] + c * args[xa + 2u];
  if (MODE == 1u) {
    var o = xb;
    var keep = true;
    for (var d = 0u; d < R; d++) { o += off[d][0]; keep = keep && inside[d][0]; }
    if (keep) { copy_element(y, o); } else { zero_y(y); }
    return;
  }
  var taps = K;
  for (var d = 1u; d < R; d++) { taps *= K; }
  var acc = 0.0;
  for (var t = 0u; t < taps; t++) {
    var o = xb;
    var w = 1.0;
    var keep = true;
    var rest = t;
    var div = taps;
    for (var d = 0u; d < R; d++) {
      div /= K;
      let s = rest / div;
      rest -= s * div;
      o += off[d][s];
      keep = keep && inside[d][s];
      w = select(opaque(w * wt[d][s]), wt[d][s], d == 0u);
    }
    let term = opaque(select(0.0, x_at(o), keep) * w);
    acc = select(opaque(acc + term), term, t == 0u);
  }
  store_y(y, acc);
}
