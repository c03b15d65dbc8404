// If: the condition is read on the host, then the chosen branch runs as a nested graph that sees
// the enclosing scope's values.
import { fail } from '../../errors.js';
import { attrGraph } from '../attrs.js';
import { defineOps } from './registry.js';

defineOps({
  If: {
    uses: [],
    hostInputs: [0],
    run: async (ctx) => {
      const cond = ctx.host(0) ?? fail('E_ARGUMENT', `missing condition`);
      if (cond.values.length !== 1) fail('E_SHAPE', `the condition must have one element, got ${cond.values.length}`);
      return ctx.runGraph(attrGraph(ctx.node, Number(cond.values[0]) ? 'then_branch' : 'else_branch'));
    },
  },
});
