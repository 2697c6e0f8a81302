// `node dist/bench/fetch-invoke.js [fetch|hono|hono-json|hono-headers|fetch-headers|rack|listener ...]`: instructions per call
// of an adapter's invoke (for a fetch app: the Request, the app, its Response, the writer, node's
// writeHead and end; for the Rack hello: the env, the app, the writer; for bench/listener-app.ts:
// the listener, the Rack row's floor) on
// node:http's request and response objects without a socket, counted under callgrind: no server,
// no timers and no client, so a busy machine does not move the figure; two runs of one build
// still differ by up to 2-3% (when V8 compiles what, GC), less than a server's windows
// (bench:instructions) move by: run a change's before and after twice. BASE=<another
// built checkout> counts its adapter too, with the same app modules (this checkout's); ANCHOR=1
// counts @hono/node-server's listener on the same objects (its side of issue 27's fetch and Hono
// rows, without node:http's socket work or tspuma's request path). WARMUP (20000) calls before the
// counted REQUESTS (10000). FUNCTIONS=N: also each run's top N functions by self instructions
// a call (bench/callgrind-functions.ts), and with BASE the N largest differences.
// SERVER_RESPONSE=1: tspuma's sides answer on the server's own response class (node-http.ts's
// TspumaResponse, with an event-stream handler set as a server sets one), so the count holds the
// checks at the head (writeHeadChecked) a served request pays; the anchor keeps node's class.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AppKind } from '../server/app-types.js';
import { readPerfMap, selfByFunction } from './callgrind-functions.js';

const HERE = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(HERE), '../..');
const APPS: Record<string, { file: string; kind: AppKind }> = {
  fetch: { file: 'fetch-app.js', kind: 'fetch' },
  hono: { file: 'hono-app.js', kind: 'fetch' },
  'hono-json': { file: 'hono-json-app.js', kind: 'fetch' },
  'hono-headers': { file: 'hono-headers-app.js', kind: 'fetch' },
  'fetch-headers': { file: 'fetch-headers-app.js', kind: 'fetch' },
  rack: { file: 'rack-app.js', kind: 'rack' },
  listener: { file: 'listener-app.js', kind: 'node' },
};
const WARMUP = Number(process.env.WARMUP ?? 20000);
const REQUESTS = Number(process.env.REQUESTS ?? 10000);
const FUNCTIONS = Number(process.env.FUNCTIONS ?? 0);
const SERVER_RESPONSE = process.env.SERVER_RESPONSE === '1';

/** Under callgrind: warm up, zero the counts, run the counted calls, dump. */
async function child(root: string, name: string): Promise<void> {
  const { file, kind } = APPS[name]!;
  const mod = (await import(pathToFileURL(path.join(path.dirname(HERE), file)).href)) as { default: { fetch(r: Request): unknown } };
  let invoke: (req: http.IncomingMessage, res: http.ServerResponse) => unknown;
  let ResponseClass: new (req: http.IncomingMessage) => http.ServerResponse = http.ServerResponse;
  if (SERVER_RESPONSE && root !== 'anchor') {
    const nodeHttp = (await import(pathToFileURL(path.join(root, 'dist/server/node-http.js')).href)) as typeof import('../server/node-http.js');
    nodeHttp.setEventStreamHandler(() => {});
    ResponseClass = nodeHttp.TspumaResponse;
  }
  if (root === 'anchor') {
    const { getRequestListener } = await import('@hono/node-server');
    invoke = getRequestListener((r) => mod.default.fetch(r) as Response);
  } else {
    const { adapt } = (await import(pathToFileURL(path.join(root, 'dist/server/adapters.js')).href)) as typeof import('../server/adapters.js');
    invoke = adapt(mod.default, kind).invoke;
  }
  const raw = ['Host', '127.0.0.1:9750', 'User-Agent', 'wrk'];
  // node's parser sets the header count req.headers is built from when read (the anchor reads it).
  const kHeadersCount = Object.getOwnPropertySymbols(new http.IncomingMessage(null as never)).find((s) => s.description === 'kHeadersCount');
  if (kHeadersCount === undefined) throw new Error("node's IncomingMessage has no kHeadersCount: req.headers would stay empty");
  const one = (): void => {
    const req = new http.IncomingMessage(null as never);
    req.method = 'GET';
    req.url = '/';
    // As node's parser sets them: without them node's ServerResponse takes the request for HTTP/1.0
    // (it builds req.headers to read TE, and turns keep-alive off).
    req.httpVersionMajor = 1;
    req.httpVersionMinor = 1;
    req.httpVersion = '1.1';
    req.rawHeaders = raw;
    req.complete = true;
    (req as unknown as Record<symbol, number>)[kHeadersCount] = raw.length;
    const res = new ResponseClass(req);
    void invoke(req, res);
    if (!res.writableEnded || res.statusCode !== 200) throw new Error(`the app did not answer 200 at once (${res.statusCode})`);
  };
  const run = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i += 500) {
      for (let j = 0; j < 500; j++) one();
      await new Promise(setImmediate); // node's nextTick work of the calls
    }
  };
  await run(WARMUP);
  execFileSync('callgrind_control', ['-z', String(process.pid)], { stdio: 'ignore' });
  await run(REQUESTS);
  execFileSync('callgrind_control', ['-d', String(process.pid)], { stdio: 'ignore' });
}

interface Counted {
  perCall: number;
  /** FUNCTIONS > 0: self instructions a call by function. */
  functions: Map<string, number> | null;
}

/** Instructions per call for one adapter (root) and app, from the dump of the counted calls. */
function count(root: string, name: string): Counted {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fetch-invoke-'));
  const flags = FUNCTIONS > 0 ? ['--dump-instr=yes'] : [];
  const nodeFlags = FUNCTIONS > 0 ? ['--perf-basic-prof'] : [];
  let pid: number | undefined;
  try {
    const r = spawnSync('valgrind', ['--tool=callgrind', ...flags, `--callgrind-out-file=${dir}/cg.%p`, process.execPath, ...nodeFlags, '--min-semi-space-size=16', '--max-semi-space-size=16', HERE, '--child', root, name], { encoding: 'utf8' });
    const dump = readdirSync(dir).find((f) => /^cg\.\d+\.\d+$/.test(f));
    if (r.status !== 0 || dump === undefined) throw new Error(`callgrind run failed (${r.status}): ${r.stderr.slice(-1000)}`);
    pid = Number(/^cg\.(\d+)/.exec(dump)![1]);
    const total = Number(/^(?:summary|totals): (\d+)/m.exec(readFileSync(path.join(dir, dump), 'utf8'))?.[1]);
    const functions = FUNCTIONS > 0 ? new Map([...selfByFunction(path.join(dir, dump), readPerfMap(`/tmp/perf-${pid}.map`))].map(([n, ir]) => [n, ir / REQUESTS] as const)) : null;
    return { perCall: total / REQUESTS, functions };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (pid !== undefined) rmSync(`/tmp/perf-${pid}.map`, { force: true });
  }
}

const fmt = (n: number): string => (Math.round(n * 10) / 10).toString();

function printFunctions(label: string, own: Map<string, number> | null, base: Map<string, number> | null): void {
  if (own === null) return;
  console.log(`  ${label}: self instructions a call, top ${FUNCTIONS}`);
  for (const [n, ir] of [...own].sort((a, b) => b[1] - a[1]).slice(0, FUNCTIONS)) console.log(`${fmt(ir).padStart(10)}  ${n}`);
  if (base === null) return;
  const names = new Set([...own.keys(), ...base.keys()]);
  const diff = [...names].map((n) => [n, (own.get(n) ?? 0) - (base.get(n) ?? 0)] as const).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  console.log(`  ${label} - base: the ${FUNCTIONS} largest differences`);
  for (const [n, d] of diff.slice(0, FUNCTIONS)) console.log(`${((d > 0 ? '+' : '') + fmt(d)).padStart(10)}  ${n}`);
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!, process.argv[4]!);
} else {
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(APPS);
  const base = process.env.BASE ? path.resolve(process.env.BASE) : null;
  console.log(`instructions per invoke (callgrind), ${REQUESTS} calls after ${WARMUP}${SERVER_RESPONSE ? ", tspuma's on its TspumaResponse" : ''}`);
  for (const name of names) {
    const app = APPS[name];
    if (app === undefined) throw new Error(`unknown app ${name}; known: ${Object.keys(APPS).join(', ')}`);
    const after = count(ROOT, name);
    const before = base ? count(base, name) : null;
    const anchor = process.env.ANCHOR === '1' && app.kind === 'fetch' ? count('anchor', name) : null;
    const vsBase = before === null ? '' : `, base ${Math.round(before.perCall)} (${after.perCall - before.perCall > 0 ? '+' : ''}${Math.round(after.perCall - before.perCall)})`;
    const vsAnchor = anchor === null ? '' : `, @hono/node-server ${Math.round(anchor.perCall)} (${(after.perCall / anchor.perCall).toFixed(3)}x)`;
    console.log(`${name}: ${Math.round(after.perCall)}${vsBase}${vsAnchor}`);
    printFunctions(name, after.functions, before?.functions ?? anchor?.functions ?? null);
  }
}
