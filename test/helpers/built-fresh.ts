// Vitest's globalSetup: the shared project runs tsc's output in dist/ where a test imports a source
// (vitest.config.ts, BUILT_SOURCES), as the integration files always ran the built CLI. A run whose
// build is older than a source would test the old code and pass or fail for it: the run stops at
// once instead, naming the newest source and the command that builds. `npm test` builds first
// (pretest); tsc -b writes dist/tsconfig.tsbuildinfo on every build, changed output or not.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE_DIRS = ['server', 'diagnostics', 'inspector'];

/** The newest .ts/.cts/.mts file under `dirs` of `root`, and its mtime (ms). */
export function newestSource(root: string, dirs: readonly string[] = SOURCE_DIRS): { file: string; mtimeMs: number } | null {
  let newest: { file: string; mtimeMs: number } | null = null;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.[cm]?ts$/.test(e.name) && !e.name.endsWith('.d.ts')) {
        const { mtimeMs } = statSync(p);
        if (!newest || mtimeMs > newest.mtimeMs) newest = { file: relative(root, p), mtimeMs };
      }
    }
  };
  for (const d of dirs) walk(join(root, d));
  return newest;
}

/** Why dist/ cannot stand for the sources in `root` (no build, or a source changed after it), or null. */
export function staleBuild(root: string): string | null {
  const info = join(root, 'dist/tsconfig.tsbuildinfo');
  const built = statSync(info, { throwIfNoEntry: false })?.mtimeMs;
  if (built === undefined) return `${relative(root, info)} is missing: nothing is built. Run \`npm run build\` (npm test does), or set TSPUMA_TEST_SOURCES=ts to run the unit files on the sources.`;
  const newest = newestSource(root);
  if (newest && newest.mtimeMs > built) return `${newest.file} changed ${((newest.mtimeMs - built) / 1000).toFixed(1)} s after the last build (dist/tsconfig.tsbuildinfo): the tests would run the old code. Run \`npm run build\` (npm test does), or set TSPUMA_TEST_SOURCES=ts to run the unit files on the sources.`;
  return null;
}

export function setup(): void {
  if (process.env.TSPUMA_TEST_SOURCES === 'ts') return;
  const why = staleBuild(fileURLToPath(new URL('../../', import.meta.url)));
  if (why) throw new Error(why);
}
