// Hono 4, as is: a Hono app is an object with fetch(request), so tspuma serves it as a fetch app.
// The second argument carries node's objects, as @hono/node-server does: c.env.incoming / c.env.outgoing.
// Run: npx tspuma examples/hono.ts
import { Hono } from 'hono';
import { streamText } from 'hono/streaming';
import type { FetchBindings } from 'tspuma';

const app = new Hono<{ Bindings: FetchBindings }>();

app.get('/', (c) => c.text('Hello from Hono\n'));
app.get('/json/:name', (c) => c.json({ name: c.req.param('name'), remote: c.env.incoming.socket.remoteAddress }));
app.post('/echo', async (c) => c.json({ received: await c.req.json() }));
app.get('/stream', (c) =>
  streamText(c, async (stream) => {
    for (let i = 0; i < 3; i++) await stream.writeln(`line ${i}`);
  }),
);

export default app;
