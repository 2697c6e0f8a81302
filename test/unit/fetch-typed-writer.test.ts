// The fetch adapter's short way for a Response with no headers of its own (writeKeptTyped and
// writeTyped): it must put on the wire what the general writer (keptParts, writeResponse) puts there
// for the same Response, and leave every other Response to the general writer.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FetchResponse, keptParts, writeKeptTyped } from '../../server/fetch-response.js';
import { writeResponse, writeTyped } from '../../server/response.js';
import { wireWithoutDate } from '../helpers/http-raw.js';

type Make = () => FetchResponse;
const bytes = new TextEncoder().encode('bytes body');
const CASES: Record<string, Make> = {
  string: () => new FetchResponse('Hello World\n'),
  'multi-byte string': () => new FetchResponse('héllo wörld'),
  bytes: () => new FetchResponse(bytes),
  'empty string': () => new FetchResponse(''),
  'no body': () => new FetchResponse(null),
  'status and text': () => new FetchResponse('made', { status: 201, statusText: 'Made It' }),
  'no content': () => new FetchResponse(null, { status: 204 }),
  'server error': () => new FetchResponse('broken', { status: 503 }),
  // Hono's c.json() and c.html(): a record of one Content-Type, status given as undefined.
  'JSON (Hono c.json)': () => new FetchResponse('{"a":1}', { status: undefined, headers: { 'Content-Type': 'application/json' } }),
  'HTML, lower-case name': () => new FetchResponse('<p>hi</p>', { headers: { 'content-type': 'text/html; charset=UTF-8' } }),
  'a type given for bytes': () => new FetchResponse(bytes, { headers: { 'CONTENT-TYPE': 'application/octet-stream' } }),
  'a type given with no body': () => new FetchResponse(null, { status: 202, headers: { 'Content-Type': 'text/plain' } }),
};

let server: http.Server;
let port: number;
/** What writeKeptTyped answered for the last request. */
let took: boolean | null = null;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const make = CASES[url.searchParams.get('case')!]!;
    if (url.pathname === '/typed') {
      took = writeKeptTyped(make(), res, writeTyped);
      if (!took) void writeResponse(res, keptParts(make())!);
    } else {
      void writeResponse(res, keptParts(make())!);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const wire = (path: string, method: string): Promise<string> => wireWithoutDate(port, path, method);

describe('a Response with no headers of its own, written the short way', () => {
  for (const name of Object.keys(CASES)) {
    for (const method of ['GET', 'HEAD']) {
      it(`${method}, ${name}: the same bytes as the general writer's`, async () => {
        const general = await wire(`/general?case=${encodeURIComponent(name)}`, method);
        took = null;
        const typed = await wire(`/typed?case=${encodeURIComponent(name)}`, method);
        expect(took).toBe(true);
        expect(typed).toBe(general);
      });
    }
  }

  it("sends the app's Content-Type in place of the one its body implies", async () => {
    const typed = await wire(`/typed?case=${encodeURIComponent('JSON (Hono c.json)')}`, 'GET');
    expect(typed).toMatch(/^HTTP\/1\.1 200 OK\r\ncontent-type: application\/json\r\n/);
    expect(typed).not.toContain('text/plain');
    expect(typed.endsWith('\r\n\r\n{"a":1}')).toBe(true);
  });

  it('sends the string response as the general writer does: its type, its length, its body', async () => {
    const typed = await wire(`/typed?case=string`, 'GET');
    expect(typed).toMatch(/^HTTP\/1\.1 200 OK\r\ncontent-type: text\/plain;charset=UTF-8\r\n/);
    expect(typed).toContain('\r\nContent-Length: 12\r\n');
    expect(typed.endsWith('\r\n\r\nHello World\n')).toBe(true);
  });
});

describe("a string body's Content-Length", () => {
  it('is each string\'s own UTF-8 length when the same, an equal and another string follow one another', async () => {
    // byteLength remembers the last string it measured: an equal string built at run time, a
    // multi-byte one of the same character count and the first again each get their own count.
    const { byteLength } = await import('../../server/response.js');
    const hello = 'Hello World\n';
    const built = ['Hello', ' World\n'].join('');
    const multi = 'Héllo Wörld\n';
    expect([hello, hello, built, multi, multi, hello, 'x'.repeat(2000), 'x'.repeat(2000), 'é'.repeat(2000)].map(byteLength)).toEqual([12, 12, 12, 14, 14, 12, 2000, 2000, 4000]);
    expect(byteLength(new Uint8Array(5))).toBe(5);
  });
});

describe('left to the general writer', () => {
  const others: Record<string, () => FetchResponse> = {
    'headers given as a record': () => new FetchResponse('x', { headers: { 'x-a': '1' } }),
    'headers given as Headers': () => new FetchResponse('x', { headers: new Headers({ 'x-a': '1' }) }),
    'a Content-Type and another header': () => new FetchResponse('x', { headers: { 'Content-Type': 'text/plain', 'x-a': '1' } }),
    'a Content-Type as Headers': () => new FetchResponse('x', { headers: new Headers({ 'Content-Type': 'text/plain' }) }),
    'a Content-Type as pairs': () => new FetchResponse('x', { headers: [['Content-Type', 'text/plain']] }),
    'a Content-Type that is not a string': () => new FetchResponse('x', { headers: { 'Content-Type': 7 as unknown as string } }),
    'a multi-line Content-Type': () => new FetchResponse('x', { headers: { 'Content-Type': 'a/b\nc/d' } }),
    'a record made by a class': () => new FetchResponse('x', { headers: new (class { 'content-type' = 'text/plain'; })() as unknown as Record<string, string> }),
    'headers read by the app': () => {
      const r = new FetchResponse('x');
      r.headers.set('x-a', '1');
      return r;
    },
    'a Blob body': () => new FetchResponse(new Blob(['blob'])),
    'a stream body': () => new FetchResponse(new ReadableStream({ start: (c) => c.close() })),
    'a body asked for as a stream': () => {
      const r = new FetchResponse('x');
      void r.body;
      return r;
    },
  };
  for (const [name, make] of Object.entries(others)) {
    it(`${name}: not taken`, () => {
      const res = new http.ServerResponse(new http.IncomingMessage(null as never));
      let wrote = false;
      expect(writeKeptTyped(make(), res, () => (wrote = true))).toBe(false);
      expect(wrote).toBe(false);
    });
  }

  it('values that are not tspuma Responses: not taken', () => {
    const res = new http.ServerResponse(new http.IncomingMessage(null as never));
    for (const value of [null, undefined, 'text', [200, {}, []], { status: 200 }]) expect(writeKeptTyped(value, res, writeTyped)).toBe(false);
  });
});
