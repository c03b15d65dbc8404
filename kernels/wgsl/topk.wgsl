// topk.wgsl: TopK(X [d_0..d_{r-1}] float*/int32/int64/uint8; axis, k, largest)
//   -> Values (X's dtype) and Indices (int64), X's shape with k along axis.
//   Order: descending when largest, ascending otherwise; equal values by index (the lower first);
//   NaN ranks above +inf (first when largest, last otherwise); -0 == +0. The CPU's rule (topk.cc).
// topk_rank: one invocation per element of X. Its rank is the number of elements of its slice that
// come before it; an element of rank < k writes itself to that position. The order is total (ties
// go by index), so the ranks of a slice are a permutation and every output is written exactly once,
// without atomics or workgroup memory. O(n) per element, O(n^2) per slice: for the short axes of
// model outputs and sorts of a few thousand. A longer axis with k <= 256 (a vocabulary's top 5)
// reaches it in 1024-long blocks and then as the blocks' candidates (src/ops/sort.ts).
//   meta header: [0] elements of X, [1] n (axis length), [2] k, [3] largest, [4] outer rank,
//   [5] outer shape at, [6] X at (offset, outer strides), [7] Values at (...), [8] Indices at (...),
//   [9] X axis stride, [10] Values axis stride, [11] Indices axis stride
// The host generates the bindings X, V, I, `fn before(a: i32, b: i32) -> bool` (the element at
// offset a comes before the one at b, values only: equal values return false both ways) and
// `fn copy_element(v: i32, x: i32)`.

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg);
  if (i >= u32(args[0])) { return; }
  let n = u32(args[1]);
  let slice = i / n;
  let r = i % n;
  let rank = u32(args[4]);
  let xa = u32(args[6]);
  let va = u32(args[7]);
  let ia = u32(args[8]);
  let xs = args[9];
  let x0 = args[xa] + space_offset(slice, rank, u32(args[5]), xa + 1u);
  let me = x0 + i32(r) * xs;
  var pos = 0u;
  for (var q = 0u; q < n; q++) {
    let other = x0 + i32(q) * xs;
    // q comes first when its value does, or on equal values when its index is lower
    if (before(other, me) || (q < r && !before(me, other))) { pos++; }
  }
  if (pos >= u32(args[2])) { return; }
  let v = args[va] + space_offset(slice, rank, u32(args[5]), va + 1u) + i32(pos) * args[10];
  let o = args[ia] + space_offset(slice, rank, u32(args[5]), ia + 1u) + i32(pos) * args[11];
  copy_element(v, me);
  st_int64(&I, o, vec2<u32>(r, 0u));
}
