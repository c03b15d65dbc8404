// moments.wgsl: sum of (x - shift) and of (x - shift)^2 over a row, in blocks of 64 x 64 (error grows
// with about 128 + m / 4096 roundings for m summed elements instead of m). Compensated (Kahan) sums
// are not used: drivers may simplify their algebra away (lavapipe does), while blocking survives any
// compiler.
// Each kernel that includes this file defines `fn moment_element(base: i32, k: u32) -> f32`, the k-th
// element of the row at `base`. Used by reduce.wgsl (Sum, Mean, Variance) and norm.wgsl.
// Variants: one invocation per row (`moments`, `mean_and_m2`), and one workgroup per row
// (`row_moments`, `row_mean_and_m2`: each lane sums its share, elements lane, lane + WG, ..., in the
// same blocks, and workgroup_tree.wgsl adds the WG partial sums pairwise; m / WG elements per lane, so
// the error bound is about 128 + m / (4096 WG) + log2(WG) roundings, below the serial one's).

// The elements first, first + step, ... below n
fn moments_share(base: i32, first: u32, step: u32, n: u32, shift: f32) -> vec2<f32> {
  var total = vec2<f32>(0.0, 0.0);
  var k = first;
  while (k < n) {
    var mid = vec2<f32>(0.0, 0.0);
    for (var b = 0u; b < 64u && k < n; b++) {
      var inner = vec2<f32>(0.0, 0.0);
      for (var j = 0u; j < 64u && k < n; j++) {
        let d = moment_element(base, k) - shift;
        inner += vec2<f32>(d, d * d);
        k += step;
      }
      mid += inner;
    }
    total += mid;
  }
  return total;
}

fn moments(base: i32, n: u32, shift: f32) -> vec2<f32> { return moments_share(base, 0u, 1u, n, shift); }

// Mean and sum of squared deviations by the corrected two-pass algorithm: with d = x - m for the
// first-pass mean m, the mean is m + sum d / n and the squared deviations sum d^2 - (sum d)^2 / n,
// which cancels the first-order error of m (a constant row gives exactly its value and 0).
// n = 0 gives NaN for both. The squared deviations are at least 0: where m is off by an ulp (WGSL's
// division need not round correctly) sum d^2 and (sum d)^2 / n are equal in exact arithmetic, and a
// driver that fuses the product into the difference (fma: NVIDIA's) can leave a tiny negative, whose
// square root in a layerNorm was NaN (an H200: a constant row of 7e30). The comparand is opaque so
// that the clamp is no fmax, which would turn a NaN m2 (an infinite x) into 0.
fn corrected_mean_and_m2(m: f32, d: vec2<f32>, n: u32) -> vec2<f32> {
  let m2 = d.y - d.x * d.x / f32(n);
  return vec2<f32>(m + d.x / f32(n), select(m2, 0.0, opaque(m2) < 0.0));
}
fn mean_and_m2(base: i32, n: u32) -> vec2<f32> {
  if (n == 0u) { return vec2<f32>(f32_nan(), f32_nan()); }
  let m = moments(base, n, 0.0).x / f32(n);
  return corrected_mean_and_m2(m, moments(base, n, m), n);
}

// The same for the whole workgroup's row (call from uniform control flow; every lane gets the result)
fn row_moments(base: i32, n: u32, shift: f32) -> vec2<f32> { return tree_sum2(moments_share(base, lane, WG, n, shift)); }
fn row_mean_and_m2(base: i32, n: u32) -> vec2<f32> {
  let m = row_moments(base, n, 0.0).x / f32(n);
  let d = row_moments(base, n, m);
  if (n == 0u) { return vec2<f32>(f32_nan(), f32_nan()); }
  return corrected_mean_and_m2(m, d, n);
}
