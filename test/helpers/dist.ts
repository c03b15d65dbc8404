// The compiled library (dist/, built by `npm test`'s pretest step) for tests that run Kiln in a
// child process or a worker thread. A dist older than src/ would test stale code, so it is refused.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DIST_INDEX = join(ROOT, 'dist', 'src', 'index.js');
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) yield* tsFiles(join(dir, e.name));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) yield join(dir, e.name);
  }
}

/** Throws unless every src/ and bench/ file has a compiled dist/ counterpart at least as new. */
export function assertDistFresh(): void {
  const stale: string[] = [];
  for (const dir of ['src', 'bench'])
    for (const ts of tsFiles(join(ROOT, dir))) {
      const js = join(ROOT, 'dist', relative(ROOT, ts)).replace(/\.ts$/, '.js');
      if (!existsSync(js) || statSync(js).mtimeMs < statSync(ts).mtimeMs) stale.push(relative(ROOT, ts));
    }
  if (stale.length)
    throw new Error(`dist/ is missing or older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', ...' : ''}: run \`npm run build:ts\` (npm test does it first)`);
}

/** Runs an ES module snippet with node in a child process (the library is at `kiln`'s path in DIST_INDEX). */
export function runNode(code: string, env: Record<string, string | undefined> = {}, timeout = 60_000): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout,
  });
}

/** Describes how a child ended, for assertion messages. */
export const ending = (r: SpawnSyncReturns<string>): string =>
  `exit ${r.status}${r.signal ? ` (signal ${r.signal})` : ''}${r.error ? ` (${r.error.message})` : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
