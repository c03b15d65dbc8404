// Static shape inference for the Kiln engine's load-time folding: where every input shape of a
// node is known (graph inputs with fixed dims, constants, earlier inferred values), the shape of
// its first output, for the ops whose output shape follows from input shapes and constant inputs.
// Shape nodes on such values then fold to constants, so shape arithmetic on intermediates (as
// exporters write it) costs nothing at run time. Unknown cases return undefined (nothing folds).
import { broadcastShapes, normalizeAxis, numel } from '../shape.js';
import { attrInt, attrInts, attrFlag, attrString } from './attrs.js';
import type { Node } from './model.js';
import { windowOf } from './ops/conv.js';
import { einsumShape } from './ops/einsum.js';

const SAME = new Set(('Relu Sigmoid Tanh Erf Sqrt Neg Log Exp Abs Floor Ceil Round Sin Cos Reciprocal Sign Not BitwiseNot Identity LeakyRelu Gelu ' +
  'Asin Acos Atan Asinh Acosh Atanh ' +
  'HardSigmoid Clip Cast CastLike Softmax LogSoftmax LayerNormalization BatchNormalization InstanceNormalization Elu Selu Celu ' +
  'Softplus Softsign ThresholdedRelu HardSwish Mish Shrink Sinh Cosh Tan IsNaN IsInf PRelu Dropout LpNormalization ' +
  'MeanVarianceNormalization Hardmax Trilu LRN ReverseSequence').split(' '));
const BROADCAST = new Set(('Add Sub Mul Div Pow Mod Equal Greater Less GreaterOrEqual LessOrEqual And Or Xor Where Sum Max Min Mean ' +
  'BitwiseAnd BitwiseOr BitwiseXor BitShift').split(' '));
const REDUCE = new Set('ReduceSum ReduceMean ReduceMax ReduceMin ReduceProd ReduceSumSquare ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp'.split(' '));

type Shape = number[];

function matmulShape(a: Shape, b: Shape): Shape | undefined {
  if (a.length < 1 || b.length < 1) return undefined;
  const x = a.length === 1 ? [1, a[0]] : a, y = b.length === 1 ? [b[0], 1] : b;
  const out = [...broadcastShapes('MatMul', x.slice(0, -2), y.slice(0, -2)), x[x.length - 2], y[y.length - 1]];
  if (b.length === 1) out.splice(out.length - 1, 1);
  if (a.length === 1) out.splice(out.length - (b.length === 1 ? 1 : 2), 1);
  return out;
}


/** The first output's shape, or undefined when it cannot be known before running. */
export function inferShape(n: Node, ins: (Shape | undefined)[], ints: (i: number) => number[] | undefined, opset: number): Shape | undefined {
  const s = ins[0];
  const known = n.inputs.every((name, i) => !name || ins[i]);
  if (!known || !s) return undefined;
  const op = n.opType;
  if (SAME.has(op)) return s;
  if (BROADCAST.has(op)) return broadcastShapes(op, ...(ins.filter(Boolean) as Shape[]));
  switch (op) {
    case 'MatMul':
    case 'KilnMatMul': {
      const b = ins[1]!;
      // B stored sliver-major at load: [S, K, w] holds a [K, S*w] matrix
      if (attrInt(n, 'kiln_b_slivers', 0)) return [...s.slice(0, -1), b[0] * b[2]];
      return matmulShape(s, b);
    }
    case 'Gemm': {
      const [a, b] = [s, ins[1]!];
      return [attrFlag(n, 'transA', 0) ? a[1] : a[0], attrFlag(n, 'transB', 0) ? b[0] : b[1]];
    }
    case 'TopK': {
      const k = opset < 10 ? attrInt(n, 'k') : ints(1)?.[0];
      if (k === undefined) return undefined;
      const out = [...s];
      out[normalizeAxis(op, attrInt(n, 'axis', -1), s.length)] = k;
      return out;
    }
    case 'Einsum': {
      const equation = attrString(n, 'equation');
      return equation === undefined ? undefined : einsumShape(equation, ins as Shape[]);
    }
    case 'Transpose': {
      const perm = attrInts(n, 'perm') ?? s.map((_, i) => s.length - 1 - i);
      return perm.map((p) => s[p]);
    }
    case 'Reshape': {
      const want = ints(1);
      if (!want) return undefined;
      const out = want.map((d, i) => (d === 0 && !attrFlag(n, 'allowzero', 0) ? s[i] : d));
      const free = out.indexOf(-1);
      if (free >= 0) out[free] = numel(s) / numel(out.filter((_, i) => i !== free));
      return out;
    }
    case 'Flatten': {
      const axis = attrInt(n, 'axis', 1), a = axis < 0 ? axis + s.length : axis;
      return [numel(s.slice(0, a)), numel(s.slice(a))];
    }
    case 'Unsqueeze': {
      const axes = opset >= 13 ? ints(1) : attrInts(n, 'axes');
      if (!axes) return undefined;
      const rank = s.length + axes.length, out = [...s];
      for (const a of axes.map((a) => normalizeAxis(op, a, rank)).sort((x, y) => x - y)) out.splice(a, 0, 1);
      return out;
    }
    case 'Squeeze': {
      const axes = (opset >= 13 ? ints(1) : attrInts(n, 'axes'))?.map((a) => normalizeAxis(op, a, s.length));
      return s.filter((d, i) => (axes && axes.length ? !axes.includes(i) : d !== 1));
    }
    case 'Concat': {
      const a = normalizeAxis(op, attrInt(n, 'axis', 0), s.length);
      const out = [...s];
      out[a] = (ins.filter(Boolean) as Shape[]).reduce((t, x) => t + x[a], 0);
      return out;
    }
    case 'Gather': {
      const a = normalizeAxis(op, attrInt(n, 'axis', 0), s.length);
      return [...s.slice(0, a), ...ins[1]!, ...s.slice(a + 1)];
    }
    case 'Shape':
      return [s.length];
    case 'Conv':
    case 'KilnConv': {
      const out = windowOf(n, s.slice(2), attrInts(n, 'kernel_shape') ?? ins[1]!.slice(2)).out;
      const q = attrInts(n, 'kiln_pool');
      return [s[0], ins[1]![0], ...(q ? out.map((o, i) => Math.floor(o / q[i])) : out)];
    }
    case 'MaxPool':
    case 'AveragePool':
      return [s[0], s[1], ...windowOf(n, s.slice(2), attrInts(n, 'kernel_shape') ?? [], attrFlag(n, 'ceil_mode', 0)).out];
    case 'GlobalAveragePool':
    case 'GlobalMaxPool':
      return [s[0], s[1], ...s.slice(2).map(() => 1)];
  }
  if (REDUCE.has(op)) {
    const inputAxes = op === 'ReduceSum' ? opset >= 13 : opset >= 18;
    const given = inputAxes ? ints(1) : attrInts(n, 'axes');
    if (inputAxes && n.inputs[1] && !given) return undefined;
    if ((!given || !given.length) && attrFlag(n, 'noop_with_empty_axes', 0)) return s;
    const axes = given && given.length ? given.map((a) => normalizeAxis(op, a, s.length)) : s.map((_, i) => i);
    return s.flatMap((d, i) => (axes.includes(i) ? (attrFlag(n, 'keepdims', 1) ? [1] : []) : [d]));
  }
  return undefined;
}
