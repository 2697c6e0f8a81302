// A tspuma app for issue 27's discriminating run (bench/README.md, session 14): bench/raw-node.ts's
// handler on a node:http server of its own, started by this module on RAW_PORT while tspuma loads
// it (tspuma warns TSPUMA_ERR_APP_LISTEN and serves the exported handler on its own binds, idle
// here). Set against raw node:http alone, wrk on RAW_PORT measures what the tspuma process around
// the request costs raw node:http's own request path (its heap, threads, timers, hooks and flags);
// against bench/listener-app.ts on tspuma, what tspuma's request path costs:
//   bench/cpu-processes.sh 6 2 raw1="node dist/bench/raw-node.js @PORT@" \
//     inside1="env RAW_PORT=@PORT@ node dist/server/cli.js -q -e production -b tcp://127.0.0.1:0 bench/raw-inside-app.ts" \
//     ts1="node dist/server/cli.js -q -e production -b tcp://127.0.0.1:@PORT@ bench/listener-app.ts" ...
// RAW_OPTIONS=tspuma (session 15): the server is created with tspuma's own node:http options (its
// response class, TspumaResponse, with the built module's handlers, and node's timers off), so
// against the plain one it measures what those cost without tspuma's request lifecycle.
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';

const body = 'Hello World\n';
const handler = (_req: IncomingMessage, res: ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};
// The built module (not this source tree's .ts): the same instance, and handlers, tspuma's server uses.
const builtOptions = process.env.RAW_OPTIONS === 'tspuma' ? ((await import(new URL('../dist/server/node-http.js', import.meta.url).href)) as { SERVER_OPTIONS: http.ServerOptions }).SERVER_OPTIONS : null;
const raw = builtOptions ? http.createServer({ ...builtOptions, noDelay: true }, handler) : http.createServer(handler);
if (!builtOptions) raw.keepAliveTimeout = 20_000; // as bench/raw-node.ts
raw.listen(Number(process.env.RAW_PORT), '127.0.0.1');

export default function hello(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
