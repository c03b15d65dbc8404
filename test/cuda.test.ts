// The CUDA backend's host side: discovery that never crashes and says why there is no device, the
// cuBLASLt search order and its error, option parsing. Then, where a CUDA device exists (skipped
// visibly otherwise), the runtime itself: transfers, the memory cap, device-side errors, the timer.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType } from '../src/index.js';
import { backend } from '../src/backends/index.js';
import { parseBytes } from '../src/args.js';
import { packViews } from '../src/backends/cpu.js';
import { CudaBackend } from '../src/backends/cuda.js';
import { cublasLtCandidates, loadCublasLt } from '../src/backends/cublas.js';
import { pythonSitePackages } from '../src/python-sites.js';
import { native } from '../src/native.js';
import { planBackends } from './helpers/backends.js';
import { Cases, expectError, expectRejection, expectTensor, tolFor } from './helpers/compare.js';
import { randomArray, upload } from './helpers/inputs.js';
import { rngFor, type Rng } from './helpers/random.js';
import * as R from './helpers/reference.js';

const cudaPlan = planBackends().find((p) => p.kind === 'cuda')!;
const cudaCompiled = native().info().cuda.compiled;

describe('cuda discovery', () => {
  it('registers the cuda backend; with no device it lists none and says why', () => {
    const b = backend('cuda');
    expect(b).toBeInstanceOf(CudaBackend);
    if (cudaPlan.device) return; // a GPU host: nothing to explain
    expect(b!.devices()).toEqual([]);
    const why = kiln.backendReason('cuda')!;
    expect(why).toBeTruthy();
    // The reason is the runtime's own (cudaErrorInsufficientDriver, cudaErrorNoDevice, ...) on a
    // CUDA build, and names the missing nvcc on a CPU-only build.
    if (cudaCompiled) expect(why).toMatch(/cudaError\w+|no CUDA devices/);
    else expect(why).toMatch(/without CUDA/);
    expect(kiln.info().backends.cuda).toMatchObject({ available: false, devices: [] });
  });

  it('a tensor on an absent cuda device is E_DEVICE naming the reason, not a crash', () => {
    if (cudaPlan.device) return;
    const e = expectError(() => kiln.zeros([2], { device: 'cuda' }), 'E_DEVICE');
    expect(e.message).toContain(kiln.backendReason('cuda')!);
    expectError(() => native().cuda.alloc(0, 16), 'E_DEVICE');
  });
});

describe('cuda op table', () => {
  it('a CUDA build has a kernel for every op of the CPU table (kernels/OPS.md), a CPU-only build for none', () => {
    // PeakFlops: the CPU's FMA ceiling probe; and the ops a backend may leave out, the rows OPS.md
    // marks '(cpu)' or '(cpu, webgpu)', which the front end composes from other ops where a backend
    // lacks them (ScatterSlices: cuda's kernel awaits a GPU to be tested on)
    const cpuOnly = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'kernels', 'OPS.md'), 'utf8').split('\n')
      .map((l) => /^\| ([^|]+) \(cpu(?:, webgpu)?\) \|/.exec(l)?.[1].split(' ') ?? []).flat();
    expect(cpuOnly).toEqual(['ScatterSlices', 'Conv', 'LstmCell', 'GruCell', 'GruReset', 'GruUpdate', 'MaxPool', 'AveragePool']);
    const ops = native().info().kernels.filter((k) => k !== 'PeakFlops' && !cpuOnly.includes(k));
    expect(ops.length).toBeGreaterThan(50);
    const missing = ops.filter((op) => !native().cuda.hasKernel(op));
    if (cudaCompiled) expect(missing).toEqual([]);
    else expect(missing).toEqual(ops);
    expect(backend('cuda')!.supports('MatMul', ['bfloat16'])).toBe(cudaCompiled);
  });
});

/** Compiles a host-side checker under kernels/cuda with the system C++ compiler, runs it, and returns its output once it passed. */
function hostCheck(file: string): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-host-check-'));
  try {
    const exe = join(dir, 'check');
    const cc = spawnSync('c++', ['-std=c++17', '-O2', '-I', join(root, 'kernels', 'cuda'), join(root, 'kernels', 'cuda', file), '-o', exe], { encoding: 'utf8' });
    expect(cc.status, cc.stderr).toBe(0);
    const r = spawnSync(exe, { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^as built: PASS/m);
    expect(r.stdout.trimEnd()).toMatch(/ALL OK$/);
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('wgmma shared-memory layouts, checked on the host', () => {
  // matmul_wgmma_layout.h holds the sm_90a kernel's stage layout, TMA boxes and matrix descriptors;
  // its checker models TMA's 128B swizzle and wgmma's canonical K-major / MN-major layouts (PTX ISA)
  // and reads every A and B element of a set of problems back through the kernel's own descriptors,
  // for 16-bit operands and for float32 read as tf32 (4-byte elements, K-major only), at both tile
  // widths (128 x 128, and the wide 128 x 256 of KILN_WGMMA_TILE_N=256), then confirms that fourteen
  // deliberately wrong layouts (eight 16-bit, four tf32, two of the wide tile) are caught. It runs
  // here, without a GPU.
  it('every element wgmma would read is the one TMA put there, for K-major A and B^T, MN-major B, and tf32, at both tile widths', () => {
    const out = hostCheck('matmul_wgmma_layout_check.cc');
    expect(out).toMatch(/^ {2}tf32 B\^T 129x200x136 .* ok$/m);
    expect(out).toMatch(/^ {2}\[n256\] B 129x200x136 .* MN-major .* ok$/m);
    expect(out).toMatch(/^ {2}\[n256\] tf32 B\^T 129x200x136 .* ok$/m);
    expect(out.match(/caught$/gm)?.length).toBe(14);
    // impl 'auto''s tile width on an H200's 132 SMs: wide where its waves cost less (auto_tile_n)
    expect(out).toMatch(/^auto tile width on 132 SMs: 4096\^3 256, 8192\^3 256, 2048\^3 256, 1024\^3 128, 128x768 128, 4096x128 128,/m);
    expect(out).toMatch(/ 4096x200 128, 8 x 4096x200 256, 4096x384 128, 16 x 4096x384 128$/m);
  });

  // The fast epilogue (alpha 1, no C, 16-byte aligned contiguous Y rows): its emulator runs the
  // kernel's staging / read / store index arithmetic for both consumer warpgroups over every tile
  // of a set of problems (edge tiles, batch offsets, padded rows, generic fallbacks), at both tile
  // widths (the wide tile stages two 64 x 128 column blocks in turn), with race checks on the
  // staging buffer between the named barriers, and counts bank conflicts and sectors.
  // A float32 Y (tf32) takes no staging: its emulation checks the direct 8-byte pair stores the same way.
  it('the fast epilogue writes every output element once, conflict-free, in full 32-byte sectors, at both tile widths, 16-bit staged and float32 direct', () => {
    const out = hostCheck('matmul_wgmma_epilogue_check.cc');
    expect(out).toMatch(/worst 1-way bank conflict/);
    expect(out).toMatch(/^global stores: 16\.\.16 sectors per st\.global\.v4/m);
    expect(out).toMatch(/^float32 Y: 8\.\.8 sectors per full st\.global\.v2\.f32 warp instruction/m);
    expect(out).toMatch(/^shared memory, tile 128x256: .* = 230464 bytes \(limit 232448\)$/m);
    expect(out).toMatch(/^ {2}\[n256\] 200x300, rows padded to 304 .* ok$/m);
    expect(out).toMatch(/^ {2}\[f32\]\[n256\] 200x301 \(N odd: a lone value at N's edge\).* tiles fast +4 generic +0 +v2 stores +30000 +f32 +200 .* ok$/m);
    expect(out).toMatch(/^ {2}\[f32\] +row stride 301 \(odd\) -> generic +tiles fast +0 /m);
    expect(out.match(/caught$/gm)?.length).toBe(18);
  });
});

describe('mma fast-path layouts, checked on the host', () => {
  // matmul_mma_layout.h holds the float16/bfloat16 fast path's stage layout (XOR-swizzled 16-byte
  // chunks, K-major and MN-major tiles), each thread's cp.async chunks with their edge src-sizes,
  // each lane's ldmatrix row address and the fragment register it fills, and the pipeline schedule;
  // its checker runs them block by block against models of cp.async (zero fill, landing early or
  // late), ldmatrix (.trans or not) and the mma.m16n8k16 fragments (PTX ISA) over odd shapes in all
  // four A / B layouts, counts bank conflicts, and confirms that fifteen wrong variants are caught.
  it('every fragment value of every lane is the one mma.m16n8k16 needs, conflict-free, for K- and MN-major A and B', () => {
    const out = hostCheck('matmul_mma_layout_check.cc');
    expect(out).toMatch(/^bank conflicts: cp\.async stores worst 1-way, ldmatrix phases worst 1-way$/m);
    expect(out).toMatch(/^ {2}130x300x136 .* A MN B MN .* ok$/m);
    expect(out).toMatch(/^ {2}A ld 7: .* general kernel {2}ok$/m);
    expect(out.match(/caught$/gm)?.length).toBe(15);
  });
});

describe('cuBLASLt loading', () => {
  it('searches KILN_CUBLASLT_PATH, then the sonames on the loader path, then pip wheels under site-packages', () => {
    expect(cublasLtCandidates({ envPath: '/opt/x/libcublasLt.so', sitePackages: ['/sp1', '/sp2'] })).toEqual([
      '/opt/x/libcublasLt.so',
      'libcublasLt.so.13',
      'libcublasLt.so.12',
      '/sp1/nvidia/cublas/lib/libcublasLt.so.13',
      '/sp1/nvidia/cublas/lib/libcublasLt.so.12',
      '/sp2/nvidia/cublas/lib/libcublasLt.so.13',
      '/sp2/nvidia/cublas/lib/libcublasLt.so.12',
    ]);
    expect(cublasLtCandidates({})).toEqual(['libcublasLt.so.13', 'libcublasLt.so.12']);
    expect(cublasLtCandidates({ envPath: 'libcublasLt.so.12' })).toEqual(['libcublasLt.so.12', 'libcublasLt.so.13']);
  });

  it("asks python3 for its site-packages (none when python3 is absent)", () => {
    const sites = pythonSitePackages();
    expect(Array.isArray(sites)).toBe(true);
    for (const s of sites) expect(s.startsWith('/')).toBe(true);
  });

  it('a library that is not there is E_UNSUPPORTED naming every path tried and why', () => {
    const e = expectError(() => native().cuda.loadCublasLt(['/nonexistent/libcublasLt.so.13', '/etc/hostname']), 'E_UNSUPPORTED');
    expect(e.message).toContain('KILN_CUBLASLT_PATH');
    expect(e.message).toContain('/nonexistent/libcublasLt.so.13:');
    expect(e.message).toContain('/etc/hostname:');
  });

  it('the real search either loads a cuBLASLt or lists each candidate it tried', () => {
    let got: { path: string; version: number } | undefined;
    try {
      got = loadCublasLt();
    } catch (e) {
      expect(e).toBeInstanceOf(kiln.KilnError);
      expect((e as kiln.KilnError).code).toBe('E_UNSUPPORTED');
      for (const c of cublasLtCandidates({ envPath: process.env.KILN_CUBLASLT_PATH, sitePackages: pythonSitePackages() }))
        expect((e as Error).message).toContain(c);
    }
    if (got) expect(got.version).toBeGreaterThan(0);
  });
});

describe('cuda options', () => {
  it('parses KILN_CUDA_MEMORY_CAP byte counts', () => {
    expect(parseBytes('8000000', 'KILN_CUDA_MEMORY_CAP')).toBe(8_000_000);
    expect(parseBytes('512MiB', 'KILN_CUDA_MEMORY_CAP')).toBe(512 * 2 ** 20);
    expect(parseBytes('24G', 'KILN_CUDA_MEMORY_CAP')).toBe(24 * 2 ** 30);
    expect(parseBytes('1.5gb', 'KILN_CUDA_MEMORY_CAP')).toBe(1.5 * 2 ** 30);
    expect(parseBytes(undefined, 'KILN_CUDA_MEMORY_CAP')).toBeUndefined();
    expect(parseBytes(' ', 'KILN_CUDA_MEMORY_CAP')).toBeUndefined();
    expectError(() => parseBytes('lots', 'KILN_CUDA_MEMORY_CAP'), 'E_ARGUMENT');
    expectError(() => parseBytes('-5MB', 'KILN_CUDA_MEMORY_CAP'), 'E_ARGUMENT');
  });

  it('matmul precision and impl are checked; cuda kernels are refused on the cpu', () => {
    const a = kiln.ones([2, 3]), b = kiln.ones([3, 2]);
    expectError(() => kiln.matmul(a, b, { precision: 'low' as 'high' }), 'E_ARGUMENT');
    expectError(() => kiln.matmul(a, b, { impl: 'fast' as 'mma' }), 'E_ARGUMENT');
    const e = expectError(() => kiln.matmul(a, b, { impl: 'mma' }), 'E_UNSUPPORTED');
    expect(e.message).toContain('cuda');
    kiln.matmul(a, b, { precision: 'high', impl: 'auto' }).dispose(); // the cpu computes in full precision anyway
    a.dispose();
    b.dispose();
  });

  it('KILN_WGMMA_TILE_N is 128, 256 or auto, checked on every device', async () => {
    const a = kiln.ones([2, 3]), b = kiln.ones([3, 2]);
    try {
      for (const bad of ['192', '256 ', 'wide', 'AUTO']) {
        process.env.KILN_WGMMA_TILE_N = bad;
        expectError(() => kiln.matmul(a, b), 'E_ARGUMENT', `KILN_WGMMA_TILE_N must be 128, 256 or auto, got '${bad}'`);
        expectError(() => kiln.gemm(a, b), 'E_ARGUMENT', 'KILN_WGMMA_TILE_N');
      }
      for (const ok of ['128', '256', 'auto', '']) {
        process.env.KILN_WGMMA_TILE_N = ok;
        expect(Array.from((await kiln.matmul(a, b).data()) as Float32Array)).toEqual([3, 3, 3, 3]);
      }
    } finally {
      delete process.env.KILN_WGMMA_TILE_N;
      a.dispose();
      b.dispose();
    }
  });
});

// The runtime on a real device (run on a GPU host; KILN_REQUIRE=cuda makes its absence a failure).
const onCuda = cudaPlan.device ? describe : describe.skip;
onCuda(`cuda runtime [${cudaPlan.device ?? `skipped: ${cudaPlan.reason}`}]`, () => {
  const dev = cudaPlan.device!;
  it('reports its devices with compute capability and memory', () => {
    const d = kiln.devices().find((x) => x.id === dev)!;
    expect(d.memory).toBeGreaterThan(0);
    expect(Number(d.details.sm)).toBeGreaterThanOrEqual(50);
  });

  it('moves every dtype to the device and back, views included', async () => {
    for (const dtype of kiln.DTYPES) {
      const x = kiln.arange(0, 24).reshape([2, 3, 4]).cast(dtype);
      const back = x.transpose().to(dev).to('cpu');
      expect(await back.toArray()).toEqual(await x.transpose().toArray());
    }
  });

  it('the memory cap turns an over-large request into E_OOM naming the request and the usage', async () => {
    const b = backend('cuda') as CudaBackend;
    b.setMemoryCap(0, 1 << 20);
    try {
      const e = expectError(() => kiln.zeros([1 << 20], { device: dev }), 'E_OOM');
      expect(e.message).toMatch(/cap/);
      expect(e.message).toMatch(/in use/);
    } finally {
      b.setMemoryCap(0, 0);
    }
  });

  it("an index out of range is the data fault of the Gather that found it (its launch's record); the device stays usable", async () => {
    const data = kiln.arange(0, 10).to(dev);
    const ids = (v: number[]) => kiln.tensor(v, { dtype: 'int64' }).to(dev);
    const bad = kiln.gather(data, ids([1, 12]), 0);
    await kiln.sync();
    await expectRejection(bad.data(), 'E_INDEX', 'index 12', 'axis 0', 'size 10', dev);
    expect(await kiln.gather(data, ids([3]), 0).toArray()).toEqual([3]);
    // Records are shared by ids kFaultSlots (16384) apart (native/cuda/launch.h). Read before the
    // later launch fails, a pass stays a pass; read after, it can no longer be told apart from a
    // failure, and says so.
    const good = ids([3]);
    const readEarly = kiln.gather(data, good, 0);
    expect(await readEarly.toArray()).toEqual([3]);
    for (let i = 0; i < 16383; ++i) kiln.gather(data, good, 0).dispose();
    const sharing = kiln.gather(data, ids([-11]), 0); // readEarly's record
    await expectRejection(sharing.data(), 'E_INDEX', 'index -11');
    const readLate = kiln.gather(data, good, 0);
    for (let i = 0; i < 16383; ++i) kiln.gather(data, good, 0).dispose();
    const sharingToo = kiln.gather(data, ids([10]), 0); // readLate's record
    await expectRejection(readLate.data(), 'E_INDEX', 'may be out of range', '16384 Gathers later');
    await expectRejection(sharingToo.data(), 'E_INDEX', 'index 10');
    expect(await readEarly.toArray()).toEqual([3]);
  });

  it('an untagged Gather launch (the native API alone) reports an index out of range to the next sync point', async () => {
    const data = kiln.arange(0, 10).to(dev), idx = kiln.tensor([0, 99], { dtype: 'int32' }).to(dev);
    const y = kiln.zeros([2], { device: dev, dtype: data.dtype }); // Gather's Y has Data's dtype (arange's is int32)
    const { buffers, desc } = packViews([data.view('test'), idx.view('test')], [y.view('test')]);
    expect(native().cuda.launch(0, 'Gather', buffers, desc, { axis: 0 })).toBeUndefined();
    await expectRejection(kiln.sync(), 'E_INDEX', 'out of range', dev);
    await kiln.sync(); // reported once
  });

  it('a buffer exposes its device address and its device stream (the hook NCCL enqueues through)', () => {
    const x = kiln.zeros([1024], { device: dev });
    const a = x.view('test').buffer.deviceAddress!();
    const b = kiln.zeros([1024], { device: dev }).view('test').buffer.deviceAddress!();
    expect(a.pointer).toBeGreaterThan(0n);
    expect(b.pointer).not.toBe(a.pointer);
    expect(b.stream).toBe(a.stream);
  });

  it('times work with CUDA events', async () => {
    const t = backend('cuda')!.timer!(0);
    const x = kiln.ones([1 << 20], { device: dev });
    t.start();
    x.exp().dispose();
    expect(await t.stop()).toBeGreaterThan(0);
  });
});

// matmul_mma's fast path (float16/bfloat16 on sm_80+: cp.async + ldmatrix) takes operands with a
// unit-stride dim whose rows, base and batch offsets are 16-byte aligned; anything else runs its
// general kernel. The sweep reaches the fast path only with a K-contiguous A; here both sides of the
// split in every A / B layout: odd M, N, K with padded leading dims (fast path), then unpadded odd
// rows, a base one value in, an unaligned batch stride and no unit stride (general kernel).
onCuda(`matmul_mma fast path and its fallback [${cudaPlan.device ?? `skipped: ${cudaPlan.reason}`}]`, () => {
  const dev = cudaPlan.device!;
  const round8 = (x: number) => Math.ceil(x / 8) * 8;
  /**
   * A [...batch, rows, cols] view stored with `contig` ('cols': row-major; 'rows': column-major, a
   * transposed view) contiguous, that dim's stride `ld`, starting `skew` values into each row.
   */
  function operand(r: Rng, dtype: DType, batch: number[], rows: number, cols: number, contig: 'rows' | 'cols', ld: number, skew = 0) {
    const inner = contig === 'cols' ? cols : rows, outer = contig === 'cols' ? rows : cols;
    const baseRef = randomArray(r, dtype, [...batch, outer, ld], (q) => q.uniform(-1, 1));
    const t = upload(baseRef, dtype, dev).slice(-1, skew, skew + inner), ref = baseRef.slice(-1, skew, skew + inner);
    return contig === 'cols' ? { t, ref } : { t: t.transpose(), ref: ref.transpose() };
  }
  const impls = (): kiln.MatmulOptions[] => {
    const sm = Number(kiln.devices().find((d) => d.id === dev)?.details.sm);
    return sm >= 80 ? [{}, { impl: 'mma' }] : [{}];
  };
  const check = async (a: { t: kiln.Tensor; ref: R.NdArray }, b: { t: kiln.Tensor; ref: R.NdArray }, dtype: DType, o: kiln.MatmulOptions) => {
    const { y, scale } = R.matmul(a.ref, b.ref);
    await expectTensor(kiln.matmul(a.t, b.t, o), y, dtype, { ...tolFor(dtype), scale: scale.data });
  };

  for (const dtype of ['float16', 'bfloat16'] as const)
    it(`${dtype}: A and B each K- or M/N-contiguous, odd shapes, padded leading dims; and the layouts that fall back`, async () => {
      const r = rngFor(expect.getState().currentTestName ?? 'mma fast path');
      const cases = new Cases();
      const FAST: [number[], number, number, number][] = [
        [[], 1, 1, 1],
        [[], 7, 7, 7],
        [[], 1, 129, 7],
        [[], 129, 200, 136],
        [[], 200, 129, 1],
        [[3], 65, 33, 17],
        [[], 130, 300, 257], // 10 k-tiles: the 4-stage ring wraps
        [[], 256, 520, 264],
      ];
      for (const o of impls()) {
        for (const [batch, M, K, N] of FAST)
          for (const ca of ['cols', 'rows'] as const)
            for (const cb of ['cols', 'rows'] as const)
              await cases.run(`fast ${JSON.stringify(o)} [${[...batch, M, K]}] ${ca}-contiguous @ [${[...batch, K, N]}] ${cb}-contiguous`, async () => {
                const a = operand(r, dtype, batch, M, K, ca, round8(ca === 'cols' ? K : M) + 8);
                const b = operand(r, dtype, batch, K, N, cb, round8(cb === 'cols' ? N : K) + 8);
                await check(a, b, dtype, o);
              });
        for (const [M, K, N] of [[33, 7, 9], [129, 13, 130]])
          for (const ca of ['cols', 'rows'] as const)
            for (const cb of ['cols', 'rows'] as const)
              await cases.run(`general ${JSON.stringify(o)}: unpadded odd rows [${M}, ${K}] ${ca} @ [${K}, ${N}] ${cb}`, async () => {
                const a = operand(r, dtype, [], M, K, ca, ca === 'cols' ? K : M), b = operand(r, dtype, [], K, N, cb, cb === 'cols' ? N : K);
                await check(a, b, dtype, o);
              });
        await cases.run(`general ${JSON.stringify(o)}: bases one value in`, async () => {
          await check(operand(r, dtype, [], 40, 64, 'cols', 72, 1), operand(r, dtype, [], 64, 48, 'cols', 56, 1), dtype, o);
        });
        await cases.run(`general ${JSON.stringify(o)}: A's batch stride 68 values (rows 136 apart)`, async () => {
          const baseRef = randomArray(r, dtype, [40, 2, 68], (q) => q.uniform(-1, 1));
          const a = { t: upload(baseRef, dtype, dev).slice(-1, 0, 64).permute([1, 0, 2]), ref: baseRef.slice(-1, 0, 64).permute([1, 0, 2]) };
          await check(a, operand(r, dtype, [], 64, 48, 'cols', 48), dtype, o);
        });
        await cases.run(`general ${JSON.stringify(o)}: A every other column (no unit stride)`, async () => {
          const baseRef = randomArray(r, dtype, [40, 128], (q) => q.uniform(-1, 1));
          const a = { t: upload(baseRef, dtype, dev).slice(-1, 0, undefined, 2), ref: baseRef.slice(-1, 0, undefined, 2) };
          await check(a, operand(r, dtype, [], 64, 48, 'rows', 64), dtype, o);
        });
      }
      cases.done();
    }, 120_000);
});
