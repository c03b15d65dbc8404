// Attention and RotaryEmbedding (opset 23). Attention: scaled dot-product attention with grouped-query heads, past key/value
// caches, boolean or additive masks, causal masking, softcap and the qk_matmul_output modes,
// composed from Kiln's MatMul, Softmax and elementwise ops as the ONNX function body defines it:
//   QK = (Q * sqrt(scale)) @ (K^T * sqrt(scale)); [softcap * tanh(QK / softcap)]; + mask;
//   Y = Softmax(.) @ V, with K and V heads repeated for grouped-query attention.
import { fail } from '../../errors.js';
import * as k from '../../ops/index.js';
import { withTemps, type Temps } from '../../ops/temps.js';
import type { Tensor } from '../../tensor.js';
import { attrFloat, attrInt, attrFlag } from '../attrs.js';
import { defineOps, type OpContext } from './registry.js';
import { binary, input, scalarLike } from './util.js';

/** 3-D [B, S, H * D] -> 4-D [B, H, S, D]; 4-D stays. */
function heads(t: Temps, x: Tensor, h: number | undefined, what: string): Tensor {
  if (x.rank === 4) return x;
  if (!h) fail('E_ARGUMENT', `3-D ${what} needs the ${what === 'Q' ? 'q_num_heads' : 'kv_num_heads'} attribute`);
  const [b, s, hidden] = x.shape;
  return t.add(t.add(x.reshape([b, s, h, hidden / h])).permute([0, 2, 1, 3]));
}

/** [B, kvH, T, D] -> [B, kvH * n, T, D], each head repeated n times in place (np.repeat). */
function repeatHeads(t: Temps, x: Tensor, n: number): Tensor {
  if (n === 1) return x;
  const [b, h, s, d] = x.shape;
  return t.add(t.add(t.add(x.unsqueeze(2)).expand([b, h, n, s, d])).reshape([b, h * n, s, d]));
}

function attention(ctx: OpContext): Tensor[] {
  const n = ctx.node;
  const q3 = input(ctx, 0), k3 = input(ctx, 1), v3 = input(ctx, 2);
  const mask = ctx.inputs[3], pastK = ctx.inputs[4], pastV = ctx.inputs[5];
  return withTemps((t) => {
    const q = heads(t, q3, attrInt(n, 'q_num_heads'), 'Q');
    const key = heads(t, k3, attrInt(n, 'kv_num_heads'), 'K');
    const val = heads(t, v3, attrInt(n, 'kv_num_heads'), 'V');
    const presentK = pastK ? k.concat([pastK, key], 2) : key.clone();
    const presentV = pastV ? k.concat([pastV, val], 2) : val.clone();
    const [B, qH, S, D] = q.shape;
    const kvH = key.shape[1], T = presentK.shape[2], past = pastK ? pastK.shape[2] : 0;
    if (qH % kvH) fail('E_SHAPE', `${qH} query heads are not a multiple of ${kvH} key/value heads`);
    const scale = attrFloat(n, 'scale') ?? 1 / Math.sqrt(D);
    // Q and K are each scaled by sqrt(scale), as in ONNX's function body: a scale that is not
    // positive and finite gives NaN there (onnxruntime refuses it; a NaN it reads as 'not given').
    if (!(scale > 0 && scale < Infinity)) fail('E_ARGUMENT', `scale ${scale} must be a positive finite number`);
    const root = Math.sqrt(scale);
    const kt = t.add(repeatHeads(t, presentK, qH / kvH).transpose(-2, -1));
    const qk = t.add(k.matmul(t.add(k.mul(q, root)), t.add(k.mul(kt, root)))); // [B, qH, S, T]
    const softcap = attrFloat(n, 'softcap', 0);
    const capped = softcap > 0 ? t.add(k.mul(t.add(k.tanh(t.add(k.div(qk, softcap)))), softcap)) : qk;
    // The additive bias: the mask (bool: 0 where kept, -inf elsewhere) plus the causal triangle.
    let bias: Tensor | undefined;
    if (mask) bias = mask.dtype === 'bool' ? t.add(k.where(mask, scalarLike(q, 0), scalarLike(q, -Infinity))) : mask;
    if (attrFlag(n, 'is_causal', 0)) {
      const rows = t.add(t.add(k.arange(past, past + S, 1, { dtype: 'int64', device: q.device })).reshape([S, 1]));
      const cols = t.add(t.add(k.arange(0, T, 1, { dtype: 'int64', device: q.device })).reshape([1, T]));
      const tri = t.add(k.where(t.add(k.less(rows, cols)), scalarLike(q, -Infinity), scalarLike(q, 0)));
      bias = bias ? t.add(binary('Add', bias, tri)) : tri;
    }
    const scores = bias ? t.add(binary('Add', capped, bias)) : capped;
    const probs = t.add(k.softmax(scores, -1));
    const y4 = t.add(k.matmul(probs, repeatHeads(t, presentV, qH / kvH))); // [B, qH, S, Dv]
    const y = q3.rank === 4 ? y4.clone() : t.add(y4.permute([0, 2, 1, 3])).reshape([B, S, qH * y4.shape[3]]);
    const out = [y, presentK, presentV];
    if (n.outputs[3]) {
      const mode = attrInt(n, 'qk_matmul_output_mode', 0);
      if (![0, 1, 2, 3].includes(mode)) fail('E_ARGUMENT', `qk_matmul_output_mode ${mode} is not 0, 1, 2 or 3`);
      out.push([qk, capped, scores, probs][mode].clone()); // 0 QK, 1 after softcap, 2 after the mask, 3 after softmax
    }
    return out;
  });
}

defineOps({
  Attention: {
    since: 23,
    uses: ['MatMul', 'Mul', 'Div', 'Tanh', 'Add', 'Where', 'Less', 'Range', 'Softmax', 'Cast', 'Fill'],
    check: (node) => (node.inputs[6] ? 'nonpad_kv_seqlen' : undefined),
    run: (ctx: OpContext) => attention(ctx),
  },
});

/**
 * RotaryEmbedding (opset 23): rotates pairs of the first rotary_embedding_dim features by the
 * cached angles of each position: (x1, x2) -> (cos x1 - sin x2, sin x1 + cos x2), pairs being the
 * two halves or (interleaved) neighbouring features; the rest pass through.
 */
function rotary(ctx: OpContext): Tensor {
  const n = ctx.node;
  const raw = input(ctx, 0), cosCache = input(ctx, 1), sinCache = input(ctx, 2), pos = ctx.inputs[3];
  return withTemps((t) => {
    const x = heads(t, raw, attrInt(n, 'num_heads'), 'Q'); // [B, H, S, D]
    const D = x.shape[3];
    const rot = attrInt(n, 'rotary_embedding_dim', 0) || D;
    if (rot % 2 || rot > D || rot < 0) fail('E_ARGUMENT', `rotary_embedding_dim ${rot} must be even, and at most the head size ${D}`);
    // [B, S, rot / 2] each; [max position, rot / 2] with position_ids
    for (const [name, c] of [['cos_cache', cosCache], ['sin_cache', sinCache]] as const) {
      if (c.rank !== (pos ? 2 : 3) || c.shape[c.rank - 1] !== rot / 2)
        fail('E_SHAPE', `${name} ${c.describe()} must be ${pos ? '[max position' : '[batch, sequence'}, ${rot / 2}] (rotary_embedding_dim / 2)`);
    }
    const angles = (cache: Tensor) => t.add(t.add(pos ? k.gather(cache, pos, 0) : cache.clone()).unsqueeze(1)); // [B, 1, S, rot/2]
    const cos = angles(cosCache), sin = angles(sinCache);
    const xr = t.add(x.slice(3, 0, rot));
    const interleaved = attrFlag(n, 'interleaved', 0);
    const x1 = t.add(interleaved ? xr.slice(3, 0, rot, 2) : xr.slice(3, 0, rot / 2));
    const x2 = t.add(interleaved ? xr.slice(3, 1, rot, 2) : xr.slice(3, rot / 2, rot));
    const real = t.add(k.sub(t.add(k.mul(cos, x1)), t.add(k.mul(sin, x2))));
    const imag = t.add(k.add(t.add(k.mul(sin, x1)), t.add(k.mul(cos, x2))));
    const rotated = interleaved ? t.add(t.add(k.stack([real, imag], -1)).reshape([...real.shape.slice(0, 3), rot])) : t.add(k.concat([real, imag], -1));
    const y = rot < D ? t.add(k.concat([rotated, t.add(x.slice(3, rot, D))], -1)) : rotated;
    return raw.rank === 4 ? y.clone() : t.add(y.permute([0, 2, 1, 3])).reshape(raw.shape);
  });
}

defineOps({
  RotaryEmbedding: { since: 23, uses: ['Gather', 'Mul', 'Sub', 'Add', 'Cast'], run: (ctx) => [rotary(ctx)] },
});
