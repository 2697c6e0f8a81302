// The last pass over a dump's frames, whether they came from a capture, another process or the
// stack text: whose code each frame is (origin), folding of repeated frames (recursion), the
// culprit, and the culprit's source line for the caret under its column.
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { culpritIndex, originOf } from './culprit.js';
import type { CapturedFrame } from './frames.js';
import type { DumpFrame } from './model.js';
import type { Redactor } from './redact.js';

export { originOf };

/** Longest source line kept; a longer one is cut to a window around the column. */
const MAX_SOURCE = 240;
/** Longest block of frames that folding looks for (a calls b calls a: 2). */
const MAX_CYCLE = 4;

/** A frame as the dump holds it. */
export function dumpFrame(f: CapturedFrame): DumpFrame {
  return {
    function: f.function,
    file: f.file,
    line: f.line,
    column: f.column,
    receiver: f.receiver,
    locals: f.locals,
    ...(f.library ? { library: true as const } : {}),
    origin: f.origin,
    ...(f.receiverFields ? { receiverFields: f.receiverFields } : {}),
  };
}

const key = (f: DumpFrame) => `${f.function}\u0000${f.file}\u0000${f.line}\u0000${f.column}`;

/**
 * Runs of the same frame (or the same block of up to MAX_CYCLE frames) become one copy whose
 * first frame says how many times it repeated: a stack overflow's `walk` x N.
 */
export function foldRepeats(frames: DumpFrame[]): DumpFrame[] {
  const keys = frames.map(key);
  const same = (a: number, b: number, p: number) => {
    for (let j = 0; j < p; j++) if (keys[a + j] !== keys[b + j]) return false;
    return true;
  };
  const out: DumpFrame[] = [];
  let i = 0;
  while (i < frames.length) {
    let best = { p: 1, k: 1 };
    for (let p = 1; p <= MAX_CYCLE && i + 2 * p <= frames.length; p++) {
      let k = 1;
      while (i + (k + 1) * p <= frames.length && same(i, i + k * p, p)) k++;
      if (k >= 2 && k * p > best.k * best.p) best = { p, k };
    }
    const block = frames.slice(i, i + best.p);
    if (best.k >= 2) {
      block[0] = { ...block[0]!, repeat: best.k * (block[0]!.repeat ?? 1), ...(best.p > 1 ? { cycle: best.p } : {}) };
    }
    out.push(...block);
    i += best.k * best.p;
  }
  return out;
}

interface SourceFile {
  mtimeMs: number;
  lines: string[];
}
const sources = new Map<string, SourceFile>();

/** The 1-based line of a file on disk, or null when it cannot be read. */
export function sourceLine(file: string, line: number): string | null {
  const abs = isAbsolute(file) ? file : resolve(process.cwd(), file);
  try {
    const { mtimeMs, size } = statSync(abs);
    if (size > 8 * 1024 * 1024) return null;
    let known = sources.get(abs);
    if (!known || known.mtimeMs !== mtimeMs) {
      known = { mtimeMs, lines: readFileSync(abs, 'utf8').split(/\r?\n/) };
      if (sources.size >= 64) sources.delete(sources.keys().next().value!);
      sources.set(abs, known);
    }
    return known.lines[line - 1] ?? null;
  } catch {
    return null;
  }
}

/** The culprit's line, cut to a window around the column and redacted, with the column in it. */
export function sourceOf(frame: DumpFrame, redactor: Redactor, read = sourceLine): DumpFrame['source'] | undefined {
  const raw = read(frame.file, frame.line);
  if (raw === null || raw.trim() === '') return undefined;
  let text = raw.replace(/\s+$/, '');
  let column = Math.min(Math.max(frame.column, 1), text.length + 1);
  if (text.length > MAX_SOURCE) {
    const start = Math.max(0, Math.min(column - 1 - MAX_SOURCE / 2, text.length - MAX_SOURCE));
    text = `${start > 0 ? '…' : ''}${text.slice(start, start + MAX_SOURCE)}${start + MAX_SOURCE < text.length ? '…' : ''}`;
    column = column - start + (start > 0 ? 1 : 0);
  }
  // The caret stays under the same character when a secret before it is replaced.
  const redacted = redactor.query(text, undefined, undefined, { source: true });
  const before = redactor.query(text.slice(0, column - 1), undefined, undefined, { source: true });
  if (redacted !== text && redacted.startsWith(before)) column = before.length + 1;
  return { text: redacted, column };
}

/**
 * Origins, folding, the culprit (the first frame in the app's or tspuma's code; none when
 * `withCulprit` is false) and its source line, in place. Returns the culprit's index, or -1.
 */
export function finishFrames(frames: DumpFrame[], redactor: Redactor, withCulprit = true): number {
  for (const f of frames) {
    f.origin ??= originOf(f.file);
    if (f.origin === 'node' || f.origin === 'dependency') f.library = true;
  }
  const folded = foldRepeats(frames);
  frames.splice(0, frames.length, ...folded);
  const culprit = withCulprit ? culpritIndex(frames) : -1;
  if (culprit >= 0) {
    const f = frames[culprit]!;
    f.culprit = true;
    const source = sourceOf(f, redactor);
    if (source) f.source = source;
  }
  return culprit;
}
