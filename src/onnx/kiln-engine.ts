// The Kiln engine: runs an ONNX graph with Kiln ops on any device. At load it checks every node
// (op, opset, attributes, the native ops it needs on the device) and throws E_UNSUPPORTED before
// anything runs; uploads the weights; fuses a few patterns (fuse.ts); orders the nodes
// topologically; infers static shapes where dims are known (shapes.ts) and folds constant
// subgraphs (shape arithmetic included: Shape of a value with a static shape is a constant); and
// plans when each intermediate dies. A run walks the plan, freeing every intermediate after its last use.
import { abortable, signalArg, throwIfAborted } from '../abort.js';
import { disposeAll } from '../lifetime.js';
import { optionsArg } from '../args.js';
import { resolveDevice } from '../backends/backend.js';
import { CpuRecorder, recording } from '../backends/cpu-recorder.js';
import { KilnError, fail } from '../errors.js';
import { DTYPES } from '../dtype.js';
import { labelFaults } from '../faults.js';
import { fmtShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import type { Graph, Model, Node } from './model.js';
import { tensorValues } from './model.js';
import { fuse } from './fuse.js';
import { inferShape } from './shapes.js';
import { MAX_IR_VERSION, opHandler, type HostValue, type OpContext, type OpHandler } from './ops/registry.js';
import { checkSupport, describeNode, hasNativeOp } from './support.js';
import { upload } from './upload.js';
import { RUN_OPTION_KEYS, inputsOf, metadataOf, type InferenceSession, type RunOptions } from './session.js';
import { Replay, describeSignature, signature } from './replay.js';
import './ops/index.js';


/** Names a graph reads from enclosing scopes (nested graphs included). */
function captures(g: Graph): Set<string> {
  const local = new Set<string>([...g.inputs.map((v) => v.name), ...g.initializers.keys()]);
  const out = new Set<string>();
  for (const n of g.nodes) {
    const reads = [...n.inputs, ...[...n.subgraphs.values()].flatMap((s) => [...captures(s)])];
    for (const r of reads) if (r && !local.has(r)) out.add(r);
    for (const o of n.outputs) local.add(o);
  }
  return out;
}

/** Everything a node reads, its subgraphs' captures included. */
const reads = (n: Node): string[] => [...n.inputs.filter(Boolean), ...[...n.subgraphs.values()].flatMap((s) => [...captures(s)])];

function topoSort(g: Graph, available: Set<string>): Node[] {
  const producer = new Map<string, number>();
  g.nodes.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
  const state = new Uint8Array(g.nodes.length); // 0 new, 1 visiting, 2 done
  const order: Node[] = [];
  const visit = (i: number) => {
    if (state[i] === 2) return;
    if (state[i] === 1) fail('E_ARGUMENT', `onnx: the graph has a cycle through ${describeNode(g.nodes[i], 0)}`);
    state[i] = 1;
    for (const r of reads(g.nodes[i])) {
      const p = producer.get(r);
      if (p !== undefined) visit(p);
      else if (!available.has(r)) fail('E_ARGUMENT', `onnx: node '${g.nodes[i].name}' reads '${r}', which nothing produces`);
    }
    state[i] = 2;
    order.push(g.nodes[i]);
  };
  g.nodes.forEach((_, i) => visit(i));
  return order;
}

const hostOf = async (t: Tensor): Promise<HostValue> => ({ shape: [...t.shape], values: await t.data() });

/** How a graph runs: what it sees of enclosing scopes, and what the run asked for. */
interface Exec {
  /** Values of the enclosing graphs (a subgraph's captures). */
  scope?: (name: string) => Tensor | undefined;
  /** Records the CPU work of each node (replay.ts). */
  rec?: CpuRecorder;
  /** The run's signal: checked before every node, subgraphs' nodes (each Loop iteration) included. */
  signal?: AbortSignal;
  /** Milliseconds per op type (the top-level graph only). */
  profile?: Record<string, number>;
}
const HOST_FOLD_LIMIT = 1 << 16;

/** One graph (the model's, or an If branch) ready to run. */
class GraphPlan {
  readonly constants = new Map<string, Tensor>();
  readonly hosts = new Map<string, HostValue>();
  order: Node[] = [];
  folded = 0;
  /** Values to free after order[i]. */
  frees: string[][] = [];
  /**
   * Values computed from input shapes and constants only (Shape, Size, then any node without a
   * subgraph over such values and constants: an exporter's shape arithmetic). A run that reads one
   * on the host can still be recorded: the value is the same for every run of that input signature.
   */
  shapeDerived = new Set<string>();

  constructor(readonly graph: Graph, readonly model: Model, readonly device: string, readonly outer: Set<string>) {}

  get opset(): number {
    return this.model.opsets.get('') ?? 1;
  }

  async prepare(): Promise<void> {
    const g = this.graph;
    for (const [name, proto] of g.initializers) {
      const h = tensorValues(proto, this.model.dir, `initializer '${name}'`);
      this.constants.set(name, upload(h, this.device));
      if (h.dtype === 'int64' || h.dtype === 'int32') this.hosts.set(name, { shape: h.shape, values: h.data });
    }
    const fed = new Set(g.inputs.map((v) => v.name));
    const { backend } = resolveDevice(this.device);
    await fuse({ graph: g, constants: this.constants, fed, supports: (op) => hasNativeOp(backend, op), kind: backend.kind });
    this.order = topoSort(g, new Set([...fed, ...this.constants.keys(), ...this.outer]));
    await this.fold(fed);
    this.dropUnused();
    this.planFrees();
    this.findShapeDerived(fed);
  }

  private findShapeDerived(fed: Set<string>): void {
    const known = (name: string) => !name || this.shapeDerived.has(name) || (this.constants.has(name) && !fed.has(name));
    for (const n of this.order) {
      const fromShapes = n.opType === 'Shape' || n.opType === 'Size' || (n.subgraphs.size === 0 && n.inputs.length > 0 && n.inputs.every(known));
      if (fromShapes) for (const o of n.outputs) if (o) this.shapeDerived.add(o);
    }
  }

  /** Runs, at load, every node whose inputs are all constants (Shape: whose input shape is static). */
  private async fold(fed: Set<string>): Promise<void> {
    const staticShape = new Map<string, number[]>();
    for (const v of this.graph.inputs)
      if (!this.constants.has(v.name) && v.shape?.every((d) => typeof d === 'number')) staticShape.set(v.name, v.shape as number[]);
    const kept: Node[] = [];
    for (const n of this.order) {
      const ins = n.inputs.filter(Boolean);
      // A graph input with an initializer is only a default: the caller may feed it, so it is not constant.
      const isConst = (name: string) => this.constants.has(name) && !fed.has(name);
      const foldable = n.subgraphs.size === 0 && (ins.length > 0 || n.opType === 'Constant') &&
        (ins.every(isConst) || (n.opType === 'Shape' && staticShape.has(ins[0])));
      if (!foldable) {
        kept.push(n);
        const shape = this.inferStatic(n, staticShape, fed);
        if (shape && n.outputs[0]) staticShape.set(n.outputs[0], shape);
        continue;
      }
      let inputs: (Tensor | undefined)[];
      let placeholder: Tensor | undefined;
      if (n.opType === 'Shape' && staticShape.has(ins[0])) {
        // Only the shape matters: a broadcast view of one element stands in for the input.
        const shape = staticShape.get(ins[0])!;
        placeholder = upload({ dtype: 'uint8', shape: [], data: new Uint8Array(1) }, this.device);
        inputs = [placeholder.expand(shape)];
      } else inputs = n.inputs.map((i) => (i ? this.constants.get(i) : undefined));
      try {
        this.folded++;
        const outs = await this.runNode(n, inputs, async (name) => this.constHost(name));
        outs.forEach((t, i) => n.outputs[i] && this.constants.set(n.outputs[i], t));
        for (const [i, t] of outs.entries())
          if (n.outputs[i] && (t.dtype === 'int64' || t.dtype === 'int32') && t.size <= HOST_FOLD_LIMIT) this.hosts.set(n.outputs[i], await hostOf(t));
      } finally {
        if (placeholder) {
          inputs[0]?.dispose();
          placeholder.dispose();
        }
      }
    }
    this.order = kept;
  }

  /** The static shape of n's first output from known input shapes and constant host values. */
  private inferStatic(n: Node, known: Map<string, number[]>, fed: Set<string>): number[] | undefined {
    const shapeOf = (name: string) => known.get(name) ?? (this.constants.has(name) && !fed.has(name) ? [...this.constants.get(name)!.shape] : undefined);
    const ints = (i: number) => {
      const h = n.inputs[i] ? this.hosts.get(n.inputs[i]) : undefined;
      return h ? Array.from(h.values, Number) : undefined;
    };
    try {
      return inferShape(n, n.inputs.map((i) => (i ? shapeOf(i) : undefined)), ints, this.opset);
    } catch {
      return undefined; // a shape error surfaces with its node at run time
    }
  }

  private async constHost(name: string): Promise<HostValue> {
    let h = this.hosts.get(name);
    if (!h) this.hosts.set(name, (h = await hostOf(this.constants.get(name)!)));
    return h;
  }

  /** Frees constants nothing reads any more (weights folded into others, inputs of folded nodes). */
  private dropUnused(): void {
    const used = new Set([...this.order.flatMap(reads), ...this.graph.outputs.map((o) => o.name), ...this.graph.inputs.map((v) => v.name)]);
    for (const [name, t] of this.constants)
      if (!used.has(name)) {
        t.dispose();
        this.constants.delete(name);
        this.hosts.delete(name);
      }
  }

  private planFrees(): void {
    const last = new Map<string, number>();
    this.order.forEach((n, i) => reads(n).forEach((r) => last.set(r, i)));
    const keep = new Set([...this.graph.outputs.map((o) => o.name), ...this.constants.keys(), ...this.graph.inputs.map((v) => v.name), ...this.outer]);
    this.frees = this.order.map(() => []);
    this.order.forEach((n, i) => n.outputs.forEach((o) => {
      if (o && !keep.has(o)) this.frees[last.get(o) ?? i].push(o);
    }));
  }

  /** Calls a node's handler with host values fetched first. */
  async runNode(n: Node, inputs: (Tensor | undefined)[], host: (name: string, t: Tensor) => Promise<HostValue>, x: Exec = {}): Promise<Tensor[]> {
    const { rec } = x;
    const h = opHandler(n.opType) as OpHandler;
    const hosts: (HostValue | undefined)[] = [];
    for (const i of h.hostInputs ?? []) if (inputs[i]) hosts[i] = await host(n.inputs[i], inputs[i]!);
    const ctx: OpContext = {
      node: n,
      opset: this.opset,
      device: this.device,
      inputs,
      host: (i) => hosts[i],
      ints: (i) => {
        const h = hosts[i];
        if (!h) return undefined;
        // Shapes, axes, sizes, pads, repeats: ONNX types every such input int32 or int64.
        if (!(h.values instanceof BigInt64Array || h.values instanceof Int32Array))
          fail('E_DTYPE', `input ${i} ('${n.inputs[i]}') holds integers (a shape, axes or sizes) and must be int32 or int64, got ${inputs[i]!.dtype}`);
        return Array.from(h.values, Number);
      },
      runGraph: (g, feeds) => this.runSubgraph(n, g, { scope: x.scope, signal: x.signal }, feeds),
      dir: this.model.dir,
    };
    try {
      const run = () => (rec ? recording(rec, () => h.run(ctx)) : h.run(ctx));
      const out = labelFaults(() => describeNode(n, this.opset), run);
      if (out instanceof Promise) {
        rec?.invalidate(`${describeNode(n, this.opset)} runs asynchronously`);
        return await out;
      }
      return out;
    } catch (e) {
      // Handlers say what is wrong; the node is named once, here. Attribute readers name it
      // themselves (fusion reads attributes outside any run), so theirs pass through.
      if (e instanceof KilnError) throw e.message.startsWith(`node '${n.name}' (`) ? e : new KilnError(e.code, `${describeNode(n, this.opset)}: ${e.message}`);
      throw e;
    }
  }

  readonly subplans = new Map<Graph, GraphPlan>();

  private async runSubgraph(n: Node, g: Graph, x: Exec, feeds: ReadonlyMap<string, Tensor> = new Map()): Promise<Tensor[]> {
    const plan = this.subplans.get(g);
    if (!plan) fail('E_ARGUMENT', `${describeNode(n, this.opset)}: unprepared subgraph`);
    const outs = await plan.execute(new Map(feeds), g.outputs.map((o) => o.name), x);
    return g.outputs.map((o) => outs[o.name]);
  }

  async prepareSubgraphs(): Promise<void> {
    for (const n of this.order)
      for (const g of n.subgraphs.values()) {
        const visible = new Set([...this.outer, ...this.constants.keys(), ...this.graph.inputs.map((v) => v.name), ...this.order.flatMap((m) => m.outputs)]);
        const p = new GraphPlan(g, this.model, this.device, visible);
        await p.prepare();
        await p.prepareSubgraphs();
        this.subplans.set(g, p);
      }
  }

  /** Runs the plan; `feeds` stay the caller's; returns new references for the wanted values. */
  async execute(feeds: Map<string, Tensor>, wanted: readonly string[], x: Exec = {}): Promise<Record<string, Tensor>> {
    const { rec, profile, signal } = x;
    const outerScope = x.scope ?? (() => undefined);
    throwIfAborted('onnx session run', signal); // a graph of no nodes (a Loop body that passes its values on) too
    const env = new Map<string, Tensor>();
    const runHosts = new Map<string, HostValue>();
    const lookup = (name: string): Tensor | undefined => env.get(name) ?? feeds.get(name) ?? this.constants.get(name) ?? outerScope(name);
    const host = async (name: string, t: Tensor) => {
      let h = this.hosts.get(name) ?? runHosts.get(name);
      if (!h) {
        if (!this.shapeDerived.has(name)) rec?.invalidate(`the value '${name}' is read back to the host during the run`);
        runHosts.set(name, (h = await hostOf(t)));
      }
      return h;
    };
    try {
      for (let i = 0; i < this.order.length; ++i) {
        const n = this.order[i];
        throwIfAborted('onnx session run', signal);
        const inputs = n.inputs.map((name) => {
          if (!name) return undefined;
          const t = lookup(name);
          if (!t) fail('E_ARGUMENT', `${describeNode(n, this.opset)}: input '${name}' has no value`);
          return t;
        });
        const t0 = profile ? performance.now() : 0;
        const outs = await this.runNode(n, inputs, host, { scope: lookup, rec, signal });
        if (profile) {
          await resolveDevice(this.device).backend.sync(resolveDevice(this.device).index);
          profile[process.env.KILN_PROFILE_NODES ? n.name : n.opType] = (profile[process.env.KILN_PROFILE_NODES ? n.name : n.opType] ?? 0) + performance.now() - t0;
        }
        n.outputs.forEach((o, k) => {
          if (!outs[k]) return;
          if (o) env.set(o, outs[k]);
          else outs[k].dispose();
        });
        for (const o of outs.slice(n.outputs.length)) o.dispose();
        for (const name of this.frees[i]) {
          env.get(name)?.dispose();
          env.delete(name);
        }
      }
      const values = wanted.map((name) => {
        const t = lookup(name) ?? fail('E_ARGUMENT', `onnx: output '${name}' has no value`);
        // the graph's declared output type is part of the model's contract (onnxruntime refuses the
        // model when its nodes compute another)
        const declared = this.graph.outputs.find((o) => o.name === name)?.dtype;
        if (declared !== undefined && (DTYPES as readonly string[]).includes(declared) && declared !== t.dtype)
          fail('E_DTYPE', `onnx: graph output '${name}' is declared ${declared}, but its nodes compute ${t.describe()}`);
        return t;
      });
      // views made only once every output checked, so a refusal leaves none behind
      return Object.fromEntries(wanted.map((name, i) => [name, values[i].withLayout('onnx', values[i].shape, values[i].strides)]));
    } finally {
      for (const t of env.values()) t.dispose();
    }
  }

  dispose(): void {
    for (const t of this.constants.values()) t.dispose();
    this.constants.clear();
    for (const p of this.subplans.values()) p.dispose();
  }
}

/**
 * Replays (or reasons for none) a session keeps, least recently used evicted; and signatures it
 * remembers having seen once while full. A new signature is recorded on its first run while there
 * is room; once the session is full, on its second (the first runs node by node, remembered), so
 * that a stream of ever-new shapes does not pay for recordings it never replays, while a shape that
 * recurs replaces the replay used least recently.
 */
const MAX_REPLAYS = 8, MAX_SEEN = 64;

export class KilnSession implements InferenceSession {
  readonly engine = 'kiln' as const;
  readonly inputs;
  readonly outputs;
  readonly metadata;
  /** What load did: nodes left to run per call, nodes folded into constants at load. */
  readonly stats: { nodes: number; folded: number };
  #plan: GraphPlan | undefined;
  /** CPU sessions: a replay (or why there is none) per input signature (replay.ts), least recently used first. */
  #replays: Map<string, Replay | string> | undefined;
  /** Signatures first seen while #replays was full, oldest first. */
  #seen = new Set<string>();

  private constructor(readonly model: Model, readonly device: string, plan: GraphPlan) {
    this.inputs = inputsOf(model);
    this.outputs = model.graph.outputs;
    this.metadata = metadataOf(model);
    this.stats = { nodes: plan.order.length, folded: plan.folded };
    this.#plan = plan;
    if (resolveDevice(device).backend.kind === 'cpu' && process.env.KILN_ONNX_REPLAY !== '0') this.#replays = new Map();
  }

  /** Per input signature kept (least recently used first): its replay's kernel count, or why that signature runs node by node. */
  replays(): { inputs: string; kernels?: number; reason?: string }[] {
    return [...(this.#replays?.entries() ?? [])].map(([key, r]) => ({ inputs: describeSignature(key), ...(typeof r === 'string' ? { reason: r } : { kernels: r.kernels }) }));
  }

  static async create(model: Model, device: string): Promise<KilnSession> {
    const dev = resolveDevice(device).id;
    const opset = model.opsets.get('') ?? 1;
    if (!(model.irVersion >= 3 && model.irVersion <= MAX_IR_VERSION))
      fail('E_UNSUPPORTED', `kiln engine: the model's IR version ${model.irVersion} is outside 3 to ${MAX_IR_VERSION}, the versions it reads (0: the field is missing)`);
    checkSupport(model.graph, opset, dev);
    for (const v of [...model.graph.inputs, ...model.graph.outputs])
      if (!(DTYPES as readonly string[]).includes(v.dtype))
        fail('E_UNSUPPORTED', `kiln engine: graph value '${v.name}' has type ${v.dtype}, which Kiln has no dtype for`);
    const plan = new GraphPlan(model.graph, model, dev, new Set());
    try {
      await plan.prepare();
      await plan.prepareSubgraphs();
    } catch (e) {
      plan.dispose();
      throw e;
    }
    return new KilnSession(model, dev, plan);
  }

  async run(feeds: Record<string, Tensor>, options?: RunOptions): Promise<Record<string, Tensor>> {
    options = optionsArg('onnx session run', options, RUN_OPTION_KEYS);
    const signal = signalArg('onnx session run', options.signal);
    const plan = this.#plan ?? fail('E_DISPOSED', 'onnx session: run() after dispose()');
    if (typeof feeds !== 'object' || feeds === null) fail('E_ARGUMENT', 'onnx session run: feeds must be an object of tensors by input name');
    const given = new Map<string, Tensor>();
    const known = new Set(this.inputs.map((v) => v.name));
    for (const name of Object.keys(feeds)) if (!known.has(name)) fail('E_ARGUMENT', `onnx session run: unknown input '${name}'; inputs: ${[...known].join(', ')}`);
    for (const v of this.inputs) {
      const t = feeds[v.name];
      if (t === undefined) {
        if (v.optional) continue;
        fail('E_ARGUMENT', `onnx session run: missing input '${v.name}'`);
      }
      if (!(t instanceof Tensor)) fail('E_ARGUMENT', `onnx session run: input '${v.name}' must be a Tensor`);
      if (t.dtype !== v.dtype) fail('E_DTYPE', `onnx session run: input '${v.name}' must be ${v.dtype}, got ${t.describe()}`);
      if (v.shape && (v.shape.length !== t.rank || v.shape.some((d, i) => typeof d === 'number' && d !== t.shape[i])))
        fail('E_SHAPE', `onnx session run: input '${v.name}' must have shape [${v.shape.map((d) => d ?? '?').join(', ')}], got ${fmtShape(t.shape)}`);
      if (t.device !== this.device) fail('E_DEVICE', `onnx session run: input '${v.name}' is on ${t.device}, the session runs on ${this.device}`);
      given.set(v.name, t);
    }
    const names = options.outputs ?? this.outputs.map((o) => o.name);
    for (const n of names) if (!this.outputs.some((o) => o.name === n)) fail('E_ARGUMENT', `onnx session run: unknown output '${n}'`);
    throwIfAborted('onnx session run', signal);
    return abortable('onnx session run', this.#run(plan, given, names, options.profile, signal), signal, disposeAll);
  }

  async #run(plan: GraphPlan, given: Map<string, Tensor>, names: readonly string[], profile: Record<string, number> | undefined, signal: AbortSignal | undefined): Promise<Record<string, Tensor>> {
    const replays = profile ? undefined : this.#replays;
    if (!replays) return plan.execute(given, names, { profile, signal });
    const key = signature(given, names);
    const recorded = replays.get(key);
    if (recorded !== undefined) {
      replays.delete(key), replays.set(key, recorded); // now the most recently used
      if (recorded instanceof Replay) return recorded.run(given); // one native program: nothing to stop between kernels
      return plan.execute(given, names, { signal });
    }
    if (replays.size >= MAX_REPLAYS && !this.#seen.delete(key)) {
      this.#seen.add(key);
      if (this.#seen.size > MAX_SEEN) this.#seen.delete(this.#seen.values().next().value!);
      return plan.execute(given, names, { signal });
    }
    const rec = new CpuRecorder();
    const result = await plan.execute(given, names, { rec, signal });
    let replay: Replay | string;
    try {
      replay = Replay.from(rec, this.device, given, result);
    } catch (e) {
      replay = `the recording did not build: ${(e as Error).message}`;  // this run's result stands
    }
    // a concurrent first run of the same signature, or dispose(), may have come first
    if (this.#replays === replays && !replays.has(key)) {
      while (replays.size >= MAX_REPLAYS) {
        const [oldest, r] = replays.entries().next().value!;
        replays.delete(oldest);
        if (r instanceof Replay) r.dispose(); // a queued run of it holds the program until it ends
      }
      replays.set(key, replay);
    } else if (replay instanceof Replay) replay.dispose();
    return result;
  }

  async dispose(): Promise<void> {
    this.#plan?.dispose();
    this.#plan = undefined;
    for (const r of this.#replays?.values() ?? []) if (r instanceof Replay) r.dispose();
    this.#replays = undefined;
  }
}
