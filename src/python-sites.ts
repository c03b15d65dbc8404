// Where pip wheels of NVIDIA's libraries live: cuBLASLt (src/backends/cublas.ts) and NCCL
// (src/distributed/nccl.ts) look under each of python3's site-packages folders, after their explicit
// path variable and the loader path.
import { spawnSync } from 'node:child_process';

let sites: string[] | undefined;

/** python3's site-packages folders (system and user), or [] when python3 is absent or fails. Asked once. */
export function pythonSitePackages(): string[] {
  if (sites) return sites;
  const r = spawnSync('python3', ['-c', 'import json,site;print(json.dumps(site.getsitepackages()+[site.getusersitepackages()]))'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  try {
    const parsed: unknown = r.status === 0 ? JSON.parse(r.stdout) : [];
    sites = Array.isArray(parsed) ? parsed.filter((s): s is string => typeof s === 'string' && s.length > 0) : [];
  } catch {
    sites = [];
  }
  return sites;
}
