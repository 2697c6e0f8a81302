// Unit: the source map of one of tspuma's own chunks is decoded once a process for both of its
// readers, the logged stack lines (server/stack-lines.ts) and debug mode's frames and dumps
// (diagnostics/sourcemap.ts), through server/chunk-maps.ts. Each decoded it before: an error's log
// line and its dump each paid for the chunk's map (serving.chunk.js.map ~21 ms of CPU). Its own
// decoder answers as node:module's SourceMap does, at every column of every line of every chunk.
import { readdirSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { original } from '../../diagnostics/sourcemap.js';
import { chunkMap, chunkMapsDecoded, forgetChunkMaps, readChunkMap } from '../../server/chunk-maps.js';
import { ownFramesMapped } from '../../server/stack-lines.js';
import { ROOT } from '../helpers/cli.js';

// A small chunk; its code file keeps the chunk's lines and columns (scripts/chunk-cache.mjs).
const CHUNK = join(ROOT, 'dist/server/tls-plain-http.chunk.js');
const NAME = 'answerPlainHttp';

/** The 0-based line and column of NAME's declaration in the chunk, and its 1-based line in the source. */
function positions(): { line0: number; col0: number; sourceLine: number } {
  const code = readFileSync(join(ROOT, 'dist/server/tls-plain-http.chunk.code.js'), 'utf8').split('\n');
  const line0 = code.findIndex((l) => l.startsWith(`function ${NAME}(`));
  const sourceLine = readFileSync(join(ROOT, 'server/tls-plain-http.ts'), 'utf8').split('\n').findIndex((l) => l.startsWith(`export function ${NAME}(`)) + 1;
  expect(line0, `function ${NAME}( in the chunk's code`).toBeGreaterThanOrEqual(0);
  expect(sourceLine, `export function ${NAME}( in its source`).toBeGreaterThan(0);
  return { line0, col0: 'function '.length, sourceLine };
}

it("decodes a chunk's map once for a dump's frame and the log line's stack after it, both mapped to the same .ts line", () => {
  const { line0, col0, sourceLine } = positions();
  forgetChunkMaps();
  const before = chunkMapsDecoded();

  const frame = original(pathToFileURL(CHUNK).href, line0, col0);
  expect(frame).toEqual({ file: 'server/tls-plain-http.ts', line: sourceLine, column: 17 });
  expect(chunkMapsDecoded() - before).toBe(1);

  const logged = ownFramesMapped(`Error: x\n    at ${NAME} (${pathToFileURL(CHUNK).href}:${line0 + 1}:${col0 + 1})`);
  expect(logged).toBe(`Error: x\n    at ${NAME} (server/tls-plain-http.ts:${sourceLine}:17)`);
  expect(chunkMapsDecoded() - before).toBe(1);
  expect(chunkMap(CHUNK)).toBe(chunkMap(CHUNK));
});

it('keeps no map for a file outside the build or one that is not a chunk', () => {
  expect(chunkMap(join(ROOT, 'dist/server/stack-lines.js'))).toBeNull();
  expect(chunkMap('/elsewhere/dist/server/serving.chunk.js')).toBeNull();
});

/** Every chunk of the build with its map and code file (dist/server, dist/server/cluster, dist/diagnostics, dist/inspector). */
function chunks(): string[] {
  const found: string[] = [];
  for (const dir of ['dist/server', 'dist/server/cluster', 'dist/diagnostics', 'dist/inspector']) {
    for (const name of readdirSync(join(ROOT, dir))) if (name.endsWith('.chunk.js.map')) found.push(join(ROOT, dir, name.slice(0, -'.map'.length)));
  }
  return found;
}

it("answers as node's SourceMap does across every chunk's lines (every third column, each line's ends, past them, and below the last)", () => {
  const all = chunks();
  expect(all.length).toBeGreaterThanOrEqual(10);
  const same = (a: Record<string, unknown>, b: Record<string, unknown>) =>
    a.generatedLine === b.generatedLine && a.generatedColumn === b.generatedColumn && a.originalSource === b.originalSource && a.originalLine === b.originalLine && a.originalColumn === b.originalColumn && a.name === b.name && Object.keys(a).length === Object.keys(b).length;
  let asked = 0;
  for (const chunk of all) {
    const text = readFileSync(`${chunk}.map`, 'utf8');
    const mine = readChunkMap(text);
    expect(mine, chunk).not.toBeInstanceOf(SourceMap); // decoded here, not handed back to node
    const node = new SourceMap(JSON.parse(text) as ConstructorParameters<typeof SourceMap>[0]);
    expect(mine.payload.sources, chunk).toEqual(node.payload.sources);
    const lines = readFileSync(chunk.replace(/\.js$/, '.code.js'), 'utf8').split('\n');
    for (let line0 = -1; line0 <= lines.length; line0++) {
      const width = line0 >= 0 && line0 < lines.length ? lines[line0]!.length : 0;
      const cols = [width - 1, width, width + 1, Number.MAX_SAFE_INTEGER];
      for (let c = 0; c < width; c += 3) cols.push(c);
      for (const col0 of cols) {
        const a = mine.findEntry(line0, col0) as Record<string, unknown>;
        const b = node.findEntry(line0, col0) as Record<string, unknown>;
        if (!same(a, b)) expect({ chunk, line0, col0, entry: a }).toEqual({ chunk, line0, col0, entry: b });
        asked++;
      }
    }
  }
  expect(asked).toBeGreaterThan(100_000);
});

it("hands a map it does not decode (an index map's sections, mappings out of order) to node's SourceMap, which answers for it", () => {
  const outOfOrder = JSON.stringify({ version: 3, sources: ['a.ts'], names: [], mappings: 'KAAA,DAAA' }); // columns 5, then 4
  const map = readChunkMap(outOfOrder);
  expect(map).toBeInstanceOf(SourceMap);
  expect(map.findEntry(0, 5)).toEqual(new SourceMap(JSON.parse(outOfOrder) as ConstructorParameters<typeof SourceMap>[0]).findEntry(0, 5));
  const sections = JSON.stringify({ version: 3, sections: [{ offset: { line: 0, column: 0 }, map: { version: 3, sources: ['b.ts'], names: [], mappings: 'AAAA' } }] });
  expect(readChunkMap(sections)).toBeInstanceOf(SourceMap);
});
