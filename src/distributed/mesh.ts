// The CPU backend's transport: one TCP connection between every pair of ranks, set up through the
// store (each rank publishes where it listens; the higher rank dials the lower one and presents the
// token and its rank). Messages are frames whose head is a string key; a receiver asks for
// (peer, key) and gets the payloads sent under that key in order. A connection that closes or
// sends garbage makes its peer lost: every pending and later receive from it fails with E_PEER_LOST.
import { constants } from 'node:buffer';
import { timingSafeEqual } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { KilnError, fail } from '../errors.js';
import { FrameReader, HELLO_TIMEOUT_MS, writeFrame } from './frames.js';
import type { StoreClient } from './store.js';
import { withTimeout } from './timeout.js';

const HELLO_LIMITS = { maxHead: 4, maxBody: 1024 };
// Keys are short ASCII; payloads are whole tensors, up to the largest Buffer Node can allocate.
const DATA_LIMITS = { maxHead: 256, maxBody: constants.MAX_LENGTH };


interface Waiter {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

class Peer {
  readonly arrived = new Map<string, Buffer[]>();
  readonly waiting = new Map<string, Waiter[]>();
  lost: KilnError | undefined;
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
        const w = peer.waiting.get(key);
        if (w?.length) {
          w.shift()!.resolve(body);
          if (!w.length) peer.waiting.delete(key);
        } else {
          const q = peer.arrived.get(key);
          if (q) q.push(body);
          else peer.arrived.set(key, [body]);
        }
      },
      (why) => this.lose(peerRank, `it sent a malformed frame (${why})`),
    );
    socket.removeAllListeners('data');
    if (rest?.length) reader.push(rest);
    socket.on('data', (c) => reader.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => this.lose(peerRank, 'its connection closed (the process exited or was killed?)'));
  }

  private lose(peerRank: number, why: string): void {
    const peer = this.#peers.get(peerRank);
    if (!peer || peer.lost) return;
    peer.lost = this.#aborted ?? new KilnError('E_PEER_LOST', `rank ${this.rank} lost rank ${peerRank}: ${why}`);
    peer.socket.destroy();
    for (const ws of peer.waiting.values()) for (const w of ws) w.reject(peer.lost);
    peer.waiting.clear();
  }

  private peer(rank: number): Peer {
    const p = this.#peers.get(rank);
    if (!p) fail('E_ARGUMENT', `rank ${this.rank} has no link to rank ${rank} (world size ${this.worldSize})`);
    return p;
  }

  /** Sends bytes to a peer under key; resolves when the socket has taken them. */
  send(to: number, key: string, bytes: Uint8Array): Promise<void> {
    const p = this.peer(to);
    if (p.lost) return Promise.reject(p.lost);
    return writeFrame(p.socket, Buffer.from(key, 'latin1'), bytes).catch(() => {
      throw p.lost ?? new KilnError('E_PEER_LOST', `rank ${this.rank} could not send to rank ${to}: the connection closed`);
    });
  }

  /** The next payload a peer sent under key. */
  recv(from: number, key: string): Promise<Buffer> {
    const p = this.peer(from);
    const q = p.arrived.get(key);
    if (q?.length) {
      const b = q.shift()!;
      if (!q.length) p.arrived.delete(key);
      return Promise.resolve(b);
    }
    if (p.lost) return Promise.reject(p.lost);
    return new Promise((resolve, reject) => {
      const w = p.waiting.get(key);
      if (w) w.push({ resolve, reject });
      else p.waiting.set(key, [{ resolve, reject }]);
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
