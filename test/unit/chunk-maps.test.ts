// Unit: the source map of one of tspuma's own chunks is decoded once a process for both of its
// readers, the logged stack lines (server/stack-lines.ts) and debug mode's frames and dumps
// (diagnostics/sourcemap.ts), through server/chunk-maps.ts. Each decoded it before: an error's log
// line and its dump each paid for the chunk's map (serving.chunk.js.map ~21 ms of CPU).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { original, originalPosition } from '../../diagnostics/sourcemap.js';
import { chunkMap, chunkMapsDecoded, forgetChunkMaps } from '../../server/chunk-maps.js';
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
