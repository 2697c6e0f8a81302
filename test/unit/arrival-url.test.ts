// tspuma's own lines about a request (the requestTimeout 503 and its log line, an app error's
// line) name it by the URL it arrived with, as the request log does: a router rewrites req.url
// while the request is inside it (Express strips a mounted router's prefix).
import { afterEach, describe, expect, it } from 'vitest';
import { fetchHandler, nodeListener } from '../../server/adapters.js';
import { waitFor } from '../helpers/net.js';
import { startTest, stopAll } from '../helpers/server.js';

afterEach(stopAll);

/** What a mounted router does to req.url while the request is inside it. */
const mounted = (req: { url?: string }) => (req.url = req.url!.replace(/^\/api/, ''));

describe('a request whose req.url a router rewrote', () => {
  it('is named by its arrival URL in the requestTimeout 503 and its TSPUMA_ERR_REQUEST_TIMEOUT line', async () => {
    const t = await startTest({ requestTimeout: 0.3, app: nodeListener((req) => void mounted(req)) });
    const res = await fetch(`${t.url}/api/slow?ms=2500`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('GET /api/slow?ms=2500 was not answered within requestTimeout');
    const line = await waitFor(() => t.lines.find((l) => l.code === 'TSPUMA_ERR_REQUEST_TIMEOUT'), 'the timeout line');
    expect(line.url).toBe('/api/slow?ms=2500');
  });

  it('is named by its arrival URL in the line of an app error tspuma answers', async () => {
    const t = await startTest({
      app: nodeListener((req) => {
        mounted(req);
        throw new Error('boom');
      }),
    });
    expect((await fetch(`${t.url}/api/orders/7`)).status).toBe(500);
    const line = await waitFor(() => t.lines.find((l) => typeof l.msg === 'string' && l.msg.includes('failed: boom')), 'the error line');
    expect([line.url, line.msg]).toEqual(['/api/orders/7', 'GET /api/orders/7 failed: boom']);
  });

  it("gives a fetch app's request.url, built on its first read, from the URL it arrived with (bindings.incoming.url rewritten before)", async () => {
    const t = await startTest({
      app: fetchHandler((request, { incoming }) => {
        mounted(incoming); // the URL is built lazily: a rewrite before its first read must not reach it
        return new Response(`${request.url} ${incoming.url}`);
      }),
    });
    const res = await fetch(`${t.url}/api/orders/7?x=1`);
    expect(await res.text()).toBe(`${t.url}/api/orders/7?x=1 /orders/7?x=1`);
  });
});
