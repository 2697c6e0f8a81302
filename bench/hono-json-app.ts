// The response most Hono APIs send, c.json(): an app for bench/fetch-invoke.ts.
import { Hono } from 'hono';

const app = new Hono();
app.get('/', (c) => c.json({ hello: 'world' }));

export default app;
