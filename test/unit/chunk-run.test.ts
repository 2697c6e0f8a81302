// A chunk of the build run from a V8 code cache (scripts/chunk-cache.mjs splits it, server/chunk-run.ts
// runs it): the split keeps the chunk's lines and columns (its source map still holds), the module
// at the chunk's path gives the same exports, import.meta.url and import() as the chunk had, and
// the cache is taken when it fits, refused when damaged, and written by a first run for the next.
// Each run is a process of its own: V8 keeps a source it compiled once and would not read a cache.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { REWRITE_GROWTH } from '../../server/chunk-run.js';
import { ROOT } from '../helpers/cli.js';
import { SLOWNESS } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

type Split = { shell: string; code: string; codeName: string; hash: string; names: string[]; imports: string[] };
const { splitChunk } = (await import(pathToFileURL(`${ROOT}scripts/chunk-cache.mjs`).href)) as { splitChunk: (text: string, file: string, runtime: string) => Split };
const RUNTIME = pathToFileURL(`${ROOT}dist/server/chunk-run.js`).href;

const BANNER = 'import { createRequire as __tspumaCreateRequire } from "node:module"; const __tspumaBuiltin = __tspumaCreateRequire(import.meta.url);';
const CHUNK = [
  BANNER,
  'import { $1 as get } from "./other.chunk.js";',
  'var where = import.meta.url, later = () => import("./other.chunk.js").then((c) => c.$1());',
  'function thrower() {',
  '  throw new Error("at line 5");',
  '}',
  'var $2 = () => ({ where, fromOther: get(), os: __tspumaBuiltin("node:os").EOL.length, later, thrower });',
  'export {',
  '  $2,',
  '  $2 as $3',
  '};',
  '//# sourceMappingURL=test.chunk.js.map',
  '',
].join('\n');
const OTHER = 'export const $1 = () => "other";\n';

/**
 * The bound of each case's node process (a boot, a chunk import, a print), 20 s on a quiet machine,
 * scaled by SLOWNESS as waitFor's deadlines are: at a load of 25-30 the tsx case's process was
 * killed at an unscaled 20 s (execFileSync's ETIMEDOUT, 20760 ms, stress31's run 1).
 */
const NODE_MS = 20_000 * SLOWNESS;

const root = tempDir('chunk-run');
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A folder with the split chunk, the module it imports and a node_modules (where boots write caches). */
function layOut(name: string): { dir: string; split: Split; cacheDir: string } {
  const dir = join(root, name);
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  const split = splitChunk(CHUNK, 'test.chunk.js', RUNTIME);
  writeFileSync(join(dir, 'test.chunk.js'), split.shell);
  writeFileSync(join(dir, split.codeName), split.code);
  writeFileSync(join(dir, 'other.chunk.js'), OTHER);
  return { dir, split, cacheDir: join(dir, 'node_modules', '.cache', 'tspuma') };
}

/** In a new node: the chunk imported, only its top level run, and what the cache did. */
function importOnlyIn(dir: string): string {
  const script = [
    `await import(${JSON.stringify(pathToFileURL(join(dir, 'test.chunk.js')).href)});`,
    `const { chunkCaches } = await import(${JSON.stringify(RUNTIME)});`,
    `console.log([...chunkCaches.values()][0]);`,
  ].join('\n');
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: NODE_MS }).trim();
}

/** In a new node: the chunk imported, what its export gives, what the cache did, and its throw's stack line. */
function runIn(dir: string): { value: Record<string, unknown>; cache: string; stack: string; later: string } {
  const script = [
    `const { $2, $3 } = await import(${JSON.stringify(pathToFileURL(join(dir, 'test.chunk.js')).href)});`,
    `const { chunkCaches } = await import(${JSON.stringify(RUNTIME)});`,
    `const v = $2();`,
    `let stack = ''; const thrower = v.thrower; try { thrower(); } catch (e) { stack = e.stack.split('\\n')[1].trim(); }`,
    `const later = await v.later();`,
    `console.log(JSON.stringify({ value: { where: v.where, fromOther: v.fromOther, os: v.os, same: $2 === $3 }, cache: [...chunkCaches.values()][0], stack, later }));`,
  ].join('\n');
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: NODE_MS })) as ReturnType<typeof runIn>;
}

describe('a chunk run from a code cache', () => {
  it('keeps every line of the chunk at its number, each unchanged line at its columns, and names its code and hash', () => {
    const split = splitChunk(CHUNK, 'test.chunk.js', RUNTIME);
    const before = CHUNK.split('\n');
    const after = split.code.split('\n');
    expect(after).toHaveLength(before.length);
    // The code's own lines, untouched: the function and its throw where the map says.
    for (const i of [3, 4, 5, 6]) expect(after[i]).toBe(before[i]);
    // import.meta and import( renamed in place: same length, same columns for what follows.
    expect(after[2]).toHaveLength(before[2]!.length);
    expect(after[2]!.indexOf('.then(')).toBe(before[2]!.indexOf('.then('));
    expect(after[1]).toBe(' '.repeat(before[1]!.length));
    expect(after.slice(7, 11).join('\n')).toBe('return {\n  $2,\n  "$3": $2\n};');
    expect(split.codeName).toBe('test.chunk.code.js');
    expect(split.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(split.imports).toEqual(['./other.chunk.js']);
    expect(split.shell).toContain('//# sourceMappingURL=test.chunk.js.map');
  });

  it('runs with the chunk\'s exports, import.meta.url, import() and builtins, and its frames name the chunk\'s URL at the chunk\'s lines', () => {
    const { dir } = layOut('plain');
    const run = runIn(dir);
    const url = pathToFileURL(join(dir, 'test.chunk.js')).href;
    expect(run.value).toEqual({ where: url, fromOther: 'other', os: 1, same: true });
    expect(run.later).toBe('other');
    expect(run.stack).toBe(`at thrower (${url}:5:9)`);
  });

  it('writes a cache at a first run\'s exit, which the next process takes, and refuses a damaged one yet runs', () => {
    const { dir, split, cacheDir } = layOut('cached');
    expect(runIn(dir).cache).toBe('none');
    const written = readdirSync(cacheDir).filter((f) => f.startsWith(`test.chunk-${split.hash}-`) && f.endsWith('.cache'));
    expect(written).toHaveLength(1);
    expect(runIn(dir).cache).toBe('own');
    writeFileSync(join(cacheDir, written[0]!), Buffer.alloc(4096, 7));
    const refused = runIn(dir);
    expect(refused.cache).toBe('refused');
    expect(refused.value.fromOther).toBe('other');
    // The refused one is written again, whole.
    expect(readFileSync(join(cacheDir, written[0]!)).subarray(0, 16).equals(Buffer.alloc(16, 7))).toBe(false);
  });

  it('writes the cache again at the good exit of a process that compiled notably more of the chunk than it held, and only then', () => {
    const { dir, split, cacheDir } = layOut('outgrown');
    // The first writer ran the chunk's top level alone (a primary, a short command).
    expect(importOnlyIn(dir)).toBe('none');
    const [name] = readdirSync(cacheDir).filter((f) => f.startsWith(`test.chunk-${split.hash}-`) && f.endsWith('.cache'));
    const file = join(cacheDir, name!);
    const small = statSync(file);
    // One that compiled more but failed (exit code 1) does not ask.
    const failing = `const { $2 } = await import(${JSON.stringify(pathToFileURL(join(dir, 'test.chunk.js')).href)}); const v = $2(); try { v.thrower(); } catch {} await v.later(); process.exitCode = 1;`;
    expect(() => execFileSync(process.execPath, ['--input-type=module', '-e', failing], { timeout: NODE_MS })).toThrow();
    expect(statSync(file).ino).toBe(small.ino);
    // Nor one whose inspector is open (a debugger may have held breakpoints in it), ending well,
    // though with no record of what the last asker compiled it would ask (no REASK_GROWTH shortcut).
    rmSync(`${file}.asked`, { force: true });
    const inspected = `(await import('node:inspector')).open(0, '127.0.0.1'); ${failing.replace('process.exitCode = 1;', '')}`;
    execFileSync(process.execPath, ['--input-type=module', '-e', inspected], { timeout: NODE_MS, stdio: 'ignore' });
    expect(statSync(file).ino).toBe(small.ino);
    // A process that took it and called the chunk's functions: its exit writes what it compiled.
    expect(runIn(dir).cache).toBe('own');
    const grown = statSync(file);
    expect(grown.ino).not.toBe(small.ino);
    expect(grown.size).toBeGreaterThanOrEqual(small.size * REWRITE_GROWTH);
    // The next one, taking that and compiling no more, leaves it; nor does one that compiled less.
    expect(runIn(dir).cache).toBe('own');
    expect(importOnlyIn(dir)).toBe('own');
    expect(statSync(file).ino).toBe(grown.ino);
  });

  it('skips the outgrowth question at the exit of a process that compiled no more bytecode in all than the last one that asked, and asks when the record is gone', () => {
    const { dir, split, cacheDir } = layOut('asked');
    expect(importOnlyIn(dir)).toBe('none');
    const [name] = readdirSync(cacheDir).filter((f) => f.startsWith(`test.chunk-${split.hash}-`) && f.endsWith('.cache'));
    const file = join(cacheDir, name!);
    const asked = `${file}.asked`;
    // The first writer recorded what it had compiled in all.
    const first = Number(readFileSync(asked, 'latin1'));
    expect(first).toBeGreaterThan(0);
    const small = statSync(file);
    // A record larger than any process here: the next one, though it compiled more of the chunk, does not ask.
    writeFileSync(asked, String(Number.MAX_SAFE_INTEGER));
    expect(runIn(dir).cache).toBe('own');
    expect(statSync(file).ino).toBe(small.ino);
    expect(readFileSync(asked, 'latin1')).toBe(String(Number.MAX_SAFE_INTEGER));
    // With the record gone, the same run asks, finds the cache outgrown and writes it, and records its own total.
    rmSync(asked);
    expect(runIn(dir).cache).toBe('own');
    expect(statSync(file).ino).not.toBe(small.ino);
    expect(statSync(file).size).toBeGreaterThanOrEqual(small.size * REWRITE_GROWTH);
    expect(Number(readFileSync(asked, 'latin1'))).toBeGreaterThan(first);
  });

  it('makes each cache under the V8 flags its chunk was compiled under, so a process that sets debug mode\'s flags later leaves caches the next boot takes', () => {
    // As diagnostics/capture.ts does once a -d process serves: a flag set and noted at run time.
    const flag = `(await import('node:v8')).setFlagsFromString('--no-analyze-environment-liveness'); (globalThis[Symbol.for('tspuma.runTimeV8Flags')] ??= []).push(['--no-analyze-environment-liveness', '--analyze-environment-liveness']);`;
    const chunk = (dir: string) => `const { $2 } = await import(${JSON.stringify(pathToFileURL(join(dir, 'test.chunk.js')).href)}); $2().thrower.length;`;
    const cache = (dir: string) => `const { chunkCaches } = await import(${JSON.stringify(RUNTIME)}); console.log([...chunkCaches.values()][0]);`;
    const run = (script: string) => execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: NODE_MS }).trim();
    // Compiled before the flag (a boot's chunks): the cache written at exit is taken by the next boot.
    const before = layOut('flag-before');
    expect(run(`${chunk(before.dir)} ${flag} ${cache(before.dir)}`)).toBe('none');
    expect(run(`${chunk(before.dir)} ${flag} ${cache(before.dir)}`)).toBe('own');
    // Compiled after it (a chunk first needed while serving): a cache of its own, taken after the flag, not before.
    const after = layOut('flag-after');
    expect(run(`${flag} ${chunk(after.dir)} ${cache(after.dir)}`)).toBe('none');
    expect(run(`${flag} ${chunk(after.dir)} ${cache(after.dir)}`)).toBe('own');
    expect(readdirSync(after.cacheDir).filter((f) => f.endsWith('.cache'))).toHaveLength(1);
    expect(run(`${chunk(after.dir)} ${cache(after.dir)}`)).toBe('none');
  });

  it('writes a cache that carries the source hash V8\'s inspector reports for the chunk\'s code, so a debugger\'s Debugger.enable (a -d boot\'s) need not hash it again', () => {
    const { dir, split, cacheDir } = layOut('hashed');
    expect(runIn(dir).cache).toBe('none');
    const [name] = readdirSync(cacheDir).filter((f) => f.startsWith(`test.chunk-${split.hash}-`) && f.endsWith('.cache'));
    // The hash as V8 computes it for the code, in a process that takes no cache (a hooked chunk gets none).
    const url = pathToFileURL(join(dir, 'test.chunk.js')).href;
    const script = [
      `globalThis[Symbol.for('tspuma.chunkSource')] = (_url, code) => code;`,
      `await import(${JSON.stringify(url)});`,
      `const inspector = await import('node:inspector');`,
      `const session = new inspector.Session(); session.connect();`,
      `const seen = []; session.on('Debugger.scriptParsed', (m) => { if (m.params.url === ${JSON.stringify(url)}) seen.push(m.params); });`,
      `session.post('Debugger.enable');`,
      `console.log(seen.sort((a, b) => b.length - a.length)[0].hash);`,
    ].join('\n');
    const hash = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: NODE_MS }).trim();
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(join(cacheDir, name!)).includes(Buffer.from(hash, 'latin1'))).toBe(true);
  });

  it('takes the cache left beside the chunk (the build\'s) when no boot wrote one', () => {
    const { dir, split } = layOut('beside');
    runIn(dir);
    const own = join(dir, 'node_modules', '.cache', 'tspuma');
    const made = readdirSync(own).find((f) => f.startsWith(`test.chunk-${split.hash}-`))!;
    writeFileSync(join(dir, made), readFileSync(join(own, made)));
    rmSync(own, { recursive: true });
    expect(runIn(dir).cache).toBe('build');
    expect(existsSync(join(dir, made))).toBe(true);
  });

  it('refuses to split a chunk whose first line is not the build\'s banner, or that exports a declaration', () => {
    expect(() => splitChunk(CHUNK.slice(BANNER.length + 1), 'x.chunk.js', RUNTIME)).toThrow(/banner/);
    expect(() => splitChunk(`${BANNER}\nexport const a = 1;\n`, 'x.chunk.js', RUNTIME)).toThrow(/plain export/);
  });
});

describe('a chunk\'s cache and the chunk\'s place', () => {
  it('takes no cache made for the same chunk at another path (V8 would name that path in every frame)', () => {
    const from = layOut('copied-from');
    runIn(from.dir);
    const made = readdirSync(from.cacheDir).find((f) => f.startsWith(`test.chunk-${from.split.hash}-`))!;
    const to = layOut('copied-to');
    mkdirSync(to.cacheDir, { recursive: true });
    writeFileSync(join(to.cacheDir, made), readFileSync(join(from.cacheDir, made)));
    writeFileSync(join(to.dir, made), readFileSync(join(from.cacheDir, made)));
    const run = runIn(to.dir);
    expect(run.cache).toBe('none');
    expect(run.stack).toBe(`at thrower (${pathToFileURL(join(to.dir, 'test.chunk.js')).href}:5:9)`);
  });
});

describe('the build\'s chunks', () => {
  it('leave no code cache in dist/ (V8 names a cached script by where it was made: an installed package would ship it dead) and each has its code beside it', () => {
    const manifest = JSON.parse(readFileSync(`${ROOT}dist/chunks.json`, 'utf8')) as { chunks: Record<string, unknown> };
    const files = Object.keys(manifest.chunks);
    expect(files.length).toBeGreaterThan(5);
    for (const rel of files) {
      const shell = readFileSync(`${ROOT}dist/${rel}`, 'utf8');
      expect(shell, rel).toContain('$tspumaRunChunk(import.meta.url');
      expect(existsSync(`${ROOT}dist/${rel.replace(/\.js$/, '.code.js')}`), rel).toBe(true);
    }
    const left = ['server', 'server/cluster', 'server/cli', 'diagnostics', 'inspector'].flatMap((d) => readdirSync(`${ROOT}dist/${d}`).filter((f) => f.endsWith('.cache')).map((f) => `${d}/${f}`));
    expect(left).toEqual([]);
  });

  it('keep the build\'s source map when a chunk is first imported after tsx\'s hooks are registered (an app whose .ts tsx loads, served from a checkout: dist/ outside node_modules)', () => {
    // tsx rewrites every import( of a .js file outside node_modules and registers its own map of
    // that file for the file's URL; a chunk's code runs under its shell's URL, so such a map sent
    // each of the code's frames to a line of the shell (lead.1: `Capturer.scope diagnostics.chunk.js:41:43`).
    const rel = 'server/health.chunk.js';
    const url = pathToFileURL(`${ROOT}dist/${rel}`).href;
    const script = [
      `const { register } = await import('tsx/esm/api');`,
      `register();`,
      `await import(${JSON.stringify(url)});`,
      `const { findSourceMap } = await import('node:module');`,
      `console.log(JSON.stringify(findSourceMap(${JSON.stringify(url)})?.payload.sources ?? null));`,
    ].join('\n');
    const registered = JSON.parse(execFileSync(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: NODE_MS })) as string[] | null;
    const built = (JSON.parse(readFileSync(`${ROOT}dist/${rel}.map`, 'utf8')) as { sources: string[] }).sources;
    expect(registered?.length).toBe(built.length);
    expect(registered?.every((s, i) => s.endsWith(built[i]!.replace(/^(\.\.\/)+/, '')))).toBe(true);
  });
});
