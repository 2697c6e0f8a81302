// The servers users would otherwise pick, for the benchmark's anchor rows (bench/http.ts): the
// same app modules tspuma serves, on @hono/node-server (Hono, a plain fetch handler) or on
// Express's app.listen (node:http). Usage: node dist/bench/anchors.js hono|fetch|express PORT
import { serve } from '@hono/node-server';

const [kind, portText] = process.argv.slice(2);
const port = Number(portText);
if (kind === 'express') {
  const { default: app } = await import('./express-app.js');
  const server = app.listen(port, '127.0.0.1');
  // As bench/raw-node.ts: node's 5 s keep-alive timer, refreshed per request either way, cut
  // connections under callgrind, where a server stalled by the machine's load for longer than that
  // runs the timer before the read of the request already waiting (the client's 'read ECONNRESET').
  server.keepAliveTimeout = 20_000;
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
} else if (kind === 'hono' || kind === 'fetch') {
  const { default: app } = kind === 'hono' ? await import('./hono-app.js') : await import('./fetch-app.js');
  const server = serve({ fetch: (request: Request) => app.fetch(request), port, hostname: '127.0.0.1' });
  // As the Express anchor's: under callgrind at a load of 30 the fetch anchor's first count ended
  // in the client's 'read ECONNRESET' (session 19) with node's default 5 s.
  (server as import('node:http').Server).keepAliveTimeout = 20_000;
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
} else {
  throw new Error(`usage: anchors.js hono|fetch|express PORT (got ${kind})`);
}
