// Source maps: a V8 location (generated code, 0-based) turned into the original .ts file, line
// and column; reads inline maps (esbuild, tsx) and tsc's .js.map files.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap, findSourceMap } from 'node:module';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chunkMap } from '../server/chunk-maps.js';

const maps = new Map<string, SourceMap | null>();

/** A source map URL as a script announced it: inline (data:) or a file next to the script. */
function mapFromUrl(path: string, sourceMapURL: string): SourceMap | null {
  try {
    if (sourceMapURL.startsWith('data:')) {
      const comma = sourceMapURL.indexOf(',');
      const meta = sourceMapURL.slice(5, comma);
      const data = sourceMapURL.slice(comma + 1);
      const text = meta.endsWith(';base64') ? Buffer.from(data, 'base64').toString('utf8') : decodeURIComponent(data);
      return new SourceMap(JSON.parse(text) as ConstructorParameters<typeof SourceMap>[0]);
    }
    const file = sourceMapURL.startsWith('file://') ? fileURLToPath(sourceMapURL) : resolve(dirname(path), sourceMapURL);
    return new SourceMap(JSON.parse(readFileSync(file, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
  } catch {
    return null;
  }
}

function mapFor(path: string, sourceMapURL?: string): SourceMap | null {
  if (maps.has(path)) return maps.get(path)!;
  // This process's own modules first, then tspuma's own chunks (decoded once a process, for the
  // logged stack lines too: server/chunk-maps.ts; a chunk announces the map beside it, this same
  // file), then a script of another process (inspector/remote.ts) by the source map URL it announced.
  let map: SourceMap | null = findSourceMap(path) ?? null;
  if (map === null) map = chunkMap(path);
  if (map === null && sourceMapURL) map = mapFromUrl(path, sourceMapURL);
  // Checked first: a throw here would pause debug mode's capture (and probes' arming) for nothing.
  if (map === null && existsSync(`${path}.map`)) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
    } catch {
      map = null;
    }
  }
  if (maps.size < 5000) maps.set(path, map);
  return map;
}

/** A path relative to cwd when below it, else as given. */
export function display(file: string): string {
  if (!isAbsolute(file)) return file;
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

export interface Original {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

/** The file path of a script URL (file:// or absolute), or null for node:, eval and the like. */
function scriptPath(url: string): string | null {
  if (url.startsWith('file://')) return fileURLToPath(url);
  return isAbsolute(url) ? url : null;
}

interface Entry {
  generatedLine?: number;
  originalSource?: string;
  originalLine?: number;
  originalColumn?: number;
}

/** The original position (absolute path, 0-based) of a generated one, or null without a mapping. */
export function originalPosition(url: string, line0: number, col0: number, sourceMapURL?: string): { path: string; line0: number; col0: number } | null {
  const path = scriptPath(url);
  if (path === null) return null;
  const entry = mapFor(path, sourceMapURL)?.findEntry(line0, col0) as Entry | undefined;
  if (!entry?.originalSource || entry.originalLine === undefined) return null;
  let source = entry.originalSource;
  if (source.startsWith('file://')) source = fileURLToPath(source);
  else if (!isAbsolute(source)) source = resolve(dirname(path), source);
  return { path: source, line0: entry.originalLine, col0: entry.originalColumn ?? 0 };
}

/**
 * The source's own name of the identifier that starts exactly at a generated position (a
 * compiler's renamed binding: esbuild's `discounts2` for a parameter `discounts` that shadows a
 * module constant), from the map's `names`; null when the map has none there.
 */
export function originalName(url: string, line0: number, col0: number, sourceMapURL?: string): string | null {
  const path = scriptPath(url);
  if (path === null) return null;
  const entry = mapFor(path, sourceMapURL)?.findEntry(line0, col0) as (Entry & { generatedLine?: number; generatedColumn?: number; name?: string }) | undefined;
  if (!entry || entry.generatedLine !== line0 || entry.generatedColumn !== col0 || typeof entry.name !== 'string' || entry.name === '') return null;
  return entry.name;
}

/**
 * The one original line (0-based) a whole generated line maps to, or null when it maps to none
 * or to several (a minified or one-line module): probes the line's mappings up to its last.
 */
export function originalLineOf(url: string, line0: number, sourceMapURL?: string): { path: string; line0: number } | null {
  const path = scriptPath(url);
  const map = path === null ? null : mapFor(path, sourceMapURL);
  if (!map) return null;
  const last = map.findEntry(line0, Number.MAX_SAFE_INTEGER) as Entry & { generatedColumn?: number };
  if (last.generatedLine !== line0 || last.originalLine === undefined) return null;
  for (let col = 0; col < (last.generatedColumn ?? 0); col = col === 0 ? 1 : col * 2) {
    const e = map.findEntry(line0, col) as Entry;
    if (e.generatedLine === line0 && (e.originalLine !== last.originalLine || e.originalSource !== last.originalSource)) return null;
  }
  const at = originalPosition(url, line0, last.generatedColumn ?? 0, sourceMapURL);
  return at && { path: at.path, line0: at.line0 };
}

/** The original files (absolute paths) a script's source map names; [] without a map. */
export function sourcesOf(url: string, sourceMapURL?: string): string[] {
  const path = scriptPath(url);
  const map = path === null ? null : mapFor(path, sourceMapURL);
  if (!map || path === null) return [];
  const sources = (map.payload as { sources?: string[] }).sources ?? [];
  return sources.map((s) => (s.startsWith('file://') ? fileURLToPath(s) : isAbsolute(s) ? s : resolve(dirname(path), s)));
}

/**
 * original(), resolved when one of its fields is first read (or written): a frame of tspuma's own
 * compiled code in a capture nobody may ever dump (the listen snapshot every -d boot takes) then
 * never parses its source map, which Node's SourceMap decodes whole (a few ms per file). The
 * fields are enumerable accessors, so a spread or JSON of it still has file, line and column.
 */
export function lazyOriginal(url: string, line0: number, col0: number, sourceMapURL?: string): Original {
  let at: Original | null = null;
  const get = (): Original => (at ??= original(url, line0, col0, sourceMapURL));
  const out = {} as Original;
  for (const key of ['file', 'line', 'column'] as const) {
    Object.defineProperty(out, key, {
      enumerable: true,
      get: () => get()[key],
      set: (value: never) => {
        get()[key] = value;
      },
    });
  }
  return out;
}

/** Maps a script URL and a 0-based position to the original file and 1-based position. */
export function original(url: string, line0: number, col0: number, sourceMapURL?: string): Original {
  const path = scriptPath(url);
  if (path === null) return { file: url || '<anonymous>', line: line0 + 1, column: col0 + 1 };
  const at = originalPosition(url, line0, col0, sourceMapURL);
  if (at) return { file: display(at.path), line: at.line0 + 1, column: at.col0 + 1 };
  return { file: display(path), line: line0 + 1, column: col0 + 1 };
}
