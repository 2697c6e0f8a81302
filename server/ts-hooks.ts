// Module hooks for Node's module-hooks thread (node:module register()): compile .ts/.mts/.tsx
// imports with esbuild, through a compile cache checked against the source, for the ESM loader.
//
// This thread is a worker of its own: every module it loads is paid at every .ts boot. It imports
// nothing of tspuma's (ts-loader.ts imports the cache functions from here, not the other way) and
// takes node's built-ins as their CommonJS exports (process.getBuiltinModule, node >= 20.16): an
// ES import of node:fs, node:url and node:crypto built their namespaces, reading every lazy export
// (fs's streams, crypto's webcrypto and 16 more modules): 16 M instructions of the thread's ~156 M
// at a warm boot (bench/README.md, "Session 19 (issue 31, boot5)").
import type * as Fs from 'node:fs';
import type * as Url from 'node:url';
import { nameHash } from './name-hash.js';

/** What of node:fs the compile cache uses (passed in by ts-loader.ts's CommonJS compile, which runs on the main thread). */
export type CacheFs = Pick<typeof Fs, 'mkdirSync' | 'readFileSync' | 'renameSync' | 'writeFileSync'>;

/** A built-in's exports, without an ES namespace where node can (before 20.16: the ES import). */
const builtin = async <T>(id: string, imported: () => Promise<T>): Promise<T> => (process.getBuiltinModule?.(id) as T | undefined) ?? (await imported());
let fs: CacheFs;
let url: Pick<typeof Url, 'fileURLToPath'>;
/** This thread's built-ins, once (the hooks are async: the ES import of an old node is awaited). */
let builtins: Promise<void> | null = null;
const loadBuiltins = (): Promise<void> =>
  (builtins ??= (async () => {
    [fs, url] = await Promise.all([builtin('node:fs', () => import('node:fs')), builtin('node:url', () => import('node:url'))]);
  })());

/** What ts-loader.ts passes to register() as `data`. */
export interface HooksData {
  /** compilerOptions esbuild reads (jsx, decorators, class fields...), from the app's tsconfig. */
  tsconfigRaw: { compilerOptions?: Record<string, unknown> };
  /** Where compiled files are kept between boots; null: compile at every boot. */
  cacheDir: string | null;
  /** The installed esbuild's version, part of every cache key. */
  esbuildVersion: string;
}

interface ResolveContext {
  parentURL?: string;
  conditions: string[];
  importAttributes?: Record<string, string>;
}
interface ResolveResult {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}
type NextResolve = (specifier: string, context?: ResolveContext) => Promise<ResolveResult>;
interface LoadResult {
  format: string;
  source?: string | ArrayBuffer | Uint8Array | null;
  shortCircuit?: boolean;
}
type NextLoad = (url: string, context?: { format?: string | null; conditions: string[] }) => Promise<LoadResult>;

let settings: HooksData = { tsconfigRaw: {}, cacheDir: null, esbuildVersion: 'unknown' };
let tsconfigKey = '{}';

export function initialize(data: HooksData | undefined): void {
  if (data) settings = data;
  tsconfigKey = JSON.stringify(settings.tsconfigRaw);
  // This thread's event loop would drain between two imports, and Node then emits beforeExit
  // here, where every --require preload of the process also runs: clinic's sampler takes it for
  // the end of the process and exits (which ends the main thread too). A referenced timer keeps
  // the loop from draining; the main thread unrefs this thread, so the process can still exit.
  setInterval(() => undefined, 2 ** 31 - 1);
}

const LOADERS: Record<string, 'ts' | 'tsx' | 'jsx'> = { '.ts': 'ts', '.mts': 'ts', '.tsx': 'tsx', '.jsx': 'jsx' };
const extensionOf = (path: string): string => /\.[^./\\]+$/.exec(path)?.[0] ?? '';

/**
 * What TypeScript's own resolution would also try for a relative import that does not exist as
 * written: `./x.js` written for `./x.ts` (the NodeNext convention), and extensionless paths.
 */
export function candidates(specifier: string): string[] {
  const [path, suffix = ''] = specifier.split(/(?=[?#])/, 2);
  const ext = extensionOf(path!);
  const stem = ext ? path!.slice(0, -ext.length) : path!;
  let alternatives: string[];
  if (ext === '.js') alternatives = [`${stem}.ts`, `${stem}.tsx`];
  else if (ext === '.jsx') alternatives = [`${stem}.tsx`];
  else if (ext === '.mjs') alternatives = [`${stem}.mts`];
  else if (ext === '') {
    const base = path!.endsWith('/') ? path!.slice(0, -1) : path!;
    alternatives = ['.ts', '.tsx', '.mts', '.js', '.mjs', '/index.ts', '/index.tsx', '/index.js'].map((e) => `${base}${e}`);
  } else alternatives = [];
  return alternatives.map((a) => `${a}${suffix}`);
}

const isPathLike = (s: string): boolean => s.startsWith('./') || s.startsWith('../') || s.startsWith('/') || s.startsWith('file:') || s === '.' || s === '..';

export async function resolve(specifier: string, context: ResolveContext, next: NextResolve): Promise<ResolveResult> {
  try {
    return await next(specifier, context);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if ((code !== 'ERR_MODULE_NOT_FOUND' && code !== 'ERR_UNSUPPORTED_DIR_IMPORT') || !isPathLike(specifier)) throw err;
    for (const candidate of candidates(specifier)) {
      try {
        return await next(candidate, context);
      } catch {
        /* the next candidate */
      }
    }
    throw err;
  }
}

/** Where a file's compile is kept, and what it was compiled as (checked at each read). */
export interface CompiledEntry {
  path: string;
  /** esbuild's version, the options, the kind (ES module or CommonJS) and the file. */
  key: string;
}

/**
 * The cache entry of `file` compiled with these settings (`kind` tells an ES-module compile from a
 * CommonJS one), or null without a cache folder. Shared with ts-loader.ts's CommonJS compile, which
 * runs on the main thread. The name is a short hash of the key alone: two keys that share a name
 * take the slot in turn (each entry holds its key and source, so neither is served for the other).
 */
export function compiledEntry(cacheDir: string | null, kind: 'esm' | 'cjs', esbuildVersion: string, options: string, file: string): CompiledEntry | null {
  if (cacheDir === null) return null;
  const key = `${kind}\0${esbuildVersion}\0${options}\0${file}`;
  return { path: `${cacheDir}/ts-${nameHash(key)}.${kind === 'esm' ? 'mjs' : 'cjs'}`, key };
}

/** What an entry's file opens with: its key, and the length of the source it was compiled from (which follows it). */
const header = (entry: CompiledEntry, source: string): string => `${JSON.stringify(entry.key)}\n${source.length}\n`;

/**
 * The compiled code of `source` from the cache, or null when the entry is not there, or holds
 * another key or another source (an edit, a name shared): the whole source is compared, no hash.
 */
export function readCompiled(files: CacheFs, entry: CompiledEntry | null, source: string): string | null {
  if (entry === null) return null;
  let text: string;
  try {
    text = files.readFileSync(entry.path, 'utf8');
  } catch {
    return null; // not compiled yet
  }
  const head = header(entry, source);
  if (!text.startsWith(head) || !text.startsWith(source, head.length)) return null;
  return text.slice(head.length + source.length);
}

/** Keeps a compiled file in the cache, with its key and source; whole or absent (another process may be reading it); silent where it cannot write. */
export function storeCompiled(files: CacheFs, entry: CompiledEntry, source: string, code: string): void {
  try {
    files.mkdirSync(entry.path.slice(0, entry.path.lastIndexOf('/')), { recursive: true, mode: 0o700 });
    const tmp = `${entry.path}.${process.pid}.tmp`;
    files.writeFileSync(tmp, `${header(entry, source)}${source}${code}`, { mode: 0o600 });
    files.renameSync(tmp, entry.path);
  } catch {
    /* a read-only tree: compile again at the next boot */
  }
}

/**
 * How long esbuild's service may sit idle after a compile in this thread before it is stopped. A
 * compile starts it (`esbuild --service --ping`, a Go child process), and esbuild keeps it for the
 * life of the process: about 12 MB of resident memory and 35 wake-ups a second in every process,
 * worker included, whose boot compiled a .ts file (an empty cache, or none: a read-only image),
 * doing nothing once the app has loaded (bench/README.md, issue 27's tenth round). esbuild starts
 * it again at the next compile (a lazy import). Not done for ts-loader.ts's CommonJS compiles:
 * transformSync's service is a child of esbuild's worker thread, and once that thread is
 * terminated nothing reaps the child, which stays a zombie.
 */
export const ESBUILD_IDLE_MS = 1000;

/**
 * Calls `stop` once no compile has run for `ms`: `begin()` before each compile, `end()` after it
 * (also when it threw); never while one is in flight, whatever the timer.
 */
export class IdleStop {
  private busy = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly stop: () => unknown,
    private readonly ms = ESBUILD_IDLE_MS,
  ) {}

  begin(): void {
    this.busy++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  end(): void {
    if (--this.busy > 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.busy === 0) void this.stop();
    }, this.ms);
    this.timer.unref();
  }
}

/** Imported on the first cache miss only: a warm boot never loads esbuild. */
let esbuild: Promise<typeof import('esbuild')> | null = null;
let idle: IdleStop | null = null;

export async function load(url_: string, context: { format?: string | null; conditions: string[] }, next: NextLoad): Promise<LoadResult> {
  if (!url_.startsWith('file:')) return next(url_, context);
  await loadBuiltins();
  const file = url.fileURLToPath(url_);
  const ext = extensionOf(file);
  if (ext === '.cts') {
    throw new Error(`${file}: .cts files are CommonJS TypeScript, which tspuma's esbuild loader does not load; start with TSPUMA_TS_LOADER=tsx`);
  }
  const loader = LOADERS[ext];
  if (loader === undefined) return next(url_, context);
  const source = fs.readFileSync(file, 'utf8');
  const entry = compiledEntry(settings.cacheDir, 'esm', settings.esbuildVersion, tsconfigKey, file);
  let code = readCompiled(fs, entry, source);
  if (code === null) {
    const { transform, stop } = await (esbuild ??= import('esbuild'));
    idle ??= new IdleStop(stop);
    idle.begin();
    try {
      code = (await transform(source, {
        loader,
        format: 'esm',
        sourcemap: 'inline',
        sourcefile: file,
        target: `node${process.versions.node}`,
        tsconfigRaw: settings.tsconfigRaw as never,
      })).code;
    } finally {
      idle.end();
    }
    if (entry !== null) storeCompiled(fs, entry, source, code);
  }
  return { format: 'module', source: code, shortCircuit: true };
}
