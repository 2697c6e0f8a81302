// Test helpers for dump assertions: source lines read from the file (never assumed) and the
// dumps a run wrote to its folder.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dump } from '../../diagnostics/model.js';
import { ROOT } from './cli.js';

/** 1-based line of the first line in `file` containing `needle`, read from the source, not assumed. */
export function lineOf(file: string, needle: string): number {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in ${file}`);
  return i + 1;
}

/** The .json dumps in `dir`, oldest first. */
export function dumpsIn(dir: string): Dump[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as Dump);
}
