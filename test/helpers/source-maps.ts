// Inline source maps of scripts a test sees through the inspector (esbuild and tsx write data:
// URLs), and the generated position a map sends to a line of the original file: how DevTools
// turns a breakpoint on a .ts line into one on the running script.
import { SourceMap } from 'node:module';

/** A script's inline source map (esbuild writes a data: URL), or null. */
export function inlineMap(sourceMapURL: string | undefined): SourceMap | null {
  if (!sourceMapURL?.startsWith('data:')) return null;
  const data = sourceMapURL.slice(sourceMapURL.indexOf(',') + 1);
  return new SourceMap(JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as ConstructorParameters<typeof SourceMap>[0]);
}

/** The first generated position that the map sends to `line0` of a source ending in `file`. */
export function generatedFor(map: SourceMap, source: string, file: string, line0: number): { lineNumber: number; columnNumber: number } | null {
  const lines = source.split('\n');
  for (let l = 0; l < lines.length; l++) {
    for (let c = 0; c < lines[l]!.length; c++) {
      const e = map.findEntry(l, c) as { originalSource?: string; originalLine?: number; generatedColumn?: number };
      if (e.originalSource?.endsWith(file) && e.originalLine === line0 && e.generatedColumn === c) return { lineNumber: l, columnNumber: c };
    }
  }
  return null;
}

