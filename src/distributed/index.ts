// kiln.distributed: process groups over NCCL or host memory, the rendezvous store, and NCCL's status.
// The folder, by layer:
//   init.ts        config from torchrun's variables, rendezvous, the world group per backend
//   group.ts       the ProcessGroup contract and argument checks both backends share
//   store.ts       the TCP key-value store (token, bounded frames), frames.ts its framing
//   cpu-group.ts   the CPU backend's collectives over mesh.ts (TCP links between ranks, with
//                  shm-link.ts's shared-memory rings on one host), reduce-ops.ts, tensor-io.ts,
//                  host-bytes.ts (recycled payload arrays)
//   nccl-group.ts  the NCCL backend's collectives on CUDA streams; nccl-comm.ts one communicator's
//                  life (bounded waits, abort once, groups); nccl.ts finding and loading libnccl
//   timeout.ts     withTimeout
export { init, resolveInit, type InitOptions, type InitConfig } from './init.js';
export { initLocalNccl as initLocal } from './nccl-group.js';
export type { ProcessGroup, LinkInfo, DistBackend, ReduceOp, CallOptions, ReduceOptions, RootOptions, P2POptions } from './group.js';
export { REDUCE_OPS } from './reduce-ops.js';
export { StoreServer, StoreClient, STORE_LIMITS, type StoreClientOptions } from './store.js';
export { ncclStatus, ncclCandidates, type NcclStatus } from './nccl.js';
