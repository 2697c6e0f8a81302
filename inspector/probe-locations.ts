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
}

export interface GeneratedLocation {
  scriptId: string;
  lineNumber: number;
  columnNumber: number;
}

/** The answer for one script: the place to stop, or the lines of that file that have code. */
export type Placement = { ok: true; location: GeneratedLocation } | { ok: false; below: number | null; above: number | null };

/** A synchronous Debugger.getPossibleBreakpoints over the whole script. */
export type PossibleBreakpoints = (scriptId: string) => GeneratedLocation[];

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
  if (!script.sourceMapURL && !path.endsWith('.js') && !path.endsWith('.mjs') && !path.endsWith('.cjs')) return false;
  return sourcesOf(script.url, script.sourceMapURL).includes(file);
}

/**
 * The first breakable place of `line` (1-based) of `file` in `script`, in generated order; or,
 * when the line has none, the nearest lines below and above it that have one.
 */
export function place(script: LoadedScript, file: string, line: number, possible: PossibleBreakpoints): Placement {
  const path = pathOf(script.url);
  const mapped = path !== file || sourcesOf(script.url, script.sourceMapURL).includes(file);
  const lines = new Map<number, GeneratedLocation>();
  for (const loc of possible(script.scriptId)) {
    let at: number | null;
    if (mapped) {
      const o = originalPosition(script.url, loc.lineNumber, loc.columnNumber, script.sourceMapURL);
      at = o && o.path === file ? o.line0 + 1 : null;
    } else at = loc.lineNumber + 1;
    if (at !== null && !lines.has(at)) lines.set(at, { scriptId: script.scriptId, lineNumber: loc.lineNumber, columnNumber: loc.columnNumber });
  }
  const hit = lines.get(line);
  if (hit) return { ok: true, location: hit };
  let below: number | null = null;
  let above: number | null = null;
  for (const l of lines.keys()) {
    if (l < line && (below === null || l > below)) below = l;
    if (l > line && (above === null || l < above)) above = l;
  }
  return { ok: false, below, above };
}

/** "12 and 15", "12", "none (the file has no code V8 can stop at)". */
export function nearestText(p: { below: number | null; above: number | null }): string {
  const both = [p.below, p.above].filter((l): l is number => l !== null);
  return both.length === 0 ? 'none (no line of the file has code V8 can stop at)' : both.join(' and ');
}
