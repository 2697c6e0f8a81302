// `node dist/bench/fetch-invoke.js [fetch|hono|hono-json ...]`: instructions per call of the fetch
// adapter's invoke (the Request, the app, its Response, the writer, node's writeHead and end) on
// node:http's request and response objects without a socket, counted under callgrind: no server,
// no timers and no client, so a busy machine does not move the figure; two runs of one build
// still differ by up to 2-3% (when V8 compiles what, GC), less than a server's windows
// (bench:instructions) move by: run a change's before and after twice. BASE=<another
// built checkout> counts its adapter too, with the same app modules (this checkout's); ANCHOR=1
// counts @hono/node-server's listener on the same objects (its side of issue 27's fetch and Hono
// rows, without node:http's socket work or tspuma's request path). WARMUP (20000) calls before the
// counted REQUESTS (10000).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(HERE), '../..');
const APPS: Record<string, string> = { fetch: 'fetch-app.js', hono: 'hono-app.js', 'hono-json': 'hono-json-app.js' };
const WARMUP = Number(process.env.WARMUP ?? 20000);
const REQUESTS = Number(process.env.REQUESTS ?? 10000);

/** Under callgrind: warm up, zero the counts, run the counted calls, dump. */
async function child(root: string, app: string): Promise<void> {
  const mod = (await import(pathToFileURL(path.join(path.dirname(HERE), app)).href)) as { default: { fetch(r: Request): unknown } };
  let invoke: (req: http.IncomingMessage, res: http.ServerResponse) => unknown;
  if (root === 'anchor') {
    const { getRequestListener } = await import('@hono/node-server');
    invoke = getRequestListener((r) => mod.default.fetch(r) as Response);
  } else {
    const { adapt } = (await import(pathToFileURL(path.join(root, 'dist/server/adapters.js')).href)) as typeof import('../server/adapters.js');
    invoke = adapt(mod.default, 'fetch').invoke;
  }
  const raw = ['Host', '127.0.0.1:9750', 'User-Agent', 'wrk'];
  // node's parser sets the header count req.headers is built from when read (the anchor reads it).
  const kHeadersCount = Object.getOwnPropertySymbols(new http.IncomingMessage(null as never)).find((s) => s.description === 'kHeadersCount');
  if (kHeadersCount === undefined) throw new Error("node's IncomingMessage has no kHeadersCount: req.headers would stay empty");
  const one = (): void => {
    const req = new http.IncomingMessage(null as never);
    req.method = 'GET';
    req.url = '/';
    req.rawHeaders = raw;
    req.complete = true;
    (req as unknown as Record<symbol, number>)[kHeadersCount] = raw.length;
    const res = new http.ServerResponse(req);
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

/** Instructions per call for one adapter (root) and app, from the dump of the counted calls. */
function count(root: string, app: string): number {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fetch-invoke-'));
  try {
    const r = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${dir}/cg.%p`, process.execPath, '--min-semi-space-size=16', '--max-semi-space-size=16', HERE, '--child', root, app], { encoding: 'utf8' });
    const dump = readdirSync(dir).find((f) => /^cg\.\d+\.\d+$/.test(f));
    if (r.status !== 0 || dump === undefined) throw new Error(`callgrind run failed (${r.status}): ${r.stderr.slice(-1000)}`);
    const total = Number(/^(?:summary|totals): (\d+)/m.exec(readFileSync(path.join(dir, dump), 'utf8'))?.[1]);
    return total / REQUESTS;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!, process.argv[4]!);
} else {
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(APPS);
  const base = process.env.BASE ? path.resolve(process.env.BASE) : null;
  console.log(`instructions per invoke (callgrind), ${REQUESTS} calls after ${WARMUP}`);
  for (const name of names) {
    const app = APPS[name];
    if (app === undefined) throw new Error(`unknown app ${name}; known: ${Object.keys(APPS).join(', ')}`);
    const after = count(ROOT, app);
    const before = base ? count(base, app) : null;
    const anchor = process.env.ANCHOR === '1' ? count('anchor', app) : null;
    const vsBase = before === null ? '' : `, base ${Math.round(before)} (${after - before > 0 ? '+' : ''}${Math.round(after - before)})`;
    const vsAnchor = anchor === null ? '' : `, @hono/node-server ${Math.round(anchor)} (${(after / anchor).toFixed(3)}x)`;
    console.log(`${name}: ${Math.round(after)}${vsBase}${vsAnchor}`);
  }
}
