// gather.wgsl: Gather(Data any[d_0..d_{r-1}], Indices int32|int64[i_0..i_{q-1}]; axis)
//   -> Y[d_0..d_{axis-1}, i_0..i_{q-1}, d_{axis+1}..], Y[o, k, s] = Data[o, idx(Indices[k]), s],
//   idx(v) = v < 0 ? v + d_axis : v.
// One invocation per output element. Elements move as raw bits of their dtype (any dtype). An
// index out of range writes nothing and keeps the lowest such position in Indices (row-major, as the
// CPU names the index at it): status[3] = the largest of ~position. Then `report`, one invocation
// dispatched after main, records the index at that position in status[1..2] and sets status[0] (an
// int64 from one invocation, so never two invocations' halves); the host turns that into E_INDEX at
// the next sync point: this launch's data fault (src/faults.ts).
//   meta header: [0] n, [1] Y rank, [2] Y shape at, [3] Y at (offset, strides), [4] Data at (offset,
//   strides per Y dim: 0 for index dims), [5] Indices at (offset, strides per Y dim: 0 elsewhere),
//   [6] Data stride along axis, [7] d_axis, [8] 1: check the indices only (Y is empty: one invocation
//   per index, Y shaped as Indices, nothing copied), [9] inner: Y's elements after the index dims (1
//   when checking only), [10] count: the elements of Indices. Element i of Y reads Indices at
//   position (i / inner) % count, and position p is read by element p * inner.
// The host generates the bindings X, I, Y, `fn index_at(o) -> vec2<u32>` (as int64) and
// `fn copy_element(y, x)`.

@group(0) @binding(7) var<storage, read_write> status: array<atomic<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg);
  if (i >= u32(args[0])) { return; }
  let rank = u32(args[1]);
  let ya = u32(args[3]);
  let da = u32(args[4]);
  let ia = u32(args[5]);
  let y = args[ya] + space_offset(i, rank, u32(args[2]), ya + 1u);
  let d = args[da] + space_offset(i, rank, u32(args[2]), da + 1u);
  var v = index_at(args[ia] + space_offset(i, rank, u32(args[2]), ia + 1u));
  let size = l_from_i32(args[7]);
  if (l_is_neg(v)) { v = l_add(v, size); }
  if (l_is_neg(v) || !l_lt(v, size)) {
    atomicMax(&status[3], ~((i / u32(args[9])) % u32(args[10])));
    return;
  }
  if (args[8] == 0) { copy_element(y, d + i32(v.x) * args[6]); }
}

@compute @workgroup_size(1)
fn report() {
  let lowest = atomicLoad(&status[3]);
  if (lowest == 0u) { return; }
  let i = (~lowest) * u32(args[9]);
  let ia = u32(args[5]);
  let v = index_at(args[ia] + space_offset(i, u32(args[1]), u32(args[2]), ia + 1u));
  atomicStore(&status[1], v.x);
  atomicStore(&status[2], v.y);
  atomicStore(&status[0], 1u);
}

// ScatterSlices(Positions int64[U], Updates any[U * S]; slice S) -> Y written in place:
//   Y[p * S + j] = Updates[u * S + j] for p = Positions[u], j < S; the same glue as Gather, with X the
//   Updates and I the Positions. Deterministic as on the CPU, the last update naming a slice wins:
//   `scatter_owner` (one invocation per position) keeps the largest u + 1 naming slice p in owner[p]
//   (a fresh buffer, zero), then `scatter` (one invocation per element of Updates) writes only where
//   owner[p] == u + 1. A position outside [0, P) writes nothing.
//   meta: [0] n = U * S, [1] S, [2] P, [3] Y offset, [4] X offset, [5] I offset, [6] U (all three contiguous)
@group(0) @binding(6) var<storage, read_write> owner: array<atomic<u32>>;

fn slice_at(u: u32) -> i32 {  // the slice Positions[u] names, or -1 outside [0, P)
  let v = index_at(args[5] + i32(u));
  if (v.y != 0u || v.x >= u32(args[2])) { return -1; }
  return i32(v.x);
}

@compute @workgroup_size(256)
fn scatter_owner(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let u = linear_id(gid, nwg);
  if (u >= u32(args[6])) { return; }
  let p = slice_at(u);
  if (p >= 0) { atomicMax(&owner[p], u + 1u); }
}

@compute @workgroup_size(256)
fn scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg);
  if (i >= u32(args[0])) { return; }
  let s = u32(args[1]);
  let u = i / s;
  let p = slice_at(u);
  if (p < 0 || atomicLoad(&owner[p]) != u + 1u) { return; }
  copy_element(args[3] + p * i32(s) + i32(i - u * s), args[4] + i32(i));
}
