// The source maps of tspuma's own built chunks (x.chunk.js.map beside each x.chunk.js), each read
// once a process for all their readers: the logged stack lines (stack-lines.ts) and debug mode's
// frames, dumps, probes and profiles (diagnostics/sourcemap.ts). An error's log line and its dump
// each decoded the same chunk's map before. The build decodes each chunk's mappings once
// (scripts/build.mjs, with decodeMappings below) into `x.chunk.js.map.idx`, a table of Int32 that a
// process reads as it is: node:module's SourceMap decodes a map whole at each process's first
// lookup (boot.chunk.js.map ~25-35 ms of CPU in a fresh process, a cold loop however written). A
// map with no index, or one that does not match it, goes to node's SourceMap as before.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

/** What the readers use of a map: SourceMap's lookup and its payload's `sources`. */
export type ChunkMap = Pick<SourceMap, 'findEntry' | 'payload'>;

/** tspuma's build (this file's folder's parent, bundled or not): only its chunks are kept here. */
const OWN_DIST = fileURLToPath(new URL('../', import.meta.url));

/** The index file's suffix after the map's name. */
export const INDEX_SUFFIX = '.idx';
/** An index's first Int32 ('tsm1' in this machine's byte order: one written elsewhere in the other order is not taken). */
const MAGIC = 0x74736d31;
/** Int32s before the mappings: MAGIC, the count of mappings, the length of the map's `mappings` text. */
const HEADER = 3;
/** Fields a mapping holds: generated line and column, source index, original line and column, name index (-1: absent). */
const FIELDS = 6;

const maps = new Map<string, ChunkMap | null>();
let decoded = 0;

const DIGITS = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) DIGITS['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * A version 3 map's `mappings` as an index (HEADER, then FIELDS Int32 a mapping, in generated order),
 * or null when they are not in generated order or not well formed (then no index: node's SourceMap
 * sorts and reads what it can). Run by the build; a process only reads its output.
 */
export function decodeMappings(mappings: string): Int32Array | null {
  let at = new Int32Array(HEADER + FIELDS * 4096);
  let count = 0;
  let line = 0;
  let column = 0;
  let source = 0;
  let origLine = 0;
  let origColumn = 0;
  let name = 0;
  const fields = [0, 0, 0, 0, 0];
  for (let i = 0; i < mappings.length; ) {
    const c = mappings.charCodeAt(i);
    if (c === 59 /* ; */) {
      line++;
      column = 0;
      i++;
      continue;
    }
    if (c === 44 /* , */) {
      i++;
      continue;
    }
    let n = 0;
    while (i < mappings.length) {
      const s = mappings.charCodeAt(i);
      if (s === 44 || s === 59) break;
      if (n === 5) return null;
      let value = 0;
      let shift = 0;
      let digit: number;
      do {
        digit = i < mappings.length ? (DIGITS[mappings.charCodeAt(i++)] ?? -1) : -1;
        if (digit < 0 || shift > 30) return null;
        value += (digit & 31) * 2 ** shift;
        shift += 5;
      } while (digit & 32);
      fields[n++] = value % 2 === 1 ? -Math.floor(value / 2) : value / 2;
    }
    if (n !== 1 && n !== 4 && n !== 5) return null;
    const b = HEADER + count * FIELDS;
    column += fields[0]!;
    if (count > 0 && at[b - FIELDS] === line && column < at[b - FIELDS + 1]!) return null; // out of order: node's sort would move it
    if (b === at.length) {
      const grown = new Int32Array(HEADER + (at.length - HEADER) * 2);
      grown.set(at);
      at = grown;
    }
    at[b] = line;
    at[b + 1] = column;
    if (n === 1) at.fill(-1, b + 2, b + FIELDS);
    else {
      source += fields[1]!;
      origLine += fields[2]!;
      origColumn += fields[3]!;
      if (n === 5) name += fields[4]!;
      at[b + 2] = source;
      at[b + 3] = origLine;
      at[b + 4] = origColumn;
      at[b + 5] = n === 5 ? name : -1;
    }
    count++;
  }
  at[0] = MAGIC;
  at[1] = count;
  at[2] = mappings.length;
  return at.slice(0, HEADER + count * FIELDS);
}

interface Payload {
  version: number;
  sources: string[];
  names?: string[];
  mappings: string;
}

/** A map read with its index: SourceMap's findEntry over the index's mappings. */
class IndexedMap implements ChunkMap {
  readonly #payload: Payload;
  readonly #at: Int32Array;
  readonly #count: number;
  constructor(payload: Payload, at: Int32Array) {
    this.#payload = payload;
    this.#at = at;
    this.#count = at[1]!;
  }
  get payload(): SourceMap['payload'] {
    return this.#payload as unknown as SourceMap['payload'];
  }
  /** The last mapping at or before (line0, col0) in generated order, as SourceMap.findEntry gives it ({} before the first). */
  findEntry(line0: number, col0: number): ReturnType<SourceMap['findEntry']> {
    const at = this.#at;
    let first = 0;
    let count = this.#count;
    while (count > 1) {
      const step = count >> 1;
      const middle = first + step;
      const m = HEADER + middle * FIELDS;
      if (line0 < at[m]! || (line0 === at[m] && col0 < at[m + 1]!)) count = step;
      else {
        first = middle;
        count -= step;
      }
    }
    if (this.#count === 0) return {};
    const b = HEADER + first * FIELDS;
    if (first === 0 && (line0 < at[b]! || (line0 === at[b] && col0 < at[b + 1]!))) return {};
    const source = at[b + 2]!;
    const name = at[b + 5]!;
    return {
      generatedLine: at[b]!,
      generatedColumn: at[b + 1]!,
      originalSource: source < 0 ? undefined : this.#payload.sources[source],
      originalLine: source < 0 ? undefined : at[b + 3]!,
      originalColumn: source < 0 ? undefined : at[b + 4]!,
      name: name < 0 ? undefined : this.#payload.names?.[name],
    } as ReturnType<SourceMap['findEntry']>;
  }
}

/** A map's text with its index's bytes (null: none): read through the index when it is this map's, else by node's SourceMap. */
export function readChunkMap(text: string, index: Uint8Array | null): ChunkMap {
  const payload = JSON.parse(text) as Payload & { sections?: unknown };
  if (index !== null && index.byteLength % 4 === 0 && index.byteLength >= HEADER * 4 && payload.version === 3 && payload.sections === undefined && typeof payload.mappings === 'string' && Array.isArray(payload.sources)) {
    // Its own copy, 4-byte aligned (a Buffer may start anywhere in its pool).
    const at = new Int32Array(index.slice().buffer, 0, index.byteLength / 4);
    if (at[0] === MAGIC && at[1]! >= 0 && at.length === HEADER + at[1]! * FIELDS && at[2] === payload.mappings.length) return new IndexedMap(payload, at);
  }
  return new SourceMap(payload as unknown as ConstructorParameters<typeof SourceMap>[0]);
}

/**
 * The source map of `path` when it is one of tspuma's own chunks (null for any other file, and for
 * a chunk whose map is missing or damaged: its positions stay the chunk's).
 */
export function chunkMap(path: string): ChunkMap | null {
  if (!path.startsWith(OWN_DIST) || !path.endsWith('.chunk.js')) return null;
  let map = maps.get(path);
  if (map !== undefined) return map;
  map = null;
  // Looked for first: a read that throws would pause a -d process for nothing.
  if (existsSync(`${path}.map`)) {
    try {
      const index = existsSync(`${path}.map${INDEX_SUFFIX}`) ? readFileSync(`${path}.map${INDEX_SUFFIX}`) : null;
      map = readChunkMap(readFileSync(`${path}.map`, 'utf8'), index);
      decoded++;
    } catch {
      map = null; // a damaged map: the chunk's positions, as before
    }
  }
  if (maps.size < 100) maps.set(path, map);
  return map;
}

/** How many chunk maps this process has read (test/unit/chunk-maps.test.ts: one a chunk, whoever asks). */
export function chunkMapsDecoded(): number {
  return decoded;
}

/** Drops the maps kept so far (for a test that counts a chunk's reads from none). */
export function forgetChunkMaps(): void {
  maps.clear();
}
