// Loading TypeScript: chooses how .ts files (an app or a config file) are loaded and registers it
// before the first one is imported: ts-hooks.ts (esbuild, cached) or tsx's loaders.
import { accessSync, constants, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TS_LOADERS, readChoice, type TsLoaderSetting } from './environment.js';
import { showValue } from './errors.js';
import { TS_LOADER_ENV, ownCode } from './shared-names.js';
import { compiledEntry, readCompiled, storeCompiled, type CacheFs, type HooksData } from './ts-hooks.js';

export { TS_LOADERS };

/**
 * The compilerOptions esbuild reads when it compiles one file (everything else in a tsconfig
 * is about type checking or bundling and changes nothing here).
 */
const ESBUILD_OPTIONS = [
  'alwaysStrict',
  'experimentalDecorators',
  'importsNotUsedAsValues',
  'jsx',
  'jsxFactory',
  'jsxFragmentFactory',
  'jsxImportSource',
  'preserveValueImports',
  'strict',
  'target',
  'useDefineForClassFields',
  'verbatimModuleSyntax',
] as const;

export type TsLoaderChoice =
  | {
      readonly kind: 'esbuild';
      readonly data: HooksData;
      readonly tsconfig: string | null;
      readonly cacheProblem?: string | null;
      /**
       * A CommonJS TypeScript entry (.cts): its requires are resolved and compiled here too
       * (requireTypeScript), tsx's CommonJS hook registered only for what needs it.
       */
      readonly requires?: 'esbuild';
    }
  | {
      readonly kind: 'tsx';
      readonly reason: string;
      /** Where esbuild's CommonJS compiles are cached, or why not (set once registered; N24). */
      readonly commonJsCache?: string;
    };

/** The nearest `name` in `dir` or above it, or null. */
function findUp(dir: string, name: string): string | null {
  for (let d = dir; ; d = dirname(d)) {
    const candidate = join(d, name);
    if (existsSync(candidate)) return candidate;
    if (dirname(d) === d) return null;
  }
}

/** JSON with the comments and trailing commas tsconfig files allow. */
export function parseJsonc(text: string): unknown {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end === -1 ? text.length : end + 1;
      out += ' ';
    } else out += c;
  }
  return JSON.parse(out.replace(/,(\s*[}\]])/g, '$1'));
}

interface Tsconfig {
  extends?: string | string[];
  compilerOptions?: Record<string, unknown>;
}

/** compilerOptions of `file` with its `extends` chain applied (the file's own win). Throws on what it cannot read. */
export function readCompilerOptions(file: string, depth = 0): Record<string, unknown> {
  if (depth > 10) throw new Error(`${file}: \`extends\` nests more than 10 deep`);
  const config = parseJsonc(readFileSync(file, 'utf8')) as Tsconfig;
  if (config === null || typeof config !== 'object') throw new Error(`${file} is not a JSON object`);
  let merged: Record<string, unknown> = {};
  const bases = config.extends === undefined ? [] : Array.isArray(config.extends) ? config.extends : [config.extends];
  for (const base of bases) {
    if (typeof base !== 'string') throw new Error(`${file}: \`extends\` must be a string or strings, got ${showValue(base)}`);
    merged = { ...merged, ...readCompilerOptions(resolveExtends(base, file), depth + 1) };
  }
  return { ...merged, ...(config.compilerOptions ?? {}) };
}

function resolveExtends(base: string, from: string): string {
  if (base.startsWith('.') || isAbsolute(base)) {
    const path = resolve(dirname(from), base);
    return existsSync(path) || path.endsWith('.json') ? path : `${path}.json`;
  }
  const require = createRequire(from);
  try {
    return require.resolve(base);
  } catch {
    return require.resolve(`${base}/tsconfig.json`);
  }
}

/**
 * esbuild directly (one module-hooks thread, compiled files cached in node_modules/.cache) where
 * it compiles exactly what tsx would: an ES-module package whose tsconfig maps no `paths`.
 * Everything else, and TSPUMA_TS_LOADER=tsx, goes to tsx, which boots about 110 ms slower.
 */
export function chooseTsLoader(entry: string, env: NodeJS.ProcessEnv = process.env): TsLoaderChoice {
  const setting = readChoice<TsLoaderSetting>(TS_LOADER_ENV, env);
  if (setting === 'tsx') return { kind: 'tsx', reason: `${TS_LOADER_ENV}=tsx` };
  const dir = dirname(entry);
  const pkg = findUp(dir, 'package.json');
  let type: unknown;
  try {
    type = pkg ? (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type : undefined;
  } catch (err) {
    return { kind: 'tsx', reason: `cannot read ${pkg}: ${(err as Error).message}` };
  }
  if (type !== 'module') {
    return entry.endsWith('.cts')
      ? { kind: 'tsx', reason: `${entry} is CommonJS TypeScript outside an ES-module package` }
      : { kind: 'tsx', reason: `${pkg ? `${pkg} does not say "type": "module"` : `no package.json in ${dir} or a folder above it`}, so its .ts files may be CommonJS` };
  }
  const tsconfig = findUp(dir, 'tsconfig.json');
  let options: Record<string, unknown> = {};
  if (tsconfig) {
    try {
      options = readCompilerOptions(tsconfig);
    } catch (err) {
      return { kind: 'tsx', reason: `cannot read ${tsconfig}: ${(err as Error).message}` };
    }
    if (options.paths !== undefined) return { kind: 'tsx', reason: `${tsconfig} maps \`paths\`` };
  }
  const compilerOptions: Record<string, unknown> = {};
  for (const key of ESBUILD_OPTIONS) if (options[key] !== undefined) compilerOptions[key] = options[key];
  const modules = findUp(dir, 'node_modules');
  let esbuildVersion: string;
  try {
    const require = createRequire(import.meta.url);
    esbuildVersion = (JSON.parse(readFileSync(require.resolve('esbuild/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return { kind: 'tsx', reason: 'esbuild is not installed beside tspuma' };
  }
  const cacheDir = modules ? join(modules, '.cache', 'tspuma') : null;
  const cacheProblem = cacheDir ? cacheUnusable(cacheDir) : null;
  // A .cts entry (a legacy CommonJS module in an ES-module package): its requires are compiled by
  // esbuild as well (requireTypeScript); tsx, whose hooks cost about a .ts boot again, is not
  // loaded unless a require needs it (tests8.1).
  const requires = entry.endsWith('.cts') ? { requires: 'esbuild' as const } : {};
  return { kind: 'esbuild', tsconfig, cacheProblem, data: { tsconfigRaw: { compilerOptions }, cacheDir: cacheProblem ? null : cacheDir, esbuildVersion }, ...requires };
}

/**
 * Why this user cannot keep compiled files in `dir` (it, or the nearest folder above it that
 * exists, is not writable: a cache root made, a non-root user serving), or null when it can.
 */
export function cacheUnusable(dir: string): string | null {
  let d = dir;
  while (!existsSync(d)) {
    const up = dirname(d);
    if (up === d) return null;
    d = up;
  }
  // With debug mode's pausing off (ownCode): the refusal is a caught throw (review13.10).
  return ownCode(() => {
    try {
      accessSync(d, constants.R_OK | constants.W_OK | constants.X_OK);
      return null;
    } catch (err) {
      return `${d} is not writable by this user (${(err as NodeJS.ErrnoException).code ?? 'EACCES'}), so every boot compiles`;
    }
  });
}

let registered: TsLoaderChoice | null = null;

/** The loader registered in this process, or null before the first .ts import. */
export function tsLoader(): TsLoaderChoice | null {
  return registered;
}

/** The boot line's account of the loader: which one, and why tsx when it is tsx. */
export function describeTsLoader(choice: TsLoaderChoice): string {
  if (choice.kind === 'tsx') return `tsx (${choice.reason}); CommonJS .ts compiled by esbuild, line by line${choice.commonJsCache ? ` (${choice.commonJsCache})` : ''}`;
  const requires = choice.requires === 'esbuild' ? '; CommonJS requires too' : '';
  const cache = choice.cacheProblem
    ? `no compile cache: ${choice.cacheProblem}`
    : choice.data.cacheDir
      ? `compiled files cached in ${choice.data.cacheDir}`
      : 'no node_modules to cache compiled files in';
  return `esbuild ${choice.data.esbuildVersion} (${cache}${choice.tsconfig ? `; ${choice.tsconfig}` : ''}${requires})`;
}

/** Registers TypeScript loading once, chosen for `entry` (the first .ts file imported). */
export async function registerTypeScript(entry: string): Promise<void> {
  if (registered) return;
  const choice = chooseTsLoader(entry);
  registered = choice;
  if (choice.kind === 'esbuild') {
    const { register } = await import('node:module');
    register(new URL('./ts-hooks.js', import.meta.url), { data: choice.data });
    if (choice.requires === 'esbuild') {
      requireTypeScript();
      await compileCommonJsWithEsbuild(entry);
      // Node 20.19+ requires an ES module itself (the same instance); before, tsx's hook would.
      if (!(process.features as { require_module?: boolean }).require_module) await shareOwnEntry();
    }
  } else {
    const [{ register }, { register: registerCjs }] = await Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]);
    register();
    registerCjs();
    const { register: registerHooks } = await import('node:module');
    registerHooks(new URL('./ts-loader-cjs-hooks.js', import.meta.url));
    const commonJsCache = await compileCommonJsWithEsbuild(entry);
    if (commonJsCache !== null) registered = { ...choice, commonJsCache };
    await shareOwnEntry();
  }
  process.setSourceMapsEnabled(true);
}

/**
 * Where tsx's CommonJS hook may compile a require (a CommonJS package's .ts files; a .cts entry on
 * a node that cannot require an ES module itself): a require of tspuma itself (`require('tspuma')`, or `import { defineConfig } from 'tspuma'` in a
 * tspuma.config.ts that compiles to CommonJS) gets this process's own package entry, put in
 * require.cache under its file, as node's own require of an ES module would give it. Before,
 * tsx's hook compiled the entry and every chunk behind it to CommonJS and ran them again: a second copy of
 * tspuma's modules, and tsx's source maps of the chunk files put in node's cache in the place of
 * the build's, so every stack line through tspuma's code read `get serving.chunk.js:79` (a -d
 * dump of a request timeout named no .ts frame: review15.2). A require of another copy of tspuma
 * (another install) resolves to another file and is compiled as before.
 */
async function shareOwnEntry(): Promise<void> {
  const url = new URL('./index.js', import.meta.url);
  let file: string;
  try {
    file = realpathSync(fileURLToPath(url));
  } catch {
    return; // no package entry beside this module (a test's copy)
  }
  const require = createRequire(import.meta.url);
  if (require.cache[file]) return;
  const entry = (await import(url.href)) as Record<string, unknown>;
  const { Module } = require('node:module') as { Module: new (id: string) => NodeJS.Module };
  const module = new Module(file);
  module.filename = file;
  module.exports = entry;
  module.loaded = true;
  require.cache[file] = module;
}

type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;
interface CjsModuleInternals {
  _extensions: Record<string, CompileHook>;
  _resolveFilename: ResolveFilename;
}

/** The require hooks tsx's CommonJS hook added or replaced, once a require needed it; null before. */
let tsxHooks: Record<string, CompileHook> | null = null;
/** Registers tsx's CommonJS hook (once) and returns the require hooks it set, by extension. */
function registerTsxRequires(extensions: Record<string, CompileHook>): Record<string, CompileHook> {
  if (tsxHooks) return tsxHooks;
  const before = { ...extensions };
  (createRequire(import.meta.url)('tsx/cjs/api') as typeof import('tsx/cjs/api')).register();
  tsxHooks = {};
  for (const [ext, hook] of Object.entries(extensions)) if (hook !== before[ext]) tsxHooks[ext] = hook;
  return tsxHooks;
}

/** What a require written for a compiled file names in TypeScript: `./x.js` for x.ts, `./x.cjs` for x.cts. */
function requireCandidates(request: string): string[] {
  const [path, suffix = ''] = request.split(/(?=[?#])/, 2);
  const alternatives = path!.endsWith('.js') ? ['.ts', '.tsx'].map((e) => path!.slice(0, -3) + e) : path!.endsWith('.cjs') ? [`${path!.slice(0, -4)}.cts`] : [];
  return alternatives.map((a) => `${a}${suffix}`);
}

const isRelativeOrAbsolute = (request: string): boolean => request.startsWith('./') || request.startsWith('../') || request.startsWith('/');

/**
 * Requires of TypeScript for a .cts app in an ES-module package, without tsx's CommonJS hook
 * (about 60-75 ms of CPU to register, and it doubles the CPU of every require of a package's
 * .js files: tests8.1): .ts, .cts and .tsx are compiled by esbuild through the compile cache
 * (compileCommonJsWithEsbuild), and a require of `./x.js` or `./x.cjs` that does not exist as
 * written tries x.ts/x.tsx or x.cts, as TypeScript resolves it. What only tsx does (a required
 * file in ES-module syntax, which Node 20 refuses with ERR_REQUIRE_ESM; .mts and .jsx) registers
 * tsx's hook the first time a require needs it, and that require goes through it.
 */
function requireTypeScript(): void {
  const Module = createRequire(import.meta.url)('node:module') as CjsModuleInternals;
  const extensions = Module._extensions;
  // Until compileCommonJsWithEsbuild wraps them (and for what esbuild refuses): tsx's hook.
  for (const ext of ['.ts', '.cts', '.tsx', '.mts', '.jsx']) {
    extensions[ext] = function compile(this: unknown, module, file) {
      const tsx = registerTsxRequires(extensions);
      return (tsx[ext] ?? tsx['.js']!).call(this, module, file);
    };
  }
  for (const ext of ['.js', '.mjs']) {
    const node = extensions[ext];
    if (!node) continue;
    extensions[ext] = function compile(this: unknown, module, file) {
      try {
        return node.call(this, module, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM' || tsxHooks) throw err;
        const tsx = registerTsxRequires(extensions);
        return (tsx[ext] ?? node).call(this, module, file);
      }
    };
  }
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function resolveFilename(this: unknown, request, parent, isMain, options) {
    try {
      return resolve.call(this, request, parent, isMain, options);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND' || !isRelativeOrAbsolute(request)) throw err;
      for (const candidate of requireCandidates(request)) {
        try {
          return resolve.call(this, candidate, parent, isMain, options);
        } catch {
          /* the next candidate */
        }
      }
      throw err;
    }
  };
}

/** The compile cache's file system (ts-hooks.ts's functions take it: its own thread reads node:fs its own way). */
const CACHE_FS: CacheFs = { mkdirSync, readFileSync, renameSync, writeFileSync };

/** The extensions CommonJS TypeScript is required with, and esbuild's loader for each. */
const CJS_LOADERS = { '.ts': 'ts', '.cts': 'ts', '.tsx': 'tsx' } as const;

type CompileHook = (module: { _compile(code: string, file: string): unknown }, file: string) => unknown;

/**
 * CommonJS .ts files compiled by esbuild, line by line with an inline source map, instead of by
 * tsx's CommonJS hook, which puts a whole module on one generated line: DevTools breakpoints by
 * .ts line and a profile's line ticks need each statement on a line of its own. tsx still
 * resolves (`./x.js` to `./x.ts`, tsconfig `paths`), and compiles what esbuild refuses (top-level
 * await in CommonJS, say): a module either way. Compiled files are kept in the same cache as the
 * ES-module hooks' (node_modules/.cache/tspuma, keyed by content): a warm boot neither loads
 * esbuild nor starts its worker thread and service process (about 100 ms of CPU a boot, issue 31).
 */
async function compileCommonJsWithEsbuild(entry: string): Promise<string | null> {
  const require = createRequire(import.meta.url);
  let esbuildVersion: string;
  try {
    esbuildVersion = (JSON.parse(readFileSync(require.resolve('esbuild/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return null; // tsx alone: stacks still map, breakpoints by line do not
  }
  /** Required at the first file the cache does not hold. */
  let esbuild: typeof import('esbuild') | null = null;
  const tsconfig = findUp(dirname(entry), 'tsconfig.json');
  const compilerOptions: Record<string, unknown> = {};
  try {
    const options = tsconfig ? readCompilerOptions(tsconfig) : {};
    for (const key of ESBUILD_OPTIONS) if (options[key] !== undefined) compilerOptions[key] = options[key];
  } catch {
    /* tsx reads it too and says what is wrong */
  }
  const target = `node${process.versions.node}`;
  const settings = JSON.stringify({ target, compilerOptions });
  const modules = findUp(dirname(entry), 'node_modules');
  const cacheProblem = modules ? cacheUnusable(join(modules, '.cache', 'tspuma')) : null;
  const cacheDir = modules && cacheProblem === null ? join(modules, '.cache', 'tspuma') : null;
  const { Module } = await import('node:module');
  const extensions = (Module as unknown as { _extensions: Record<string, CompileHook> })._extensions;
  for (const [ext, loader] of Object.entries(CJS_LOADERS)) {
    // tsx compiles a .cts through its .js hook (it registers no .cts one).
    const tsx = extensions[ext] ?? (ext === '.cts' ? extensions['.js'] : undefined);
    if (!tsx) continue;
    extensions[ext] = function compile(this: unknown, module, file) {
      let code: string;
      try {
        const source = readFileSync(file, 'utf8');
        const entry = compiledEntry(cacheDir, 'cjs', esbuildVersion, settings, file);
        const cached = readCompiled(CACHE_FS, entry, source);
        if (cached !== null) code = cached;
        else {
          esbuild ??= require('esbuild') as typeof import('esbuild');
          code = esbuild.transformSync(source, { loader, format: 'cjs', sourcemap: 'inline', sourcefile: file, target, tsconfigRaw: { compilerOptions } as never }).code;
          if (entry !== null) storeCompiled(CACHE_FS, entry, source, code);
        }
      } catch {
        return tsx.call(this, module, file);
      }
      return module._compile(code, file);
    };
  }
  return cacheDir ? `compiled files cached in ${cacheDir}` : cacheProblem ? `no compile cache: ${cacheProblem}` : 'no node_modules to cache compiled files in';
}
