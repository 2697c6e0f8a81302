// The logger's error lines: what an app's error message or stack quotes is redacted by the same
// value rules as dumps, before the line is written.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';

/** A destination that keeps what the logger writes. */
function capture(): { destination: Writable; out: () => string } {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { destination, out: () => text };
}

describe('error log lines', () => {
  it('redact URL passwords, secret query values and credential shapes in err.message and err.stack', () => {
    const { destination, out } = capture();
    const log = createLogger({ pretty: false, destination, redact: 'ssn' });
    const err = new Error('connect postgres://app:hunter2@db/orders failed for /pay?token=abc123&page=2&ssn=123-45-6789');
    log.error({ err }, 'request failed');
    const line = JSON.parse(out()) as { err: { message: string; stack: string; type: string } };
    for (const text of [line.err.message, line.err.stack]) {
      expect(text).toContain('postgres://app:[redacted]@db/orders');
      expect(text).toContain('token=[redacted]&page=2&ssn=[redacted]');
    }
    expect(out()).not.toMatch(/hunter2|abc123|123-45-6789/);
    expect(line.err.type).toBe('Error');
  });

  it('redact the message of warn, error and fatal lines that quote an error; an info line is written as given', () => {
    const { destination, out } = capture();
    const log = createLogger({ pretty: false, destination });
    const sink = 'request to https://user:SentryPw-1@o1.ingest.sentry.io/api/1/envelope/ failed, token=OnDumpTok-1';
    log.warn(`onDump for dump #1 rejected with Error: ${sink}`);
    log.error(`The app's shutdown() failed: close failed postgres://app:LeakyDbPw-1@db/shop`);
    log.fatal('Uncaught exception, stopping: charge failed for sk_live_4eC39HqLyjWD');
    log.info('GET /pay?token=abc123 200');
    const lines = out().trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(lines).toEqual([
      'onDump for dump #1 rejected with Error: request to https://user:[redacted]@o1.ingest.sentry.io/api/1/envelope/ failed, token=[redacted]',
      "The app's shutdown() failed: close failed postgres://app:[redacted]@db/shop",
      'Uncaught exception, stopping: charge failed for [redacted]',
      'GET /pay?token=abc123 200',
    ]);
  });

  it('keep a failure with a 330 KB message to one parseable line under 16 KiB, saying how much was left out, with its stack frames', () => {
    const { destination, out } = capture();
    const rows = Array.from({ length: 20_000 }, (_, i) => `row-${i}`).join(',');
    const err = new Error(`import failed for batch: ${rows}`);
    createLogger({ pretty: false, destination }).error({ err }, `POST /import failed: ${err.message}`);
    const text = out();
    expect(text.trim().split('\n')).toHaveLength(1);
    expect(text.length).toBeLessThan(16 * 1024);
    const line = JSON.parse(text) as { msg: string; err: { message: string; stack: string } };
    expect(line.err.message).toBe(`${err.message.slice(0, 2048)}… (${err.message.length} characters in all)`);
    expect(line.msg).toBe(`POST /import failed: ${err.message}`.slice(0, 2048) + `… (${err.message.length + 21} characters in all)`);
    expect(line.err.stack.startsWith(`Error: ${line.err.message}\n    at `)).toBe(true);
  });

  it('redact a secret the cap cuts through: the rules read past the cap before the cut', () => {
    const { destination, out } = capture();
    const err = new Error(`${'x'.repeat(2040)} connect postgres://app:S3cretPass99@db/x failed`);
    createLogger({ pretty: false, destination }).error({ err }, `GET / failed: ${err.message}`);
    expect(out()).not.toMatch(/S3cr|cretPass/);
    expect(out()).toContain('characters in all');
  });

  it('write the line when err is null (an app that rejects with null), with err: null', () => {
    const { destination, out } = capture();
    createLogger({ pretty: false, destination }).error({ err: null, url: '/x' }, 'GET /x failed: null');
    expect(JSON.parse(out())).toMatchObject({ err: null, url: '/x', msg: 'GET /x failed: null' });
  });
});

describe('on a terminal (pino-pretty)', () => {
  const pretty = () => {
    const out: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk.toString());
        cb();
      },
    });
    // Colours off: the test reads the text.
    const log = createLogger({ pretty: true, destination, colour: false });
    return { log, text: () => out.join('') };
  };

  it("prints a cluster worker's request line as one line, the worker named on it", () => {
    const { log, text } = pretty();
    log.child({ worker: 1 }).info({ request: { method: 'GET', url: '/', status: 200 } }, 'GET / 200 1.20ms 156B 127.0.0.1 a1b2-1');
    expect(text()).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[worker 1\] GET \/ 200 1\.20ms 156B 127\.0\.0\.1 a1b2-1\n$/);
  });

  it('prints the boot lines one line each: fields the message already says are not repeated below it', () => {
    const { log, text } = pretty();
    log.info({ url: 'http://127.0.0.1:9292', port: 9292 }, '* Listening on http://127.0.0.1:9292');
    log.info({ urls: ['http://127.0.0.1:9292', 'http://[::1]:9292'] }, 'Use Ctrl-C to stop');
    log.info({ signal: 'SIGTERM' }, 'Received SIGTERM, stopping all workers gracefully');
    expect(text().split('\n').filter(Boolean).map((l) => l.replace(/^\[[\d:.]+\] /, ''))).toEqual([
      'INFO: * Listening on http://127.0.0.1:9292',
      'INFO: Use Ctrl-C to stop',
      'INFO: Received SIGTERM, stopping all workers gracefully',
    ]);
  });

  it("still prints an error's stack under its line", () => {
    const { log, text } = pretty();
    const err = new Error('database down');
    log.child({ worker: 0 }).error({ err }, 'GET /x failed: database down');
    expect(text()).toMatch(/ERROR: \[worker 0\] GET \/x failed: database down\n/);
    expect(text()).toContain('Error: database down');
    expect(text()).toMatch(/\n\s+at /);
  });
});
