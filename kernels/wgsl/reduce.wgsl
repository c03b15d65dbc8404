// reduce.wgsl: ReduceSum ReduceMean ReduceMax ReduceMin ReduceProd ReduceVariance ArgMax ArgMin.
//   X any strided view; Y = X's shape with the reduced axes set to 1.
// Variants: one invocation per output element (here, `main`) walks the reduced elements in row-major
// order (so ArgMax/ArgMin see the first occurrence first): many short rows keep a GPU busy this way;
// one workgroup per output element (reduce_workgroup.wgsl, `main_workgroup`) for few long rows. The
// host (reduce-ops.ts) picks by row count and length.
// Floats accumulate in f32 in blocks (moments.wgsl), with a second pass for a row whose f32 Sum, Mean
// or Variance leaves float32's range on the way (below); integer and bool sums and products accumulate in
// int64 (int64.wgsl, wrapping); Mean and Variance of integers convert each value to f32 after an exact
// int64 sum (Mean) or per element (Variance: corrected two-pass).
// Max/Min/ArgMax/ArgMin propagate NaN (the first NaN wins). An empty reduction gives Sum 0, Prod 1,
// Mean and Variance NaN (0/0).
//   meta header: [0] outputs, [1] reduced count, [2] outer rank, [3] reduced rank, [4] outer shape at,
//   [5] Y at (offset, outer strides), [6] X at (offset, outer strides), [7] reduced shape at,
//   [8] X reduced strides at, [9] correction (f32 bits)
// The host generates the bindings X, Y, the loads xF/xI/xL (X converted to each kind),
// `fn reduce_element(x, y, n)` which stores <Op>_<kind>(x, n), and reduce_workgroup.wgsl's reduce_row.
// Benchmark: `node dist/bench/webgpu-rows.js` (bench/webgpu-rows.ts).

fn red_offset(x: i32, r: u32) -> i32 { return x + space_offset(r, u32(args[3]), u32(args[7]), u32(args[8])); }

// Sums past float32's range. The CPU and CUDA add float32 in float64, so [3e38, 3e38, -3e38] sums to
// 3e38 and the mean of [3e38, 3e38] is 3e38 there, where an f32 sum overflows to inf (and blocks of
// +inf and -inf give NaN). A row whose f32 result comes out infinite or NaN is summed again with
// every element scaled by 2^-64 (exact for |x| >= 2^-62, and anything smaller is nothing beside a
// sum past 2^128), and the result scaled back after the division by n: inf only where the CPU's is
// inf too. Variance scales its squared deviations by 2^-128 and back in two steps of 2^64 (the
// second opaque: a compiler may fold the two into one factor of 2^128, inf in f32). A row
// holding an infinity or a NaN takes the second pass as well, and gets the same result from it.
const SUM_SHRINK: f32 = 5.421010862427522e-20;  // 2^-64
const SUM_GROW: f32 = 1.8446744073709552e19;    // 2^64
var<private> sum_scale: f32 = 1.0;
fn moment_element(x: i32, r: u32) -> f32 { return xF(red_offset(x, r)) * sum_scale; }
fn finite_f(v: f32) -> bool { return !(is_nan(v) || is_inf(v)); }

// The row's sum s and the factor g it is in units of (s * g is the sum): g = 1, or 2^64 for a row
// summed again scaled
fn scaled_sum(x: i32, n: u32) -> vec2<f32> {
  sum_scale = 1.0;
  let s = moments(x, n, 0.0).x;
  if (finite_f(s)) { return vec2<f32>(s, 1.0); }
  sum_scale = SUM_SHRINK;
  return vec2<f32>(moments(x, n, 0.0).x, SUM_GROW);
}
fn ReduceSum_F(x: i32, n: u32) -> f32 {
  let s = scaled_sum(x, n);
  return s.x * s.y;
}
fn ReduceSum_L(x: i32, n: u32) -> vec2<u32> {
  var s = vec2<u32>(0u, 0u);
  for (var r = 0u; r < n; r++) { s = l_add(s, xL(red_offset(x, r))); }
  return s;
}
// A float product with float64's range, as the CPU and CUDA multiply: a mantissa m in [0.5, 1) (or 0)
// times 2^e, and the infinities and NaNs multiplied apart (s) to join at the end. An f32 running
// product overflowed or underflowed where theirs does not: a row holding a 0 and values whose
// product passes FLT_MAX gave NaN (inf * 0), where they give 0. Each step rounds m to f32, so the
// last bits may differ from a float64 product rounded once, as an f32 product's do.
struct XProd { m: f32, e: i32, s: f32 }
const XPROD_E: i32 = 1 << 24;  // e is clamped here: far past any f32 result, and no i32 wrap
fn xprod_norm(m: f32, e: i32, s: f32) -> XProd {
  let q = frexp(m);
  return XProd(q.fract, clamp(e + q.exp, -XPROD_E, XPROD_E), s);
}
fn xprod_mul(p: XProd, v: f32) -> XProd {
  if (is_nan(v) || is_inf(v)) { return XProd(p.m, p.e, p.s * v); }
  // a subnormal v is scaled into the normal range first: frexp of one is not in [0.5, 1) on every
  // implementation (lavapipe: 2^-149 gave 0.5 * 2^-126, so [1e-45, 1] had the product 2^-127)
  let sub = v != 0.0 && abs(v) < 1.17549435e-38;  // FLT_MIN
  let f = frexp(select(v, v * 16777216.0, sub));  // 2^24: exact
  return xprod_norm(p.m * f.fract, p.e + f.exp - select(0, 24, sub), p.s);
}
fn xprod_merge(a: XProd, b: XProd) -> XProd { return xprod_norm(a.m * b.m, a.e + b.e, a.s * b.s); }
// s is tested by its bits: WGSL lets a compiler assume no NaN, so `s != 1.0` was false for a NaN s on
// lavapipe and prod([NaN]) came out 1 (cpu/webgpu fuzz seeds 5369, 5372).
fn xprod_value(p: XProd) -> f32 {
  if (is_nan(p.s)) { return p.s; }  // NaN anywhere in the row
  if (p.m == 0.0) { return select(p.m, f32_nan(), is_inf(p.s)); }  // a signed 0, or NaN for 0 beside an infinity
  if (is_inf(p.s)) { return select(p.s, -p.s, p.m < 0.0); }  // an infinity times a nonzero finite part
  if (p.e > 128) { return select(f32_inf(), -f32_inf(), p.m < 0.0); }
  if (p.e < -160) { return p.m * 0.0; }
  return ldexp(p.m, p.e);
}
fn ReduceProd_F(x: i32, n: u32) -> f32 {
  var p = XProd(0.5, 1, 1.0);
  for (var r = 0u; r < n; r++) { p = xprod_mul(p, xF(red_offset(x, r))); }
  return xprod_value(p);
}
fn ReduceProd_L(x: i32, n: u32) -> vec2<u32> {
  var p = vec2<u32>(1u, 0u);
  for (var r = 0u; r < n; r++) { p = l_mul(p, xL(red_offset(x, r))); }
  return p;
}
fn ReduceMean_F(x: i32, n: u32) -> f32 {
  let s = scaled_sum(x, n);
  return (s.x / f32(n)) * s.y;
}
fn ReduceMean_L(x: i32, n: u32) -> f32 { return l_to_f32(ReduceSum_L(x, n), false) / f32(n); }

// NumPy's denominator max(n - correction, 0): a correction at or past n gives m2 / 0 (NaN or inf), as on the CPU
// The second pass is for an m2 past float32's range, not for m2 / 0: scaled by 2^-128, a small m2 is
// subnormal, which a device may flush to 0 (NVIDIA's does), and 0 / 0 was NaN where the CPU has inf.
fn ReduceVariance_F(x: i32, n: u32) -> f32 {
  let div = max(f32(n) - meta_f32(9u), 0.0);
  sum_scale = 1.0;
  let m2 = mean_and_m2(x, n).y;
  if (finite_f(m2)) { return m2 / div; }
  sum_scale = SUM_SHRINK;
  return ((mean_and_m2(x, n).y / div) * SUM_GROW) * opaque(SUM_GROW);
}

// Max/Min: NaN wins
fn ReduceMax_F(x: i32, n: u32) -> f32 {
  var m = -f32_inf();
  for (var r = 0u; r < n; r++) {
    let v = xF(red_offset(x, r));
    if (is_nan(v)) { return v; }
    if (f32_gt(v, m)) { m = v; } // on the bits: not an fmax, whose tie of -0 and +0 is the driver's
  }
  return m;
}
fn ReduceMin_F(x: i32, n: u32) -> f32 {
  var m = f32_inf();
  for (var r = 0u; r < n; r++) {
    let v = xF(red_offset(x, r));
    if (is_nan(v)) { return v; }
    if (f32_gt(m, v)) { m = v; }
  }
  return m;
}
fn ReduceMax_I(x: i32, n: u32) -> i32 {
  var m = xI(x);
  for (var r = 1u; r < n; r++) { m = max(m, xI(red_offset(x, r))); }
  return m;
}
fn ReduceMin_I(x: i32, n: u32) -> i32 {
  var m = xI(x);
  for (var r = 1u; r < n; r++) { m = min(m, xI(red_offset(x, r))); }
  return m;
}
fn ReduceMax_L(x: i32, n: u32) -> vec2<u32> {
  var m = xL(x);
  for (var r = 1u; r < n; r++) { let v = xL(red_offset(x, r)); if (l_lt(m, v)) { m = v; } }
  return m;
}
fn ReduceMin_L(x: i32, n: u32) -> vec2<u32> {
  var m = xL(x);
  for (var r = 1u; r < n; r++) { let v = xL(red_offset(x, r)); if (l_lt(v, m)) { m = v; } }
  return m;
}

// ArgMax/ArgMin: the first occurrence; a NaN counts as both the largest and the smallest
fn ArgMax_F(x: i32, n: u32) -> vec2<u32> {
  var best = xF(x);
  var at = 0u;
  if (is_nan(best)) { return vec2<u32>(0u, 0u); }
  for (var r = 1u; r < n; r++) {
    let v = xF(red_offset(x, r));
    if (is_nan(v)) { return vec2<u32>(r, 0u); }
    if (v > best) { best = v; at = r; }
  }
  return vec2<u32>(at, 0u);
}
fn ArgMin_F(x: i32, n: u32) -> vec2<u32> {
  var best = xF(x);
  var at = 0u;
  if (is_nan(best)) { return vec2<u32>(0u, 0u); }
  for (var r = 1u; r < n; r++) {
    let v = xF(red_offset(x, r));
    if (is_nan(v)) { return vec2<u32>(r, 0u); }
    if (v < best) { best = v; at = r; }
  }
  return vec2<u32>(at, 0u);
}
fn ArgMax_I(x: i32, n: u32) -> vec2<u32> {
  var best = xI(x);
  var at = 0u;
  for (var r = 1u; r < n; r++) { let v = xI(red_offset(x, r)); if (v > best) { best = v; at = r; } }
  return vec2<u32>(at, 0u);
}
fn ArgMin_I(x: i32, n: u32) -> vec2<u32> {
  var best = xI(x);
  var at = 0u;
  for (var r = 1u; r < n; r++) { let v = xI(red_offset(x, r)); if (v < best) { best = v; at = r; } }
  return vec2<u32>(at, 0u);
}
fn ArgMax_L(x: i32, n: u32) -> vec2<u32> {
  var best = xL(x);
  var at = 0u;
  for (var r = 1u; r < n; r++) { let v = xL(red_offset(x, r)); if (l_lt(best, v)) { best = v; at = r; } }
  return vec2<u32>(at, 0u);
}
fn ArgMin_L(x: i32, n: u32) -> vec2<u32> {
  var best = xL(x);
  var at = 0u;
  for (var r = 1u; r < n; r++) { let v = xL(red_offset(x, r)); if (l_lt(v, best)) { best = v; at = r; } }
  return vec2<u32>(at, 0u);
}

// (X, Y) offsets of output element i: its reduced elements start at X, its value goes to Y
fn output_at(i: u32) -> vec2<i32> {
  let outer_rank = u32(args[2]);
  let ya = u32(args[5]);
  let xa = u32(args[6]);
  return vec2<i32>(args[xa] + space_offset(i, outer_rank, u32(args[4]), xa + 1u), args[ya] + space_offset(i, outer_rank, u32(args[4]), ya + 1u));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg);
  if (i >= u32(args[0])) { return; }
  let at = output_at(i);
  reduce_element(at.x, at.y, u32(args[1]));
}
