// The thread entries (THREADS in chunk-plan.mjs), each made one file with everything of tspuma's
// it imports, by the build's last step (scripts/build.mjs). A thread is an isolate of its own: its
// ES-module loader resolved, read and linked tsc's ~20 files one by one (inspector discovery's
// thread about 40 ms of its ~130 ms of CPU at a -d boot, measured at load 17-22; bench/README,
// "Session 18 (issue 31, dboot2)"). The file keeps its name, so `new Worker(new URL(...))` and
// `startDuty` find it as before; tsc's own is kept in dist/tsc-entries/ and bundled from there
// by later builds (as build.mjs does for the bin). Packages stay external (ws is required at the
// first WebSocket only), and each module's import.meta.url still names its own place in dist/.
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BUNDLE_OPTIONS, THREADS } from './chunk-plan.mjs';

const MARK = '// bundled by scripts/thread-bundles.mjs';

/** Bundles each of THREADS in DIST (tsc's output) in place; returns the files written. */
export async function bundleThreads(DIST) {
  const STASH = path.join(DIST, 'tsc-entries');
  const written = [];
  for (const p of THREADS) {
    const built = path.join(DIST, p);
    const stashed = path.join(STASH, p);
    const text = readFileSync(built, 'utf8');
    if (text.includes(MARK) && !existsSync(stashed)) throw new Error(`${built} is this build's and tsc's own is gone from ${STASH}: remove dist/ and build again`);
    if (!text.includes(MARK)) {
      mkdirSync(path.dirname(stashed), { recursive: true });
      writeFileSync(stashed, text);
      if (existsSync(`${built}.map`)) writeFileSync(`${stashed}.map`, readFileSync(`${built}.map`));
    }
    const entryDir = path.dirname(built);
    const plugin = {
      name: 'tspuma-thread',
      setup(b) {
        // The entry: tsc's file from the stash, read as if it were in its own place (its imports
        // and its source map's paths are relative to dist/).
        b.onResolve({ filter: /^thread-entry:/ }, () => ({ path: p, namespace: 'thread-entry' }));
        b.onLoad({ filter: /.*/, namespace: 'thread-entry' }, () => {
          let code = readFileSync(stashed, 'utf8').replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
          if (existsSync(`${stashed}.map`)) {
            code += `//# sourceMappingURL=data:application/json;base64,${readFileSync(`${stashed}.map`).toString('base64')}\n`;
          }
          return { contents: code, loader: 'js', resolveDir: entryDir };
        });
        // Every other module of tspuma's: its own URL, as tsc's output had it.
        b.onLoad({ filter: /\.js$/ }, (a) => {
          if (!a.path.startsWith(DIST + path.sep)) return undefined;
          const own = path.relative(entryDir, a.path).split(path.sep).join('/');
          const code = readFileSync(a.path, 'utf8').replace(/\bimport\.meta\.url\b/g, `new URL(${JSON.stringify(own.startsWith('.') ? own : `./${own}`)}, import.meta.url).href`);
          return { contents: code, loader: 'js', resolveDir: path.dirname(a.path) };
        });
      },
    };
    await build({
      entryPoints: [`thread-entry:${p}`],
      outfile: built,
      ...BUNDLE_OPTIONS,
      allowOverwrite: true,
      footer: { js: MARK },
      plugins: [plugin],
    });
    written.push(p);
  }
  return written;
}
