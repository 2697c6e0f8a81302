// The source maps of tspuma's own built chunks (x.chunk.js.map beside each x.chunk.js), each read
// and decoded once a process, for both readers: the logged stack lines (stack-lines.ts) and debug
// mode's frames and dumps (diagnostics/sourcemap.ts). Node's SourceMap decodes a map whole
// (serving.chunk.js.map ~21 ms, boot.chunk.js.map ~29 ms of CPU on a quiet core): an error's log
// line and its dump each decoded the same chunk's map, in -d processes and plain ones alike.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

/** tspuma's build (this file's folder's parent, bundled or not): only its chunks are kept here. */
const OWN_DIST = fileURLToPath(new URL('../', import.meta.url));

const maps = new Map<string, SourceMap | null>();
let decoded = 0;

/**
 * The source map of `path` when it is one of tspuma's own chunks (null for any other file, and for
 * a chunk whose map is missing or damaged: its positions stay the chunk's).
 */
export function chunkMap(path: string): SourceMap | null {
  if (!path.startsWith(OWN_DIST) || !path.endsWith('.chunk.js')) return null;
  let map = maps.get(path);
  if (map !== undefined) return map;
  map = null;
  // Looked for first: a read that throws would pause a -d process for nothing.
  if (existsSync(`${path}.map`)) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
      decoded++;
    } catch {
      map = null; // a damaged map: the chunk's positions, as before
    }
  }
  if (maps.size < 100) maps.set(path, map);
  return map;
}

/** How many chunk maps this process has decoded (test/unit/chunk-maps.test.ts: one a chunk, whoever asks). */
export function chunkMapsDecoded(): number {
  return decoded;
}

/** Drops the maps kept so far (for a test that counts a chunk's decodes from none). */
export function forgetChunkMaps(): void {
  maps.clear();
}
