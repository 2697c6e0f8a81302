// Integration: with -d, failures an app's framework answers itself (Express 5, Hono 4), work
// after the response (a promise left to reject, timers, emitters, streams, interval jobs),
// errors that travel (cause chains, AggregateError, string rejections, errors never thrown),
// long-lived responses and tspuma's own handler each give a dump with the culprit's .ts line
// and its values. Cases share one server boot per app; uncaught exceptions need one each.
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Dump, DumpFrame } from '../../diagnostics/model.js';
import { boot, killAll, run, ROOT, type Booted } from '../helpers/cli.js';
import { dumpsIn, lineOf } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const LOCAL = 'tcp://127.0.0.1:0';
const EXPRESS = 'test/fixtures/apps/express-app.ts';
const HONO = 'test/fixtures/apps/hono-app.ts';
const FETCH = 'test/fixtures/apps/fetch-app.ts';
const CRASH = 'test/fixtures/apps/crash-app.ts';

/** The dump whose error message contains `text`, once its file is written. */
function dumpFor(dir: string, text: string, timeoutMs = 10_000): Promise<Dump> {
  return waitFor(() => dumpsIn(dir).find((d) => d.error.message.includes(text)), `a dump for "${text}"`, timeoutMs);
}

const culprit = (d: Dump): DumpFrame => d.frames[d.culprit]!;

afterAll(killAll);

/** One -d server of EXPRESS and its dump folder, booted by the first describe that asks. */
let express: Promise<{ s: Booted; dir: string }> | null = null;
function expressServer(): Promise<{ s: Booted; dir: string }> {
  return (express ??= (async () => {
    const dir = tempDir('express');
    return { s: await boot(['-d', '--inspect=off', '-b', LOCAL, EXPRESS], { TSPUMA_DUMP_DIR: dir }), dir };
  })());
}

describe('Express 5: errors Express answers itself', () => {
  let s: Booted;
  let dir: string;
  beforeAll(async () => {
    ({ s, dir } = await expressServer());
  });

  it('dumps an async handler throwing after an await in a repository helper, with id=7, and leaves Express\'s own 500 alone', async () => {
    const res = await fetch(`${s.url}/users/7`);
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(body).toContain('<!DOCTYPE html>'); // Express's finalhandler page, not tspuma's
    // Neither tspuma's error page nor a dump in it. (Not "no `tspuma` at all": Express's page
    // shows the stack's paths, which name the checkout's folder, whatever it is called.)
    expect(body).not.toMatch(/tspuma caught this error|tspuma dump #/);
    const d = await dumpFor(dir, 'no row for user 7');
    expect(culprit(d)).toMatchObject({ function: 'findUser', file: EXPRESS, line: lineOf(EXPRESS, 'throw new Error(`no row for user'), locals: { id: 7, table: 'users' } });
    expect(d.captured).toBe(true);
    expect(d.response).toEqual({ status: 500 });
    expect(d.request).toMatchObject({ method: 'GET', url: '/users/7' });
  });

  it('dumps a sync middleware throw with its tenant local', async () => {
    expect((await fetch(`${s.url}/admin`)).status).toBe(500);
    const d = await dumpFor(dir, 'no tenant header');
    expect(culprit(d)).toMatchObject({ function: 'requireTenant', line: lineOf(EXPRESS, "if (tenant === 'none') throw"), locals: { tenant: 'none' } });
  });

  it('names where an error handed to next(err) without a throw was created, and says its values are not obtainable', async () => {
    expect((await fetch(`${s.url}/orders/5/validate`)).status).toBe(500);
    const d = await dumpFor(dir, 'quantity -2');
    expect(d.error.name).toBe('RangeError');
    expect(culprit(d)).toMatchObject({ function: 'validateOrder', file: EXPRESS, line: lineOf(EXPRESS, 'next(new RangeError(') });
    expect(d.captured).toBe(false);
    expect(d.note).toMatch(/without a throw in app code .*values are not obtainable/);
  });

  it('shows a cause chain and takes the frames of the innermost throw in app code (cents=1299)', async () => {
    expect((await fetch(`${s.url}/orders/5/pay`)).status).toBe(500);
    const d = await dumpFor(dir, 'payment of order 5 failed');
    expect(d.error.causes).toEqual([expect.objectContaining({ message: 'card declined for 1299 cents on 5', site: `${EXPRESS}:${lineOf(EXPRESS, 'throw new Error(`card declined')}`, captured: true })]);
    expect(d.framesFromCause).toBe(1);
    expect(culprit(d)).toMatchObject({ function: 'chargeCard', line: lineOf(EXPRESS, 'throw new Error(`card declined'), locals: { cents: 1299, orderId: '5' } });
  });

  it('lists an AggregateError\'s members from Promise.any, each with the capture of its own throw', async () => {
    expect((await fetch(`${s.url}/mirrors`)).status).toBe(500);
    const d = await dumpFor(dir, 'All promises were rejected');
    expect(d.error.name).toBe('AggregateError');
    const members = d.members!.map((m) => ({ captured: m.captured, ...culprit(m as unknown as Dump) }));
    expect(members).toEqual([
      expect.objectContaining({ captured: true, function: 'fromPrimary', line: lineOf(EXPRESS, 'throw new Error(`primary'), locals: { region: 'eu-1' } }),
      expect.objectContaining({ captured: true, function: 'fromBackup', line: lineOf(EXPRESS, 'throw new Error(`backup'), locals: { region: 'us-2' } }),
    ]);
    expect(culprit(d).function).toBe('fromPrimary');
  });

  it('matches a string rejection to where it was rejected (waitedMs=5)', async () => {
    expect((await fetch(`${s.url}/upstream`)).status).toBe(500);
    const d = await dumpFor(dir, 'upstream timeout after 5 ms');
    expect(d.error.name).toBe('string');
    expect(culprit(d)).toMatchObject({ line: lineOf(EXPRESS, 'reject(`upstream timeout'), locals: { waitedMs: 5 } });
  });

  it('dumps `void sendWelcomeEmail()` rejecting after the response, with its values and the request that started it', async () => {
    expect((await fetch(`${s.url}/signup`, { method: 'POST' })).status).toBe(201);
    const d = await dumpFor(dir, 'welcome mail to user 31');
    expect(d.kind).toBe('rejection');
    expect(culprit(d)).toMatchObject({ function: 'sendWelcomeEmail', line: lineOf(EXPRESS, 'throw new Error(`welcome mail'), locals: { userId: 31, smtpHost: 'mail.invalid' } });
    expect(d.request).toMatchObject({ method: 'POST', url: '/signup' });
    expect(d.response).toBeUndefined();
    expect((await fetch(`${s.url}/ok`)).status).toBe(200);
  });

  // The request's JSON body is parsed by express.json() before the handler runs: node hands the
  // body (already in) over through process.nextTick, and debug mode must follow the call there.
  it('dumps a charge whose JSON body express.json() parsed, failing after an await and re-thrown with a cause (amountCents=900000), with its request', async () => {
    const res = await fetch(`${s.url}/wallets/bob/charge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"amountCents":900000}' });
    expect(res.status).toBe(500);
    const d = await dumpFor(dir, 'charge of 900000 for bob failed');
    expect(d.response).toEqual({ status: 500 });
    expect(d.request).toMatchObject({ method: 'POST', url: '/wallets/bob/charge' });
    expect(d.error.causes).toEqual([expect.objectContaining({ message: 'insufficient funds for bob', captured: true })]);
    expect(culprit(d)).toMatchObject({ function: 'Wallet.debit', line: lineOf(EXPRESS, 'throw new Error(`insufficient funds'), locals: { amountCents: 900000 } });
  });

  it('names the request that started `void sendReceipt()` from a handler behind express.json(), rejecting after the response (orderId=12)', async () => {
    const res = await fetch(`${s.url}/receipts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"orderId":12}' });
    expect(res.status).toBe(202);
    const d = await dumpFor(dir, 'receipt for order 12 refused');
    expect(d.kind).toBe('rejection');
    expect(culprit(d)).toMatchObject({ function: 'sendReceipt', locals: { orderId: 12, relay: 'relay.invalid' } });
    expect(d.request).toMatchObject({ method: 'POST', url: '/receipts' });
  });
});

describe('Express 5: a 5xx the app answers on purpose', () => {
  // maint-app.ts, mounted under /maint-app by express-app.ts: on the server above (each dump is
  // found by its own message; a -d Express boot of its own was 0.3-0.4 s of CPU).
  const MAINT = 'test/fixtures/apps/maint-app.ts';
  let s: Booted;
  let dir: string;
  beforeAll(async () => {
    ({ s, dir } = await expressServer());
  });

  it("says a maintenance 503 after a throw the app caught in its own try may not be that throw's doing, naming the try's line", async () => {
    const res = await fetch(`${s.url}/maint-app/maint`);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('down for maintenance, retry in 60 s');
    const d = await dumpFor(dir, 'is not valid JSON');
    const tryLine = lineOf(MAINT, 'return JSON.parse(');
    expect(culprit(d)).toMatchObject({ function: 'readCache', file: MAINT, line: tryLine });
    expect(d.note).toBe(`the app answered 503 itself and neither it nor its framework logged or handed tspuma an error; the last throw in this request, below, was caught by the app's own try at ${MAINT}:${tryLine}, so it may not be why the app answered 503`);
    // The dump file and the dump's text on stderr are written apart: wait for the text.
    await waitFor(() => s.stderr().includes('  response: the app answered 503 itself\n'), "the 503 dump's response line on stderr");
  });

  it('still names the throw an error middleware answered 500 for as its cause, with no such note', async () => {
    expect((await fetch(`${s.url}/maint-app/charge`)).status).toBe(500);
    const d = await dumpFor(dir, 'charge of 250000');
    expect(culprit(d)).toMatchObject({ function: 'chargeCard', line: lineOf(MAINT, 'throw new RangeError'), locals: { cents: 250000 } });
    expect(d.note).toBeUndefined();
    expect(d.response).toEqual({ status: 500 });
  });
});

describe('Hono 4 and fetch handlers', () => {
  // One Hono server for both: each dump is found by its own message.
  let s: Booted;
  const dir = tempDir('hono');
  beforeAll(async () => {
    s = await boot(['-d', '--inspect=off', '-b', LOCAL, HONO], { TSPUMA_DUMP_DIR: dir });
  });
  /** The answer to POST /cart over the limit and its dump, taken once: two cases read them. */
  let cart: Promise<{ status: number; text: string; dump: Dump }> | undefined;
  const overTheLimit = () =>
    (cart ??= (async () => {
      const res = await fetch(`${s.url}/cart`, { method: 'POST', body: JSON.stringify({ sku: 'A-1', qty: 12 }), headers: { 'content-type': 'application/json' } });
      const text = await res.text();
      return { status: res.status, text, dump: await dumpFor(dir, 'qty 12 of A-1') };
    })());

  it('dumps a Hono handler throwing after `await c.req.json()`, Hono\'s 500 untouched', async () => {
    const { status, text, dump: d } = await overTheLimit();
    expect(status).toBe(500);
    expect(text).toBe('Internal Server Error');
    expect(culprit(d)).toMatchObject({ function: 'priceFor', file: HONO, line: lineOf(HONO, 'throw new RangeError'), locals: { unitCents: 250 } });
    // esbuild's second name for `export default app` is not a local of the app's.
    expect(d.frames.flatMap((f) => Object.keys(f.locals)).filter((k) => k.endsWith('_default'))).toEqual([]);
    expect(d.response).toEqual({ status: 500 });
  });

  // Was dump-noise.test's (that file is gone), where it booted this app with -d once more for the same request.
  it("shows Hono's Context by its data fields, its methods only counted", async () => {
    const { dump: d } = await overTheLimit();
    expect(culprit(d)).toMatchObject({ function: 'priceFor', line: lineOf(HONO, 'throw new RangeError') });
    const handler = d.frames.find((f) => f.locals.c !== undefined)!;
    const context = (handler.locals.c as { summary: string }).summary;
    expect(context).toMatch(/^Context \{/);
    expect(context).toMatch(/\d+ method\(s\)/);
    expect(context).not.toMatch(/: function/);
    expect(handler.locals.item).toEqual({ summary: 'Object {sku: "A-1", qty: 12}' });
  });

  it("dumps a malformed JSON body Hono fails to parse with the body it was given (redacted) and says the throw was inside Hono with no app frame", async () => {
    const body = '{"sku":"A-1","password":"HonoBadJson-pw1", "cardNumber": 4111111111111111';
    const res = await fetch(`${s.url}/cart`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(500);
    const d = await dumpFor(dir, 'JSON');
    expect(culprit(d)).toMatchObject({ file: HONO, line: lineOf(HONO, '(await c.req.json())') });
    expect(d.request!.body).toEqual({ type: 'text', text: '{"sku":"A-1","password":"[redacted]", "cardNumber": [redacted]' });
    expect(d.note).toMatch(/^thrown inside the package hono \(.+ at node_modules\/hono\/dist\/request\.js:\d+:\d+\) with no app frame on the stack \(the app awaited it at test\/fixtures\/apps\/hono-app\.ts:12\), so no values were captured/);
    for (const out of [JSON.stringify(d), s.stderr(), s.stdout()]) {
      expect(out).not.toContain('HonoBadJson-pw1');
      expect(out).not.toContain('4111111111111111');
    }
  });

  it("makes no dump when the client hangs up mid-body and Hono's default onError logs the body read's AbortError (review11.4): a hang-up, not the app's failure (N7)", async () => {
    const sock = connect(Number(new URL(s.url).port), '127.0.0.1');
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    sock.write(`POST /cart HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9000000\r\n\r\n${'x'.repeat(200_000)}`);
    await new Promise((resolve) => sock.write('', resolve));
    sock.destroy();
    // Hono's onError prints the error object (console.error(err)): the body read's rejection.
    await waitFor(() => s.stderr().includes('The client closed the connection before the request body was complete') || undefined, "Hono's line for the aborted body");
    // A request served after that line: the turn that would have dumped it (after the log) has run.
    expect((await fetch(`${s.url}/ok`)).status).toBe(200);
    expect(dumpsIn(dir).filter((d) => d.error.message.includes('before the request body was complete'))).toEqual([]);
    expect(s.stderr()).not.toMatch(/tspuma dump #\d+ \[app\] AbortError/);
  });

  describe('a fetch app with a WebSocket handler and a throwing lowlevelErrorHandler', () => {
    let s: Booted;
    const dir = tempDir('fetch');
    const cfg = tempDir('fetch-cfg');
    const config = join(cfg, 'tspuma.config.mjs');
    beforeAll(async () => {
      writeFileSync(
        config,
        `export default {
  debug: true,
  app: ${JSON.stringify(join(ROOT, FETCH))},
  lowlevelErrorHandler(err, env, status) {
    if (env.PATH_INFO !== '/report') return null;
    const trackerUrl = 'https://errors.invalid/api';
    throw new Error('error tracker ' + trackerUrl + ' unreachable');
  },
};\n`,
      );
      s = await boot(['--inspect=off', '-b', LOCAL], { TSPUMA_DUMP_DIR: dir }, cfg);
    });

    it('dumps a throw after `await request.text()` with the body it parsed', async () => {
      expect((await fetch(`${s.url}/orders`, { method: 'POST', body: 'a,b' })).status).toBe(500);
      const d = await dumpFor(dir, 'an order needs 3 fields');
      expect(culprit(d)).toMatchObject({ function: 'parseOrder', line: lineOf(FETCH, 'throw new Error(`an order needs'), locals: { body: 'a,b' } });
      expect(culprit(d).file.endsWith(FETCH)).toBe(true); // absolute: the server runs in the config's folder
    });

    it('dumps an event stream that throws after its headers and three events (lastEventId=3)', async () => {
      const res = await fetch(`${s.url}/prices`);
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      let text = '';
      const reader = res.body!.getReader();
      try {
        for (let r = await reader.read(); !r.done; r = await reader.read()) text += Buffer.from(r.value).toString();
      } catch {
        /* the server cut the stream: expected */
      }
      expect(text).toContain('data: tick 3\n\n');
      expect(text).not.toContain('tick 4');
      const d = await dumpFor(dir, 'price feed broke after event 3');
      expect(culprit(d)).toMatchObject({ function: 'pull', line: lineOf(FETCH, 'throw new Error(`price feed broke'), locals: { lastEventId: 3 } });
      expect(d.request).toMatchObject({ url: '/prices' });
    });

    it('dumps a WebSocket message handler throwing after an await (command="launch")', async () => {
      const ws = new WebSocket(`${s.url.replace('http', 'ws')}/socket`);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      ws.send('launch');
      const closed = await new Promise<number>((resolve) => ws.once('close', resolve));
      expect(closed).toBe(1011);
      const d = await dumpFor(dir, 'unknown command launch');
      expect(culprit(d)).toMatchObject({ function: 'message', line: lineOf(FETCH, 'throw new Error(`unknown command'), locals: { command: 'launch' } });
    });

    it('dumps a throwing lowlevelErrorHandler at its own frame; the client still gets a 500 and the server stays up', async () => {
      const res = await fetch(`${s.url}/report`);
      expect(res.status).toBe(500);
      const d = await dumpFor(dir, 'lowlevelErrorHandler');
      expect(d.error.code).toBe('TSPUMA_ERR_LOWLEVEL_HANDLER');
      expect(d.phase).toBe('hook');
      const configLine = readFileSync(config, 'utf8').split('\n').findIndex((l) => l.includes("throw new Error('error tracker")) + 1;
      expect(culprit(d)).toMatchObject({ function: 'lowlevelErrorHandler', line: configLine, locals: { trackerUrl: 'https://errors.invalid/api' } });
      expect(culprit(d).file.endsWith('tspuma.config.mjs')).toBe(true);
      expect(await (await fetch(`${s.url}/ok`)).text()).toBe('ok\n');
    });
  });
});

describe('cluster mode', () => {
  // One worker (a second was 0.4 s of CPU for nothing the case checks): its index is 0, where a
  // single-mode dump has none.
  it('dumps the Express case in cluster mode (-w 1) with the worker index', async () => {
    const dir = tempDir('express-w1');
    const s = await boot(['-d', '--inspect=off', '-w', '1', '-b', LOCAL, EXPRESS], { TSPUMA_DUMP_DIR: dir });
    expect((await fetch(`${s.url}/users/9`)).status).toBe(500);
    const d = await dumpFor(dir, 'no row for user 9');
    expect(d.worker).toBe(0);
    expect(culprit(d)).toMatchObject({ function: 'findUser', line: lineOf(EXPRESS, 'throw new Error(`no row for user'), locals: { id: 9 } });
  });
});

describe('uncaught exceptions: the dump, then a stop with exit code 1 and a last line saying why', () => {
  async function crash(route: string | null, env: Record<string, string> = {}, hold = false): Promise<{ dump: Dump; last: Record<string, unknown>; lines: Record<string, unknown>[] }> {
    const dir = tempDir('crash');
    // Requests left in the app (the held one, a cut stream) get min(5 s, forceShutdownAfter) to
    // finish before the exit; that wait is the same with half a second.
    const config = join(dir, 'tspuma.config.mjs');
    writeFileSync(config, 'export default { forceShutdownAfter: 0.5 };\n');
    const args = ['-d', '--inspect=off', '-C', config, '-b', LOCAL, CRASH];
    // A job started at module load may fail before or after the boot line: only the exit is awaited.
    const s = route === null ? run(args, { TSPUMA_DUMP_DIR: dir, ...env }) : await boot(args, { TSPUMA_DUMP_DIR: dir, ...env });
    // Its head arrives while its body stays open: the request is in the app before the crash.
    const held = hold ? await fetch(`${(s as Booted).url}/hold`) : null;
    if (route) await fetch(`${(s as Booted).url}${route}`).then((r) => r.text()).catch(() => 'cut');
    expect(await s.exited).toBe(1);
    await held?.text().catch(() => 'cut');
    const lines = s.lines();
    return { dump: dumpsIn(dir)[0]!, last: lines[lines.length - 1]!, lines };
  }

  it('a timer callback: culprit retryPayment (attempt=3), with the request still open attached', async () => {
    const { dump, last, lines } = await crash('/timer', {}, true);
    expect(culprit(dump).function).toMatch(/retryPayment$/);
    // The held request's 503 line says what ran out (forceShutdownAfter, shorter here than the 5 s
    // an uncaught exception's stop waits at most; test/unit/in-flight.test.ts has the other case).
    // Once: the stop's forceShutdownAfter and the exception's grace end together, and both force.
    expect(lines.filter((l) => l.code === 'TSPUMA_ERR_FORCED_SHUTDOWN').map((l) => l.msg)).toEqual(['GET /hold was still running when forceShutdownAfter (0.5 s) expired.']);
    expect(culprit(dump)).toMatchObject({ line: lineOf(CRASH, 'throw new Error(`payment retry'), locals: { attempt: 3 } });
    expect(dump.inFlight).toEqual(expect.arrayContaining([expect.objectContaining({ method: 'GET', url: '/hold' })]));
    expect(String(last.msg)).toMatch(/uncaught exception.*-w N/);
  });

  it('an EventEmitter error with no listener: the app line that emitted it (jobId="job-9")', async () => {
    const { dump } = await crash('/emitter');
    expect(culprit(dump)).toMatchObject({ file: CRASH, line: lineOf(CRASH, "queue.emit('error'"), locals: { jobId: 'job-9' } });
    expect(dump.site).toBe(`${CRASH}:${lineOf(CRASH, "queue.emit('error'")}`);
  });

  it('a Transform piped to the response: the transform frame (row="b"), not the stream re-emit', async () => {
    const { dump } = await crash('/transform');
    expect(dump.captured).toBe(true);
    expect(culprit(dump)).toMatchObject({ line: lineOf(CRASH, 'cannot transform row'), locals: { row: 'b' } });
    expect(dump.site).toBe(`${CRASH}:${lineOf(CRASH, 'cannot transform row')}`);
  });

  it('an interval job started at module load (expired=4)', async () => {
    const { dump } = await crash(null, { CRASH_INTERVAL: '1' });
    expect(culprit(dump).function).toMatch(/sweepSessions$/);
    expect(culprit(dump)).toMatchObject({ line: lineOf(CRASH, 'throw new Error(`sweep of'), locals: { expired: 4, runs: 3 } });
  });
});

