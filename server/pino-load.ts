// Loading pino in every serving process: the copy bundled into one file by package.json's build
// (dist/vendor/pino.cjs), compiled with the V8 code cache the build leaves beside it
// (pino.cjs.cache), so a boot neither reads pino's two dozen files nor parses and compiles its
// 150 KB again; the package itself where the bundle is absent. A cache this node cannot use (made
// by another node or V8 version, or damaged) is refused by V8, and the bundle is compiled as if
// there were none.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

type Pino = typeof import('pino').default;

export const BUNDLED = fileURLToPath(new URL('../vendor/pino.cjs', import.meta.url));
export const CODE_CACHE = `${BUNDLED}.cache`;

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

/** pino: the bundle with its code cache, the bundle alone, or the installed package. */
export function loadPino(): Pino {
  if (!existsSync(BUNDLED)) {
    source = { from: 'package' };
    return createRequire(import.meta.url)('pino') as Pino;
  }
  const { pino, cache } = loadBundle(BUNDLED, CODE_CACHE);
  source = { from: 'bundle', file: BUNDLED, cache };
  return pino;
}

/**
 * Writes the bundle's code cache (package.json's build runs it): compiled, evaluated and used for
 * one line first, so the functions a boot runs (a logger's creation, a line's writing) are in it,
 * not only the top level. Whole or absent: written beside it and renamed.
 */
export function writePinoCodeCache(bundled = BUNDLED, cache = CODE_CACHE): number {
  const { script, exports } = compile(bundled, undefined);
  const pino = exports as Pino;
  const sink = { write: (_line: string) => true };
  pino({ level: 'info' }, sink).child({ worker: 0 }).info({ url: 'http://127.0.0.1:0' }, 'a line');
  const data = script.createCachedData();
  const tmp = `${cache}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, cache);
  return data.length;
}
