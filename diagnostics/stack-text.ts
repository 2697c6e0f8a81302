// Frames read from an error's stack text (where it was made), for errors with no capture, and
// where a thrown error was made when that is not where it was thrown.
import { culpritIndex, originOf } from './culprit.js';
import type { DumpFrame } from './model.js';
import { renameIdentifiers, renamesOf } from '../server/name-tables.js';
import { display, original } from './sourcemap.js';

/** Frames parsed from error.stack (already source-mapped for tsx-loaded code; .js.map files for the rest). */
export function stackFrames(err: unknown, cap: number): DumpFrame[] {
  const stack = (err as Error | null)?.stack;
  if (typeof stack !== 'string') return [];
  const frames: DumpFrame[] = [];
  for (const line of stack.split('\n').slice(1)) {
    const read = readLine(line);
    if (!read) continue;
    frames.push(read.frame);
    if (frames.length >= cap) break;
  }
  return frames;
}

/**
 * A stack text with each frame line that names a compiled file's position (tspuma's built chunks,
 * a package's .js with a map) told by its source's file, line and function name, as stackFrames
 * reads them; the message and any other line (`at async Promise.all (index 0)`) as they were.
 */
export function mappedStackText(stack: string): string {
  return stack
    .split('\n')
    .map((line, i) => {
      const read = i === 0 ? null : readLine(line);
      if (!read) return line;
      const { frame: f, named } = read;
      return named ? `    at ${f.function} (${f.file}:${f.line}:${f.column})` : `    at ${f.file}:${f.line}:${f.column}`;
    })
    .join('\n');
}

/** One `    at fn (file:line:col)` line of a stack text as a frame, mapped to its source (`named`: the line names a function); null for any other line. */
function readLine(line: string): { frame: DumpFrame; named: boolean } | null {
  const m = /^\s*at (?:(.+?) \()?(.+?):(\d+):(\d+)\)?$/.exec(line);
  if (!m) return null;
  // Stacks of tsx-loaded .ts code are already mapped by node; compiled .js is mapped here.
  const mapped = /\.[cm]?tsx?$/.test(m[2]!);
  const where = mapped ? { file: display(m[2]!.replace(/^file:\/\//, '')), line: Number(m[3]), column: Number(m[4]) } : original(m[2]!, Number(m[3]) - 1, Number(m[4]) - 1);
  // A bundled chunk's line: the function as its source names it (`Listener2.listen` -> `Listener.listen`).
  const renames = mapped || m[1] === undefined ? null : renamesOf(m[2]!);
  const fn = m[1] === undefined ? '(anonymous)' : renames ? renameIdentifiers(m[1], renames) : m[1];
  return { frame: { function: fn, ...where, receiver: 'undefined', locals: {}, ...(isLibrary(where.file) ? { library: true as const } : {}) }, named: m[1] !== undefined };
}

/** node internals and installed packages (tspuma itself is not one, wherever it is installed): never the culprit. */
function isLibrary(file: string): boolean {
  const origin = originOf(file);
  return origin === 'node' || origin === 'dependency';
}

/** The first frame line of an error's stack text (where it was made), or '' when it has none. */
export function madeLine(err: unknown): string {
  let stack: unknown;
  try {
    stack = (err as { stack?: unknown } | null)?.stack;
  } catch {
    return ''; // an app's Error.prepareStackTrace that throws
  }
  if (typeof stack !== 'string') return '';
  const at = stack.indexOf('\n    at ');
  if (at < 0) return '';
  const end = stack.indexOf('\n', at + 1);
  return stack.slice(at + 1, end < 0 ? undefined : end);
}

/**
 * Where an error thrown at `thrownAt` (file:line) was made, as `file:line` of its stack text's
 * culprit, when the throw is not on that stack: a re-throw of an error made elsewhere (a
 * library's rejection, an error handed to next(err), a stack overflow) that no earlier throw in
 * app code captured. Null when it was made where it was thrown (or in a call made from there).
 */
export function madeElsewhere(err: unknown, thrownAt: string, cap: number): string | null {
  let frames: DumpFrame[];
  try {
    frames = stackFrames(err, cap);
  } catch {
    return null;
  }
  if (frames.length === 0 || frames.some((f) => `${f.file}:${f.line}` === thrownAt)) return null;
  const made = frames[culpritIndex(frames)] ?? frames[0]!;
  return `${made.file}:${made.line}`;
}

/**
 * The culprit frame of a compile error in the chain (tspuma's loader turns esbuild's into a
 * SyntaxError with `errors[0].location`, as esbuild's own has): the app's line and column, where
 * no code ran, so no values. Null when no error in the chain has one.
 */
export function compileFrame(chain: readonly unknown[]): DumpFrame | null {
  for (const err of chain) {
    if (!(err instanceof SyntaxError)) continue;
    const at = (err as { errors?: { location?: { file?: unknown; line?: unknown; column?: unknown } | null }[] }).errors?.[0]?.location;
    if (!at || typeof at.file !== 'string' || typeof at.line !== 'number' || typeof at.column !== 'number') continue;
    return { function: '(compiling the module)', file: display(at.file), line: at.line, column: at.column + 1, receiver: 'undefined', locals: {}, origin: originOf(at.file) };
  }
  return null;
}
