// reduce_workgroup.wgsl: the reductions of reduce.wgsl with one workgroup (WG lanes) per output
// element, for few long rows (one invocation walking 50257 elements left a GPU idle). Same meta
// header, bindings and results as reduce.wgsl, whose helpers (red_offset, moment_element) it uses:
// a shader holds both files, and the host picks the entry point (reduce-ops.ts says when).
// Lane l takes the elements l, l + WG, l + 2 WG, ... of the row; the lanes' partial results combine
// in workgroup memory (workgroup_tree.wgsl):
//   Sum, Mean, Variance of floats: blocked moments per lane, added pairwise (moments.wgsl), and
//     summed again scaled by 2^-64 when the result leaves float32's range (reduce.wgsl);
//   Prod of floats: a product per lane with float64's range (XProd, reduce.wgsl), multiplied
//     pairwise (a different order than reduce.wgsl's, so the last bits may differ);
//   Sum, Mean, Prod of integers: int64 per lane, combined by the same wrapping add or multiply
//     (exact in any order);
//   Max, Min, ArgMax, ArgMin: each lane's (value, index) of its share, combined by `beats_*`: a NaN
//     beats any number, and between two NaNs or two equal values the lower index wins, so the
//     result is the first NaN, else the first occurrence of the extreme, as in reduce.wgsl; Max and
//     Min return the winner's value (bit for bit the one reduce.wgsl returns, -0 vs +0 included).
// The host generates `fn reduce_row(x, y, n)`, which stores <Op>_<kind>_wg(x, n) from lane 0.

// Whether the row's f32 result v (every lane holds the same) is infinite or NaN, as a value WGSL's
// uniformity analysis knows to be uniform: the second pass has barriers.
var<workgroup> sum_again: u32;
fn again_uniform(v: f32) -> bool {
  if (lane == 0u) { sum_again = u32(!finite_f(v)); }
  return workgroupUniformLoad(&sum_again) != 0u;
}
// scaled_sum (reduce.wgsl) for the workgroup's row
fn scaled_row_sum(x: i32, n: u32) -> vec2<f32> {
  sum_scale = 1.0;
  let s = row_moments(x, n, 0.0).x;
  if (!again_uniform(s)) { return vec2<f32>(s, 1.0); }
  sum_scale = SUM_SHRINK;
  return vec2<f32>(row_moments(x, n, 0.0).x, SUM_GROW);
}
fn ReduceSum_F_wg(x: i32, n: u32) -> f32 {
  let s = scaled_row_sum(x, n);
  return s.x * s.y;
}
fn ReduceMean_F_wg(x: i32, n: u32) -> f32 {
  let s = scaled_row_sum(x, n);
  return (s.x / f32(n)) * s.y;
}
fn ReduceVariance_F_wg(x: i32, n: u32) -> f32 {
  let div = max(f32(n) - meta_f32(9u), 0.0);
  sum_scale = 1.0;
  let m2 = row_mean_and_m2(x, n).y;  // as ReduceVariance_F: again only for an m2 past float32's range
  if (!again_uniform(m2)) { return m2 / div; }
  sum_scale = SUM_SHRINK;
  return ((row_mean_and_m2(x, n).y / div) * SUM_GROW) * opaque(SUM_GROW);
}

var<workgroup> tree_xprod: array<XProd, WG>;

fn ReduceProd_F_wg(x: i32, n: u32) -> f32 {
  var p = XProd(0.5, 1, 1.0);
  for (var r = lane; r < n; r += WG) { p = xprod_mul(p, xF(red_offset(x, r))); }
  tree_xprod[lane] = p;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lane < s) { tree_xprod[lane] = xprod_merge(tree_xprod[lane], tree_xprod[lane + s]); }
    workgroupBarrier();
  }
  let r = xprod_value(tree_xprod[0]);
  workgroupBarrier();
  return r;
}

var<workgroup> tree_l: array<vec2<u32>, WG>;

// int64 sum (product when `product`) of every lane's v, wrapping
fn tree_l_combine(v: vec2<u32>, product: bool) -> vec2<u32> {
  tree_l[lane] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lane < s) {
      let a = tree_l[lane];
      let b = tree_l[lane + s];
      if (product) { tree_l[lane] = l_mul(a, b); } else { tree_l[lane] = l_add(a, b); }
    }
    workgroupBarrier();
  }
  let r = tree_l[0];
  workgroupBarrier();
  return r;
}
fn ReduceSum_L_wg(x: i32, n: u32) -> vec2<u32> {
  var s = vec2<u32>(0u, 0u);
  for (var r = lane; r < n; r += WG) { s = l_add(s, xL(red_offset(x, r))); }
  return tree_l_combine(s, false);
}
fn ReduceProd_L_wg(x: i32, n: u32) -> vec2<u32> {
  var p = vec2<u32>(1u, 0u);
  for (var r = lane; r < n; r += WG) { p = l_mul(p, xL(red_offset(x, r))); }
  return tree_l_combine(p, true);
}
fn ReduceMean_L_wg(x: i32, n: u32) -> f32 { return l_to_f32(ReduceSum_L_wg(x, n), false) / f32(n); }

// ---- extremes and their first index --------------------------------------------------------------

const NONE: u32 = 0xffffffffu; // the index of an empty share: it loses to anything

// Does (v, i) beat (b, j)? With `largest` the larger value wins, else the smaller; see the header
fn beats_F(v: f32, i: u32, b: f32, j: u32, largest: bool) -> bool {
  if (i == NONE) { return false; }
  if (j == NONE) { return true; }
  if (is_nan(v) || is_nan(b)) { return is_nan(v) && (!is_nan(b) || i < j); }
  if (v == b) { return i < j; }
  return select((v < b), (v > b), largest);
}
fn beats_I(v: i32, i: u32, b: i32, j: u32, largest: bool) -> bool {
  if (i == NONE) { return false; }
  if (j == NONE) { return true; }
  if (v == b) { return i < j; }
  return select((v < b), (v > b), largest);
}
fn beats_L(v: vec2<u32>, i: u32, b: vec2<u32>, j: u32, largest: bool) -> bool {
  if (i == NONE) { return false; }
  if (j == NONE) { return true; }
  if (l_eq(v, b)) { return i < j; }
  return select(l_lt(v, b), l_lt(b, v), largest);
}

// Each lane's winner as bits (F, I: the 32 bits in .x; L: both words) and index
var<workgroup> tree_bits: array<vec2<u32>, WG>;
var<workgroup> tree_at: array<u32, WG>;

// The winner over every lane's (bits, at), values of kind 0 (F), 1 (I) or 2 (L): (its bits, its index)
fn tree_winner(kind: u32, bits: vec2<u32>, at: u32, largest: bool) -> vec3<u32> {
  tree_bits[lane] = bits;
  tree_at[lane] = at;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lane < s) {
      let v = tree_bits[lane + s];
      let i = tree_at[lane + s];
      let b = tree_bits[lane];
      let j = tree_at[lane];
      var win: bool;
      switch kind {
        case 0u: { win = beats_F(bitcast<f32>(v.x), i, bitcast<f32>(b.x), j, largest); }
        case 1u: { win = beats_I(bitcast<i32>(v.x), i, bitcast<i32>(b.x), j, largest); }
        default: { win = beats_L(v, i, b, j, largest); }
      }
      if (win) {
        tree_bits[lane] = v;
        tree_at[lane] = i;
      }
    }
    workgroupBarrier();
  }
  let r = vec3<u32>(tree_bits[0], tree_at[0]);
  workgroupBarrier();
  return r;
}

// Each lane walks its share in increasing index, so a later equal value never replaces an earlier one
fn extreme_F(x: i32, n: u32, largest: bool) -> vec3<u32> {
  var b = 0.0;
  var j = NONE;
  for (var r = lane; r < n; r += WG) {
    let v = xF(red_offset(x, r));
    if (beats_F(v, r, b, j, largest)) { b = v; j = r; }
    if (is_nan(b)) { break; } // nothing later in the share beats the first NaN
  }
  return tree_winner(0u, vec2<u32>(bitcast<u32>(b), 0u), j, largest);
}
fn extreme_I(x: i32, n: u32, largest: bool) -> vec3<u32> {
  var b = 0;
  var j = NONE;
  for (var r = lane; r < n; r += WG) {
    let v = xI(red_offset(x, r));
    if (beats_I(v, r, b, j, largest)) { b = v; j = r; }
  }
  return tree_winner(1u, vec2<u32>(bitcast<u32>(b), 0u), j, largest);
}
fn extreme_L(x: i32, n: u32, largest: bool) -> vec3<u32> {
  var b = vec2<u32>(0u, 0u);
  var j = NONE;
  for (var r = lane; r < n; r += WG) {
    let v = xL(red_offset(x, r));
    if (beats_L(v, r, b, j, largest)) { b = v; j = r; }
  }
  return tree_winner(2u, b, j, largest);
}

// An empty row never gets here (the front end rejects it): its winner would be (0, NONE)
fn ReduceMax_F_wg(x: i32, n: u32) -> f32 { return bitcast<f32>(extreme_F(x, n, true).x); }
fn ReduceMin_F_wg(x: i32, n: u32) -> f32 { return bitcast<f32>(extreme_F(x, n, false).x); }
fn ReduceMax_I_wg(x: i32, n: u32) -> i32 { return bitcast<i32>(extreme_I(x, n, true).x); }
fn ReduceMin_I_wg(x: i32, n: u32) -> i32 { return bitcast<i32>(extreme_I(x, n, false).x); }
fn ReduceMax_L_wg(x: i32, n: u32) -> vec2<u32> { return extreme_L(x, n, true).xy; }
fn ReduceMin_L_wg(x: i32, n: u32) -> vec2<u32> { return extreme_L(x, n, false).xy; }
fn ArgMax_F_wg(x: i32, n: u32) -> vec2<u32> { return vec2<u32>(extreme_F(x, n, true).z, 0u); }
fn ArgMin_F_wg(x: i32, n: u32) -> vec2<u32> { return vec2<u32>(extreme_F(x, n, false).z, 0u); }
fn ArgMax_I_wg(x: i32, n: u32) -> vec2<u32> { return vec2<u32>(extreme_I(x, n, true).z, 0u); }
fn ArgMin_I_wg(x: i32, n: u32) -> vec2<u32> { return vec2<u32>(extreme_I(x, n, false).z, 0u); }
fn ArgMax_L_wg(x: i32, n: u32) -> vec2<u32> { return vec2<u32>(extreme_L(x, n, true).z, 0u); }
fn ArgMin_L_wg(x: i32, n: u32) -> vec2<u32> { return vec2<u32>(extreme_L(x, n, false).z, 0u); }

// One workgroup per output element; rows past the last (a 2-D grid's tail) leave as a whole workgroup
@compute @workgroup_size(WG)
fn main_workgroup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  lane = li;
  let i = wid.x + wid.y * nwg.x;
  if (i >= u32(args[0])) { return; }
  let at = output_at(i);
  reduce_row(at.x, at.y, u32(args[1]));
}
