#!/usr/bin/env node
// `npm run bundle`: the offline GPU-host bundle. Packs what a host with no network and no Node.js
// needs to run `kiln info`, `kiln bench` and the test suite into .bundle/ (git-ignored):
//   .bundle/kiln-bundle.tar.xz  this Node binary, the built addon (build/Release/kiln.node), dist/,
//                               src/ test/ bench/ examples/ (vitest runs the TS tests), kernels/cuda
//                               (its host-side layout checkers, which the tests compile), the
//                               runtime node_modules (the package's dependencies minus its build
//                               tools, plus vitest, each with its own dependency closure; only
//                               linux-x64 binaries of onnxruntime-node and webgpu), and this host's
//                               libstdc++/libgcc_s for a GPU host with an older toolchain
//   .bundle/kiln-run.sh         unpacks next to itself (once) and runs: info | bench ... | test ... | shell
// Build first (`npm run build`); the script refuses a bundle over 64 MiB. Nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '.bundle');
const LIMIT = 64 * 2 ** 20;
const BUILD_ONLY = new Set(['cmake-js', 'node-gyp', 'node-addon-api', 'node-api-headers', 'typescript']);

const die = (msg) => {
  console.error(`bundle: ${msg}`);
  process.exit(1);
};

/** Packages to ship: the runtime dependencies and vitest, closed over their (installed) dependencies. */
export function runtimePackages(rootDir) {
  const pkg = JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8'));
  const todo = [...Object.keys(pkg.dependencies ?? {}).filter((n) => !BUILD_ONLY.has(n)), 'vitest'];
  const seen = new Set();
  while (todo.length) {
    const name = todo.pop();
    if (seen.has(name)) continue;
    const dir = join(rootDir, 'node_modules', name);
    if (!existsSync(join(dir, 'package.json'))) continue; // an optional dependency for another platform
    seen.add(name);
    const p = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    todo.push(...Object.keys({ ...p.dependencies, ...p.optionalDependencies, ...p.peerDependencies }));
  }
  return [...seen].sort();
}

// Files no runtime reads, and onnxruntime-node's and webgpu's (Dawn's) binaries for other platforms.
const skip = (src) =>
  /\.(d\.ts|d\.mts|d\.cts|map|md)$/.test(src) ||
  /onnxruntime-node\/bin\/napi-v\d+\/(darwin|win32|linux\/arm64)/.test(src) ||
  /webgpu\/dist\/(darwin|win32|linux-arm64)/.test(src);

function main() {
  const addon = join(root, 'build', 'Release', 'kiln.node');
  if (!existsSync(addon)) die('build/Release/kiln.node is missing: run `npm run build` first');
  if (!existsSync(join(root, 'dist', 'src', 'index.js'))) die('dist/ is missing: run `npm run build:ts` first');
  const stage = mkdtempSync(join(tmpdir(), 'kiln-bundle-'));
  try {
    const copy = (rel, filter = (s) => !skip(s)) => cpSync(join(root, rel), join(stage, rel), { recursive: true, filter, dereference: true });
    for (const rel of ['package.json', 'tsconfig.json', 'vitest.config.ts', 'native/sources.txt', 'kernels/OPS.md', 'kernels/cuda', 'dist', 'src', 'test', 'bench', 'examples', 'scripts/check-report.mjs'])
      copy(rel, () => true);
    copy('build/Release/kiln.node');
    const pkgs = runtimePackages(root);
    for (const name of pkgs) copy(join('node_modules', name));
    mkdirSync(join(stage, 'node', 'bin'), { recursive: true });
    cpSync(realpathSync(process.execPath), join(stage, 'node', 'bin', 'node'));
    mkdirSync(join(stage, 'lib'));
    const systemLib = (lib) => ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib64'].map((d) => join(d, lib)).find((p) => existsSync(p));
    for (const lib of ['libstdc++.so.6', 'libgcc_s.so.1']) {
      const found = systemLib(lib);
      if (found) cpSync(realpathSync(found), join(stage, 'lib', lib));
    }
    // The Vulkan loader (not a driver) for WebGPU on GPU hosts that have the NVIDIA driver's Vulkan
    // ICD but no loader; the runner puts it on the library path only where the host has none.
    const vulkan = systemLib('libvulkan.so.1');
    if (vulkan) {
      mkdirSync(join(stage, 'lib', 'vulkan'));
      cpSync(realpathSync(vulkan), join(stage, 'lib', 'vulkan', 'libvulkan.so.1'));
    }
    const missing = [];
    // The NVIDIA Vulkan ICD (libGLX_nvidia.so.0) is a glvnd vendor library: a headless host with the
    // driver but no glvnd needs the dispatcher and its front ends (the runner adds them only there).
    const glvnd = ['libGLdispatch.so.0', 'libGLX.so.0', 'libEGL.so.1', 'libOpenGL.so.0', 'libX11.so.6', 'libxcb.so.1', 'libXau.so.6', 'libXdmcp.so.6', 'libbsd.so.0', 'libmd.so.0'];
    if (systemLib('libGLdispatch.so.0')) {
      mkdirSync(join(stage, 'lib', 'glvnd'));
      for (const lib of glvnd) {
        const found = systemLib(lib);
        if (found) cpSync(realpathSync(found), join(stage, 'lib', 'glvnd', lib));
        else missing.push(lib);
      }
    } else missing.push('libGLdispatch.so.0');
    if (!vulkan) missing.unshift('libvulkan.so.1');
    // Without them the bundle still runs everything else; WebGPU is then absent on a GPU host that
    // lacks them too (an H200 check ran its WebGPU step with no adapter from such a bundle).
    if (missing.length)
      console.warn(`bundle: warning: ${missing.join(', ')} not found on this host, so not bundled: WebGPU will be absent on a GPU host without ` +
        `its own (install them here first: apt-get install libvulkan1 libglvnd0 libgl1 libegl1 libopengl0)`);
    const git = (...args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
    const head = git('rev-parse', '--short', 'HEAD');
    const commit = head.status === 0 ? head.stdout.trim() + (git('diff', '--quiet', 'HEAD').status === 0 ? '' : ' (with uncommitted changes)') : 'unknown';
    writeFileSync(join(stage, 'BUNDLE.txt'), `kiln bundle: commit ${commit}, node ${process.version}, ${pkgs.length} packages (${pkgs.join(' ')})\n`);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
    const tarball = join(out, 'kiln-bundle.tar.xz');
    console.log(`bundle: compressing ${pkgs.length} packages, dist/, the addon and node ${process.version} (xz)...`);
    const r = spawnSync('tar', ['-cJf', tarball, '-C', stage, '.'], { stdio: 'inherit', env: { ...process.env, XZ_OPT: '-6 -T2' } });
    if (r.status !== 0) die('tar -cJf failed (is xz installed?)');
    writeFileSync(join(out, 'kiln-run.sh'), RUNNER);
    chmodSync(join(out, 'kiln-run.sh'), 0o755);
    const size = statSync(tarball).size;
    console.log(`bundle: ${relative(root, tarball)} ${(size / 2 ** 20).toFixed(1)} MiB, runner ${relative(root, join(out, 'kiln-run.sh'))}`);
    if (size > LIMIT) die(`the bundle is ${(size / 2 ** 20).toFixed(1)} MiB, over the 64 MiB limit`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

const RUNNER = `#!/bin/sh
# Kiln's offline bundle: unpacks kiln-bundle.tar.xz next to this script (once; KILN_BUNDLE_DIR
# overrides where) and runs the bundled Node there. No network and no Node.js needed on the host.
#   sh kiln-run.sh info                      kiln info (devices, and why a backend is absent)
#   sh kiln-run.sh test [vitest args]        the test suite (KILN_REQUIRE=cuda makes a missing GPU fail)
#   sh kiln-run.sh bench matmul [args]       kiln bench matmul (e.g. --device cuda --dtype bfloat16 --case 4096^3)
#   sh kiln-run.sh check OUTDIR              the GPU host's whole check, each step time-boxed (below)
#   sh kiln-run.sh shell [-c CMD]            a shell (or CMD) in the unpacked bundle, the bundled node first on PATH
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest=\${KILN_BUNDLE_DIR:-$here/kiln}
if [ ! -x "$dest/node/bin/node" ]; then
  mkdir -p "$dest"
  tar -xJf "$here/kiln-bundle.tar.xz" -C "$dest"
fi
cd "$dest"
PATH="$dest/node/bin:$PATH"
LD_LIBRARY_PATH="$dest/lib\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# WebGPU (Dawn) needs a Vulkan loader: the bundled one where the host has none, and the NVIDIA
# driver's ICD where a container keeps it outside the loader's search path.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 ' && [ -e "$dest/lib/vulkan/libvulkan.so.1" ]; then
  LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$dest/lib/vulkan"
fi
if ! ldconfig -p 2>/dev/null | grep -q 'libGLdispatch\\.so\\.0 ' && [ -e "$dest/lib/glvnd/libGLdispatch.so.0" ]; then
  LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$dest/lib/glvnd"
fi
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ -z "\${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -e "$egl" ]; then
  __EGL_VENDOR_LIBRARY_FILENAMES=$egl
  export __EGL_VENDOR_LIBRARY_FILENAMES
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "\${VK_DRIVER_FILES:-}\${VK_ICD_FILENAMES:-}" ] && [ -e "$icd" ] && ! ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json > /dev/null 2>&1; then
  VK_DRIVER_FILES=$icd
  export VK_DRIVER_FILES
fi
ONNXRUNTIME_NODE_INSTALL=skip
export PATH LD_LIBRARY_PATH ONNXRUNTIME_NODE_INSTALL
cmd=\${1:-info}
[ $# -gt 0 ] && shift
# check: the numbers first, then the whole test suite, each step under its own limit and all of them
# under KILN_CHECK_BUDGET_S (a step starts only with 10 s left, and gets at most what is left), so one
# hang cannot eat a short device lease; every step's output lands in OUTDIR (NN-step.log, and .json
# for the benches), with a summary line per step in OUTDIR/summary.txt. In the order they run:
#   01 host        the bundle's commit, nvidia-smi, node, kiln info (and --json)
#   13 webgpu      the test files of WebGPU's float edge cases (exact bits, subnormals, infinities,
#                  error-free products) with KILN_REQUIRE=webgpu: what run 3 on an H200 failed
#                  without messages, early and on its own report (13-webgpu.json)
#   03-07 matmul   bf16/f16 at 4096^3 and 8192^3 (default, then impl wgmma, both with the tile width
#                  picked by shape, then (11) wgmma with the 128 x 128 tile, KILN_WGMMA_TILE_N=128),
#                  tf32 (precision high; default, impl wgmma, then (12) the 128 tile) and float32
#                  (SIMT), each beside cuBLASLt in the same run; (15) bf16/f16 and tf32 with B the
#                  transposed view of a row-major [N, K] (--b-layout nk: no copy of B for tf32)
#   16 kernel-times  each kernel of a 4096^3 matmul (tf32 with B row-major, then B = [N, K]^T, then
#                  bf16) timed by ncu (bench/matmul-once.ts), where the host has Nsight Compute
#   10 torch       torch.matmul on the same sizes (bench/peers/torch-matmul.py), where python3 has torch
#   08 nccl        kiln bench collectives on NCCL at world size 1 (nonblocking communicators), up to
#                  KILN_CHECK_NCCL_MAX_BYTES (default 256 MiB)
#   09 nccl-blocking  the same up to 1 MiB with NCCL_COMM_BLOCKING=1: what nonblocking costs a small call
#   02 test        the whole suite with KILN_REQUIRE=cuda (vitest's JSON report too); extra vitest
#                  arguments from KILN_CHECK_TEST_ARGS (e.g. --maxWorkers=4 on a many-core host), in
#                  KILN_CHECK_TEST_SHARDS shards (default 1)
check() {
  out=$1
  mkdir -p "$out"
  : > "$out/summary.txt"
  end=$(( $(date +%s) + \${KILN_CHECK_BUDGET_S:-100000} ))
  step() {
    name=$1 limit=$2
    shift 2
    # KILN_CHECK_STEPS="01 02" runs only those steps (a lease's per-call limit may need two calls)
    case " \${KILN_CHECK_STEPS:-\${name%%-*}} " in *" \${name%%-*} "*) ;; *) return 0 ;; esac
    left=$(( end - $(date +%s) ))
    if [ "$left" -lt 10 ]; then echo "$name skipped: the check's time budget is spent" >> "$out/summary.txt"; return 0; fi
    [ "$limit" -gt "$left" ] && limit=$left
    t0=$(date +%s)
    set +e
    timeout --kill-after=10 "$limit" "$@" > "$out/$name.log" 2>&1
    rc=$?
    set -e
    echo "$name rc=$rc $(( $(date +%s) - t0 ))s: $(echo "$*" | tr -s '\\n ' '  ')" >> "$out/summary.txt"
  }
  step 01-host 60 sh -c "cat BUNDLE.txt; nvidia-smi; node --version; node dist/src/cli/main.js info; node dist/src/cli/main.js info --json > '$out/01-info.json'"
  step 13-webgpu 150 sh -c '
    rm -f test-results.json
    KILN_REQUIRE=webgpu node node_modules/vitest/vitest.mjs run test/webgpu.test.ts test/ops-creation.test.ts test/ops-grid-sample.test.ts test/ops-reduce-rows.test.ts test/webgpu-row-path.test.ts
    rc=$?
    [ -f test-results.json ] && cp test-results.json "$1/13-webgpu.json"
    exit $rc' sh "$out"
  m="node dist/src/cli/main.js bench matmul --device cuda --json"
  step 03-matmul-16bit 240 sh -c "$m --dtype bfloat16,float16 --case 4096^3,8192^3 > '$out/03-matmul-16bit.json'"
  step 04-matmul-wgmma 240 sh -c "$m --dtype bfloat16,float16 --case 4096^3,8192^3 --impl wgmma > '$out/04-matmul-wgmma.json'"
  step 11-matmul-wgmma-128 60 sh -c "KILN_WGMMA_TILE_N=128 $m --dtype bfloat16,float16 --case 4096^3,8192^3 --impl wgmma > '$out/11-matmul-wgmma-128.json'"
  step 05-matmul-tf32 120 sh -c "$m --dtype float32 --case 4096^3,8192^3 --precision high > '$out/05-matmul-tf32.json'"
  step 06-matmul-tf32-wgmma 120 sh -c "$m --dtype float32 --case 4096^3,8192^3 --precision high --impl wgmma > '$out/06-matmul-tf32-wgmma.json'"
  step 12-matmul-tf32-128 60 sh -c "KILN_WGMMA_TILE_N=128 $m --dtype float32 --case 4096^3,8192^3 --precision high --impl wgmma > '$out/12-matmul-tf32-128.json'"
  step 15-matmul-nk 120 sh -c "$m --dtype bfloat16,float16 --case 4096^3,8192^3 --b-layout nk > '$out/15-matmul-nk.json' && $m --dtype float32 --case 4096^3,8192^3 --precision high --b-layout nk > '$out/15-matmul-tf32-nk.json'"
  step 16-kernel-times 120 sh -c '
    ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n 1) || true
    [ -n "$ncu" ] || { echo "no ncu on this host: step skipped"; exit 0; }
    for args in "--dtype float32 --precision high" "--dtype float32 --precision high --b-layout nk" "--dtype bfloat16"; do
      echo "== matmul-once $args"
      "$ncu" --clock-control none --metrics gpu__time_duration.sum --kernel-name regex:"gemm|pack" node dist/bench/matmul-once.js --device cuda --case 4096^3 --reps 3 $args || exit 1
    done'
  step 07-matmul-f32 120 sh -c "$m --dtype float32 --case 4096^3 > '$out/07-matmul-f32.json'"
  step 10-torch 90 sh -c "python3 bench/peers/torch-matmul.py > '$out/10-torch.json'"
  step 08-nccl 120 sh -c "node dist/src/cli/main.js bench collectives --backend nccl --nproc 1 --max-bytes \${KILN_CHECK_NCCL_MAX_BYTES:-268435456} --json > '$out/08-nccl.json'"
  step 09-nccl-blocking 60 sh -c "NCCL_COMM_BLOCKING=1 node dist/src/cli/main.js bench collectives --backend nccl --nproc 1 --max-bytes 1048576 --json > '$out/09-nccl-blocking.json'"
  # vitest.config.ts names the JSON report's file (test-results.json): copied into OUTDIR afterwards
  # KILN_CHECK_TEST_SHARDS=N runs the suite as N vitest shards one after another, each with its own
  # report (02-test-I.json): vitest prints failures and writes its report only at the end of a run,
  # so a time limit that cuts one long run short loses every message, and cuts a shard only its own.
  step 02-test "\${KILN_CHECK_TEST_S:-420}" sh -c '
    n=\${KILN_CHECK_TEST_SHARDS:-1} rc=0 i=1
    while [ $i -le $n ]; do
      rm -f test-results.json
      shard= report=02-test.json
      [ $n -gt 1 ] && shard=--shard=$i/$n report=02-test-$i.json && echo "== shard $i of $n"
      KILN_REQUIRE=cuda node node_modules/vitest/vitest.mjs run $shard \${KILN_CHECK_TEST_ARGS:-} || rc=1
      [ -f test-results.json ] && cp test-results.json "$1/$report"
      i=$((i + 1))
    done
    exit $rc' sh "$out"
  cat "$out/summary.txt"
}
case "$cmd" in
  check) [ $# -ge 1 ] || { echo "usage: sh kiln-run.sh check OUTDIR" >&2; exit 2; }; check "$1" ;;
  info) exec node dist/src/cli/main.js info "$@" ;;
  bench) exec node dist/src/cli/main.js bench "$@" ;;
  test) exec node node_modules/vitest/vitest.mjs run "$@" ;;
  shell) exec "\${SHELL:-sh}" "$@" ;;
  *) echo "usage: sh kiln-run.sh info | test [vitest args] | bench matmul [args] | check OUTDIR | shell" >&2; exit 2 ;;
esac
`;

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) main();
