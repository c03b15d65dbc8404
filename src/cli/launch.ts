// `kiln launch`: starts this node's ranks of a job the way torchrun does. Each rank is `node script`
// with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT and the job's
// KILN_DIST_TOKEN set; each line of its output is prefixed with its rank; SIGINT/SIGTERM/SIGHUP are
// forwarded; when one rank fails, the others are terminated and the launcher exits non-zero.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { fail } from '../errors.js';

export const LAUNCH_USAGE =
  'launch --nproc-per-node N [--nnodes M --node-rank R] [--master-addr A] [--master-port P] [--grace-ms MS] script.js [args...]';

export interface LaunchPlan {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number; // 0: pick a free port (single node only)
  graceMs: number;
  script: string;
  args: string[];
}

const VALUE_FLAGS = ['nproc-per-node', 'nnodes', 'node-rank', 'master-addr', 'master-port', 'grace-ms'];

/** Parses launch's own options up to the script; everything after the script belongs to it. */
export function parseLaunch(argv: readonly string[]): LaunchPlan {
  const f: Record<string, string> = {};
  let i = 0;
  for (; i < argv.length && argv[i].startsWith('--'); ++i) {
    const [name, inline] = argv[i].slice(2).split('=', 2);
    if (!VALUE_FLAGS.includes(name)) fail('E_ARGUMENT', `launch: unknown option --${name}; usage: kiln ${LAUNCH_USAGE}`);
    const v = inline ?? argv[++i];
    if (v === undefined) fail('E_ARGUMENT', `launch: --${name} needs a value`);
    f[name] = v;
  }
  if (i >= argv.length) fail('E_ARGUMENT', `launch: no script given; usage: kiln ${LAUNCH_USAGE}`);
  const int = (name: string, dflt: number | undefined, min: number) => {
    const v = f[name] === undefined ? dflt : Number(f[name]);
    if (v === undefined) fail('E_ARGUMENT', `launch: --${name} is required`);
    if (!Number.isSafeInteger(v) || v < min) fail('E_ARGUMENT', `launch: --${name} must be an integer >= ${min}, got '${f[name]}'`);
    return v;
  };
  const nnodes = int('nnodes', 1, 1);
  const plan: LaunchPlan = {
    nprocPerNode: int('nproc-per-node', undefined, 1),
    nnodes,
    nodeRank: int('node-rank', 0, 0),
    masterAddr: f['master-addr'] ?? '127.0.0.1',
    masterPort: int('master-port', nnodes > 1 ? 29500 : 0, 0),
    graceMs: int('grace-ms', 5000, 0),
    script: argv[i],
    args: argv.slice(i + 1),
  };
  if (plan.nodeRank >= nnodes) fail('E_ARGUMENT', `launch: --node-rank ${plan.nodeRank} must be below --nnodes ${nnodes}`);
  if (plan.masterPort > 65535) fail('E_ARGUMENT', `launch: --master-port ${plan.masterPort} is not a TCP port`);
  return plan;
}

/** The variables one rank runs with (torchrun's names, plus the job's token). */
export function rankEnv(plan: LaunchPlan, localRank: number, port: number, token: string): Record<string, string> {
  return {
    RANK: String(plan.nodeRank * plan.nprocPerNode + localRank),
    WORLD_SIZE: String(plan.nnodes * plan.nprocPerNode),
    LOCAL_RANK: String(localRank),
    LOCAL_WORLD_SIZE: String(plan.nprocPerNode),
    GROUP_RANK: String(plan.nodeRank),
    MASTER_ADDR: plan.masterAddr,
    MASTER_PORT: String(port),
    KILN_DIST_TOKEN: token,
  };
}

/** A TCP port that is free on host right now. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Copies a stream to out, prefixing every line (a last line without a newline is flushed at the end). */
function prefixLines(src: Readable, out: Writable, prefix: string): void {
  let rest = '';
  src.setEncoding('utf8');
  src.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!;
    if (lines.length) out.write(lines.map((l) => `${prefix}${l}\n`).join(''));
  });
  src.on('end', () => {
    if (rest) out.write(`${prefix}${rest}\n`);
  });
}

export async function launchCommand(argv: string[]): Promise<number> {
  const plan = parseLaunch(argv);
  const token = process.env.KILN_DIST_TOKEN || (plan.nnodes === 1 ? randomBytes(16).toString('hex') : '');
  if (!token) fail('E_ARGUMENT', 'launch: with --nnodes > 1, set KILN_DIST_TOKEN to the same secret on every node');
  const port = plan.masterPort || (await freePort(plan.masterAddr));
  const children: ChildProcess[] = [];
  const ended: Promise<void>[] = [];
  let failure: { rank: number; code: number } | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const running = () => children.filter((c) => c.exitCode === null && c.signalCode === null);
  const terminate = (signal: NodeJS.Signals) => {
    for (const c of running()) c.kill(signal);
    killTimer ??= setTimeout(() => running().forEach((c) => c.kill('SIGKILL')), plan.graceMs);
  };
  for (let local = 0; local < plan.nprocPerNode; ++local) {
    const env = rankEnv(plan, local, port, token);
    const child = spawn(process.execPath, [plan.script, ...plan.args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const prefix = `[rank${env.RANK}]: `;
    prefixLines(child.stdout!, process.stdout, prefix);
    prefixLines(child.stderr!, process.stderr, prefix);
    children.push(child);
    ended.push(
      new Promise((resolve) => {
        child.on('error', (e) => {
          failure ??= { rank: Number(env.RANK), code: 1 };
          process.stderr.write(`kiln launch: rank ${env.RANK} could not start: ${e.message}\n`);
          terminate('SIGTERM');
          resolve();
        });
        child.on('close', (code, signal) => {
          if ((code !== 0 || signal) && !failure) {
            failure = { rank: Number(env.RANK), code: code ?? 128 + (constants.signals[signal!] ?? 15) };
            process.stderr.write(`kiln launch: rank ${env.RANK} exited with ${signal ? `signal ${signal}` : `code ${code}`}; terminating the other ranks\n`);
            terminate('SIGTERM');
          }
          resolve();
        });
      }),
    );
  }
  let settled = false;
  const forward = (sig: NodeJS.Signals) => {
    if (settled) return;
    failure ??= { rank: -1, code: 128 + constants.signals[sig] };
    terminate(sig);
  };
  // The handlers stay installed after the ranks end, ignoring what comes: removing the last one
  // restores the default action, and a signal between that and the CLI's process.exit would end the
  // launcher by the signal instead of with the ranks' exit code.
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, forward);
  await Promise.all(ended);
  settled = true;
  clearTimeout(killTimer);
  return failure ? failure.code || 1 : 0;
}
