/** Stable error codes. A code never changes meaning; messages may improve. */
export type KilnErrorCode =
  | 'E_SHAPE' // shapes do not fit the op (broadcast, rank, sizes)
  | 'E_DTYPE' // a dtype the op does not accept, or an unknown dtype
  | 'E_DEVICE' // tensors on different devices, or an unknown/absent device
  | 'E_DEVICE_LOST' // the device failed; every later call on it fails
  | 'E_DISPOSED' // a tensor used after dispose()
  | 'E_ARGUMENT' // a bad argument value (axis, index, option)
  | 'E_OOM' // out of memory on the device
  | 'E_UNSUPPORTED' // the backend has no kernel for this op and dtypes
  | 'E_NATIVE' // the native addon failed to load or reported an internal error
  | 'E_INDEX' // an index out of range
  | 'E_DIST_TIMEOUT' // a collective, rendezvous or store request outlived its timeout
  | 'E_PEER_LOST' // a peer process (or the rendezvous store) closed its connection or sent garbage
  | 'E_DIST_AUTH' // the rendezvous store or a peer refused this process's token
  | 'E_NCCL' // NCCL returned an error (the message carries ncclGetErrorString)
  | 'E_ENGINE_LOST' // an ort session's onnxruntime process ended (a crash, or stopped past ort.timeoutMs); every later call on it fails
  | 'E_ABORTED'; // the call's AbortSignal fired (the `signal` option); the error's cause is the signal's reason

/** The one error type Kiln throws. `code` is stable; match on it, not on the message. */
export class KilnError extends Error {
  readonly code: KilnErrorCode;
  constructor(code: KilnErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KilnError';
    this.code = code;
  }
}

export function fail(code: KilnErrorCode, message: string): never {
  throw new KilnError(code, message);
}

/** `e` itself when it is a KilnError, else a KilnError with `code` and e's message. */
export function asKilnError(e: unknown, code: KilnErrorCode = 'E_NATIVE'): KilnError {
  return e instanceof KilnError ? e : new KilnError(code, e instanceof Error ? e.message : String(e));
}
