// Bind URIs: schemes, parameters and the backlog range Puma never checked.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { BACKLOG_DEFAULT, BACKLOG_MAX, bindUrl, parseBind } from '../../server/binder-uri.js';
import { TspumaError } from '../../server/errors.js';
import { Redactor } from '../../diagnostics/redact.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));

function codeOf(uri: string): string {
  try {
    parseBind(uri, '-b in command line', fixtures);
  } catch (err) {
    if (err instanceof TspumaError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'ok';
}

describe('parseBind', () => {
  it('parses tcp with defaults and parameters', () => {
    expect(parseBind('tcp://127.0.0.1:3000', 'x')).toMatchObject({ scheme: 'tcp', host: '127.0.0.1', port: 3000, backlog: BACKLOG_DEFAULT, lowLatency: true });
    expect(parseBind('tcp://[::1]:0?backlog=64&low_latency=false', 'x')).toMatchObject({ host: '::1', port: 0, backlog: 64, lowLatency: false });
  });

  it.each(['abc', '0', '-1', String(BACKLOG_MAX + 1), '1.5', ''])('rejects backlog=%s naming the value and the range', (value) => {
    const message = codeOf(`tcp://127.0.0.1:0?backlog=${value}`);
    expect(message).toMatch(/^TSPUMA_ERR_BIND_BACKLOG/);
    expect(message).toContain(`backlog=${JSON.stringify(value)}`);
    expect(message).toContain(`from 1 to ${BACKLOG_MAX}`);
    expect(message).toContain('-b in command line');
  });

  it('rejects unknown schemes and parameters with suggestions', () => {
    expect(codeOf('tpc://127.0.0.1:1')).toMatch(/TSPUMA_ERR_BIND_URI.*Did you mean `tcp`/);
    expect(codeOf('tcp://127.0.0.1:1?backlg=5')).toMatch(/unknown parameter backlg.*Did you mean `backlog`/);
    expect(codeOf('tcp://127.0.0.1')).toMatch(/HOST:PORT/);
    expect(codeOf('tcp://127.0.0.1:99999')).toMatch(/port 99999/);
  });

  it('suggests the URI meant when the scheme:// is missing or mistyped (127.0.0.1:3000, tcp//…, tcp:/…, /run/app.sock)', () => {
    expect(codeOf('127.0.0.1:3000')).toContain('it has no scheme://. Did you mean `tcp://127.0.0.1:3000`? Expected');
    expect(codeOf('localhost:3000')).toContain('Did you mean `tcp://localhost:3000`?');
    expect(codeOf(':3000')).toContain('Did you mean `tcp://0.0.0.0:3000`?');
    expect(codeOf('3000')).toContain('Did you mean `tcp://0.0.0.0:3000`?');
    expect(codeOf('[::1]:3000')).toContain('Did you mean `tcp://[::1]:3000`?');
    expect(codeOf('tcp//127.0.0.1:3000')).toContain('Did you mean `tcp://127.0.0.1:3000`?');
    expect(codeOf('tcp:/127.0.0.1:3000')).toContain('Did you mean `tcp://127.0.0.1:3000`?');
    expect(codeOf('tcp:127.0.0.1:3000')).toContain('Did you mean `tcp://127.0.0.1:3000`?');
    expect(codeOf('/run/app.sock')).toContain('Did you mean `unix:///run/app.sock`?');
    // Nothing to suggest: no guess.
    expect(codeOf('nonsense')).toMatch(/it has no scheme:\/\/\. Expected/);
  });

  it('checks unix paths and TLS files', () => {
    expect(codeOf(`unix:///tmp/${'x'.repeat(120)}.sock`)).toMatch(/at most 107/);
    expect(parseBind('unix://rel.sock?mode=0660', 'x', '/tmp')).toMatchObject({ path: '/tmp/rel.sock', mode: 0o660 });
    expect(codeOf('ssl://127.0.0.1:0?cert=cert.pem')).toMatch(/TSPUMA_ERR_BIND_TLS.*key is required/);
    // What is missing is said as a hint the CLI's redaction leaves alone, not as a hidden `?key=[redacted]` value (N18).
    const missingKey = new Redactor().query(codeOf('ssl://127.0.0.1:0?cert=cert.pem'));
    expect(missingKey).toContain("key is required: add key=PATH to the bind's query (the PEM file of the certificate's private key)");
    expect(missingKey).not.toContain('[redacted]');
    expect(new Redactor().query(codeOf('ssl://127.0.0.1:0?key=key.pem'))).toContain("cert is required: add cert=PATH to the bind's query (the PEM file of the certificate, with its chain)");
    expect(codeOf('ssl://127.0.0.1:0?cert=missing.pem&key=key.pem')).toMatch(/the cert file .*missing.pem does not exist/);
    expect(codeOf('ssl://127.0.0.1:0?cert=cert.pem&key=key.pem')).toBe('ok');
  });

  it('prints the URL a bind serves on', () => {
    expect(bindUrl(parseBind('tcp://127.0.0.1:0', 'x'), 4321)).toBe('http://127.0.0.1:4321');
    expect(bindUrl(parseBind('unix://@abstract', 'x'))).toBe('unix://@abstract');
  });
});
