// Finding and loading libnccl.so.2 at run time, and NCCL's result codes as KilnErrors.
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { tryNative, type NativeNccl } from '../native.js';
import { pythonSitePackages } from '../python-sites.js';

/**
 * Where Kiln looks for NCCL, in order: $KILN_NCCL_PATH alone when set (an explicit choice that fails
 * is reported, never replaced by another copy), else the dynamic loader's search path, else the pip
 * wheel layout (nvidia-nccl-cu12 and friends) under each of python3's site-packages folders.
 */
export function ncclCandidates(env: Record<string, string | undefined>, sitePackages: readonly string[]): string[] {
  if (env.KILN_NCCL_PATH) return [env.KILN_NCCL_PATH];
  return ['libnccl.so.2', ...sitePackages.map((d) => join(d, 'nvidia', 'nccl', 'lib', 'libnccl.so.2'))];
}

/** NCCL's version code (2.21.5 is 22105; before 2.9, 2.8.4 was 2804) as 'major.minor.patch'. */
export function ncclVersionString(code: number): string {
  const [major, rest] = code >= 20900 ? [Math.floor(code / 10000), code % 10000] : [Math.floor(code / 1000), code % 1000];
  return `${major}.${Math.floor(rest / 100)}.${rest % 100}`;
}

export interface NcclStatus {
  version?: string;
  path?: string;
  /** NCCL 2.27 and newer: communicators are nonblocking, so every wait on NCCL has a deadline (nccl-comm.ts). */
  nonblocking?: boolean;
  /** Why NCCL is unavailable. */
  reason?: string;
}

let status: NcclStatus | undefined;
/** Loads NCCL once per process (or says why it cannot). */
export function ncclStatus(): NcclStatus {
  if (status) return status;
  const addon = tryNative();
  if (!addon) return (status = { reason: 'the native addon is not loaded' });
  const r = addon.nccl.load(ncclCandidates(process.env, process.env.KILN_NCCL_PATH ? [] : pythonSitePackages()));
  const old = r.error ? undefined : ncclTooOld(r.version ?? 0);
  status = r.error ? { reason: r.error } : old ? { reason: `${old} (${r.path})` } : { version: ncclVersionString(r.version ?? 0), path: r.path, nonblocking: !!r.nonblocking };
  return status;
}

/** NCCL 2.10.3 is the first with bfloat16 and avg (ncclBfloat16 = 9, ncclAvg = 4); older ones are refused. */
export const NCCL_MIN_VERSION = 21003;

/** Why an NCCL of this version code cannot serve Kiln, if it cannot. */
export function ncclTooOld(code: number): string | undefined {
  const comparable = code >= 20900 ? code : Math.floor(code / 1000) * 10000 + (code % 1000); // 2.8.4 = 2804 -> 20804
  return comparable < NCCL_MIN_VERSION ? `NCCL ${ncclVersionString(code)} is older than 2.10.3, the first with bfloat16 and avg` : undefined;
}

// ncclResult_t values that mean a peer or the network went away rather than a local mistake
const NCCL_SYSTEM_ERROR = 2, NCCL_REMOTE_ERROR = 6;

/** The KilnError for a failed NCCL call: E_PEER_LOST for system/remote errors, else E_NCCL; the message carries ncclGetErrorString. */
export function ncclFailure(fn: string, result: number, text: string): KilnError {
  const code = result === NCCL_SYSTEM_ERROR || result === NCCL_REMOTE_ERROR ? 'E_PEER_LOST' : 'E_NCCL';
  return new KilnError(code, `${fn}: NCCL error ${result}: ${text}`);
}

/** Throws the KilnError of a non-zero ncclResult_t. */
export function ncclCheck(nccl: NativeNccl, fn: string, result: number): void {
  if (result !== 0) throw ncclFailure(fn, result, nccl.errorString(result));
}
