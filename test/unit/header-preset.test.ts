// The general writer (response.ts's write: a fetch Response with headers of its own, a Headers
// object, a Rack response with several headers) puts a response's headers in node's own header
// record (node-http.ts's presetHeaders: each name and value checked once, not at every head). What
// goes on the wire must stay what writeHead with the list wrote: every header once and in order, a
// set-cookie list as separate lines, a name given twice as two lines, and a value or name node
// refuses refused with node's own error, the response left without the app's headers.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FetchResponse, nativeResponse } from '../../server/fetch-response.js';
import { normalize, writeResponse } from '../../server/response.js';
import { wireWithoutDate } from '../helpers/http-raw.js';

/** tspuma's own Response (what a fetch app builds while tspuma serves it), without replacing the global. */
const response = (body: string, init: ResponseInit): unknown => {
  nativeResponse();
  return new FetchResponse(body, init);
};

const CASES: Record<string, () => unknown> = {
  'a Rack response with two headers': () => [200, { 'content-type': 'text/html', 'x-a': '1' }, ['x']],
  'a fetch Response with a record of two': () => response('x', { headers: { 'content-type': 'text/plain', 'x-a': 'b' } }),
  'a fetch Response with a Headers object and a set-cookie list': () => {
    const headers = new Headers({ 'content-type': 'text/plain', 'cache-control': 'no-store' });
    headers.append('set-cookie', 'a=1; Path=/');
    headers.append('set-cookie', 'b=2; Path=/');
    return response('x', { headers });
  },
  'a Rack response with a name twice in different case': () => [200, { 'X-A': '1', 'x-a': '2' }, ['x']],
  'a Rack response with a name that starts with a digit': () => [200, { 'x-b': '1', '1x': '2' }, ['x']],
  'a Rack response with a value node refuses': () => [200, { 'content-type': 'text/plain', 'x-a': 'b\u0001' }, ['x']],
  'a Rack response with a name node refuses': () => [200, { 'content-type': 'text/plain', 'x a': 'b' }, ['x']],
  'a fetch Response with a set-cookie node refuses': () => {
    const headers = new Headers();
    headers.append('set-cookie', 'a=1');
    headers.append('set-cookie', 'b=\u0001');
    return response('x', { headers });
  },
  'a Rack response with a Trailer and a known length': () => [200, { 'content-type': 'text/plain', trailer: 'x-t' }, ['x']],
};

/** By case: what node's record held after the write (getHeaders), or the error code the write threw. */
const seen = new Map<string, { record?: Record<string, unknown>; code?: string }>();

let server: http.Server;
let port: number;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const name = new URL(req.url!, 'http://x').searchParams.get('case')!;
    try {
      void writeResponse(res, normalize(CASES[name]!(), 'a response'));
      seen.set(name, { record: { ...res.getHeaders() } });
    } catch (error) {
      seen.set(name, { code: (error as { code?: string }).code, record: { ...res.getHeaders() } });
      // As lowlevel.ts answers in the app's place.
      void writeResponse(res, { status: 500, headers: { 'content-type': 'text/x-error' }, body: 'refused' }, { connection: 'close' });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const wire = (name: string): Promise<string> => wireWithoutDate(port, `/?case=${encodeURIComponent(name)}`, 'GET');
const head = (text: string): string => text.slice(0, text.indexOf('\r\n\r\n'));
/**
 * The head lowlevel's answer in the app's place gets after the app's failed head: node's reason
 * phrase, not the "OK" the failed writeHead set, and its own body's length, not the app's.
 */
const REFUSED = 'HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/x-error\r\nconnection: close\r\nContent-Length: 7';

describe("the general writer's headers, preset in node's record", () => {
  it('writes a Rack response\'s two headers once each, in order, from the record, and the same again from the checked names and values', async () => {
    const name = 'a Rack response with two headers';
    const first = await wire(name);
    expect(first).toBe('HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nx-a: 1\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx');
    expect(seen.get(name)).toEqual({ record: { 'content-type': 'text/html', 'x-a': '1' } });
    seen.clear();
    expect(await wire(name)).toBe(first);
    expect(seen.get(name)).toEqual({ record: { 'content-type': 'text/html', 'x-a': '1' } });
  });

  it("writes a fetch Response's record of two headers from node's record", async () => {
    const name = 'a fetch Response with a record of two';
    expect(head(await wire(name))).toBe('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-a: b\r\nConnection: close\r\nContent-Length: 1');
    expect(seen.get(name)).toEqual({ record: { 'content-type': 'text/plain', 'x-a': 'b' } });
  });

  it('writes a Headers object\'s set-cookie list as one line a cookie, each as given', async () => {
    const name = 'a fetch Response with a Headers object and a set-cookie list';
    const text = head(await wire(name));
    expect(text.match(/^set-cookie: .*$/gim)).toEqual(['set-cookie: a=1; Path=/', 'set-cookie: b=2; Path=/']);
    expect(text).toContain('\r\ncache-control: no-store\r\n');
    expect(seen.get(name)!.record!['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
  });

  it('writes a name given twice in different case as two lines, as writeHead with the list does (not preset: a record keeps one)', async () => {
    const name = 'a Rack response with a name twice in different case';
    expect(head(await wire(name))).toBe('HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nConnection: close\r\nContent-Length: 1');
    expect(seen.get(name)).toEqual({ record: {} });
  });

  it('keeps the order of a name that starts with a digit (not preset: a record would enumerate it first)', async () => {
    const name = 'a Rack response with a name that starts with a digit';
    expect(head(await wire(name))).toBe('HTTP/1.1 200 OK\r\nx-b: 1\r\n1x: 2\r\nConnection: close\r\nContent-Length: 1');
    expect(seen.get(name)).toEqual({ record: {} });
  });

  it("refuses a value, a name or a cookie node refuses with node's own error, after valid ones were checked, and the response written in the app's place has none of its headers, its status text or its length", async () => {
    await wire('a Rack response with two headers'); // x-a and content-type checked before
    for (const [name, code] of [
      ['a Rack response with a value node refuses', 'ERR_INVALID_CHAR'],
      ['a Rack response with a name node refuses', 'ERR_INVALID_HTTP_TOKEN'],
      ['a fetch Response with a set-cookie node refuses', 'ERR_INVALID_CHAR'],
    ] as const) {
      const text = await wire(name);
      expect(seen.get(name)).toEqual({ code, record: {} });
      expect(head(text)).toBe(REFUSED);
    }
  });

  it('copies a Headers object given to new Response at once: a later change to it reaches neither the writer nor response.headers', () => {
    const given = new Headers({ 'x-a': '1' });
    given.append('set-cookie', 'a=1');
    given.append('set-cookie', 'b=2');
    const r = response('x', { headers: given }) as Response;
    given.set('x-a', '2');
    given.set('x-b', '3');
    const written = { 'x-a': '1', 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain;charset=UTF-8' };
    expect(normalize(r, 'a response').headers).toEqual(written);
    expect([...r.headers]).toEqual([
      ['content-type', 'text/plain;charset=UTF-8'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['x-a', '1'],
    ]);
    // Once read, `headers` is the response's: a change there is written.
    r.headers.set('x-c', '4');
    expect(normalize(r, 'a response').headers).toEqual({ ...written, 'x-c': '4' });
  });

  it("leaves no header of the app's in node's record when writeHead throws after the preset (a Trailer on a body of known length)", async () => {
    const name = 'a Rack response with a Trailer and a known length';
    // Twice: the second list is the last one preset, whose record is given again (and left intact).
    for (let i = 0; i < 2; i++) {
      const text = await wire(name);
      expect(seen.get(name)).toEqual({ code: 'ERR_HTTP_TRAILER_INVALID', record: {} });
      expect(head(text)).toBe(REFUSED);
    }
    expect(head(await wire('a Rack response with two headers'))).toBe('HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nx-a: 1\r\nConnection: close\r\nContent-Length: 1');
  });
});
