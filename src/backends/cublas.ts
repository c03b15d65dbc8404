import { join } from 'node:path';
import { native } from '../native.js';
import { pythonSitePackages } from '../python-sites.js';

/** The cuBLASLt sonames Kiln accepts, newest first. */
export const CUBLASLT_SONAMES = ['libcublasLt.so.13', 'libcublasLt.so.12'] as const;

/**
 * Where cuBLASLt is looked for, in order: $KILN_CUBLASLT_PATH, then the sonames on the loader's
 * search path (LD_LIBRARY_PATH, ld.so.cache), then the pip-wheel layout
 * (site-packages/nvidia/cublas/lib) under each of python3's site-packages folders.
 */
export function cublasLtCandidates(o: { envPath?: string; sitePackages?: readonly string[] }): string[] {
  const out: string[] = [];
  if (o.envPath) out.push(o.envPath);
  out.push(...CUBLASLT_SONAMES);
  for (const sp of o.sitePackages ?? []) for (const so of CUBLASLT_SONAMES) out.push(join(sp, 'nvidia', 'cublas', 'lib', so));
  return [...new Set(out)];
}

let loaded: { path: string; version: number } | undefined;

/** Loads cuBLASLt (once) from the candidates above, or throws E_UNSUPPORTED listing what was tried. */
export function loadCublasLt(): { path: string; version: number } {
  return (loaded ??= native().cuda.loadCublasLt(cublasLtCandidates({ envPath: process.env.KILN_CUBLASLT_PATH, sitePackages: pythonSitePackages() })));
}
