// The baseline for `npm run bench`: the same hello world on bare node:http, nothing else.
// Spawned by bench/http.ts with the port as argv[2].
import http from 'node:http';

const body = 'Hello World\n';
const server = http.createServer((_req, res) => {
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
