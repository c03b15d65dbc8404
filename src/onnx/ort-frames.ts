// The framing of the ort engine's messages over the byte stream between a session and its
// onnxruntime process: a message is a JSON header in which every binary value (an ArrayBuffer or a
// typed array: tensor bytes, the model) stands as {"$bin": i}, then those binaries' bytes in order.
// Binaries thus cross as raw bytes, each received straight into an ArrayBuffer of its own: one
// copy per side, where Node's IPC channel (v8 serialization) re-concatenates its read buffer as
// chunks arrive and moves a 16 MiB tensor about three times slower.
//
// Both functions must stay self-contained (no imports, no outer names but JS globals): the host
// process runs their source text (ort-engine.ts embeds `${writeFrame}` and `${frameReader}`).

/** Writes `msg` as one frame: [u32 header length][header JSON][binaries]; `write` takes bytes in order. */
export function writeFrame(write: (bytes: Uint8Array) => void, msg: unknown): void {
  const bins: Uint8Array[] = [];
  // `this[key]` is the value before toJSON (a Buffer would otherwise arrive as a JSON array).
  const json = JSON.stringify(msg, function (this: Record<string, unknown>, key: string, value: unknown) {
    const raw = this[key];
    if (raw instanceof ArrayBuffer) bins.push(new Uint8Array(raw));
    else if (ArrayBuffer.isView(raw)) bins.push(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
    else return value;
    return { $bin: bins.length - 1 };
  });
  const header = new TextEncoder().encode(JSON.stringify({ sizes: bins.map((b) => b.byteLength), json }));
  const head = new Uint8Array(4 + header.byteLength);
  new DataView(head.buffer).setUint32(0, header.byteLength, true);
  head.set(header, 4);
  write(head);
  for (const b of bins) if (b.byteLength > 0) write(b);
}

/**
 * A reader of frames: feed it the stream's chunks in order; it calls `onMessage` with each message,
 * its binaries as exactly sized ArrayBuffers. A header that is not a frame's throws.
 */
export function frameReader(onMessage: (msg: unknown) => void): (chunk: Uint8Array) => void {
  let head = new Uint8Array(0); // header bytes so far (with their length prefix)
  let sizes: number[] | undefined; // the binaries the current header announced
  let json = '';
  let bins: ArrayBuffer[] = [];
  let filled = 0; // bytes of bins[bins.length - 1] received
  const finish = (): void => {
    const got = bins;
    const msg: unknown = JSON.parse(json, (_key, value: unknown) =>
      value !== null && typeof value === 'object' && typeof (value as { $bin?: unknown }).$bin === 'number' ? got[(value as { $bin: number }).$bin] : value);
    sizes = undefined;
    bins = [];
    onMessage(msg);
  };
  // Opens the next binary the header announced (empty ones complete at once); finishes when none is left.
  const next = (): void => {
    while (sizes && bins.length < sizes.length && sizes[bins.length] === 0) bins.push(new ArrayBuffer(0));
    if (sizes && bins.length === sizes.length) return finish();
    if (sizes) bins.push(new ArrayBuffer(sizes[bins.length]));
    filled = 0;
  };
  return (chunk: Uint8Array): void => {
    let at = 0;
    while (at < chunk.byteLength) {
      if (sizes) {
        const dst = bins[bins.length - 1];
        const n = Math.min(dst.byteLength - filled, chunk.byteLength - at);
        new Uint8Array(dst, filled, n).set(chunk.subarray(at, at + n));
        filled += n;
        at += n;
        if (filled === dst.byteLength) next();
        continue;
      }
      const want = head.byteLength < 4 ? 4 : 4 + new DataView(head.buffer, head.byteOffset).getUint32(0, true);
      const take = chunk.subarray(at, at + want - head.byteLength);
      const grown = new Uint8Array(head.byteLength + take.byteLength);
      grown.set(head);
      grown.set(take, head.byteLength);
      head = grown;
      at += take.byteLength;
      if (head.byteLength < 4 || head.byteLength < 4 + new DataView(head.buffer).getUint32(0, true)) continue;
      const header = JSON.parse(new TextDecoder().decode(head.subarray(4))) as { sizes?: unknown; json?: unknown };
      head = new Uint8Array(0);
      if (!Array.isArray(header.sizes) || !header.sizes.every((n) => Number.isSafeInteger(n) && n >= 0) || typeof header.json !== 'string') {
        throw new Error('a message of the ort engine is not a frame');
      }
      sizes = header.sizes as number[];
      json = header.json;
      bins = [];
      next();
    }
  };
}
