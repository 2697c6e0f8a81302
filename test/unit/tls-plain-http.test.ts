// A plain HTTP request on an ssl:// bind (a proxy's `proxy_pass http://` to it, a health check
// without TLS, curl http://) is answered 400 "use https://" before TLS sees it (TLS alone closed it
// unanswered), and the server's log says so at warn, throttled, naming the client and the port
// (review11.9); a TLS client on the same bind is served.
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Running } from '../../server/single.js';
import { start } from '../../server/start.js';
import { ROOT } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { captureLogger } from '../helpers/server.js';

const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

/** Sends a plain HTTP request to `port` and resolves with what came back before the close. */
function plainRequest(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    let got = '';
    c.on('data', (d) => (got += String(d)));
    c.on('close', () => resolve(got));
    c.on('error', reject);
  });
}

describe('a plain HTTP request on an ssl:// bind', () => {
  it('is answered 400 "use https://" with Connection: close and logged at warn with TSPUMA_ERR_TLS_PLAIN_HTTP, the client and the port, the 1st and 10th times; TLS on the same bind is served', async () => {
    const cap = captureLogger();
    const bind = `ssl://127.0.0.1:0?cert=${join(ROOT, 'test/fixtures/cert.pem')}&key=${join(ROOT, 'test/fixtures/key.pem')}`;
    const r = await start({ bind, app: (_req: unknown, res: { end(s: string): void }) => res.end('ok') }, { logger: cap.logger });
    running.push(r);
    const port = r.listeners[0]!.port!;
    for (let i = 0; i < 10; i++) {
      const answer = await plainRequest(port);
      expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(answer).toMatch(/\r\nConnection: close\r\n/i);
      expect(answer.split('\r\n\r\n')[1]).toBe('400 This port speaks TLS: send the request with https:// (TSPUMA_ERR_TLS_PLAIN_HTTP).\n');
    }
    const warned = () => cap.lines.filter((l) => l.code === 'TSPUMA_ERR_TLS_PLAIN_HTTP');
    await waitFor(() => (warned().length === 2 ? true : undefined), 'two warnings (the 1st and the 10th)');
    expect(warned()[0]).toMatchObject({ level: 40, remote: '127.0.0.1', port, count: 1 });
    expect(warned()[0]!.msg).toBe(`A plain HTTP request from 127.0.0.1 reached the TLS bind on port ${port} and was answered 400 (use https://): the client, or a proxy or health check in front of tspuma (nginx proxy_pass http://), must use https:// there; to serve plain HTTP behind a proxy that ends TLS, bind tcp://.`);
    expect(warned()[1]).toMatchObject({ count: 10 });
    expect(warned()[1]!.msg).toMatch(/ \(10 so far\)$/);
    // TLS on the same bind, a body of several TLS records included.
    const body = 'x'.repeat(100_000);
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, method: 'POST', path: '/tls', rejectUnauthorized: false, headers: { 'content-length': body.length } }, (r) => {
        let text = '';
        r.on('data', (d) => (text += String(d)));
        r.on('end', () => resolve({ status: r.statusCode!, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(res).toEqual({ status: 200, text: 'ok' });
  });
});
