// Code blocks of the docs, found by the comment on their first line, so a test runs the
// configuration a reader copies; and substitution that fails when the doc no longer has the text
// a test replaces.
import { readFileSync } from 'node:fs';
import { ROOT } from './cli.js';

/** The fenced block of `doc` (a path under the repo) whose first line starts with `firstLine`; exactly one must. */
export function docBlock(doc: string, firstLine: string): string {
  const text = readFileSync(`${ROOT}${doc}`, 'utf8');
  const blocks = [...text.matchAll(/^```[\w-]*\n([\s\S]*?)^```$/gm)].map((m) => m[1]!).filter((b) => b.startsWith(firstLine));
  if (blocks.length !== 1) throw new Error(`${doc}: ${blocks.length} code blocks start with ${JSON.stringify(firstLine)}, expected 1`);
  return blocks[0]!;
}

/** Replaces each key of `pairs` (every occurrence) by its value; throws if a key is not in `text`. */
export function substitute(text: string, pairs: Record<string, string>): string {
  for (const [from, to] of Object.entries(pairs)) {
    if (!text.includes(from)) throw new Error(`the block no longer contains ${JSON.stringify(from)}:\n${text}`);
    text = text.replaceAll(from, to);
  }
  return text;
}
