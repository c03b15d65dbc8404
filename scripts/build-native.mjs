#!/usr/bin/env node
// Builds the native addon: with cmake-js when CMake >= 3.18 is on PATH (CUDA sources too when nvcc is
// found), otherwise with node-gyp from binding.gyp (CPU only). KILN_BUILD=node-gyp|cmake forces one.
// Nothing here downloads: cmake-js takes Node-API headers from the node-api-headers package.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function run(cmd, args) {
  console.log(`kiln: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function cmakeVersion() {
  const r = spawnSync('cmake', ['--version'], { encoding: 'utf8' });
  const m = r.status === 0 ? /cmake version (\d+)\.(\d+)/.exec(r.stdout) : null;
  return m ? [Number(m[1]), Number(m[2])] : null;
}

const forced = process.env.KILN_BUILD;
const v = cmakeVersion();
const useCmake = forced ? forced === 'cmake' : v !== null && (v[0] > 3 || (v[0] === 3 && v[1] >= 18));

let status;
if (useCmake) {
  const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  const extra = [];
  if (process.env.KILN_CUDA === '0') extra.push('--CDKILN_CUDA=OFF');
  if (process.env.KILN_CUDA_ARCHITECTURES) extra.push(`--CDKILN_CUDA_ARCHITECTURES=${process.env.KILN_CUDA_ARCHITECTURES}`);
  status = run(process.execPath, [cmakeJs, 'compile', ...extra]);
} else {
  console.log(v ? `kiln: CMake ${v.join('.')} is older than 3.18; using node-gyp` : 'kiln: CMake not found; using node-gyp (CPU only)');
  const gyp = join(dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');
  // Use the headers that ship with this Node (no download): npm's nodedir, else Node's own prefix.
  const prefix = dirname(dirname(process.execPath));
  const nodedir = process.env.npm_config_nodedir || (existsSync(join(prefix, 'include/node/node_api.h')) ? prefix : '');
  status = run(process.execPath, [gyp, 'rebuild', '-j', 'max', ...(nodedir ? [`--nodedir=${nodedir}`] : [])]);
}
if (status !== 0) {
  console.error('kiln: the native build failed; see the compiler output above. `npm run build:native` retries.');
  process.exit(status);
}
