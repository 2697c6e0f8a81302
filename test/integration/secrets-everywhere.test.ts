// Integration: a secret redacted anywhere is redacted everywhere tspuma writes: dumps (JSON and
// text), stderr, log lines, the development 500 page. A password copied under other names, a
// card number in a JSON body, a header in node's flat rawHeaders array, an axios-style error's
// config.headers.authorization, a WebSocket upgrade URL's access_token.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Dump } from '../../diagnostics/model.js';
import { boot, killAll, type Booted } from '../helpers/cli.js';
import { dumpsIn, lineOf } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'test/fixtures/apps/secrets-follow-app.ts';
/** axios-error-app, echo-secrets-app and empty-secret-app behind one server, by the X-Fixture header. */
const FETCH_APPS = 'test/fixtures/apps/secret-errors-app.ts';

function dumpFor(dir: string, text: string): Promise<Dump> {
  return waitFor(() => dumpsIn(dir).find((d) => d.error.message.includes(text)), `a dump for "${text}"`);
}
/** Every file in the dump folder, as text. */
const folder = (dir: string) => readdirSync(dir).map((n) => readFileSync(join(dir, n), 'utf8')).join('\n');

afterAll(killAll);

/**
 * The fetch apps' server with -d or without, booted once for every case that asks (one -d server
 * for the axios, echo and empty cases; one plain one for the axios and echo cases): a case picks
 * its app by X-Fixture and reads the log lines that came after its own start.
 */
const fetchApps = new Map<boolean, Promise<{ s: Booted; dir: string }>>();
function fetchAppsServer(debug: boolean): Promise<{ s: Booted; dir: string }> {
  let server = fetchApps.get(debug);
  if (server === undefined) {
    const dir = tempDir(debug ? 'fetch-apps-d' : 'fetch-apps');
    server = boot([...(debug ? ['-d', '--inspect=off'] : []), '-b', 'tcp://127.0.0.1:0', FETCH_APPS], { TSPUMA_DUMP_DIR: dir }).then((s) => ({ s, dir }));
    fetchApps.set(debug, server);
  }
  return server;
}
/** The first request error line (level 50) after the first `from` lines. */
const errorLineAfter = (s: Booted, from: number) => waitFor(() => s.lines().slice(from).find((l) => l.level === 50), 'the request error line');

describe('redaction follows the value', () => {
  let s: Booted;
  const dir = tempDir('follow');
  beforeAll(async () => {
    s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', APP], { TSPUMA_DUMP_DIR: dir });
  });
  const outputs = () => [folder(dir), s.stderr(), s.stdout()];

  it('redacts a password under every other name it is copied to (pw, a property k of another object)', async () => {
    const res = await fetch(`${s.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ann', password: 'PW-FOLLOW-77123' }) });
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain('PW-FOLLOW-77123');
    const d = await dumpFor(dir, 'login refused for ann');
    const culprit = d.frames[d.culprit]!;
    expect(culprit).toMatchObject({ function: 'checkLogin', line: lineOf(APP, 'throw new Error(`login refused'), locals: { user: 'ann', pw: '[redacted]', attempt: { summary: 'Object {u: "ann", k: "[redacted]"}' } } });
    expect(d.frames.find((f) => f.locals.password !== undefined)!.locals.password).toBe('[redacted]');
    for (const out of outputs()) expect(out).not.toContain('PW-FOLLOW-77123');
  });

  it('redacts a Luhn-valid card number in a JSON body wherever it lands (the local, body-parser\'s raw body)', async () => {
    const res = await fetch(`${s.url}/pay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cardNumber: '4111111111111111', amount: 500 }) });
    expect(res.status).toBe(500);
    const d = await dumpFor(dir, 'amount 500 over the limit');
    expect(d.frames[d.culprit]).toMatchObject({ function: 'charge', line: lineOf(APP, 'throw new Error(`amount'), locals: { order: { summary: 'Object {cardNumber: "[redacted]", amount: 500}' } } });
    for (const out of outputs()) expect(out).not.toContain('4111111111111111');
  });

  it("redacts the value after a secret header's name in node's flat rawHeaders array", async () => {
    const res = await fetch(`${s.url}/forward`, { headers: { 'x-api-key': 'RAWKEY-55aa-90', 'x-trace': 'visible-1' } });
    expect(res.status).toBe(500);
    const d = await dumpFor(dir, 'upstream refused');
    const headers = (d.frames[d.culprit]!.locals.headers as { summary: string }).summary;
    expect(headers).toMatch(/"x-api-key", "\[redacted\]"/);
    expect(headers).toContain('"x-trace", "visible-1"');
    for (const out of outputs()) expect(out).not.toContain('RAWKEY-55aa-90');
  });

  it("logs a failing WebSocket handler's upgrade URL with its access_token redacted, as request lines do", async () => {
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/socket?access_token=WS-TOKEN-8c1e44&fail=open`);
    await new Promise<void>((resolve) => ws.on('close', () => resolve()).on('error', () => resolve()));
    const line = await waitFor(() => s.lines().find((l) => String(l.msg).includes('websocket.open')), 'the handler error line');
    expect(JSON.stringify(line)).toContain('access_token=[redacted]&fail=open');
    for (const out of outputs()) expect(out).not.toContain('WS-TOKEN-8c1e44');
  });
});

describe('redactCardNumbers: false', () => {
  it('keeps a card number as it is (test card ranges, identifiers that pass Luhn)', async () => {
    const dir = tempDir('cards-off');
    const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', APP], { TSPUMA_DUMP_DIR: dir, TSPUMA_REDACT_CARD_NUMBERS: 'false' });
    const res = await fetch(`${s.url}/pay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cardNumber: '4111111111111111', amount: 500 }) });
    expect(res.status).toBe(500);
    const d = await dumpFor(dir, 'amount 500 over the limit');
    expect(d.frames[d.culprit]!.locals.order).toEqual({ summary: 'Object {cardNumber: "4111111111111111", amount: 500}' });
  });
});

describe("an axios-style error's request config", () => {
  for (const debug of [true, false]) {
    it(`never leaks its Authorization header (${debug ? '-d: dump, stderr, log line, 500 page' : 'without -d: log line, 500 page'})`, async () => {
      const { s, dir } = await fetchAppsServer(debug);
      const from = s.lines().length;
      const res = await fetch(s.url, { headers: { 'x-fixture': 'axios' } });
      expect(res.status).toBe(500);
      const page = await res.text();
      const line = await errorLineAfter(s, from);
      // The line keeps what explains the failure: the response, the config's URL and method.
      expect(line.err).toMatchObject({ type: 'AxiosLikeError', config: { url: 'https://api.example.test/me', method: 'get', headers: { Accept: 'application/json', Authorization: '[redacted]' } }, response: { status: 401, data: { error: 'invalid_token' } } });
      if (debug) {
        const d = await dumpFor(dir, 'Request failed with status code 401');
        expect(d.error.fields!.config).toEqual({ summary: expect.stringContaining('"Authorization":"[redacted]"') });
        expect(page).toContain('tspuma dump #1 [app] AxiosError: Request failed with status code 401');
      }
      for (const out of [page, s.stdout(), s.stderr(), folder(dir)]) expect(out).not.toContain('AXIOS-TOKEN-6f1d2c');
    });
  }
});

describe("an error message that quotes the request's secret headers (review15)", () => {
  for (const debug of [false, true]) {
    it(`leaks none of X-Api-Key, Authorization (after \`auth=\`), the session cookie, X-Session or X-Totp-Code (${debug ? '-d: dump, stderr, log line, 500 page' : 'without -d: log line, 500 page'})`, async () => {
      const { s, dir } = await fetchAppsServer(debug);
      const from = s.lines().length;
      const secrets = ['ApiKey-ECHO-5b7c9d1e', 'Bearer-ECHO-3f8a2c6d9e', 'Session-ECHO-8e4f1a2b', 'sess-ECHO-4d7e1b9c', '804213'];
      const res = await fetch(s.url, { headers: { 'x-fixture': 'echo', 'x-api-key': secrets[0]!, authorization: `Bearer ${secrets[1]}`, cookie: `theme=dark; sid=${secrets[2]}`, 'x-session': secrets[3]!, 'x-totp-code': secrets[4]! } });
      expect(res.status).toBe(500);
      const page = await res.text();
      const line = await errorLineAfter(s, from);
      // The line still says what failed, the secrets' places kept.
      expect(line.msg).toBe('GET / failed: upstream refused key [redacted] (auth=Bearer [redacted], session [redacted], held [redacted], code [redacted])');
      if (debug) await dumpFor(dir, 'upstream refused key');
      for (const out of [page, s.stdout(), s.stderr(), folder(dir)]) for (const secret of secrets) expect(out).not.toContain(secret);
    });
  }
});

describe('a secret-named local that holds nothing (review15)', () => {
  it('is shown as undefined, null or "" in the dump (the cause of a 3 a.m. failure), while one holding a value stays redacted', async () => {
    const { s, dir } = await fetchAppsServer(true);
    expect((await fetch(s.url, { headers: { 'x-fixture': 'empty' } })).status).toBe(500);
    const d = await dumpFor(dir, 'login refused');
    const locals = d.frames[d.culprit]!.locals;
    expect(locals.auth).toEqual({ summary: 'undefined' });
    expect(locals.password).toBe('');
    expect(locals.apiKey).toBeNull();
    expect(locals.token).toBe('[redacted]');
    for (const out of [folder(dir), s.stderr(), s.stdout()]) expect(out).not.toContain('TOKEN-EMPTY-9c2f4e1a');
  });
});
