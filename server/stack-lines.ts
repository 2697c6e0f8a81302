// A logged stack's lines in tspuma's own built chunks told by their .ts files, lines and names as
// written (`server/request-lifecycle.ts:324:18`, not `dist/server/serving.chunk.js:3160:22`), as
// the development page shows them (review13.5). For development and test only (server/logger.ts):
// the first such line reads that chunk's source map and names table, kept for the process, with
// node's own SourceMap class: synchronous, and none of diagnostics/, which a process with debug off
// never loads. Other frames (the app's, already mapped by node; a package's) are left as they are.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** tspuma's build (this file's folder's parent, bundled or not): only its chunks are mapped here. */
const OWN_DIST = fileURLToPath(new URL('../', import.meta.url));

/** `    at fn (file:///…/x.chunk.js:L:C)` or `    at file:///…/x.chunk.js:L:C`. */
const CHUNK_LINE = /^(\s*at )(?:(.+?) \()?((?:file:\/\/)?\/[^()]*\.chunk\.js):(\d+):(\d+)(\)?)$/;

interface Chunk {
  map: SourceMap;
  names: Map<string, string>;
}
const chunks = new Map<string, Chunk | null>();

function chunkAt(path: string): Chunk | null {
  let chunk = chunks.get(path);
  if (chunk !== undefined) return chunk;
  chunk = null;
  // Looked for first: a read that throws would pause a -d process for nothing.
  if (existsSync(`${path}.map`)) {
    try {
      const map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
      const names = new Map<string, string>();
      if (existsSync(`${path}.names.json`)) {
        const table = (JSON.parse(readFileSync(`${path}.names.json`, 'utf8')) as { names?: Record<string, unknown> }).names ?? {};
        for (const [generated, source] of Object.entries(table)) if (typeof source === 'string') names.set(generated, source);
      }
      chunk = { map, names };
    } catch {
      chunk = null; // a damaged map: the chunk's positions, as before
    }
  }
  if (chunks.size < 100) chunks.set(path, chunk);
  return chunk;
}

/** The stack text with each line in one of tspuma's chunks mapped to its source; any other line as it was. */
export function ownFramesMapped(stack: string): string {
  if (!stack.includes('.chunk.js:')) return stack;
  return stack
    .split('\n')
    .map((line) => {
      const m = CHUNK_LINE.exec(line);
      if (!m) return line;
      const path = m[3]!.startsWith('file://') ? fileURLToPath(m[3]!) : m[3]!;
      const chunk = path.startsWith(OWN_DIST) ? chunkAt(path) : null;
      if (!chunk) return line;
      const entry = chunk.map.findEntry(Number(m[4]) - 1, Number(m[5]) - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number };
      if (entry.originalSource === undefined || entry.originalLine === undefined || entry.originalColumn === undefined) return line;
      const source = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : resolve(dirname(path), entry.originalSource);
      const shown = relative(process.cwd(), source);
      const file = shown.startsWith('..') || isAbsolute(shown) ? source : shown;
      const where = `${file}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
      if (m[2] === undefined) return `${m[1]}${where}`;
      const name = m[2].replace(/[A-Za-z_$][\w$]*/g, (id) => chunk.names.get(id) ?? id);
      return `${m[1]}${name} (${where})`;
    })
    .join('\n');
}
