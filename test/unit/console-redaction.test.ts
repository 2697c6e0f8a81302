import { afterEach, describe, expect, it } from 'vitest';
import { forgetSecrets, Redactor } from '../../diagnostics/redact.js';
import { installConsoleRedaction, redactConsoleText, watchConsoleRequests } from '../../server/console-redaction.js';

/** A console whose error and warn record what reaches them. */
function fakeConsole() {
  const written: { method: string; args: unknown[] }[] = [];
  const target = {
    error: (...args: unknown[]) => void written.push({ method: 'error', args }),
    warn: (...args: unknown[]) => void written.push({ method: 'warn', args }),
  };
  return { target, written };
}

class PaymentError extends Error {
  code = 'card_declined';
  apiKey = 'sk_live_51HxAbCdEfGhIjKlMnOp';
}

describe('console redaction', () => {
  it('writes an error a framework logs with its card number and apiKey field redacted, as text', () => {
    const { target, written } = fakeConsole();
    installConsoleRedaction(target, new Redactor(null, { cards: true }));
    target.error(new PaymentError('charge of 900000 for card 4111111111111111 failed'));
    expect(written).toHaveLength(1);
    const text = written[0]!.args.join(' ');
    expect(written[0]!.args).toHaveLength(1);
    expect(typeof written[0]!.args[0]).toBe('string');
    expect(text).not.toContain('4111111111111111');
    expect(text).not.toContain('sk_live_51HxAbCdEfGhIjKlMnOp');
    expect(text).toContain("code: 'card_declined'");
    expect(text).toMatch(/PaymentError: charge of 900000 for card \[redacted\] failed/);
  });

  it('passes a line with nothing secret through with the very arguments the app gave', () => {
    const { target, written } = fakeConsole();
    installConsoleRedaction(target, new Redactor(null, { cards: true }));
    const err = new Error('no such user 42');
    target.warn('lookup failed:', err, { id: 42 });
    expect(written).toEqual([{ method: 'warn', args: ['lookup failed:', err, { id: 42 }] }]);
    expect(written[0]!.args[1]).toBe(err);
  });

  it('redacts a JSON body quoted inside a format string, and stops when configured off', () => {
    const { target, written } = fakeConsole();
    const handle = installConsoleRedaction(target, new Redactor(null, { cards: true }));
    const body = '{"amountCents":5,"password":"BadJsonPassw0rd-1", cardNumber: 4111111111111111';
    target.error('bad body %s', body);
    expect(String(written[0]!.args[0])).toBe('bad body {"amountCents":5,"password":"[redacted]", cardNumber: [redacted]');
    handle.configure(null);
    target.error('bad body %s', body);
    expect(written[1]!.args).toEqual(['bad body %s', body]);
  });

  it('installs once per console and uninstalls only its own wrappers', () => {
    const { target } = fakeConsole();
    const original = target.error;
    const first = installConsoleRedaction(target);
    expect(installConsoleRedaction(target)).toBe(first);
    expect(target.error).not.toBe(original);
    first.uninstall();
    expect(target.error).toBe(original);
  });

  it('reads a text longer than the rules read in parts cut at line ends, losing nothing', () => {
    const redactor = new Redactor(null, { cards: true });
    const line = `${'x'.repeat(1000)}\n`;
    const text = `${line.repeat(100)}token=abcdefghijkl\n${line.repeat(100)}`;
    const out = redactConsoleText(text, redactor);
    expect(out.length).toBe(text.length - 'abcdefghijkl'.length + '[redacted]'.length);
    expect(out).toContain('token=[redacted]\n');
    expect(out.endsWith(line)).toBe(true);
  });
});

describe("console redaction: the secret header values of the requests a server says are running", () => {
  afterEach(forgetSecrets);
  const KEY = 'ApiKeySecretP0o9i8u7y6t5';
  const request = { headers: { 'x-api-key': KEY, authorization: 'Bearer tokQwErTy123456789', accept: 'text/html' } };

  it("replaces a watched request's X-Api-Key value and bearer token quoted with no secret name, and reads the requests only when a line is written", () => {
    const { target, written } = fakeConsole();
    installConsoleRedaction(target, new Redactor(null, { cards: true }));
    let reads = 0;
    const unwatch = watchConsoleRequests(() => (reads++, [null, request]), target);
    expect(reads).toBe(0);
    target.error(new Error(`amount too large 9 key=${KEY} token tokQwErTy123456789`));
    expect(reads).toBe(1);
    expect(written[0]!.args).toHaveLength(1);
    expect(String(written[0]!.args[0])).toMatch(/^Error: amount too large 9 key=\[redacted\] token \[redacted\]\n/);
    target.warn('client %s over its limit', KEY);
    expect(written[1]!.args).toEqual(['client [redacted] over its limit']);
    expect(reads).toBe(2);
    unwatch();
    target.warn('no request read now');
    expect(reads).toBe(2);
  });

  it("remembers nothing of a request whose secrets the line does not quote; a Basic credential's password quoted alone goes", () => {
    const { target, written } = fakeConsole();
    const rules = new Redactor(null, { cards: true });
    installConsoleRedaction(target, rules);
    const basic = { headers: { authorization: `Basic ${Buffer.from('ann:Hunter2Hunter2').toString('base64')}` } };
    watchConsoleRequests(() => [request, basic], target);
    target.warn('cache miss for page 4');
    expect(rules.query(`key ${KEY}`)).toBe(`key ${KEY}`);
    target.warn('login for ann with Hunter2Hunter2 refused');
    expect(written[1]!.args).toEqual(['login for ann with [redacted] refused']);
  });

  it("replaces the value of a secret query parameter of the request's URL quoted bare", () => {
    const { target, written } = fakeConsole();
    installConsoleRedaction(target, new Redactor(null, { cards: true }));
    watchConsoleRequests(() => [{ headers: {}, url: '/reset?page=2&access_token=QueryTok3n99xyz' }], target);
    target.error('reset failed for QueryTok3n99xyz (page 2)');
    expect(written[0]!.args).toEqual(['reset failed for [redacted] (page 2)']);
  });

  it('leaves a value the request did not send secret (its Accept) and a line quoting none of them as the app passed it', () => {
    const { target, written } = fakeConsole();
    installConsoleRedaction(target, new Redactor(null, { cards: true }));
    watchConsoleRequests(() => [request], target);
    const err = new Error('no such page for text/html');
    target.error('lookup failed:', err);
    expect(written).toEqual([{ method: 'error', args: ['lookup failed:', err] }]);
  });

  it('without a watch, the same line keeps the key (what the watch is for), and a console with no redaction installed takes none', () => {
    const { target, written } = fakeConsole();
    installConsoleRedaction(target, new Redactor(null, { cards: true }));
    target.warn('client %s over its limit', KEY);
    expect(written[0]!.args).toEqual(['client %s over its limit', KEY]);
    const bare = fakeConsole();
    let reads = 0;
    watchConsoleRequests(() => (reads++, [request]), bare.target)();
    bare.target.warn('x');
    expect(reads).toBe(0);
  });
});
