// server/admission.ts's method rule on its own: a GET is judged by the method list in force for
// each call, whichever list the call before it had.
import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import { admissionError, readFraming } from '../../server/admission.js';

const request = (method: string) => ({ method, url: '/', httpVersionMajor: 1, httpVersionMinor: 1, rawHeaders: ['Host', 'x'] }) as unknown as http.IncomingMessage;
const codeFor = (method: string, methods: ReadonlySet<string> | 'any') => {
  const req = request(method);
  return admissionError(req, { supportedHttpMethods: methods, httpContentLengthLimit: null }, readFraming(req))?.code ?? null;
};

describe('admission: supportedHttpMethods', () => {
  it('refuses GET under a list without it, right after a list with it, and the other way round', () => {
    const withGet = new Set(['GET', 'HEAD', 'POST']);
    const withoutGet = new Set(['POST', 'PURGE']);
    expect(codeFor('GET', withGet)).toBeNull();
    expect(codeFor('GET', withoutGet)).toBe('TSPUMA_ERR_HTTP_METHOD_NOT_SUPPORTED');
    expect(codeFor('GET', withGet)).toBeNull();
    expect(codeFor('PURGE', withGet)).toBe('TSPUMA_ERR_HTTP_METHOD_NOT_SUPPORTED');
    expect(codeFor('PURGE', withoutGet)).toBeNull();
    expect(codeFor('GET', 'any')).toBeNull();
  });
});
