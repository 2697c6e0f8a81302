// TypeScript loading: which loader a project gets, its tsconfig reading, the esbuild hooks'
// resolution fallbacks and their compile cache (called directly, outside a hooks thread).
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TspumaError } from '../../server/errors.js';
import { ESBUILD_IDLE_MS, IdleStop, candidates, compiledEntry, initialize, load, readCompiled, resolve } from '../../server/ts-hooks.js';
import { chooseTsLoader, parseJsonc, readCompilerOptions } from '../../server/ts-loader.js';
import { tempDir } from '../helpers/temp.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A project in a fresh temporary directory: path -> contents. */
function project(files: Record<string, string>): string {
  const root = tempDir('ts');
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('tsconfig reading', () => {
  it('reads comments and trailing commas, and keeps // and /* inside strings', () => {
    const text = '{\n  // a comment\n  "a": "http://x/*y*/", /* block */\n  "b": [1, 2,],\n  "c": "q\\"//",\n}';
    expect(parseJsonc(text)).toEqual({ a: 'http://x/*y*/', b: [1, 2], c: 'q"//' });
  });

  it('follows relative and package `extends`, the extending file winning', () => {
    const root = project({
      'node_modules/@acme/tsconfig/tsconfig.json': '{ "compilerOptions": { "target": "ES2020", "jsx": "react-jsx", "strict": true } }',
      'node_modules/@acme/tsconfig/package.json': '{ "name": "@acme/tsconfig" }',
      'base.json': '{ "extends": "@acme/tsconfig", "compilerOptions": { "experimentalDecorators": true, "target": "ES2021" } }',
      'tsconfig.json': '{ "extends": "./base", "compilerOptions": { "target": "ES2022" } }',
    });
    expect(readCompilerOptions(join(root, 'tsconfig.json'))).toEqual({ target: 'ES2022', jsx: 'react-jsx', strict: true, experimentalDecorators: true });
  });
});

describe('choosing the loader', () => {
  it('uses esbuild for an ES-module package, with only what esbuild reads from tsconfig, cached under node_modules', () => {
    const root = project({
      'package.json': '{ "type": "module" }',
      'tsconfig.json': '{ "compilerOptions": { "experimentalDecorators": true, "outDir": "dist", "strict": true } }',
      'node_modules/.keep': '',
      'src/app.ts': 'export default () => new Response("hi")',
    });
    const choice = chooseTsLoader(join(root, 'src/app.ts'), {});
    expect(choice.kind).toBe('esbuild');
    if (choice.kind !== 'esbuild') return;
    expect(choice.data.tsconfigRaw).toEqual({ compilerOptions: { experimentalDecorators: true, strict: true } });
    expect(choice.data.cacheDir).toBe(join(root, 'node_modules', '.cache', 'tspuma'));
    expect(choice.tsconfig).toBe(join(root, 'tsconfig.json'));
  });

  it('hands tsx what esbuild alone would compile differently, saying why', () => {
    const commonjs = project({ 'package.json': '{ "name": "x" }', 'app.ts': '' });
    expect(chooseTsLoader(join(commonjs, 'app.ts'), {})).toEqual({ kind: 'tsx', reason: `${join(commonjs, 'package.json')} does not say "type": "module", so its .ts files may be CommonJS` });
    // No package.json at all: the boot line read 'no package.json does not say "type": "module"' (review19.10).
    // In /tmp itself (TMPDIR may lie below a project's package.json), with none above it.
    const bare = tempDir('ts-bare', '/tmp');
    dirs.push(bare);
    writeFileSync(join(bare, 'app.ts'), '');
    expect([existsSync('/tmp/package.json'), existsSync('/package.json')]).toEqual([false, false]);
    expect(chooseTsLoader(join(bare, 'app.ts'), {})).toEqual({ kind: 'tsx', reason: `no package.json in ${bare} or a folder above it, so its .ts files may be CommonJS` });
    const paths = project({ 'package.json': '{ "type": "module" }', 'tsconfig.json': '{ "compilerOptions": { "paths": { "@/*": ["src/*"] } } }', 'app.ts': '' });
    expect(chooseTsLoader(join(paths, 'app.ts'), {})).toMatchObject({ kind: 'tsx', reason: expect.stringContaining('`paths`') });
    const broken = project({ 'package.json': '{ "type": "module" }', 'tsconfig.json': '{ "compilerOptions": ', 'app.ts': '' });
    expect(chooseTsLoader(join(broken, 'app.ts'), {})).toMatchObject({ kind: 'tsx', reason: expect.stringContaining('cannot read') });
    const esm = project({ 'package.json': '{ "type": "module" }', 'app.ts': '', 'app.cts': '' });
    // A .cts entry in such a package: esbuild for its requires too, tsx's hooks not loaded (tests8.1).
    expect(chooseTsLoader(join(esm, 'app.cts'), {})).toMatchObject({ kind: 'esbuild', requires: 'esbuild' });
    expect(chooseTsLoader(join(esm, 'app.ts'), {})).not.toHaveProperty('requires');
    expect(chooseTsLoader(join(commonjs, 'app.cts'), {})).toMatchObject({ kind: 'tsx' });
    expect(chooseTsLoader(join(esm, 'app.ts'), { TSPUMA_TS_LOADER: 'tsx' })).toEqual({ kind: 'tsx', reason: 'TSPUMA_TS_LOADER=tsx' });
    expect(chooseTsLoader(join(esm, 'app.ts'), { TSPUMA_TS_LOADER: ' auto ' }).kind).toBe('esbuild');
  });

  it('refuses an unknown TSPUMA_TS_LOADER with a coded error naming the variable and the value', () => {
    const root = project({ 'package.json': '{ "type": "module" }', 'app.ts': '' });
    let err: unknown;
    try {
      chooseTsLoader(join(root, 'app.ts'), { TSPUMA_TS_LOADER: 'swc' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TspumaError);
    expect((err as TspumaError).code).toBe('TSPUMA_ERR_OPTION_INVALID');
    expect((err as TspumaError).message).toContain('TSPUMA_TS_LOADER');
    expect((err as TspumaError).message).toContain('"swc"');
    expect((err as TspumaError).message).toContain('auto, tsx');
  });
});

describe('esbuild hooks', () => {
  it('tries the .ts file behind a .js specifier, and extensionless paths, keeping the query', () => {
    expect(candidates('./lib.js')).toEqual(['./lib.ts', './lib.tsx']);
    expect(candidates('../x.mjs?v=1')).toEqual(['../x.mts?v=1']);
    expect(candidates('./dir')).toContain('./dir/index.ts');
    expect(candidates('./data.json')).toEqual([]);
  });

  it('resolves ./lib.js to lib.ts only when lib.js is missing, and leaves bare specifiers alone', async () => {
    const root = project({ 'lib.ts': '', 'real.js': '', 'real.ts': '' });
    const parentURL = pathToFileURL(join(root, 'app.ts')).href;
    const tried: string[] = [];
    const next = async (specifier: string) => {
      tried.push(specifier);
      const url = new URL(specifier, parentURL);
      if (!specifier.startsWith('.') || !readdirSync(root).includes(url.pathname.split('/').pop()!)) {
        throw Object.assign(new Error(`not found: ${specifier}`), { code: 'ERR_MODULE_NOT_FOUND' });
      }
      return { url: url.href };
    };
    expect((await resolve('./lib.js', { parentURL, conditions: [] }, next)).url).toBe(pathToFileURL(join(root, 'lib.ts')).href);
    expect((await resolve('./real.js', { parentURL, conditions: [] }, next)).url).toBe(pathToFileURL(join(root, 'real.js')).href);
    tried.length = 0;
    await expect(resolve('some-package', { parentURL, conditions: [] }, next)).rejects.toThrow('not found: some-package');
    expect(tried).toEqual(['some-package']);
  });

  it('compiles with source maps, serves the cache while the source is unchanged, and recompiles when it changes', async () => {
    const root = project({ 'app.ts': 'const n: number = 1;\nexport default n;\n' });
    const cacheDir = join(root, 'cache');
    initialize({ tsconfigRaw: {}, cacheDir, esbuildVersion: 'test' });
    const url = pathToFileURL(join(root, 'app.ts')).href;
    const next = async () => {
      throw new Error('a .ts file must not reach the default loader');
    };
    const first = await load(url, { conditions: [] }, next);
    expect(first.format).toBe('module');
    expect(String(first.source)).toContain('const n = 1;');
    expect(String(first.source)).toContain('sourceMappingURL=data:application/json');
    const [cached] = readdirSync(cacheDir);
    expect(cached).toMatch(/^ts-[0-9a-f]{16}\.mjs$/);
    // The cache, not a second compile, answers for the same content: its code part is what is served.
    const entry = join(cacheDir, cached!);
    const text = readFileSync(entry, 'utf8');
    const code = text.slice(text.indexOf('export default n;\n') + 'export default n;\n'.length);
    expect(code).toBe(String(first.source));
    writeFileSync(entry, text.replace(code, 'export default "from the cache";'));
    expect(String((await load(url, { conditions: [] }, next)).source)).toBe('export default "from the cache";');
    // An edit: the entry holds the old source, so it is compiled again and the slot rewritten.
    writeFileSync(join(root, 'app.ts'), 'const n: number = 2;\nexport default n;\n');
    expect(String((await load(url, { conditions: [] }, next)).source)).toContain('const n = 2;');
    expect(readdirSync(cacheDir).filter((f) => f.endsWith('.mjs'))).toEqual([cached]);
    expect(readFileSync(entry, 'utf8')).toContain('const n: number = 2;');
  });

  it('serves an entry only for its own key: one left in the slot by other settings is compiled over', async () => {
    const root = project({ 'app.ts': 'export const v: string = "compiled";\n' });
    const cacheDir = join(root, 'cache');
    const file = join(root, 'app.ts');
    const url = pathToFileURL(file).href;
    initialize({ tsconfigRaw: {}, cacheDir, esbuildVersion: 'one' });
    await load(url, { conditions: [] }, async () => ({ format: 'module' }));
    const one = compiledEntry(cacheDir, 'esm', 'one', '{}', file)!;
    const two = compiledEntry(cacheDir, 'esm', 'two', '{}', file)!;
    expect(two.path).not.toBe(one.path);
    // Two keys sharing a name (a 64-bit name's collision, made here by a copy): the same source, another key.
    const text = readFileSync(one.path, 'utf8');
    const stale = text.replace('const v = "compiled";', 'const v = "stale";');
    expect(stale).not.toBe(text);
    writeFileSync(two.path, stale);
    expect(readCompiled({ mkdirSync, readFileSync, renameSync, writeFileSync }, one, readFileSync(file, 'utf8'))).toContain('"compiled"');
    initialize({ tsconfigRaw: {}, cacheDir, esbuildVersion: 'two' });
    const served = String((await load(url, { conditions: [] }, async () => ({ format: 'module' }))).source);
    expect(served).toContain('const v = "compiled";');
    expect(served).not.toContain('stale');
    expect(readFileSync(two.path, 'utf8').startsWith(`${JSON.stringify(two.key)}\n`)).toBe(true);
  });

  it('refuses .cts with a message naming the file and the way out, and passes other files on', async () => {
    const root = project({ 'x.cts': 'module.exports = 1;' });
    const next = async (u: string) => ({ format: 'module', source: `passed ${u}` });
    await expect(load(pathToFileURL(join(root, 'x.cts')).href, { conditions: [] }, next)).rejects.toThrow(/x\.cts.*TSPUMA_TS_LOADER=tsx/);
    expect((await load('node:fs', { conditions: [] }, next)).source).toBe('passed node:fs');
  });
});

describe("esbuild's service stopped when idle", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stops once no compile ran for ESBUILD_IDLE_MS, never while one is in flight, and once per idle spell', () => {
    vi.useFakeTimers();
    let stops = 0;
    const idle = new IdleStop(() => stops++);
    idle.begin();
    idle.begin();
    idle.end(); // one still in flight
    vi.advanceTimersByTime(ESBUILD_IDLE_MS * 3);
    expect(stops).toBe(0);
    idle.end();
    vi.advanceTimersByTime(ESBUILD_IDLE_MS - 1);
    expect(stops).toBe(0);
    idle.begin(); // a compile begins just before the timer: the timer is off until it ends
    vi.advanceTimersByTime(ESBUILD_IDLE_MS * 3);
    expect(stops).toBe(0);
    idle.end();
    vi.advanceTimersByTime(ESBUILD_IDLE_MS);
    expect(stops).toBe(1);
    vi.advanceTimersByTime(ESBUILD_IDLE_MS * 3);
    expect(stops).toBe(1);
  });
});
