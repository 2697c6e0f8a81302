// Integration: with -d, a 5xx the app answers itself for a failure tspuma could not capture (V8
// does not pause on a stack overflow; Hono's c.req.json() throws with no app frame), when the
// app's own error handler logs only the message, still gets a dump of the error behind it; a 5xx
// with no error at all gets one saying that no error reached tspuma.
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { boot, killAll, type Booted } from '../helpers/cli.js';
import { dumpsIn, lineOf } from '../helpers/dumps.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const LOCAL = 'tcp://127.0.0.1:0';
const EXPRESS = 'test/fixtures/apps/express-error-mw-app.ts';
const HONO = 'test/fixtures/apps/hono-onerror-app.ts';
const LATE = 'test/fixtures/apps/express-late-write-app.ts';

/** The dump `pick` finds in `dir`; on a timeout, the error lists the dumps that are there (code, message, URL). */
const dumpFor = (dir: string, pick: (d: Dump) => boolean, what: string): Promise<Dump> =>
  waitFor(() => dumpsIn(dir).find(pick), what, 10_000).catch((err: Error) => {
    throw new Error(`${err.message}; the dumps in ${dir}: ${JSON.stringify(dumpsIn(dir).map((d) => [d.kind, d.error.code, d.error.message, d.request?.url]))}`);
  });

afterAll(killAll);

/**
 * For a request whose route writes after its response went out: Express's final handler then
 * destroys the connection (finalhandler: "cannot actually respond"), some milliseconds after the
 * client read the response and put the connection back in its pool, and a later case's request
 * written to it meanwhile got `other side closed` (review18). Sent with `Connection: close`, the
 * client does not reuse it.
 */
const CUT = { headers: { connection: 'close' } };

/**
 * The Express server of the first block and of the block on work left running after a response:
 * their failures are at sites of their own (walk, the 503, the gift quote and PriceService's new
 * bug; the unawaited promise and the timer), each dump found by its message. The two bugs on one
 * line (Q18) and requestTimeout (S7) need servers of their own: a fresh mute, a config.
 */
let shared: Promise<{ s: Booted; dir: string }> | undefined;
const sharedExpress = () =>
  (shared ??= (async () => {
    const dir = tempDir('express-mw');
    return { s: await boot(['-d', '--inspect=off', '-b', LOCAL, EXPRESS], { TSPUMA_DUMP_DIR: dir }), dir };
  })());

/**
 * Three groups side by side ({ concurrent: true }): the cases on the shared Express server and the
 * servers of their own, in order (describe.sequential), beside the requestTimeout server's two
 * cases (S7 waits out requestTimeout, 2 s, twice). In turn the file took 8.0 s of a quiet run's wall
 * for 2.4 s of CPU.
 */
describe('dumps of 5xx the app answered itself, on shared servers', { concurrent: true }, () => {
  describe.sequential('Express 5 with a user error middleware that logs only err.message', () => {
    let s: Booted;
    let dir: string;
    beforeAll(async () => {
      ({ s, dir } = await sharedExpress());
    });

    // First on this block's server (debug9.1): the members' captures and the middleware's held
    // AggregateError need pausing on, and the capture budget's rate (20 pauses a second, then a
    // backoff with pausing off) is the server's, shared by every case that runs on it. After a burst
    // of earlier pauses within its second (12 late-header requests at once: 24 pauses) the dump was
    // only the 500's, 'the app answered GET /api/mirrors with 500; it logged: ...'. Here only the
    // other block's two pauses (an unawaited rejection, a timer) can share its second.
    it("dumps the AggregateError of a Promise.any the middleware answered 500 for, with each member's throw and values, not the first member's throw as if it were the error (review9.6)", async () => {
      const res = await fetch(`${s.url}/api/mirrors`);
      expect(res.status).toBe(500);
      const d = await dumpFor(dir, (d) => d.request?.url === '/api/mirrors', 'the dump of GET /api/mirrors');
      expect({ name: d.error.name, message: d.error.message }).toEqual({ name: 'AggregateError', message: 'All promises were rejected' });
      expect(d.members!.map((m) => [m.error.message, m.site, m.captured])).toEqual([
        ['mirror alpha has no copy in eu-west', `${EXPRESS}:${lineOf(EXPRESS, 'throw new Error(`mirror ${name}')}`, true],
        ['archive shelf 7 is offline', `${EXPRESS}:${lineOf(EXPRESS, 'throw new Error(`archive shelf')}`, true],
      ]);
      expect(d.members![1]!.frames[d.members![1]!.culprit]!.locals).toMatchObject({ shelf: 7 });
    });

    it('dumps a stack overflow the middleware answered 500 for: the overflow line names walk, request GET /api/deep', async () => {
      const res = await fetch(`${s.url}/api/deep`);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'internal' }); // the app's own answer, untouched
      const d = await dumpFor(dir, (d) => d.error.message === 'Maximum call stack size exceeded', 'the stack overflow dump');
      expect(d.response).toEqual({ status: 500 });
      expect(d.request).toMatchObject({ method: 'GET', url: '/api/deep' });
      expect(d.frames[d.culprit]).toMatchObject({ function: 'walk', file: EXPRESS, line: lineOf(EXPRESS, 'return walk(depth + 1) + 1;') });
      await waitFor(() => /stack overflow: walk calls itself/.test(s.stderr()) || undefined, 'the overflow line on stderr');
    });

    it('dumps a 503 answered with no error at all, saying that no error reached tspuma', async () => {
      const res = await fetch(`${s.url}/api/maintenance`);
      expect(res.status).toBe(503);
      const d = await dumpFor(dir, (d) => d.response?.status === 503, 'the dump of the 503');
      expect(d.request).toMatchObject({ method: 'GET', url: '/api/maintenance' });
      expect(d.note).toMatch(/^the app answered 503 itself and no error reached tspuma/);
    });

    it("makes no dump of an upload whose client hung up mid-body, which the middleware answered 500 for ('Request aborted', as multer hands it on): a hang-up, not the app's failure (N7)", async () => {
      const { port } = new URL(s.url);
      const sock = connect(Number(port), '127.0.0.1');
      await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
      sock.write(`POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 9000000\r\n\r\n${'x'.repeat(200_000)}`);
      await new Promise((resolve) => sock.write('', resolve));
      sock.destroy();
      await waitFor(() => s.stderr().includes('[error-mw] POST /api/upload: Request aborted') || undefined, "the middleware's line for the aborted upload");
      // A failure after it, dumped: the aborted upload's dump, had there been one, came first.
      expect((await fetch(`${s.url}/api/after-upload`)).status).toBe(500);
      await dumpFor(dir, (d) => d.error.message === 'the failure after the upload', 'the dump of the failure after the upload');
      expect(dumpsIn(dir).filter((d) => d.error.message === 'Request aborted')).toEqual([]);
    });

    it("dumps a header set after the response went out (200), although the error middleware then set res.statusCode to 500 answering for it (N13)", async () => {
      const res = await fetch(`${s.url}/api/late-header`, CUT);
      expect([res.status, await res.text()]).toEqual([200, 'ok']);
      const d = await dumpFor(dir, (d) => d.request?.url === '/api/late-header', 'the dump of the late header');
      expect(d.error.message).toMatch(/Cannot set headers after they are sent to the client/);
      expect(d.note).toMatch(/^the response \(200\) had already been sent/);
      expect(d.frames[d.culprit]).toMatchObject({ file: EXPRESS, line: lineOf(EXPRESS, "res.setHeader('x-late', '1');") });
    });

    it('counts the repeats of a failure (has happened 10 times) and dumps a new bug in the same muted function at once', async () => {
      for (let i = 1; i <= 10; i++) expect((await fetch(`${s.url}/api/quote/gift?qty=${i}`)).status).toBe(500);
      const first = await dumpFor(dir, (d) => d.error.message === 'gift cards cannot be quoted (qty 1)', 'the first gift card dump');
      expect(first.frames[first.culprit]).toMatchObject({ function: 'PriceService.quote', line: lineOf(EXPRESS, "if (kind === 'gift') throw"), locals: { qty: 1 } });
      await waitFor(() => new RegExp(`the failure of dump #${first.id} \\(Error: gift cards cannot be quoted \\(qty \\d+\\)\\) has happened 10 times`).test(s.stderr()) || undefined, 'the count of 10');
      // Another bug in the same function, muted after the repeats: dumped now, not once the mute ends.
      expect((await fetch(`${s.url}/api/quote/pen`)).status).toBe(500);
      const d = await dumpFor(dir, (d) => d.error.message.includes("reading 'unit'"), 'the dump of the new bug');
      expect(d.frames[d.culprit]).toMatchObject({ function: 'PriceService.quote', line: lineOf(EXPRESS, 'return table[kind]!.unit * qty;') });
      expect(d.response).toEqual({ status: 500 });
      expect(d.note).toMatch(/thrown in a function where pausing was muted/);
    });
  });

  describe.sequential('work an Express 5 handler under a mounted router leaves running after its response', () => {
    let s: Booted;
    let dir: string;
    beforeAll(async () => {
      ({ s, dir } = await sharedExpress());
    });

    it('names a `void` promise rejecting after the response by the URL it arrived with and its peer: GET /api/unawaited?token=[redacted] from 127.0.0.1', async () => {
      const res = await fetch(`${s.url}/api/unawaited?token=zzzzzz123`);
      expect(await res.json()).toEqual({ queued: 'ord_77' });
      const d = await dumpFor(dir, (d) => d.error.message.includes("reading 'plan'"), 'the rejection dump');
      expect(d.request).toMatchObject({ method: 'GET', url: '/api/unawaited?token=[redacted]', remote: '127.0.0.1' });
      await waitFor(() => /request: GET \/api\/unawaited\?token=\[redacted\] \(id \S+, from 127\.0\.0\.1\)/.test(s.stderr()) || undefined, 'the request line on stderr');
      expect(s.stderr() + s.stdout()).not.toContain('zzzzzz123');
    });

    it('names a timer throwing after the response by the URL it arrived with and its peer: GET /api/timer from 127.0.0.1', async () => {
      // The client hangs up at once (Connection: close), before the timer throws.
      const res = await fetch(`${s.url}/api/timer`, { headers: { connection: 'close' } });
      expect(await res.json()).toEqual({ jobId: 42 });
      const d = await dumpFor(dir, (d) => d.error.message === 'timer job 42 failed', 'the timer dump');
      expect(d.request).toMatchObject({ method: 'GET', url: '/api/timer', remote: '127.0.0.1' });
      await waitFor(() => /request: GET \/api\/timer \(id \S+, from 127\.0\.0\.1\)/.test(s.stderr()) || undefined, 'the request line on stderr');
    });
  });

  describe.sequential('Express 5: a route that writes after its response was sent (ERR_HTTP_HEADERS_SENT)', () => {
    let s: Booted;
    const dir = tempDir('express-late');
    beforeAll(async () => {
      s = await boot(['-d', '--inspect=off', '-b', LOCAL, LATE], { TSPUMA_DUMP_DIR: dir });
    });

    it('dumps the setHeader after res.send() Express logged, with its values, though the client got a 200', async () => {
      const res = await fetch(`${s.url}/headers`, CUT);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('first');
      const d = await dumpFor(dir, (d) => d.error.code === 'ERR_HTTP_HEADERS_SENT' && d.request?.url === '/headers', 'the dump of the late setHeader');
      expect(d.captured).toBe(true);
      expect(d.frames[d.culprit]).toMatchObject({ file: LATE, line: lineOf(LATE, 'res.setHeader(late'), locals: { late: 'x-late' } });
      expect(d.response).toEqual({ status: 200 });
      expect(d.note).toMatch(/^the response \(200\) had already been sent/);
    });

    it('dumps an async route answering again after an await, with orderId', async () => {
      expect((await fetch(`${s.url}/async-late`, CUT)).status).toBe(200);
      const d = await dumpFor(dir, (d) => d.error.code === 'ERR_HTTP_HEADERS_SENT' && d.request?.url === '/async-late', 'the dump of the second answer');
      expect(d.frames[d.culprit]).toMatchObject({ file: LATE, line: lineOf(LATE, 'res.status(201).json'), locals: { orderId: 'ord_9' } });
    });

    it('dumps the error of a response destroyed before any byte (pipeline of a missing file into res, then next(err)): no response, the ENOENT with its path', async () => {
      const answered = await fetch(`${s.url}/report/q3`).then((r) => r.status, (err: Error) => `failed: ${(err.cause as Error | undefined)?.message ?? err.message}`);
      expect(answered).toMatch(/^failed: /); // the connection closed with no response
      const d = await dumpFor(dir, (d) => d.error.code === 'ENOENT' && d.request?.url === '/report/q3', 'the dump of the missing report');
      expect(d.response).toBeUndefined();
      expect(d.note).toMatch(/^no response was sent: the response was destroyed before its head/);
      expect(JSON.stringify(d.error)).toContain('/nonexistent-tspuma-reports/q3.csv');
    });

    it('dumps it too when the process then gets no turn of its loop for 300 ms before the close (a loaded machine: stress31.1)', async () => {
      const answered = await fetch(`${s.url}/export?busy=300`).then((r) => r.status, (err: Error) => `failed: ${(err.cause as Error | undefined)?.message ?? err.message}`);
      expect(answered).toMatch(/^failed: /);
      const d = await dumpFor(dir, (d) => d.error.code === 'EISDIR' && d.request?.url === '/export?busy=300', 'the dump of the export, the loop held 300 ms');
      expect(d.note).toMatch(/^no response was sent: the response was destroyed before its head/);
    });

    it('makes no dump of the write error a feed route logs after its client left (ERR_STREAM_DESTROYED: a hang-up), for an event stream as for a streamed body', async () => {
      const { port } = new URL(s.url);
      for (const path of ['/feed', '/feed?events=1']) {
        const sock = connect(Number(port), '127.0.0.1');
        sock.on('error', () => {});
        sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
        await new Promise((resolve) => sock.once('data', resolve)); // the head and a first event
        sock.destroy();
        await waitFor(() => s.stderr().includes(`[feed] ${path}: could not write`) || undefined, `the route's line for ${path}`);
      }
      // A request answered after those lines: a dump of them, had there been one, was written by then.
      expect((await fetch(`${s.url}/handled`)).status).toBe(200);
      expect(dumpsIn(dir).filter((d) => d.request?.url.startsWith('/feed'))).toEqual([]);
    });

    it('makes no dump for a throw the route caught itself before answering 200', async () => {
      expect(await (await fetch(`${s.url}/handled`)).text()).toBe('fallback');
      // A later failure's dump is written after it: then /handled's would have been too.
      expect((await fetch(`${s.url}/late-cookie`, CUT)).status).toBe(200);
      await dumpFor(dir, (d) => d.request?.url === '/late-cookie', 'the dump of /late-cookie, after /handled');
      expect(dumpsIn(dir).filter((d) => d.request?.url === '/handled')).toEqual([]);
    });
  });

  describe.sequential('Hono 4 with app.onError logging only err.message', () => {
    let s: Booted;
    const dir = tempDir('hono-onerror');
    beforeAll(async () => {
      s = await boot(['-d', '--inspect=off', '-b', LOCAL, HONO], { TSPUMA_DUMP_DIR: dir });
    });

    it('dumps the malformed body c.req.json() failed on: culprit the app line that awaited it, response 500', async () => {
      const res = await fetch(`${s.url}/cart/total`, { method: 'POST', body: '{"password":"hpw12345", bad', headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'sorry' });
      const d = await dumpFor(dir, (d) => d.error.name === 'SyntaxError', 'the JSON dump');
      expect(d.response).toEqual({ status: 500 });
      expect(d.request).toMatchObject({ method: 'POST', url: '/cart/total' });
      expect(d.frames[d.culprit]).toMatchObject({ file: HONO, line: lineOf(HONO, 'await c.req.json<Cart>()') });
      expect(d.note).toMatch(new RegExp(`thrown inside the package hono \\(.+\\) with no app frame on the stack \\(the app awaited it at test/fixtures/apps/hono-onerror-app\\.ts:${lineOf(HONO, 'await c.req.json<Cart>()')}\\)`));
      for (const out of [JSON.stringify(d), s.stderr(), s.stdout()]) expect(out).not.toContain('hpw12345');
    });

    it('dumps a stack overflow onError answered 500 for (its 500 is written after onError returned): the overflow line names walk', async () => {
      const res = await fetch(`${s.url}/deep`);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'sorry' });
      const d = await dumpFor(dir, (d) => d.error.message === 'Maximum call stack size exceeded', 'the stack overflow dump');
      expect(d.response).toEqual({ status: 500 });
      expect(d.frames[d.culprit]).toMatchObject({ function: 'walk', file: HONO, line: lineOf(HONO, 'return walk(depth + 1) + 1;') });
      await waitFor(() => /stack overflow: walk calls itself/.test(s.stderr()) || undefined, 'the overflow line on stderr');
    });
  });

  describe.sequential('an app throwing errors whose properties throw when read', () => {
    it('answers 500 for each of a throwing message, stack and name getter under -d, keeps serving, and dumps the message one through a stand-in saying so', async () => {
      const dir = tempDir('getters');
      const s = await boot(['-d', '--inspect=off', '-b', LOCAL, 'test/fixtures/apps/getter-throws-app.ts'], { TSPUMA_DUMP_DIR: dir });
      for (const path of ['/message', '/stack', '/name']) {
        expect((await fetch(`${s.url}${path}`)).status, path).toBe(500);
        expect(await (await fetch(`${s.url}/ok`)).text()).toBe('ok\n');
      }
      expect(s.proc.exitCode).toBeNull();
      const d = await dumpFor(dir, (d) => d.request?.url === '/message', 'the dump of /message');
      expect(d.error.message).toBe('(reading this error for its dump threw Error: message getter boom)');
    });
  });
});

/**
 * The Express server of the requestTimeout block (a config of its own) and of the two-bugs block (a
 * fresh mute of planName, which no other request of this server reaches): booted when a case first
 * asks (a server each was a boot more). requestTimeout 2 s scaled by the load (SLOWNESS): S7's
 * case holds at any value (its upstream answers after 30 s), and it bounds the two-bugs requests,
 * answered at once on a quiet machine (a -d capture each), which a loaded one need not answer within an unscaled 2 s.
 */
const REQUEST_TIMEOUT_S = 2 * SLOWNESS;
let timeoutShared: Promise<{ s: Booted; dir: string }> | undefined;
const timeoutExpress = () =>
  (timeoutShared ??= (async () => {
    const dir = tempDir('express-timeout');
    const cfg = join(dir, 'timeout.config.mjs');
    writeFileSync(cfg, `export default { requestTimeout: ${REQUEST_TIMEOUT_S} };\n`);
    return { s: await boot(['-d', '--inspect=off', '-C', cfg, '-b', LOCAL, EXPRESS], { TSPUMA_DUMP_DIR: join(dir, 'dumps') }), dir };
  })());

describe('Express 5 with that middleware, a request tspuma ends at requestTimeout (S7)', { concurrent: true }, () => {
  it("dumps tspuma's own 503 as tspuma's (TSPUMA_ERR_REQUEST_TIMEOUT), not as a 503 the app answered itself; a second one is a repeat", async () => {
    const { s, dir } = await timeoutExpress();
    const res = await fetch(`${s.url}/api/slow-upstream?token=abc123456789`);
    expect(res.status).toBe(503);
    const d = await dumpFor(join(dir, 'dumps'), (d) => d.request?.url?.startsWith('/api/slow-upstream') === true, 'the dump of the timed-out request');
    expect(d.error).toMatchObject({ code: 'TSPUMA_ERR_REQUEST_TIMEOUT' });
    expect(d.response).toBeUndefined();
    expect(d.note).toMatch(new RegExp(`^tspuma answered 503 in the app's place: the app had not sent a response head within requestTimeout \\(${REQUEST_TIMEOUT_S} s\\)`));
    expect(d.request).toMatchObject({ method: 'GET', url: '/api/slow-upstream?token=[redacted]' });
    // Its frames are tspuma's deadline sweep, which reported it: none is the culprit, none marked (review16.1: '> #0 RequestLifecycle.requestTimeout').
    expect(d.culprit).toBe(-1);
    expect(d.frames.length).toBeGreaterThan(0);
    expect(d.frames.filter((f) => f.culprit)).toEqual([]);
    expect(s.stderr()).not.toMatch(/^ {2}> #\d+ RequestLifecycle\.requestTimeout/m);
    expect(s.stderr()).not.toContain('the app answered GET /api/slow-upstream with 503');
    expect((await fetch(`${s.url}/api/slow-upstream`)).status).toBe(503);
    // Reported before the 503 is written, so by now a second dump file would exist: the site is one per server.
    expect(dumpsIn(join(dir, 'dumps')).filter((x) => x.error.code === 'TSPUMA_ERR_REQUEST_TIMEOUT')).toHaveLength(1);
  });
});

describe('Express 5 with that middleware, two bugs on one line (the requestTimeout block\'s server)', { concurrent: true }, () => {
  it("dumps a second, different failure on a muted line (reading 'profile' at another column after reading 'plan' repeated): not folded into the first's dump (Q18)", async () => {
    const { s, dir: root } = await timeoutExpress();
    const dir = join(root, 'dumps');
    for (const id of [2, 2, 2]) expect((await fetch(`${s.url}/api/plan/${id}`)).status).toBe(500);
    const plan = await dumpFor(dir, (d) => d.error.message.includes("reading 'plan'"), "the dump of reading 'plan'");
    const line = lineOf(EXPRESS, 'return accounts[id]!.profile!.plan');
    expect(plan.frames[plan.culprit]).toMatchObject({ function: 'planName', line });
    expect((await fetch(`${s.url}/api/plan/99`)).status).toBe(500);
    const profile = await dumpFor(dir, (d) => d.error.message.includes("reading 'profile'"), "the dump of reading 'profile'");
    expect(profile.frames[profile.culprit]).toMatchObject({ function: 'planName', line });
    expect(profile.id).not.toBe(plan.id);
  });
});
