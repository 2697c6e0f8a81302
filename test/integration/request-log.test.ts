// Integration: --log-requests as a user runs it (the built CLI, real clients): the URL as
// received under an Express router, bytes sent, the request id round trip (header in, log line,
// req.id, Rack env, 500 page, dump) and -q with --log-requests (one pid key on a worker's line is
// hardening.test's, on its -w 1 server with request lines on).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { boot, killAll, killAllBut, ROOT, run, type Booted } from '../helpers/cli.js';
import { acceptsOn, get, rawRequest, statusOf, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

/** The Express server the first two cases share (each reads the lines of its own URL). */
let shared: Booted | undefined;
afterEach(() => killAllBut(shared));
afterAll(killAll);

const EXPRESS = join(ROOT, 'test/fixtures/request-log/express-router.ts');
const RACK = join(ROOT, 'test/fixtures/request-log/rack-id.mjs');
type Line = Record<string, unknown> & { request?: Record<string, unknown> };
const requestLines = (lines: Record<string, unknown>[]) => (lines as Line[]).filter((l) => l.request !== undefined);
/** Waits until `n` request lines (of `url` when given) were logged, and returns them. */
const waitForRequestLines = (s: { lines(): Record<string, unknown>[] }, n: number, url?: string) => {
  const of = () => requestLines(s.lines()).filter((l) => url === undefined || l.request!.url === url);
  return waitFor(() => (of().length >= n ? of() : null), `${n} request line(s)${url === undefined ? '' : ` of ${url}`}`);
};
const GENERATED = /^[0-9a-f]{8}-[0-9a-z]+$/;

describe('request log', () => {
  // One Express server for the first two cases: each reads the lines of its own URL.
  beforeAll(async () => {
    shared = await boot(['--log-requests', '-b', 'tcp://127.0.0.1:0', EXPRESS]);
  });

  it('logs the URL as received under an Express router, with status, bytes sent, remote and request id', async () => {
    const s = shared!;
    const port = new URL(s.url).port;
    const raw = await rawRequest(Number(port), 'GET /api/users/7 HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-7\r\nConnection: close\r\n\r\n');
    expect(statusOf(raw.text)).toBe(200);
    const [line] = await waitForRequestLines(s, 1, '/api/users/7');
    expect(line!.request).toEqual({ id: 'trace-7', method: 'GET', url: '/api/users/7', status: 200, ms: expect.any(Number), bytes: Buffer.byteLength(raw.text, 'latin1'), remote: '127.0.0.1' });
    expect(line!.msg).toBe(`GET /api/users/7 200 ${String(line!.request!.ms)}ms ${raw.text.length}B 127.0.0.1 trace-7`);
  });

  it('round-trips a well-formed X-Request-Id through req.id, the Rack env, the 500 page and the dump; makes one otherwise', async () => {
    const express = shared!;
    expect(await (await fetch(`${express.url}/api/whoami`, { headers: { 'x-request-id': 'abc-123' } })).text()).toBe('id abc-123');
    const made = await (await fetch(`${express.url}/api/whoami`, { headers: { 'x-request-id': 'not well formed!' } })).text();
    expect(made).toMatch(/^id [0-9a-f]{8}-[0-9a-z]+$/);
    const logged = await waitForRequestLines(express, 2, '/api/whoami');
    expect(logged.map((l) => l.request!.id)).toEqual(['abc-123', made.slice(3)]);

    const dir = tempDir('reqid');
    const rack = await boot(['-d', '--inspect=off', '--log-requests', '--trust-proxy', 'loopback', '-b', 'tcp://127.0.0.1:0', RACK], { TSPUMA_DUMP_DIR: dir });
    expect(await (await fetch(`${rack.url}/`, { headers: { 'x-request-id': 'rack-1' } })).text()).toBe('env id rack-1');
    const generated = (await (await fetch(`${rack.url}/`)).text()).slice('env id '.length);
    expect(generated).toMatch(GENERATED);
    // Sent as a trusted proxy would: the dump names the client it forwarded for.
    const page = await fetch(`${rack.url}/fail`, { headers: { 'x-request-id': 'fail-9', 'x-forwarded-for': '203.0.113.9' } });
    expect(page.status).toBe(500);
    expect(await page.text()).toContain('request id: fail-9\n');
    const json = await waitFor(() => readdirSync(dir).find((f) => f.endsWith('.json')), 'the dump file');
    const dump = JSON.parse(readFileSync(join(dir, json), 'utf8')) as { request: { id: string; remote: string } };
    expect(dump.request).toMatchObject({ id: 'fail-9', remote: '203.0.113.9' });
    const txt = readFileSync(join(dir, json.replace(/\.json$/, '.txt')), 'utf8');
    expect(txt).toContain('request: GET /fail (id fail-9, from 203.0.113.9)');
  });

  it('logs requests with -q --log-requests, and none with -q alone', async () => {
    const counts: number[] = [];
    for (const args of [['-q', '--log-requests'], ['-q']]) {
      // -q hides the boot line (and its port): serve on a unix socket named here.
      const sock = join(tempDir('q'), 's.sock');
      const s = run([...args, '-b', `unix://${sock}`, RACK]);
      await acceptsOn(sock, 'the unix socket');
      expect((await get('http://localhost/q', sock)).body).toMatch(/^env id /);
      s.proc.kill('SIGTERM');
      expect(await s.exited).toBe(0); // stdout is written synchronously: every line is in
      counts.push(requestLines(s.lines()).length);
      expect(s.lines().every((l) => (l.level as number) >= 40 || l.request !== undefined)).toBe(true);
    }
    expect(counts).toEqual([1, 0]);
  });

  // One pid key on a worker's request line: hardening.test's -w 1 server with request lines on.
});
