// Einsum (ai.onnx 12+, the semantics of numpy.einsum) composed from Kiln ops, so it runs on every
// device. A letter repeated within one operand is its diagonal: a strided view whose stride is the
// sum of the repeated axes' strides, no copy. The operands then contract pairwise, left to right:
// letters that neither a later operand nor the output needs are summed out of their operand first,
// and the letters the pair shares and nothing later needs become the K of one batched MatMul
// ([batch..., M, K] @ [batch..., K, N]); a pair that shares no such letter is a broadcast Mul.
// Letters of size 1 broadcast against the same letter elsewhere, as in NumPy.
import { isBool } from '../../dtype.js';
import { fail } from '../../errors.js';
import * as k from '../../ops/index.js';
import { withTemps, type Temps } from '../../ops/temps.js';
import { fmtShape } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { attrString } from '../attrs.js';
import { defineOps, type OpContext } from './registry.js';
import { binary, variadicInputs } from './util.js';

/** A letter is its char code; the broadcast dims under '...' are ELL + j, j counted from the left of the widest. */
type Label = number;
const ELL = 1 << 16;
const labelName = (l: Label) => (l >= ELL ? `dim ${l - ELL} of '...'` : `'${String.fromCharCode(l)}'`);

/** One term of the equation: its letters before and after '...' (all in head when it has none). */
interface Term {
  head: Label[];
  ellipsis: boolean;
  tail: Label[];
}

function parseTerm(s: string, what: string): Term {
  const term: Term = { head: [], ellipsis: false, tail: [] };
  for (let i = 0; i < s.length; ++i) {
    const c = s[i];
    if (c === '.') {
      if (s.slice(i, i + 3) !== '...') fail('E_ARGUMENT', `${what} '${s}' has a '.' that is not part of '...'`);
      if (term.ellipsis) fail('E_ARGUMENT', `${what} '${s}' has more than one '...'`);
      term.ellipsis = true;
      i += 2;
    } else if (/^[A-Za-z]$/.test(c)) (term.ellipsis ? term.tail : term.head).push(c.charCodeAt(0));
    else fail('E_ARGUMENT', `${what} '${s}' has the character '${c}': subscripts are letters (a-z, A-Z) and '...'`);
  }
  return term;
}

/** The operands' terms and the output's (undefined in implicit mode); whitespace is ignored, as NumPy does. */
function parseEquation(equation: string, operands: number): { inputs: Term[]; output?: Term } {
  const eq = equation.replace(/\s+/g, '');
  const arrow = eq.indexOf('->');
  if (arrow >= 0 && eq.indexOf('->', arrow + 2) >= 0) fail('E_ARGUMENT', `equation '${equation}' has more than one '->'`);
  const lhs = arrow < 0 ? eq : eq.slice(0, arrow);
  const terms = lhs.split(',');
  if (terms.length !== operands) fail('E_ARGUMENT', `equation '${equation}' has ${terms.length} operand term(s), the node has ${operands} input(s)`);
  const inputs = terms.map((s, i) => parseTerm(s, `equation '${equation}': the term of input ${i}`));
  if (arrow < 0) return { inputs };
  const output = parseTerm(eq.slice(arrow + 2), `equation '${equation}': the output`);
  const seen = new Set<Label>();
  for (const l of [...output.head, ...output.tail]) {
    if (seen.has(l)) fail('E_ARGUMENT', `equation '${equation}': the output names ${labelName(l)} more than once`);
    if (!inputs.some((t) => t.head.includes(l) || t.tail.includes(l))) fail('E_ARGUMENT', `equation '${equation}': the output names ${labelName(l)}, which no input has`);
    seen.add(l);
  }
  return { inputs, output };
}

/** The labels of the dims of a rank-`rank` input under `term`, '...' standing for the dims that the letters leave (right-aligned among `ellRank`). */
function labelsOf(term: Term, rank: number, ellRank: number): Label[] {
  const under = rank - term.head.length - term.tail.length;
  return [...term.head, ...Array.from({ length: under }, (_, j) => ELL + ellRank - under + j), ...term.tail];
}

/** The equation read against the inputs' shapes: each input's labels (one per dim) and the output's. */
interface Plan {
  labels: Label[][];
  out: Label[];
}

/** Reads `equation` for inputs of `shapes` (`describe(i)` names input i in errors); throws on a malformed equation or a rank it does not fit. */
function planOf(equation: string, shapes: readonly (readonly number[])[], describe: (i: number) => string): Plan {
  const { inputs, output } = parseEquation(equation, shapes.length);
  inputs.forEach((term, i) => {
    const letters = term.head.length + term.tail.length, rank = shapes[i].length;
    if (term.ellipsis ? rank < letters : rank !== letters)
      fail('E_SHAPE', `equation '${equation}': the term of input ${i} names ${letters} dim(s)${term.ellipsis ? ' besides \'...\'' : ''}, input ${i} is ${describe(i)}`);
  });
  const ellRank = Math.max(0, ...inputs.map((term, i) => (term.ellipsis ? shapes[i].length - term.head.length - term.tail.length : 0)));
  const ell = Array.from({ length: ellRank }, (_, j) => ELL + j);
  let out: Label[];
  if (output) {
    // NumPy refuses to sum the '...' dims away silently; with no dims under it, '...' may be left out
    if (!output.ellipsis && ellRank > 0)
      fail('E_SHAPE', `equation '${equation}': '...' covers ${ellRank} dim(s) of the inputs (${shapes.map(fmtShape).join(', ')}) but the output has no '...'`);
    out = [...output.head, ...(output.ellipsis ? ell : []), ...output.tail];
  } else {
    // implicit output: the '...' dims, then the letters used once, in ASCII order (upper case first, as NumPy)
    const count = new Map<Label, number>();
    for (const term of inputs) for (const l of [...term.head, ...term.tail]) count.set(l, (count.get(l) ?? 0) + 1);
    out = [...ell, ...[...count].filter(([, n]) => n === 1).map(([l]) => l).sort((p, q) => p - q)];
  }
  return { labels: inputs.map((term, i) => labelsOf(term, shapes[i].length, ellRank)), out };
}

/**
 * The output shape of Einsum `equation` over inputs of `shapes`, for load-time shape inference: a
 * label's size is its size in any input where it is not 1 (1 broadcasts). Throws where the
 * equation does not fit the shapes; sizes that disagree are left for the run to refuse.
 */
export function einsumShape(equation: string, shapes: readonly (readonly number[])[]): number[] {
  const { labels, out } = planOf(equation, shapes, (i) => fmtShape(shapes[i]));
  const size = new Map<Label, number>();
  labels.forEach((ls, i) => ls.forEach((l, a) => {
    if ((size.get(l) ?? 1) === 1) size.set(l, shapes[i][a]);
  }));
  return out.map((l) => size.get(l)!);
}

interface Operand {
  t: Tensor;
  /** One per dim of t, all different. */
  labels: Label[];
}

const sizeOf = (o: Operand, l: Label) => o.t.shape[o.labels.indexOf(l)];

/** x with each repeated label taken once: the diagonal, as a view (stride = the sum of the repeated axes' strides). */
function diagonal(t: Temps, x: Tensor, labels: Label[], i: number): Operand {
  const unique = [...new Set(labels)];
  if (unique.length === labels.length) return { t: x, labels };
  const shape: number[] = [], strides: number[] = [];
  for (const l of unique) {
    const axes = labels.flatMap((m, a) => (m === l ? [a] : []));
    const sizes = axes.map((a) => x.shape[a]);
    if (sizes.some((s) => s !== sizes[0])) fail('E_SHAPE', `input ${i} ${x.describe()} repeats ${labelName(l)} over dims of sizes ${sizes.join(' and ')}: a diagonal needs equal sizes`);
    shape.push(sizes[0]);
    strides.push(axes.reduce((s, a) => s + x.strides[a], 0));
  }
  return { t: t.add(x.withLayout('Einsum', shape, strides)), labels: unique };
}

/** o with the labels `drop` picks summed out (size-1 dims just squeezed), in o's dtype (Kiln sums integers into int64). */
function sumAway(t: Temps, o: Operand, drop: (l: Label) => boolean): Operand {
  const axes = o.labels.flatMap((l, a) => (drop(l) ? [a] : []));
  if (!axes.length) return o;
  const wide = axes.filter((a) => o.t.shape[a] !== 1);
  let x = o.t;
  if (wide.length) {
    x = t.add(k.sum(x, { axes: wide, keepdims: true }));
    if (x.dtype !== o.t.dtype) x = t.add(k.cast(x, o.t.dtype));
  }
  return { t: t.add(x.squeeze(axes)), labels: o.labels.filter((l) => !drop(l)) };
}

/** a times b, summed over the labels they share that `later` (later operands and the output) does not hold. */
function contract(t: Temps, a: Operand, b: Operand, later: ReadonlySet<Label>): Operand {
  // A shared label of size 1 on one side is no contraction: that side does not vary along it, so the
  // other side is summed alone (x * sum(y) = sum(x * y)).
  const ks = a.labels.filter((l) => !later.has(l) && b.labels.includes(l) && sizeOf(a, l) === sizeOf(b, l) && sizeOf(a, l) !== 1);
  a = sumAway(t, a, (l) => !later.has(l) && !ks.includes(l));
  b = sumAway(t, b, (l) => !later.has(l) && !ks.includes(l));
  const batch = a.labels.filter((l) => later.has(l) && b.labels.includes(l));
  const ms = a.labels.filter((l) => later.has(l) && !b.labels.includes(l));
  const ns = b.labels.filter((l) => later.has(l) && !a.labels.includes(l));
  const labels = [...batch, ...ms, ...ns];
  const sizes = (o: Operand, ls: Label[]) => ls.map((l) => sizeOf(o, l));
  const strides = (o: Operand, ls: Label[]) => ls.map((l) => o.t.strides[o.labels.indexOf(l)]);
  const ones = (ls: Label[]) => ls.map(() => 1);
  if (!ks.length) {
    // an outer product over M and N, per batch element: [batch, M, 1...] * [batch, 1..., N], no copy
    const av = t.add(a.t.withLayout('Einsum', [...sizes(a, batch), ...sizes(a, ms), ...ones(ns)], [...strides(a, batch), ...strides(a, ms), ...ones(ns)]));
    const bv = t.add(b.t.withLayout('Einsum', [...sizes(b, batch), ...ones(ms), ...sizes(b, ns)], [...strides(b, batch), ...ones(ms), ...strides(b, ns)]));
    return { t: t.add(binary('Mul', av, bv)), labels };
  }
  const prod = (o: Operand, ls: Label[]) => ls.reduce((p, l) => p * sizeOf(o, l), 1);
  const perm = (o: Operand, ls: Label[]) => ls.map((l) => o.labels.indexOf(l));
  // reshape copies (Cast) only where the permuted groups are not already contiguous
  const am = t.add(t.add(a.t.permute(perm(a, [...batch, ...ms, ...ks]))).reshape([...sizes(a, batch), prod(a, ms), prod(a, ks)]));
  const bm = t.add(t.add(b.t.permute(perm(b, [...batch, ...ks, ...ns]))).reshape([...sizes(b, batch), prod(b, ks), prod(b, ns)]));
  const y = t.add(k.matmul(am, bm)); // batch dims of size 1 broadcast here
  return { t: t.add(y.reshape([...y.shape.slice(0, batch.length), ...sizes(a, ms), ...sizes(b, ns)])), labels };
}

/** NumPy's rule for one label across operands: equal sizes, or 1 (which broadcasts). */
function checkSizes(ops: Operand[], xs: Tensor[]): void {
  const seen = new Map<Label, { size: number; at: number }>();
  ops.forEach((o, i) => o.labels.forEach((l, a) => {
    const n = o.t.shape[a], s = seen.get(l);
    if (!s || s.size === 1) seen.set(l, { size: n, at: i });
    else if (n !== s.size && n !== 1)
      fail('E_SHAPE', `${labelName(l)} has size ${s.size} in input ${s.at} ${xs[s.at].describe()} and ${n} in input ${i} ${xs[i].describe()}; sizes must match or be 1`);
  }));
}

function einsum(ctx: OpContext): Tensor {
  const xs = variadicInputs(ctx);
  const equation = attrString(ctx.node, 'equation') ?? fail('E_ARGUMENT', `needs the string attribute 'equation'`);
  const dtype = xs[0].dtype;
  if (isBool(dtype)) fail('E_DTYPE', `bool inputs (${xs[0].describe()}) are not numeric`);
  for (const [i, x] of xs.entries())
    if (x.dtype !== dtype) fail('E_DTYPE', `inputs must share a dtype: input 0 is ${xs[0].describe()}, input ${i} ${x.describe()}`);
  const { labels, out } = planOf(equation, xs.map((x) => x.shape), (i) => xs[i].describe());
  return withTemps((t) => {
    const ops = xs.map((x, i) => diagonal(t, x, labels[i], i));
    checkSizes(ops, xs);
    const outSet = new Set(out);
    let cur = ops[0];
    for (let i = 1; i < ops.length; ++i) cur = contract(t, cur, ops[i], new Set([...out, ...ops.slice(i + 1).flatMap((o) => o.labels)]));
    cur = sumAway(t, cur, (l) => !outSet.has(l)); // one operand: what the output leaves out
    return cur.t.permute(out.map((l) => cur.labels.indexOf(l)));
  });
}

defineOps({
  // MatMul and Mul contract, ReduceSum sums letters away, Cast copies a permuted operand into
  // matrix order and brings integer sums (int64 in Kiln) back to the input dtype.
  Einsum: { since: 12, uses: ['MatMul', 'Mul', 'ReduceSum', 'Cast'], run: (ctx) => [einsum(ctx)] },
});
