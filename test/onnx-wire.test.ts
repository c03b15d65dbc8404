// The ONNX wire-format check (src/onnx/wire.ts): a known field with another wire type than the
// schema's is refused, naming it; packed and unpacked repeated scalars and unknown fields pass.
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { checkWireFormat } from '../src/onnx/wire.js';

const varint = (v: number): number[] => {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  return [...out, v];
};
/** One field: its tag, then the payload (a length-delimited one gets its length first). */
const field = (num: number, wire: number, payload: number[]): number[] => [...varint(num * 8 + wire), ...(wire === 2 ? varint(payload.length) : []), ...payload];
const str = (s: string) => [...new TextEncoder().encode(s)];

/** model { graph { node { op_type: 'Relu', attribute { name: 'a', <attr> } } } } */
const withAttribute = (attr: number[]) => new Uint8Array(field(7, 2, field(1, 2, [...field(4, 2, str('Relu')), ...field(5, 2, [...field(1, 2, str('a')), ...attr])])));

function refusal(bytes: Uint8Array): string {
  try {
    checkWireFormat(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(kiln.KilnError);
    expect((e as kiln.KilnError).code).toBe('E_ARGUMENT');
    return (e as Error).message;
  }
  return 'accepted';
}

describe('ONNX wire format', () => {
  it('takes repeated ints and floats packed or one by one, and skips unknown fields by their wire type', () => {
    expect(refusal(withAttribute(field(8, 2, [...varint(3), ...varint(300)])))).toBe('accepted'); // ints, packed
    expect(refusal(withAttribute([...field(8, 0, varint(3)), ...field(8, 0, varint(300))]))).toBe('accepted'); // ints, one by one
    expect(refusal(withAttribute(field(7, 2, [0, 0, 128, 63])))).toBe('accepted'); // floats, packed
    expect(refusal(withAttribute(field(7, 5, [0, 0, 128, 63])))).toBe('accepted'); // floats, one by one
    expect(refusal(withAttribute([...field(99, 0, varint(7)), ...field(98, 2, [1, 2, 3]), ...field(97, 1, Array(8).fill(0)), ...field(96, 5, [0, 0, 0, 0])]))).toBe('accepted');
  });

  it('refuses a known field with another wire type, a length past the end, a group, and names where', () => {
    expect(refusal(withAttribute(field(3, 2, [1])))).toMatch(/damaged at byte \d+: field 3 of AttributeProto \(model\.graph\.node\.attribute\.i\) has wire type length-delimited, where ONNX gives it varint/);
    expect(refusal(withAttribute(field(2, 0, varint(1))))).toMatch(/field 2 of AttributeProto \(model\.graph\.node\.attribute\.f\) has wire type varint, where ONNX gives it fixed32/);
    expect(refusal(new Uint8Array(field(7, 0, varint(1))))).toMatch(/field 7 of ModelProto \(model\.graph\) has wire type varint/);
    expect(refusal(new Uint8Array([...varint(7 * 8 + 2), ...varint(50), 1, 2]))).toMatch(/model\.graph claims 50 bytes where 2 are left/);
    expect(refusal(new Uint8Array([...varint(9 * 8 + 3)]))).toMatch(/a field of group start, which ONNX does not use/);
    expect(refusal(new Uint8Array([0x08, 0x80]))).toMatch(/ends inside a varint/);
    const nested = (levels: number) => {
      let graph: number[] = [];
      for (let i = 0; i < levels; ++i) graph = field(1, 2, field(5, 2, field(6, 2, graph))); // graph { node { attribute { g: graph { ... } } } }
      return new Uint8Array(field(7, 2, graph));
    };
    expect(refusal(nested(20))).toBe('accepted'); // 61 deep
    expect(refusal(nested(22))).toMatch(/nests more than 64 messages deep/);
  });

  it('onnx.load refuses a model whose dim lost its length bit (read as 4 dims here, 3 by protobuf C++)', async () => {
    const g = new GraphBuilder('dims');
    g.node('Relu', [g.input('x', 'float32', [2, 3, 4])], {}, { outputs: ['y'] });
    g.output('y', 'float32', [2, 3, 4]);
    const bytes = g.toBytes();
    expect((await kiln.onnx.load(bytes)).inputs[0].shape).toEqual([2, 3, 4]);
    // the input's shape: dim tags (0x0a: field 1, length-delimited) each followed by a 2-byte dim
    const shapeAt = bytes.findIndex((_, i) => bytes[i] === 0x0a && bytes[i + 1] === 2 && bytes[i + 2] === 0x08 && bytes[i + 3] === 2);
    expect(shapeAt).toBeGreaterThan(0);
    const damaged = bytes.slice();
    damaged[shapeAt] = 0x08; // field 1 as a varint: its length byte now reads as the value
    await expect(kiln.onnx.load(damaged)).rejects.toMatchObject({ code: 'E_ARGUMENT', message: expect.stringMatching(/model\.graph\.input\.type\.tensor_type\.shape\.dim\) has wire type varint/) });
  });
});
