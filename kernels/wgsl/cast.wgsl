// cast.wgsl: conversions between compute kinds, named cast_<from kind>_to_<target>, where the target
// is a dtype class: float (float32), half (float16, bfloat16), int32, uint8, bool (I), int64 (L). Rules (README "Conversions"):
// float to integer truncates toward zero and saturates at the target's range, NaN gives 0; integer to
// a narrower integer wraps; any non-zero value (NaN too) is true. float16/bfloat16 round on store.
// Used by Cast (any dtype to any dtype, also behind contiguous(), concat, stack, tile) and by every
// kernel whose inputs arrive in another kind than it computes in.

fn sat_i32(x: f32) -> i32 {
  if (is_nan(x)) { return 0; }
  if (x >= 2147483648.0) { return 2147483647; }
  if (x <= -2147483648.0) { return -2147483647 - 1; }
  return i32(trunc(x));
}

// Integers to float16/bfloat16 ('half') round once, like a direct conversion: they go to f32 with
// round-to-odd first (u32_to_f32_odd), which a later rounding to fewer bits cannot double-round.
fn u32_to_f32_odd(m: u32) -> f32 {
  let bits = 32u - countLeadingZeros(m);
  if (bits <= 24u) { return f32(m); }
  let shift = bits - 24u;
  let f = f32((m >> shift) << shift); // 24 significant bits: exact
  let sticky = (m & ((1u << shift) - 1u)) != 0u;
  return select(f, bitcast<f32>(bitcast<u32>(f) | 1u), sticky);
}

fn cast_F_to_float(x: f32) -> f32 { return x; }
fn cast_F_to_half(x: f32) -> f32 { return x; }
fn cast_F_to_int32(x: f32) -> i32 { return sat_i32(x); }
fn cast_F_to_uint8(x: f32) -> i32 { return select(i32(clamp(trunc(x), 0.0, 255.0)), 0, is_nan(x)); }
fn cast_F_to_bool(x: f32) -> i32 { return select(0, 1, x != 0.0 || is_nan(x)); }
fn cast_F_to_int64(x: f32) -> vec2<u32> { return l_from_f32(x); }

fn cast_I_to_float(x: i32) -> f32 { return f32(x); }
fn cast_I_to_half(x: i32) -> f32 {
  let m = select(bitcast<u32>(x), 0u - bitcast<u32>(x), x < 0);
  let v = u32_to_f32_odd(m);
  return select(v, -v, x < 0);
}
fn cast_I_to_int32(x: i32) -> i32 { return x; }
fn cast_I_to_uint8(x: i32) -> i32 { return x & 0xff; }
fn cast_I_to_bool(x: i32) -> i32 { return select(0, 1, x != 0); }
fn cast_I_to_int64(x: i32) -> vec2<u32> { return l_from_i32(x); }

fn cast_L_to_float(x: vec2<u32>) -> f32 { return l_to_f32(x, false); }
fn cast_L_to_half(x: vec2<u32>) -> f32 { return l_to_f32(x, true); }
fn cast_L_to_int32(x: vec2<u32>) -> i32 { return bitcast<i32>(x.x); }
fn cast_L_to_uint8(x: vec2<u32>) -> i32 { return i32(x.x & 0xffu); }
fn cast_L_to_bool(x: vec2<u32>) -> i32 { return select(0, 1, !l_is_zero(x)); }
fn cast_L_to_int64(x: vec2<u32>) -> vec2<u32> { return x; }
