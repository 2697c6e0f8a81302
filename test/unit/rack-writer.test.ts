// What the Rack adapter's invoke puts on the wire must be what the general writer (normalize,
// writeResponse) puts there for the same Rack response, whichever way the adapter writes it: the
// usual hello ([status, {'content-type': type}, [one chunk]]) and every response shaped otherwise,
// with a body's close() called once and a bad status refused with the same error.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapt } from '../../server/adapters.js';
import type { RackResponse } from '../../server/app-types.js';
import { normalize, writeResponse } from '../../server/response.js';
import { wireWithoutDate } from '../helpers/http-raw.js';

const bytes = new TextEncoder().encode('bytes body');
/** Bodies with a close() of their own: how often each case's was called. */
const closed = new Map<string, number>();
function closing(name: string, chunks: string[]): string[] {
  const body = [...chunks];
  Object.defineProperty(body, 'close', { value: () => closed.set(name, (closed.get(name) ?? 0) + 1) });
  return body;
}

const CASES: Record<string, () => RackResponse> = {
  hello: () => [200, { 'content-type': 'text/html' }, ['Hello World\n']],
  'multi-byte chunk': () => [200, { 'content-type': 'text/plain; charset=utf-8' }, ['héllo wörld']],
  'bytes chunk': () => [200, { 'content-type': 'application/octet-stream' }, [bytes]],
  'empty chunk': () => [200, { 'content-type': 'text/plain' }, ['']],
  'status 201': () => [201, { 'content-type': 'text/plain' }, ['made']],
  'status 503': () => [503, { 'content-type': 'text/plain' }, ['down']],
  'status 999': () => [999, { 'content-type': 'text/plain' }, ['odd']],
  'no content, with a chunk': () => [204, { 'content-type': 'text/plain' }, ['dropped']],
  'not modified': () => [304, { 'content-type': 'text/plain' }, ['dropped']],
  'Content-Type in capitals': () => [200, { 'Content-Type': 'text/html' }, ['x']],
  // Shaped otherwise: the general writer's own.
  'a second header': () => [200, { 'content-type': 'text/html', 'x-a': '1' }, ['x']],
  'a Content-Length of its own': () => [200, { 'content-type': 'text/html', 'content-length': '1' }, ['x']],
  'no headers': () => [200, {}, ['x']],
  'a multi-line Content-Type': () => [200, { 'content-type': 'a/b\nc/d' }, ['x']],
  'a Content-Type list': () => [200, { 'content-type': ['a/b'] }, ['x']],
  'two chunks': () => [200, { 'content-type': 'text/plain' }, ['a', 'b']],
  'no chunk': () => [200, { 'content-type': 'text/plain' }, []],
  'a string body': () => [200, { 'content-type': 'text/plain' }, 'whole'],
  'a body with close()': () => [200, { 'content-type': 'text/plain' }, closing('a body with close()', ['closed'])],
};

/** One adapted app for every request to /one-app: its Content-Type is the request's `type`. */
const oneApp = adapt((env: Record<string, unknown>) => [200, { 'content-type': new URLSearchParams(env.QUERY_STRING as string).get('type')! }, ['x']] as RackResponse, 'rack');

let server: http.Server;
let port: number;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const name = url.searchParams.get('case')!;
    const make = CASES[name]!;
    if (url.pathname === '/one-app') void oneApp.invoke(req, res);
    else if (url.pathname === '/adapter') void adapt(() => make(), 'rack').invoke(req, res);
    else void writeResponse(res, normalize(make(), 'a Rack response'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const wire = (path: string, method: string): Promise<string> => wireWithoutDate(port, path, method);

describe("the Rack adapter's response", () => {
  for (const name of Object.keys(CASES)) {
    for (const method of ['GET', 'HEAD']) {
      it(`${method}, ${name}: the same bytes as the general writer's`, async () => {
        closed.clear();
        const general = await wire(`/general?case=${encodeURIComponent(name)}`, method);
        const adapter = await wire(`/adapter?case=${encodeURIComponent(name)}`, method);
        expect(adapter).toBe(general);
        expect(adapter).toMatch(/^HTTP\/1\.1 \d{3} /);
        if (name === 'a body with close()') expect(closed.get(name)).toBe(2); // once for each writer
      });
    }
  }

  it('sends the hello as raw node:http would: its type, its length, its body, nothing else', async () => {
    const hello = await wire('/adapter?case=hello', 'GET');
    expect(hello).toBe('HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nConnection: close\r\nContent-Length: 12\r\n\r\nHello World\n');
  });

  it('still hands a multi-line Content-Type to the general writer right after the same app had a one-line one written typed', async () => {
    // One adapter (one app) whose type changes from response to response: the one-line type the
    // adapter remembers must not let a multi-line one through.
    const sequence = ['text/html', 'a/b\nc/d', 'text/html', 'a/b\nc/d'];
    const wires: string[] = [];
    for (const type of sequence) wires.push(await wire(`/one-app?type=${encodeURIComponent(type)}`, 'GET'));
    const single = await wire(`/general?case=${encodeURIComponent('a multi-line Content-Type')}`, 'GET');
    expect(wires[1]).toBe(single);
    expect(wires[3]).toBe(single);
    expect(wires[1]).toContain('content-type: a/b\r\ncontent-type: c/d\r\n');
    expect(wires[0]).toBe(wires[2]);
    expect(wires[0]).toContain('content-type: text/html\r\n');
  });

  it('refuses a status that cannot end a request as the general writer does, and writes nothing', () => {
    for (const status of [100, 199, 1000, 200.5, Number.NaN]) {
      const req = new http.IncomingMessage(null as never);
      const res = new http.ServerResponse(req);
      const invoke = () => adapt(() => [status, { 'content-type': 'text/plain' }, ['x']] as RackResponse, 'rack').invoke(req, res);
      expect(invoke).toThrow(expect.objectContaining({ code: 'TSPUMA_ERR_APP_RESULT' }));
      expect(res.headersSent).toBe(false);
    }
  });
});
