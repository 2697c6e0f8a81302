// The package as a user gets it: `npm pack`, the tarball installed with `npm ci` into a new project
// that depends on it, locked to the versions the repository's own lock holds (no install-time
// build of tspuma), that project's node_modules/.bin/tspuma serving its own .ts app, a CPU
// profile taken with the installed `tspuma inspect profile` whose frames map to files that exist
// (the app's .ts lines, and tspuma's own sources shipped beside dist/), and `tspuma doctor` saying
// how to get clinic when the project has none. And what the tarball holds: the runtime and its
// docs, with every target that package.json names and every module they load, and none of the
// benchmarks or tests (from the same `npm pack`: a second one, --dry-run in a file of its own, was
// 1.5 s of CPU).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpuProfile } from '../../inspector/profile-map.js';
import { ROOT, hermeticEnv, killTrees, npmEnv } from '../helpers/cli.js';
import { command } from '../helpers/command.js';
import { docBlock, excerptMissing, ownSourceMismatches, substitute } from '../helpers/doc-blocks.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

let dir = '';
let tarball = '';
/** The paths `npm pack` shipped, from the tree as built (scripts off: `npm test` has built it). */
let files: string[] = [];
let project = '';
let installOutput = '';
const own: ChildProcess[] = [];

/**
 * A copy of the package folder for `npm pack` to run in: every entry but node_modules/ and .git/,
 * hard-linked (copied where a link cannot be made). npm pack loads the tree of the folder's
 * node_modules/ before it packs (arborist), though it ships none of it: in the repo, with vitest,
 * clinic and their few hundred packages installed, that walk was about half of npm pack's CPU.
 * The tarball packed here is the one packed in the repo, byte for byte (the same shasum), as long
 * as package.json bundles no dependency, which the caller checks.
 */
function packFolder(into: string): string {
  const copy = (from: string, to: string) => {
    mkdirSync(to);
    for (const e of readdirSync(from, { withFileTypes: true })) {
      const [src, dst] = [join(from, e.name), join(to, e.name)];
      if (from === ROOT && (e.name === 'node_modules' || e.name === '.git')) continue;
      if (e.isDirectory()) copy(src, dst);
      else if (e.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
      else {
        try {
          linkSync(src, dst);
        } catch {
          copyFileSync(src, dst); // another file system (EXDEV)
        }
      }
    }
  };
  const folder = join(into, 'package');
  copy(ROOT, folder);
  return folder;
}

interface LockEntry {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  dev?: boolean;
  devOptional?: boolean;
  [field: string]: unknown;
}

/**
 * package-lock.json for a project whose one dependency is `tarball`: tspuma's runtime dependencies
 * at the versions the repository's own lock holds (what `npm ci` installed here and the suite ran
 * against), found from package.json's `dependencies` the way node resolves them (a nested copy
 * first, then the hoisted one). With it `npm ci` installs without building the ideal tree: no
 * registry metadata to fetch or read from the cache (npm ci's cache holds tarballs only), about
 * 1 s less CPU for the file than `npm install TARBALL`, and no registry needed in a clean clone.
 * A runtime dependency missing from package.json is still missing from the install (with
 * chrome-remote-interface taken out, the profile case failed: ERR_MODULE_NOT_FOUND); a range that
 * the lock does not satisfy is the repository's own `npm ci`'s error.
 */
function projectLock(tarball: string, tarballRef: string): string {
  const repo = (JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
  const own = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; license?: string; bin?: unknown; engines?: unknown; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
  const found = (from: string, name: string): string | null => {
    for (let base = from; ; ) {
      const key = `${base ? `${base}/` : ''}node_modules/${name}`;
      if (key in repo) return key;
      if (!base) return null;
      const up = base.lastIndexOf('/node_modules/');
      base = up < 0 ? '' : base.slice(0, up);
    }
  };
  const entries: Record<string, LockEntry> = {};
  const todo: [string, string][] = Object.keys({ ...own.dependencies, ...own.optionalDependencies }).map((d) => ['', d]);
  for (let next = todo.pop(); next; next = todo.pop()) {
    const key = found(...next);
    if (key === null || key in entries) continue;
    const { dev: _dev, devOptional: _devOptional, ...entry } = repo[key]!;
    entries[key] = entry;
    for (const d of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) todo.push([key, d]);
  }
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const tspuma = { version: own.version, resolved: tarballRef, integrity, license: own.license, dependencies: own.dependencies, optionalDependencies: own.optionalDependencies, bin: own.bin, engines: own.engines };
  const sorted = Object.fromEntries(Object.entries(entries).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `${JSON.stringify({ name: 'shop', lockfileVersion: 3, requires: true, packages: { '': { name: 'shop', dependencies: { tspuma: tarballRef } }, 'node_modules/tspuma': tspuma, ...sorted } }, null, 2)}\n`;
}

// npm runs awaited, not with spawnSync (command.ts): a fork blocked past 60 s fails the run.
beforeAll(async () => {
  dir = tempDir('package');
  // A bundled dependency is packed from node_modules/: then only the repo itself packs it.
  const bundles = ['bundleDependencies', 'bundledDependencies'].some((k) => k in manifest);
  // dist/ is built (npm test's pretest); packing runs no script.
  const pack = await command('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], { cwd: bundles ? ROOT : packFolder(dir), timeoutMs: 60_000 * SLOWNESS });
  expect(pack.status, pack.stderr).toBe(0);
  const [entry] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(dir, entry!.filename);
  files = entry!.files.map((f) => f.path);
}, 90_000 * SLOWNESS);

afterAll(async () => {
  // Ended with what they started (clinic's processes under doctor) before the project folder goes.
  await killTrees(own);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function bin(args: string[], env: Record<string, string> = {}): { proc: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const proc = spawn(join(project, 'node_modules/.bin/tspuma'), args, { cwd: project, env: { ...hermeticEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  own.push(proc);
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  return { proc, out: () => out, exited: new Promise((resolve) => proc.on('exit', (code) => resolve(code))) };
}

/** 1-based line of the first line of `file` containing `needle`. */
function lineIn(file: string, needle: string): number {
  const i = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in ${file}`);
  return i + 1;
}

const APP = `function burnCpu(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x += Math.sqrt(i) * Math.sin(i);
  return x;
}

export default function app(request: Request): Response {
  return new Response(String(burnCpu(200_000)) + new URL(request.url).pathname);
}
`;

interface PackManifest {
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
}

const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackManifest;

/** Relative module references in a compiled file: static and dynamic imports, and `new URL('./x.js', import.meta.url)`. */
function relativeReferences(source: string): string[] {
  const patterns = [
    /\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/g,
    /\bimport\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g,
    /\bimport\s+['"](\.{1,2}\/[^'"]+)['"]/g,
    /new URL\(\s*['"](\.{1,2}\/[^'"]+\.(?:js|cjs|mjs))['"]\s*,\s*import\.meta\.url\s*\)/g,
  ];
  return patterns.flatMap((re) => [...source.matchAll(re)].map((m) => m[1]!));
}

describe('npm pack', () => {
  it('ships the server, the diagnostics layer, the inspector tooling and the docs', () => {
    for (const dir of ['dist/server/', 'dist/diagnostics/', 'dist/inspector/', 'docs/']) {
      expect(files.some((f) => f.startsWith(dir)), dir).toBe(true);
    }
    expect(files).toEqual(expect.arrayContaining(['dist/vendor/pino.cjs', 'README.md', 'DEBUGGING.md', 'package.json']));
  });

  it("ships every file its shipped docs link to or name under examples/ (N11): the installed README's commands and links work", () => {
    const shipped = new Set(files);
    const missing: string[] = [];
    for (const doc of files.filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(path.join(ROOT, doc), 'utf8');
      for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(m[1]!)) continue; // https:, mailto:
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(doc), m[1]!));
        if (!shipped.has(target)) missing.push(`${doc} links ${m[1]}`);
      }
      for (const m of text.matchAll(/\bexamples\/[\w.-]+\.(?:ts|mjs|js)\b/g)) if (!shipped.has(m[0])) missing.push(`${doc} names ${m[0]}`);
    }
    expect([...new Set(missing)]).toEqual([]);
  });

  it('ships no benchmark and no test file', () => {
    const unwanted = files.filter((f) => /^(dist\/)?(bench|test)\//.test(f) || /\.test\.[cm]?[jt]s$/.test(f));
    expect(unwanted).toEqual([]);
  });

  it('ships the bin target and every exports target', () => {
    const targets = [
      ...Object.values(manifest.bin),
      ...Object.values(manifest.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t))),
    ].map((t) => path.posix.normalize(t));
    expect(targets).toContain('dist/server/cli.js');
    expect(files).toEqual(expect.arrayContaining(targets));
  });

  it('ships every module that a shipped module loads by a relative path', () => {
    const shipped = new Set(files);
    const missing: string[] = [];
    for (const file of files.filter((f) => /\.(js|cjs|mjs)$/.test(f))) {
      const source = readFileSync(path.join(ROOT, file), 'utf8');
      for (const ref of relativeReferences(source)) {
        const target = path.posix.join(path.posix.dirname(file), ref);
        if (!shipped.has(target)) missing.push(`${file} -> ${ref}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

/**
 * The project's app.ts served by its node_modules/.bin/tspuma with an inspector, booted when a case
 * first asks: the profile case profiles it, the port-in-use case takes its port for the one held
 * (one boot, not two). Stopped with SIGTERM after the last case, which must exit 0.
 */
let served: Promise<{ server: ReturnType<typeof bin>; url: string; json: () => Record<string, unknown>[] }> | null = null;
function servedApp(): NonNullable<typeof served> {
  served ??= (async () => {
    writeFileSync(join(project, 'app.ts'), APP);
    const server = bin(['--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', 'app.ts']);
    const json = () => server.out().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const ready = await waitFor(() => json().find((l) => l.msg === 'Use Ctrl-C to stop'), 'the boot line', 30_000);
    return { server, url: (ready.urls as string[])[0]!, json };
  })();
  return served;
}

describe('the packed tarball installed into a new project', () => {
  afterAll(async () => {
    if (!served) return;
    const { server } = await served;
    server.proc.kill('SIGTERM');
    expect(await server.exited, server.out()).toBe(0);
  });

  beforeAll(async () => {
    project = join(dir, 'project');
    mkdirSync(project);
    // The tarball as the project's dependency, with a lock (projectLock): what a project's CI runs.
    const ref = `file:${path.relative(project, tarball)}`;
    writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'shop', private: true, type: 'module', dependencies: { tspuma: ref } })}\n`);
    writeFileSync(join(project, 'package-lock.json'), projectLock(tarball, ref));
    const install = await command('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: project, timeoutMs: 170_000, env: npmEnv() });
    installOutput = install.stdout + install.stderr;
    expect(install.status, installOutput).toBe(0);
  }, 240_000 * SLOWNESS);

  it('installs without building tspuma: no install script of tspuma runs or is announced', () => {
    expect(installOutput).not.toMatch(/tspuma@[\d.]+ \((prepare|install|postinstall|preinstall)/);
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules/tspuma/package.json'), 'utf8')) as { scripts?: Record<string, string> };
    expect(Object.keys(manifest.scripts ?? {}).filter((k) => /^(pre|post)?(install|prepare)$/.test(k))).toEqual([]);
    expect(existsSync(join(project, 'node_modules/tspuma/dist/server/cli.js'))).toBe(true);
  });

  it("serves the project's .ts app from node_modules/.bin/tspuma, and its inspect profile maps frames to files that exist: app.ts lines and tspuma's own .ts sources", async () => {
    const { url, json } = await servedApp();
    expect(await (await fetch(`${url}/x`)).text()).toMatch(/\/x$/);
    const discovery = String(json().find((l) => typeof l.inspect === 'string')!.inspect).replace(/\/json\/list$/, '');
    const out = join(project, 'p.cpuprofile');
    const profiler = bin(['inspect', 'profile', '--seconds', '1', '--out', out, '--url', discovery]);
    let done = false;
    void profiler.exited.then(() => (done = true));
    const deadline = Date.now() + 30_000;
    // Paced, not back to back: a /burn of a few ms every 20 ms puts a few hundred samples in burnCpu
    // over the profile's second, and the server does not burn a core for as long as the profiler
    // takes to start and write (seconds on a loaded machine).
    for (let n = 0; !done && n < 2000 && Date.now() < deadline; n++) {
      await (await fetch(`${url}/burn`)).text();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await profiler.exited, profiler.out()).toBe(0);
    const profile = JSON.parse(readFileSync(out, 'utf8')) as CpuProfile;
    const files = new Set(profile.nodes.map((n) => n.callFrame.url).filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u)));
    const app = join(project, 'app.ts');
    const burn = profile.nodes.filter((n) => n.callFrame.url.startsWith('file:') && fileURLToPath(n.callFrame.url) === app && n.callFrame.functionName === 'burnCpu');
    expect(burn.length).toBeGreaterThan(0);
    for (const n of burn) expect(APP.split('\n')[n.callFrame.lineNumber]).toContain('function burnCpu(');
    const tspuma = [...files].filter((f) => f.startsWith(join(project, 'node_modules/tspuma/')));
    expect(tspuma.filter((f) => /\/node_modules\/tspuma\/(server|diagnostics|inspector)\/.*\.ts$/.test(f)).length, [...files].join('\n')).toBeGreaterThan(0);
    expect(tspuma.filter((f) => !existsSync(f))).toEqual([]);
    // The maps carry their sources too, for tools that read them from the map.
    const map = JSON.parse(readFileSync(join(project, 'node_modules/tspuma/dist/server/server.js.map'), 'utf8')) as { sourcesContent?: string[] };
    expect(map.sourcesContent?.[0]).toContain('export class Server');
  }, 90_000 * SLOWNESS);

  // tspuma's own files sit under node_modules/ here: its coded errors are still the failure a
  // [config] or [listen] dump is for, captured with values, its frames shown in full.
  it('dumps a bad backlog from the installed bin with values: > #0 parseBacklog at node_modules/tspuma/server/binder-uri.ts with raw="abc"', async () => {
    writeFileSync(join(project, 'app.ts'), APP);
    const s = bin(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0?backlog=abc', 'app.ts']);
    expect(await s.exited).toBe(1);
    const line = lineIn(join(project, 'node_modules/tspuma/server/binder-uri.ts'), "throw new TspumaError('TSPUMA_ERR_BIND_BACKLOG'");
    expect(s.out()).toMatch(new RegExp(`\\n  > #0 parseBacklog  node_modules/tspuma/server/binder-uri\\.ts:${line}:\\d+\\n {8}raw="abc"  `));
    expect(s.out()).toMatch(/\n    #1 parseBind  node_modules\/tspuma\/server\/binder-uri\.ts:\d+:\d+\n {8}\S+=/);
    expect(s.out()).not.toContain('no values were captured');
    // DEBUGGING.md's excerpt is this run's output, line for line (tspuma's own line numbers as
    // patterns), and each of tspuma's frames shown with a source line is mapped to its .ts line.
    expect(excerptMissing(docBlock('DEBUGGING.md', "$ npx tspuma -d --inspect=off -b 'tcp://127.0.0.1:0?backlog=abc' app.ts"), s.out()), s.out()).toEqual([]);
    expect(ownSourceMismatches(s.out(), project), s.out()).toEqual([]);
  });

  it('dumps a port in use from the installed bin with the listen frame and its spec: > #0 listen at node_modules/tspuma/server/binder.ts', async () => {
    const { server: holder, url } = await servedApp();
    const port = new URL(url).port;
    const s = bin(['-b', `tcp://127.0.0.1:${port}?backlog=5000`, 'app.ts'], { TSPUMA_OPTS: '-d --inspect=off' });
    expect(await s.exited).toBe(1);
    expect(s.out()).toMatch(/tspuma dump #1 \[listen\] TspumaError: Cannot listen on .*EADDRINUSE/);
    expect(s.out()).toMatch(/\n  > #0 listen  node_modules\/tspuma\/server\/binder\.ts:\d+:\d+\n {8}[^\n]*  spec=Object \{uri: "tcp:\/\/127\.0\.0\.1:\d+\?backlog=5000"/);
    expect(s.out()).not.toContain('no values were captured');
    const somaxconn = readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim();
    const excerpt = substitute(docBlock('DEBUGGING.md', "$ npx tspuma -d -b 'tcp://127.0.0.1:9292?backlog=5000' app.ts"), { '9292': port, '15172': String(holder.proc.pid), 'somaxconn=4096': `somaxconn=${somaxconn}` });
    expect(excerptMissing(excerpt, s.out()), s.out()).toEqual([]);
    expect(ownSourceMismatches(s.out(), project), s.out()).toEqual([]);
  }, 60_000 * SLOWNESS);

  it('has tspuma doctor, which says how to install clinic when the project has none', async () => {
    const doctor = bin(['doctor', '-d', '1', 'app.ts']);
    expect(await doctor.exited).toBe(1);
    expect(doctor.out()).toMatch(/TSPUMA_ERR_CLI_USAGE: tspuma doctor runs clinic, which is not installed in \S+ \(nor beside tspuma\): npm install --save-dev clinic/);
  });
});
