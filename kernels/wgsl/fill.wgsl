// fill.wgsl: the creation ops, as element functions for elementwise.wgsl.
//   Fill(Y; value)          Y[i] = value (the host converts value to Y's kind: param 0, or 0..1 for L)
//   Range(Y 1-D; start, delta)  Y[i] = start + i * delta
// Float Range computes start + i * delta in double-f32 arithmetic (start and delta each split into a
// high and a low f32 by the host) and rounds once, so it matches the CPU's float64 result, but for an
// element within ~2^-48 of a halfway point between two floats (11 in a million random ones on
// lavapipe; test/ops-creation.test.ts).

fn Range_F(i: u32, sh: f32, sl: f32, dh: f32, dl: f32) -> f32 {
  let fi = f32(i);
  let prod = two_prod(fi, dh);
  let p = prod.x;
  // the product's rounding error, plus the low part's product rounded on its own (opaque): an H200's
  // driver fused it into an fma, and arange(-3.5, 2, 0.7)[5] came out 2^-50 where NumPy has 0
  let pe = prod.y + opaque(fi * dl);
  // two-sum of sh and p, its steps opaque (common.wgsl): Mesa simplifies (sh + p) - sh to p and
  // s - (s - sh) to sh, which zeroes the error term (22% of float arange elements then differed
  // from the CPU's on lavapipe, in the last bit)
  let s = opaque(sh + p);
  let t = opaque(s - sh);
  let se = (sh - opaque(s - t)) + (p - t);
  return s + (se + pe + sl);
}
fn Range_I(i: u32, start: i32, delta: i32) -> i32 { return start + i32(i) * delta; }
fn Range_L(i: u32, start: vec2<u32>, delta: vec2<u32>) -> vec2<u32> { return l_add(start, l_mul(vec2<u32>(i, 0u), delta)); }
