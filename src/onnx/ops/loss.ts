// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (deterministic, so inference engines run
// them too): the target class of each element picked with a one-hot mask, per-class weights,
// ignore_index, and reduction none / sum / mean (mean divides by the total weight kept). A target
// outside [-C, C) that is not ignore_index is the output's data fault (E_INDEX).
import { fail } from '../../errors.js';
import * as k from '../../ops/index.js';
import { withTemps } from '../../ops/temps.js';
import type { Tensor } from '../../tensor.js';
import { attrInt, attrString } from '../attrs.js';
import { defineOps, type OpContext } from './registry.js';
import { binary, checkedIndices, input } from './util.js';

function nll(ctx: OpContext, logp: Tensor, target: Tensor, weight: Tensor | undefined): Tensor {
  const ignore = attrInt(ctx.node, 'ignore_index');
  const reduction = attrString(ctx.node, 'reduction', 'mean');
  const C = logp.shape[1];
  if (logp.rank < 2 || target.shape.join() !== [logp.shape[0], ...logp.shape.slice(2)].join())
    fail('E_SHAPE', `scores ${logp.describe()} must be [N, C, d..] and the target [N, d..], got ${target.describe()}`);
  return withTemps((t) => {
    const tgt = t.add(k.cast(target, 'int64'));
    const valid = ignore === undefined ? t.add(k.full(tgt.shape, true, { dtype: 'bool', device: tgt.device })) : t.add(k.notEqual(tgt, ignore));
    // a target outside the classes (and not ignore_index) is the loss's E_INDEX, not a silent 0
    const safe = checkedIndices(t, t.add(k.where(valid, tgt, 0)), C, ctx.node.opType);
    const classes = t.add(t.add(k.arange(0, C, 1, { dtype: 'int64', device: tgt.device })).reshape([1, C, ...Array(tgt.rank - 1).fill(1)]));
    const hot = t.add(k.cast(t.add(k.equal(t.add(safe.unsqueeze(1)), classes)), logp.dtype));
    const picked = t.add(k.sum(t.add(binary('Mul', logp, hot)), { axes: [1] }));
    const keep = t.add(k.cast(valid, logp.dtype));
    const w = weight ? t.add(binary('Mul', t.add(k.gather(weight, safe, 0)), keep)) : keep;
    const loss = t.add(k.neg(t.add(binary('Mul', picked, w))));
    if (reduction === 'none') return loss.clone();
    const total = t.add(k.sum(loss));
    return reduction === 'sum' ? total.clone() : k.div(total, t.add(k.sum(w)));
  });
}

defineOps({
  NegativeLogLikelihoodLoss: {
    since: 12,
    uses: ['Cast', 'NotEqual', 'Where', 'Range', 'Equal', 'Mul', 'ReduceSum', 'Gather', 'Neg', 'Div', 'Fill'],
    check: (n) => (['none', 'sum', 'mean'].includes(attrString(n, 'reduction', 'mean')) ? undefined : `reduction '${attrString(n, 'reduction', 'mean')}'`),
    run: (ctx) => [nll(ctx, input(ctx, 0), input(ctx, 1), ctx.inputs[2])],
  },
  SoftmaxCrossEntropyLoss: {
    since: 12,
    uses: ['LogSoftmax', 'Cast', 'NotEqual', 'Where', 'Range', 'Equal', 'Mul', 'ReduceSum', 'Gather', 'Neg', 'Div', 'Fill'],
    check: (n) => (['none', 'sum', 'mean'].includes(attrString(n, 'reduction', 'mean')) ? undefined : `reduction '${attrString(n, 'reduction', 'mean')}'`),
    run: (ctx) => {
      const logp = k.logSoftmax(input(ctx, 0), 1);
      try {
        const loss = nll(ctx, logp, input(ctx, 1), ctx.inputs[2]);
        return ctx.node.outputs[1] ? [loss, logp.withLayout('log_prob', logp.shape, logp.strides)] : [loss];
      } finally {
        logp.dispose();
      }
    },
  },
});
