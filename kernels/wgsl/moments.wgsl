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

// Variance about the mean with the corrected two-pass formula: (sum d^2 - (sum d)^2 / n) / divisor,
// d = x - mean, which cancels the first-order error of the computed mean. n = 0 gives NaN.
fn variance_of(base: i32, n: u32, divisor: f32) -> f32 {
  if (n == 0u) { return f32_nan(); }
  let mean = moments(base, n, 0.0).x / f32(n);
  let m = moments(base, n, mean);
  return (m.y - m.x * m.x / f32(n)) / divisor;
}
