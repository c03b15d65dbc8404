// The CPU backend's transport: one TCP connection between every pair of ranks, set up through the
// store (each rank publishes where it listens; the higher rank dials the lower one and presents the
// token and its rank). Messages are frames whose head is a string key; a receiver asks for
// (peer, key) and gets the payloads sent under that key in order. Between two ranks on one host,
// payloads of SHM_MIN_BYTES or more travel through a shared-memory ring instead (shm-link.ts), with
// only small control frames on the TCP link. A connection that closes or sends garbage makes its
// peer lost: every pending and later send to it and receive from it fails with E_PEER_LOST.
import { constants } from 'node:buffer';
import { timingSafeEqual } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { KilnError, fail } from '../errors.js';
import { FrameReader, HELLO_TIMEOUT_MS, writeFrame } from './frames.js';
import { ANSWER, CHUNK, CONTROL, FREE, OFFER, SHM_MIN_BYTES, ShmReceiver, ShmSender, freeBody, ringBytes } from './shm-link.js';
import type { LinkInfo } from './group.js';
import { hostBytes, recycle } from './host-bytes.js';
import type { StoreClient } from './store.js';
import { withTimeout } from './timeout.js';

const HELLO_LIMITS = { maxHead: 4, maxBody: 1024 };
// Keys are short ASCII; payloads are whole tensors, up to the largest Buffer Node can allocate.
const DATA_LIMITS = { maxHead: 256, maxBody: constants.MAX_LENGTH };


/** Where a payload goes as it arrives: chunk `bytes` belongs at byte `at` (a view, valid only during the call). */
export type Sink = (bytes: Uint8Array, at: number) => void;

/** A pending receive: of the whole payload, or (with a sink) streamed into place, of a known size. */
interface Waiter {
  resolve: (b: Buffer | undefined) => void;
  reject: (e: Error) => void;
  sink?: Sink;
  bytes?: number;
  /** The error for a payload of another size than `bytes`. */
  mismatch?: (got: number) => KilnError;
}

/** A payload arriving through the ring, chunk by chunk: streamed to its waiter, or assembled. */
interface Incoming {
  key: string;
  total: number;
  filled: number;
  waiter?: Waiter;
  body?: Buffer;
}

class Peer {
  readonly arrived = new Map<string, Buffer[]>();
  readonly waiting = new Map<string, Waiter[]>();
  lost: KilnError | undefined;
  /** Sends are issued one after another (a payload's chunks must not interleave with the next payload). */
  issued: Promise<unknown> = Promise.resolve();
  /** This rank's ring to the peer: offered until the peer answers, then used by send(). */
  offered: ShmSender | undefined;
  sender: ShmSender | undefined;
  answered: (() => void) | undefined;
  /** The peer's ring to this rank, once accepted, and the payload coming through it. */
  receiver: ShmReceiver | undefined;
  incoming: Incoming | undefined;
  noShm = 'shared memory was not set up';
  constructor(readonly socket: Socket) {}
}

export class Mesh {
  readonly #peers = new Map<number, Peer>();
  #aborted: KilnError | undefined;

  private constructor(
    readonly rank: number,
    readonly worldSize: number,
    private readonly server: Server,
  ) {}

  /** Connects this rank to every other rank of the job. */
  static async create(store: StoreClient, rank: number, worldSize: number, token: string, timeoutMs: number, prefix: string): Promise<Mesh> {
    const ring = ringBytes();
    const host = store.localAddress;
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
    server.unref();
    const mesh = new Mesh(rank, worldSize, server);
    const expected = worldSize - 1 - rank; // higher ranks dial us
    const accepted = new Promise<void>((resolve) => {
      let n = 0;
      if (expected === 0) resolve();
      server.on('connection', (s) =>
        handshake(s, token, (peerRank, rest) => {
          if (peerRank <= rank || peerRank >= worldSize || mesh.#peers.has(peerRank)) return false;
          mesh.attach(peerRank, s, rest);
          if (++n === expected) resolve();
          return true;
        }),
      );
    });
    const port = (server.address() as { port: number }).port;
    await store.set(`${prefix}/addr/${rank}`, `${host}:${port}`);
    const dialed = Array.from({ length: rank }, async (_, peer) => {
      const [h, p] = (await store.get(`${prefix}/addr/${peer}`, timeoutMs)).toString('utf8').split(/:(?=\d+$)/);
      const s = await new Promise<Socket>((resolve, reject) => {
        const c = connect({ host: h, port: Number(p) }, () => resolve(c));
        c.once('error', (e: NodeJS.ErrnoException) => reject(new KilnError('E_PEER_LOST', `rendezvous: rank ${rank} could not connect to rank ${peer} at ${h}:${p} (${e.code ?? e.message})`)));
      });
      const hello = Buffer.alloc(4);
      hello.writeUInt32LE(rank, 0);
      await writeFrame(s, hello, Buffer.from(token, 'utf8'));
      mesh.attach(peer, s);
    });
    try {
      await withTimeout(Promise.all([accepted, ...dialed]), timeoutMs, () =>
        new KilnError('E_DIST_TIMEOUT', `rendezvous: rank ${rank} could not connect to all ${worldSize} ranks within ${timeoutMs} ms (connected: ${[...mesh.#peers.keys()].sort().join(', ') || 'none'})`),
      );
      await withTimeout(mesh.offerRings(ring), timeoutMs, () =>
        new KilnError('E_DIST_TIMEOUT', `rendezvous: rank ${rank}: a peer did not answer its shared-memory offer within ${timeoutMs} ms`),
      );
    } catch (e) {
      mesh.close();
      throw e;
    }
    server.close(); // every link is up; nobody else may connect
    return mesh;
  }

  private attach(peerRank: number, socket: Socket, rest?: Buffer): void {
    socket.setNoDelay(true);
    socket.unref(); // pending collectives keep the process alive through their timeout timers
    const peer = new Peer(socket);
    this.#peers.set(peerRank, peer);
    const reader = new FrameReader(
      DATA_LIMITS,
      (head, body) => {
        const key = head.toString('latin1');
        if (key[0] !== CONTROL) return deliver(peer, key, body);
        let bad: string | undefined;
        try {
          bad = this.control(peer, key, body);
        } catch (e) {
          bad = (e as Error).message;
        }
        if (bad) this.lose(peerRank, `it sent a malformed frame (${bad})`);
      },
      (why) => this.lose(peerRank, `it sent a malformed frame (${why})`),
    );
    socket.removeAllListeners('data');
    if (rest?.length) reader.push(rest);
    socket.on('data', (c) => reader.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => this.lose(peerRank, 'its connection closed (the process exited or was killed?)'));
  }

  /** Offers a ring to every peer (unless `ring` is 0) and waits for the answers. */
  private async offerRings(ring: number): Promise<void> {
    const answers: Promise<void>[] = [];
    for (const peer of this.#peers.values()) {
      if (ring === 0) {
        peer.noShm = 'KILN_SHM_BYTES=0 turned shared memory off';
        continue;
      }
      try {
        peer.offered = new ShmSender(ring);
      } catch (e) {
        peer.noShm = (e as Error).message;
        continue;
      }
      answers.push(new Promise((resolve) => (peer.answered = resolve)));
      sendControl(peer, OFFER, peer.offered.offer());
    }
    await Promise.all(answers);
  }

  /**
   * A CHUNK notice for key: the chunk goes from the ring to the receive that streams it into place,
   * or into the payload being assembled; its slot is freed at once. Returns why it is malformed, if it is.
   */
  private chunk(peer: Peer, key: string, body: Buffer): string | undefined {
    if (!peer.receiver) return 'a shared-memory chunk on a link without shared memory';
    const c = peer.receiver.chunk(body);
    if (typeof c === 'string') return c;
    let m = peer.incoming;
    if (!m) {
      if (c.total > DATA_LIMITS.maxBody) return `a payload of ${c.total} bytes`;
      m = peer.incoming = { key, total: c.total, filled: 0 };
      const w = peer.waiting.get(key)?.[0];
      if (w?.sink) {
        // a receive that streams into place: it owns this payload from its first chunk
        take(peer, key);
        if (c.total === w.bytes) m.waiter = w;
        else w.reject(w.mismatch!(c.total)); // the rest of the payload is dropped as it comes
      } else {
        try {
          const b = hostBytes(c.total);
          m.body = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
        } catch {
          return `cannot allocate a payload of ${c.total} bytes`;
        }
      }
    } else if (m.key !== key || m.total !== c.total) return `a chunk of "${key}" inside a payload of "${m.key}"`;
    if (m.filled + c.view.length > m.total) return `a chunk past the end of a ${m.total}-byte payload`;
    if (m.waiter) {
      try {
        m.waiter.sink!(c.view, m.filled);
      } catch (e) {
        m.waiter.reject(e as Error);
        m.waiter = undefined;
      }
    } else m.body?.set(c.view, m.filled);
    m.filled += c.view.length;
    sendControl(peer, FREE, freeBody(c.slot));
    if (m.filled < m.total) return undefined;
    peer.incoming = undefined;
    if (m.waiter) m.waiter.resolve(undefined);
    else if (m.body) deliver(peer, key, m.body);
    return undefined;
  }

  /** Handles a control frame (shm-link.ts); returns why it is malformed, if it is. */
  private control(peer: Peer, head: string, body: Buffer): string | undefined {
    if (head.startsWith(CHUNK)) return this.chunk(peer, head.slice(CHUNK.length), body);
    if (head === FREE) return peer.sender?.release(body) ? undefined : 'a free notice for a slot that is not in use';
    if (head === OFFER) {
      if (peer.receiver) return 'a second shared-memory offer';
      peer.receiver = ShmReceiver.accept(body);
      sendControl(peer, ANSWER, Buffer.from([peer.receiver ? 1 : 0]));
      return undefined;
    }
    if (head === ANSWER) {
      const ring = peer.offered;
      if (!ring || body.length !== 1) return 'an answer to no shared-memory offer';
      peer.offered = undefined;
      ring.unlink();
      if (body[0] === 1) peer.sender = ring;
      else peer.noShm = 'the peer cannot map this rank\'s shared memory (another host?)';
      peer.answered?.();
      return undefined;
    }
    return `an unknown control frame ${JSON.stringify(head)}`;
  }

  private lose(peerRank: number, why: string): void {
    const peer = this.#peers.get(peerRank);
    if (!peer || peer.lost) return;
    peer.lost = this.#aborted ?? new KilnError('E_PEER_LOST', `rank ${this.rank} lost rank ${peerRank}: ${why}`);
    peer.sender?.break(peer.lost);
    peer.offered?.break(peer.lost);
    peer.answered?.();
    peer.socket.destroy();
    peer.incoming?.waiter?.reject(peer.lost);
    for (const ws of peer.waiting.values()) for (const w of ws) w.reject(peer.lost);
    peer.waiting.clear();
  }

  private peer(rank: number): Peer {
    const p = this.#peers.get(rank);
    if (!p) fail('E_ARGUMENT', `rank ${this.rank} has no link to rank ${rank} (world size ${this.worldSize})`);
    return p;
  }

  /**
   * Sends bytes to a peer under key; resolves when the socket (and, for a payload through shared
   * memory, the ring) has taken them, so the caller may reuse `bytes`.
   */
  send(to: number, key: string, bytes: Uint8Array): Promise<void> {
    const p = this.peer(to);
    if (p.lost) return Promise.reject(p.lost);
    if (key[0] === CONTROL) fail('E_ARGUMENT', `mesh keys may not start with byte 1 (reserved for control frames): ${JSON.stringify(key)}`);
    const ring = bytes.length >= SHM_MIN_BYTES ? p.sender : undefined;
    let taken: Promise<void> = Promise.resolve();
    const issue = async () => {
      if (p.lost) throw p.lost;
      if (!ring) taken = writeFrame(p.socket, Buffer.from(key, 'latin1'), bytes);
      else
        await ring.send(key, bytes, (head, body) => {
          // only the last chunk's write is awaited (below); a failed write shows up as the link's loss
          taken = writeFrame(p.socket, Buffer.from(head, 'latin1'), body);
          taken.catch(() => undefined);
        });
    };
    const issued = p.issued.then(issue, issue);
    p.issued = issued.catch(() => undefined);
    return issued
      .then(() => taken)
      .catch(() => {
        throw p.lost ?? new KilnError('E_PEER_LOST', `rank ${this.rank} could not send to rank ${to}: the connection closed`);
      });
  }

  /** How this rank sends to each peer. */
  links(): LinkInfo[] {
    return [...this.#peers.entries()]
      .sort(([a], [b]) => a - b)
      .map(([rank, p]) => (p.sender ? { rank, transport: 'shm' } : { rank, transport: 'tcp', reason: p.noShm }));
  }

  /** The next payload a peer sent under key. */
  recv(from: number, key: string): Promise<Buffer> {
    return this.wait(from, key, {}) as Promise<Buffer>;
  }

  /**
   * Streams the next payload a peer sent under key into `sink`, chunk by chunk as it comes out of
   * the shared-memory ring (no payload-sized buffer in between), or whole where it came by TCP or
   * arrived before this call. It must be `bytes` long, else the receive fails with mismatch(size).
   */
  recvInto(from: number, key: string, bytes: number, sink: Sink, mismatch: (got: number) => KilnError): Promise<void> {
    return this.wait(from, key, { sink, bytes, mismatch }) as Promise<void>;
  }

  private wait(from: number, key: string, how: Pick<Waiter, 'sink' | 'bytes' | 'mismatch'>): Promise<Buffer | undefined> {
    const p = this.peer(from);
    const q = p.arrived.get(key);
    if (q?.length) {
      const b = q.shift()!;
      if (!q.length) p.arrived.delete(key);
      return new Promise((resolve, reject) => hand({ ...how, resolve, reject }, b));
    }
    if (p.lost) return Promise.reject(p.lost);
    return new Promise((resolve, reject) => {
      const w = p.waiting.get(key), waiter = { ...how, resolve, reject };
      if (w) w.push(waiter);
      else p.waiting.set(key, [waiter]);
    });
  }

  /** Closes every link with `reason` as the error of whatever is still pending (the CPU backend's abort). */
  abort(reason: KilnError): void {
    this.#aborted ??= reason;
    for (const r of this.#peers.keys()) this.lose(r, reason.message);
    this.server.close();
  }

  close(): void {
    this.abort(new KilnError('E_PEER_LOST', `rank ${this.rank}: the process group was destroyed`));
  }
}

/** Removes and returns the first receive waiting for key. */
function take(peer: Peer, key: string): Waiter | undefined {
  const ws = peer.waiting.get(key);
  const w = ws?.shift();
  if (ws && !ws.length) peer.waiting.delete(key);
  return w;
}

/** Hands a whole payload to a receive: as it is, or through its sink once its size is checked. */
function hand(w: Waiter, body: Buffer): void {
  if (!w.sink) return w.resolve(body);
  if (body.length !== w.bytes) return w.reject(w.mismatch!(body.length));
  try {
    w.sink(body, 0);
    recycle(body); // the sink copied it out
    w.resolve(undefined);
  } catch (e) {
    w.reject(e as Error);
  }
}

/** Hands a whole payload to the receive waiting for its key, or queues it. */
function deliver(peer: Peer, key: string, body: Buffer): void {
  const w = take(peer, key);
  if (w) return hand(w, body);
  const q = peer.arrived.get(key);
  if (q) q.push(body);
  else peer.arrived.set(key, [body]);
}

/** Writes a control frame; a failure shows up as the link's loss, not here. */
function sendControl(peer: Peer, head: string, body: Buffer): void {
  writeFrame(peer.socket, Buffer.from(head, 'latin1'), body).catch(() => undefined);
}

/** Accepting side of a link: the first frame must carry a known rank and the job's token. */
function handshake(s: Socket, token: string, accept: (rank: number, rest: Buffer | undefined) => boolean): void {
  let hello: Buffer[] | undefined;
  const reader = new FrameReader(
    HELLO_LIMITS,
    (head, body) => {
      reader.stop();
      hello = [head, body];
    },
    () => s.destroy(),
  );
  const idle = setTimeout(() => s.destroy(), HELLO_TIMEOUT_MS).unref();
  s.on('data', (c) => {
    const rest = reader.push(c);
    if (!hello) return;
    clearTimeout(idle);
    const [head, body] = hello;
    const t = Buffer.from(token, 'utf8');
    const ok = head.length === 4 && body.length === t.length && timingSafeEqual(body, t) && accept(head.readUInt32LE(0), rest);
    if (!ok) s.destroy();
  });
  s.on('error', () => undefined);
}
