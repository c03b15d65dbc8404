// Prints the table of kernels/wgsl/math.wgsl's pow_pos: for j = 0..23 (m in [(j + 22) / 32,
// (j + 23) / 32)), C_j = 32 / (j + 22.5) rounded to float32, and -ln C_j as a float32 pair hi + lo
// (from float64 logs, so hi + lo is within ~2^-48 of it). Checks that the printed digits read back
// to the same float32 values.
//   node scripts/wgsl-pow-table.mjs
const f = Math.fround;
const c = [], hi = [], lo = [];
for (let j = 0; j < 24; ++j) {
  const cj = f(32 / (j + 22.5));
  const l = -Math.log(cj);
  c.push(cj);
  hi.push(f(l));
  lo.push(f(l - f(l)));
}
const digits = (v) => {
  const s = v.toPrecision(9);
  if (f(Number(s)) !== v) throw new Error(`${s} does not read back as the float32 ${v}`);
  return s;
};
const line = (name, values) => `const ${name} = array<f32, 24>(${values.map(digits).join(', ')});`;
console.log([line('LN_C', c), line('LN_T_HI', hi), line('LN_T_LO', lo)].join('\n'));
