import { fail } from '../errors.js';

/** Minimal flag parsing: --name value, --name=value, boolean --flag; the rest are positionals. */
export function parseArgs(argv: string[], booleans: string[], values: string[]): { flags: Record<string, string | boolean>; positional: string[] } {
  const flags: Record<string, string | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split('=', 2);
    if (booleans.includes(name)) flags[name] = true;
    else if (values.includes(name)) {
      const v = inline ?? argv[++i];
      if (v === undefined) fail('E_ARGUMENT', `--${name} needs a value`);
      flags[name] = v;
    } else fail('E_ARGUMENT', `unknown option --${name}`);
  }
  return { flags, positional };
}
