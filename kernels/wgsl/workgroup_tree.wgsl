// workgroup_tree.wgsl: combining one value per lane of a workgroup through workgroup memory, for the
// kernels that give each row a whole workgroup (reduce_workgroup.wgsl, softmax.wgsl, norm.wgsl):
// each lane stores its partial result, then log2(WG) halving steps combine slot lane with slot
// lane + s, a workgroupBarrier between steps; every lane reads slot 0, and a last barrier keeps the
// next tree from overwriting it before every lane has read it.
// Call these from uniform control flow only (every lane of the workgroup, no early return before).
// WG (the workgroup size, a power of two) is set by the host when it builds the pipeline.

override WG: u32 = 256u;
var<private> lane: u32; // local_invocation_index, set by the kernel's entry point

var<workgroup> tree_v2: array<vec2<f32>, WG>;
var<workgroup> tree_f: array<f32, WG>;

// pairwise sum of every lane's v
fn tree_sum2(v: vec2<f32>) -> vec2<f32> {
  tree_v2[lane] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lane < s) { tree_v2[lane] = tree_v2[lane] + tree_v2[lane + s]; }
    workgroupBarrier();
  }
  let r = tree_v2[0];
  workgroupBarrier();
  return r;
}

// a NaN wins; otherwise the larger (on the bits: WGSL leaves max of a NaN to the implementation)
fn max_nan(a: f32, b: f32) -> f32 {
  if (is_nan(a)) { return a; }
  if (is_nan(b)) { return b; }
  return max(a, b);
}

// max_nan of every lane's v
fn tree_max(v: f32) -> f32 {
  tree_f[lane] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lane < s) { tree_f[lane] = max_nan(tree_f[lane], tree_f[lane + s]); }
    workgroupBarrier();
  }
  let r = tree_f[0];
  workgroupBarrier();
  return r;
}
