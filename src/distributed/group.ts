// The process-group API every distributed backend implements, and the argument checks they share.
import { describeValue, optionsArg } from '../args.js';
import { fail } from '../errors.js';
import { fmtShape } from '../shape.js';
import { Tensor, checkTensor } from '../tensor.js';
import { checkReduce, type ReduceOp } from './reduce-ops.js';

export type { ReduceOp } from './reduce-ops.js';
export type DistBackend = 'cpu' | 'nccl';

export interface CallOptions {
  /** Fail with E_DIST_TIMEOUT (and abort the group) when the call has not completed by then. Default: the group's timeoutMs. */
  timeoutMs?: number;
}
export interface ReduceOptions extends CallOptions {
  /** Default 'sum'. 'avg' needs a float dtype; bool takes 'max' (or) and 'min' (and). */
  op?: ReduceOp;
}
export interface RootOptions extends CallOptions {
  /** The rank (in this group) that sends (broadcast) or receives the result (reduce). Default 0. */
  root?: number;
}
export interface P2POptions extends CallOptions {
  /** Matches a send with a recv of the same tag; messages with one tag arrive in order. Default 0. */
  tag?: number;
}

/** The options each call takes; any other key is E_ARGUMENT (a misspelt `root` would broadcast from 0). */
const CALL_OPTIONS = {
  allReduce: ['op', 'timeoutMs'], broadcast: ['root', 'timeoutMs'], reduce: ['root', 'op', 'timeoutMs'],
  allGather: ['timeoutMs'], reduceScatter: ['op', 'timeoutMs'], allToAll: ['timeoutMs'],
  send: ['tag', 'timeoutMs'], recv: ['tag', 'timeoutMs'], barrier: ['timeoutMs'],
} as const;

/** A call's timeout: its own timeoutMs option, else the group's; a positive integer or E_ARGUMENT. */
export function callTimeout(method: string, o: CallOptions | undefined, groupTimeoutMs: number): number {
  const timeoutMs = o?.timeoutMs ?? groupTimeoutMs;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) fail('E_ARGUMENT', `${method}: timeoutMs must be a positive integer, got ${describeValue(timeoutMs)}`);
  return timeoutMs;
}

/** A call's options, checked: undefined, or an object with only the keys `method` takes. */
export function callOptions<T extends CallOptions>(method: keyof typeof CALL_OPTIONS, o: T | undefined): T | undefined {
  return o === undefined ? o : (optionsArg(method, o, CALL_OPTIONS[method] as readonly (keyof T & string)[]) as T);
}

/**
 * A group of processes that run collectives together. Every member must make the same calls in the
 * same order. Each call returns a promise; calls on one group run one after another, ordered with
 * the device queue of their tensors (inputs are read after the work queued on them, results are
 * queued before anything enqueued after the call settles). A call that fails (E_DIST_TIMEOUT,
 * E_PEER_LOST) aborts the group: every later call fails at once.
 */
/** How payloads of 64 KiB and more go from this rank to another member. */
export interface LinkInfo {
  rank: number;
  transport: 'shm' | 'tcp';
  reason?: string;
}

export interface ProcessGroup {
  readonly backend: DistBackend;
  /** This process's rank in the group, 0 .. worldSize-1. */
  readonly rank: number;
  readonly worldSize: number;
  /** The job-wide ranks of the members, in group-rank order. */
  readonly ranks: readonly number[];
  /** In place: t becomes the reduction of every rank's t. Resolves with t. */
  allReduce(t: Tensor, options?: ReduceOptions): Promise<Tensor>;
  /** In place: t becomes root's t on every rank. Resolves with t. */
  broadcast(t: Tensor, options?: RootOptions): Promise<Tensor>;
  /** In place on root: t becomes the reduction of every rank's t; other ranks' t is unchanged. */
  reduce(t: Tensor, options?: RootOptions & ReduceOptions): Promise<Tensor>;
  /** A new tensor [worldSize, ...t.shape]: row r is rank r's t. */
  allGather(t: Tensor, options?: CallOptions): Promise<Tensor>;
  /** t is [worldSize * k, ...]; a new tensor [k, ...]: this rank's block of the reduction. */
  reduceScatter(t: Tensor, options?: ReduceOptions): Promise<Tensor>;
  /** t is [worldSize * k, ...]; a new tensor of t's shape whose block r is block `rank` of rank r's t. */
  allToAll(t: Tensor, options?: CallOptions): Promise<Tensor>;
  /** Sends t to group rank dst (which must recv with the same tag). */
  send(t: Tensor, dst: number, options?: P2POptions): Promise<void>;
  /** In place: t receives what group rank src sent with the same tag. Resolves with t. */
  recv(t: Tensor, src: number, options?: P2POptions): Promise<Tensor>;
  /** Resolves when every member has reached the barrier. */
  barrier(options?: CallOptions): Promise<void>;
  /**
   * The cpu backend: how this rank sends to each other member (group ranks), 'shm' between ranks on
   * one host, else 'tcp' with the reason. NCCL picks its own transports, so its groups lack it.
   */
  links?(): LinkInfo[];
  /**
   * A subgroup of job-wide `ranks` (a subset of this group's members). Every member of this group
   * must call it, in the same order; members of the subgroup get it, the others get undefined.
   */
  newGroup(ranks: readonly number[]): Promise<ProcessGroup | undefined>;
  /** Ends the group: later calls fail with E_DISPOSED. Destroying the world group also closes the links, the store and every subgroup. */
  destroy(): Promise<void>;
}

/** E_ARGUMENT unless t is a live Tensor (E_DISPOSED if it was disposed). */
export function checkLiveTensor(where: string, t: unknown): Tensor {
  const tensor = checkTensor(where, t);
  tensor.storageFor(where);
  return tensor;
}

export const checkOp = (where: string, t: Tensor, o: ReduceOptions | undefined): ReduceOp => checkReduce(where, o?.op ?? 'sum', checkLiveTensor(where, t).dtype);

export function checkRank(where: string, what: string, r: unknown, worldSize: number): number {
  if (!Number.isInteger(r) || (r as number) < 0 || (r as number) >= worldSize)
    fail('E_ARGUMENT', `${where}: ${what} ${describeValue(r)} is not a rank of a group of ${worldSize}`);
  return r as number;
}

/** A point-to-point peer: a rank of the group other than this one. */
export function checkPeer(where: string, what: 'dst' | 'src', r: unknown, self: number, worldSize: number): number {
  checkRank(where, what, r, worldSize);
  if (r === self) fail('E_ARGUMENT', `${where}: rank ${self} cannot ${what === 'dst' ? 'send to' : 'receive from'} itself`);
  return r as number;
}

export function checkTag(where: string, tag: unknown): number {
  if (!Number.isSafeInteger(tag) || (tag as number) < 0) fail('E_ARGUMENT', `${where}: tag must be a non-negative integer, got ${describeValue(tag)}`);
  return tag as number;
}

/** The rows per rank of a tensor that is split into worldSize blocks along dim 0. */
export function blockRows(where: string, t: Tensor, worldSize: number): number {
  checkLiveTensor(where, t);
  if (t.rank === 0 || t.shape[0] % worldSize !== 0)
    fail('E_SHAPE', `${where}: needs a tensor whose first dim divides into ${worldSize} blocks, got ${t.dtype}${fmtShape(t.shape)}`);
  return t.shape[0] / worldSize;
}

/** Sorted unique job-wide ranks that all belong to `members`, or E_ARGUMENT. */
export function checkSubgroup(ranks: readonly number[], members: readonly number[]): number[] {
  const why = `newGroup: ranks ${describeValue(ranks)} must be distinct members of this group [${members.join(', ')}]`;
  if (!Array.isArray(ranks) || !ranks.every((r) => Number.isSafeInteger(r))) fail('E_ARGUMENT', why);
  const out = [...new Set(ranks)].sort((a, b) => a - b);
  if (out.length === 0 || out.length !== ranks.length || out.some((r) => !members.includes(r))) fail('E_ARGUMENT', why);
  return out;
}
