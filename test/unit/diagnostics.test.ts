// The diagnostics layer in-process: a reactor fault gives one dump and serving goes on;
// redaction rules; capture scoping resumes on every path.
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Redactor } from '../../diagnostics/redact.js';
import { enableDiagnostics } from '../../diagnostics/index.js';
import { installDiagnostics } from '../../server/debug-hook.js';
import { rack } from '../../server/adapters.js';
import { Reactor } from '../../server/reactor.js';
import { captureLogger, startTest, stopAll } from '../helpers/server.js';

const written: string[] = [];
const diag = enableDiagnostics({ write: (t) => written.push(t), colour: false, dir: null, env: {} });
installDiagnostics(diag);
afterAll(async () => {
  await stopAll();
  installDiagnostics(null);
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
    const reactor = new Reactor({ firstData: 10, persistent: 10, request: 0, idle: null, upgradedIdle: null }, { firstDataTimeout: () => undefined, requestTimeout: () => undefined, idle: () => undefined }, cap.logger);
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
    expect(dumps[0]).toMatch(/> #0 Reactor\.sweepAll {2}server\/reactor\.ts:\d+/);
    expect(dumps[0]).toMatch(/deadline="undefined"|deadline=undefined/);
    expect(reactor.size).toBe(0);
    expect(await (await fetch(t.url)).text()).toBe('still serving');
    a.close();
    b.close();
  });

  it('captures only inside scopes, and a throw inside a scope still propagates', () => {
    const pausesBefore = diag.capturer.stats.captures;
    try {
      throw new Error('outside any scope');
    } catch {
      /* not captured */
    }
    expect(diag.capturer.stats.captures).toBe(pausesBefore);
    expect(() =>
      diag.scope('hook', () => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(diag.capturer.stats.captures).toBe(pausesBefore + 1);
    try {
      throw new Error('outside again');
    } catch {
      /* not captured: no scope is active */
    }
    expect(diag.capturer.stats.captures).toBe(pausesBefore + 1);
  });
});

describe('Capturer', () => {
  it('resumes and reports when capture itself fails, and the throw still propagates', async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const failures: unknown[] = [];
    const broken = { isSecretName: () => { throw new Error('redactor broke'); }, isSecretHeader: () => false, isSecretValue: () => false } as unknown as Redactor;
    const c = new Capturer({ frames: 8, perSiteMs: 60_000, globalPerSecond: 20 }, broken, (err) => failures.push(err));
    c.start();
    try {
      const userId = 7;
      expect(() => c.scope('hook', () => { throw new Error(`boom ${userId}`); })).toThrow('boom 7');
      expect(c.stats.failures).toBe(1);
      expect((failures[0] as Error).message).toBe('redactor broke');
      expect(c.scope('hook', () => 'still running')).toBe('still running');
    } finally {
      c.stop();
    }
  });

  it('switches pausing off for a backoff when throws exceed the global rate', async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 5 }, new Redactor(), () => undefined);
    c.start();
    try {
      c.scope('app', () => {
        for (let i = 0; i < 200; i++) {
          try {
            throw new Error(`throw ${i}`);
          } catch {
            /* library-style caught throw */
          }
        }
      });
      expect(c.stats.trips).toBe(1);
      expect(c.stats.pauses).toBe(6); // 5 allowed, the 6th trips the limiter; the other 194 cost nothing
    } finally {
      c.stop();
    }
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
