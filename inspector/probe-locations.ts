// Where a probe's FILE:LINE is in the code V8 runs: which loaded scripts come from that file (the
// file itself, or any script whose source map names it: esbuild's and tsx's inline maps, tsc's
// .js.map), and the first place on that line V8 can stop at, found among the script's possible
// breakpoints mapped back through the source map. That works column by column, so a CommonJS
// .ts file that tsx compiles onto one generated line maps as well as an ES module.
import { fileURLToPath } from 'node:url';
import { originalPosition, sourcesOf } from '../diagnostics/sourcemap.js';

export interface LoadedScript {
  scriptId: string;
  url: string;
  sourceMapURL?: string;
  /** An ES module (else a script: CommonJS is parsed as a function body). */
  isModule?: boolean;
}

export interface GeneratedLocation {
  scriptId: string;
  lineNumber: number;
  columnNumber: number;
  /** V8's kind of place: 'call', 'return' (where a function returns: after a return's value, or at its end), 'debuggerStatement', or none (a statement). */
  type?: string;
}

/**
 * The answer for one script: where to stop (one place per function that runs the line: see
 * place()) with a note for the user, or the lines of that file that have code.
 */
export type Placement = { ok: true; locations: GeneratedLocation[]; note: string | null } | { ok: false; below: number | null; above: number | null };

/** What part of a script Debugger.getPossibleBreakpoints is asked about (the whole script by default). */
export interface BreakRange {
  start: { lineNumber: number; columnNumber: number };
  end?: { lineNumber: number; columnNumber: number };
  /** Only places in the function that holds `start` (not in functions nested in it). */
  restrictToFunction?: boolean;
}

/** A synchronous Debugger.getPossibleBreakpoints. */
export type PossibleBreakpoints = (scriptId: string, range?: BreakRange) => GeneratedLocation[];

/** The most locations V8 returns for one Debugger.getPossibleBreakpoints call (v8-debugger-agent-impl). */
const V8_LOCATIONS_CAP = 1000;

/** A synchronous inspector call (a same-thread session answers at once). */
export type SyncPost = <T>(method: string, params: object) => T;

/**
 * Every possible breakpoint of the range, however many: V8 answers at most 1,000 locations a call
 * (from the start of the range), so a range past them is asked again from after the last one.
 */
export function possibleBreakpoints(post: SyncPost): PossibleBreakpoints {
  return (scriptId, range) => {
    const end = range?.end ? { end: { scriptId, ...range.end } } : {};
    const restrict = range?.restrictToFunction ? { restrictToFunction: true } : {};
    const all: GeneratedLocation[] = [];
    let start = range?.start ?? { lineNumber: 0, columnNumber: 0 };
    for (;;) {
      const got = post<{ locations: GeneratedLocation[] }>('Debugger.getPossibleBreakpoints', { start: { scriptId, ...start }, ...end, ...restrict }).locations;
      all.push(...got);
      if (got.length < V8_LOCATIONS_CAP) return all;
      const last = got[got.length - 1]!;
      start = { lineNumber: last.lineNumber, columnNumber: last.columnNumber + 1 };
    }
  };
}

/**
 * tspuma's own compiled files (this folder's parent): never a probe's script unless the probe is in
 * one. Installed, they are under node_modules (skipped below); run from a checkout (its tests, its
 * benches) each would have its .js.map read and parsed at a worker's first probe (about 300 ms of
 * CPU in a single-mode Express server, most of what that first set cost after the live edit).
 */
const OWN_DIST = fileURLToPath(new URL('../', import.meta.url));
/**
 * tspuma's own sources beside its build (the package ships them): a probe on one is in tspuma's
 * compiled files, found through their maps (review13.9: such a probe stayed 'pending' forever). Not
 * inspector/, the probe engine's own code (its pauses are not read: probes.ts OWN_URL).
 */
const OWN_SOURCES = ['server', 'diagnostics'].map((folder) => fileURLToPath(new URL(`../../${folder}/`, import.meta.url)));

function pathOf(url: string): string | null {
  if (url.startsWith('file://')) return fileURLToPath(url);
  return url.startsWith('/') ? url : null;
}

/** Whether a script holds code of `file` (absolute). */
export function scriptHolds(script: LoadedScript, file: string): boolean {
  const path = pathOf(script.url);
  if (path === null) return false;
  if (path === file) return true;
  // Installed packages and node's own scripts only when the probe is in one.
  if (path.includes('/node_modules/') && !file.includes('/node_modules/')) return false;
  if (path.startsWith(OWN_DIST) && !file.startsWith(OWN_DIST) && !OWN_SOURCES.some((folder) => file.startsWith(folder))) return false;
  if (!script.sourceMapURL && !path.endsWith('.js') && !path.endsWith('.mjs') && !path.endsWith('.cjs')) return false;
  return sourcesOf(script.url, script.sourceMapURL).includes(file);
}

const key = (l: { lineNumber: number; columnNumber: number }) => `${l.lineNumber}:${l.columnNumber}`;

/**
 * Where a probe on `line` (1-based) of `file`, and `column` (1-based) when given, stops in `script`:
 * - with a column: the first breakable place at or after it on that line (the last one before it
 *   when none is after);
 * - a line of module code that also holds functions (a one-line route: `app.get('/x', (c) =>
 *   c.json(…))`, whose call ran once at load): the first place in each of those functions, so the
 *   probe stops at every request the handler serves;
 * - else the first breakable place of the line, in generated order (the note names the columns
 *   of functions the line also holds, which FILE:LINE:COLUMN probes).
 * When the line has no breakable place: the nearest lines below and above it that have one.
 */
export function place(script: LoadedScript, file: string, line: number, column: number | null, possible: PossibleBreakpoints, lineText: () => string | null = () => null): Placement {
  const path = pathOf(script.url);
  const mapped = path !== file || sourcesOf(script.url, script.sourceMapURL).includes(file);
  const lines = new Set<number>();
  /** The line's places in generated order, with their original column (0-based). */
  const onLine: { at: GeneratedLocation; col0: number; type?: string }[] = [];
  /** In a mapped script: the first place of the file after the line (its original line and column). */
  let next: { at: GeneratedLocation; line: number; col0: number } | null = null;
  // A script that is the file itself: only the line is asked about (a long script's places are
  // many thousands); a mapped one is read whole, its lines being known only through the map.
  const asked = mapped ? possible(script.scriptId) : possible(script.scriptId, { start: { lineNumber: line - 1, columnNumber: 0 }, end: { lineNumber: line, columnNumber: 0 } });
  for (const loc of asked) {
    let at: { line: number; col0: number } | null;
    if (mapped) {
      const o = originalPosition(script.url, loc.lineNumber, loc.columnNumber, script.sourceMapURL);
      at = o && o.path === file ? { line: o.line0 + 1, col0: o.col0 } : null;
    } else at = { line: loc.lineNumber + 1, col0: loc.columnNumber };
    if (at === null) continue;
    lines.add(at.line);
    if (at.line > line && (next === null || at.line < next.line || (at.line === next.line && at.col0 < next.col0))) next = { at: { scriptId: script.scriptId, lineNumber: loc.lineNumber, columnNumber: loc.columnNumber }, line: at.line, col0: at.col0 };
    if (at.line === line) onLine.push({ at: { scriptId: script.scriptId, lineNumber: loc.lineNumber, columnNumber: loc.columnNumber }, col0: at.col0, ...(loc.type ? { type: loc.type } : {}) });
  }
  // Where a compiler put the whole file on one line (tsx, whitespace-minified: `…if(!order)return
  // void 0;const withTax=tax.applyTax(…)`), the return point after the statement before's value
  // has the same generated position as the line's first statement, and maps to this line: taken
  // first, the probe would stop only when that statement returns (T1: armed, never hit). A line's
  // leading return points are skipped when the line has a place of its own (a line that is only a
  // function's end, `}`, keeps its return point).
  const own = onLine.findIndex((p) => p.type !== 'return');
  if (own > 0) onLine.splice(0, own);
  // A line with return points only: a function's end (`}`, `});`) stops as the function returns,
  // kept; a `return;` of the line before, whose point the same compiler puts on the `}` closing its
  // block (`if(bad){fail();return}const r=…`), is the line before's: it stops only when that
  // return runs (T1's leftover: armed, never hit). Such a line has no code of its own.
  if (own < 0) onLine.splice(0, onLine.length, ...onLine.filter((p) => functionEnd(p.at, possible)));
  if (onLine.length === 0 && !mapped) return { ok: false, ...nearestLines(script.scriptId, line, possible) };
  if (onLine.length === 0) {
    let below: number | null = null;
    let above: number | null = null;
    for (const l of lines) {
      if (l < line && (below === null || l > below)) below = l;
      if (l > line && (above === null || l < above)) above = l;
    }
    return { ok: false, below, above };
  }
  if (column !== null) {
    const chosen = onLine.find((p) => p.col0 >= column - 1) ?? onLine[onLine.length - 1]!;
    return { ok: true, locations: [chosen.at], note: null };
  }
  // The places of each function on the line: the first place's function, then each nested one.
  const last = onLine[onLine.length - 1]!.at;
  const end = { lineNumber: last.lineNumber, columnNumber: last.columnNumber + 1 };
  const functions: { first: { at: GeneratedLocation; col0: number } }[] = [];
  const left = new Map(onLine.map((p) => [key(p.at), p]));
  while (left.size > 0) {
    const first = left.values().next().value!;
    const own = possible(script.scriptId, { start: first.at, end, restrictToFunction: true });
    // A place V8 lists in no function from itself (a statement's end after a call whose last
    // argument is a function: `app.get('/q', (c) => { … });`) is not a function of its own.
    if (functions.length === 0 || own.some((l) => key(l) === key(first.at))) functions.push({ first });
    for (const l of own) left.delete(key(l));
    left.delete(key(first.at));
  }
  const outer = functions[0]!.first;
  // Module code runs once, at load: a line of it that holds functions is probed in them.
  const isModuleCode = (at: GeneratedLocation) => possible(script.scriptId, { start: { lineNumber: 0, columnNumber: 0 }, end: { lineNumber: at.lineNumber, columnNumber: at.columnNumber + 1 }, restrictToFunction: true }).some((l) => key(l) === key(at));
  if (functions.length === 1) {
    // A line of module code where a function starts and goes on below (a multi-line route:
    // `api.get('/quote/:id', async (req, res) => {`): probed at that function's first statement.
    if (opensFunction(lineText()) && isModuleCode(outer.at)) {
      if (!mapped) next = firstAfter(script.scriptId, line, possible);
      if (next && !isModuleCode(next.at)) return { ok: true, locations: [next.at], note: `in the function that starts on the line, at its first statement (line ${next.line}): the line's module code ran once, at load` };
    }
    return { ok: true, locations: [outer.at], note: null };
  }
  // Module code's functions on the line are probed, not the callbacks they hold (N23: an
  // `Array.from(…, (_, i) => …)` or a Promise executor in a one-line handler runs many times a
  // request): a function is left out when one before it on the line is still running at its start.
  const ends = new Map<GeneratedLocation, GeneratedLocation>();
  const endOf = (at: GeneratedLocation) => {
    let e = ends.get(at);
    if (!e) ends.set(at, (e = possible(at.scriptId, { start: at, restrictToFunction: true }).at(-1) ?? at));
    return e;
  };
  const nested = (f: { first: { at: GeneratedLocation } }, i: number) => functions.slice(1, i).some((g) => before(f.first.at, endOf(g.first.at)));
  const inner = isModuleCode(outer.at) ? functions.slice(1).filter((f, i) => !nested(f, i + 1)).map((f) => f.first) : functions.slice(1).map((f) => f.first);
  const columns = inner.map((p) => p.col0 + 1).join(', ');
  if (isModuleCode(outer.at)) return { ok: true, locations: inner.map((p) => p.at), note: `in the function${inner.length > 1 ? 's' : ''} the line holds (column ${columns}): its module code ran once, at load` };
  return { ok: true, locations: [outer.at], note: `line ${line} also holds a function at column ${columns}: ${line}:${inner[0]!.col0 + 1} probes it` };
}

/** Whether `a` comes before `b` in the generated code. */
function before(a: GeneratedLocation, b: GeneratedLocation): boolean {
  return a.lineNumber < b.lineNumber || (a.lineNumber === b.lineNumber && a.columnNumber < b.columnNumber);
}

/** Whether a place is its function's last (where it returns by running off its end), not a `return` statement's point with more of the function after it. */
function functionEnd(at: GeneratedLocation, possible: PossibleBreakpoints): boolean {
  const rest = possible(at.scriptId, { start: { lineNumber: at.lineNumber, columnNumber: at.columnNumber }, restrictToFunction: true });
  return !rest.some((l) => l.lineNumber > at.lineNumber || (l.lineNumber === at.lineNumber && l.columnNumber > at.columnNumber));
}

/** Whether a line ends by opening a function's body (`=> {`, `function (…) {`), a comment after it aside. */
function opensFunction(text: string | null): boolean {
  if (text === null) return false;
  const code = text.replace(/\/\/.*$|\/\*.*?\*\/\s*$/, '').trimEnd();
  return code.endsWith('{') && /=>|\bfunction\b/.test(code);
}

/** In a script that is the file itself: its first place after `line` (1-based), in windows of growing size. */
function firstAfter(scriptId: string, line: number, possible: PossibleBreakpoints): { at: GeneratedLocation; line: number; col0: number } | null {
  for (let span = 16; span <= 1 << 24; span *= 16) {
    const got = possible(scriptId, { start: { lineNumber: line, columnNumber: 0 }, end: { lineNumber: line + span, columnNumber: 0 } });
    if (got.length > 0) return { at: got[0]!, line: got[0]!.lineNumber + 1, col0: got[0]!.columnNumber };
  }
  return null;
}

/**
 * The nearest lines (1-based) below and above `line` that have places, in a script that is the
 * file itself: windows of growing size around the line, so a long script is not read whole.
 */
function nearestLines(scriptId: string, line: number, possible: PossibleBreakpoints): { below: number | null; above: number | null } {
  let below: number | null = null;
  let above: number | null = null;
  for (let span = 16; below === null && line - 1 - span > -span * 16; span *= 16) {
    const from = Math.max(0, line - 1 - span);
    const got = possible(scriptId, { start: { lineNumber: from, columnNumber: 0 }, end: { lineNumber: line - 1, columnNumber: 0 } });
    if (got.length > 0) below = got[got.length - 1]!.lineNumber + 1;
    if (from === 0) break;
  }
  for (let span = 16; above === null; span *= 16) {
    const got = possible(scriptId, { start: { lineNumber: line, columnNumber: 0 }, end: { lineNumber: line + span, columnNumber: 0 } });
    if (got.length > 0) above = got[0]!.lineNumber + 1;
    else if (span > 1 << 24) break;
  }
  return { below, above };
}

/** "12 and 15", "12", "none (the file has no code V8 can stop at)". */
export function nearestText(p: { below: number | null; above: number | null }): string {
  const both = [p.below, p.above].filter((l): l is number => l !== null);
  return both.length === 0 ? 'none (no line of the file has code V8 can stop at)' : both.join(' and ');
}
