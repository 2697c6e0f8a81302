// Loading pino in every serving process: the copy bundled into one file by package.json's build
// (dist/vendor/pino.cjs), compiled with a V8 code cache, so a boot neither reads pino's two dozen
// files nor parses and compiles its 150 KB again; the package itself where the bundle is absent.
// V8 refuses a cache made by another node or under other V8 flags (--max-old-space-size,
// --expose-gc: N25), and reading a refused one costs more than none. So a cache is named by what
// voids it (codeCacheKey: node's version and architecture, the flags node was started with): the
// build leaves one beside the bundle for its own node and flags, and a process whose key has none
// compiles without one and writes it to node_modules/.cache/tspuma, where the next boot finds it.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { codeCacheKey, hashSourcesForInspector, ownCacheDir, writeAtomically } from './code-cache.js';
import { nameHash } from './name-hash.js';

export { codeCacheKey };

type Pino = typeof import('pino').default;

export const BUNDLED = fileURLToPath(new URL('../vendor/pino.cjs', import.meta.url));

/**
 * The code cache file for `key` in `dir`, for the bundle at `bundled`: V8 keeps the file name a
 * cache was made under (a script compiled from it is named as that one), so a cache made for
 * another copy of the bundle (the build's, before an install) would name that copy's path.
 */
export const codeCacheIn = (dir: string, key: string, bundled = BUNDLED): string => join(dir, `pino-${key}-${nameHash(bundled).slice(0, 8)}.cache`);

/** The bundle compiled as node's CommonJS loader would, with `cachedData` when given. */
function compile(file: string, cachedData: Buffer | undefined): { script: Script; exports: unknown } {
  const source = readFileSync(file, 'utf8');
  // The same wrapper (and so the same line and column numbers) as require() would give it.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n});`, { filename: file, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {} as unknown };
  const wrapper = script.runInThisContext() as (e: unknown, r: NodeJS.Require, m: { exports: unknown }, f: string, d: string) => void;
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return { script, exports: module.exports };
}

function readCache(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined; // not built (a build without it, or a checkout before one)
  }
}

/** The bundle loaded with the code cache at `cache`: whether V8 used it, refused it, or there was none. */
export function loadBundle(bundled: string, cache: string): { pino: Pino; cache: 'used' | 'refused' | 'none' } {
  const cachedData = readCache(cache);
  const { script, exports } = compile(bundled, cachedData);
  return { pino: exports as Pino, cache: cachedData === undefined ? 'none' : script.cachedDataRejected ? 'refused' : 'used' };
}

/** Where this process's pino came from (loadPino), once loaded. */
export type PinoSource = { readonly from: 'bundle'; readonly file: string; readonly cache: 'used' | 'refused' | 'none' } | { readonly from: 'package' };
let source: PinoSource | null = null;

/** Where loadPino() took pino from in this process, or null before it ran. */
export function pinoSource(): PinoSource | null {
  return source;
}

/**
 * pino from `bundled`, with the code cache for this node and its flags: the build's beside the
 * bundle, else the one a boot wrote to `cacheDir`; with neither, compiled without one, and one
 * written to `cacheDir` once this boot's first work is done (so it holds the functions a boot
 * runs); silent where the folder cannot be written.
 */
export function loadPinoFrom(bundled: string, cacheDir: string | null, key = codeCacheKey()): { pino: Pino; cache: 'used' | 'refused' | 'none'; file: string | null } {
  const file = [codeCacheIn(dirname(bundled), key, bundled), ...(cacheDir ? [codeCacheIn(cacheDir, key, bundled)] : [])].find((f) => existsSync(f)) ?? null;
  const cachedData = file === null ? undefined : readCache(file);
  const { script, exports } = compile(bundled, cachedData);
  const cache = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'refused' : 'used';
  if (cache !== 'used' && cacheDir !== null) {
    const target = codeCacheIn(cacheDir, key, bundled);
    setTimeout(() => writeAtomically(target, () => script.createCachedData()), 0).unref();
  }
  return { pino: exports as Pino, cache, file };
}

/** pino: the bundle with its code cache, the bundle alone, or the installed package. */
export function loadPino(): Pino {
  if (!existsSync(BUNDLED)) {
    source = { from: 'package' };
    return createRequire(import.meta.url)('pino') as Pino;
  }
  const { pino, cache } = loadPinoFrom(BUNDLED, ownCacheDir(BUNDLED));
  source = { from: 'bundle', file: BUNDLED, cache };
  return pino;
}

/**
 * Writes the bundle's code cache for this node and its flags (package.json's build runs it, and
 * leaves it beside the bundle): compiled, evaluated and used for one line first, so the functions
 * a boot runs (a logger's creation, a line's writing) are in it, not only the top level.
 */
export function writePinoCodeCache(bundled = BUNDLED, cache = codeCacheIn(dirname(bundled), codeCacheKey(), bundled)): number {
  const { script, exports } = compile(bundled, undefined);
  const pino = exports as Pino;
  const sink = { write: (_line: string) => true };
  pino({ level: 'info' }, sink).child({ worker: 0 }).info({ url: 'http://127.0.0.1:0' }, 'a line');
  return writeAtomically(cache, () => {
    hashSourcesForInspector(); // a -d boot's Debugger.enable then skips the bundle's 151 KB
    return script.createCachedData();
  });
}
