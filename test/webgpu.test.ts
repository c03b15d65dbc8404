// The WebGPU backend's own promises, beyond the shared op suites (which run on it through
// forEachBackend): every shader variant compiles through Dawn without an error message; Philox
// numbers match the CPU's; device-side errors (Gather out of range, a lost device) reject the next
// sync point; the buffer pool, the pipeline cache, the device timer and the matmul autotune cache
// work; and a worker thread gets a clear KilnError instead of dawn.node's crash.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { DType } from '../src/index.js';
import { backend } from '../src/backends/index.js';
import type { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import { GpuDevice, sizeClass } from '../src/backends/webgpu/device.js';
import { findAdapters } from '../src/backends/webgpu/dawn.js';
import { probeInputs, probeVerdict } from '../src/backends/webgpu/float-probe.js';
import { WGSL } from '../src/backends/webgpu/kernels.generated.js';
import { DEFAULT_TILE, TILE_CANDIDATES, batchBoxes, dotPath, fitTile, matmulKernels, tileBytes, tileName } from '../src/backends/webgpu/matmul.js';
import { planBackends } from './helpers/backends.js';
import { Cases, expectError } from './helpers/compare.js';
import { rngFor } from './helpers/random.js';
import { DIST_INDEX, ROOT, assertDistFresh, ending } from './helpers/dist.js';

const plan = planBackends().find((p) => p.kind === 'webgpu')!;
const gpu = () => backend('webgpu') as WebGpuBackend;
const D = 'webgpu:0';
const ALL: DType[] = ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool'];
const FLOATS: DType[] = ['float32', 'float16', 'bfloat16'];
const NUMERIC: DType[] = ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'uint8'];

it('size classes: four per power of two, 256 bytes minimum, never smaller than asked', () => {
  expect([0, 1, 256, 257, 1000, 1024, 1025, 3 * 2 ** 20 + 1].map(sizeClass)).toEqual([256, 256, 256, 320, 1024, 1024, 1280, 3.5 * 2 ** 20]);
  for (let n = 1; n < 1e6; n = Math.ceil(n * 1.7)) expect(sizeClass(n)).toBeGreaterThanOrEqual(n);
});

it('matmul tiles fit the workgroup memory WebGPU promises (16 KiB) in every dtype: int64 falls back from the tuned tile where its 8-byte accumulators do not', () => {
  for (const t of TILE_CANDIDATES) {
    expect(tileBytes(t, 4), tileName(t)).toBeLessThanOrEqual(16384);
    const int64 = fitTile(t, 8, 16384);
    expect(tileBytes(int64, 8), tileName(t)).toBeLessThanOrEqual(16384);
    if (tileBytes(t, 8) <= 16384) expect(int64).toBe(t);
    expect(fitTile(t, 8, 32768)).toBe(t);
  }
  expect(tileName(fitTile({ bm: 128, bn: 64, bk: 16, tm: 8, tn: 4 }, 8, 16384))).toBe('64x64x16/4x4');
});

it('the float probe reads subnormal flushing, fma contraction and the opaque() barrier from its three outputs, and anything else as unknown', () => {
  const a = Math.fround(1 + 2 ** -12), err = a * a - Math.fround(a * a);
  const out = (sub: number, fused: number, barrier: number) => Float32Array.from([0, 0, 0, 0, sub, fused, 0, barrier]);
  expect(probeVerdict(out(2 ** -140, 0, 0))).toEqual({ subnormals: 'preserved', fmaContraction: false, roundedProducts: true });
  expect(probeVerdict(out(0, err, 0))).toEqual({ subnormals: 'flushed', fmaContraction: true, roundedProducts: true });
  expect(probeVerdict(out(0, err, err))).toEqual({ subnormals: 'flushed', fmaContraction: true, roundedProducts: false });
  expect(probeVerdict(out(1, 2 * err, 1))).toEqual({ subnormals: 'unknown', fmaContraction: 'unknown', roundedProducts: 'unknown' });
  const ins = probeInputs();
  expect([ins[0], ins[6], ins[7]]).toEqual([2 ** -140, -Math.fround(a * a), 0]); // 2^-140 is a float32 subnormal; io[6] cancels the rounded product; io[7] is opaque()'s zero
  expect(err).toBe(2 ** -24);
});

describe.skipIf(!plan.device && !plan.required)('webgpu backend', () => {
  // the forced autotunes below must not replace the user's cached tile choice
  const userCache = process.env.KILN_CACHE_DIR;
  beforeAll(() => void (process.env.KILN_CACHE_DIR = mkdtempSync(join(tmpdir(), 'kiln-cache-'))));
  afterAll(() => (userCache === undefined ? delete process.env.KILN_CACHE_DIR : (process.env.KILN_CACHE_DIR = userCache)));

  it('is present (KILN_REQUIRE=webgpu makes an absent backend fail here)', () => {
    expect(plan.device, plan.reason).toBe(D);
    const info = kiln.devices().find((d) => d.id === D)!;
    expect(info.details).toMatchObject({ 'timestamp-query': expect.any(Boolean), 'shader-f16': expect.any(Boolean), matmulTile: expect.any(String) });
    // the float probe ran (an error in it would say 'unknown'); lavapipe keeps subnormals and does not fuse
    expect(['preserved', 'flushed']).toContain(info.details.subnormals);
    expect(typeof info.details.fmaContraction).toBe('boolean');
    expect(info.details.roundedProducts, "common.wgsl's opaque() keeps a product's own rounding").toBe(true);
    if (info.details.fallback) expect([info.details.subnormals, info.details.fmaContraction]).toEqual(['preserved', false]);
  });

  it('every shader variant compiles through Dawn without an error message', async () => {
    // One call per (op, dtypes) variant of every kernel family; tiny tensors, so this is mostly compilation.
    await kiln.scope(async () => {
      const t = (d: DType, shape = [2, 3]) => kiln.ones(shape, { dtype: d, device: D });
      const floatUnary = ['exp', 'log', 'sqrt', 'rsqrt', 'reciprocal', 'sin', 'cos', 'tanh', 'sigmoid', 'erf', 'silu', 'floor', 'ceil', 'round', 'gelu', 'leakyRelu',
        'tan', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'asinh', 'acosh', 'atanh'] as const;
      for (const d of FLOATS) {
        for (const f of floatUnary) (t(d)[f] as () => kiln.Tensor).call(t(d));
        t(d).gelu({ approximate: 'tanh' });
        kiln.softmax(t(d));
        kiln.logSoftmax(t(d));
        kiln.layerNorm(t(d), { scale: t(d, [3]), bias: t(d, [3]) });
        kiln.layerNorm(t(d));
        kiln.rmsNorm(t(d), { scale: t(d, [3]) });
        kiln.rmsNorm(t(d));
        kiln.rand([5], { dtype: d, device: D });
        kiln.randn([5], { dtype: d, device: D });
      }
      for (const d of NUMERIC) {
        for (const f of ['abs', 'relu', 'sign'] as const) t(d)[f]();
        if (d !== 'uint8') t(d).neg();
        t(d).clip(0, 1);
        for (const f of [kiln.add, kiln.sub, kiln.mul, kiln.div, kiln.pow, kiln.maximum, kiln.minimum, kiln.mod]) f(t(d), t(d));
        for (const f of ['sum', 'mean', 'max', 'min', 'prod', 'variance'] as const) t(d)[f]({ axes: [1] });
        t(d).argmax({ axis: 1 });
        t(d).argmin({ axis: 1 });
        kiln.arange(0, 4, 1, { dtype: d, device: D });
        if (d !== 'uint8') kiln.matmul(t(d), t(d, [3, 2]));
      }
      kiln.matmul(t('uint8'), t('uint8', [3, 2]));
      for (const d of ['int32', 'int64', 'uint8'] as DType[]) {
        for (const f of [kiln.bitwiseAnd, kiln.bitwiseOr, kiln.bitwiseXor, kiln.leftShift, kiln.rightShift]) f(t(d), t(d));
        t(d).bitwiseNot();
      }
      kiln.gemm(t('float32'), t('float32', [3, 2]), { c: t('float32', [2]), beta: 0.5 });
      for (const d of ALL) {
        for (const f of [kiln.equal, kiln.notEqual, kiln.less, kiln.lessEqual, kiln.greater, kiln.greaterEqual]) f(t(d), t(d));
        kiln.where(t('bool'), t(d), t(d));
        for (const to of ALL) kiln.cast(t(d), to);
        kiln.pad(t(d), [[1, 1], [0, 2]], { mode: 'constant', value: 1 });
        kiln.pad(t(d), [[1, 1], [0, 2]], { mode: 'reflect' });
        kiln.pad(t(d), [[1, 1], [0, 2]], { mode: 'edge' });
        for (const i of ['int32', 'int64'] as DType[]) kiln.gather(t(d), kiln.zeros([2], { dtype: i, device: D }), 1);
        kiln.full([3], 1, { dtype: d, device: D });
      }
      for (const f of [kiln.logicalAnd, kiln.logicalOr, kiln.logicalXor]) f(t('bool'), t('bool'));
      t('bool').logicalNot();
      await kiln.sync();
    });
    // every matmul tile configuration (the autotune compiles and times each)
    await gpu().tune(0, { force: true, size: 64 });
    const report = await gpu().compilation(0);
    const errors = report.flatMap((r) => r.messages.filter((m) => m.type === 'error').map((m) => `${m.message} (line ${m.line})`));
    expect(errors).toEqual([]);
    expect(report.length).toBeGreaterThan(300);
  });

  it('every matmul tile configuration (subgroup variants included) gives the CPU result on odd shapes, batches and views', async () => {
    const before = kiln.devices().find((d) => d.id === D)!.details.matmulTile;
    const tiles = gpu().matmulTiles(0);
    matmulKernels.path = 'tile'; // skinny shapes would take the dot path
    try {
      for (const tile of tiles) {
        gpu().setMatmulTile(0, tile);
        for (const [b, m, k, n] of [[1, 67, 45, 131], [3, 20, 64, 36], [2, 129, 7, 5]]) {
          await kiln.scope(async () => {
            const a = kiln.rand([b, m, k], { seed: m, low: -1, high: 1 }), bb = kiln.rand([b, n, k], { seed: n, low: -1, high: 1 });
            const ga = kiln.rand([b, m, k], { seed: m, low: -1, high: 1, device: D }), gb = kiln.rand([b, n, k], { seed: n, low: -1, high: 1, device: D });
            const want = (await kiln.matmul(a, bb.transpose(1, 2)).data()) as Float32Array;
            const got = (await kiln.matmul(ga, gb.transpose(1, 2)).data()) as Float32Array;
            const contiguous = (await kiln.matmul(ga, gb.transpose(1, 2).contiguous()).data()) as Float32Array;
            for (let i = 0; i < want.length; ++i) {
              expect(Math.abs(got[i] - want[i]), `${JSON.stringify(tile)} [${b},${m},${k},${n}] at ${i}`).toBeLessThan(1e-5 * k);
              expect(Math.abs(contiguous[i] - want[i]), `${JSON.stringify(tile)} vec4 [${b},${m},${k},${n}] at ${i}`).toBeLessThan(1e-5 * k);
            }
          });
        }
      }
    } finally {
      matmulKernels.path = 'auto';
      gpu().setMatmulTile(0, tiles.find((t) => tileName(t) === before) ?? tiles[0]);
    }
  });

  it('a matmul taller or wider than 65535 tiles runs in bands of dispatches (WebGPU caps each dispatch dimension at 65535 workgroups)', async () => {
    const before = kiln.devices().find((d) => d.id === D)!.details.matmulTile;
    const tiles = gpu().matmulTiles(0);
    const small = tiles.find((t) => t.bm === 32 && t.bn === 32 && !t.subgroups)!;
    gpu().setMatmulTile(0, small);
    matmulKernels.path = 'tile';
    try {
      const long = 65535 * 32 + 37; // 65537 tiles along M (then N): two dispatches each
      for (const [m, k, n] of [[long, 3, 2], [2, 3, long]]) {
        await kiln.scope(async () => {
          const a = kiln.rand([m, k], { seed: m, low: -1, high: 1 }), b = kiln.rand([k, n], { seed: n, low: -1, high: 1 });
          const want = (await kiln.matmul(a, b).data()) as Float32Array;
          const got = (await kiln.matmul(a.to(D), b.to(D)).data()) as Float32Array;
          let bad = -1;
          for (let i = 0; i < want.length && bad < 0; ++i) if (!(Math.abs(got[i] - want[i]) <= 1e-5 * k)) bad = i;
          expect(bad, `[${m},${k},${n}] first wrong element ${bad}: ${got[bad]} vs ${want[bad]}`).toBe(-1);
        });
      }
    } finally {
      matmulKernels.path = 'auto';
      gpu().setMatmulTile(0, tiles.find((t) => tileName(t) === before) ?? tiles[0]);
    }
  });

  it('a tiled matmul of more than 65535 batches runs as boxes of the batch dims, one dispatch each (z caps at 65535 too)', async () => {
    // one batch dim past the cap, transposed; dims that fit whole after a run of the one before, with
    // a broadcast operand (batchBoxes' unit test below takes single indices of leading dims)
    const cases: [number[], number[], boolean][] = [
      [[70000, 2, 3], [70000, 3, 2], true],
      [[300, 300, 1, 2], [1, 300, 2, 3], false],
    ];
    const before = kiln.devices().find((d) => d.id === D)!.details.matmulTile;
    const tiles = gpu().matmulTiles(0);
    gpu().setMatmulTile(0, tiles.find((t) => t.bm === 32 && t.bn === 32 && !t.subgroups)!);
    matmulKernels.path = 'tile';
    try {
      for (const [sa, sb, transposeA] of cases)
        await kiln.scope(async () => {
        const k = sa[sa.length - 1];
        const a0 = kiln.rand(transposeA ? [...sa.slice(0, -2), sa[sa.length - 1], sa[sa.length - 2]] : sa, { seed: 3, low: -1, high: 1 });
        const a = transposeA ? a0.transpose(-1, -2) : a0;
        const b = kiln.rand(sb, { seed: 4, low: -1, high: 1 });
        const want = (await kiln.matmul(a, b).data()) as Float32Array;
        const got = (await kiln.matmul(a.to(D), b.to(D)).data()) as Float32Array;
        let bad = -1;
        for (let i = 0; i < want.length && bad < 0; ++i) if (!(Math.abs(got[i] - want[i]) <= 1e-5 * k)) bad = i;
        expect(bad, `[${sa}] @ [${sb}] first wrong element ${bad}: ${got[bad]} vs ${want[bad]}`).toBe(-1);
        });
    } finally {
      matmulKernels.path = 'auto';
      gpu().setMatmulTile(0, tiles.find((t) => tileName(t) === before) ?? tiles[0]);
    }
  });

  it('the dot path (skinny products, tiny batched ones) gives the result of the tile path bit for bit, every dtype, views and broadcasts, gemm with C', async () => {
    const rule = [dotPath(1, 4096, 1, DEFAULT_TILE), dotPath(4096, 1, 1, DEFAULT_TILE), dotPath(70000 * 3, 3, 1, DEFAULT_TILE), dotPath(64, 64, 1, DEFAULT_TILE), dotPath(40, 40, 1, DEFAULT_TILE)];
    expect(rule).toEqual([true, true, true, false, false]);
    for (const [env, want] of [['tile', false], ['dot', true]] as const) {
      process.env.KILN_WEBGPU_MATMUL_PATH = env;
      expect(dotPath(64, 64, 1, DEFAULT_TILE) || dotPath(1, 4096, 1, DEFAULT_TILE), env).toBe(want);
    }
    process.env.KILN_WEBGPU_MATMUL_PATH = 'tiles';
    expectError(() => kiln.matmul(kiln.ones([2, 2], { device: D }), kiln.ones([2, 2], { device: D })), 'E_ARGUMENT', "KILN_WEBGPU_MATMUL_PATH must be 'auto', 'tile' or 'dot', got 'tiles'");
    delete process.env.KILN_WEBGPU_MATMUL_PATH;
    const r = rngFor('webgpu dot path');
    // batch A, batch B (a 1 broadcasts), M, K, N (M, N not coprime: i % M, i % N would also cover
    // Y); A transposed; B a strided slice
    const shapes: [number[], number[], number, number, number][] = [[[], [], 1, 37, 70], [[], [], 45, 19, 1], [[], [], 6, 5, 4], [[5], [1], 4, 3, 6], [[2, 1], [1, 3], 2, 0, 4], [[3], [3], 1, 1, 1]];
    const cases = new Cases();
    for (const dtype of NUMERIC)
      for (const [ba, bb, M, K, N] of shapes)
        await cases.run(`${dtype} [${ba}] ${M}x${K} @ [${bb}] ${K}x${N}`, async () => {
          const gen = dtype === 'uint8' ? () => r.int(0, 255) : dtype === 'int32' || dtype === 'int64' ? () => r.int(-1000, 1000) : () => r.uniform(-1, 1);
          const make = (shape: number[]) => kiln.tensor(Array.from({ length: shape.reduce((p, v) => p * v, 1) }, gen), { dtype, device: D }).reshape(shape);
          const a = make([...ba, K, M]).transpose(-1, -2);
          const b = make([...bb, K, 2 * N + 1]).slice(-1, 0, 2 * N, 2);
          const c = make([M, N]);
          const run = async (path: 'dot' | 'tile') => {
            matmulKernels.path = path;
            try {
              const y = kiln.matmul(a, b);
              const g = ba.length === 0 ? kiln.gemm(a, b, { c, alpha: 2, beta: -3 }) : undefined;
              const out = [Array.from((await y.data()) as ArrayLike<number | bigint>), g ? Array.from((await g.data()) as ArrayLike<number | bigint>) : []];
              y.dispose(), g?.dispose();
              return out;
            } finally {
              matmulKernels.path = 'auto';
            }
          };
          const [dot, tile] = [await run('dot'), await run('tile')];
          expect(dot.map((v) => v.map(String))).toEqual(tile.map((v) => v.map(String)));
          a.dispose(), b.dispose(), c.dispose();
        });
    cases.done();
  });

  it('batchBoxes covers every batch entry exactly once, in boxes of at most the cap', () => {
    for (const [shape, most] of [[[3, 7, 5], 10], [[5, 4], 4], [[2, 3], 100], [[11], 4], [[2, 1, 9], 3]] as [number[], number][]) {
      const strides = shape.map((_, d) => shape.slice(d + 1).reduce((p, v) => p * v, 1));
      const seen = new Array(shape.reduce((p, v) => p * v, 1)).fill(0);
      for (const box of batchBoxes(shape, [strides, strides.map((s) => 2 * s)], most)) {
        const n = box.shape.reduce((p, v) => p * v, 1);
        expect(n, `[${shape}] box [${box.shape}]`).toBeLessThanOrEqual(most);
        expect(box.at[1]).toBe(2 * box.at[0]);
        for (let i = 0; i < n; ++i) {
          let off = box.at[0];
          for (let d = box.shape.length - 1, rem = i; d >= 0; --d) (off += (rem % box.shape[d]) * strides[d]), (rem = Math.floor(rem / box.shape[d]));
          seen[off]++;
        }
      }
      expect(seen.every((c) => c === 1), `[${shape}] cap ${most}: ${seen}`).toBe(true);
    }
  });

  it('rand gives exactly the CPU numbers for a seed, randn the same within a few float32 ulp', async () => {
    for (const seed of [0, 7, 2 ** 40 + 3]) {
      const g = (await kiln.rand([1031], { seed, device: D }).data()) as Float32Array;
      const c = (await kiln.rand([1031], { seed }).data()) as Float32Array;
      expect(Array.from(g)).toEqual(Array.from(c));
      const gn = (await kiln.randn([1029], { seed, device: D }).data()) as Float32Array;
      const cn = (await kiln.randn([1029], { seed }).data()) as Float32Array;
      // WGSL has no float64: Box-Muller runs in f32 with the angle reduced in integers (random.wgsl)
      for (let i = 0; i < cn.length; ++i) expect(Math.abs(gn[i] - cn[i])).toBeLessThanOrEqual(1e-7 + 1e-6 * Math.abs(cn[i]));
    }
  });

  it('a Gather encoded while a read waits keeps its index check for a later sync point', async () => {
    // The read's sync point once also ran the checks registered while it waited: it mapped and
    // destroyed the second Gather's status copy before that copy was submitted ("[Buffer] used in
    // submit while destroyed" at the next sync point).
    const x = kiln.arange(0, 4, 1, { device: D });
    const first = kiln.gather(x, kiln.tensor([1], { dtype: 'int32', device: D }));
    const reading = first.data();
    const second = kiln.gather(x, kiln.tensor([2], { dtype: 'int32', device: D }));
    const bad = kiln.gather(x, kiln.tensor([7], { dtype: 'int32', device: D }));
    expect(Array.from((await reading) as Float32Array)).toEqual([1]);
    await kiln.sync();
    expect(await second.toArray()).toEqual([2]);
    await expect(bad.data()).rejects.toMatchObject({ code: 'E_INDEX' });
  });

  it('an out-of-range Gather index rejects the read of its result with E_INDEX (and the device stays usable)', async () => {
    const x = kiln.arange(0, 6, 1, { device: D }).reshape([2, 3]);
    const y = kiln.gather(x, kiln.tensor([0, 5], { dtype: 'int32', device: D }), 1);
    const err = await y.data().then(() => undefined, (e: unknown) => e as kiln.KilnError);
    expect(err?.code).toBe('E_INDEX');
    expect(err?.message).toMatch(/index 5 is out of range for axis 1 of size 3/);
    expect(await kiln.gather(x, kiln.tensor([-1], { dtype: 'int64', device: D }), 1).toArray()).toEqual([[2], [5]]);
  });

  it('writes at any byte offset and length keep the bytes around them (partial words patched on the device)', async () => {
    const n = 23, fill = 0xa5, model = new Uint8Array(n).fill(fill);
    const t = kiln.tensor(Array.from(model), { dtype: 'uint8', device: D });
    const s = t.storageFor('test');
    let k = 0;
    for (const [at, len] of [[0, 1], [1, 2], [3, 1], [5, 6], [2, 9], [12, 4], [16, 7], [21, 2], [7, 1], [0, 23]] as const) {
      const bytes = Uint8Array.from({ length: len }, () => (k = (k * 37 + 11) % 251));
      s.backend.write(s.buffer, bytes, at);
      model.set(bytes, at);
      expect(Array.from((await t.data()) as Uint8Array), `after writing ${len} bytes at ${at}`).toEqual(Array.from(model));
    }
    expectError(() => s.backend.write(s.buffer, new Uint8Array(4), 1 << 20), 'E_ARGUMENT');
    t.dispose();
  });

  it('allocations beyond the device limit fail at once with E_OOM', () => {
    const limit = kiln.devices().find((d) => d.id === D)!.details.maxBufferSize as number;
    const e = expectError(() => kiln.zeros([Math.ceil(limit / 4) + 1024], { device: D }), 'E_OOM');
    expect(e.message).toMatch(/webgpu:0/);
  });

  it('hundreds of ops between sync points, each with its own shapes and strides, give the CPU results (the constants arena fills, flushes and grows mid-stream)', async () => {
    // operands broadcast along alternate dims, so no two dims coalesce: rank-5 constants (~100 bytes) per op
    const want: number[][] = [];
    const got: kiln.Tensor[] = [];
    for (let i = 0; i < 300; ++i) {
      const n = 1 + (i % 7), a = 1 + (i % 3);
      const x = Array.from({ length: a * 3 * n }, (_, j) => i + 0.5 * j), y = [1, -2, 3, -4].map((v) => v * (1 + (i % 5)));
      const make = (device: string) =>
        kiln.scope(() => {
          const yb = kiln.tensor(y, { device }).reshape([1, 2, 1, 2, 1]);
          return kiln.tensor(x, { device }).reshape([a, 1, 3, 1, n]).add(yb).mul(yb);
        });
      want.push(Array.from((await make('cpu').data()) as Float32Array));
      got.push(make(D));
    }
    for (let i = 0; i < got.length; ++i) expect(Array.from((await got[i].data()) as Float32Array), `op chain ${i}`).toEqual(want[i]);
    for (const t of got) t.dispose();
    expect((gpu().memoryInfo()[D] as { constantsBytes: number }).constantsBytes, 'the arena grew past its first 4 KiB').toBeGreaterThan(4096);
  });

  it('a snapshot bound by a dispatch whose constants flush the arena first outlives that flush (found by the cpu/webgpu ONNX fuzz)', async () => {
    // A fresh device, so its constants arena is still the small first one.
    const [found] = await findAdapters();
    const dev = await GpuDevice.open(found, 99);
    try {
      const b = dev.alloc(1024);
      const snap = dev.snapshot(b); // retired at once: destroyed after the next submission
      // patch_words with 0 words to patch writes nothing, but its 20 KB of constants overflow the arena:
      // #place submits what is encoded before binding `snap` for the next submission
      const words = new Int32Array(5000);
      dev.dispatch(dev.pipeline(WGSL.patch_words), [snap, dev.constants(words)], [1, 1, 1]);
      await dev.settle('test'); // before: "[Buffer] used in submit while destroyed"
      dev.release(b);
    } finally {
      dev.destroy();
    }
  });

  it('the buffer pool reuses freed buffers and the pipeline cache reuses compiled variants', async () => {
    const mem = () => gpu().memoryInfo()[D] as { liveBytes: number; pooledBytes: number; pipelines: number };
    const a = kiln.ones([1000], { device: D });
    const live = mem().liveBytes;
    a.dispose();
    expect(mem().liveBytes).toBe(live - sizeClass(4000));
    const pooled = mem().pooledBytes;
    const b = kiln.ones([1000], { device: D });
    expect(mem().pooledBytes).toBe(pooled - sizeClass(4000)); // came from the pool
    const pipelines = mem().pipelines;
    await b.exp().add(b).data();
    const compiled = mem().pipelines;
    await b.exp().add(b).data();
    expect(mem().pipelines).toBe(compiled);
    expect(compiled).toBeGreaterThanOrEqual(pipelines);
  });

  it('the device timer measures work between start and stop with timestamp queries', async () => {
    const timer = gpu().timer(0);
    const a = kiln.rand([128, 128], { seed: 1, device: D });
    timer.start();
    for (let i = 0; i < 3; ++i) kiln.matmul(a, a);
    const ms = await timer.stop();
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(60_000);
  });

  it('the matmul autotune result is cached on disk per adapter and reused from memory', async () => {
    const dir = process.env.KILN_CACHE_DIR!;
    const first = await gpu().tune(0, { force: true, size: 64 });
    expect(first.source).toBe('measured');
    const subgroups = kiln.devices().find((d) => d.id === D)!.details.subgroups;
    expect(first.timings).toHaveLength(TILE_CANDIDATES.filter((t) => subgroups || !t.subgroups).length);
    const cached = JSON.parse(readFileSync(join(dir, 'webgpu-matmul.json'), 'utf8'));
    const entry = Object.values(cached)[0] as { tile: unknown };
    expect(entry.tile).toEqual(first.tile);
    expect((await gpu().tune(0)).source).toBe('memory');
    expect(kiln.devices().find((d) => d.id === D)!.details.matmulTile).toBe(tileName(first.tile));
  });

  it('a worker thread gets E_UNSUPPORTED for WebGPU instead of a crash, while the main thread keeps computing', () => {
    assertDistFresh();
    // a child process: if dawn.node crashed there, vitest would survive and see the signal
    const r = spawnSync(process.execPath, [join(ROOT, 'test', 'fixtures', 'webgpu-worker.mjs'), DIST_INDEX], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, ending(r)).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out.main).toEqual([2, 4, 6]);
    expect(out.after).toEqual([5]);
    expect(out.worker.devices.filter((d: string) => d.startsWith('webgpu'))).toEqual([]); // cpu, and cuda:N where a GPU is
    expect(out.worker.devices).toContain('cpu');
    expect(out.worker.init.code).toBe('E_UNSUPPORTED');
    expect(out.worker.init.message).toMatch(/main thread.*node-webgpu#13/);
    expect(out.worker.tensor.code).toBe('E_DEVICE');
    expect(out.worker.tensor.message).toMatch(/worker thread/);
    expect(out.worker.cpu).toEqual([2, 3]);
  });

  // last: the device is gone afterwards
  it('a lost device rejects the next sync point and every later call with E_DEVICE_LOST', async () => {
    const a = kiln.ones([4], { device: D });
    const pending = a.add(1);
    gpu().destroyDevice(0);
    const err = await pending.data().then(() => undefined, (e: unknown) => e as kiln.KilnError);
    expect(err?.code).toBe('E_DEVICE_LOST');
    expectError(() => kiln.ones([4], { device: D }), 'E_DEVICE_LOST');
    expectError(() => a.mul(2), 'E_DEVICE_LOST');
    await expect(kiln.sync()).rejects.toMatchObject({ code: 'E_DEVICE_LOST' });
  });
});
