// In-process tests of the Rack env builder on requests shaped like node:http's: header keys,
// repeated headers, the Host split per scheme, and the caches that must never leak across requests.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { buildEnv } from '../../server/rack.js';
import { requestIdOf } from '../../server/request-id.js';

/** What buildEnv reads from a node:http request, with rawHeaders as the client sent them. */
function request(rawHeaders: string[], opts: { url?: string; encrypted?: boolean } = {}): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (!(name in headers)) headers[name] = rawHeaders[i + 1]!;
  }
  return {
    url: opts.url ?? '/',
    method: 'GET',
    httpVersion: '1.1',
    rawHeaders,
    headers,
    socket: { encrypted: opts.encrypted === true, remoteAddress: '192.0.2.1', localAddress: '127.0.0.1', localPort: 8443 },
  } as unknown as IncomingMessage;
}

describe('buildEnv', () => {
  it('gives each request its own header keys when names change order, spelling or count between requests', () => {
    const first = buildEnv(request(['Host', 'a.test', 'X-One', '1', 'Accept', '*/*']));
    expect([first.HTTP_X_ONE, first.HTTP_ACCEPT]).toEqual(['1', '*/*']);
    const second = buildEnv(request(['Host', 'a.test', 'Accept', 'text/html', 'x-two', '2', 'Content-Type', 'text/plain']));
    expect(second.HTTP_ACCEPT).toBe('text/html');
    expect(second.HTTP_X_TWO).toBe('2');
    expect(second.CONTENT_TYPE).toBe('text/plain');
    expect(second).not.toHaveProperty('HTTP_X_ONE');
    const third = buildEnv(request(['Host', 'a.test']));
    expect(Object.keys(third).filter((k) => k.startsWith('HTTP_'))).toEqual(['HTTP_HOST']);
  });

  it('takes every header of a request with more than eight (each position its own store), repeated ones past the eighth joined too', () => {
    const names = Array.from({ length: 11 }, (_, i) => `X-H${i}`);
    const raw = (values: string[]) => names.flatMap((n, i) => [n, values[i]!]);
    for (const round of ['a', 'b']) {
      const env = buildEnv(request([...raw(names.map((_, i) => `${round}${i}`)), 'X-H9', `${round}-again`]));
      expect(names.map((n) => env[`HTTP_${n.toUpperCase().replace('-', '_')}`])).toEqual(names.map((_, i) => (i === 9 ? `${round}9, ${round}-again` : `${round}${i}`)));
    }
  });

  it('takes an absolute-form target\'s authority for SERVER_NAME/SERVER_PORT and its path for PATH_INFO, never Host', () => {
    const env = buildEnv(request(['Host', 'inner.test'], { url: 'http://other.example:8080/x/y?q=1' }));
    expect([env.SERVER_NAME, env.SERVER_PORT, env.PATH_INFO, env.QUERY_STRING]).toEqual(['other.example', '8080', '/x/y', 'q=1']);
    const plain = buildEnv(request(['Host', 'inner.test'], { url: 'https://other.example/z' }));
    expect([plain.SERVER_NAME, plain.SERVER_PORT, plain.PATH_INFO, plain['rack.url_scheme']]).toEqual(['other.example', '443', '/z', 'https']);
  });

  it('passes no fragment on: PATH_INFO and QUERY_STRING end where a # starts', () => {
    const env = buildEnv(request(['Host', 'a.test'], { url: '/p?q=1#frag' }));
    expect([env.PATH_INFO, env.QUERY_STRING]).toEqual(['/p', 'q=1']);
    const noQuery = buildEnv(request(['Host', 'a.test'], { url: '/p#frag?x' }));
    expect([noQuery.PATH_INFO, noQuery.QUERY_STRING]).toEqual(['/p', '']);
  });

  it('gives REQUEST_URI without the fragment, and each request its own target when the path changes and comes back', () => {
    const uri = (url: string) => {
      const env = buildEnv(request(['Host', 'a.test'], { url }));
      return [env.REQUEST_URI, env.PATH_INFO, env.QUERY_STRING];
    };
    expect(uri('/p?q=1#frag')).toEqual(['/p?q=1', '/p', 'q=1']);
    expect(uri('/p?q=1#frag')).toEqual(['/p?q=1', '/p', 'q=1']);
    expect(uri('/other')).toEqual(['/other', '/other', '']);
    expect(uri('/p?q=1#frag')).toEqual(['/p?q=1', '/p', 'q=1']);
    expect(uri('http://x.test/abs?y#z')).toEqual(['http://x.test/abs?y', '/abs', 'y']);
  });

  it('joins repeated headers with commas, and cookies with semicolons', () => {
    const env = buildEnv(request(['Host', 'a.test', 'X-Forwarded-For', '10.0.0.1', 'Cookie', 'a=1', 'x-forwarded-for', '10.0.0.2', 'cookie', 'b=2']));
    expect(env.HTTP_X_FORWARDED_FOR).toBe('10.0.0.1, 10.0.0.2');
    expect(env.HTTP_COOKIE).toBe('a=1; b=2');
  });

  it('joins a repeated header only where this request repeats it, whatever the requests before it repeated', () => {
    const env = (names: string[]) => buildEnv(request(['Host', 'a.test', ...names]));
    expect(env(['X-A', '1', 'X-A', '2']).HTTP_X_A).toBe('1, 2');
    expect(env(['X-A', '3', 'X-A', '4']).HTTP_X_A).toBe('3, 4');
    // The same name at the second position, no longer a repeat: an earlier name changed.
    const changed = env(['X-B', '5', 'X-A', '6']);
    expect([changed.HTTP_X_B, changed.HTTP_X_A]).toEqual(['5', '6']);
    expect(env(['X-B', '7', 'X-A', '8']).HTTP_X_A).toBe('8');
    // Now a repeat at a position that was not one.
    const repeated = env(['X-A', '9', 'X-A', '10']);
    expect([repeated.HTTP_X_A, repeated.HTTP_X_B]).toEqual(['9, 10', undefined]);
    const cookies = env(['Cookie', 'a=1', 'Cookie', 'b=2']);
    expect(cookies.HTTP_COOKIE).toBe('a=1; b=2');
    expect(env(['Cookie', 'c=3', 'X-A', '1']).HTTP_COOKIE).toBe('c=3');
  });

  it('gives SERVER_PORT of the same Host per scheme, request after request', () => {
    const port = (host: string, encrypted: boolean) => buildEnv(request(['Host', host], { encrypted })).SERVER_PORT;
    expect([port('p.test', false), port('p.test', false), port('p.test', true), port('p.test', true), port('p.test', false)]).toEqual(['80', '80', '443', '443', '80']);
    expect([port('p.test:8080', true), port('p.test:8080', false), port('p.test', true)]).toEqual(['8080', '8080', '443']);
  });

  it("splits Host into SERVER_NAME and SERVER_PORT, with each scheme's default port for the same host", () => {
    const plain = buildEnv(request(['Host', 'example.test']));
    expect([plain.SERVER_NAME, plain.SERVER_PORT, plain['rack.url_scheme']]).toEqual(['example.test', '80', 'http']);
    const tls = buildEnv(request(['Host', 'example.test'], { encrypted: true }));
    expect([tls.SERVER_NAME, tls.SERVER_PORT, tls['rack.url_scheme']]).toEqual(['example.test', '443', 'https']);
    const v6 = buildEnv(request(['Host', '[::1]:9292']));
    expect([v6.SERVER_NAME, v6.SERVER_PORT]).toEqual(['[::1]', '9292']);
    const bare = buildEnv(request(['Host', '[::1]']));
    expect([bare.SERVER_NAME, bare.SERVER_PORT]).toEqual(['[::1]', '80']);
  });

  it('reads Host in any spelling, and the first of two as node:http does', () => {
    const env = buildEnv(request(['HOST', 'upper.test:81', 'host', 'second.test']));
    expect([env.SERVER_NAME, env.SERVER_PORT]).toEqual(['upper.test', '81']);
    const lower = buildEnv(request(['x-a', '1', 'host', 'lower.test:82']));
    expect([lower.SERVER_NAME, lower.SERVER_PORT]).toEqual(['lower.test', '82']);
  });

  it('falls back to the socket address without a Host header, and splits the query string', () => {
    const env = buildEnv(request([], { url: '/a/b?x=1&y=2' }));
    expect([env.SERVER_NAME, env.SERVER_PORT]).toEqual(['127.0.0.1', '8443']);
    expect([env.PATH_INFO, env.QUERY_STRING, env.REQUEST_URI]).toEqual(['/a/b', 'x=1&y=2', '/a/b?x=1&y=2']);
    expect(env.REMOTE_ADDR).toBe('192.0.2.1');
  });
});

describe('request after request with the same header names', () => {
  const names = (values: string[]) => ['Host', values[0]!, 'User-Agent', values[1]!, 'Accept', values[2]!, 'accept', values[3]!];

  it('gives each env its own values and keys, in the same order, whatever the app did to the one before', () => {
    const first = buildEnv(request(names(['a.test', 'ua/1', 'text/html', '*/*']), { url: '/one?x=1' }));
    const keys = Object.keys(first);
    // What an app may do to its env: add keys, delete keys, overwrite values.
    first.FOO = 'from the first app';
    delete first.HTTP_USER_AGENT;
    first.PATH_INFO = '/rewritten';
    first.HTTP_ACCEPT = 'changed';
    const second = buildEnv(request(names(['b.test:81', 'ua/2', 'image/png', 'text/plain']), { url: '/two' }));
    expect(second).not.toHaveProperty('FOO');
    expect([second.SERVER_NAME, second.SERVER_PORT, second.PATH_INFO, second.QUERY_STRING, second.REQUEST_URI]).toEqual(['b.test', '81', '/two', '', '/two']);
    expect([second.HTTP_HOST, second.HTTP_USER_AGENT, second.HTTP_ACCEPT]).toEqual(['b.test:81', 'ua/2', 'image/png, text/plain']);
    expect(Object.keys(second)).toEqual(keys);
    const third = buildEnv(request(names(['c.test', 'ua/3', 'a/b', 'c/d']), { url: '/three?y', encrypted: true }));
    expect(third).not.toBe(second);
    expect([third.HTTP_HOST, third.HTTP_USER_AGENT, third.HTTP_ACCEPT, third.QUERY_STRING, third['rack.url_scheme'], third.SERVER_PORT]).toEqual(['c.test', 'ua/3', 'a/b, c/d', 'y', 'https', '443']);
    expect(Object.keys(third)).toEqual(keys);
    // The earlier envs are the apps' own: untouched by the later requests.
    expect([second.HTTP_HOST, second.HTTP_ACCEPT, second.FOO]).toEqual(['b.test:81', 'image/png, text/plain', undefined]);
    expect([first.HTTP_HOST, first.HTTP_ACCEPT, first.PATH_INFO, first.FOO]).toEqual(['a.test', 'changed', '/rewritten', 'from the first app']);
  });

  it("gives each env its request's objects, method, protocol and id", () => {
    const one = request(names(['a.test', 'u', 'x', 'y']));
    const two = { ...request(names(['a.test', 'u', 'x', 'y'])), method: 'POST', httpVersion: '1.0', id: 'given-id' } as unknown as IncomingMessage;
    const a = buildEnv(one);
    const b = buildEnv(two);
    expect([b['rack.input'], b['tspuma.request'], b.REQUEST_METHOD, b.SERVER_PROTOCOL, b['tspuma.request_id']]).toEqual([two, two, 'POST', 'HTTP/1.0', 'given-id']);
    expect([a['rack.input'], a['tspuma.request'], a.REQUEST_METHOD, a.SERVER_PROTOCOL]).toEqual([one, one, 'GET', 'HTTP/1.1']);
  });

  it("reads REMOTE_ADDR on first use for a connection's last request, and as a value for the next", () => {
    let reads = 0;
    const socket = { encrypted: false, localAddress: '127.0.0.1', localPort: 8443, get remoteAddress() { reads++; return '198.51.100.7'; } };
    const on = (keepAlive: boolean) => {
      const req = { ...request(names(['a.test', 'u', 'x', 'y'])), socket } as unknown as IncomingMessage;
      return buildEnv(req, { shouldKeepAlive: keepAlive } as unknown as ServerResponse);
    };
    buildEnv(request(names(['a.test', 'u', 'x', 'y'])));
    const last = on(false);
    expect(reads).toBe(0);
    expect(Object.keys(last)).toContain('REMOTE_ADDR');
    expect(last.REMOTE_ADDR).toBe('198.51.100.7');
    expect(reads).toBe(1);
    const kept = on(true);
    expect(reads).toBe(2);
    expect(Object.getOwnPropertyDescriptor(kept, 'REMOTE_ADDR')).toMatchObject({ value: '198.51.100.7', writable: true });
    expect(Object.getOwnPropertyDescriptor(on(true), 'REMOTE_ADDR')?.get).toBeUndefined();
  });
});

describe('one pass over rawHeaders', () => {
  it("leaves node's request as node built it (admission stores nothing on it), and takes the env's Host from the first Host line", async () => {
    const { readFraming } = await import('../../server/admission.js');
    const req = request(['Host', 'admitted.test:8080', 'Accept', '*/*', 'host', 'second.test']);
    const keys = Reflect.ownKeys(req);
    expect(readFraming(req)).toMatchObject({ host: 'admitted.test:8080', hosts: 2 });
    // A property added after node built the request gives every request a second map and a keyed store.
    expect(Reflect.ownKeys(req)).toEqual(keys);
    expect(buildEnv(req)).toMatchObject({ SERVER_NAME: 'admitted.test', SERVER_PORT: '8080' });
    expect(buildEnv(request(['Host', 'raw.test:81']))).toMatchObject({ SERVER_NAME: 'raw.test', SERVER_PORT: '81' });
  });
});

describe("the env's id and Host, from its one pass over the headers", () => {
  /** A node:http request as the parser leaves it (req.id is node-http.ts's getter). */
  function nodeRequest(rawHeaders: string[]): IncomingMessage {
    const req = new http.IncomingMessage(null as never);
    req.method = 'GET';
    req.url = '/';
    req.httpVersion = '1.1';
    req.rawHeaders = rawHeaders;
    return req;
  }
  const id = (rawHeaders: string[]) => buildEnv(request(rawHeaders))['tspuma.request_id'];
  const made = /^[0-9a-f]{8}-[0-9a-z]+$/;

  it("takes the first well-formed X-Request-Id in any spelling as the id, and makes one for a malformed one or none", () => {
    expect(id(['Host', 'a.test', 'X-Request-Id', 'abc-1'])).toBe('abc-1');
    expect(id(['Host', 'a.test', 'x-request-id', 'abc-2', 'X-Request-Id', 'abc-3'])).toBe('abc-2');
    expect(id(['X-REQUEST-ID', 'abc-4', 'Host', 'a.test'])).toBe('abc-4');
    expect(id(['Host', 'a.test', 'X-Request-Id', 'has space'])).toMatch(made);
    expect(id(['Host', 'a.test', 'X-Other-Id', 'abc-5'])).toMatch(made);
    // Its key is X-Request-Id's, but it is not that header (firstHeader's reading, as the log's).
    const underscore = buildEnv(request(['Host', 'a.test', 'X_Request_Id', 'abc-6']));
    expect(underscore.HTTP_X_REQUEST_ID).toBe('abc-6');
    expect(underscore['tspuma.request_id']).toMatch(made);
  });

  it('finds the Host and the id again at each position when names change between requests', () => {
    const env = (rawHeaders: string[]) => {
      const e = buildEnv(request(rawHeaders));
      return [e.SERVER_NAME, e['tspuma.request_id']];
    };
    expect(env(['Host', 'a.test', 'X-Request-Id', 'id-1'])).toEqual(['a.test', 'id-1']);
    expect(env(['Host', 'b.test', 'X-Request-Id', 'id-2'])).toEqual(['b.test', 'id-2']);
    const other = env(['Host', 'c.test', 'X-Trace-Id12', 'id-3']);
    expect(other[0]).toBe('c.test');
    expect(other[1]).toMatch(made);
    expect(env(['X-Request-Id', 'id-4', 'Host', 'd.test'])).toEqual(['d.test', 'id-4']);
    expect(env(['X-Request-Id', 'id-5', 'Host', 'e.test'])).toEqual(['e.test', 'id-5']);
    const none = buildEnv(request(['X-Request-Id', 'id-6']));
    expect([none.SERVER_NAME, none.SERVER_PORT, none['tspuma.request_id']]).toEqual(['127.0.0.1', '8443', 'id-6']);
  });

  it("gives the id node's request keeps (req.id), and leaves the next request's id to its own headers", () => {
    const req = nodeRequest(['Host', 'a.test', 'X-Request-Id', 'kept-1']);
    expect(buildEnv(req)['tspuma.request_id']).toBe('kept-1');
    expect((req as IncomingMessage & { id?: unknown }).id).toBe('kept-1');
    const madeReq = nodeRequest(['Host', 'a.test']);
    const env = buildEnv(madeReq);
    expect(env['tspuma.request_id']).toMatch(made);
    expect(requestIdOf(madeReq)).toBe(env['tspuma.request_id']);
    // An id read later, outside an env, comes from that request's own headers.
    expect(requestIdOf(nodeRequest(['Host', 'a.test', 'X-Request-Id', 'later-1']))).toBe('later-1');
    expect(requestIdOf(nodeRequest(['Host', 'a.test']))).toMatch(made);
    // An id read before the env is the env's.
    const early = nodeRequest(['Host', 'a.test', 'X-Request-Id', 'early-1']);
    const first = requestIdOf(early);
    (early as IncomingMessage & { rawHeaders: string[] }).rawHeaders = ['Host', 'a.test', 'X-Request-Id', 'other-1'];
    expect(buildEnv(early)['tspuma.request_id']).toBe(first);
  });

  it("gives SERVER_PROTOCOL from node's version numbers, the text node made for anything else", () => {
    const version = (major: number | undefined, minor: number | undefined, text: string) => {
      const req = { ...request(['Host', 'a.test']), httpVersionMajor: major, httpVersionMinor: minor, httpVersion: text } as unknown as IncomingMessage;
      return buildEnv(req).SERVER_PROTOCOL;
    };
    // As node's parser leaves them: the numbers, and a new '1.1' string each request.
    expect(version(1, 1, ['1', '1'].join('.'))).toBe('HTTP/1.1');
    expect(version(1, 0, '1.0')).toBe('HTTP/1.0');
    expect(version(1, 1, '1.1')).toBe('HTTP/1.1');
    expect(version(undefined, undefined, '1.0')).toBe('HTTP/1.0');
  });

  it('keeps the env\'s keys in the order it always had', () => {
    const env = buildEnv(request(['Host', 'a.test', 'X-Request-Id', 'k-1', 'Accept', '*/*']));
    expect(Object.keys(env)).toEqual([
      'REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'REQUEST_URI', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL',
      'rack.url_scheme', 'rack.input', 'tspuma.request', 'tspuma.response', 'tspuma.request_id', 'REMOTE_ADDR',
      'HTTP_HOST', 'HTTP_X_REQUEST_ID', 'HTTP_ACCEPT',
    ]);
  });
});
