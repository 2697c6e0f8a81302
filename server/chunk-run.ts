// Running a chunk of the build with a V8 code cache. Node 20 gives an ES module no code cache, so
// every boot compiled tspuma's chunks again (~55 M instructions for a single server's four, and
// most of their functions again as first called). scripts/chunk-cache.mjs splits each chunk into
// a small ES module at the chunk's own path (its imports and exports, and a call to runChunk) and
// its code (`x.chunk.code.js`: the chunk with those statements blanked out, so every other line
// and column stays where the chunk's source map says), which runChunk compiles as a function with
// vm.Script and `cachedData`, under the chunk's own URL: stack frames, the inspector and the
// source map (registered by node for the module at that URL) see the chunk as before.
//
// The cache: one a chunk's content (its hash, from the build), codeCacheKey (node and its flags)
// and the chunk's URL. A process that had none writes one to node_modules/.cache/tspuma at its
// exit, holding the functions it compiled, which the next boot takes first; one that compiled
// notably more of the chunk than its cache held writes it again (a cache a primary or a short
// command wrote first left every later server compiling the rest: boot4.4). One found beside the
// chunk is taken too (the build leaves none: it would name the build's checkout).
import { createRequire } from 'node:module';
import { codeCacheKey, hashSourcesForInspector, keyUnderFlags, ownCacheDir, runTimeFlagCount, underFlags, writeAtomically } from './code-cache.js';
import { nameHash } from './name-hash.js';

// Node's builtins as require() gives them, as the build gives them to the chunks (scripts/build.mjs
// lazyBuiltins; node:module's namespace every chunk's banner builds already): an ES import builds a
// builtin's namespace, reading every lazy export, and this module and code-cache.ts run first in
// every process: node:fs's `promises` loaded fs/promises and readline's interface, node:crypto's
// `webcrypto` the Web Crypto modules (about 150 KB of node's sources compiled, and under -d hashed).
const require = createRequire(import.meta.url);
const { existsSync, readFileSync } = require('node:fs') as typeof import('node:fs');
const { basename, dirname, join } = require('node:path') as typeof import('node:path');
const { fileURLToPath } = require('node:url') as typeof import('node:url');
const { Script } = require('node:vm') as typeof import('node:vm');
type Script = import('node:vm').Script;

/**
 * A function a test may set on globalThis under this symbol to see or change a chunk's code before
 * it runs (test/fixtures/module-log lists each module as it runs); such code gets no cache.
 */
export const CHUNK_SOURCE_HOOK = Symbol.for('tspuma.chunkSource');

/** globalThis key of the map of each chunk's shell URL to the text compiled under it (read by diagnostics/capture.ts). */
export const CHUNK_SOURCES = Symbol.for('tspuma.chunkSources');

/** The parameters the code's function gets after the imported names: import.meta and import(). */
export const META = '$tspumaMeta';
export const IMPORT = '$tsImp';

/**
 * A chunk's code as the function runChunk compiles (the build compiles the same text for its
 * cache). Strict, as a module is. The wrapper opens on the code's first line, which holds only the
 * build's banner (its import blanked out): the lines below keep their numbers and columns, and the
 * wrapper's scope starts on line 0, as a CommonJS module's does (diagnostics/frames.ts shows no
 * tspuma module state in a dump).
 */
export function wrapChunkCode(names: readonly string[], code: string): string {
  return `(function (${[...names, META, IMPORT].join(', ')}) {'use strict';${code}\n})`;
}

let key: string | undefined;
const cacheDirs = new Map<string, string | null>();
/** `flags`: how many of the run-time V8 flags (code-cache.ts) were set when the script was compiled. */
const unwritten: { script: Script; file: string; had: number; flags: number }[] = [];

/**
 * How much larger than the cache a process took (in bytes) what it compiled of a chunk must be for
 * its exit to write the cache again: more functions compiled than the cache held, beyond the few a
 * process of the same kind may add (a request's path, a late timer).
 */
export const REWRITE_GROWTH = 1.1;

/**
 * The cache file of a chunk's code in `dir`: named by the chunk, its content's hash, the node and
 * flags (codeCacheKey) and the chunk's URL, which V8 keeps in a cache (a script compiled from one
 * is named as the script it was made from: a cache made for another copy of dist/, or before an
 * install, would name that copy in every stack and to the inspector).
 */
export function chunkCacheIn(dir: string, shellUrl: string, hash: string, cacheKey: string): string {
  const where = nameHash(shellUrl).slice(0, 8);
  return join(dir, `${basename(fileURLToPath(shellUrl), '.js')}-${hash}-${cacheKey}-${where}.cache`);
}

/** What a cache did for the last chunk run, by chunk file (for tests and bench). */
export const chunkCaches = new Map<string, 'own' | 'build' | 'refused' | 'none' | 'hooked'>();

/**
 * The chunk's import(): a relative specifier resolved against the shell's URL, as the shell's own
 * import() would; a bare one (a package, a builtin) from here, in the same package. The shell holds
 * no import( of its own: tsx's ESM hook rewrites each one in a .js file outside node_modules (a
 * checkout's dist/) and puts its own map of the shell in node's cache for the shell's URL, which
 * sent every frame of the code to a line of the shell (lead.1; test/unit/chunk-run.test.ts).
 */
function importFrom(shellUrl: string): (specifier: string) => Promise<unknown> {
  return (specifier) => import(specifier.startsWith('./') || specifier.startsWith('../') ? new URL(specifier, shellUrl).href : specifier);
}

/**
 * Runs the code of the chunk whose module is at `shellUrl` (its file `codeName` beside it,
 * `hash` its content's) with the chunk's imports (`names`, `values`), and returns its exports.
 */
export function runChunk(shellUrl: string, codeName: string, hash: string, names: readonly string[], values: readonly unknown[]): Record<string, unknown> {
  const shell = fileURLToPath(shellUrl);
  let source = readFileSync(join(dirname(shell), codeName), 'utf8');
  const hook = (globalThis as Record<symbol, unknown>)[CHUNK_SOURCE_HOOK];
  const hooked = typeof hook === 'function';
  if (hooked) source = (hook as (url: string, code: string) => string)(shellUrl, source);
  key ??= codeCacheKey();
  // A chunk first run once debug mode's flags are set (a -d process's probe engine) has a cache of its own.
  const flags = runTimeFlagCount();
  const flagKey = keyUnderFlags(key, flags);
  const dir = dirname(shell);
  if (!cacheDirs.has(dir)) cacheDirs.set(dir, ownCacheDir(shell));
  const own = cacheDirs.get(dir)!;
  const ownFile = own === null ? null : chunkCacheIn(own, shellUrl, hash, flagKey);
  let cachedData: Buffer | undefined;
  let from: 'own' | 'build' | 'none' = 'none';
  if (!hooked) {
    for (const [file, kind] of [[ownFile, 'own'], [chunkCacheIn(dir, shellUrl, hash, flagKey), 'build']] as const) {
      // Looked for first (false too where the folder cannot be read): a read that throws would
      // pause a -d process at each chunk with no cache yet (review13.7).
      if (file === null || !existsSync(file)) continue;
      try {
        cachedData = readFileSync(file);
        from = kind;
        break;
      } catch {
        /* none there */
      }
    }
  }
  const text = wrapChunkCode(names, source);
  // The text V8 runs under the shell's URL, for a -d capture's reads of tspuma's own sources
  // (diagnostics/capture.ts ownFileSource: the shell file is not it; the protocol's copy costs ~20 ms).
  ((globalThis as Record<symbol, Map<string, string> | undefined>)[CHUNK_SOURCES] ??= new Map()).set(shellUrl, text);
  const script = new Script(text, { filename: shellUrl, ...(cachedData ? { cachedData } : {}) });
  const refused = cachedData !== undefined && script.cachedDataRejected === true;
  chunkCaches.set(shell, hooked ? 'hooked' : refused ? 'refused' : from);
  if (!hooked && ownFile !== null) later(script, ownFile, from === 'own' && !refused ? cachedData!.length : 0, flags);
  const run = script.runInThisContext() as (...args: unknown[]) => Record<string, unknown>;
  return run(...values, { url: shellUrl }, importFrom(shellUrl));
}

/**
 * Writes at its exit the caches this process lacked, and those it compiled notably more of than
 * they held (`had`: the size of the one taken, 0 for none). Not sooner: serializing a script while
 * a debugger has breakpoints in it (a -d worker's probes, `tspuma replay`'s snapshot) lost them
 * (replay.test: 3-4 of 5 failed with a write 1.5 s into the process's life, 5 of 5 pass so).
 */
function later(script: Script, file: string, had: number, flags: number): void {
  if (unwritten.length === 0) process.once('exit', writeChunkCaches);
  unwritten.push({ script, file, had, flags });
}

/**
 * Whether this process's inspector port is open (`--inspect-brk`, an app's inspector.open(), a
 * worker's own port: a debugger may have held breakpoints in the chunks): such a process writes
 * only the caches it lacked, as before boot4.4's rewrite. Node before 20.16 (no getBuiltinModule)
 * counts as open: no rewrite there. A process served through discovery's bridge (-d's and
 * --inspect's default) has no port of its own, so no inspector.url(), and does rewrite at a good
 * exit (fbd01e9 counted it as open, and was reverted: it kept -d and --inspect boots from growing
 * caches their first writer made small, and nothing showed the rewrite at exit to lose anything).
 */
function inspectorOpen(): boolean {
  try {
    const inspector = process.getBuiltinModule?.('node:inspector') as { url(): string | undefined } | undefined;
    return inspector === undefined || inspector.url() !== undefined;
  } catch {
    return true; // no inspector in this node: counted as open, as on an old node
  }
}

/**
 * Writes the caches this process lacked or outgrew (at its exit, with its exit code; exported for a
 * test to run it sooner). Whether it outgrew one costs a serialization (createCachedData: 31 M
 * instructions, ~8 ms, for a single server's four chunks at its stop), so only a process that ends
 * well (exit code 0) asks: one that failed (a boot refused its app, its options) compiled little;
 * nor does one whose inspector is open.
 */
export function writeChunkCaches(code = 0): void {
  let asks: boolean | undefined;
  let compiled: number | undefined | null = null;
  let hashed = false;
  for (const { script, file, had, flags } of unwritten.splice(0)) {
    if (had > 0 && !(asks ??= code === 0 && !inspectorOpen())) continue;
    if (compiled === null) compiled = bytecodeBytes();
    if (had > 0 && compiled !== undefined && compiled <= askedAt(file) * REASK_GROWTH) continue;
    writeAtomically(file, () => {
      if (!hashed) hashSourcesForInspector();
      hashed = true;
      // Under the flags it was compiled under: V8 refuses a cache made under another flag hash.
      const data = underFlags(flags, () => script.createCachedData());
      return had === 0 || data.length >= had * REWRITE_GROWTH ? data : Buffer.alloc(0);
    });
    if (compiled !== undefined) writeAtomically(`${file}${ASKED}`, () => Buffer.from(String(compiled)));
  }
}

/**
 * Beside a cache, the bytecode the process had compiled in all (V8's heap code statistics,
 * a few microseconds) when a process last serialized the cache, to write it or to ask whether it
 * had outgrown it. A later process that compiled no more in all (within REASK_GROWTH) skips the question: a suite's or a
 * fleet's hundredth server of the same app compiles what the last one did, and asking cost it one
 * serialization a chunk (boot5.2: 31 M instructions, ~8 ms, at every good stop). A process whose
 * total is no larger but spread differently (more of a chunk, less of its app) leaves a cache that
 * holds a little less than it could: a slower first call, never a wrong one.
 */
const ASKED = '.asked';

/**
 * How much more bytecode in all than the record a process must hold to ask again: two runs of the
 * same server and requests differ by a few hundred bytes of 850 KB (timing-dependent paths), and
 * asked every other time with no margin; a process that compiled notably more of a chunk (a server
 * after a primary wrote the cache: +40% in all) is far beyond it.
 */
export const REASK_GROWTH = 1.01;

function askedAt(file: string): number {
  try {
    const seen = Number(readFileSync(`${file}${ASKED}`, 'latin1'));
    return Number.isFinite(seen) ? seen : -1;
  } catch {
    return -1; // never asked: ask
  }
}

/** undefined on a node without getBuiltinModule (before 20.16): every such process asks, as before. */
function bytecodeBytes(): number | undefined {
  const v8 = process.getBuiltinModule?.('node:v8') as typeof import('node:v8') | undefined;
  return v8?.getHeapCodeStatistics().bytecode_and_metadata_size;
}
