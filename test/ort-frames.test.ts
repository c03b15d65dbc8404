// The ort engine's framing (src/onnx/ort-frames.ts): messages with binaries survive any split of the
// byte stream, several frames in one chunk, empty binaries, views and Buffers; a broken header throws.
import { describe, expect, it } from 'vitest';
import { frameReader, writeFrame } from '../src/onnx/ort-frames.js';
import { Rng } from './helpers/random.js';

/** The bytes `writeFrame` gives for each message, concatenated. */
function stream(...msgs: unknown[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of msgs) writeFrame((b) => parts.push(b.slice()), m);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Feeds `bytes` to a reader in chunks cut at `cuts`; returns the messages read. */
function readIn(bytes: Uint8Array, cuts: number[]): unknown[] {
  const got: unknown[] = [];
  const read = frameReader((m) => got.push(m));
  let at = 0;
  for (const c of [...cuts, bytes.byteLength]) {
    read(bytes.subarray(at, c));
    at = c;
  }
  return got;
}

const bytesOf = (b: unknown) => Array.from(new Uint8Array(b as ArrayBuffer));

describe('ort engine frames', () => {
  const floats = new Float32Array([1.5, -2, 3, 4, 5]).subarray(1, 4); // a view with an offset
  const msgs = [
    { id: 0, kind: 'run', feeds: { x: { type: 'float32', dims: [3], data: floats }, e: { type: 'int64', dims: [0], data: new ArrayBuffer(0) } }, outputs: ['y'] },
    { id: 1, kind: 'init', bytes: Buffer.from([9, 8, 7]), options: { intraOpNumThreads: 2 } },
    { id: 2, ok: true, data: new Uint8Array(0) }, // an empty binary ends the stream
  ];
  const check = (got: unknown[]) => {
    expect(got).toHaveLength(3);
    const [run, init, done] = got as [{ id: number; outputs: string[]; feeds: Record<string, { data: ArrayBuffer }> }, { bytes: unknown; options: unknown }, unknown];
    expect(run.id).toBe(0);
    expect(run.outputs).toEqual(['y']);
    expect(run.feeds.x.data).toBeInstanceOf(ArrayBuffer);
    expect(Array.from(new Float32Array(run.feeds.x.data))).toEqual([-2, 3, 4]);
    expect(run.feeds.e.data.byteLength).toBe(0);
    expect(bytesOf(init.bytes)).toEqual([9, 8, 7]); // a Buffer crosses as bytes, not as its toJSON
    expect(init.options).toEqual({ intraOpNumThreads: 2 });
    expect(done).toEqual({ id: 2, ok: true, data: new ArrayBuffer(0) });
  };

  it('reads back what was written: in one chunk, byte by byte, and at random cuts', () => {
    const bytes = stream(...msgs);
    check(readIn(bytes, []));
    check(readIn(bytes, Array.from({ length: bytes.byteLength - 1 }, (_, i) => i + 1)));
    const rng = new Rng(7);
    for (let t = 0; t < 50; ++t) {
      const cuts = Array.from({ length: rng.int(1, 6) }, () => rng.int(0, bytes.byteLength)).sort((a, b) => a - b);
      check(readIn(bytes, cuts));
    }
  });

  it('a header that is not a frame throws', () => {
    const header = (o: unknown) => {
      const h = new TextEncoder().encode(JSON.stringify(o));
      const b = new Uint8Array(4 + h.byteLength);
      new DataView(b.buffer).setUint32(0, h.byteLength, true);
      b.set(h, 4);
      return b;
    };
    for (const bad of [{ sizes: [-1], json: '{}' }, { sizes: [1.5], json: '{}' }, { sizes: 'x', json: '{}' }, { sizes: [] }]) {
      expect(() => frameReader(() => {})(header(bad)), JSON.stringify(bad)).toThrow(/not a frame/);
    }
  });
});
