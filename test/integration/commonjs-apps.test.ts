// Integration: CommonJS apps (.cts, .cjs) in an ES-module package ("type": "module"), as a user
// keeps a legacy Express module: required through Node's CommonJS loader with either TypeScript
// loader, express's own requires of .json files work, and with -d a failure gets its dump (no
// process abort). Also an ES-module .ts app importing such a .cts module (tsx).
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { boot, fromLog, killAll, killAllBut, ROOT, type Booted } from '../helpers/cli.js';
import { get, SLOWNESS, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

/**
 * cjs-package/app.ts booted with a health listener, once, by the first case that asks: the cache
 * case's second boot, and the ready() case's server (a boot of its own was one more tsx boot for
 * the same server). The boot before it, which fills the compile cache, is made here too: whichever
 * case asks first, the shared server is a warm boot (the ready() case first, in a shuffled run,
 * left the cache case a cold one: review8.5).
 */
let cjsPackage: Promise<Booted> | undefined;
let warmedBy: Promise<string> | undefined;
const cjsPackageServer = () =>
  (cjsPackage ??= (async () => {
    warmedBy = (async () => {
      const first = await boot(['-b', 'tcp://127.0.0.1:0', 'cjs-package/app.ts'], {}, root);
      const text = await (await fetch(`${first.url}/`)).text();
      first.proc.kill('SIGTERM');
      await first.exited;
      return text;
    })();
    await warmedBy;
    return boot(['-b', 'tcp://127.0.0.1:0', '--health-url', 'tcp://127.0.0.1:0', 'cjs-package/app.ts'], {}, root);
  })());
/**
 * One -d server per entry and loader, booted by the first of its two cases: the loader does the
 * same with and without -d (ts-loader.ts and ts-hooks.ts never read it), so the route and the
 * loader line are checked on the server whose dump the second case reads (a plain boot of each
 * was one more .cts boot with express for the same loading).
 */
const legacy = new Map<string, Promise<Booted>>();
const legacyServer = (file: string, loader: string, env: Record<string, string>) => {
  const key = `${file} ${loader}`;
  if (!legacy.has(key)) legacy.set(key, boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', file], env, root));
  return legacy.get(key)!;
};
afterEach(async () => killAllBut(...(await Promise.all([...(cjsPackage ? [cjsPackage] : []), ...legacy.values()].map((p) => p.catch(() => undefined))))));
afterAll(killAll);

const root = tempDir('cjs-apps');

const LEGACY = [
  "const express = require('express');",
  'function compute(order: { total: number }, token: string) {',
  '  const factor = 2;',
  '  return order.total.toFixed(factor) + token.length;',
  '}',
  'const app = express();',
  "app.get('/legacy', (req: any, res: any) => {",
  "  const order = JSON.parse(req.query.o ?? 'null');",
  "  res.send(compute(order, req.get('authorization') ?? ''));",
  '});',
  'module.exports = app;',
].join('\n');
const FILES: Record<string, string> = {
  'package.json': '{ "name": "legacy-project", "type": "module" }',
  'src/legacy.cts': LEGACY,
  // The same module without types, as a plain .cjs file.
  'src/legacy.cjs': LEGACY.replace(': { total: number }, token: string', ', token').replace(/: any/g, ''),
  // An ES-module app that imports the CommonJS one.
  'src/esm-app.ts': "import legacy from './legacy.cts';\nexport default legacy;\n",
  // ES-module syntax compiled to CommonJS (what tsc emits): the app is exports.default, and
  // ready() a named export beside it.
  'src/compiled.cjs': [
    "Object.defineProperty(exports, '__esModule', { value: true });",
    'exports.ready = function ready() { return false; };',
    "exports.default = function app(req, res) { res.end('compiled'); };",
  ].join('\n'),
  // A .cts app's requires as TypeScript writes them (`./util.cjs` for util.cts, `./helper.js` for
  // helper.ts, an ES-module .ts): resolved and compiled without tsx's CommonJS hook, which the app
  // reports it never loaded; and one requiring a .js file in ES-module syntax, which only tsx's
  // hook compiles (Node 20 refuses it): tsx's hook is then registered for it (tests8.1).
  'src/util.cts': "module.exports = 'util' as string;",
  'src/helper.ts': "export const helper: string = 'helper';",
  'src/esm-only.js': "export const esm = 'esm';",
  'src/requires.cts': [
    "const util: string = require('./util.cjs');",
    "const { helper } = require('./helper.js');",
    "const { esm } = require('./esm-only.js');",
    "const tsx = () => Object.keys(require.cache).filter((f: string) => f.includes('/node_modules/tsx/')).length;",
    "module.exports = function app(req: unknown, res: { end(s: string): void }) { res.end(`${util} ${helper} ${esm} tsx=${tsx()}`); };",
  ].join('\n'),
  'src/esm-require.cts': [
    "const { esm } = require('./esm-only.js');",
    "const tsx = () => Object.keys(require.cache).filter((f: string) => f.includes('/node_modules/tsx/')).length;",
    "module.exports = function app(req: unknown, res: { end(s: string): void }) { res.end(`${esm} tsx=${tsx()}`); };",
  ].join('\n'),
  // The same written in TypeScript, in a CommonJS package: tsx compiles it to that shape.
  'cjs-package/package.json': '{ "type": "commonjs" }',
  'cjs-package/app.ts': [
    'export function ready(): boolean { return false; }',
    "export default function app(req: unknown, res: { end(s: string): void }): void { res.end('compiled'); }",
  ].join('\n'),
};
// A CommonJS package whose config imports tspuma (npm init's package.json says "commonjs"), with
// tspuma installed beside it (a link to this checkout).
FILES['cjs-config/package.json'] = '{ "name": "cjs-config" }';
// requestTimeout 1 s scaled by the load (SLOWNESS): /hang waits for it at any value, and it bounds
// the first request's answer, which a loaded machine may not give within an unscaled 1 s.
FILES['cjs-config/tspuma.config.ts'] = `import { defineConfig } from 'tspuma';\nexport default defineConfig({ requestTimeout: ${SLOWNESS} });\n`;
FILES['cjs-config/app.ts'] = [
  "import type { IncomingMessage, ServerResponse } from 'node:http';",
  'export default function app(req: IncomingMessage, res: ServerResponse): void {',
  "  if (req.url === '/hang') return;",
  "  res.end(`chunks required: ${Object.keys(require.cache).filter((f) => f.endsWith('.chunk.js')).length}`);",
  '}',
].join('\n');
for (const [path, text] of Object.entries(FILES)) {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), text);
}
symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
mkdirSync(join(root, 'cjs-config', 'node_modules'));
symlinkSync(ROOT, join(root, 'cjs-config', 'node_modules', 'tspuma'));

const ORDER = `/legacy?o=${encodeURIComponent('{"total":3}')}`;

describe('CommonJS apps in an ES-module package', () => {
  const cases: [string, string, Record<string, string>][] = [
    ['src/legacy.cts', 'auto', {}],
    ['src/legacy.cts', 'tsx', { TSPUMA_TS_LOADER: 'tsx' }],
    ['src/legacy.cjs', 'auto', {}],
    ['src/esm-app.ts', 'tsx', { TSPUMA_TS_LOADER: 'tsx' }],
  ];
  for (const [file, loader, env] of cases) {
    it(`${file} (loader ${loader}) requiring express serves its route`, async () => {
      const s = await legacyServer(file, loader, env);
      const ok = await fetch(`${s.url}${ORDER}`);
      expect(await ok.text()).toBe('3.000');
      expect(ok.status).toBe(200);
      // A .cts entry in this ES-module package: esbuild, for its requires too (tsx's hooks cost
      // about a .ts boot again: tests8.1).
      const loaderLine = s.lines().map((l) => String(l.msg)).find((m) => m.startsWith('*   TypeScript: '));
      if (file.endsWith('.cjs')) expect(loaderLine).toBeUndefined();
      else if (loader === 'tsx') expect(loaderLine).toMatch(/^\*   TypeScript: tsx \(/);
      else expect(loaderLine).toMatch(/^\*   TypeScript: esbuild \S+ \(.*; CommonJS requires too\)$/);
    });

    it(`${file} (loader ${loader}) with -d boots, and a failing route gets a dump at compute() in the legacy module with its locals`, async () => {
      const s = await legacyServer(file, loader, env);
      expect((await fetch(`${s.url}${ORDER}`)).status).toBe(200);
      // A token that holds a value (an empty one is shown as "", review15).
      const failed = await fetch(`${s.url}/legacy`, { headers: { authorization: 'Bearer legacy-token-5e1d7c' } });
      expect(failed.status).toBe(500);
      const at = file.endsWith('.cjs') ? 'src/legacy.cjs:4:' : 'src/legacy.cts:4:';
      const dump = await waitFor(() => (s.stderr().includes('tspuma dump #1 [app] TypeError') && s.stderr().includes(at) ? s.stderr() : undefined), 'the dump', 20_000);
      expect(dump).toMatch(/> #0 compute {2}src\/legacy\.c[jt]s:4:\d+/);
      expect(dump).toMatch(/order=null {2}token="\[redacted\]" {2}factor=2/);
    });
  }

  // Node 20.19 and later require() an ES module themselves (process.features.require_module); with
  // that off (as before 20.19) node refuses it (ERR_REQUIRE_ESM), and tsx's CommonJS hook,
  // registered then, compiles it. One boot of src/requires.cts checks all three requires (each was
  // a boot of its own: the same loader, the same process).
  it('src/requires.cts: requires of ./util.cjs (util.cts), ./helper.js (helper.ts) and ./esm-only.js (ES-module syntax, loaded by node itself) work without any of tsx loading; where node refuses the ES module, through tsx\'s CommonJS hook registered for it', async () => {
    expect((process.features as { require_module?: boolean }).require_module, 'this node requires ES modules').toBe(true);
    // tsx's files as the app sees them (required) and as the module-log hooks do (imported).
    const moduleLog = tempDir('cts-modules');
    const probe = { NODE_OPTIONS: `--import=${pathToFileURL(`${ROOT}test/fixtures/module-log/register.mjs`).href}`, MODULE_LOG_DIR: moduleLog };
    try {
      const s = await boot(['-b', 'tcp://127.0.0.1:0', 'src/requires.cts'], probe, root);
      expect(await (await fetch(`${s.url}/`)).text()).toBe('util helper esm tsx=0');
      const imported = readFileSync(join(moduleLog, `${s.proc.pid}.txt`), 'utf8').split('\n');
      expect(imported.filter((u) => u.includes('/node_modules/tsx/'))).toEqual([]);
    } finally {
      rmSync(moduleLog, { recursive: true, force: true });
    }
    const refusing = await boot(['-b', 'tcp://127.0.0.1:0', 'src/esm-require.cts'], { NODE_OPTIONS: '--no-experimental-require-module' }, root);
    expect(await (await fetch(`${refusing.url}/`)).text()).toMatch(/^esm tsx=[1-9]\d*$/);
  });

  // tsx's CommonJS hook resolves; esbuild compiles each .ts line by line (ts-loader.ts), into the
  // compile cache the ES-module hooks use: a warm boot starts no esbuild service process.
  it('cjs-package/app.ts: booted again, it is compiled from the cache, with no esbuild process started', async () => {
    const again = await cjsPackageServer();
    // The first boot, cold, whose compiled files the shared server's boot read (cjsPackageServer).
    expect(await warmedBy).toBe('compiled');
    expect(await (await fetch(`${again.url}/`)).text()).toBe('compiled');
    // The boot line says where (N24), as the ES-module loader's does.
    const loaderLine = again.lines().map((l) => String(l.msg)).find((m) => m.startsWith('*   TypeScript: '));
    expect(loaderLine).toMatch(/^\*   TypeScript: tsx \(.*\); CommonJS \.ts compiled by esbuild, line by line \(compiled files cached in (.+)\)$/);
    expect(/compiled files cached in (.+)\)$/.exec(loaderLine!)![1]).toBe(join(root, 'node_modules', '.cache', 'tspuma'));
    const children = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .flatMap((d) => {
        try {
          const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
          const [comm, rest] = [stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), stat.slice(stat.lastIndexOf(')') + 2).split(' ')];
          return Number(rest[1]) === again.proc.pid ? [comm] : [];
        } catch {
          return []; // gone meanwhile
        }
      });
    expect(children).toEqual([]);
  });

  for (const file of ['src/compiled.cjs', 'cjs-package/app.ts']) {
    it(`${file}: an exports.default app is served and its ready() export beside it is used (/ready 503 with its reason)`, async () => {
      const s = file === 'cjs-package/app.ts' ? await cjsPackageServer() : await boot(['-b', 'tcp://127.0.0.1:0', '--health-url', 'tcp://127.0.0.1:0', file], {}, root);
      expect(await (await fetch(`${s.url}/`)).text()).toBe('compiled');
      const health = await fromLog(s, (l) => (typeof l.healthUrl === 'string' ? l.healthUrl.replace(/^tcp:/, 'http:') : undefined), 'the health line');
      const ready = await get(`${health}/ready`);
      expect([ready.status, (JSON.parse(ready.body) as { reason?: string }).reason]).toEqual([503, "the app's ready() returned false"]);
    });
  }
});

describe('a CommonJS package whose tspuma.config.ts imports tspuma', () => {
  it("gets this process's own tspuma, not a second copy compiled to CommonJS: no chunk is required, and a -d request timeout's dump names tspuma's frames by their .ts lines", async () => {
    const s = await boot(['-d', '--inspect=off', '-C', 'tspuma.config.ts', '-b', 'tcp://127.0.0.1:0', 'app.ts'], {}, join(root, 'cjs-config'));
    // tsx's hook compiled dist/server/index.js and each chunk behind it, and ran them again.
    expect(await (await fetch(`${s.url}/`)).text()).toBe('chunks required: 0');
    expect((await fetch(`${s.url}/hang`)).status).toBe(503);
    const dump = await waitFor(() => (s.stderr().includes('tspuma dump #1 [request]') && s.stderr().includes('frames') ? s.stderr() : undefined), 'the dump', 20_000);
    // Before: '> #0 get  …/dist/server/serving.chunk.js:79:152  ×5' (tsx's source map of the chunk file, in node's cache in the build's place).
    // No frame is marked the culprit (they are the deadline sweep's): the text folds them into one line named by the first.
    expect(dump).toMatch(/^ {4}#0(?:-#\d+ \d+ frames in [a-z, ]+:)? RequestLifecycle\.requestTimeout {2}\S*server\/request-lifecycle\.ts:\d+:\d+/m);
    expect(dump).not.toMatch(/#\d+ get {2}/);
    expect(dump).not.toContain('serving.chunk.js:');
  });
});
