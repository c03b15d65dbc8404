// The one wire format of the distributed package (the rendezvous store and the CPU backend's peer
// links both speak it): a 12-byte prefix [u32 head length][f64 body length], a small head, a body.
// Lengths are checked against the reader's limits before anything is allocated, so a peer that sends
// garbage costs one closed connection, never a huge allocation or a crash.
import type { Socket } from 'node:net';

export interface FrameLimits {
  maxHead: number;
  maxBody: number;
}

const PREFIX = 12;

/** A connection that has not presented its token by then is closed (store and peer links alike). */
export const HELLO_TIMEOUT_MS = 10_000;

/** Incremental parser for one connection: push() every chunk; onFrame gets whole frames in order. */
export class FrameReader {
  #pending: Buffer = Buffer.alloc(0);
  #head: Buffer | undefined;
  #body: Buffer | undefined;
  #filled = 0;
  #bad = false;
  #stopped = false;

  constructor(
    private readonly limits: FrameLimits,
    private readonly onFrame: (head: Buffer, body: Buffer) => void,
    private readonly onBad: (why: string) => void,
  ) {}

  /** Parses a chunk. After onFrame calls stop(), returns the bytes of the chunk not yet consumed. */
  push(chunk: Buffer): Buffer | undefined {
    let pos = 0;
    while (!this.#bad && pos < chunk.length) {
      if (this.#stopped) return chunk.subarray(pos);
      if (this.#body) {
        const n = Math.min(chunk.length - pos, this.#body.length - this.#filled);
        chunk.copy(this.#body, this.#filled, pos, pos + n);
        this.#filled += n;
        pos += n;
        if (this.#filled === this.#body.length) this.deliver();
        continue;
      }
      // prefix and head are small: gather them, then switch to filling the body in place
      const need = this.#pending.length < PREFIX ? PREFIX : PREFIX + this.#pending.readUInt32LE(0);
      const take = Math.min(chunk.length - pos, need - this.#pending.length);
      this.#pending = Buffer.concat([this.#pending, chunk.subarray(pos, pos + take)]);
      pos += take;
      if (this.#pending.length < need) continue;
      if (need === PREFIX) {
        const headLen = this.#pending.readUInt32LE(0);
        const bodyLen = this.#pending.readDoubleLE(4);
        if (headLen > this.limits.maxHead) return void this.bad(`a frame head of ${headLen} bytes exceeds the limit of ${this.limits.maxHead}`);
        if (!Number.isSafeInteger(bodyLen) || bodyLen < 0 || bodyLen > this.limits.maxBody)
          return void this.bad(`a frame body of ${bodyLen} bytes is invalid or exceeds the limit of ${this.limits.maxBody}`);
        if (headLen > 0) continue;
      }
      this.#head = Buffer.from(this.#pending.subarray(PREFIX));
      const bodyLen = this.#pending.readDoubleLE(4);
      this.#pending = Buffer.alloc(0);
      try {
        this.#body = Buffer.allocUnsafe(bodyLen);
      } catch {
        return void this.bad(`cannot allocate a frame body of ${bodyLen} bytes`);
      }
      this.#filled = 0;
      if (bodyLen === 0) this.deliver();
    }
    return this.#stopped ? chunk.subarray(pos) : undefined;
  }

  /** Ends parsing (a handshake hands the rest of the stream to another reader). */
  stop(): void {
    this.#stopped = true;
  }

  private deliver(): void {
    const head = this.#head!, body = this.#body!;
    this.#head = this.#body = undefined;
    this.onFrame(head, body);
  }

  private bad(why: string): void {
    this.#bad = true;
    this.onBad(why);
  }
}

/** Writes one frame; resolves when the socket has taken the last byte (rejects if it is destroyed first). */
export function writeFrame(socket: Socket, head: Uint8Array, body: Uint8Array = new Uint8Array(0)): Promise<void> {
  const first = Buffer.allocUnsafe(PREFIX + head.length);
  first.writeUInt32LE(head.length, 0);
  first.writeDoubleLE(body.length, 4);
  first.set(head, PREFIX);
  return new Promise((resolve, reject) => {
    const done = (e?: Error | null) => (e ? reject(e) : resolve());
    if (body.length === 0) socket.write(first, done);
    else {
      // corked, the two writes leave in one writev: one system call and, when small, one segment
      socket.cork();
      socket.write(first);
      socket.write(body, done);
      socket.uncork();
    }
  });
}
