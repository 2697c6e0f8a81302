// In-process tests on 127.0.0.1:0: what an operator sees of requests the app did not answer:
// a 408 for a slow head (a throttled warn line, a request line with logRequests, stats'
// error_answers) and a client that left while the app ran (a folded warn line, stats' clients_gone).
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeListener } from '../../server/adapters.js';
import { rawRequest, statusOf, waitFor } from '../helpers/net.js';
import { recording, startTest, stopAll } from '../helpers/server.js';

afterEach(stopAll);

const warnings = (lines: Record<string, unknown>[], code: string) => lines.filter((l) => l.level === 40 && l.code === code);

describe('a 408 for a slow request head', () => {
  it('is a warn line (the 1st, 10th, 100th...), an error_answers count, and no request line without logRequests', async () => {
    const t = await startTest({ app: recording().app, firstDataTimeout: 0.2 });
    for (let i = 0; i < 10; i++) {
      const r = await rawRequest(t.port, 'GET / HTTP/1.1\r\nHost: x\r\n');
      expect(statusOf(r.text)).toBe(408);
    }
    const lines = warnings(t.lines, 'TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT');
    expect(lines.map((l) => l.count)).toEqual([1, 10]);
    expect(String(lines[1]!.msg)).toContain('(client 127.0.0.1; 10 such 408s so far)');
    expect(lines[0]!.remote).toBe('127.0.0.1');
    expect(t.running.server.stats().error_answers).toEqual({ 408: 10 });
    expect(t.lines.filter((l) => l.request !== undefined)).toEqual([]);
  });

  it('gets a request line with logRequests: no method or path (the head never completed), status 408', async () => {
    const t = await startTest({ app: recording().app, firstDataTimeout: 0.2, logRequests: true });
    const r = await rawRequest(t.port, 'GET /partial HTTP/1.1\r\nHost: x\r\n');
    expect(statusOf(r.text)).toBe(408);
    const line = await waitFor(() => t.lines.find((l) => l.request !== undefined), 'the request line');
    expect(line.request).toMatchObject({ method: null, url: null, status: 408, remote: '127.0.0.1' });
    expect((line.request as { bytes: number }).bytes).toBe(Buffer.byteLength(r.text, 'latin1'));
    expect(String(line.msg)).toMatch(/^- - 408 -ms \d+B 127\.0\.0\.1 -$/);
  });

  it('gives a head node:http could not parse (400) the same request line with logRequests (review21.2)', async () => {
    const t = await startTest({ app: recording().app, logRequests: true });
    const r = await rawRequest(t.port, 'GARBAGE\r\n\r\n');
    expect(statusOf(r.text)).toBe(400);
    const line = await waitFor(() => t.lines.find((l) => l.request !== undefined), 'the request line');
    expect(line.request).toMatchObject({ method: null, url: null, status: 400, remote: '127.0.0.1' });
    expect(String(line.msg)).toMatch(/^- - 400 -ms \d+B 127\.0\.0\.1 -$/);
  });

  it('counts the other server answers by status too (400, 413)', async () => {
    const t = await startTest({ app: recording().app, httpContentLengthLimit: 10 });
    expect(statusOf((await rawRequest(t.port, 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n')).text)).toBe(400);
    expect(statusOf((await rawRequest(t.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n')).text)).toBe(413);
    await waitFor(() => (t.running.server.stats().error_answers?.[413] ?? 0) > 0, 'the 413 counted');
    expect(t.running.server.stats().error_answers).toEqual({ 400: 1, 413: 1 });
  });
});

describe('a client that leaves while the app runs', () => {
  it('is one warn line with the method, the redacted path and the time in the app, then folded; counted in clients_gone', async () => {
    let ran = 0;
    const app = nodeListener((_req, _res) => {
      ran++; // never answers: each client gives up first
    });
    const t = await startTest({ app, requestTimeout: 0 });
    for (let i = 0; i < 3; i++) {
      const socket = net.connect(t.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(`GET /orders/${i}?token=s3cret HTTP/1.1\r\nHost: x\r\n\r\n`);
      await waitFor(() => ran > i, 'the app to run the request');
      socket.destroy();
      await waitFor(() => t.running.server.stats().clients_gone === i + 1, 'the hang-up counted');
    }
    const lines = warnings(t.lines, 'TSPUMA_ERR_CLIENT_LEFT');
    expect(lines).toHaveLength(1);
    expect(String(lines[0]!.msg)).toMatch(/^GET \/orders\/0\?token=\[redacted\]: the client closed the connection after [\d.]+ s in the app, before any response/);
    expect(lines[0]).toMatchObject({ method: 'GET', url: '/orders/0?token=[redacted]' });
    expect(JSON.stringify(t.lines)).not.toContain('s3cret');
  });

  it('is not said of a response the app finished, nor of an event stream whose client left', async () => {
    const app = nodeListener((req, res) => {
      if (req.url === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: 1\n\n');
        return;
      }
      res.end('ok');
    });
    const t = await startTest({ app });
    expect(statusOf((await rawRequest(t.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).text)).toBe(200);
    const socket = net.connect(t.port, '127.0.0.1');
    socket.on('error', () => undefined);
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => got.includes('data: 1'), 'the first event');
    socket.destroy();
    await waitFor(() => t.running.server.deadlines.size === 0, 'the stream to close');
    expect(t.running.server.stats().clients_gone).toBe(0);
    expect(warnings(t.lines, 'TSPUMA_ERR_CLIENT_LEFT')).toEqual([]);
  });
});
