// elementwise.wgsl: one invocation per output element, for every op whose inputs arrive already
// broadcast to the output's shape (stride 0) and whose output element depends only on the input
// elements at the same index: unary, binary, comparison, logical, Where, Cast, Fill, Range.
//   meta header: [0] n (output elements), [1] rank, [2..10) op parameters (param_* below)
//   args[16..16+rank)               the output shape
//   then for each operand k (0 = output, 1.. = inputs): element offset, strides[rank]
// The host generates, per (op, dtypes), the bindings X1..X3 and Y and `fn element(i, y, x1, ...)`
// that loads, converts (cast.wgsl), applies the op (unary.wgsl, binary.wgsl) and stores; this file
// only maps invocations to elements. Dims that are contiguous in every operand are merged on the
// host first, so most tensors arrive as rank 1.
// Variants: one per (op, input dtypes, output dtype); the pipeline cache keys on the whole source.

fn operand_offset(i: u32, k: u32) -> i32 {
  let rank = u32(args[1]);
  let at = HEADER + rank + k * (rank + 1u);
  return args[at] + space_offset(i, rank, HEADER, at + 1u);
}

fn param_f(k: u32) -> f32 { return meta_f32(2u + k); }
fn param_i(k: u32) -> i32 { return args[2u + k]; }
fn param_l(k: u32) -> vec2<u32> { return meta_l(2u + k); }

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg);
  if (i >= u32(args[0])) { return; }
  element(i);
}
