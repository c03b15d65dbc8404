// The `meta` words every kernel reads at binding 0 (kernels/wgsl/common.wgsl): a 16-word header
// whose meaning each kernel file documents, then shapes and strides appended in order.
const HEADER = 16;

const f32 = new Float32Array(1);
const f32Bits = new Int32Array(f32.buffer);

export class Meta {
  readonly words: number[] = new Array(HEADER).fill(0);

  set(i: number, v: number): this {
    this.words[i] = v | 0;
    return this;
  }

  setF32(i: number, v: number): this {
    f32[0] = v;
    this.words[i] = f32Bits[0];
    return this;
  }

  /** An int64 as (low, high) words at i, i + 1. */
  setI64(i: number, v: bigint): this {
    const u = BigInt.asUintN(64, v);
    this.words[i] = Number(BigInt.asIntN(32, u));
    this.words[i + 1] = Number(BigInt.asIntN(32, u >> 32n));
    return this;
  }

  /** Appends words; returns where they start. */
  push(...values: readonly number[]): number {
    const at = this.words.length;
    for (const v of values) this.words.push(v | 0);
    return at;
  }

  build(): Int32Array {
    return Int32Array.from(this.words);
  }
}

/** The words of a float64 split into a high and a low f32 (hi + lo carries ~48 bits). */
export function splitF64(v: number): [number, number] {
  const hi = Math.fround(v);
  return [hi, Number.isFinite(hi) ? Math.fround(v - hi) : 0];
}

/**
 * Merges dims that every operand walks contiguously (stride[d] = stride[d+1] * size[d+1]) and drops
 * size-1 dims, so most elementwise calls become rank 1.
 */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; ++d) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k][last] === s[d] * shape[d])) {
      outShape[last] *= shape[d];
      strides.forEach((s, k) => (outStrides[k][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  return { shape: outShape, strides: outStrides };
}
