import { BACKEND_KINDS, backend, backendReason, type BackendKind, type DeviceInfo } from './backends/index.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativePath, packageRoot, tryNative } from './native.js';
import { createRequire } from 'node:module';
import { ncclStatus, type NcclStatus } from './distributed/nccl.js';
import { loadCublasLt } from './backends/cublas.js';

export interface KilnInfo {
  version: string;
  node: string;
  platform: string;
  native: { loaded: boolean; path?: string; builder?: string; compiler?: string; napiVersion?: number; cudaCompiled?: boolean; cudaRuntime?: string };
  backends: Record<BackendKind, { available: boolean; reason?: string; devices: DeviceInfo[] }>;
  libraries: Record<string, string | undefined>;
  /** NCCL, loaded at run time: its version and path, or why it is absent. */
  nccl: NcclStatus;
}

const require = createRequire(import.meta.url);

function version(pkg: string): string | undefined {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return undefined;
  }
}

const fmtCuda = (v: number) => (v ? `${Math.floor(v / 1000)}.${(v % 1000) / 10}` : undefined);

/** cuBLASLt's version and path when it loads (the cuda matmul peer), else undefined. */
function cublasLtVersion(): string | undefined {
  try {
    const { path, version } = loadCublasLt();
    return `${version} (${path})`;
  } catch {
    return undefined;
  }
}

/** What Kiln found on this host: devices per backend, why a backend is absent, build and library versions. */
export function info(): KilnInfo {
  const addon = tryNative();
  const n = addon?.info();
  const backends = {} as KilnInfo['backends'];
  for (const k of BACKEND_KINDS) {
    const devices = backend(k)?.devices() ?? [];
    backends[k] = { available: devices.length > 0, reason: backendReason(k), devices };
  }
  if (n && !n.cuda.compiled) backends.cuda.reason ??= n.cuda.reason;
  if (n && n.cuda.compiled && n.cuda.deviceCount === 0 && !backends.cuda.reason?.includes(n.cuda.reason)) backends.cuda.reason = `${backends.cuda.reason}; CUDA runtime says: ${n.cuda.reason}`;
  return {
    version: (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    native: {
      loaded: !!addon,
      path: nativePath(),
      builder: n?.builder,
      compiler: n?.compiler,
      napiVersion: n?.napiVersion,
      cudaCompiled: n?.cuda.compiled,
      cudaRuntime: n ? fmtCuda(n.cuda.runtimeVersion) : undefined,
    },
    backends,
    libraries: {
      'onnxruntime-node': version('onnxruntime-node'),
      'cuda-driver': n ? fmtCuda(n.cuda.driverVersion) : undefined,
      cublasLt: n?.cuda.compiled ? cublasLtVersion() : undefined,
    },
    nccl: ncclStatus(),
  };
}
