// The source maps of tspuma's own built chunks (x.chunk.js.map beside each x.chunk.js), each read
// and decoded once a process, for both readers: the logged stack lines (stack-lines.ts) and debug
// mode's frames and dumps (diagnostics/sourcemap.ts). An error's log line and its dump each decoded
// the same chunk's map before. Decoded here into typed arrays, with the lookup node:module's
// SourceMap.findEntry gives (test/unit/chunk-maps.test.ts compares the two at every mapping of every
// chunk): Node's decoder builds an array per mapping (serving.chunk.js.map ~21 ms of CPU on a quiet
// core, and the garbage after it), a first dump's largest cost after its capture.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

/** What the readers use of a map: SourceMap's lookup and its payload's `sources`. */
export type ChunkMap = Pick<SourceMap, 'findEntry' | 'payload'>;

/** tspuma's build (this file's folder's parent, bundled or not): only its chunks are kept here. */
const OWN_DIST = fileURLToPath(new URL('../', import.meta.url));

const maps = new Map<string, ChunkMap | null>();
let decoded = 0;

/** Base64 digit values by character code (-1: not a digit). */
const DIGITS = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) DIGITS['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/** Fields a mapping holds (generated line and column, source index, original line and column, name index; -1: absent). */
const FIELDS = 6;

/** A version 3 map's mappings decoded whole into one Int32Array (FIELDS a mapping), or null where they are not in generated order or not well formed. */
function decode(mappings: string): { at: Int32Array; count: number } | null {
  let at = new Int32Array(FIELDS * 4096);
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
    const previous = count === 0 ? -1 : at[(count - 1) * FIELDS + 1]!;
    column += fields[0]!;
    if (count > 0 && at[(count - 1) * FIELDS] === line && column < previous) return null; // out of order: node's sort would move it
    if (count * FIELDS === at.length) {
      const grown = new Int32Array(at.length * 2);
      grown.set(at);
      at = grown;
    }
    const b = count * FIELDS;
    at[b] = line;
    at[b + 1] = column;
    if (n === 1) {
      at[b + 2] = -1;
      at[b + 3] = -1;
      at[b + 4] = -1;
      at[b + 5] = -1;
    } else {
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
  return { at, count };
}

interface Payload {
  version: number;
  sources: string[];
  names?: string[];
  mappings: string;
}

/** A chunk's map decoded by decode(): SourceMap's findEntry over the same mappings. */
class DecodedMap implements ChunkMap {
  readonly #payload: Payload;
  readonly #at: Int32Array;
  readonly #count: number;
  constructor(payload: Payload, at: Int32Array, count: number) {
    this.#payload = payload;
    this.#at = at;
    this.#count = count;
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
      const line = at[middle * FIELDS]!;
      if (line0 < line || (line0 === line && col0 < at[middle * FIELDS + 1]!)) count = step;
      else {
        first = middle;
        count -= step;
      }
    }
    if (this.#count === 0) return {};
    const b = first * FIELDS;
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

/** The map in `text`: decoded here when it is a plain version 3 map in generated order, else by node's SourceMap. */
export function readChunkMap(text: string): ChunkMap {
  const payload = JSON.parse(text) as Payload & { sections?: unknown };
  const plain = payload.version === 3 && payload.sections === undefined && typeof payload.mappings === 'string' && Array.isArray(payload.sources);
  const mine = plain ? decode(payload.mappings) : null;
  return mine ? new DecodedMap(payload, mine.at, mine.count) : new SourceMap(payload as unknown as ConstructorParameters<typeof SourceMap>[0]);
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
      map = readChunkMap(readFileSync(`${path}.map`, 'utf8'));
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
