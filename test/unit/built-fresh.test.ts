// test/helpers/built-fresh.ts: the run stops when dist/ is older than a source, since the shared
// project's tests import tsc's output in its place (vitest.config.ts, BUILT_SOURCES).
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { staleBuild } from '../helpers/built-fresh.js';
import { tempDir } from '../helpers/temp.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A checkout with server/a.ts, inspector/b.ts and diagnostics/c.d.ts at `sourceAt` (s since the epoch), built at `builtAt` (or never). */
function checkout(sourceAt: Record<string, number>, builtAt?: number): string {
  const root = tempDir('built-fresh');
  dirs.push(root);
  for (const d of ['server', 'diagnostics', 'inspector', 'dist']) mkdirSync(join(root, d));
  for (const [file, at] of Object.entries(sourceAt)) {
    writeFileSync(join(root, file), 'export {};\n');
    utimesSync(join(root, file), at, at);
  }
  if (builtAt !== undefined) {
    writeFileSync(join(root, 'dist/tsconfig.tsbuildinfo'), '{}');
    utimesSync(join(root, 'dist/tsconfig.tsbuildinfo'), builtAt, builtAt);
  }
  return root;
}

it('stops a run with nothing built, and says how to build', () => {
  expect(staleBuild(checkout({ 'server/a.ts': 1000 }))).toMatch(/^dist\/tsconfig\.tsbuildinfo is missing: nothing is built\. Run `npm run build`/);
});

it('stops a run whose newest source changed after the build, naming it and by how much', () => {
  expect(staleBuild(checkout({ 'server/a.ts': 1000, 'inspector/b.ts': 1012.5 }, 1010))).toMatch(/^inspector\/b\.ts changed 2\.5 s after the last build \(dist\/tsconfig\.tsbuildinfo\): the tests would run the old code\. Run `npm run build`/);
});

it('lets a run built after every source go on; a declaration file is no source', () => {
  expect(staleBuild(checkout({ 'server/a.ts': 1000, 'inspector/b.ts': 1005, 'diagnostics/c.d.ts': 2000 }, 1010))).toBeNull();
});
