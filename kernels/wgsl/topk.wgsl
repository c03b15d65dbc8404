// topk.wgsl: TopK(X [d_0..d_{r-1}] float*/int32/int64/uint8; axis, k, largest)
//   -> Values (X's dtype) and Indices (int64), X's shape with k along axis.
//   Order: descending when largest, ascending otherwise; equal values by index (the lower first);
//   NaN ranks above +inf (first when largest, last otherwise); -0 == +0. The CPU's rule (topk.cc).
// The order is total (ties go by index), so the rank of an element among any set of its slice is
// the count of the set's elements that come before it, and the ranks of a slice are a permutation:
// every position is written exactly once, without atomics or workgroup memory.
//   main: an axis of at most B elements (BLOCK in sort-ops.ts). One invocation per element of X
//     counts the elements of its slice before it (O(n) each); a rank below k writes itself there.
//   A longer axis is a merge sort of element indices (u32, along the axis) in scratch T:
//     block: the same count within each B-long block of the axis; the element's index goes to its
//       block's start + its rank in T_out;
//     merge: runs of L (meta [13]) sorted indices in T_in, paired (run 2m with 2m + 1): an element's
//       place in the merged pair is its place in its run plus the count of the other run's elements
//       before it, found by binary search (that run is sorted): O(log L) each, one dispatch per
//       doubling of L;
//     merge_final: the last merge, which writes the first k elements to Values and Indices.
//   So an n-long axis costs O(n (B + log^2 n)) instead of O(n^2), in 1 + ceil(log2(n / B)) dispatches.
//   meta header: [0] elements of X, [1] n (axis length), [2] k, [3] largest, [4] outer rank,
//   [5] outer shape at, [6] X at (offset, outer strides), [7] Values at (...), [8] Indices at (...),
//   [9] X axis stride, [10] Values axis stride, [11] Indices axis stride, [12] B (block), [13] L (merge)
// The host generates the bindings X, V, I, `fn before(a: i32, b: i32) -> bool` (the element at
// offset a comes before the one at b, values only: equal values return false both ways) and
// `fn copy_element(v: i32, x: i32)`.

@group(0) @binding(4) var<storage, read> T_in: array<u32>;
@group(0) @binding(5) var<storage, read_write> T_out: array<u32>;

// Where invocation i's element is: its slice, its index along the axis and X's offset of the slice.
struct At { slice: u32, r: u32, x0: i32 }
// An element and its place in the merged order (when valid: among the first k).
struct Placed { e: At, valid: bool, pos: u32 }

fn at(i: u32) -> At {
  let n = u32(args[1]);
  let slice = i / n;
  let xa = u32(args[6]);
  return At(slice, i % n, args[xa] + space_offset(slice, u32(args[4]), u32(args[5]), xa + 1u));
}

// Element q of the slice at x0 comes before element r (values, then the lower index).
fn precedes(x0: i32, q: u32, r: u32) -> bool {
  let xs = args[9];
  let a = x0 + i32(q) * xs;
  let b = x0 + i32(r) * xs;
  return before(a, b) || (q < r && !before(b, a));
}

// The count of elements in [lo, hi) of the slice that come before element r.
fn count_before(x0: i32, r: u32, lo: u32, hi: u32) -> u32 {
  var pos = 0u;
  for (var q = lo; q < hi; q++) {
    if (precedes(x0, q, r)) { pos++; }
  }
  return pos;
}

// Writes element r of the slice to position pos of Values and Indices when pos < k.
fn emit(e: At, pos: u32) {
  if (pos >= u32(args[2])) { return; }
  let rank = u32(args[4]);
  let va = u32(args[7]);
  let ia = u32(args[8]);
  let v = args[va] + space_offset(e.slice, rank, u32(args[5]), va + 1u) + i32(pos) * args[10];
  let o = args[ia] + space_offset(e.slice, rank, u32(args[5]), ia + 1u) + i32(pos) * args[11];
  copy_element(v, e.x0 + i32(e.r) * args[9]);
  st_int64(&I, o, vec2<u32>(e.r, 0u));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg);
  if (i >= u32(args[0])) { return; }
  let e = at(i);
  emit(e, count_before(e.x0, e.r, 0u, u32(args[1])));
}

@compute @workgroup_size(256)
fn block(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg);
  if (i >= u32(args[0])) { return; }
  let e = at(i);
  let n = u32(args[1]);
  let lo = e.r - e.r % u32(args[12]);
  let pos = count_before(e.x0, e.r, lo, min(lo + u32(args[12]), n));
  if (pos < u32(args[2])) { T_out[e.slice * n + lo + pos] = e.r; }
}

// The element at position i of the order in T_in (its slice's runs of L) and its place in the merged
// pair: its place in its run plus the count of the other run's elements before it, found by binary
// search over that run's sorted indices. Only the first k of a run can be among the first k of the
// pair, so only those are placed (valid: false for the rest) and searched, and only positions below
// k are written: a small k leaves most invocations idle after the block ranks.
fn merged(i: u32) -> Placed {
  let n = u32(args[1]);
  let l = u32(args[13]);
  let k = u32(args[2]);
  let j = i % n;
  let start = j - j % l;
  if (j - start >= k) { return Placed(At(0u, 0u, 0), false, 0u); }
  var e = at(i);
  e.r = T_in[i];
  let other = ((j / l) ^ 1u) * l;  // the pair's other run
  let base = min(other, n);
  var lo = base;
  var hi = min(other + min(l, k), n);
  let first = i - j;
  while (lo < hi) {
    let mid = lo + (hi - lo) / 2u;
    if (precedes(e.x0, T_in[first + mid], e.r)) { lo = mid + 1u; } else { hi = mid; }
  }
  let place = (j - start) + (lo - base);  // in the pair
  return Placed(e, place < k, min(start, other) + place);
}

@compute @workgroup_size(256)
fn merge(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg);
  if (i >= u32(args[0])) { return; }
  let m = merged(i);
  if (m.valid) { T_out[i - i % u32(args[1]) + m.pos] = m.e.r; }
}

@compute @workgroup_size(256)
fn merge_final(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg);
  if (i >= u32(args[0])) { return; }
  let m = merged(i);
  if (m.valid) { emit(m.e, m.pos); }
}
