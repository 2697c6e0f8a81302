// A tspuma app for issue 27's discriminating run (bench/README.md, session 14): bench/raw-node.ts's
// handler on a node:http server of its own, started by this module on RAW_PORT while tspuma loads
// it (tspuma warns TSPUMA_ERR_APP_LISTEN and serves the exported handler on its own binds, idle
// here). Set against raw node:http alone, wrk on RAW_PORT measures what the tspuma process around
// the request costs raw node:http's own request path (its heap, threads, timers, hooks and flags);
// against bench/listener-app.ts on tspuma, what tspuma's request path costs:
//   bench/cpu-processes.sh 6 2 raw1="node dist/bench/raw-node.js @PORT@" \
//     inside1="env RAW_PORT=@PORT@ node dist/server/cli.js -q -e production -b tcp://127.0.0.1:0 bench/raw-inside-app.ts" \
//     ts1="node dist/server/cli.js -q -e production -b tcp://127.0.0.1:@PORT@ bench/listener-app.ts" ...
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';

const body = 'Hello World\n';
const raw = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
raw.keepAliveTimeout = 20_000; // as bench/raw-node.ts
raw.listen(Number(process.env.RAW_PORT), '127.0.0.1');

export default function hello(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
