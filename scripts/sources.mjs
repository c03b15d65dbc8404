#!/usr/bin/env node
// Prints the files of one group of native/sources.txt, space separated (used by binding.gyp).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const group = process.argv[2];
const files = readFileSync(join(root, 'native/sources.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => l.split(/\s+/))
  .filter(([g]) => g === group)
  .map(([, f]) => f);
process.stdout.write(files.join(' '));
