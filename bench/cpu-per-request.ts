// `node dist/bench/cpu-per-request.js`: what one request costs the server, in measures a busy
// machine does not blur: instructions per request under callgrind (repeatable whatever else runs),
// CPU µs per request from /proc over a fixed client (wrk), and a CPU profile's self time per
// function, in µs per request. tspuma's listener and Rack paths are set against raw node:http with
// the same client and request count; bench/README.md says how to read the figures.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { canPin, children, mainThreadCpuSeconds, pin, processTree, threadTimes, treeCpuSeconds } from './cpu.js';
import { callersOf, readPerfMap, selfByFunction } from './callgrind-functions.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What the client sends: GET / unless a target says otherwise. */
interface Shape {
  method: 'GET' | 'POST';
  path: string;
  /** Request body bytes (POST). */
  body: number;
  /** Statuses the client accepts besides 200 (the throwing app's 500s). */
  also?: number[];
  /** The server may close the connection without a response (a throw after writeHead): counted, not an error. */
  hangups?: boolean;
}
const HELLO: Shape = { method: 'GET', path: '/', body: 0 };
/** bench/throw-app.ts: every tenth request is a 500 (with Connection: close). */
const THROWS: Shape = { ...HELLO, also: [500] };
/** bench/throw-listener-app.ts: every tenth request's connection is closed without a response. */
const THROWS_AFTER_HEAD: Shape = { ...HELLO, hangups: true };

interface Target {
  name: string;
  /** The target its ratios are taken against (same client, same request count). */
  baseline: string | null;
  /** argv after `node` (the server listens on `port`), from a built checkout at `root`. */
  argv(port: number, root?: string): string[];
  cluster?: boolean;
  /**
   * A one-worker cluster counted under callgrind in its worker (valgrind follows the primary's
   * fork; the windows are the worker's instructions alone): what a worker does per request that
   * single mode does not. Its other modes run it as any cluster.
   */
  worker?: boolean;
  shape?: Shape;
  /** Answered 200 once the server is up. */
  ready?: string;
  /** Environment added to the server's (raw-inside: the port its own node:http server binds). */
  env?(port: number): Record<string, string>;
}

const tspuma = (port: number, app: string, extra: string[] = [], root = ROOT) => [`${root}dist/server/cli.js`, ...extra, '-q', '-e', 'production', '-b', `tcp://127.0.0.1:${port}`, `${root}${app}`];
/** A module run before paired.sh's anchor under callgrind: every node:http server it listens with keeps idle connections 20 s. */
const KEEPALIVE_20S = `data:text/javascript,${encodeURIComponent("import http from 'node:http'; const listen = http.Server.prototype.listen; http.Server.prototype.listen = function (...a) { this.keepAliveTimeout = 20000; return listen.apply(this, a); };")}`;

/** paired.sh's app folder for a checkout: SHARED's apps copied beside a link to its node_modules (made once a checkout). */
const appFolders = new Map<string, string>();
function sharedApps(root: string): string {
  let dir = appFolders.get(root);
  if (dir) return dir;
  const shared = process.env.SHARED ?? '/work/shared/bench';
  dir = mkdtempSync(path.join(os.tmpdir(), 'paired-apps-'));
  for (const f of readdirSync(path.join(shared, 'apps'))) copyFileSync(path.join(shared, 'apps', f), path.join(dir, f));
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n');
  appFolders.set(root, dir);
  process.on('exit', () => rmSync(dir!, { recursive: true, force: true }));
  return dir;
}

const TARGETS: Target[] = [
  { name: 'raw', baseline: null, argv: (port, root = ROOT) => [`${root}dist/bench/raw-node.js`, String(port)] },
  // Issue 27's discriminating target (bench/raw-inside-app.ts): raw node:http's handler on a server
  // of its own inside a tspuma process (tspuma's own server idle on port 0): what the process costs.
  { name: 'raw-inside', baseline: 'raw', env: (port) => ({ RAW_PORT: String(port) }), argv: (_port, root = ROOT) => [`${root}dist/server/cli.js`, '-q', '-e', 'production', '-b', 'tcp://127.0.0.1:0', `${root}bench/raw-inside-app.ts`] },
  { name: 'listener', baseline: 'raw', argv: (port, root) => tspuma(port, 'bench/listener-app.ts', [], root) },
  // paired.sh's listener row's own response shape: a chunked body on both sides (its apps set no
  // Content-Length; raw and listener above do).
  { name: 'raw-chunked', baseline: 'raw', env: () => ({ RAW_CHUNKED: '1' }), argv: (port, root = ROOT) => [`${root}dist/bench/raw-node.js`, String(port)] },
  { name: 'listener-chunked', baseline: 'raw-chunked', argv: (port, root) => tspuma(port, 'bench/listener-chunked-app.ts', [], root) },
  // The listener without the reconnection waves (maxKeepAlive 0: no connection closed by the server;
  // bench/unlimited-keepalive.config.mjs): what maxKeepAlive's 999 costs a request.
  { name: 'listener-unlimited', baseline: 'listener', argv: (port, root = ROOT) => tspuma(port, 'bench/listener-app.ts', ['-C', `${root}bench/unlimited-keepalive.config.mjs`], root) },
  // A reconnection for every request (issue 27, maxKeepAlive's waves): raw node:http closing each
  // connection after its first response (maxRequestsPerSocket 1) and tspuma's listener with
  // maxKeepAlive 1 (bench/one-request-keepalive.config.mjs), set against their never-closing rows:
  // the difference is what one connection's setup and close cost each server.
  { name: 'raw-close-each', baseline: 'raw', env: () => ({ RAW_MAX_REQUESTS: '1' }), argv: (port, root = ROOT) => [`${root}dist/bench/raw-node.js`, String(port)] },
  { name: 'listener-close-each', baseline: 'listener-unlimited', argv: (port, root = ROOT) => tspuma(port, 'bench/listener-app.ts', ['-C', `${root}bench/one-request-keepalive.config.mjs`], root) },
  { name: 'rack', baseline: 'raw', argv: (port, root) => tspuma(port, 'examples/hello.ts', [], root) },
  { name: 'raw-cluster', baseline: null, cluster: true, argv: (port, root = ROOT) => [`${root}dist/bench/raw-cluster.js`, String(port)] },
  { name: 'cluster', baseline: 'raw-cluster', cluster: true, argv: (port, root) => tspuma(port, 'examples/hello.ts', ['-w', '2'], root) },
  // The -w 2 row's per-request work, one worker counted (issue 27): node:cluster's own against raw,
  // tspuma's worker against its single mode (the Rack hello, as paired.sh's -w 2 row serves).
  { name: 'raw-w1', baseline: 'raw', cluster: true, worker: true, argv: (port, root = ROOT) => [`${root}dist/bench/raw-cluster.js`, String(port), '1'] },
  { name: 'rack-w1', baseline: 'rack', cluster: true, worker: true, argv: (port, root = ROOT) => tspuma(port, 'examples/hello.ts', ['-w', '1', '-C', `${root}bench/callgrind-worker.config.mjs`], root) },
  // Debug mode (issue 27): the listener with -d on a path that never throws, and an app whose every
  // tenth request throws (a 500), without and with -d.
  { name: 'listener-d', baseline: 'listener', argv: (port, root) => tspuma(port, 'bench/listener-app.ts', ['-d', '--inspect=127.0.0.1:0'], root) },
  // paired.sh's happy pair: -d as TSPUMA_OPTS=-d gives it (no inspector port).
  { name: 'listener-d-only', baseline: 'listener', argv: (port, root) => tspuma(port, 'bench/listener-app.ts', ['-d'], root) },
  { name: 'throws', baseline: null, shape: THROWS, argv: (port, root) => tspuma(port, 'bench/throw-app.ts', [], root) },
  { name: 'throws-d', baseline: 'throws', shape: THROWS, argv: (port, root) => tspuma(port, 'bench/throw-app.ts', ['-d', '--inspect=127.0.0.1:0'], root) },
  // paired.sh's throwing pair: a listener throwing after writeHead on every tenth request, -d as
  // TSPUMA_OPTS=-d gives it (no inspector port).
  { name: 'throws-listener', baseline: null, shape: THROWS_AFTER_HEAD, argv: (port, root) => tspuma(port, 'bench/throw-listener-app.ts', [], root) },
  { name: 'throws-listener-d', baseline: 'throws-listener', shape: THROWS_AFTER_HEAD, argv: (port, root) => tspuma(port, 'bench/throw-listener-app.ts', ['-d'], root) },
  { name: 'cluster-listener', baseline: 'raw-cluster', cluster: true, argv: (port, root) => tspuma(port, 'bench/listener-app.ts', ['-w', '2'], root) },
  // The anchors users compare with (issue 27): the same app module on @hono/node-server or on
  // Express's app.listen (bench/anchors.ts), and on tspuma.
  { name: 'hono-anchor', baseline: null, argv: (port, root = ROOT) => [`${root}dist/bench/anchors.js`, 'hono', String(port)] },
  { name: 'hono', baseline: 'hono-anchor', argv: (port, root) => tspuma(port, 'bench/hono-app.ts', [], root) },
  // paired.sh's Hono row exactly: its two files from ../shared/bench/apps (SHARED=, as
  // bench/fetch-rows.sh's), served from a folder beside the checkout's node_modules as paired.sh
  // serves them: the anchor is hono-node-server.mjs (its own Hono app, `fetch: app.fetch`, node's
  // 5 s keep-alive timeout), tspuma serves hono-app.ts.
  // Under callgrind its servers get anchors.ts's 20 s keep-alive timeout (KEEPALIVE_20S): node's 5 s cut
  // the client's kept connections of a server stalled that long by a loaded machine ('read ECONNRESET').
  { name: 'hono-paired-anchor', baseline: null, env: (port) => ({ PORT: String(port) }), argv: (_port, root = ROOT) => [...(MODE === 'callgrind' ? ['--import', KEEPALIVE_20S] : []), `${sharedApps(root)}/hono-node-server.mjs`] },
  { name: 'hono-paired', baseline: 'hono-paired-anchor', argv: (port, root = ROOT) => [`${root}dist/server/cli.js`, '-q', '-e', 'production', '-b', `tcp://127.0.0.1:${port}`, `${sharedApps(root)}/hono-app.ts`] },
  { name: 'fetch-anchor', baseline: null, argv: (port, root = ROOT) => [`${root}dist/bench/anchors.js`, 'fetch', String(port)] },
  { name: 'fetch', baseline: 'fetch-anchor', argv: (port, root) => tspuma(port, 'bench/fetch-app.ts', [], root) },
  // The fetch row without maxKeepAlive's reconnections (the anchor never closes a connection
  // either): what the waves cost the fetch row, against `fetch`.
  { name: 'fetch-unlimited', baseline: 'fetch', argv: (port, root = ROOT) => tspuma(port, 'bench/fetch-app.ts', ['-C', `${root}bench/unlimited-keepalive.config.mjs`], root) },
  { name: 'express-anchor', baseline: null, argv: (port, root = ROOT) => [`${root}dist/bench/anchors.js`, 'express', String(port)] },
  { name: 'express', baseline: 'express-anchor', argv: (port, root) => tspuma(port, 'bench/express-app.ts', [], root) },
  // The Express app with -d as TSPUMA_OPTS=-d gives it (no inspector port): -d's happy path on a framework's.
  { name: 'express-d-only', baseline: 'express', argv: (port, root) => tspuma(port, 'bench/express-app.ts', ['-d'], root) },
  // No-regression guards (issue 27): a streamed Rack body, a server-sent event stream, a 1 MB upload.
  { name: 'stream', baseline: null, shape: { method: 'GET', path: '/stream', body: 0 }, argv: (port, root) => tspuma(port, 'bench/stream-app.ts', [], root) },
  { name: 'sse', baseline: null, shape: { method: 'GET', path: '/sse', body: 0 }, argv: (port, root) => tspuma(port, 'bench/stream-app.ts', [], root) },
  { name: 'upload', baseline: null, shape: { method: 'POST', path: '/upload', body: 1 << 20 }, argv: (port, root) => tspuma(port, 'bench/stream-app.ts', [], root) },
];

const MODE = process.env.MODE ?? 'cpu';
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 10);
const SECONDS = Number(process.env.SECONDS ?? 2);
const ROUNDS = Number(process.env.ROUNDS ?? 6);
/** callgrind: requests before the counted windows (the JIT settles), per window, and windows. */
// MODE=instructions runs twelve servers: fewer, longer-warmed windows (the first window after a
// warm-up often runs about twice the others; three windows' median leaves it out).
const WARMUP = Number(process.env.WARMUP ?? (MODE === 'instructions' ? 20000 : 8000));
const REQUESTS = Number(process.env.REQUESTS ?? (MODE === 'instructions' ? 2000 : 3000));
const WINDOWS = Number(process.env.WINDOWS ?? (MODE === 'instructions' ? 3 : 4));
/**
 * callgrind: node flags for every server. V8 sizes the young generation by what survives, and
 * under callgrind's pace one server's stayed at a quarter of another's, so it collected twice as
 * often per request for the same allocations (1,500 instructions per request of GC roots alone):
 * a fixed size makes the GC share follow what a request allocates. `CALLGRIND_NODE_FLAGS=` for none.
 */
const CALLGRIND_NODE_FLAGS = (process.env.CALLGRIND_NODE_FLAGS ?? '--min-semi-space-size=16 --max-semi-space-size=16').split(' ').filter(Boolean);

/**
 * BASE=/path/to/another/built/checkout (the code before a change): each target also runs from
 * there, as `NAME@base`, in the same alternating rounds; its ratio is taken against that twin.
 */
const BASE = process.env.BASE ? `${path.resolve(process.env.BASE)}/` : null;

/**
 * BASELINES=rack=listener[,NAME=OTHER...]: takes a target's ratios and function differences
 * against another target of the same run (the Rack hello against the listener: what the Rack
 * adapter adds over the request path both share).
 */
const BASELINES = new Map((process.env.BASELINES ?? '').split(',').filter(Boolean).map((pair) => pair.split('=') as [string, string]));

function selected(): Target[] {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown target(s) ${unknown.join(', ')}; known: ${TARGETS.map((t) => t.name).join(', ')}\n`);
    process.exit(2);
  }
  const chosen = (names.length === 0 ? TARGETS.filter((t) => ['raw', 'listener', 'rack'].includes(t.name)) : names.map((n) => TARGETS.find((t) => t.name === n)!)).map((t) =>
    BASELINES.has(t.name) ? { ...t, baseline: BASELINES.get(t.name)! } : t,
  );
  if (!BASE) return chosen;
  return chosen.flatMap((t) => [
    { ...t, name: `${t.name}@base`, baseline: null, argv: (port: number) => t.argv(port, BASE) },
    { ...t, baseline: `${t.name}@base` },
  ]);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * ONE_AGENT=1 (callgrind): the warm-up and the windows share one keep-alive Agent, so a server that
 * closes no connection accepts CONNECTIONS of them for the whole count; by default each drive()
 * opens its own, and every target accepts CONNECTIONS new ones a window (findings perf18.1). With it,
 * listener against listener-unlimited (raw with and without RAW_MAX_REQUESTS) differ by the
 * reconnection waves alone.
 */
const ONE_AGENT = process.env.ONE_AGENT === '1';
/** RETRY_NEW=1: drive() also sends again a request whose new connection was reset before any answer. */
const RETRY_NEW = process.env.RETRY_NEW === '1';

/**
 * `count` requests of `shape` over CONNECTIONS keep-alive connections (those of `shared` when given,
 * left open); rejects on any non-2xx.
 */
function drive(port: number, count: number, shape: Shape, shared?: http.Agent): Promise<void> {
  const agent = shared ?? new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const body = shape.body > 0 ? Buffer.alloc(shape.body, 120) : null;
  let sent = 0;
  let done = 0;
  /** Requests sent again after a kept connection's reset (a server that keeps resetting fails the run). */
  let retries = 0;
  const MAX_RETRIES = 10 * CONNECTIONS;
  return new Promise<void>((resolve, reject) => {
    const one = (): void => {
      if (sent >= count) return;
      sent++;
      // One count per request, whichever of its end or its hang-up comes (a hang-up can report twice).
      let counted = false;
      const next = (): void => {
        if (counted) return;
        counted = true;
        if (++done === count) resolve();
        else one();
      };
      let answered = false;
      const req = http.request({ host: '127.0.0.1', port, path: shape.path, method: shape.method, agent }, (res) => {
        answered = true;
        if (res.statusCode !== 200 && !shape.also?.includes(res.statusCode!)) reject(new Error(`${shape.method} ${shape.path}: ${res.statusCode}`));
        res.resume();
        res.on('end', next);
      });
      req.on('error', (err) => {
        const reset = (err as NodeJS.ErrnoException).code === 'ECONNRESET';
        // Not answered, on a kept connection the server closed as idle as this request went out (node's
        // documented keep-alive race; under callgrind a server can be still for seconds): sent
        // again, as node's docs advise (req.reusedSocket), up to MAX_RETRIES times in a run.
        // RETRY_NEW=1: a new connection's reset before its response head too (findings rack4.1:
        // tspuma's servers under callgrind at a load of 30-60), each one told on stderr.
        if (reset && !shape.hangups && (req.reusedSocket || RETRY_NEW) && !answered && retries < MAX_RETRIES) {
          if (!req.reusedSocket) process.stderr.write(`drive: a new connection reset before its response head, sent again (${retries + 1}/${MAX_RETRIES})\n`);
          retries++;
          sent--;
          return one();
        }
        if (!shape.hangups || !reset) {
          const how = `${reset ? 'reset' : 'error'} on a ${req.reusedSocket ? 'kept' : 'new'} connection, ${answered ? 'after' : 'before'} the response head, retries ${retries}/${MAX_RETRIES}`;
          return reject(new Error(`${(err as Error).message} (${how})`, { cause: err }));
        }
        next();
      });
      req.end(body ?? undefined);
    };
    for (let i = 0; i < CONNECTIONS; i++) one();
  }).finally(() => {
    if (!shared) agent.destroy();
  });
}

/**
 * How long a server may take to answer its first request (UP_SECONDS, default 600): a tspuma boot
 * under callgrind with CACHE_SIM=1 on a machine at load 40-55 took longer than 600 s.
 */
const UP_MS = Number(process.env.UP_SECONDS ?? 600) * 1000;

async function waitUp(port: number, shape: Shape, child: ChildProcess, deadlineMs = UP_MS): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before answering`);
    try {
      await drive(port, 1, { ...shape, body: Math.min(shape.body, 1) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`port ${port} did not answer within ${deadlineMs} ms`);
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// ---- callgrind: instructions per request ----

/**
 * The newest callgrind dump in `dir`: its total instruction count and, with CACHE_SIM=1, every
 * event's total (Ir, I1mr, ILmr, Dr, D1mr, DLmr, Dw, D1mw, DLmw, and Bc, Bcm, Bi, Bim).
 */
function lastDump(dir: string, before: Set<string>): { file: string; instructions: number; events: Map<string, number>; threads: Map<number, number> } {
  const fresh = readdirSync(dir).filter((f) => f.startsWith('cg.') && !before.has(f)).sort();
  // THREADS=1: one file a thread (`cg.PID.N-TT`), summed; otherwise one file for all threads.
  if (fresh.length === 0 || (!THREADS && fresh.length !== 1)) throw new Error(`expected one new callgrind dump in ${dir}, found ${fresh.join(', ') || 'none'}`);
  const events = new Map<string, number>();
  const threads = new Map<number, number>();
  let main = '';
  for (const name of fresh) {
    const text = readFileSync(path.join(dir, name), 'utf8');
    const m = /^summary: ([\d ]+)/m.exec(text) ?? /^totals: ([\d ]+)/m.exec(text);
    if (!m) throw new Error(`no summary line in ${name}`);
    const names = (/^events: (.+)$/m.exec(text)?.[1] ?? 'Ir').trim().split(/\s+/);
    const totals = m[1]!.trim().split(/\s+/).map(Number);
    names.forEach((n, i) => events.set(n, (events.get(n) ?? 0) + (totals[i] ?? 0)));
    const thread = Number(/^thread: (\d+)/m.exec(text)?.[1] ?? 1);
    threads.set(thread, totals[0]!);
    if (thread === 1) main = name;
  }
  // FUNCTIONS reads the main thread's file (the only one without THREADS).
  return { file: path.join(dir, main || fresh[0]!), instructions: [...events.values()][0] ?? 0, events, threads };
}

/**
 * THREADS=1 (callgrind): valgrind's --separate-threads=yes (MODE=cpu: each thread's CPU, printThreads); each window's count is still every
 * thread's, and each thread's own share a request is printed beside it (threads numbered in the
 * order the process started them: 1 is the main thread). FUNCTIONS then reads the main thread only.
 */
const THREADS = process.env.THREADS === '1';

/**
 * FUNCTIONS=N (callgrind): also account each target's last window per function (self
 * instructions per request, JIT code named through node's --perf-basic-prof map:
 * bench/callgrind-functions.ts) and print its top N, and the top N differences against its baseline.
 */
/**
 * IDLE_SECONDS=N (callgrind): the server gets no request for N seconds before each window after
 * the first, as a paired.sh side does while its anchor's round runs. V8's memory reducer runs its
 * full GCs in such a pause (8 s after it is armed, when the process allocates little), which a
 * server under continuous load never gets; what a request costs after them is the window after
 * (bench/README.md, session 24). Keep N under the servers' keep-alive timeouts (20 s here).
 */
const IDLE_MS = Number(process.env.IDLE_SECONDS ?? 0) * 1000;
const FUNCTIONS = Number(process.env.FUNCTIONS ?? 0);
/**
 * CALLERS=regex (with FUNCTIONS): also the callers of the functions whose name matches, with the
 * inclusive instructions per request of those calls (`CALLERS='IC_Megamorphic|Builtin:StoreIC$'`:
 * which functions' property accesses go through V8's slow IC paths).
 */
const CALLERS = process.env.CALLERS ? new RegExp(process.env.CALLERS) : null;
/**
 * CACHE_SIM=1 (callgrind): valgrind also simulates the caches (L1 instruction and data, last
 * level) and the branch predictors, and each target's windows print misses and mispredictions per
 * request: what instructions alone do not count (a cycle estimate weighs each L1 miss as about
 * 10 instructions' time, each last-level miss about 100, each mispredicted branch about 15).
 */
const CACHE_SIM = process.env.CACHE_SIM === '1';
/**
 * The simulated caches (CACHE_SIM_FLAGS): valgrind 3.19 reads this machine's last level (AMD EPYC,
 * 32 MiB L3, 16-way, 64 B lines) as 256 MiB direct-mapped, so the last level is given; L1 is read
 * from the CPU.
 */
const CACHE_SIM_FLAGS = (process.env.CACHE_SIM_FLAGS ?? '--LL=33554432,16,64').split(' ').filter(Boolean);

function printFunctions(targets: Target[], perFunction: Map<string, Map<string, number>>): void {
  const fmt = (n: number) => (Math.round(n * 10) / 10).toString();
  for (const t of targets) {
    const own = perFunction.get(t.name);
    if (!own) continue;
    console.log(`\n${t.name}: self instructions per request, top ${FUNCTIONS}`);
    for (const [name, ir] of [...own].sort((a, b) => b[1] - a[1]).slice(0, FUNCTIONS)) console.log(`${fmt(ir).padStart(10)}  ${name}`);
    const base = t.baseline ? perFunction.get(t.baseline) : undefined;
    if (!base) continue;
    const names = new Set([...own.keys(), ...base.keys()]);
    const diff = [...names].map((n) => [n, (own.get(n) ?? 0) - (base.get(n) ?? 0)] as const).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
    console.log(`\n${t.name} - ${t.baseline}: self instructions per request, the ${FUNCTIONS} largest differences`);
    for (const [name, d] of diff.slice(0, FUNCTIONS)) console.log(`${(d > 0 ? '+' : '') + fmt(d)}`.padStart(10) + `  ${name}`);
  }
}

/** CACHE_SIM=1: each target's events per request (median over the windows) and an estimate of cycles from them. */
function printCacheSim(targets: Target[], perEvent: Map<string, Map<string, number>[]>): void {
  const names = ['Ir', 'I1mr', 'ILmr', 'Dr', 'D1mr', 'DLmr', 'Dw', 'D1mw', 'DLmw', 'Bc', 'Bcm', 'Bi', 'Bim'];
  const est = (e: Map<string, number>): number => {
    const g = (n: string) => e.get(n) ?? 0;
    const l1 = g('I1mr') + g('D1mr') + g('D1mw');
    const ll = g('ILmr') + g('DLmr') + g('DLmw');
    return g('Ir') + 10 * l1 + 100 * ll + 15 * (g('Bcm') + g('Bim'));
  };
  console.log('\nCACHE_SIM: events per request (median over the windows; valgrind\'s simulated caches and branch predictors), and est = Ir + 10 x L1 misses + 100 x LL misses + 15 x mispredicted branches');
  console.log(`| target | ${names.join(' | ')} | est | against baseline (est) |`);
  console.log(`| --- |${' ---: |'.repeat(names.length + 2)}`);
  const estOf = new Map<string, number>();
  for (const t of targets) {
    const windows = perEvent.get(t.name);
    if (!windows) continue;
    estOf.set(t.name, median(windows.map(est)));
  }
  for (const t of targets) {
    const windows = perEvent.get(t.name);
    if (!windows) continue;
    const cells = names.map((n) => Math.round(median(windows.map((w) => w.get(n) ?? 0))).toString());
    const base = t.baseline ? estOf.get(t.baseline) : undefined;
    console.log(`| ${t.name} | ${cells.join(' | ')} | ${Math.round(estOf.get(t.name)!)} | ${base ? `${(estOf.get(t.name)! / base).toFixed(3)}x` : ''} |`);
  }
}

/** A one-worker cluster's worker: the primary's one child process that is not esbuild's service (the TypeScript loader's). */
function onlyWorker(primary: number): number {
  const workers = children(primary).filter((pid) => !/esbuild$/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!));
  if (workers.length !== 1) throw new Error(`expected one worker process under ${primary}, found ${workers.join(', ') || 'none'}`);
  return workers[0]!;
}

async function callgrind(targets: Target[]): Promise<Map<string, number[]>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cpu-per-request-'));
  const results = new Map<string, number[]>();
  const perFunction = new Map<string, Map<string, number>>();
  const perCaller = new Map<string, Map<string, number>>();
  const valgrindFlags = [...(FUNCTIONS > 0 ? ['--dump-instr=yes'] : []), ...(THREADS ? ['--separate-threads=yes'] : []), ...(CACHE_SIM ? ['--cache-sim=yes', '--branch-sim=yes', ...CACHE_SIM_FLAGS] : [])];
  const perEvent = new Map<string, Map<string, number>[]>();
  const nodeFlags = FUNCTIONS > 0 ? [...CALLGRIND_NODE_FLAGS, '--perf-basic-prof'] : CALLGRIND_NODE_FLAGS;
  try {
    for (const t of targets) {
      if (t.cluster && !t.worker) {
        process.stderr.write(`${t.name}: skipped under callgrind (a cluster's workers run the single path; use MODE=cpu, or its -w 1 twin)\n`);
        continue;
      }
      const shape = t.shape ?? HELLO;
      const port = await freePort();
      const child = spawn('valgrind', ['--tool=callgrind', ...(t.worker ? ['--trace-children=yes', '--trace-children-skip=*esbuild*'] : []), ...valgrindFlags, `--callgrind-out-file=${dir}/cg.%p`, process.execPath, ...nodeFlags, ...t.argv(port)], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...t.env?.(port) } });
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => void (stderr.length < 100_000 && (stderr += c.toString())));
      let agent: http.Agent | undefined;
      try {
        await waitUp(port, shape, child);
        // The process counted: the server's, or a one-worker cluster's worker.
        const counted = t.worker ? onlyWorker(child.pid!) : child.pid!;
        process.stderr.write(`${t.name}: up under callgrind${t.worker ? ` (counting worker ${counted})` : ''}; ${WARMUP} warm-up requests\n`);
        agent = ONE_AGENT ? new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS }) : undefined;
        await drive(port, WARMUP, shape, agent);
        const perRequest: number[] = [];
        for (let w = 0; w < WINDOWS; w++) {
          if (w > 0 && IDLE_MS > 0) {
            process.stderr.write(`${t.name}: idle ${IDLE_MS / 1000} s before window ${w + 1}\n`);
            await new Promise((r) => setTimeout(r, IDLE_MS));
          }
          execFileSync('callgrind_control', ['-z', String(counted)], { stdio: 'ignore' });
          const before = new Set(readdirSync(dir));
          await drive(port, REQUESTS, shape, agent);
          execFileSync('callgrind_control', ['-d', String(counted)], { stdio: 'ignore' });
          const dump = lastDump(dir, before);
          perRequest.push(dump.instructions / REQUESTS);
          if (CACHE_SIM) (perEvent.get(t.name) ?? perEvent.set(t.name, []).get(t.name)!).push(new Map([...dump.events].map(([n, v]) => [n, v / REQUESTS] as const)));
          if (FUNCTIONS > 0 && w === WINDOWS - 1) {
            const map = `/tmp/perf-${counted}.map`;
            const ranges = readPerfMap(map);
            const own = new Map([...selfByFunction(dump.file, ranges)].map(([n, ir]) => [n, ir / REQUESTS] as const));
            perFunction.set(t.name, own);
            if (CALLERS) perCaller.set(t.name, new Map([...callersOf(dump.file, ranges, CALLERS)].map(([n, ir]) => [n, ir / REQUESTS] as const)));
          }
          process.stderr.write(`${t.name}: window ${w + 1}/${WINDOWS}: ${Math.round(perRequest.at(-1)!)} instructions per request${THREADS ? ` (threads: ${[...dump.threads].map(([n, ir]) => `${n} ${Math.round(ir / REQUESTS)}`).join(', ')})` : ''}\n`);
        }
        results.set(t.name, perRequest);
      } catch (err) {
        process.stderr.write(`${t.name}: ${(err as Error).message}\n${stderr.slice(-2000)}\n`);
      } finally {
        agent?.destroy();
        const tree = t.worker ? processTree(child.pid!) : [child.pid!];
        await stop(child);
        for (const f of readdirSync(dir)) rmSync(path.join(dir, f));
        if (FUNCTIONS > 0) for (const pid of tree) rmSync(`/tmp/perf-${pid}.map`, { force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`callgrind: instructions per request (user space, all threads), median of ${WINDOWS} windows of ${REQUESTS} requests after ${WARMUP}; ${CONNECTIONS} keep-alive connections`);
  console.log('| target | instructions/request | windows | against baseline |');
  console.log('| --- | ---: | --- | ---: |');
  for (const t of targets) {
    const r = results.get(t.name);
    if (!r) continue;
    const base = t.baseline ? results.get(t.baseline) : undefined;
    const d = base ? Math.round(median(r) - median(base)) : 0;
    const delta = base ? `${d >= 0 ? '+' : ''}${d} (${(median(r) / median(base)).toFixed(3)}x)` : '';
    console.log(`| ${t.name} | ${Math.round(median(r))} | ${r.map(Math.round).join(' ')} | ${delta} |`);
  }
  if (CACHE_SIM) printCacheSim(targets, perEvent);
  if (FUNCTIONS > 0) printFunctions(targets, perFunction);
  if (CALLERS && perCaller.size > 0) {
    console.log(`\nCALLERS=${CALLERS.source}: inclusive instructions per request of each caller's calls`);
    printFunctions(targets, perCaller);
  }
  return results;
}

// ---- instructions: issue 27's paired rows, each side counted under callgrind ----

/**
 * The rows of issue 27's paired req/s table (../shared/bench/paired.sh), each as its two
 * targets: `anchor` is what a user would run instead (or tspuma without -d), `tspuma` the row's
 * tspuma side. Instructions per request do not drift with the machine's speed, so a row whose
 * tspuma side is at or below its anchor's is backed by a figure a busy machine cannot blur.
 */
const PAIRS: readonly { row: string; anchor: string; tspuma: string }[] = [
  { row: 'Hono 4 app: tspuma / @hono/node-server', anchor: 'hono-anchor', tspuma: 'hono' },
  { row: 'fetch handler: tspuma / @hono/node-server', anchor: 'fetch-anchor', tspuma: 'fetch' },
  { row: 'Express 5 app: tspuma / app.listen on node:http', anchor: 'express-anchor', tspuma: 'express' },
  { row: 'Rack hello: tspuma / raw node:http', anchor: 'raw', tspuma: 'rack' },
  { row: 'Node listener: tspuma / raw node:http', anchor: 'raw', tspuma: 'listener' },
  { row: '-d / no -d, happy path (the listener)', anchor: 'listener', tspuma: 'listener-d' },
  { row: '-d / no -d, 10% of requests throw (after the head)', anchor: 'throws-listener', tspuma: 'throws-listener-d' },
];

/** MODE=instructions (`npm run bench:instructions`): every PAIRS target under callgrind, the rows, and RESULTS (a JSON file). */
async function instructions(): Promise<void> {
  const names = [...new Set(PAIRS.flatMap((p) => [p.anchor, p.tspuma]))];
  const results = await callgrind(names.map((n) => TARGETS.find((t) => t.name === n)!));
  const med = (name: string): number | null => {
    const r = results.get(name);
    return r ? Math.round(median(r)) : null;
  };
  const rows = PAIRS.map((p) => {
    const anchor = med(p.anchor);
    const tspuma = med(p.tspuma);
    const ratio = anchor !== null && tspuma !== null ? Math.round((tspuma / anchor) * 1000) / 1000 : null;
    // The last windows too: when the windows still fall from one to the next (the JIT settling,
    // tspuma's side with more code to warm), the last pair is the nearest to the steady state.
    const lastA = results.get(p.anchor)?.at(-1);
    const lastT = results.get(p.tspuma)?.at(-1);
    const lastWindowRatio = lastA !== undefined && lastT !== undefined ? Math.round((lastT / lastA) * 1000) / 1000 : null;
    return { ...p, anchorInstructions: anchor, tspumaInstructions: tspuma, ratio, atOrBelowAnchor: ratio === null ? null : ratio <= 1, lastWindowRatio };
  });
  console.log(`\ninstructions per request, issue 27's paired rows (tspuma side / anchor side; at or below 1.000: tspuma does no more work a request)`);
  console.log('| row | anchor | tspuma | ratio | last windows |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.row} | ${r.anchorInstructions ?? 'failed'} (${r.anchor}) | ${r.tspumaInstructions ?? 'failed'} (${r.tspuma}) | ${r.ratio?.toFixed(3) ?? '-'} | ${r.lastWindowRatio?.toFixed(3) ?? '-'} |`);
  const out = process.env.RESULTS ?? path.join(ROOT, 'bench/results/instructions.json');
  let commit: string | null = null;
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    /* not a git checkout */
  }
  const report = {
    date: new Date().toISOString(),
    commit,
    node: process.version,
    loadAverage: os.loadavg().map((l) => Math.round(l * 10) / 10),
    method: { tool: 'valgrind --tool=callgrind', nodeFlags: CALLGRIND_NODE_FLAGS, warmup: WARMUP, requests: REQUESTS, windows: WINDOWS, connections: CONNECTIONS, measure: 'median over the windows of instructions per request (user space, all threads of the server process)' },
    targets: Object.fromEntries([...results].map(([n, r]) => [n, { median: Math.round(median(r)), windows: r.map(Math.round) }])),
    rows,
  };
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`written: ${path.relative(process.cwd(), out) || out}`);
}

// ---- cpu: CPU µs per request from /proc, wrk as the client, alternating rounds ----

interface Live {
  target: Target;
  port: number;
  child: ChildProcess;
  luaFile: string | null;
}

function wrkArgs(l: Live, seconds: number): string[] {
  const shape = l.target.shape ?? HELLO;
  return ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, ...(l.luaFile ? ['-s', l.luaFile] : []), `http://127.0.0.1:${l.port}${shape.path}`];
}

/** wrk's own count of completed requests and its req/s; pinned to core 0 when pinning. */
function wrk(l: Live, seconds: number): { requests: number; rps: number } {
  const args = wrkArgs(l, seconds);
  const out = canPin ? execFileSync('taskset', ['-c', '0', 'wrk', ...args], { encoding: 'utf8' }) : execFileSync('wrk', args, { encoding: 'utf8' });
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  if (/Non-2xx|Socket errors/.test(out)) process.stderr.write(`${l.target.name}: wrk reported errors:\n${out}\n`);
  return { requests, rps };
}

async function cpu(targets: Target[]): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cpu-per-request-'));
  const live: Live[] = [];
  const us = new Map<string, number[]>();
  const mainUs = new Map<string, number[]>();
  const rps = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, name: string, v: number) => (m.get(name) ?? m.set(name, []).get(name)!).push(v);
  const perThread = new Map<string, ThreadRounds>();
  try {
    for (const t of targets) {
      const port = await freePort();
      const child = spawn(process.execPath, t.argv(port), { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...t.env?.(port) } });
      const shape = t.shape ?? HELLO;
      let luaFile: string | null = null;
      if (shape.method === 'POST') {
        luaFile = path.join(dir, `${t.name}.lua`);
        writeFileSync(luaFile, `wrk.method = "POST"\nwrk.body = string.rep("x", ${shape.body})\n`);
      }
      live.push({ target: t, port, child, luaFile });
      await waitUp(port, shape, child);
    }
    for (const l of live) {
      if (canPin && !l.target.cluster) for (const pid of processTree(l.child.pid!)) pin(pid, '1');
      wrk(l, 1); // warm-up
    }
    for (let round = 0; round < ROUNDS; round++) {
      const shift = round % live.length;
      for (const l of [...live.slice(shift), ...live.slice(0, shift)]) {
        const before = treeCpuSeconds(l.child.pid!)!;
        const mainBefore = l.target.cluster ? null : mainThreadCpuSeconds(l.child.pid!);
        const threadsBefore = THREADS && !l.target.cluster ? threadTimes(l.child.pid!) : null;
        const r = wrk(l, SECONDS);
        const after = treeCpuSeconds(l.child.pid!)!;
        if (threadsBefore) addThreads(perThread, l.target.name, threadsBefore, threadTimes(l.child.pid!), r.requests);
        const mainAfter = mainBefore === null ? null : mainThreadCpuSeconds(l.child.pid!);
        push(us, l.target.name, ((after - before) * 1e6) / r.requests);
        if (mainBefore !== null && mainAfter !== null) push(mainUs, l.target.name, ((mainAfter - mainBefore) * 1e6) / r.requests);
        push(rps, l.target.name, r.rps);
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
  } finally {
    await Promise.all(live.map((l) => stop(l.child)));
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`cpu: server CPU µs per request (/proc, the whole process tree) and req/s, wrk -t1 -c${CONNECTIONS}, ${ROUNDS} rounds of ${SECONDS} s in rotated order${canPin ? '; wrk on core 0, single servers on core 1' : ''}`);
  console.log('(main thread: the event loop\'s own run time, /proc/PID/task/PID/schedstat, in ns; single-process targets only)');
  console.log(`load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log('| target | CPU µs/request | main thread µs/request | req/s | against baseline, median of rounds: CPU per request, main thread per request, req/s |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  const ratioOf = (m: Map<string, number[]>, t: Target): string => {
    const mine = m.get(t.name);
    const base = t.baseline ? m.get(t.baseline) : undefined;
    return mine && base ? `${median(mine.map((v, i) => v / base[i]!)).toFixed(3)}x` : '-';
  };
  for (const t of targets) {
    const mine = us.get(t.name);
    if (!mine) continue;
    const main = mainUs.get(t.name);
    const ratio = t.baseline && us.has(t.baseline) ? `${ratioOf(us, t)} CPU, ${ratioOf(mainUs, t)} main thread, ${ratioOf(rps, t)} req/s` : '';
    console.log(`| ${t.name} | ${median(mine).toFixed(1)} | ${main ? median(main).toFixed(2) : '-'} | ${Math.round(median(rps.get(t.name)!))} | ${ratio} |`);
  }
  if (THREADS) printThreads(targets, perThread);
}

/**
 * THREADS=1 (cpu): each round's CPU of every thread of a single-process server ("main", the event
 * loop; the others by rank in the order started, cpu.ts's threadTimes), from /proc/PID/task/TID:
 * run time (schedstat, ns) and user and system ticks (stat), each over that round's requests.
 */
type ThreadRounds = Map<string, { us: number[]; user: number[]; sys: number[] }>;

function addThreads(all: Map<string, ThreadRounds>, target: string, before: ReturnType<typeof threadTimes>, after: ReturnType<typeof threadTimes>, requests: number): void {
  const rounds = all.get(target) ?? all.set(target, new Map()).get(target)!;
  // Each thread alive at both reads, and 'all but main' summed.
  const sums = new Map<string, { ns: number; user: number; sys: number }>();
  for (const [tid, a] of after) {
    const b = before.get(tid);
    if (!b) continue;
    for (const key of a.name === 'main' ? ['main'] : [a.name, 'all but main']) {
      const s = sums.get(key) ?? sums.set(key, { ns: 0, user: 0, sys: 0 }).get(key)!;
      s.ns += a.ns - b.ns;
      s.user += a.user - b.user;
      s.sys += a.sys - b.sys;
    }
  }
  for (const [name, s] of sums) {
    const r = rounds.get(name) ?? rounds.set(name, { us: [], user: [], sys: [] }).get(name)!;
    r.us.push(s.ns / 1000 / requests);
    r.user.push((s.user * 10_000) / requests);
    r.sys.push((s.sys * 10_000) / requests);
  }
}

function printThreads(targets: Target[], all: Map<string, ThreadRounds>): void {
  console.log('\nTHREADS: CPU µs per request by thread (main, then by rank started), median of the rounds: run time (schedstat) and user + system (stat ticks)');
  console.log('| target | thread | run µs/request | user µs/request | system µs/request | rounds |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const t of targets) {
    const rounds = all.get(t.name);
    if (!rounds) continue;
    const sorted = [...rounds].sort((a, b) => median(b[1].us) - median(a[1].us));
    const busy = sorted.filter(([, r]) => r.us.some((v) => v > 0) || r.user.some((v) => v > 0) || r.sys.some((v) => v > 0));
    for (const [name, r] of busy) console.log(`| ${t.name} | ${name} | ${median(r.us).toFixed(2)} | ${median(r.user).toFixed(2)} | ${median(r.sys).toFixed(2)} | ${r.us.length} |`);
    if (busy.length < sorted.length) console.log(`| ${t.name} | ${sorted.length - busy.length} more, idle in every round | 0 | 0 | 0 | ${sorted[0]![1].us.length} |`);
  }
}

// ---- profile: a CPU profile's self time per function, in µs per request ----

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Self time per function (name, file, line), non-idle samples scaled to CPU µs per request. */
function profileTable(file: string, requests: number, cpuUs: number, top: number, from: number, to: number): string[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let busy = 0;
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    at += dt;
    if (at < from || at > to) continue;
    const n = byId.get(p.samples[i]!)!;
    if (n.callFrame.functionName === '(idle)') continue;
    busy += dt;
    const url = n.callFrame.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^file:\/\/.*\//, '');
    const key = `${n.callFrame.functionName || '(anonymous)'} ${url}${url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const scale = cpuUs / busy; // profile µs → CPU µs per request
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, t]) => `${(t * scale).toFixed(2).padStart(7)} µs  ${((100 * t) / busy).toFixed(1).padStart(5)}%  ${k}`)
    .concat(`(${requests} requests; ${cpuUs.toFixed(1)} µs of CPU each by /proc)`);
}

async function profile(targets: Target[]): Promise<void> {
  const top = Number(process.env.TOP ?? 40);
  for (const t of targets) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cpu-per-request-'));
    const port = await freePort();
    const interval = process.env.PROFILE_INTERVAL ? [`--cpu-prof-interval=${process.env.PROFILE_INTERVAL}`] : [];
    const child = spawn(process.execPath, ['--cpu-prof', ...interval, `--cpu-prof-dir=${dir}`, ...t.argv(port)], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...t.env?.(port) } });
    const l: Live = { target: t, port, child, luaFile: null };
    try {
      await waitUp(port, t.shape ?? HELLO, child);
      if (canPin && !t.cluster) for (const pid of processTree(child.pid!)) pin(pid, '1');
      wrk(l, 1);
      // Profile timestamps are CLOCK_MONOTONIC microseconds, as hrtime: only the measured run's samples count.
      const from = Number(process.hrtime.bigint() / 1000n);
      const before = treeCpuSeconds(child.pid!)!;
      const r = wrk(l, SECONDS);
      const after = treeCpuSeconds(child.pid!)!;
      const to = Number(process.hrtime.bigint() / 1000n);
      await stop(child);
      // The main thread's profile is the first one written (a module-hooks thread writes its own).
      const file = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()[0];
      if (!file) throw new Error(`${t.name}: no profile written`);
      console.log(`--- ${t.name}: self time per request`);
      for (const line of profileTable(path.join(dir, file), r.requests, ((after - before) * 1e6) / r.requests, top, from, to)) console.log(line);
    } finally {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

if (MODE === 'instructions') await instructions();
else if (MODE === 'callgrind') await callgrind(selected());
else if (MODE === 'profile') await profile(selected());
else await cpu(selected());
