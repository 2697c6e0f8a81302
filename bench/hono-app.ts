// The Hono 4 app of the benchmark's Hono pair (bench/http.ts): served by tspuma as is, and by
// @hono/node-server (bench/anchors.ts), the adapter Hono users pick.
import { Hono } from 'hono';

const app = new Hono();
app.get('/', (c) => c.text('Hello World\n'));

export default app;
