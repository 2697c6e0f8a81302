// Unit: the source map of one of tspuma's own chunks is decoded once a process for both of its
// readers, the logged stack lines (server/stack-lines.ts) and debug mode's frames and dumps
// (diagnostics/sourcemap.ts), through server/chunk-maps.ts. Each decoded it before: an error's log
// line and its dump each paid for the chunk's map (serving.chunk.js.map ~21 ms of CPU). It reads the
// build's index of each map (x.chunk.js.map.idx), which answers as node:module's SourceMap does.
import { readdirSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { original, originalPosition } from '../../diagnostics/sourcemap.js';
import { chunkMap, chunkMapsDecoded, decodeMappings, forgetChunkMaps, readChunkMap } from '../../server/chunk-maps.js';
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

it('takes the shared map for a chunk whose script announced its map (a probe\'s scriptParsed), not a decode of its own', () => {
  const chunk = join(ROOT, 'dist/server/health.chunk.js');
  const line0 = readFileSync(join(ROOT, 'dist/server/health.chunk.code.js'), 'utf8').split('\n').findIndex((l) => l.startsWith('function clusterReadiness('));
  const sourceLine = readFileSync(join(ROOT, 'server/health.ts'), 'utf8').split('\n').findIndex((l) => l.startsWith('export function clusterReadiness(')) + 1;
  expect(line0).toBeGreaterThanOrEqual(0);
  forgetChunkMaps();
  const before = chunkMapsDecoded();
  // The URL the chunk's code announces (its last line), as V8's Debugger.scriptParsed reports it.
  const at = originalPosition(pathToFileURL(chunk).href, line0, 'function '.length, 'health.chunk.js.map');
  expect(at).toEqual({ path: join(ROOT, 'server/health.ts'), line0: sourceLine - 1, col0: 16 });
  expect(chunkMapsDecoded() - before).toBe(1);
  expect(ownFramesMapped(`    at clusterReadiness (${pathToFileURL(chunk).href}:${line0 + 1}:10)`)).toBe(`    at clusterReadiness (server/health.ts:${sourceLine}:17)`);
  expect(chunkMapsDecoded() - before).toBe(1);
});

/** Every chunk of the build that has a map (dist/server, dist/server/cluster, dist/diagnostics, dist/inspector). */
function chunks(): string[] {
  const found: string[] = [];
  for (const dir of ['dist/server', 'dist/server/cluster', 'dist/diagnostics', 'dist/inspector']) {
    for (const name of readdirSync(join(ROOT, dir))) if (name.endsWith('.chunk.js.map')) found.push(join(ROOT, dir, name.slice(0, -'.map'.length)));
  }
  return found;
}

const asNode = (text: string) => new SourceMap(JSON.parse(text) as ConstructorParameters<typeof SourceMap>[0]);

it("reads every chunk's map through the build's index, which answers as node's SourceMap does (every third column, each line's ends, past them, below the last)", () => {
  const all = chunks();
  expect(all.length).toBeGreaterThanOrEqual(10);
  const same = (a: Record<string, unknown>, b: Record<string, unknown>) =>
    a.generatedLine === b.generatedLine && a.generatedColumn === b.generatedColumn && a.originalSource === b.originalSource && a.originalLine === b.originalLine && a.originalColumn === b.originalColumn && a.name === b.name && Object.keys(a).length === Object.keys(b).length;
  let asked = 0;
  for (const chunk of all) {
    const text = readFileSync(`${chunk}.map`, 'utf8');
    const mine = readChunkMap(text, readFileSync(`${chunk}.map.idx`));
    expect(mine, chunk).not.toBeInstanceOf(SourceMap); // the index was taken
    const node = asNode(text);
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

it("hands a map to node's SourceMap when its index is missing, another map's, cut short or not an index, and writes none for mappings out of order", () => {
  const chunk = join(ROOT, 'dist/server/tls-plain-http.chunk.js');
  const text = readFileSync(`${chunk}.map`, 'utf8');
  const bytes = readFileSync(`${chunk}.map.idx`);
  expect(readChunkMap(text, bytes)).not.toBeInstanceOf(SourceMap);
  expect(readChunkMap(text, null)).toBeInstanceOf(SourceMap);
  expect(readChunkMap(text, readFileSync(join(ROOT, 'dist/server/health.chunk.js.map.idx')))).toBeInstanceOf(SourceMap);
  expect(readChunkMap(text, bytes.subarray(0, bytes.length - 4))).toBeInstanceOf(SourceMap);
  expect(readChunkMap(text, new TextEncoder().encode('not an index'))).toBeInstanceOf(SourceMap);
  expect(decodeMappings('KAAA,DAAA')).toBeNull(); // columns 5, then 4
  expect(decodeMappings('AA!A')).toBeNull();
  expect(decodeMappings('AAAA,EAAEA;AACA')).not.toBeNull();
});
