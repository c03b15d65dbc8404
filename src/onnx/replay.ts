// Replays of a recorded run, for the Kiln engine on the CPU. The first run of a session with a given
// input signature (dtype, shape, strides and offset of every feed, and the outputs asked for) runs
// node by node as usual, inside recording windows (src/backends/cpu-recorder.ts). If nothing in it
// depended on values read back to the host or on fresh random numbers, the recording becomes a
// native program (native/program.h), and every later run with that signature is one native call:
// allocate the outputs, bind this run's feeds, run the kernels in one queue task. What that skips is
// the per-node cost around the kernels: the JS front end of each op, the launch's parsing and checks,
// allocations, and a queue hand-off between consecutive kernels (measured in bench/results).
//
// Intermediates live in the program's arena: each gets a byte range, and two intermediates share
// bytes only when their lifetimes (first to last step that touches them) are disjoint, so the arena
// is about the run's peak of live intermediates, as the node-by-node run's own frees would give.
// KILN_ONNX_REPLAY=0 turns replays off (every run goes node by node).
import type { BufferHandle } from '../backends/backend.js';
import { resolveDevice } from '../backends/backend.js';
import type { CpuRecorder, RecordedStep } from '../backends/cpu-recorder.js';
import { handleOf, type CpuBackend } from '../backends/cpu.js';
import type { DType } from '../dtype.js';
import { fail } from '../errors.js';
import { DATA_CHECKED_OPS, Fault } from '../faults.js';
import { Storage, disposeAll } from '../lifetime.js';
import { native, type NativeHandle, type NativeProgram, type ProgramStep } from '../native.js';
import { flowFaults } from '../ops/run.js';
import { Tensor } from '../tensor.js';

const enum Slot {
  Constant = 0,
  Input = 1,
  Output = 2,
  Arena = 3,
}

const ALIGN = 64;

/** The key a recording is kept under: every feed's layout and the outputs asked for. */
export function signature(feeds: ReadonlyMap<string, Tensor>, outputs: readonly string[]): string {
  let key = outputs.join('\u0000');
  for (const [name, t] of feeds) key += `\u0001${name}:${t.dtype}:${t.shape.join(',')}:${t.strides.join(',')}:${t.offset}`;
  return key;
}

/** A signature's feeds as people read them: "x: float32[2, 40]" (strides and offsets left out). */
export function describeSignature(key: string): string {
  return key.split('\u0001').slice(1).map((f) => {
    const parts = f.split(':'); // the name may hold ':' itself (TensorFlow's 'input:0'); the 4 fields after it do not
    const [dtype, shape] = parts.slice(-4);
    return `${parts.slice(0, -4).join(':')}: ${dtype}[${shape.split(',').filter(Boolean).join(', ')}]`;
  }).join(', ');
}

interface OutputView {
  name: string;
  slot: number;
  dtype: DType;
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
}

/**
 * Gives each intermediate a byte range of one arena: largest first, each at the lowest offset whose
 * range no intermediate alive at the same time (overlapping [first, last] steps) already holds.
 * The intermediates alive with one are looked up, not scanned for: those alive at its first step (a
 * stabbing query on a segment tree over the steps) and those starting within its lifetime (a range of
 * the list sorted by first step). Scanning every placed one, as this did, made the plan O(n^2): a
 * recurrent node of 10^4 steps (10^5 intermediates) spent 7.6 s here, 2 * 10^4 steps 30 s.
 */
export function planArena(items: { bytes: number; first: number; last: number }[]): { offsets: number[]; bytes: number } {
  const offsets = new Array<number>(items.length).fill(0);
  const placed = new Uint8Array(items.length);
  const sizeOf = (i: number) => Math.ceil(items[i].bytes / ALIGN) * ALIGN;
  // segment tree over steps [0, span): each item listed at the O(log span) nodes covering [first, last]
  const span = items.reduce((m, it) => Math.max(m, it.last + 1), 1);
  const nodes: number[][] = [];
  const insert = (i: number, node: number, lo: number, hi: number) => {
    const it = items[i];
    if (it.last < lo || it.first >= hi) return;
    if (it.first <= lo && hi - 1 <= it.last) {
      (nodes[node] ??= []).push(i);
      return;
    }
    const mid = (lo + hi) >> 1;
    insert(i, 2 * node, lo, mid), insert(i, 2 * node + 1, mid, hi);
  };
  items.forEach((_, i) => insert(i, 1, 0, span));
  const byFirst = items.map((_, i) => i).sort((a, b) => items[a].first - items[b].first);
  /** The first index into byFirst whose item starts after `step`. */
  const after = (step: number) => {
    let lo = 0, hi = byFirst.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (items[byFirst[mid]].first <= step) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  let total = 0;
  const order = items.map((_, i) => i).sort((a, b) => items[b].bytes - items[a].bytes || items[a].first - items[b].first);
  for (const i of order) {
    const it = items[i];
    const size = sizeOf(i);
    const alive: number[] = [];
    for (let node = 1, lo = 0, hi = span; ; ) {
      for (const j of nodes[node] ?? []) alive.push(j);
      if (hi - lo <= 1) break;
      const mid = (lo + hi) >> 1;
      if (it.first < mid) (node = 2 * node), (hi = mid);
      else (node = 2 * node + 1), (lo = mid);
    }
    for (let k = after(it.first), end = after(it.last); k < end; ++k) alive.push(byFirst[k]);
    const busy = alive.filter((j) => placed[j]).map((j) => [offsets[j], offsets[j] + sizeOf(j)]).sort((a, b) => a[0] - b[0]);
    let at = 0;
    for (const [lo, hi] of busy) {
      if (at + size <= lo) break;
      at = Math.max(at, hi);
    }
    offsets[i] = at;
    total = Math.max(total, at + size);
    placed[i] = 1;
  }
  return { offsets, bytes: total };
}

/** One recorded run, replayable for feeds of the same signature. */
export class Replay {
  #program: NativeProgram | undefined;
  private constructor(
    private readonly device: string,
    program: NativeProgram,
    /** Per slot: its kind, the feed name (Input) or the byte size (Output). */
    private readonly slots: { kind: Slot; input?: string; bytes: number }[],
    private readonly outputs: OutputView[],
    /** Kernels per replay, for tests and stats. */
    readonly kernels: number,
    /** Whether a step checks values it reads (faults.ts): each replay then carries one fault for all of them. */
    private readonly checks: boolean,
  ) {
    this.#program = program;
  }

  /**
   * The program for a finished recording, or why there is none. `feeds` and `result` are the
   * recorded run's: the feeds it was given and the tensors it returned (still alive).
   */
  static from(rec: CpuRecorder, device: string, feeds: ReadonlyMap<string, Tensor>, result: Record<string, Tensor>): Replay | string {
    if (rec.invalid) return rec.invalid;
    const bufferOf = (t: Tensor) => t.storageFor('onnx replay').buffer;
    const inputOf = new Map<BufferHandle, string>();
    for (const [name, t] of feeds) {
      if (inputOf.has(bufferOf(t))) return `inputs '${inputOf.get(bufferOf(t))}' and '${name}' share a buffer`;
      inputOf.set(bufferOf(t), name);
    }
    const outputBuffers = new Set(Object.values(result).map(bufferOf));
    for (const [name, t] of Object.entries(result))
      if (!rec.fresh.has(bufferOf(t))) return `output '${name}' is an input or a constant of the graph, not a value the run computes`;

    // Slots, in order of first use; each fresh non-output buffer's lifetime in steps.
    const slotOf = new Map<BufferHandle, number>();
    const slots: { kind: Slot; input?: string; bytes: number; buffer: BufferHandle; first: number; last: number }[] = [];
    const use = (b: BufferHandle, step: number): number => {
      let s = slotOf.get(b);
      if (s === undefined) {
        const kind = inputOf.has(b) ? Slot.Input : outputBuffers.has(b) ? Slot.Output : rec.fresh.has(b) ? Slot.Arena : Slot.Constant;
        slotOf.set(b, (s = slots.length));
        slots.push({ kind, input: inputOf.get(b), bytes: b.nbytes, buffer: b, first: step, last: step });
      }
      slots[s].last = step;
      return s;
    };
    const steps: ProgramStep[] = rec.steps.map((st: RecordedStep, i) =>
      st.kind === 'launch'
        ? { op: st.op, slots: st.buffers.map((b) => use(b, i)), desc: st.desc, attrs: st.attrs }
        : { slot: use(st.buffer, i), offset: st.byteOffset, bytes: st.bytes },
    );
    for (const b of outputBuffers) use(b, rec.steps.length);  // an output no step writes still needs its slot

    const arena = slots.map((s, i) => ({ s, i })).filter(({ s }) => s.kind === Slot.Arena);
    const plan = planArena(arena.map(({ s }) => s));
    const desc = new Float64Array(3 * slots.length);
    slots.forEach((s, i) => desc.set([s.kind, s.bytes, 0], 3 * i));
    arena.forEach(({ i }, j) => (desc[3 * i + 2] = plan.offsets[j]));
    const handles = slots.map((s) => (s.kind === Slot.Arena ? null : (s.buffer as BufferHandle & { handle: NativeHandle }).handle));
    const program = native().program(desc, handles, steps);
    const outputs = Object.entries(result).map(([name, t]) => ({
      name, slot: slotOf.get(bufferOf(t))!, dtype: t.dtype, shape: t.shape, strides: t.strides, offset: t.offset,
    }));
    return new Replay(device, program, slots.map(({ kind, input, bytes }) => ({ kind, input, bytes })), outputs, steps.filter((s) => 'op' in s).length,
      steps.some((s) => 'op' in s && DATA_CHECKED_OPS.has(s.op)));
  }

  /** One run: new output tensors (the caller's), computed from `feeds` (same signature as recorded). */
  run(feeds: ReadonlyMap<string, Tensor>): Record<string, Tensor> {
    const program = this.#program;
    if (!program) fail('E_DISPOSED', 'onnx session: run() after dispose()');
    const { backend, index, id } = resolveDevice(this.device);
    const storages = new Map<number, Storage>();
    const handles: (NativeHandle | null)[] = this.slots.map((s, i) => {
      if (s.kind === Slot.Input) return handleOf(feeds.get(s.input!)!.view('onnx session run'));
      if (s.kind !== Slot.Output) return null;
      const storage = new Storage(backend, id, backend.alloc(index, s.bytes));
      storages.set(i, storage);
      return (storage.buffer as BufferHandle & { handle: NativeHandle }).handle;
    });
    const result: Record<string, Tensor> = {};
    for (const o of this.outputs) result[o.name] = new Tensor(storages.get(o.slot)!, o.dtype, o.shape, o.strides, o.offset);
    const fault = this.checks ? new Fault(() => backend.sync(index)) : undefined;
    try {
      (backend as CpuBackend).faults.tagged(fault, (faultId) => native().replay(program, handles, faultId));
    } catch (e) {
      disposeAll(result);
      throw e;
    }
    flowFaults([...feeds.values()], Object.values(result), fault);
    return result;
  }

  dispose(): void {
    if (this.#program) native().freeProgram(this.#program);
    this.#program = undefined;
  }
}
