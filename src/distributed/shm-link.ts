// The shared-memory lane of a CPU-backend link (mesh.ts), for two ranks on one host. Each rank owns
// the ring it sends through: a POSIX shared-memory segment (native/shm.cc) of a 4 KiB header and
// SLOTS slots. A payload is copied into free slots one chunk at a time; a small control frame on the
// TCP link says which slot holds the next chunk of which key, and the receiver copies the chunk out
// and frees the slot with another control frame. The TCP stream keeps every frame in order, so a
// payload's chunks, and payloads under one key, arrive in the order they were sent.
//
// Set-up, per direction: the sender creates its ring, writes a random nonce into the header and
// offers the segment's name and the nonce; the receiver maps it and answers yes only if it reads the
// same nonce (so a peer on another host, or one that cannot map it, answers no and the direction
// stays on TCP). Either way the sender then removes the name, so nothing is left in /dev/shm once
// the link is up, even if a process dies later.
import { randomBytes } from 'node:crypto';
import { fail } from '../errors.js';
import { native } from '../native.js';

/** Control frames on a link have heads that start with this byte; a user key never does. */
export const CONTROL = '\u0001';
export const OFFER = `${CONTROL}o`, ANSWER = `${CONTROL}a`, CHUNK = `${CONTROL}c`, FREE = `${CONTROL}f`;

const HEADER = 4096, NONCE = 16, SLOTS = 4;
/** Payloads smaller than this go inline on TCP: a chunk costs a control frame each way anyway. */
export const SHM_MIN_BYTES = 64 * 1024;
export const DEFAULT_RING_BYTES = 8 * 1024 * 1024;

/**
 * The ring size per link and direction: $KILN_SHM_BYTES (0 turns shared memory off), else 8 MiB.
 * The slots are a quarter each, rounded down to 4 KiB.
 */
export function ringBytes(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.KILN_SHM_BYTES;
  if (v === undefined || v === '') return DEFAULT_RING_BYTES;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || (n !== 0 && n < SLOTS * 4096) || n > 2 ** 31)
    fail('E_ARGUMENT', `KILN_SHM_BYTES must be 0 (off) or an integer from ${SLOTS * 4096} to 2^31, got ${JSON.stringify(v)}`);
  return n;
}

const slotBytesFor = (ring: number) => Math.floor(ring / SLOTS / 4096) * 4096;

/** The sending side of a direction: its own ring, offered to the peer. */
export class ShmSender {
  readonly slotBytes: number;
  readonly #view: Uint8Array;
  readonly #free: number[] = [];
  readonly #busy = new Set<number>();
  readonly #waiting: { resolve: (slot: number) => void; reject: (e: Error) => void }[] = [];
  #name: string | undefined;
  #broken: Error | undefined;

  /** Creates the ring (E_OOM when /dev/shm cannot hold it). */
  constructor(ring: number) {
    this.slotBytes = slotBytesFor(ring);
    const seg = native().shm.create(HEADER + SLOTS * this.slotBytes);
    this.#name = seg.name;
    this.#view = new Uint8Array(seg.buffer);
    for (let s = SLOTS - 1; s >= 0; --s) this.#free.push(s);
  }

  /** The OFFER body: [u32 slots][u32 slot bytes][nonce][name]; the nonce also goes into the header. */
  offer(): Buffer {
    const nonce = randomBytes(NONCE);
    this.#view.set(nonce, 0);
    const name = Buffer.from(this.#name!, 'latin1');
    const b = Buffer.alloc(8 + NONCE + name.length);
    b.writeUInt32LE(SLOTS, 0);
    b.writeUInt32LE(this.slotBytes, 4);
    nonce.copy(b, 8);
    name.copy(b, 8 + NONCE);
    return b;
  }

  /** Removes the segment's name (the mappings stay); called once the peer has answered, or on close. */
  unlink(): void {
    if (this.#name === undefined) return;
    native().shm.unlink(this.#name);
    this.#name = undefined;
  }

  /**
   * Sends a payload through the ring: for each chunk, waits for a free slot, copies the chunk in and
   * calls control(head, body) to announce it (synchronously, so chunks are announced in order). Body:
   * [u32 slot][u32 chunk bytes][f64 payload bytes].
   */
  async send(key: string, bytes: Uint8Array, control: (head: string, body: Buffer) => void): Promise<void> {
    for (let at = 0; at < bytes.length; at += this.slotBytes) {
      if (this.#broken) throw this.#broken;
      const slot = this.#free.length ? this.#free.pop()! : await this.acquire();
      const n = Math.min(this.slotBytes, bytes.length - at);
      this.#view.set(bytes.subarray(at, at + n), HEADER + slot * this.slotBytes);
      this.#busy.add(slot);
      const body = Buffer.alloc(16);
      body.writeUInt32LE(slot, 0);
      body.writeUInt32LE(n, 4);
      body.writeDoubleLE(bytes.length, 8);
      control(CHUNK + key, body);
    }
  }

  private acquire(): Promise<number> {
    if (this.#broken) return Promise.reject(this.#broken);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** A FREE frame from the peer; false when it names a slot that is not in use (a malformed frame). */
  release(body: Buffer): boolean {
    const slot = body.length === 4 ? body.readUInt32LE(0) : -1;
    if (!this.#busy.delete(slot)) return false;
    const w = this.#waiting.shift();
    if (w) w.resolve(slot);
    else this.#free.push(slot);
    return true;
  }

  /** The link is gone: senders waiting for a slot fail with `why`. */
  break(why: Error): void {
    this.#broken ??= why;
    for (const w of this.#waiting.splice(0)) w.reject(why);
    try {
      this.unlink();
    } catch {
      // the name is best effort here; the error that broke the link is the one to report
    }
  }
}

/** The receiving side of a direction: the peer's ring, mapped. */
export class ShmReceiver {
  private constructor(
    private readonly view: Uint8Array,
    private readonly slots: number,
    private readonly slotBytes: number,
  ) {}

  /** Maps the ring an OFFER names; undefined when this host cannot (another host, no /dev/shm). */
  static accept(offer: Buffer): ShmReceiver | undefined {
    if (offer.length <= 8 + NONCE) return undefined;
    const slots = offer.readUInt32LE(0), slotBytes = offer.readUInt32LE(4);
    const nonce = offer.subarray(8, 8 + NONCE), name = offer.subarray(8 + NONCE).toString('latin1');
    if (slots < 1 || slots > 64 || slotBytes < 4096 || slotBytes % 4096) return undefined;
    try {
      const view = new Uint8Array(native().shm.open(name, HEADER + slots * slotBytes));
      return Buffer.compare(view.subarray(0, NONCE), nonce) === 0 ? new ShmReceiver(view, slots, slotBytes) : undefined;
    } catch {
      return undefined; // no such segment here, not this user's, or no addon: the direction stays on TCP
    }
  }

  /**
   * A CHUNK notice: its slot, the payload's size, and a view of the chunk in the ring, valid until the
   * slot is freed (the caller copies it out first). A string says why the notice is malformed.
   */
  chunk(body: Buffer): { slot: number; view: Uint8Array; total: number } | string {
    if (body.length !== 16) return `a chunk notice of ${body.length} bytes`;
    const slot = body.readUInt32LE(0), n = body.readUInt32LE(4), total = body.readDoubleLE(8);
    if (slot >= this.slots || n < 1 || n > this.slotBytes) return `a chunk of ${n} bytes in slot ${slot}`;
    if (!Number.isSafeInteger(total) || total < n) return `a payload of ${total} bytes`;
    const at = HEADER + slot * this.slotBytes;
    return { slot, view: this.view.subarray(at, at + n), total };
  }
}

/** The FREE body for a slot. */
export function freeBody(slot: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(slot, 0);
  return b;
}
