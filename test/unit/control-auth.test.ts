// The control app's front door: a web page (its Host or Origin) is refused before any token is
// compared, a client that keeps sending wrong tokens is refused for a while and every refusal is
// logged (throttled, never with the token it sent), and weak or blank tokens are refused at boot.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { codeOf } from '../helpers/codes.js';
import type { BoundServer } from '../../server/binder.js';
import { parseBind } from '../../server/binder-uri.js';
import { FAILURE_BUDGET, FailureBudget, startControl, type Controlled } from '../../server/control.js';
import { resolveOptions } from '../../server/options.js';
import { rawRequest, statusOf } from '../helpers/net.js';
import { captureLogger } from '../helpers/server.js';

const TOKEN = 'control-test-token-0123456789';
const fakeTarget = { stats: () => ({ workers: 0 }), cluster: null } as unknown as Controlled;
const open: BoundServer[] = [];
afterEach(() => {
  for (const b of open.splice(0)) b.server.close();
});

function request(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host: `127.0.0.1:${port}`, ...headers }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function control(budget?: FailureBudget) {
  const cap = captureLogger();
  const bound = await startControl(parseBind('tcp://127.0.0.1:0', 'test'), TOKEN, fakeTarget, cap.logger, () => {}, budget);
  open.push(bound);
  return { ...cap, port: bound.port! };
}

/** The code of a refusal's JSON answer (what `tspuma ctl` prints on stdout). */
const codeIn = (res: { body: string }): unknown => (JSON.parse(res.body) as { code?: unknown }).code;

describe('control app', () => {
  it('every refusal answers with its code, as `tspuma ctl` prints it: a rebound Host, a web Origin, a wrong token, too many wrong tokens', async () => {
    const c = await control(new FailureBudget(() => 0));
    const refused = [
      await request(c.port, `/stats?token=${TOKEN}`, { host: 'evil.example:9293' }),
      await request(c.port, `/stats?token=${TOKEN}`, { origin: 'http://evil.example' }),
    ];
    for (let i = 0; i <= FAILURE_BUDGET; i++) refused.push(await request(c.port, `/stats?token=wrong-token-${i}-abcdefgh`));
    expect(refused.map((r) => r.status)).toEqual([403, 403, ...Array<number>(FAILURE_BUDGET).fill(403), 429]);
    expect(refused.map(codeIn)).toEqual(refused.map(() => 'TSPUMA_ERR_CONTROL_REFUSED'));
  });

  it('refuses a request with two Host lines (node keeps the first) with 403 even with the right token, whichever comes first (RFC 9112 §3.2)', async () => {
    const c = await control();
    const twice = (first: string, second: string) => rawRequest(c.port, `GET /stats?token=${TOKEN} HTTP/1.1\r\nHost: ${first}\r\nHost: ${second}\r\nConnection: close\r\n\r\n`);
    const answers = [await twice('127.0.0.1', 'evil.example'), await twice('127.0.0.1', '127.0.0.1')];
    expect(answers.map((a) => statusOf(a.text))).toEqual([403, 403]);
    expect(answers[0]!.text).toContain('more than one Host line');
    expect((await request(c.port, `/stats?token=${TOKEN}`)).status).toBe(200);
  });

  it('refuses a rebound Host name and a web Origin with 403 even with the right token', async () => {
    const c = await control();
    expect((await request(c.port, `/stats?token=${TOKEN}`)).status).toBe(200);
    expect((await request(c.port, `/stats?token=${TOKEN}`, { host: 'evil.example:9293' })).status).toBe(403);
    expect((await request(c.port, `/stats?token=${TOKEN}`, { origin: 'http://evil.example' })).status).toBe(403);
  });

  it("refuses a client's wrong tokens with 429 after 10 of them while the right token is still served, logs refusals throttled and never the token sent", async () => {
    let now = 1_000_000;
    const c = await control(new FailureBudget(() => now));
    const guess = 'guess-secret-AAAA-0000';
    for (let i = 0; i < FAILURE_BUDGET; i++) expect((await request(c.port, `/stats?token=${guess}${i}`)).status).toBe(403);
    expect((await request(c.port, `/stats?token=${guess}x`)).status).toBe(429);
    // The operator on the same address (every local client is 127.0.0.1) is not locked out...
    expect((await request(c.port, `/stats?token=${TOKEN}`)).status).toBe(200);
    // ...and that does not reopen guessing.
    expect((await request(c.port, `/stats?token=${guess}y`)).status).toBe(429);
    // The window passes: a wrong token is counted again.
    now += 61_000;
    expect((await request(c.port, `/stats?token=${guess}z`)).status).toBe(403);
    const refusals = c.lines.filter((l) => l.code === 'TSPUMA_ERR_CONTROL_REFUSED');
    // 1st and 10th wrong token, 1st 429 (the 11th wrong token and the 2nd 429 are counted, not logged).
    expect(refusals.map((l) => l.count)).toEqual([1, 10, 1]);
    // The line says how to send a token, as written: no part of it reads as a secret to redact (S18.1).
    expect(String(refusals[0]!.msg)).toContain('a valid token is required (the query parameter "token", or an Authorization header with a Bearer token); wrong or missing (1 of 10 allowed per 60 s)');
    expect(JSON.stringify(c.lines)).not.toContain(guess);
    expect(JSON.stringify(c.lines)).not.toContain(TOKEN);
  });
});

/** POSTs `size` bytes to /probes with the right token: with a Content-Length, or chunked. */
function post(port: number, size: number, chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: `127.0.0.1:${port}`, authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = String(size);
    const req = http.request({ host: '127.0.0.1', port, path: '/probes', method: 'POST', headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    const chunk = 'a'.repeat(16 * 1024);
    let left = size;
    const write = () => {
      while (left > 0) {
        const part = chunk.slice(0, Math.min(left, chunk.length));
        left -= part.length;
        if (!req.write(part)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

describe('control app request bodies', () => {
  for (const chunked of [false, true]) {
    it(`answers a ${chunked ? 'chunked' : 'Content-Length'} body over 64 KiB with 413 and a coded reason naming both sizes, and keeps serving`, async () => {
      const c = await control();
      const res = await post(c.port, 500_000, chunked);
      expect(res.status).toBe(413);
      const body = JSON.parse(res.body) as { error: string; code: string };
      expect(body.code).toBe('TSPUMA_ERR_CONTROL_REFUSED');
      expect(body.error).toBe(`a request body of ${chunked ? 'more than 65536 bytes (chunked)' : '500000 bytes (Content-Length)'} is over the control app's limit of 65536 bytes`);
      expect((await request(c.port, `/stats?token=${TOKEN}`)).status).toBe(200);
    });
  }
});

describe('control token option', () => {
  const resolve = (token: unknown) => () => resolveOptions([{ source: 'command line', values: { controlToken: token }, fromString: true, origins: { controlToken: '--control-token' } }]);

  it('refuses a blank token with a coded error instead of replacing it with a random one', () => {
    expect(codeOf(resolve('        '))).toBe('TSPUMA_ERR_OPTION_INVALID');
    expect(codeOf(resolve(''))).toBe('TSPUMA_ERR_OPTION_INVALID');
  });

  it('refuses tokens shorter than 16 characters or with little variety, and takes a random-looking one', () => {
    expect(codeOf(resolve('aaaaaaaa'))).toBe('TSPUMA_ERR_OPTION_INVALID');
    expect(codeOf(resolve('a'.repeat(32)))).toBe('TSPUMA_ERR_OPTION_INVALID');
    expect(codeOf(resolve('abab-abab-abab-abab'))).toBe('TSPUMA_ERR_OPTION_INVALID');
    expect(codeOf(resolve('3f9c2a7e1b8d4c60a5e9f1d2'))).toBeNull();
  });
});
