// Created by capture.ts and dumps.ts to turn a V8 location (generated code, 0-based) into the
// original .ts file, line and column; reads tsx's inline maps and tsc's .js.map files.
import { readFileSync } from 'node:fs';
import { SourceMap, findSourceMap } from 'node:module';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  // This process's own modules first; a script of another process (inspector/remote.ts) by the
  // source map URL it announced.
  let map: SourceMap | null = findSourceMap(path) ?? null;
  if (map === null && sourceMapURL) map = mapFromUrl(path, sourceMapURL);
  if (map === null) {
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

/** Maps a script URL and a 0-based position to the original file and 1-based position. */
export function original(url: string, line0: number, col0: number, sourceMapURL?: string): Original {
  let path: string | null = null;
  if (url.startsWith('file://')) path = fileURLToPath(url);
  else if (isAbsolute(url)) path = url;
  if (path === null) return { file: url || '<anonymous>', line: line0 + 1, column: col0 + 1 };
  const map = mapFor(path, sourceMapURL);
  const entry = map?.findEntry(line0, col0) as { originalSource?: string; originalLine?: number; originalColumn?: number } | undefined;
  if (entry && entry.originalSource && entry.originalLine !== undefined) {
    let source = entry.originalSource;
    if (source.startsWith('file://')) source = fileURLToPath(source);
    else if (!isAbsolute(source)) source = resolve(dirname(path), source);
    return { file: display(source), line: entry.originalLine + 1, column: (entry.originalColumn ?? 0) + 1 };
  }
  return { file: display(path), line: line0 + 1, column: col0 + 1 };
}

/** node internals and installed packages: not the culprit. */
export function isLibrary(file: string): boolean {
  return file.startsWith('node:') || file.startsWith('internal/') || file.includes('/node_modules/') || file.startsWith('node_modules/') || file === '<anonymous>';
}
