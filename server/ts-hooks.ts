// Module hooks for Node's module-hooks thread (node:module register()): compile .ts/.mts/.tsx
// imports with esbuild, through a content-keyed cache, for the ESM loader.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/**
 * The cache file for this content of `file` compiled with these settings (`kind` tells an
 * ES-module compile from a CommonJS one), or null without a cache folder. Shared with
 * ts-loader.ts's CommonJS compile, which runs on the main thread.
 */
export function compiledCachePath(cacheDir: string | null, kind: 'esm' | 'cjs', esbuildVersion: string, options: string, file: string, source: string): string | null {
  if (cacheDir === null) return null;
  const key = createHash('sha256').update(`${esbuildVersion}\0${options}\0${kind === 'esm' ? '' : 'cjs\0'}${file}\0`).update(source).digest('hex').slice(0, 40);
  return join(cacheDir, `${key}.${kind === 'esm' ? 'mjs' : 'cjs'}`);
}

const cachePath = (file: string, source: string): string | null => compiledCachePath(settings.cacheDir, 'esm', settings.esbuildVersion, tsconfigKey, file, source);

/** A compiled file from the cache, or null when it is not there (not compiled yet, no cache). */
export function readCached(path: string | null): string | null {
  if (path === null) return null;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // not compiled yet
  }
}

/** Keeps a compiled file in the cache; whole or absent (another process may be reading it); silent where it cannot write. */
export function storeCompiled(path: string, code: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, code, { mode: 0o600 });
    renameSync(tmp, path);
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

export async function load(url: string, context: { format?: string | null; conditions: string[] }, next: NextLoad): Promise<LoadResult> {
  if (!url.startsWith('file:')) return next(url, context);
  const file = fileURLToPath(url);
  const ext = extensionOf(file);
  if (ext === '.cts') {
    throw new Error(`${file}: .cts files are CommonJS TypeScript, which tspuma's esbuild loader does not load; start with TSPUMA_TS_LOADER=tsx`);
  }
  const loader = LOADERS[ext];
  if (loader === undefined) return next(url, context);
  const source = readFileSync(file, 'utf8');
  const cache = cachePath(file, source);
  let code = readCached(cache);
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
    if (cache !== null) storeCompiled(cache, code);
  }
  return { format: 'module', source: code, shortCircuit: true };
}
