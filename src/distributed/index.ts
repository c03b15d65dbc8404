// kiln.distributed: process groups over NCCL or host memory, the rendezvous store, and NCCL's status.
export { init, resolveInit, type InitOptions, type InitConfig } from './init.js';
export { initLocalNccl as initLocal } from './nccl-group.js';
export type { ProcessGroup, LinkInfo, DistBackend, ReduceOp, CallOptions, ReduceOptions, RootOptions, P2POptions } from './group.js';
export { REDUCE_OPS } from './reduce-ops.js';
export { StoreServer, StoreClient, STORE_LIMITS, type StoreClientOptions } from './store.js';
export { ncclStatus, ncclCandidates, type NcclStatus } from './nccl.js';
