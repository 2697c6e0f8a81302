// tspuma's own listeners (health, control, discovery): a silent or dripping client is cut at the
// header deadline, an idle keep-alive connection is closed, and connections are capped in total and
// per client, each refusal logged throttled.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSideServer, SIDE_LIMITS } from '../../server/side-listener.js';
import { rawRequest, statusOf, waitFor } from '../helpers/net.js';
import { captureLogger } from '../helpers/server.js';

const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    (s as unknown as { closeAllConnections(): void }).closeAllConnections();
    s.close();
  }
});

async function side(limits: { headersMs: number; idleMs: number; maxConnections: number; perClient: number }) {
  const cap = captureLogger();
  const server = createSideServer('test listener', limits, cap.logger, (_req, res) => res.end('ok'));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { ...cap, port: (server.address() as net.AddressInfo).port };
}

describe('side listeners', () => {
  it("use tspuma's 20 s header deadline (discovery 5 s: DevTools sends its head at once) and cap every listener, per client below the total", () => {
    for (const [name, limits] of Object.entries(SIDE_LIMITS)) {
      expect(limits.headersMs, name).toBe(name === 'discovery' ? 5_000 : 20_000);
      expect(limits.maxConnections, name).toBeLessThanOrEqual(128);
      expect(limits.perClient, name).toBeLessThan(limits.maxConnections);
    }
  });

  it('answers a head still incomplete at the deadline with 408 and closes it', async () => {
    const s = await side({ headersMs: 500, idleMs: 500, maxConnections: 8, perClient: 8 });
    const started = Date.now();
    const reply = await rawRequest(s.port, 'GET / HTTP/1.1\r\nHo', 5000);
    expect(reply.closed).toBe(true);
    expect(reply.text).toMatch(/^HTTP\/1\.1 408/);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it("past the per-client cap a new connection takes the place of the client's longest-idle one (a held half-sent head), logged throttled", async () => {
    const s = await side({ headersMs: 5000, idleMs: 5000, maxConnections: 50, perClient: 3 });
    const held: net.Socket[] = [];
    const closed: number[] = [];
    for (let i = 0; i < 15; i++) {
      await new Promise<void>((resolve) => {
        const c = net.connect(s.port, '127.0.0.1', () => {
          c.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ');
          resolve();
        });
        c.on('close', () => closed.push(i));
        c.on('error', () => undefined);
        held.push(c);
      });
    }
    await waitFor(() => closed.length >= 12, 'the 12 oldest connections closed', 3000);
    // The oldest went first; the 3 newest are the ones still open.
    expect([...closed].sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    // A real client from the same address is answered though the cap is held.
    expect(statusOf((await rawRequest(s.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).text)).toBe(200);
    const evictions = s.lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('closed the longest-idle connection'));
    expect(evictions.map((l) => l.count)).toEqual([1, 10]);
    for (const c of held) c.destroy();
  });

  it('refuses a connection past the per-client cap when every connection of that client is busy answering: a 503 with TSPUMA_ERR_LISTENER_BUSY, then closed', async () => {
    const release: (() => void)[] = [];
    const cap = captureLogger();
    const server = createSideServer('test listener', { headersMs: 5000, idleMs: 5000, maxConnections: 50, perClient: 2 }, cap.logger, (_req, res) => void release.push(() => res.end('ok')));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const busy = [rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')];
    await waitFor(() => release.length === 2, 'both requests in the handler', 3000);
    const third = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3000);
    expect(third.closed).toBe(true);
    expect(statusOf(third.text)).toBe(503);
    expect(third.text).toContain('"code":"TSPUMA_ERR_LISTENER_BUSY"');
    expect(third.text).toContain('The test listener is busy: the 2 connections it allows from 127.0.0.1 are open, each answering a request');
    const refusals = cap.lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('refused a connection from 127.0.0.1: 2 connections from 127.0.0.1 reached, every one of them busy'));
    expect(refusals).toHaveLength(1);
    // The log line carries the code the client read (review10.3: a log alert keys on codes).
    expect(refusals[0]!.code).toBe('TSPUMA_ERR_LISTENER_BUSY');
    for (const r of release) r();
    expect((await Promise.all(busy)).map((r) => statusOf(r.text))).toEqual([200, 200]);
  });

  it('at the total cap a new connection from another address takes the place of the longest-idle one', async () => {
    const s = await side({ headersMs: 5000, idleMs: 5000, maxConnections: 4, perClient: 4 });
    const held: net.Socket[] = [];
    for (let i = 0; i < 4; i++) {
      await new Promise<void>((resolve) => {
        const c = net.connect({ port: s.port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => {
          c.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ');
          resolve();
        });
        c.on('error', () => undefined);
        held.push(c);
      });
    }
    expect(statusOf((await rawRequest(s.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).text)).toBe(200);
    expect(s.lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('its cap of 4 connections reached; closed the longest-idle connection (from 127.0.0.2'))).toHaveLength(1);
    for (const c of held) c.destroy();
  });
});
