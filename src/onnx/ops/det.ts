// Det (opset 11): the determinant of each square matrix of X [*, M, M], by Gaussian elimination with
// partial pivoting on the device (what LAPACK's getrf and Eigen's partialPivLu do), in float32 for
// float16 and bfloat16 inputs. Step k of M: the row of the largest |value| in column k of the trailing
// block becomes its first row (an exact swap by Where; the determinant changes sign), the pivot
// multiplies the determinant, and the block below and right of it loses its rank-1 update. A zero
// pivot (a singular matrix) leaves the block as it is and the determinant 0; a NaN propagates.
import { fail } from '../../errors.js';
import * as k from '../../ops/index.js';
import { gather } from '../../ops/shape-ops.js';
import { withTemps } from '../../ops/temps.js';
import { numel } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { defineOps, type OpContext } from './registry.js';
import { input, requireFloat } from './util.js';

function det(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  requireFloat(ctx, ['X']);
  if (x.rank < 2 || x.shape[x.rank - 1] !== x.shape[x.rank - 2]) fail('E_SHAPE', `X ${x.describe()} must be [*, M, M]`);
  const lead = x.shape.slice(0, -2), M = x.shape[x.rank - 1], B = numel(lead);
  return withTemps((t) => {
    const x32 = x.dtype === 'float32' ? x : t.add(k.cast(x, 'float32'));
    let a = t.add(x32.reshape([B, M, M]));
    let d = t.add(k.ones([B], { device: x.device }));
    for (let m = M; m > 0; --m) {
      // pivot row p of the [B, m, m] block a: the largest |a[:, i, 0]| (the first of equals; a NaN wins)
      const column = t.add(t.add(a.slice(2, 0, 1)).squeeze(2));
      const p = t.add(k.argmax(t.add(k.abs(column)), { axis: 1 }));
      const starts = t.add(k.arange(0, B * m, m, { dtype: 'int64', device: x.device }));
      const rowP = t.add(t.add(gather(t.add(a.reshape([B * m, m])), t.add(k.add(starts, p)), 0)).reshape([B, 1, m]));
      const row0 = t.add(a.slice(1, 0, 1));
      const i = t.add(t.add(k.arange(0, m, 1, { dtype: 'int64', device: x.device })).reshape([1, m, 1]));
      // rows 0 and p exchanged, every value copied exactly
      a = t.add(k.where(t.add(k.equal(i, 0)), rowP, t.add(k.where(t.add(k.equal(i, t.add(p.reshape([B, 1, 1])))), row0, a))));
      const pivot = t.add(t.add(t.add(a.slice(1, 0, 1)).slice(2, 0, 1)).reshape([B]));
      d = t.add(k.mul(d, t.add(k.where(t.add(k.notEqual(p, 0)), t.add(k.neg(pivot)), pivot))));
      if (m === 1) break;
      const below = t.add(t.add(a.slice(1, 1, m)).slice(2, 0, 1)); // [B, m - 1, 1]
      const right = t.add(t.add(a.slice(1, 0, 1)).slice(2, 1, m)); // [B, 1, m - 1]
      const pivot3 = t.add(pivot.reshape([B, 1, 1]));
      const l = t.add(k.where(t.add(k.equal(pivot3, 0)), 0, t.add(k.div(below, pivot3))));
      a = t.add(k.sub(t.add(t.add(a.slice(1, 1, m)).slice(2, 1, m)), t.add(k.mul(l, right))));
    }
    return (x.dtype === 'float32' ? d : t.add(k.cast(d, x.dtype))).reshape(lead);
  });
}

defineOps({
  Det: { since: 11, uses: ['Abs', 'ArgMax', 'Gather', 'Where', 'Equal', 'NotEqual', 'Add', 'Mul', 'Neg', 'Div', 'Sub', 'Range', 'Fill', 'Cast'], run: (ctx) => [det(ctx)] },
});
