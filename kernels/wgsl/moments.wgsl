// moments.wgsl: sum of (x - shift) and of (x - shift)^2 over n elements, in blocks of 64 x 64 (error
// grows with about 128 + n / 4096 roundings instead of n). Compensated (Kahan) sums are not used:
// drivers may simplify their algebra away (lavapipe does), while blocking survives any compiler.
// Each kernel that includes this file defines `fn moment_element(base: i32, k: u32) -> f32`, the k-th
// element of the row at `base`. Used by reduce.wgsl (Sum, Mean, Variance) and norm.wgsl.

fn moments(base: i32, n: u32, shift: f32) -> vec2<f32> {
  var total = vec2<f32>(0.0, 0.0);
  var k = 0u;
  while (k < n) {
    var mid = vec2<f32>(0.0, 0.0);
    for (var b = 0u; b < 64u && k < n; b++) {
      var inner = vec2<f32>(0.0, 0.0);
      for (var j = 0u; j < 64u && k < n; j++) {
        let d = moment_element(base, k) - shift;
        inner += vec2<f32>(d, d * d);
        k++;
      }
      mid += inner;
    }
    total += mid;
  }
  return total;
}

// Mean and sum of squared deviations by the corrected two-pass algorithm: with d = x - m for the
// first-pass mean m, the mean is m + sum d / n and the squared deviations sum d^2 - (sum d)^2 / n,
// which cancels the first-order error of m (a constant row gives exactly its value and 0).
// n = 0 gives NaN for both.
fn mean_and_m2(base: i32, n: u32) -> vec2<f32> {
  if (n == 0u) { return vec2<f32>(f32_nan(), f32_nan()); }
  let m = moments(base, n, 0.0).x / f32(n);
  let d = moments(base, n, m);
  return vec2<f32>(m + d.x / f32(n), d.y - d.x * d.x / f32(n));
}
