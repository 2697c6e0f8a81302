// A logged stack's lines in tspuma's own built chunks told by their .ts files, lines and names as
// written (`server/request-lifecycle.ts:324:18`, not `dist/server/serving.chunk.js:3160:22`), as
// the development page shows them (review13.5). For development and test only (server/logger.ts):
// the first such line reads that chunk's source map (chunk-maps.ts, shared with debug mode's frames) and its name
// table (name-tables.ts), kept for the process: synchronous, and none of diagnostics/, which a
// process with debug off never loads. Other frames (the app's, already mapped by node; a package's) are left as they are.
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chunkMap } from './chunk-maps.js';
import { renameIdentifiers, renamesOf } from './name-tables.js';

/** `    at fn (file:///…/x.chunk.js:L:C)` or `    at file:///…/x.chunk.js:L:C`. */
const CHUNK_LINE = /^(\s*at )(?:(.+?) \()?((?:file:\/\/)?\/[^()]*\.chunk\.js):(\d+):(\d+)(\)?)$/;

/** The stack text with each line in one of tspuma's chunks mapped to its source; any other line as it was. */
export function ownFramesMapped(stack: string): string {
  if (!stack.includes('.chunk.js:')) return stack;
  return stack
    .split('\n')
    .map((line) => {
      const m = CHUNK_LINE.exec(line);
      if (!m) return line;
      const path = m[3]!.startsWith('file://') ? fileURLToPath(m[3]!) : m[3]!;
      const map = chunkMap(path); // null but for tspuma's own chunks
      if (!map) return line;
      const entry = map.findEntry(Number(m[4]) - 1, Number(m[5]) - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number };
      if (entry.originalSource === undefined || entry.originalLine === undefined || entry.originalColumn === undefined) return line;
      const source = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : resolve(dirname(path), entry.originalSource);
      const shown = relative(process.cwd(), source);
      const file = shown.startsWith('..') || isAbsolute(shown) ? source : shown;
      const where = `${file}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
      if (m[2] === undefined) return `${m[1]}${where}`;
      const renames = renamesOf(path);
      return `${m[1]}${renames ? renameIdentifiers(m[2], renames) : m[2]} (${where})`;
    })
    .join('\n');
}
