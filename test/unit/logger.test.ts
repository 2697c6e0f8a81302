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

  it('write the line when err is null (an app that rejects with null), with err: null', () => {
    const { destination, out } = capture();
    createLogger({ pretty: false, destination }).error({ err: null, url: '/x' }, 'GET /x failed: null');
    expect(JSON.parse(out())).toMatchObject({ err: null, url: '/x', msg: 'GET /x failed: null' });
  });
});
