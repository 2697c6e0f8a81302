// The error table: key === code, templates filled, every code documented in docs/errors.md.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, TspumaError, didYouMean, formatMessage, type ErrorCode } from '../../server/errors.js';

const docs = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

describe('ERRORS', () => {
  it('uses stable TSPUMA_ERR_ codes', () => {
    for (const code of Object.keys(ERRORS)) expect(code).toMatch(/^TSPUMA_ERR_[A-Z_]+$/);
  });

  it('documents every code in docs/errors.md, and nothing else', () => {
    const documented = new Set([...docs.matchAll(/^## (TSPUMA_ERR_[A-Z_]+)/gm)].map((m) => m[1]));
    expect([...documented].sort()).toEqual(Object.keys(ERRORS).sort());
  });

  it('fills every placeholder of every template', () => {
    for (const [code, entry] of Object.entries(ERRORS)) {
      const names = [...entry.template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
      const params = Object.fromEntries(names.map((n) => [n, `<${n}>`]));
      const message = formatMessage(code as ErrorCode, params);
      expect(message).not.toMatch(/\{\w+\}/);
      const err = new TspumaError(code as ErrorCode, params);
      expect(err.code).toBe(code);
      expect(err.status).toBe((entry as { status?: number }).status);
    }
  });

  it('suggests close names only', () => {
    expect(didYouMean('persistenTimeout', ['persistentTimeout', 'port'])).toContain('persistentTimeout');
    expect(didYouMean('zzzzzz', ['persistentTimeout', 'port'])).toBe('');
  });

  it('ends a sentence once when a filled value already ends with its own stop (review14.3)', () => {
    // Any template whose placeholder is followed by '.' and a value that ends in '?', '.' or '!':
    // the value's own stop ends the sentence, so no '?.' or '..' reaches the user.
    for (const [code, entry] of Object.entries(ERRORS)) {
      const names = [...entry.template.matchAll(/\{(\w+)\}\./g)].map((m) => m[1]!);
      if (names.length === 0) continue;
      for (const stop of ['?', '.', '!']) {
        const params = Object.fromEntries(names.map((n) => [n, `<${n}> Did you mean \`x\`${stop}`]));
        const message = formatMessage(code as ErrorCode, params);
        expect(message, `${code} with a value ending '${stop}'`).not.toContain(`\`x\`${stop}.`);
        expect(message, `${code} with a value ending '${stop}'`).toContain(`\`x\`${stop}`);
      }
    }
    const bind = formatMessage('TSPUMA_ERR_BIND_URI', { what: 'Control URL', uri: 'http://1.2.3.4:1', source: '--control-url', reason: `unknown scheme http://${didYouMean('http', ['tcp', 'unix'])}`, expected: 'tcp://HOST:PORT or unix://PATH' });
    expect(bind).toBe('Control URL `http://1.2.3.4:1` (--control-url) is invalid: unknown scheme http:// Did you mean `tcp`? Expected tcp://HOST:PORT or unix://PATH.');
    // A value without a stop of its own keeps the template's.
    expect(formatMessage('TSPUMA_ERR_BIND_URI', { what: 'Bind', uri: 'x', source: 's', reason: 'bad port', expected: 'y' })).toBe('Bind `x` (s) is invalid: bad port. Expected y.');
  });
});
