// Where a probe's line is after a deploy. A probe keeps the text of its line and, since S16, its
// context: the headers of the blocks around it (innermost first: `export function getOrder(id) {`,
// `if (found) {`) and the nearest non-blank lines above and below. A worker loading a changed file
// re-finds the line by its text, and where that text is on several lines (short lines repeat:
// `return found;`, `next();`, `res.json(result);`) it takes the one whose context matches best:
// the same function first. Where two lines match equally well and neither is the probe's own line
// number, it does not guess: the probe is suspended, naming both lines. Pure text work, used by
// the primary (the context, at set time) and by each worker (inspector/probes.ts, at arming).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LineContext, ProbeSpec } from './probe-spec.js';

export type { LineContext };

/** Where the line is now: a line number, gone (with what its old number reads now, null: past the end), or on several lines equally. */
export type Anchored = { line: number } | { gone: string | null } | { ambiguous: number[] };

const MAX_BLOCKS = 3;

/** A bundled chunk's module (server/chunk-run.ts): its call of runChunk names the file of its code. */
const CHUNK_SHELL = /\$tspumaRunChunk\(import\.meta\.url, "([^"/\\]+\.chunk\.code\.js)"/;

/**
 * A probe file's text as V8 runs it under that file's URL. A chunk of tspuma's build is a small
 * module at its own path (imports, the runChunk call, exports) whose code, line for line as its
 * stack lines and source map count them, is the file that call names beside it (boot4.1: a probe
 * on `serving.chunk.js:3160` was refused as 'has 80 lines').
 */
export function probeFileText(file: string): string {
  const text = readFileSync(file, 'utf8');
  const code = file.endsWith('.chunk.js') ? CHUNK_SHELL.exec(text)?.[1] : undefined;
  return code === undefined ? text : readFileSync(join(dirname(file), code), 'utf8');
}

const indentOf = (line: string) => line.length - line.trimStart().length;

/** The file's lines, line endings aside. */
export function fileLines(text: string): string[] {
  return text.split('\n').map((l) => l.replace(/\r$/, ''));
}

/** The context of 1-based `line` in `lines`. */
export function lineContext(lines: readonly string[], line: number): LineContext {
  const i = line - 1;
  const blocks: string[] = [];
  let indent = indentOf(lines[i] ?? '');
  for (let j = i - 1; j >= 0 && blocks.length < MAX_BLOCKS && indent > 0; j--) {
    const l = lines[j]!;
    if (l.trim() === '' || indentOf(l) >= indent) continue;
    indent = indentOf(l);
    // A block's header ends with its `{` (or `(`, `[`, `=>`: a call or literal spread over lines).
    if (/[{([]\s*$|=>\s*$/.test(l)) blocks.push(l.trim());
  }
  const near = (from: number, step: number): string | null => {
    for (let j = from; j >= 0 && j < lines.length; j += step) if (lines[j]!.trim() !== '') return lines[j]!.trim();
    return null;
  };
  return { blocks, before: near(i - 1, -1), after: near(i + 1, 1) };
}

/** How well the context at a line matches the one the probe was set with: its function first, then its neighbours. */
function score(want: LineContext, got: LineContext): number {
  let s = 0;
  if (want.blocks.length > 0 && want.blocks.length === got.blocks.length && want.blocks.every((b, k) => b === got.blocks[k])) s += 8;
  else if (want.blocks[0] !== undefined && want.blocks[0] === got.blocks[0]) s += 4;
  // The outermost header (the function, in most code) matching alone still tells two functions apart.
  if (want.blocks.length > 0 && want.blocks.at(-1) === got.blocks.at(-1)) s += 2;
  if (want.before !== null && want.before === got.before) s += 1;
  if (want.after !== null && want.after === got.after) s += 1;
  return s;
}

/**
 * The line a probe stops at in the file as it is on disk now (what a worker loads): its line when
 * that still reads as when the probe was set (and, where the text is on several lines, when its
 * context matches at least as well as any other's), else the line that reads the same whose
 * context matches best (the nearest for a probe with no context, set before it was kept), else
 * gone; two or more lines that match equally well, none of them the probe's own, are ambiguous.
 */
export function findLine(spec: Pick<ProbeSpec, 'file' | 'line' | 'lineText'> & { context?: LineContext | null }, read: (file: string) => string = probeFileText): Anchored {
  if (spec.lineText === null || spec.lineText === undefined) return { line: spec.line };
  let lines: string[];
  try {
    lines = fileLines(read(spec.file));
  } catch {
    return { line: spec.line };
  }
  const want = spec.lineText.trim();
  const candidates: number[] = [];
  for (let i = 0; i < lines.length; i++) if (lines[i]!.trim() === want) candidates.push(i + 1);
  const same = lines[spec.line - 1] === spec.lineText;
  if (candidates.length === 0) return { gone: lines[spec.line - 1] ?? null };
  const context = spec.context ?? null;
  if (context === null || candidates.length === 1) {
    if (same) return { line: spec.line };
    return { line: candidates.reduce((best, c) => (Math.abs(c - spec.line) < Math.abs(best - spec.line) ? c : best)) };
  }
  const scored = candidates.map((c) => ({ line: c, score: score(context, lineContext(lines, c)) }));
  const top = Math.max(...scored.map((c) => c.score));
  const best = scored.filter((c) => c.score === top).map((c) => c.line);
  // Nothing around any of them is as it was: no way to tell which is the probe's.
  if (top === 0) return { ambiguous: candidates };
  if (same && best.includes(spec.line)) return { line: spec.line };
  if (best.length === 1) return { line: best[0]! };
  return { ambiguous: best };
}
