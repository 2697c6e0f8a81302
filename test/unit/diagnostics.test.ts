// The diagnostics layer in-process: a connection-deadline fault gives one dump and serving goes on;
// redaction rules; capture inside and outside scopes resumes on every path.
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Redactor } from '../../diagnostics/redact.js';
import { enableDiagnostics } from '../../diagnostics/index.js';
import { rack } from '../../server/adapters.js';
import { installConsoleRedaction } from '../../server/console-redaction.js';
import { ConnectionDeadlines } from '../../server/deadlines.js';
import { internalErrorReporter } from '../../server/debug-hook.js';
import { start } from '../../server/start.js';
import { waitFor } from '../helpers/net.js';
import { captureLogger, startTest, stopAll } from '../helpers/server.js';

const written: string[] = [];
const diag = enableDiagnostics({ write: (t) => written.push(t), colour: false, dir: null, env: {} });
afterAll(async () => {
  await stopAll();
  diag.close();
});

async function connectedSocket(): Promise<{ server: net.Socket; close: () => void }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
  const client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  const server = await accepted;
  return { server, close: () => (client.destroy(), server.destroy(), srv.close()) };
}

describe('diagnostics', () => {
  it('gives one dump for an injected reactor fault, with the entry, and serving goes on', async () => {
    const t = await startTest({ app: rack(() => [200, {}, ['still serving']]) });
    const cap = captureLogger();
    const reactor = new ConnectionDeadlines({ firstData: 10, headers: 10, body: 10, persistent: 10, request: 0, idle: null, upgradedIdle: null }, { readTimeout: () => undefined, requestTimeout: () => undefined, idle: () => undefined }, cap.logger, diag);
    const a = await connectedSocket();
    const b = await connectedSocket();
    const bad = reactor.add(a.server);
    const bad2 = reactor.add(b.server);
    (bad as { deadline: unknown }).deadline = undefined;
    (bad2 as { deadline: unknown }).deadline = undefined;
    const before = written.length;
    reactor.sweep();
    const dumps = written.slice(before).filter((w) => w.startsWith('tspuma dump #'));
    expect(dumps).toHaveLength(1);
    expect(dumps[0]).toContain('[reactor] TspumaError');
    expect(dumps[0]).toContain('TSPUMA_ERR_REACTOR_ENTRY');
    // The sweep was called from this test, which the dump takes for the app (its culprit): the
    // fault is frame #0, first of the three tspuma frames folded into one line.
    expect(dumps[0]).toMatch(/ #0-#2 3 frames in tspuma: ConnectionDeadlines\.sweepAll {2}server\/deadlines\.ts:\d+/);
    expect(dumps[0]).toMatch(/deadline="undefined"|deadline=undefined/);
    expect(reactor.size).toBe(0);
    expect(await (await fetch(t.url)).text()).toBe('still serving');
    a.close();
    b.close();
  });

  it('captures throws outside any scope too, labels a scope\'s captures with its phase, and a throw inside a scope still propagates', () => {
    const before = diag.capturer.stats.captures;
    let outside: unknown;
    try {
      const jobId = 'nightly-7';
      throw new Error(`job ${jobId} failed outside any scope`);
    } catch (err) {
      outside = err;
    }
    expect(diag.capturer.stats.captures).toBe(before + 1);
    const timerCapture = diag.capturer.captureFor(outside)!;
    expect(timerCapture.phase).toBe('app');
    expect(timerCapture.frames[0]!.locals.jobId).toBe('nightly-7');
    let inside: unknown;
    expect(() =>
      diag.scope('hook', () => {
        try {
          throw new Error('inside');
        } catch (err) {
          inside = err;
          throw err; // a re-throw of the same error: no second capture
        }
      }),
    ).toThrow('inside');
    expect(diag.capturer.stats.captures).toBe(before + 2);
    expect(diag.capturer.captureFor(inside)!.phase).toBe('hook');
  });
});

describe("a report's answer (env['tspuma.dump'] for a Rack app and the development page)", () => {
  it('has exactly the documented own keys dump, text, path and repeat, its text rendered when read, in JSON too', () => {
    const r = diag.report(new Error('a report answer of its documented shape'), { phase: 'app' });
    expect(Object.keys(r).sort()).toEqual(['dump', 'path', 'repeat', 'text']);
    expect(r.text).toContain('a report answer of its documented shape');
    const json = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
    expect(Object.keys(json).sort()).toEqual(['dump', 'path', 'repeat', 'text']);
    expect(json.text).toBe(r.text);
    const again = diag.report(new Error('a report answer of its documented shape'), { phase: 'app' });
    expect(again.repeat).toBe(true);
    expect(Object.keys(again).sort()).toEqual(['dump', 'path', 'repeat', 'text']);
  });

  it("hands every counted repeat of a dump one answer, made at its first repeat: the first dump's, its text rendered once", () => {
    const fail = () => diag.report(new Error('a repeat answered many times'), { phase: 'app' });
    const first = fail();
    const repeats = [fail(), fail(), fail()];
    expect(first.repeat).toBe(false);
    expect(repeats.every((r) => r.repeat && r.dump === first.dump && r.path === first.path)).toBe(true);
    expect(repeats[1]).toBe(repeats[0]);
    expect(repeats[2]).toBe(repeats[0]);
    expect(repeats[0]!.text).toBe(first.text);
    expect(Object.keys(repeats[0]!).sort()).toEqual(['dump', 'path', 'repeat', 'text']);
  });
});

describe('turning debug mode on (enableDebug, shared by the CLI and start())', () => {
  it('dumps the failure that ends the process (an uncaught exception) even at a site dumped before, where any other failure there is a counted repeat (review9.4)', () => {
    const lookup = (id: string): string => {
      throw new Error(`row ${id} missing`);
    };
    const fail = (id: string): unknown => {
      try {
        return lookup(id);
      } catch (err) {
        return err;
      }
    };
    const dumps = () => written.filter((w) => w.startsWith('tspuma dump #') && w.includes('missing'));
    const before = dumps().length;
    diag.report(fail('7'), { phase: 'app' }); // a request's 500
    expect(diag.report(fail('8'), { phase: 'app' }).repeat).toBe(true); // another: counted
    expect(dumps().length).toBe(before + 1);
    const crash = diag.report(fail('9'), { phase: 'app', inFlight: [], final: true }); // a timer's, uncaught
    expect(crash.repeat).toBe(false);
    expect(dumps().length).toBe(before + 2);
    expect(dumps().at(-1)).toContain('Error: row 9 missing');
  });

  it('sends capture failures to the server\'s log once it exists, and to stderr before', () => {
    const cap = captureLogger();
    let log: typeof cap.logger | null = null;
    const written: string[] = [];
    const report = internalErrorReporter(() => log, (t) => written.push(t));
    report(new Error('session gone'));
    expect(written).toEqual(['tspuma: diagnostics capture failed: session gone\n']);
    log = cap.logger;
    report(new Error('pause failed'));
    expect(written).toHaveLength(1);
    const line = cap.lines.find((l) => l.msg === 'diagnostics capture failed');
    expect((line?.err as { message?: string } | undefined)?.message).toBe('pause failed');
  });

  it('hands start({ debug: true })\'s own hook to its server and closes it (console.error given back) when the server stops', async () => {
    const cap = captureLogger();
    // start() wraps console.error once per process for redaction (installConsoleRedaction, kept for
    // the process): installed here first, so that the wrapper taken as "before" is the one a stopped
    // server leaves. Read before any start() (the file's cases shuffled, this one first), "before"
    // was the console without it, which the stopped hook cannot give back.
    installConsoleRedaction();
    const consoleBefore = console.error;
    const running = await start({ bind: 'tcp://127.0.0.1:0', debug: true, app: rack(() => [200, {}, ['ok']]) }, { logger: cap.logger });
    const hook = running.server.diagnostics;
    expect(hook).not.toBeNull();
    expect(hook).not.toBe(diag);
    expect(console.error).not.toBe(consoleBefore); // its console watch is on
    await running.stop();
    await waitFor(() => console.error === consoleBefore, 'the hook to close and give console.error back');
  });
});

describe('Redactor', () => {
  it('redacts secret names, headers and credential-looking values', () => {
    const r = new Redactor('ssn');
    for (const name of ['password', 'dbPassword', 'client_secret', 'apiKey', 'api-key', 'accessToken', 'credentials', 'privateKey', 'ssn']) expect(r.isSecretName(name), name).toBe(true);
    for (const name of ['userId', 'path', 'keyboard']) expect(r.isSecretName(name), name).toBe(false);
    expect(r.isSecretValue('Bearer abc.def')).toBe(true);
    expect(r.isSecretValue('Basic dXNlcjpwYXNz')).toBe(true);
    expect(r.isSecretValue('hello')).toBe(false);
    const applied: string[] = [];
    expect(r.headers({ authorization: 'x', Cookie: 'y', 'x-api-key': 'z', accept: '*/*' }, applied)).toEqual({ authorization: '[redacted]', Cookie: '[redacted]', 'x-api-key': '[redacted]', accept: '*/*' });
    expect(applied).toHaveLength(3);
  });
});
