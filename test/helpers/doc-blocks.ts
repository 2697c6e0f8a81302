// Code blocks of the docs, found by the comment on their first line, so a test runs the
// configuration a reader copies; substitution that fails when the doc no longer has the text
// a test replaces; and a dump excerpt compared with a run's output.
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

/** A place in one of tspuma's own installed files, as a dump shows a frame's: `node_modules/tspuma/FILE.ts:LINE:COL`. */
const OWN_PLACE = /(node_modules\/tspuma\/\S+?\.ts):(\d+):(\d+)/g;
/** A frame's line in a dump (`  > #0 name  place`, `    #1 name  place`). */
const FRAME = /^ {2}[> ] #\d+ /;
/** A source line under a frame (`        81 |     throw …`) and its caret line (`           |     ^`). */
const SOURCE = /^\s*(\d+) \| (.*)$/;
const CARET = /^\s*\| (.*)$/;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * How an excerpt line is found in the output. In a frame of tspuma's own (its place under
 * node_modules/tspuma/), the frame's line and column, and the number (and so the padding) of the
 * source line under it, are patterns: where a line of tspuma's own sources sits is incidental, and
 * an unrelated edit above it moved the excerpts' numbers three times (d98990a, 66c773b, b38fc08).
 * Everything else is exact: the app's frames with their numbers, every name and value, and the
 * source text. That each own frame's number is the installed .ts file's line is ownSourceMismatches'.
 */
function excerptLine(want: string, own: boolean): RegExp {
  const prefix = want.endsWith('…');
  const text = prefix ? want.slice(0, -1).trimEnd() : want;
  let source: string;
  const line = own ? SOURCE.exec(text) : null;
  const caret = own && !line ? CARET.exec(text) : null;
  if (line) source = `\\s*\\d+ \\| ${escapeRe(line[2]!)}`;
  else if (caret) source = `\\s*\\| ${escapeRe(caret[1]!)}`;
  else {
    source = '';
    let last = 0;
    for (const m of text.matchAll(OWN_PLACE)) {
      source += `${escapeRe(text.slice(last, m.index))}${escapeRe(m[1]!)}:\\d+:\\d+`;
      last = m.index! + m[0].length;
    }
    source += escapeRe(text.slice(last));
  }
  return new RegExp(`^${source}${prefix ? '' : '$'}`);
}

/**
 * The lines of a DEBUGGING.md excerpt (after its `$ command` line) that the output does not have,
 * in order: a line ending in `…` must start a line of the output, `    ...` stands for frames left
 * out, every other line must be a whole line of it; tspuma's own frames' line numbers as
 * excerptLine says.
 */
export function excerptMissing(excerpt: string, output: string): string[] {
  const lines = output.split('\n');
  const missing: string[] = [];
  let at = 0;
  let own = false;
  for (const want of excerpt.split('\n').slice(1)) {
    if (want.trim() === '' || want.trim() === '...') continue;
    if (FRAME.test(want)) own = want.search(OWN_PLACE) !== -1;
    const re = excerptLine(want, own);
    const i = lines.findIndex((l, n) => n >= at && re.test(l));
    if (i < 0) missing.push(want);
    else at = i + 1;
  }
  return missing;
}

/**
 * Where a dump's frame of tspuma's own is not mapped to its .ts line: each source line shown under
 * such a frame must carry the frame's line number and be that line of the installed file (under
 * `root`, the folder holding node_modules/). The dump's promise, kept for tspuma's frames now that
 * excerptMissing takes their numbers as patterns. A frame with no source line under it is not
 * checked; an output with none at all is a mismatch.
 */
export function ownSourceMismatches(output: string, root: string): string[] {
  const wrong: string[] = [];
  let checked = 0;
  let place: { file: string; line: number } | null = null;
  for (const l of output.split('\n')) {
    if (FRAME.test(l)) {
      const m = [...l.matchAll(OWN_PLACE)][0];
      place = m ? { file: m[1]!, line: Number(m[2]) } : null;
      continue;
    }
    const src = place ? SOURCE.exec(l) : null;
    if (!place || !src) continue;
    const shown = src[2]!.endsWith('…') ? src[2]!.slice(0, -1) : src[2]!;
    const actual = readFileSync(`${root}/${place.file}`, 'utf8').split('\n')[place.line - 1] ?? '';
    checked++;
    if (Number(src[1]) !== place.line || !actual.startsWith(shown)) wrong.push(`${place.file}:${place.line} shows line ${src[1]} ${JSON.stringify(src[2])}; the file's line ${place.line} is ${JSON.stringify(actual)}`);
  }
  if (checked === 0) wrong.push('no source line under any frame of tspuma\'s own: nothing to check');
  return wrong;
}
