// kiln.distributed.init: options default from the variables torchrun (and `kiln launch`) set; rank 0
// serves the rendezvous store; the chosen backend builds the world process group.
import { describeValue, optionsArg } from '../args.js';
import { randomBytes } from 'node:crypto';
import { fail } from '../errors.js';
import { CpuProcessGroup } from './cpu-group.js';
import type { DistBackend, ProcessGroup } from './group.js';
import { Mesh } from './mesh.js';
import { initNccl } from './nccl-group.js';
import { StoreClient, StoreServer } from './store.js';

export interface InitOptions {
  /** 'cpu' (host memory, any device's tensors) or 'nccl' (CUDA tensors). Default $KILN_DIST_BACKEND, else 'cpu'. */
  backend?: DistBackend;
  /** Default $RANK, else 0. */
  rank?: number;
  /** Default $WORLD_SIZE, else 1. */
  worldSize?: number;
  /** This process's index on its node (its GPU for NCCL). Default $LOCAL_RANK, else rank. */
  localRank?: number;
  /** Default $LOCAL_WORLD_SIZE, else worldSize. */
  localWorldSize?: number;
  /** Host of rank 0's store. Default $MASTER_ADDR, else 127.0.0.1. */
  masterAddr?: string;
  /** Port of rank 0's store. Default $MASTER_PORT; required when worldSize > 1. */
  masterPort?: number;
  /** The job's shared secret, presented to the store and to peers. Default $KILN_DIST_TOKEN (kiln launch sets it); required when worldSize > 1. */
  token?: string;
  /** Rendezvous and default per-call timeout in ms. Default $KILN_DIST_TIMEOUT_MS, else 300000. */
  timeoutMs?: number;
}

export type InitConfig = Required<InitOptions>;

function intFrom(name: string, given: number | undefined, env: string | undefined, dflt: number | undefined, min: number): number {
  const v = given ?? (env !== undefined && env !== '' ? Number(env) : dflt);
  if (v === undefined) fail('E_ARGUMENT', `distributed.init: ${name} is not set (pass it or set the variable kiln launch sets)`);
  if (!Number.isSafeInteger(v) || v < min) fail('E_ARGUMENT', `distributed.init: ${name} must be an integer >= ${min}, got ${given ?? env}`);
  return v;
}

/** The complete configuration from options, then the environment, then defaults (a pure function). */
export function resolveInit(options?: InitOptions, env: Record<string, string | undefined> = process.env): InitConfig {
  const o = optionsArg('distributed.init', options, ['backend', 'rank', 'worldSize', 'localRank', 'localWorldSize', 'masterAddr', 'masterPort', 'token', 'timeoutMs']);
  const backend = o.backend ?? (env.KILN_DIST_BACKEND as DistBackend | undefined) ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'nccl') fail('E_ARGUMENT', `distributed.init: unknown backend ${describeValue(backend)}; expected 'cpu' or 'nccl'`);
  const worldSize = intFrom('worldSize ($WORLD_SIZE)', o.worldSize, env.WORLD_SIZE, 1, 1);
  const rank = intFrom('rank ($RANK)', o.rank, env.RANK, 0, 0);
  if (rank >= worldSize) fail('E_ARGUMENT', `distributed.init: rank ${rank} is not below worldSize ${worldSize}`);
  const localWorldSize = intFrom('localWorldSize ($LOCAL_WORLD_SIZE)', o.localWorldSize, env.LOCAL_WORLD_SIZE, worldSize, 1);
  const localRank = intFrom('localRank ($LOCAL_RANK)', o.localRank, env.LOCAL_RANK, rank, 0);
  const single = worldSize === 1;
  const masterPort = intFrom('masterPort ($MASTER_PORT)', o.masterPort, env.MASTER_PORT, single ? 0 : undefined, 0);
  if (masterPort > 65535) fail('E_ARGUMENT', `distributed.init: masterPort ${masterPort} is not a TCP port`);
  const token = o.token ?? env.KILN_DIST_TOKEN ?? (single ? randomBytes(16).toString('hex') : undefined);
  if (!token) fail('E_ARGUMENT', 'distributed.init: no token; set KILN_DIST_TOKEN to the same secret in every rank (kiln launch does this)');
  const timeoutMs = intFrom('timeoutMs ($KILN_DIST_TIMEOUT_MS)', o.timeoutMs, env.KILN_DIST_TIMEOUT_MS, 300_000, 1);
  return { backend, rank, worldSize, localRank, localWorldSize, masterAddr: o.masterAddr ?? env.MASTER_ADDR ?? '127.0.0.1', masterPort, token, timeoutMs };
}

/** Rank 0 serves the store; every rank connects to it. */
export async function rendezvous(c: InitConfig): Promise<{ store: StoreClient; server?: StoreServer }> {
  const server = c.rank === 0 ? await StoreServer.listen(c.masterAddr, c.masterPort, c.token) : undefined;
  try {
    const store = await StoreClient.connect({ host: c.masterAddr, port: server?.port ?? c.masterPort, token: c.token, timeoutMs: c.timeoutMs });
    return { store, server };
  } catch (e) {
    await server?.close();
    throw e;
  }
}

/** Waits until every rank has reached this point (so rank 0 keeps serving the store until all are set up). */
export async function storeBarrier(store: StoreClient, name: string, worldSize: number, timeoutMs: number): Promise<void> {
  if ((await store.add(`${name}/arrived`, 1)) === worldSize) await store.set(`${name}/all`, '1');
  await store.get(`${name}/all`, timeoutMs);
}

/**
 * Joins the job and returns its world process group. Every rank calls it; rank 0 serves the
 * rendezvous store at masterAddr:masterPort.
 */
export async function init(options?: InitOptions): Promise<ProcessGroup> {
  const c = resolveInit(options);
  if (c.backend === 'nccl') return initNccl(c);
  const { store, server } = await rendezvous(c);
  try {
    const mesh = await Mesh.create(store, c.rank, c.worldSize, c.token, c.timeoutMs, 'cpu');
    await storeBarrier(store, 'cpu/init', c.worldSize, c.timeoutMs);
    const ranks = Array.from({ length: c.worldSize }, (_, r) => r);
    return new CpuProcessGroup({ mesh, store, server, timeoutMs: c.timeoutMs, nextGroupId: 1 }, ranks, 0);
  } catch (e) {
    store.close();
    await server?.close();
    throw e;
  }
}
