// tspuma's own listeners (health, control, discovery): a silent or dripping client is cut at the
// header deadline, an idle keep-alive connection is closed, and connections are capped in total and
// per client, each refusal logged throttled.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSideServer, SIDE_LIMITS } from '../../server/side-listener.js';
import { rawRequest, waitFor } from '../helpers/net.js';
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
  it('use tspuma\'s 20 s header deadline and cap every listener', () => {
    for (const limits of Object.values(SIDE_LIMITS)) {
      expect(limits.headersMs).toBe(20_000);
      expect(limits.maxConnections).toBeLessThanOrEqual(128);
      expect(limits.perClient).toBeLessThanOrEqual(limits.maxConnections);
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

  it('closes connections past the per-client cap at once and logs the refusal throttled', async () => {
    const s = await side({ headersMs: 5000, idleMs: 5000, maxConnections: 50, perClient: 3 });
    const held: net.Socket[] = [];
    const closed: number[] = [];
    await Promise.all(
      Array.from({ length: 15 }, (_, i) => new Promise<void>((resolve) => {
        const c = net.connect(s.port, '127.0.0.1', () => resolve());
        c.on('close', () => closed.push(i));
        c.on('error', () => undefined);
        held.push(c);
      })),
    );
    await waitFor(() => closed.length >= 12, 'the 12 connections past the cap closed', 3000);
    expect(closed.length).toBe(12);
    const refusals = s.lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('refused a connection'));
    expect(refusals.map((l) => l.count)).toEqual([1, 10]);
    for (const c of held) c.destroy();
  });
});
