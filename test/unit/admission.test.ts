// server/admission.ts's method rule on its own: a GET is judged by the method list in force for
// each call, whichever list the call before it had.
import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import { admissionError, readFraming, type AdmissionRules } from '../../server/admission.js';
import { defaultErrorResponse } from '../../server/lowlevel.js';

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

describe('admission: the refusal page', () => {
  it('redacts the secrets a refused request target carries in the development 400 page (review11.3), as its log line and dump do', () => {
    // An absolute-form target with userinfo, which RFC 9112 refuses: the page quotes the target.
    const req = { method: 'GET', url: 'http://admin:ABSPW12345@127.0.0.1:9/sync?password=QPW1234567&access_token=AT987654321', httpVersionMajor: 1, httpVersionMinor: 1, rawHeaders: ['Host', 'x'] } as unknown as http.IncomingMessage;
    const err = admissionError(req, { supportedHttpMethods: 'any', httpContentLengthLimit: null }, readFraming(req));
    expect(err?.code).toBe('TSPUMA_ERR_HTTP_TARGET_INVALID');
    const page = defaultErrorResponse(err!, 400, false).body as string;
    expect(page).toContain('http://admin:[redacted]@127.0.0.1:9/sync?password=[redacted]&access_token=[redacted]');
    for (const secret of ['ABSPW12345', 'QPW1234567', 'AT987654321']) expect(page).not.toContain(secret);
  });

  it('keeps the password of a Host header with userinfo out of the 400 page, as of an absolute-form target (review19.1)', () => {
    // A Host with userinfo has no scheme, so the URL rule of the redactor never saw its password.
    const req = { method: 'GET', url: '/a', httpVersionMajor: 1, httpVersionMinor: 1, rawHeaders: ['Host', 'admin:HOSTPW4321@127.0.0.1:9'] } as unknown as http.IncomingMessage;
    const err = admissionError(req, { supportedHttpMethods: 'any', httpContentLengthLimit: null }, readFraming(req));
    expect(err?.code).toBe('TSPUMA_ERR_HTTP_HOST_INVALID');
    expect(err!.message).toContain('Host header admin:[redacted]@127.0.0.1:9 is not one valid authority');
    expect(err!.message).toContain('userinfo (user@) is not allowed');
    expect(defaultErrorResponse(err!, 400, false).body as string).not.toContain('HOSTPW4321');
  });
});

describe('admission: a target admitted before', () => {
  const rules = { supportedHttpMethods: 'any' as const, httpContentLengthLimit: null };
  const judge = (url: string, host = 'x', version: [number, number] = [1, 1]) => {
    const req = { method: 'GET', url, httpVersionMajor: version[0], httpVersionMinor: version[1], rawHeaders: ['Host', host] } as unknown as http.IncomingMessage;
    return admissionError(req, rules, readFraming(req))?.code ?? null;
  };

  it('still judges the Host, the version and every other target after the same target passed (its own checks are skipped only for an equal target)', () => {
    expect(judge('/same')).toBeNull();
    // The same target again, with what is not the target's wrong: refused for that.
    expect(judge('/same', 'a b')).toBe('TSPUMA_ERR_HTTP_HOST_INVALID');
    expect(judge('/same', 'x', [2, 0])).toBe('TSPUMA_ERR_HTTP_REQUEST_LINE');
    // Other targets right after it: each judged on its own.
    expect(judge('/same#frag')).toBe('TSPUMA_ERR_HTTP_REQUEST_LINE');
    expect(judge(`/${'a'.repeat(12 * 1024)}`)).toBe('TSPUMA_ERR_HTTP_URI_TOO_LONG');
    expect(judge('http://a b/')).toBe('TSPUMA_ERR_HTTP_TARGET_INVALID');
    expect(judge('/same')).toBeNull();
    // A refused target is refused again, not taken for the one admitted before it.
    expect(judge('/x#y')).toBe('TSPUMA_ERR_HTTP_REQUEST_LINE');
    expect(judge('/x#y')).toBe('TSPUMA_ERR_HTTP_REQUEST_LINE');
    expect(judge('http://a b/')).toBe('TSPUMA_ERR_HTTP_TARGET_INVALID');
    expect(judge('http://a b/')).toBe('TSPUMA_ERR_HTTP_TARGET_INVALID');
  });
});

describe('admission: the request admitted before, repeated', () => {
  // A keep-alive client's next request (same target, method and Host) is admitted without the
  // checks; anything else about it that differs is judged in full.
  const rules: AdmissionRules = { supportedHttpMethods: new Set(['GET', 'HEAD']) as ReadonlySet<string>, httpContentLengthLimit: 100 };
  const judge = (rawHeaders: string[], o: { method?: string; version?: [number, number]; rules?: AdmissionRules } = {}) => {
    const [major, minor] = o.version ?? [1, 1];
    const req = { method: o.method ?? 'GET', url: '/repeat', httpVersionMajor: major, httpVersionMinor: minor, rawHeaders } as unknown as http.IncomingMessage;
    return admissionError(req, o.rules ?? rules, readFraming(req))?.code ?? null;
  };

  it('judges in full a repeat with a second Host line, body framing, another method or version, or stricter rules', () => {
    expect(judge(['Host', 'a.test'])).toBeNull();
    expect(judge(['Host', 'a.test'])).toBeNull();
    expect(judge(['Host', 'a.test', 'host', 'a.test'])).toBe('TSPUMA_ERR_HTTP_HOST_INVALID');
    expect(judge(['Host', 'a.test', 'Transfer-Encoding', 'chunked, gzip'])).toBe('TSPUMA_ERR_HTTP_TRANSFER_ENCODING');
    expect(judge(['Host', 'a.test', 'Content-Length', '101'])).toBe('TSPUMA_ERR_HTTP_BODY_TOO_LARGE');
    expect(judge(['Host', 'a.test'], { method: 'DELETE' })).toBe('TSPUMA_ERR_HTTP_METHOD_NOT_SUPPORTED');
    expect(judge(['Host', 'a.test'], { version: [0, 9] })).toBe('TSPUMA_ERR_HTTP_REQUEST_LINE');
    expect(judge(['Host', 'a.test'], { rules: { supportedHttpMethods: new Set(['POST']), httpContentLengthLimit: null } })).toBe('TSPUMA_ERR_HTTP_METHOD_NOT_SUPPORTED');
    expect(judge(['Host', 'a.test'])).toBeNull();
    // Another Host, and none at all on HTTP/1.1: judged, not taken for the one admitted.
    expect(judge(['Host', 'a b'])).toBe('TSPUMA_ERR_HTTP_HOST_INVALID');
    expect(judge([])).toBe('TSPUMA_ERR_HTTP_HOST_MISSING');
    expect(judge(['Host', 'a.test'])).toBeNull();
  });

  it('reads each request into a framing of its own (the one before it is not overwritten)', () => {
    const first = readFraming({ rawHeaders: ['Host', 'one.test', 'Content-Length', '5'] } as unknown as http.IncomingMessage);
    const second = readFraming({ rawHeaders: ['Host', 'two.test', 'Transfer-Encoding', 'chunked', 'Host', 'x'] } as unknown as http.IncomingMessage);
    expect(first).toEqual({ host: 'one.test', hosts: 1, length: '5', transferEncoding: undefined });
    expect(second).toEqual({ host: 'two.test', hosts: 2, length: undefined, transferEncoding: 'chunked' });
  });
});
