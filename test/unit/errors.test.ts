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
});
