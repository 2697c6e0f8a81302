// A Hono response with a header of its own beside its type (c.header() then c.json(): Hono hands the
// Response a Headers object): an app for bench/fetch-invoke.ts, the general writer's row.
import { Hono } from 'hono';

const app = new Hono();
app.get('/', (c) => {
  c.header('Cache-Control', 'no-store');
  return c.json({ hello: 'world' });
});

export default app;
