// What `npm pack` puts in the published tarball: the runtime and its docs, with every target that
// package.json names and every module they load, and none of the benchmarks or tests.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { SLOWNESS } from '../helpers/net.js';

interface PackManifest {
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
}

const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackManifest;

/** The paths `npm pack` would ship, from the tree as built (scripts off: `npm test` has built it). */
function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  const [entry] = JSON.parse(out) as { files: { path: string }[] }[];
  return entry!.files.map((f) => f.path);
}

/** Relative module references in a compiled file: static and dynamic imports, and `new URL('./x.js', import.meta.url)`. */
function relativeReferences(source: string): string[] {
  const patterns = [
    /\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/g,
    /\bimport\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g,
    /\bimport\s+['"](\.{1,2}\/[^'"]+)['"]/g,
    /new URL\(\s*['"](\.{1,2}\/[^'"]+\.(?:js|cjs|mjs))['"]\s*,\s*import\.meta\.url\s*\)/g,
  ];
  return patterns.flatMap((re) => [...source.matchAll(re)].map((m) => m[1]!));
}

describe('npm pack', () => {
  let files: string[] = [];
  beforeAll(() => {
    files = packedFiles();
  }, 60_000 * SLOWNESS);

  it('ships the server, the diagnostics layer, the inspector tooling and the docs', () => {
    for (const dir of ['dist/server/', 'dist/diagnostics/', 'dist/inspector/', 'docs/']) {
      expect(files.some((f) => f.startsWith(dir)), dir).toBe(true);
    }
    expect(files).toEqual(expect.arrayContaining(['dist/vendor/pino.cjs', 'README.md', 'DEBUGGING.md', 'package.json']));
  });

  it('ships no benchmark and no test file', () => {
    const unwanted = files.filter((f) => /^(dist\/)?(bench|test)\//.test(f) || /\.test\.[cm]?[jt]s$/.test(f));
    expect(unwanted).toEqual([]);
  });

  it('ships the bin target and every exports target', () => {
    const targets = [
      ...Object.values(manifest.bin),
      ...Object.values(manifest.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t))),
    ].map((t) => path.posix.normalize(t));
    expect(targets).toContain('dist/server/cli.js');
    expect(files).toEqual(expect.arrayContaining(targets));
  });

  it('ships every module that a shipped module loads by a relative path', () => {
    const shipped = new Set(files);
    const missing: string[] = [];
    for (const file of files.filter((f) => /\.(js|cjs|mjs)$/.test(f))) {
      const source = readFileSync(path.join(ROOT, file), 'utf8');
      for (const ref of relativeReferences(source)) {
        const target = path.posix.join(path.posix.dirname(file), ref);
        if (!shipped.has(target)) missing.push(`${file} -> ${ref}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
