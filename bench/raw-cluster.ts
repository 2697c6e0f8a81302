// Baseline for `npm run bench`: the same hello world on bare node:cluster with 2 workers
// sharing the listening socket (SCHED_NONE, tspuma's model). Spawned with the port as argv[2] and,
// optionally, the number of workers as argv[3] (cpu-per-request's raw-w1 counts one under callgrind).
import cluster from 'node:cluster';
import http from 'node:http';

const port = Number(process.argv[2]);
const workers = Number(process.argv[3] ?? 2);
if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let listening = 0;
  for (let i = 0; i < workers; i++) cluster.fork().on('listening', () => ++listening === workers && process.stdout.write('ready\n'));
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const body = 'Hello World\n';
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  // As raw-node.ts: under callgrind a worker can be still for more than node's 5 s, and a
  // connection it closes as idle while the client sends on it failed the count (ECONNRESET).
  server.keepAliveTimeout = Number(process.env.RAW_KEEPALIVE_MS ?? 20_000);
  server.listen(port, '127.0.0.1');
}
