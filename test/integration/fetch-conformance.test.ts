// Fetch apps: what the app and the client observe, served through the built CLI, with
// @hono/node-server (the adapter Hono users already trust) as the reference for the same raw
// request. The cases come from the Fetch standard's Request/Response and from what Hono apps rely
// on: request.signal on a client hang-up at every stage, a streamed body's cancel(), heads of
// streamed bodies sent at once, every body kind with its length, HEAD/204/304 framing, methods.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boot, killAll, ROOT, type Booted } from '../helpers/cli.js';
import { exchange, hold, type RawResponse } from '../helpers/http-raw.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = join(ROOT, 'test/fixtures/apps/fetch-conformance-app.ts');
const RUNNER = join(ROOT, 'test/fixtures/apps/hono-node-server.ts');

let tspuma: Booted;
let port: number;
let peer: ChildProcess;
let peerPort: number;
let tmp: string;

beforeAll(async () => {
  tmp = tempDir('conformance');
  tspuma = await boot(['-b', 'tcp://127.0.0.1:0', APP]);
  port = Number(new URL(tspuma.url).port);
  peer = spawn(process.execPath, ['--import', 'tsx', RUNNER, APP], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  peer.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  peerPort = await waitFor(() => Number(/"port":(\d+)/.exec(out)?.[1] ?? 0), '@hono/node-server to listen', 20_000);
}, 40_000 * SLOWNESS);

afterAll(async () => {
  peer?.kill('SIGKILL');
  await killAll();
});

let ids = 0;
const nextId = () => `c${++ids}-${process.pid}`;
const get = (path: string, extra = '', method = 'GET') => `${method} ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n${extra}\r\n`;
const text = (r: RawResponse) => r.body.toString('utf8');

/** What the app noted under `id`, read from the same server. */
async function events(p: number, id: string): Promise<string[]> {
  const r = await exchange(p, get(`/_events/${id}`));
  return JSON.parse(text(r)) as string[];
}
async function waitForEvent(p: number, id: string, what: string): Promise<string[]> {
  return waitFor(async () => {
    const list = await events(p, id);
    return list.includes(what) ? list : undefined;
  }, `the app to note ${what} for ${id}`, 10_000, 50);
}

describe('request.signal aborts when the client goes away', () => {
  it('while a GET waits in the app (Hono c.req.raw.signal)', async () => {
    const id = nextId();
    const c = await hold(port, `GET /wait/${id} HTTP/1.1\r\nHost: t\r\n\r\n`);
    await waitFor(async () => (await events(port, id)).length === 0 && true, 'the app to be running');
    c.hangUp();
    expect(await waitForEvent(port, id, 'aborted')).toEqual(['aborted']);
  });

  it('while a DELETE waits in the app', async () => {
    const id = nextId();
    const c = await hold(port, `DELETE /wait/${id} HTTP/1.1\r\nHost: t\r\n\r\n`);
    c.hangUp();
    expect(await waitForEvent(port, id, 'aborted')).toEqual(['aborted']);
  });

  it('after the app read a PUT body', async () => {
    const id = nextId();
    const c = await hold(port, `PUT /put-wait/${id} HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello`);
    await waitForEvent(port, id, 'body 5');
    c.hangUp();
    expect(await waitForEvent(port, id, 'aborted')).toEqual(['body 5', 'aborted']);
  });

  it('while the app reads a streamed body: text() rejects with an AbortError and the signal aborts', async () => {
    const id = nextId();
    const c = await hold(port, `PUT /read-wait/${id} HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n${'x'.repeat(100_000)}`);
    await waitForEvent(port, id, 'reading');
    c.hangUp();
    const list = await waitFor(async () => {
      const l = await events(port, id);
      return l.includes('aborted') && l.some((e) => e.startsWith('text rejected')) ? l : undefined;
    }, 'abort and the rejected read', 10_000, 50);
    expect([...list].sort()).toEqual(['aborted', 'reading', 'text rejected AbortError']);
  });

  it('while the response streams: the signal aborts and the body stream is cancelled', async () => {
    const id = nextId();
    const c = await hold(port, `GET /stream/${id} HTTP/1.1\r\nHost: t\r\n\r\n`);
    await c.waitFor('data: 2');
    c.hangUp();
    const list = await waitFor(async () => {
      const l = await events(port, id);
      return l.includes('aborted') && l.includes('cancel') ? l : undefined;
    }, 'abort and cancel', 10_000, 50);
    expect([...list].sort()).toEqual(['aborted', 'cancel']);
  });
});

describe('streamed bodies', () => {
  it('send their head at once, before the first chunk is ready', async () => {
    const id = nextId();
    const c = await hold(port, get(`/held/${id}`));
    await c.waitFor('\r\n\r\n');
    expect(c.received().toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(c.received().toString('latin1')).not.toContain('first');
    await exchange(port, get(`/_release/${id}`));
    await c.waitFor('first\n');
    c.hangUp();
  });

  it('a stream that fails before its first chunk: a 200 head, then a body cut short (no terminating chunk)', async () => {
    const r = await exchange(port, get('/fails-early'));
    expect(r.status).toBe(200);
    expect(r.complete).toBe(false);
    expect(r.closed).toBe(true);
  });
});

const KINDS: [kind: string, body: string | RegExp, type: string | RegExp | null][] = [
  ['string', 'hello world', 'text/plain;charset=UTF-8'],
  ['arraybuffer', 'hello world', null],
  ['uint8array', 'hello world', null],
  ['view', 'hello world', null],
  ['dataview', 'hello world', null],
  ['buffer', 'hello world', null],
  ['blob', 'hello world', 'text/x-blob'],
  ['urlsearchparams', 'greeting=hello+world', 'application/x-www-form-urlencoded;charset=UTF-8'],
  ['formdata', /name="greeting"\r\n\r\nhello world\r\n/, /^multipart\/form-data; boundary=/],
  ['null', '', null],
];

describe('every standard body kind is written whole, with its Content-Length', () => {
  for (const [kind, body, type] of KINDS) {
    for (const prefix of ['/body', '/rewrapped']) {
      it(`${prefix}/${kind}`, async () => {
        const r = await exchange(port, get(`${prefix}/${kind}`));
        expect(r.status).toBe(200);
        if (typeof body === 'string') expect(text(r)).toBe(body);
        else expect(text(r)).toMatch(body);
        expect(r.headers['transfer-encoding']).toBeUndefined();
        expect(r.headers['content-length']).toEqual([String(r.body.length)]);
        if (type === null) expect(r.headers['content-type']).toBeUndefined();
        else if (typeof type === 'string') expect(r.headers['content-type']).toEqual([type]);
        else expect(r.headers['content-type']?.[0]).toMatch(type);
        if (prefix === '/rewrapped') expect(r.headers['x-rewrapped']).toEqual(['1']);
      });
    }
  }

  it('a ReadableStream body goes out chunked, whole', async () => {
    const r = await exchange(port, get('/body/stream'));
    expect(r.status).toBe(200);
    expect(r.headers['transfer-encoding']).toEqual(['chunked']);
    expect(r.complete).toBe(true);
    expect(text(r)).toBe('hello world');
  });

  it('the body bytes of every kind match @hono/node-server for the same request', async () => {
    for (const [kind] of KINDS) {
      const [ours, theirs] = await Promise.all([exchange(port, get(`/body/${kind}`)), exchange(peerPort, get(`/body/${kind}`))]);
      const strip = (s: string) => s.replace(/(-{2,}|boundary=)[-\w]+/g, '$1B');
      expect({ kind, status: ours.status, body: strip(text(ours)) }).toEqual({ kind, status: theirs.status, body: strip(text(theirs)) });
    }
  });
});

describe('byte bodies behind hono/etag', () => {
  for (const route of ['/etag/bytes', '/etag/buffer', '/etag/text']) {
    it(`${route}: 200 with its ETag, then 304 on If-None-Match`, async () => {
      const first = await exchange(port, get(route));
      expect(first.status).toBe(200);
      expect(text(first)).toBe('hello world');
      expect(first.headers['content-length']).toEqual(['11']);
      const tag = first.headers.etag?.[0];
      expect(tag).toMatch(/^"[0-9a-f]+"$/);
      const again = await exchange(port, get(route, `If-None-Match: ${tag}\r\n`));
      expect(again.status).toBe(304);
      expect(again.headers.etag).toEqual([tag]);
      expect(again.raw.toString('latin1').endsWith('\r\n\r\n')).toBe(true);
      const theirs = await exchange(peerPort, get(route));
      expect(theirs.headers.etag).toEqual([tag]);
    });
  }
});

describe('HEAD, 204 and 304 framing (RFC 9110 §6.4.1, §8.6; RFC 9112 §6.3)', () => {
  it('HEAD on a GET route sends no body and no Content-Length other than the GET one', async () => {
    const r = await exchange(port, get('/text12', '', 'HEAD'), { noBody: true });
    expect(r.status).toBe(200);
    const length = r.headers['content-length'];
    if (length !== undefined) expect(length).toEqual(['12']);
    expect(r.raw.toString('latin1').endsWith('\r\n\r\n')).toBe(true);
  });

  it('HEAD on a plain fetch route whose Response has an 11-byte body: Content-Length 11, no body bytes', async () => {
    const r = await exchange(port, get('/plain/string', '', 'HEAD'), { noBody: true });
    expect(r.headers['content-length']).toEqual(['11']);
    expect(r.raw.toString('latin1').endsWith('\r\n\r\n')).toBe(true);
  });

  it('204 has no Content-Length and no body even when the app set one', async () => {
    const r = await exchange(port, get('/no-content'));
    expect(r.status).toBe(204);
    expect(r.headers['content-length']).toBeUndefined();
    expect(r.headers['transfer-encoding']).toBeUndefined();
    expect(r.raw.toString('latin1').endsWith('\r\n\r\n')).toBe(true);
  });

  it('304 has no body and no chunked framing', async () => {
    const r = await exchange(port, get('/not-modified'));
    expect(r.status).toBe(304);
    expect(r.headers['transfer-encoding']).toBeUndefined();
    expect(r.headers.etag).toEqual(['"x"']);
    expect(r.raw.toString('latin1').endsWith('\r\n\r\n')).toBe(true);
  });
});

describe('methods', () => {
  it('TRACE reaches a Hono route (undici refuses it in new Request)', async () => {
    const r = await exchange(port, get('/method', '', 'TRACE'));
    expect(r.status).toBe(200);
    expect(text(r)).toBe('method TRACE');
  });

  it('PURGE gets a coded 501 by default, and reaches the app when supportedHttpMethods allows it', async () => {
    const refused = await exchange(port, get('/method', '', 'PURGE'));
    expect(refused.status).toBe(501);
    const config = join(tmp, 'any-method.config.mjs');
    writeFileSync(config, "export default { supportedHttpMethods: [...['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE'], 'PURGE'] };\n");
    const s = await boot(['-C', config, '-b', 'tcp://127.0.0.1:0', APP]);
    const r = await exchange(Number(new URL(s.url).port), get('/method', '', 'PURGE'));
    expect(r.status).toBe(200);
    expect(text(r)).toBe('method PURGE');
    s.proc.kill('SIGKILL');
  });
});

describe('the Request and Response a fetch app sees are standard', () => {
  it('method, url, headers, text() and instanceof Request', async () => {
    const r = await exchange(port, `POST /echo?x=1 HTTP/1.1\r\nHost: example.test:8080\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`);
    expect(JSON.parse(text(r))).toEqual({ method: 'POST', url: 'http://example.test:8080/echo?x=1', isRequest: true, host: 'example.test:8080', body: 'abc' });
  });

  it('clone() gives both copies the body', async () => {
    const r = await exchange(port, `POST /clone HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd`);
    expect(JSON.parse(text(r))).toEqual({ a: 'abcd', b: 'abcd', used: true });
  });

  it('formData() reads multipart fields and files', async () => {
    const b = 'XyZ';
    const body = `--${b}\r\nContent-Disposition: form-data; name="name"\r\n\r\nada\r\n--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nfile body\r\n--${b}--\r\n`;
    const r = await exchange(port, `POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=${b}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    expect(JSON.parse(text(r))).toEqual({ name: 'ada', file: 'file body', fileName: 'a.txt' });
  });

  it('arrayBuffer() gives an ArrayBuffer of the body', async () => {
    const r = await exchange(port, `POST /bytes HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\n\x07bc`);
    expect(JSON.parse(text(r))).toEqual({ isArrayBuffer: true, length: 3, first: 7 });
  });

  it('a chunked request body streams through request.body', async () => {
    const r = await exchange(port, `POST /stream-in HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`);
    expect(JSON.parse(text(r))).toEqual({ total: 11, chunks: true });
  });

  it('new Request(request, init) takes the request tspuma built, body included', async () => {
    const r = await exchange(port, `POST /rewrap-request HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`);
    expect(JSON.parse(text(r))).toEqual({ isRequest: true, method: 'POST', url: 'http://t/rewrap-request', added: '1', body: 'abc' });
  });

  it('Response.json keeps status and headers', async () => {
    const r = await exchange(port, get('/json'));
    expect(r.status).toBe(201);
    expect(r.headers['content-type']).toEqual(['application/json']);
    expect(r.headers['x-extra']).toEqual(['yes']);
    expect(JSON.parse(text(r))).toEqual({ ok: true });
  });

  it('Response.redirect sends the status and Location', async () => {
    const r = await exchange(port, get('/redirect'));
    expect(r.status).toBe(307);
    expect(r.headers.location).toEqual(['http://example.com/there']);
  });

  it('several Set-Cookie headers stay separate', async () => {
    const r = await exchange(port, get('/cookies'));
    expect(r.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
  });

  it('a header given twice in different case (Hono c.json with its own content-type) goes out as one header, as Headers joins it', async () => {
    const [ours, theirs] = await Promise.all([exchange(port, get('/json-typed')), exchange(peerPort, get('/json-typed'))]);
    expect(ours.headers['content-type']).toHaveLength(1);
    expect(ours.headers['content-type']).toEqual(theirs.headers['content-type']);
  });

  it('instanceof Request and Response hold for what the app gets and makes', async () => {
    const r = await exchange(port, get('/instanceof'));
    expect(JSON.parse(text(r))).toEqual({ request: true, response: true, status: 200 });
  });

  it('a TimeoutError rejection answers 504, as @hono/node-server does', async () => {
    const [ours, theirs] = await Promise.all([exchange(port, get('/timeout')), exchange(peerPort, get('/timeout'))]);
    expect(theirs.status).toBe(504);
    expect(ours.status).toBe(504);
  });
});

// The Host header's other half (host.test has the 400s for a malformed one, on examples/hono.ts):
// the URL is built from a validated authority and an origin-form path, so no Host value can move
// the path Hono routes on; an absolute-form target names its own authority (RFC 9112 §3.2.2).
describe('the URL a fetch app gets', () => {
  const urlOf = async (target: string, hostLines: string) => {
    const r = await exchange(port, `GET ${target} HTTP/1.1\r\n${hostLines}Connection: close\r\n\r\n`);
    expect(r.status).toBe(200);
    return (JSON.parse(r.body.toString()) as { url: string }).url;
  };

  it('is the Host authority and the target path, normalised as a URL is', async () => {
    expect(await urlOf('/echo?x=1', 'Host: Example.COM:80\r\n')).toBe('http://example.com/echo?x=1');
    expect(await urlOf('/a/../echo', 'Host: t:8080\r\n')).toBe('http://t:8080/echo');
  });

  it('an absolute-form target (GET http://other.example/x) uses its own authority, not Host', async () => {
    expect(await urlOf('http://other.example/echo?q=1', 'Host: t\r\n')).toBe('http://other.example/echo?q=1');
  });

  it('an absolute-form target with an invalid authority gets 400', async () => {
    const r = await exchange(port, get('http://evil@other.example/echo'));
    expect(r.status).toBe(400);
  });
});
