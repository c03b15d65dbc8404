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
