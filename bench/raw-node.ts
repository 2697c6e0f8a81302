// The baseline for `npm run bench`: the same hello world on bare node:http, nothing else.
// Spawned by bench/http.ts with the port as argv[2].
import http from 'node:http';

const body = 'Hello World\n';
// RAW_CHUNKED=1: paired.sh's anchor (../shared/bench/node-http.js): no Content-Length, so node
// frames the body in chunks (Transfer-Encoding: chunked), as its listener row's both sides answer.
const server = process.env.RAW_CHUNKED === '1'
  ? http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(body);
    })
  : http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
// bench/connections.ts holds idle connections for minutes: RAW_KEEPALIVE_MS=0 keeps them.
server.keepAliveTimeout = Number(process.env.RAW_KEEPALIVE_MS ?? 20_000);
// RAW_MAX_REQUESTS=999: node closes each connection after that many requests (maxRequestsPerSocket), as
// tspuma's maxKeepAlive does: the same reconnection waves (bench/feedback-states.ts).
if (process.env.RAW_MAX_REQUESTS) server.maxRequestsPerSocket = Number(process.env.RAW_MAX_REQUESTS);
server.listen(Number(process.argv[2]), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
