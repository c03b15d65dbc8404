// The rendezvous store: a TCP key-value store served by rank 0 (set, get, wait, add, with timeouts).
// Every connection must first present the job's shared token; anything else, and any malformed or
// oversized frame, closes that one connection and leaves the server and its other clients alone.
import { timingSafeEqual } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { KilnError, fail } from '../errors.js';
import { FrameReader, HELLO_TIMEOUT_MS, writeFrame } from './frames.js';

/** Longest key and value the store accepts (values are small: addresses, NCCL ids, counters). */
export const STORE_LIMITS = { maxKey: 1024, maxValue: 1 << 20 } as const;

const enum Op {
  Hello = 1,
  Set = 2,
  Get = 3,
  Add = 4,
}
const enum Status {
  Ok = 0,
  Timeout = 1,
  Refused = 2,
}

// request head: [u8 op][u32 id][u32 timeout ms][key utf8]; response head: [u8 status][u32 id]
const REQ_HEAD = 9;
const LIMITS = { maxHead: REQ_HEAD + STORE_LIMITS.maxKey, maxBody: STORE_LIMITS.maxValue };

function sameToken(a: string, b: Buffer): boolean {
  const x = Buffer.from(a, 'utf8');
  return x.length === b.length && timingSafeEqual(x, b);
}

/** The server side, run by rank 0. */
export class StoreServer {
  readonly #values = new Map<string, Buffer>();
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly token: string,
  ) {}

  /** Listens on host:port (port 0 picks a free one; see `port`). */
  static listen(host: string, port: number, token: string): Promise<StoreServer> {
    if (!token) fail('E_ARGUMENT', 'StoreServer.listen: a non-empty token is required');
    const server = createServer();
    const store = new StoreServer(server, token);
    server.on('connection', (s) => store.accept(s));
    return new Promise((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(new KilnError('E_ARGUMENT', `store: cannot listen on ${host}:${port}: ${e.code ?? e.message}`)),
      );
      server.listen(port, host, () => {
        server.unref(); // the ranks' own pending requests (and their timers) keep the process alive
        resolve(store);
      });
    });
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    socket.unref();
    let authed = false;
    const drop = () => socket.destroy();
    const idle = setTimeout(drop, HELLO_TIMEOUT_MS).unref(); // must present the token promptly
    const reader = new FrameReader(
      LIMITS,
      (head, body) => {
        if (head.length < REQ_HEAD) return drop();
        const op = head.readUInt8(0), id = head.readUInt32LE(1), timeoutMs = head.readUInt32LE(5);
        const key = head.subarray(REQ_HEAD).toString('utf8');
        if (!authed) {
          if (op !== Op.Hello) return drop();
          if (!sameToken(this.token, body)) {
            reply(Status.Refused, id).finally(drop);
            return;
          }
          authed = true;
          clearTimeout(idle);
          return void reply(Status.Ok, id);
        }
        if (op === Op.Set) {
          this.#values.set(key, body);
          this.#waiters.get(key)?.forEach((w) => w());
          return void reply(Status.Ok, id);
        }
        if (op === Op.Add) {
          if (body.length !== 8) return drop();
          const prev = this.#values.get(key);
          const next = (prev?.length === 8 ? prev.readDoubleLE(0) : 0) + body.readDoubleLE(0);
          const v = Buffer.alloc(8);
          v.writeDoubleLE(next, 0);
          this.#values.set(key, v);
          this.#waiters.get(key)?.forEach((w) => w());
          return void reply(Status.Ok, id, v);
        }
        if (op === Op.Get) return this.whenSet(key, timeoutMs, socket, (v) => void reply(v ? Status.Ok : Status.Timeout, id, v));
        drop();
      },
      drop,
    );
    const reply = (status: Status, id: number, value?: Buffer) => {
      const head = Buffer.alloc(5);
      head.writeUInt8(status, 0);
      head.writeUInt32LE(id, 1);
      return writeFrame(socket, head, value).catch(() => undefined);
    };
    socket.on('data', (c) => reader.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => this.#sockets.delete(socket));
  }

  private whenSet(key: string, timeoutMs: number, socket: Socket, done: (v: Buffer | undefined) => void): void {
    const now = this.#values.get(key);
    if (now) return done(now);
    let set = this.#waiters.get(key);
    if (!set) this.#waiters.set(key, (set = new Set()));
    const finish = (v: Buffer | undefined) => {
      clearTimeout(timer);
      set!.delete(waiter);
      socket.off('close', gone);
      if (!socket.destroyed) done(v);
    };
    const waiter = () => finish(this.#values.get(key));
    const gone = () => finish(undefined);
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    set.add(waiter);
    socket.on('close', gone);
  }
}

export interface StoreClientOptions {
  host: string;
  port: number;
  token: string;
  /** How long to keep retrying the connection and the default timeout of get/wait (ms). */
  timeoutMs: number;
}

/** A connection to the store. Every request resolves, or rejects with E_DIST_TIMEOUT, E_PEER_LOST or E_DIST_AUTH. */
export class StoreClient {
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (r: { status: number; value: Buffer }) => void; reject: (e: Error) => void }>();
  #lost: KilnError | undefined;

  private constructor(
    readonly socket: Socket,
    readonly timeoutMs: number,
    private readonly where: string,
  ) {
    const reader = new FrameReader(
      { maxHead: 5, maxBody: STORE_LIMITS.maxValue + 8 },
      (head, body) => {
        if (head.length !== 5) return this.lose('it sent a malformed reply');
        const p = this.#pending.get(head.readUInt32LE(1));
        this.#pending.delete(head.readUInt32LE(1));
        p?.resolve({ status: head.readUInt8(0), value: body });
      },
      (why) => this.lose(why),
    );
    socket.on('data', (c) => reader.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => this.lose('the connection closed'));
  }

  /** Connects (retrying while the server is not up yet, until timeoutMs) and presents the token. */
  static async connect(o: StoreClientOptions): Promise<StoreClient> {
    const where = `${o.host}:${o.port}`;
    const deadline = Date.now() + o.timeoutMs;
    for (;;) {
      const socket = await new Promise<Socket | Error>((resolve) => {
        const s = connect({ host: o.host, port: o.port });
        s.once('connect', () => resolve(s));
        s.once('error', (e) => resolve(e));
      });
      if (socket instanceof Error) {
        if (Date.now() > deadline)
          fail('E_DIST_TIMEOUT', `store: could not connect to ${where} within ${o.timeoutMs} ms (${(socket as NodeJS.ErrnoException).code ?? socket.message})`);
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      socket.setNoDelay(true);
      socket.unref();
      const client = new StoreClient(socket, o.timeoutMs, where);
      const r = await client.request(Op.Hello, '', Buffer.from(o.token, 'utf8'), o.timeoutMs);
      if (r.status !== Status.Ok) {
        socket.destroy();
        fail('E_DIST_AUTH', `store at ${where} refused this process's token (KILN_DIST_TOKEN differs from the one the store was started with)`);
      }
      return client;
    }
  }

  /** The local address of this connection: the interface through which peers can reach this host. */
  get localAddress(): string {
    return this.socket.localAddress ?? '127.0.0.1';
  }

  async set(key: string, value: Uint8Array | string): Promise<void> {
    await this.request(Op.Set, key, typeof value === 'string' ? Buffer.from(value, 'utf8') : value, this.timeoutMs);
  }

  /** The value of key, waiting until some client sets it (E_DIST_TIMEOUT after timeoutMs). */
  async get(key: string, timeoutMs = this.timeoutMs): Promise<Buffer> {
    const r = await this.request(Op.Get, key, undefined, timeoutMs);
    if (r.status !== Status.Ok) fail('E_DIST_TIMEOUT', `store: key '${key}' was not set within ${timeoutMs} ms`);
    return r.value;
  }

  /** Waits until every key is set. */
  async wait(keys: readonly string[], timeoutMs = this.timeoutMs): Promise<void> {
    await Promise.all(keys.map((k) => this.get(k, timeoutMs)));
  }

  /** Atomically adds delta to the number stored at key (0 when unset) and returns the new value. */
  async add(key: string, delta: number): Promise<number> {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(delta, 0);
    const r = await this.request(Op.Add, key, b, this.timeoutMs);
    return r.value.readDoubleLE(0);
  }

  close(): void {
    this.socket.destroy();
  }

  private request(op: Op, key: string, value: Uint8Array | undefined, timeoutMs: number): Promise<{ status: number; value: Buffer }> {
    if (this.#lost) return Promise.reject(this.#lost);
    const k = Buffer.from(key, 'utf8');
    if (k.length > STORE_LIMITS.maxKey) fail('E_ARGUMENT', `store: key of ${k.length} bytes exceeds the limit of ${STORE_LIMITS.maxKey}`);
    if (value && value.length > STORE_LIMITS.maxValue) fail('E_ARGUMENT', `store: value of ${value.length} bytes exceeds the limit of ${STORE_LIMITS.maxValue}`);
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0) fail('E_ARGUMENT', `store: invalid timeout ${timeoutMs}`);
    const id = this.#nextId++;
    const head = Buffer.alloc(REQ_HEAD + k.length);
    head.writeUInt8(op, 0);
    head.writeUInt32LE(id, 1);
    head.writeUInt32LE(Math.min(timeoutMs, 0xffffffff), 5);
    head.set(k, REQ_HEAD);
    return new Promise((resolve, reject) => {
      // the server answers a timed-out get itself; this timer only catches a server that went silent
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new KilnError('E_DIST_TIMEOUT', `store at ${this.where} did not answer within ${timeoutMs + 5000} ms`));
      }, timeoutMs + 5000);
      this.#pending.set(id, {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      writeFrame(this.socket, head, value).catch(() => undefined);
    });
  }

  private lose(why: string): void {
    if (this.#lost) return;
    this.#lost = new KilnError('E_PEER_LOST', `store at ${this.where} was lost: ${why}`);
    this.socket.destroy();
    for (const p of this.#pending.values()) p.reject(this.#lost);
    this.#pending.clear();
  }
}
