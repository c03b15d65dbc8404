// TopK on the native TopK op (kernels/OPS.md): always sorted (ONNX's sorted=0 allows any order, so
// sorted output serves it too), equal values in index order, NaN above +Infinity.
import { fail } from '../../errors.js';
import { topk } from '../../ops/sort.js';
import { attrFlag, attrInt } from '../attrs.js';
import { defineOps, type OpContext } from './registry.js';
import { checkListInput, input } from './util.js';

function topkOp(ctx: OpContext) {
  const x = input(ctx, 0);
  let k: number;
  if (ctx.opset < 10) {
    k = attrInt(ctx.node, 'k') ?? fail('E_ARGUMENT', `attribute k is required before opset 10`);
  } else {
    checkListInput(ctx, 1, 'K');
    const v = ctx.ints(1) ?? fail('E_ARGUMENT', `required input 1 (K) is missing`);
    if (v.length !== 1) fail('E_SHAPE', `K must hold one value, got ${v.length}`);
    k = v[0];
  }
  const largest = ctx.opset < 11 || attrFlag(ctx.node, 'largest', 1);
  if (ctx.opset >= 11) attrFlag(ctx.node, 'sorted', 1);
  const { values, indices } = topk(x, k, { axis: attrInt(ctx.node, 'axis', -1), largest });
  return [values, indices];
}

defineOps({
  TopK: { uses: ['TopK'], hostInputs: [1], run: topkOp },
});
