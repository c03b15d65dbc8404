// Glue between the .wgsl kernels and the dtypes of one call: binding declarations, loads and stores
// in each dtype's storage format, and the conversions of cast.wgsl. Kernel logic stays in the .wgsl
// files; this file only names which of their functions a variant uses.
import type { DType } from '../../dtype.js';
import { WGSL } from './kernels.generated.js';

/** Compute kinds (kernels/wgsl/common.wgsl): F = f32, I = i32, L = int64 as vec2<u32>. */
export type Kind = 'F' | 'I' | 'L';

export const kindOf = (d: DType): Kind => (d === 'float32' || d === 'float16' || d === 'bfloat16' ? 'F' : d === 'int64' ? 'L' : 'I');
export const wgslType = (k: Kind): string => (k === 'F' ? 'f32' : k === 'I' ? 'i32' : 'vec2<u32>');

/** The cast.wgsl target class of a dtype. */
export const castTarget = (d: DType): string => (d === 'float32' ? 'float' : d === 'float16' || d === 'bfloat16' ? 'half' : d);
/** Converts an expression of kind `from` to the kind of `to` (cast.wgsl rules). */
export const convert = (expr: string, from: Kind, to: DType): string => `cast_${from}_to_${castTarget(to)}(${expr})`;
/** Converts between kinds (for inputs already in the compute dtype class). */
export const toKind = (expr: string, from: Kind, to: Kind): string =>
  from === to ? expr : `cast_${from}_to_${to === 'F' ? 'float' : to === 'I' ? 'int32' : 'int64'}(${expr})`;

/** Narrow dtypes are written with atomics (their words are shared with neighbours). */
const atomicStore = (d: DType) => d === 'bool' || d === 'uint8' || d === 'float16' || d === 'bfloat16';

export const inputBinding = (name: string, binding: number) => `@group(0) @binding(${binding}) var<storage, read> ${name}: array<u32>;`;
export const outputBinding = (name: string, binding: number, d: DType) =>
  `@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<${atomicStore(d) ? 'atomic<u32>' : 'u32'}>;`;

/** `ld_<dtype>(&X, o)`: the value at element offset o, in the dtype's kind. */
export const load = (name: string, d: DType, offset: string) => `ld_${d}(&${name}, ${offset})`;
/** `st_<dtype>(&Y, o, v)` with v already in the dtype's kind. */
export const store = (name: string, d: DType, offset: string, value: string) => `st_${d}(&${name}, ${offset}, ${value})`;

/**
 * `fn copy_element(y, x)`: element x of binding X to element y of binding Y, both of dtype `d`, as raw
 * bits. float16/bfloat16 go as their 16 bits and float32 as its word: a round trip through f32 and
 * st_<dtype> would quiet NaN payloads (f32_to_f16_bits writes every NaN as 0x7e00).
 */
export function copyElementFn(d: DType, y = 'Y', x = 'X'): string {
  const body = d === 'float16' || d === 'bfloat16' ? `put_half(&${y}, y, half_at(&${x}, x))` : d === 'float32' ? `${y}[y] = ${x}[x]` : store(y, d, 'y', load(x, d, 'x'));
  return `fn copy_element(y: i32, x: i32) { ${body}; }`;
}

/** `fn <fn>(o) -> f32`: a float binding's element as f32 (float kernels: softmax, norms). */
export const floatLoadFn = (fn: string, name: string, d: DType) => `fn ${fn}(o: i32) -> f32 { return ${load(name, d, 'o')}; }`;
/** `fn store_y(o, v: f32)` into a float output. */
export const floatStoreFn = (d: DType) => `fn store_y(o: i32, v: f32) { ${store('Y', d, 'o', 'v')}; }`;

/** Loads of binding `name` in every kind, named `<prefix>F`, `<prefix>I`, `<prefix>L`. */
export function loadsInEveryKind(prefix: string, name: string, d: DType): string {
  const k = kindOf(d);
  return (['F', 'I', 'L'] as Kind[])
    .map((to) => `fn ${prefix}${to}(o: i32) -> ${wgslType(to)} { return ${toKind(load(name, d, 'o'), k, to)}; }`)
    .join('\n');
}

/** Op libraries a kernel calls into, beyond the shared common, int64 and cast. */
const LIBS: Partial<Record<keyof typeof WGSL, (keyof typeof WGSL)[]>> = {
  elementwise: ['math', 'unary', 'binary', 'fill'],
  // the row kernels' second entry point, one workgroup per row, combines through workgroup_tree
  softmax: ['math', 'workgroup_tree'],
  reduce: ['moments', 'workgroup_tree', 'reduce_workgroup'],
  norm: ['moments', 'workgroup_tree'],
  // Box-Muller's log, sin and cos: Kiln's own, GPUs' builtins are loose
  random: ['math', 'unary'],
};

/** A whole shader: the shared libraries, the generated glue, then the kernel file. */
export function shader(kernel: keyof typeof WGSL, glue: string[]): string {
  // One string per variant, built once: the libraries make each tens of KB, and the pipeline cache
  // is keyed by it (a string V8 has hashed once is found again without reading it).
  const key = `${kernel}\n${glue.join('\n')}`;
  let code = shaders.get(key);
  if (code === undefined) {
    const libs = LIBS[kernel] ?? [];
    shaders.set(key, (code = [WGSL.common, WGSL.int64, WGSL.cast, ...libs.map((l) => WGSL[l]), ...glue, WGSL[kernel]].join('\n')));
  }
  return code;
}
const shaders = new Map<string, string>();
