// Which of tspuma's modules a cluster primary (and its worker) loads: with debug off and no --inspect, none of the
// diagnostics layer (capture, dumps, sinks) and none of the inspector's (DevTools targets, live
// stacks, autopsies), as the `debug` option's description promises. Each module the primary
// process loads is recorded by test/fixtures/module-log (--import): with module hooks where a
// case reads the app's file or node_modules, without them (`lite`) where it reads tspuma's chunks.
// The build groups the modules into chunk files (scripts/build.mjs; dist/chunks.json names each
// module's chunk): the hooks list each chunk file as it is read and each of its modules as it
// runs, so each promise is kept twice: by the modules that ran, and by the chunk files read.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, boot, killAll, run, type Booted } from '../helpers/cli.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('module-log');
// killAll ends each server and every process below it (a SIGKILLed primary's worker would drain and
// exit on its own seconds later, writing its module log into dir while rmSync walks it: ENOTEMPTY
// in CI on ce8ef8a). Every process that wrote a log has ended before the folder goes.
afterAll(async () => {
  await killAll();
  const running = readdirSync(dir)
    .map((f) => Number(f.replace(/\.txt$/, '')))
    .filter((pid) => {
      try {
        return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
      } catch {
        return false; // ended
      }
    });
  rmSync(dir, { recursive: true, force: true });
  expect(running, 'processes that wrote a module log, still running after killAll').toEqual([]);
});

const DIST = pathToFileURL(`${ROOT}dist/`).href;
const probe = { NODE_OPTIONS: `--import=${pathToFileURL(`${ROOT}test/fixtures/module-log/register.mjs`).href}`, MODULE_LOG_DIR: dir };
/**
 * The log without module hooks (register.mjs, MODULE_LOG_HOOKS=0), for the processes whose cases
 * read only the chunks' modules, chunk files and thread entries: no hooks thread in the process and
 * in each of its workers (about 0.15 s of CPU each). Beside the hooks' list of the same boot it lacks
 * only the bin, the chunk runner and its code-cache module (test/README.md, session 21). The cases
 * that read the app's file, node_modules or node's own modules keep the hooks (`probe`).
 */
const lite = { ...probe, MODULE_LOG_HOOKS: '0' };

/** Everything of dist/ the process `pid` listed so far (paths under dist/): modules and chunk files. */
function listedBy(pid: number): string[] {
  const urls = readFileSync(join(dir, `${pid}.txt`), 'utf8').split('\n');
  return urls.filter((u) => u.startsWith(DIST)).map((u) => u.slice(DIST.length));
}

/** tspuma's modules (paths under dist/) the process `pid` ran so far (or loaded, a thread's from tsc's files). */
function loadedBy(pid: number): string[] {
  return listedBy(pid).filter((m) => !m.endsWith('.chunk.js'));
}

/** The chunk files (paths under dist/) the process `pid` read so far. */
function chunksOf(pid: number): string[] {
  return listedBy(pid).filter((m) => m.endsWith('.chunk.js'));
}

/** The build's plan: each module's chunk file (scripts/build.mjs). */
const manifest = JSON.parse(readFileSync(`${ROOT}dist/chunks.json`, 'utf8')) as { modules: Record<string, string> };
/** The chunk file holding module `m` (a path under dist/). */
function chunkOf(m: string): string {
  const chunk = manifest.modules[m];
  if (chunk === undefined) throw new Error(`${m}: in no chunk of dist/chunks.json`);
  return chunk;
}
/** Chunk files under diagnostics/ or inspector/, but the log redaction rules' own. */
const debugChunks = (chunks: string[]) => chunks.filter((c) => /^(diagnostics|inspector)\//.test(c) && c !== chunkOf(LOG_REDACTION));

/**
 * The one module under diagnostics/ that is not the diagnostics layer: the redaction rules every
 * log line goes through (server/logger.ts), loaded in every process.
 */
const LOG_REDACTION = 'diagnostics/redact.js';

/**
 * What a cluster primary never loads (it serves no request; issue 31): the app loader with its
 * adapters and request handling, single mode's Server, the package entry. 71 of tspuma's
 * modules before, 47 since.
 */
const NOT_IN_PRIMARY = ['server/app-loader.js', 'server/adapters.js', 'server/rack.js', 'server/response.js', 'server/fetch-request.js', 'server/fetch-globals.js', 'server/single.js', 'server/server.js', 'server/request-lifecycle.js', 'server/index.js', 'server/start.js'];

/**
 * What a plain single-mode boot (no control URL, no config file, one tcp:// bind) never loads: the
 * control app and probes, cluster mode, the health listener (--health-url), the PROXY protocol's
 * reader and the TLS file checks (a bind that asks for them).
 */
const NOT_IN_SINGLE = /^server\/(control|probe-[a-z-]+|cluster\/[a-z-]+|health|proxy-protocol|tls-files)\.js$/;
/** What a cluster's primary and its worker do not load without --health-url, a ?proxy_protocol= or an ssl:// bind. */
const ON_DEMAND = ['server/health.js', 'server/proxy-protocol.js', 'server/tls-files.js'];

/**
 * What a cluster primary loads only when it is used: the preload check with --preload, the filter
 * of its workers' stderr with DevTools (--inspect or -d), the check of who owns a pidfile or state
 * file (and its process probe) with --pidfile or -S.
 */
const PRIMARY_ON_DEMAND = ['server/cluster/preload-check.js', 'server/cluster/worker-stderr.js', 'server/own-files.js', 'server/process-alive.js'];

/**
 * Single-mode servers shared by cases that read what one boot loaded, booted when a case first
 * asks: examples/hello.ts with no option (the debug-off case and the .ts entry case), and a .mjs
 * app that does not import tspuma on a ?proxy_protocol= bind with --health-url (the on-demand
 * case and the .mjs entry case).
 */
let singleTs: Promise<Booted> | undefined;
const sharedSingleTs = () => (singleTs ??= boot(['-b', 'tcp://127.0.0.1:0', 'examples/hello.ts'], probe));
let singleMjs: Promise<Booted> | undefined;
const sharedSingleMjs = () => (singleMjs ??= boot(['-b', 'tcp://127.0.0.1:0?proxy_protocol=v1', '--health-url', 'tcp://127.0.0.1:0', 'test/fixtures/apps/fetch-abort-app.mjs'], lite));

/**
 * What a single-mode `.mjs` Rack app's process loaded from its boot to its exit after one request
 * and SIGTERM: the two "up to the exit" cases read one such run's whole list (undici and the
 * OpenTelemetry API; the lazy exports of node:util and node:net). Run when the first asks.
 */
let singleRunToExit: Promise<string[]> | undefined;
const loadedUpToTheExit = () =>
  (singleRunToExit ??= (async () => {
    const s = await boot(['-b', 'tcp://127.0.0.1:0', 'test/fixtures/apps/hello.mjs'], probe);
    expect(await (await fetch(s.url)).text()).toBe('Hello World\n');
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    return readFileSync(join(dir, `${s.proc.pid}.txt`), 'utf8').split('\n');
  })());

async function primaryOf(args: string[]): Promise<{ s: Booted; modules: string[] }> {
  const s = await boot(['-w', '1', '-b', 'tcp://127.0.0.1:0', ...args, 'examples/hello.ts'], lite);
  // The primary loads the control app and writes the state file after the first boot line.
  const modules = await waitFor(() => {
    const m = loadedBy(s.proc.pid!);
    return m.includes('server/control.js') ? m : null;
  }, 'the control app loaded in the primary');
  return { s, modules };
}

describe('the modules a cluster primary loads', () => {
  it('with debug off and no --inspect: none under diagnostics/ (but the log redaction rules) or inspector/, in the primary and in its worker; no app loader, adapters or Server in the primary, nor the preload check, the filter of the workers\' stderr or the pidfile owner check (no --preload, no DevTools, no pidfile or state file)', async () => {
    const { s, modules } = await primaryOf(['--control-url', 'tcp://127.0.0.1:0']);
    expect(modules).toContain('server/cluster/primary.js');
    expect(modules.filter((m) => /^(diagnostics|inspector)\//.test(m) && m !== LOG_REDACTION)).toEqual([]);
    expect(modules.filter((m) => NOT_IN_PRIMARY.includes(m)), 'request handling in the primary').toEqual([]);
    // The same by chunk file: the redaction rules are a chunk of their own, request handling another.
    expect(chunksOf(s.proc.pid!)).toContain(chunkOf('server/cluster/primary.js'));
    expect(debugChunks(chunksOf(s.proc.pid!)), 'chunks of the primary').toEqual([]);
    expect(chunksOf(s.proc.pid!).filter((c) => NOT_IN_PRIMARY.map(chunkOf).includes(c)), 'request handling\'s chunks in the primary').toEqual([]);
    const booted = s.lines().find((l) => /^- Worker 0 \(PID: \d+\) booted/.test(String(l.msg)))!;
    const worker = loadedBy(Number(/PID: (\d+)/.exec(String(booted.msg))![1]));
    expect(worker).toContain('server/cluster/worker.js');
    expect(worker.filter((m) => /^(diagnostics|inspector)\//.test(m) && m !== LOG_REDACTION)).toEqual([]);
    expect(debugChunks(chunksOf(Number(/PID: (\d+)/.exec(String(booted.msg))![1]))), 'chunks of the worker').toEqual([]);
    expect(modules.filter((m) => ON_DEMAND.includes(m)), 'the primary').toEqual([]);
    // Neither --preload, DevTools, --pidfile nor -S here; the names are those of built modules (not a stale list).
    expect(PRIMARY_ON_DEMAND.filter((m) => existsSync(`${ROOT}dist/${m}`))).toEqual(PRIMARY_ON_DEMAND);
    expect(modules.filter((m) => PRIMARY_ON_DEMAND.includes(m)), 'the primary, without --preload, DevTools, --pidfile or -S').toEqual([]);
    // The preload check and the stderr filter are chunks of their own, read only when used.
    expect(chunksOf(s.proc.pid!).filter((c) => ['server/cluster/preload-check.js', 'server/cluster/worker-stderr.js'].map(chunkOf).includes(c))).toEqual([]);
    expect(worker.filter((m) => ON_DEMAND.includes(m)), 'the worker').toEqual([]);
  }, 60_000 * SLOWNESS);

  it('single mode with debug off: none under diagnostics/ (but the log redaction rules) or inspector/, nor the control app, probes or cluster mode', async () => {
    const s = await sharedSingleTs();
    const modules = loadedBy(s.proc.pid!);
    expect(modules).toContain('server/single.js');
    expect(modules.filter((m) => /^(diagnostics|inspector)\//.test(m) && m !== LOG_REDACTION)).toEqual([]);
    expect(modules.filter((m) => NOT_IN_SINGLE.test(m))).toEqual([]);
    expect(debugChunks(chunksOf(s.proc.pid!)), 'chunks').toEqual([]);
    // The chunks that hold nothing but such modules (some of cluster mode's are shared with single mode's boot chunk).
    const chunks = [...new Set(Object.values(manifest.modules))];
    const notInSingle = chunks.filter((c) => Object.entries(manifest.modules).every(([m, f]) => f !== c || NOT_IN_SINGLE.test(m)));
    expect(notInSingle.map((c) => c.replace(/\.chunk\.js$/, '')).sort(), 'the control app\'s, cluster mode\'s and the on-demand modules\' chunks').toEqual(expect.arrayContaining(['server/control', 'server/cluster/primary', 'server/health', 'server/tls-files']));
    expect(chunksOf(s.proc.pid!).filter((c) => notInSingle.includes(c))).toEqual([]);
  }, 60_000 * SLOWNESS);

  it('single mode, a Rack app, no SDK registered: neither undici (the fetch globals), the installed @opentelemetry/api nor node:crypto is loaded, up to the exit after a request', async () => {
    const loaded = await loadedUpToTheExit();
    // The list is whole: the exit's builtins came, with node:http's among them.
    expect(loaded).toContain('builtin:_http_server');
    expect(loaded.filter((m) => m.includes('undici') || m.includes('@opentelemetry/api'))).toEqual([]);
    // Nor node:crypto: the Rack env's request id takes its random prefix from /dev/urandom (server/lazy-crypto.ts).
    expect(loaded.filter((m) => /^builtin:(crypto$|internal\/crypto\/)/.test(m))).toEqual([]);
  }, 60_000 * SLOWNESS);

  it('single mode reads none of the lazy exports an ES import of node:util, node:net or node:crypto would read (parseArgs, MIMEType, BlockList, SocketAddress, webcrypto), up to the exit', async () => {
    // The build gives each bundled module a require() of its builtins (scripts/build.mjs,
    // lazyBuiltins), and chunk-run.ts and code-cache.ts, which run before any chunk, take theirs
    // so too: an ES import builds the builtin's namespace, reading every lazy export.
    const loaded = await loadedUpToTheExit();
    expect(loaded).toContain('builtin:_http_server');
    const lazy = ['internal/util/parse_args/parse_args', 'internal/mime', 'internal/blocklist', 'internal/socketaddress', 'internal/crypto/webcrypto'];
    expect(loaded.filter((m) => lazy.includes(m.replace(/^builtin:/, '')))).toEqual([]);
  }, 60_000 * SLOWNESS);

  it('a plain single boot stopped before any request loads no node:crypto: cache names need no cryptographic hash, and request ids, temporary file names and the machine tag load it when they make one (~2 ms a process: issue 31, boot5)', async () => {
    const s = await boot(['-b', 'tcp://127.0.0.1:0', 'test/fixtures/apps/hello.mjs'], lite);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    const loaded = readFileSync(join(dir, `${s.proc.pid}.txt`), 'utf8').split('\n');
    // The list is whole: the exit's builtins came, with node:http's among them.
    expect(loaded).toContain('builtin:_http_server');
    expect(loaded.filter((m) => /^builtin:(crypto$|internal\/crypto\/)/.test(m))).toEqual([]);
  }, 60_000 * SLOWNESS);

  it('without --control-url: no control app and no probe registry (a probe is set through the control app alone)', async () => {
    const s = await boot(['-w', '1', '-b', 'tcp://127.0.0.1:0', 'test/fixtures/apps/hello.mjs'], lite);
    await waitFor(() => s.lines().find((l) => /^- Worker 0 \(PID: \d+\) booted/.test(String(l.msg))), 'worker 0 booted');
    expect(await (await fetch(s.url)).text()).toBe('Hello World\n');
    const modules = loadedBy(s.proc.pid!);
    expect(modules).toContain('server/cluster/primary.js');
    expect(modules.filter((m) => ['server/control.js', 'server/cluster/probe-registry.js', 'server/probe-spec.js', 'server/probe-anchor.js'].includes(m))).toEqual([]);
  }, 60_000 * SLOWNESS);

  it('with --inspect: the DevTools module (targets, live stacks, autopsies) and discovery are loaded', async () => {
    const { modules } = await primaryOf(['--control-url', 'tcp://127.0.0.1:0', '--inspect=127.0.0.1:0']);
    expect(modules).toEqual(expect.arrayContaining(['inspector/setup.js', 'inspector/remote.js', 'inspector/autopsy.js']));
  }, 60_000 * SLOWNESS);
});

describe('what a single-mode boot loads on demand', () => {
  it('--health-url and a ?proxy_protocol= bind load their modules (no TLS checks without an ssl:// bind), and serve', async () => {
    const s = await sharedSingleMjs();
    const modules = loadedBy(s.proc.pid!);
    expect(modules).toEqual(expect.arrayContaining(['server/health.js', 'server/proxy-protocol.js']));
    expect(modules).not.toContain('server/tls-files.js');
    const health = s.lines().map((l) => /^\* Health checks on (\S+)/.exec(String(l.msg))?.[1]).find(Boolean);
    expect(health, s.stdout()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${health}/health`)).status).toBe(200);
  }, 60_000 * SLOWNESS);

  // The package entry (index.js, start.js) is imported before a TypeScript app, whose own import
  // of 'tspuma' would go through the loader's thread (about 2 ms a module more); a .js/.mjs app
  // that never imports it never loads it.
  it('a .mjs app that does not import tspuma: no package entry and no TypeScript loader; a .ts app: the entry before the app\'s file', async () => {
    const plain = await sharedSingleMjs();
    expect(loadedBy(plain.proc.pid!)).toContain('server/single.js');
    expect(loadedBy(plain.proc.pid!).filter((m) => ['server/index.js', 'server/start.js', 'server/ts-loader.js', 'server/ts-hooks.js'].includes(m))).toEqual([]);
    const ts = await sharedSingleTs();
    const urls = readFileSync(join(dir, `${ts.proc.pid}.txt`), 'utf8').split('\n');
    const app = urls.indexOf(pathToFileURL(`${ROOT}examples/hello.ts`).href);
    expect(app, 'the app\'s file in the list').toBeGreaterThan(0);
    const entry = urls.indexOf(`${DIST}server/index.js`);
    expect(entry, 'the package entry in the list').toBeGreaterThan(-1);
    expect(entry).toBeLessThan(app);
  }, 60_000 * SLOWNESS);
});

describe('the modules a single-mode .ts boot loads after its app', () => {
  // Once a .ts app's loader is registered, each import is resolved and loaded through its
  // module-hooks thread (about 2 ms of CPU a module more: issue 31): what runSingle imports
  // lazily for --inspect and --control-url is loaded before the app instead.
  it('with -d and --control-url: the inspector\'s, the control app\'s and the probes\' modules are loaded before the app\'s file', async () => {
    const s = await boot(['-d', '--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', 'examples/hello.ts'], probe);
    const urls = readFileSync(join(dir, `${s.proc.pid}.txt`), 'utf8').split('\n');
    const app = urls.indexOf(pathToFileURL(`${ROOT}examples/hello.ts`).href);
    expect(app, 'the app\'s file in the list').toBeGreaterThan(0);
    const lazy = ['inspector/setup.js', 'inspector/open.js', 'server/control.js', 'server/cluster/probe-registry.js', 'server/probe-host.js'];
    // Each one's first load (the list also holds what the process's other threads load, later).
    const firstLoads = Object.fromEntries(lazy.map((m) => [m, urls.indexOf(`${DIST}${m}`)]));
    expect(lazy.filter((m) => firstLoads[m]! === -1 || firstLoads[m]! > app), `loaded after the app (line ${app}): ${JSON.stringify(firstLoads)}`).toEqual([]);
  }, 60_000 * SLOWNESS);
});

describe('what a -d single-mode boot reads', () => {
  // The inspector's setup and opening are a chunk of their own: the probe engine, the clients of
  // `tspuma inspect` and the primary's DevTools (with the control app they need) were read by
  // every -d boot with them, about 40 ms of its main thread's CPU (bench/README, session 18 dboot2).
  it('with -d and no --control-url: discovery is served, and neither the probe engine\'s chunk nor the control app\'s is read; their modules do not run', async () => {
    const s = await boot(['-d', '--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', 'examples/hello.ts'], lite);
    const list = s.lines().map((l) => /^\* Inspector discovery: (\S+)/.exec(String(l.msg))?.[1]).find(Boolean);
    expect(list, s.stdout()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/json\/list$/);
    expect(((await (await fetch(list!)).json()) as { id: string }[]).map((t) => t.id)).toEqual(['tspuma-single']);
    const modules = loadedBy(s.proc.pid!);
    expect(modules).toEqual(expect.arrayContaining(['inspector/setup.js', 'inspector/open.js', 'diagnostics/capture.js']));
    const unused = ['inspector/probes.js', 'inspector/remote.js', 'inspector/primary-devtools.js', 'server/control.js', 'server/cluster/probe-registry.js'];
    expect(modules.filter((m) => unused.includes(m)), 'modules').toEqual([]);
    expect(chunksOf(s.proc.pid!).filter((c) => unused.map(chunkOf).includes(c)), 'chunks').toEqual([]);
  }, 60_000 * SLOWNESS);

  // Probes run in the workers (probe-host.ts); the primary's DevTools need remote.ts, not the probe engine.
  it('a -d cluster primary without --control-url: discovery lists its worker, and neither the probe engine\'s chunk nor the control app\'s is read', async () => {
    const s = await boot(['-d', '--inspect=127.0.0.1:0', '-w', '1', '-b', 'tcp://127.0.0.1:0', 'examples/hello.ts'], lite);
    await waitFor(() => s.lines().find((l) => /^- Worker 0 \(PID: \d+\) booted/.test(String(l.msg))), 'worker 0 booted');
    const list = s.lines().map((l) => /^\* Inspector discovery: (\S+)/.exec(String(l.msg))?.[1]).find(Boolean);
    const ids = await waitFor(async () => {
      const targets = ((await (await fetch(list!)).json()) as { id: string }[]).map((t) => t.id);
      return targets.includes('tspuma-worker-0') ? targets : null;
    }, 'worker 0 in the list');
    expect(ids).toEqual(expect.arrayContaining(['tspuma-primary', 'tspuma-worker-0']));
    const modules = loadedBy(s.proc.pid!);
    expect(modules).toEqual(expect.arrayContaining(['inspector/primary-devtools.js', 'inspector/remote.js']));
    const unused = ['inspector/probes.js', 'server/control.js'];
    expect(modules.filter((m) => unused.includes(m)), 'modules').toEqual([]);
    expect(chunksOf(s.proc.pid!).filter((c) => unused.map(chunkOf).includes(c)), 'chunks').toEqual([]);
  }, 60_000 * SLOWNESS);
});

describe('the modules a sub-command loads', () => {
  // (inspect reads the config file for its address: options and config-file are its own.)
  it('`tspuma ctl|probe --help` load the bin and their own modules: none of the server\'s (options, logger, systemd, debug mode)', async () => {
    for (const sub of ['ctl', 'probe']) {
      const p = run([sub, '--help'], lite);
      expect(await p.exited, p.stderr()).toBe(0);
      expect(p.stdout()).toMatch(new RegExp(`^usage:\\s+tspuma ${sub} `));
      const modules = loadedBy(p.proc.pid!);
      expect(modules).toContain(`server/cli/${sub}.js`);
      expect(modules.filter((m) => ['server/options.js', 'server/logger.js', 'server/systemd.js', 'server/debug-hook.js', 'server/config-file.js', 'server/cli/serve.js'].includes(m)), sub).toEqual([]);
      // Nor the server's boot chunk: what the commands share with it is a chunk of its own.
      expect(chunksOf(p.proc.pid!).filter((c) => ['server/options.js', 'server/logger.js', 'server/cli/serve.js'].map(chunkOf).includes(c)), sub).toEqual([]);
    }
  }, 60_000 * SLOWNESS);

  it('`tspuma inspect list --url` reads the list with its own module: no attaching client (remote, rendering), no options registry, no config file reader', async () => {
    // A discovery stand-in: one tspuma target, as /json/list lists it.
    const entry = { id: 'tspuma-single', title: 'tspuma (pid 1)', url: 'file:///', devtoolsFrontendUrl: 'devtools://x', webSocketDebuggerUrl: 'ws://127.0.0.1:1/tspuma-single', tspuma: { pid: 1, worker: null } };
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([entry])));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const p = run(['inspect', 'list', '--url', `http://127.0.0.1:${(server.address() as AddressInfo).port}`], lite);
      expect(await p.exited, p.stderr()).toBe(0);
      expect(p.stdout()).toContain('tspuma-single');
      const modules = loadedBy(p.proc.pid!);
      expect(modules).toContain('server/cli/inspect.js');
      expect(modules.filter((m) => /^(inspector|diagnostics)\//.test(m) || ['server/options.js', 'server/option-records.js', 'server/config-file.js', 'server/private-file.js'].includes(m))).toEqual([]);
      expect(debugChunks(chunksOf(p.proc.pid!)), 'chunks').toEqual([]);
      expect(chunksOf(p.proc.pid!).filter((c) => ['server/options.js', 'server/option-records.js'].map(chunkOf).includes(c)), 'the options registry\'s chunk').toEqual([]);
    } finally {
      server.close();
    }
  }, 60_000 * SLOWNESS);
});

