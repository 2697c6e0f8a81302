// A fetch app's request.url (fetch-request.ts requestUrl): a keep-alive client's next request for
// the same target with the same Host gets the last URL again; any change of target, Host, TLS or
// forwarding gives the URL that request names.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { requestUrl } from '../../server/fetch-request.js';
import { compileTrust, resolveClient } from '../../server/trusted-proxy.js';

/** A request as node:http hands it over: its target, its raw headers, its socket. */
function fakeRequest(url: string, headers: [string, string][], socket: { encrypted?: boolean; remoteAddress?: string; localAddress?: string; localPort?: number } = {}): IncomingMessage {
  return { url, rawHeaders: headers.flat(), socket: { remoteAddress: '127.0.0.1', localAddress: '127.0.0.1', localPort: 8080, ...socket } } as unknown as IncomingMessage;
}

describe("a fetch request's URL", () => {
  it('is the same for the same target, Host and scheme, and follows each of them when it changes', () => {
    const seen = [
      requestUrl(fakeRequest('/a?x=1', [['Host', 'one.test']])),
      requestUrl(fakeRequest('/a?x=1', [['Host', 'one.test']])),
      requestUrl(fakeRequest('/a?x=1', [['Host', 'two.test:8080']])),
      requestUrl(fakeRequest('/a?x=1', [['Host', 'two.test:8080']], { encrypted: true })),
      requestUrl(fakeRequest('/a?x=1', [['Host', 'two.test:8080']])),
      requestUrl(fakeRequest('/b', [['Host', 'two.test:8080']])),
      requestUrl(fakeRequest('/b', [['host', 'TWO.test:80']])),
      requestUrl(fakeRequest('/b', [['Host', 'two.test:80']], { encrypted: true })),
    ];
    expect(seen).toEqual([
      'http://one.test/a?x=1',
      'http://one.test/a?x=1',
      'http://two.test:8080/a?x=1',
      'https://two.test:8080/a?x=1',
      'http://two.test:8080/a?x=1',
      'http://two.test:8080/b',
      'http://two.test/b',
      'https://two.test:80/b',
    ]);
  });

  it('is not the last one for a request without Host, with a fragment, or in absolute form', () => {
    expect(requestUrl(fakeRequest('/c', [['Host', 'one.test']]))).toBe('http://one.test/c');
    // No Host (HTTP/1.0): the address the request arrived on.
    expect(requestUrl(fakeRequest('/c', []))).toBe('http://127.0.0.1:8080/c');
    expect(requestUrl(fakeRequest('/c', [['Host', '']]))).toBe('http://127.0.0.1:8080/c');
    expect(requestUrl(fakeRequest('/c', [['Host', 'one.test']]))).toBe('http://one.test/c');
    expect(requestUrl(fakeRequest('/c#frag', [['Host', 'one.test']]))).toBe('http://one.test/c');
    expect(requestUrl(fakeRequest('http://other.test/c', [['Host', 'one.test']]))).toBe('http://other.test/c');
    expect(requestUrl(fakeRequest('/c', [['Host', 'one.test']]))).toBe('http://one.test/c');
  });

  it("is the forwarded scheme and host for a trusted proxy's request after the same target and Host came direct", () => {
    expect(requestUrl(fakeRequest('/d', [['Host', 'one.test']]))).toBe('http://one.test/d');
    const req = fakeRequest('/d', [
      ['Host', 'one.test'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Host', 'public.test'],
      ['X-Forwarded-For', '203.0.113.9'],
    ]);
    resolveClient(req, compileTrust(['loopback']), 'x-forwarded');
    expect(requestUrl(req)).toBe('https://public.test/d');
    expect(requestUrl(fakeRequest('/d', [['Host', 'one.test']]))).toBe('http://one.test/d');
  });
});
