// Rewrites a V8 CPU profile (the .cpuprofile DevTools and speedscope load) so each node's call
// frame and line ticks point at the original .ts source, through each script's source map.
import { pathToFileURL } from 'node:url';
import { renameIdentifiers, renamesOf } from '../server/name-tables.js';
import { originalLineOf, originalPosition } from '../diagnostics/sourcemap.js';

/** A profile node's call frame as V8 reports it: 0-based positions in the generated script. */
export interface ProfileCallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

export interface ProfileNode {
  id: number;
  callFrame: ProfileCallFrame;
  /** 1-based lines of the generated script with their sample counts. */
  positionTicks?: { line: number; ticks: number }[];
  [key: string]: unknown;
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  [key: string]: unknown;
}

/** What the target announced about each script (Debugger.scriptParsed). */
export interface ProfileScript {
  url: string;
  sourceMapURL?: string;
}

export interface MapStats {
  /** Nodes whose frame now names an original file. */
  mapped: number;
  /** Line ticks dropped because their generated line spans several original lines. */
  droppedTicks: number;
}

/**
 * Maps every call frame that has a source map in place (url, lineNumber, columnNumber; the
 * function name is V8's, which esbuild and tsx keep, but a bundled chunk's as its source has it,
 * through the chunk's name table: `parse2` -> `parse`). A node's line ticks are mapped when each
 * generated line maps to one original line of the same file, and dropped otherwise, so no tick
 * points at a wrong line.
 */
export function mapProfile(profile: CpuProfile, scripts: ReadonlyMap<string, ProfileScript>): MapStats {
  const stats: MapStats = { mapped: 0, droppedTicks: 0 };
  for (const node of profile.nodes) {
    const frame = node.callFrame;
    const script = scripts.get(frame.scriptId);
    const url = frame.url || script?.url || '';
    if (!url || frame.lineNumber < 0) continue;
    const at = originalPosition(url, frame.lineNumber, Math.max(frame.columnNumber, 0), script?.sourceMapURL);
    if (!at) continue;
    const original = pathToFileURL(at.path).href;
    const renames = renamesOf(url);
    const functionName = renames && frame.functionName ? renameIdentifiers(frame.functionName, renames) : frame.functionName;
    node.callFrame = { ...frame, functionName, url: original, lineNumber: at.line0, columnNumber: at.col0 };
    stats.mapped++;
    if (!node.positionTicks) continue;
    const ticks = new Map<number, number>();
    for (const tick of node.positionTicks) {
      const line = originalLineOf(url, tick.line - 1, script?.sourceMapURL);
      if (line && line.path === at.path) ticks.set(line.line0 + 1, (ticks.get(line.line0 + 1) ?? 0) + tick.ticks);
      else stats.droppedTicks += tick.ticks;
    }
    node.positionTicks = [...ticks].map(([line, count]) => ({ line, ticks: count }));
  }
  return stats;
}
