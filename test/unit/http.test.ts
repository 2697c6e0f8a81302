// In-process tests on 127.0.0.1:0: request handling, HTTP strictness and the lowlevel handler.
import net from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchHandler, rack, nodeListener } from '../../server/adapters.js';
import type { RackEnv } from '../../server/app-types.js';
import { rawRequest, statusOf, waitFor } from '../helpers/net.js';
import { recording, startTest, stopAll } from '../helpers/server.js';

afterEach(stopAll);

const hello = rack(() => [200, { 'content-type': 'text/plain' }, ['Hello World\n']]);

describe('apps', () => {
  it('serves a Rack app with Rack env keys', async () => {
    let seen: RackEnv | undefined;
    const t = await startTest({
      app: rack((env) => {
        seen = env;
        return [201, { 'x-test': 'a\nb' }, ['Hello ', 'World']];
      }),
    });
    const res = await fetch(`${t.url}/path/x?q=1`, { headers: { 'x-custom-header': 'v' } });
    expect(res.status).toBe(201);
    expect(await res.text()).toBe('Hello World');
    expect(res.headers.get('content-length')).toBe('11');
    expect(res.headers.get('x-test')).toBe('a, b');
    expect(seen).toMatchObject({
      REQUEST_METHOD: 'GET',
      PATH_INFO: '/path/x',
      QUERY_STRING: 'q=1',
      SERVER_NAME: '127.0.0.1',
      SERVER_PORT: String(t.port),
      REMOTE_ADDR: '127.0.0.1',
      HTTP_X_CUSTOM_HEADER: 'v',
      'rack.url_scheme': 'http',
    });
  });

  it("reads REMOTE_ADDR when asked, lists it with the env's keys, and lets a proxy middleware overwrite it", async () => {
    const t = await startTest({
      app: rack((env) => {
        const before = env.REMOTE_ADDR;
        const listed = Object.keys(env).includes('REMOTE_ADDR');
        env.REMOTE_ADDR = '203.0.113.7';
        return [200, {}, [`${before} ${listed} ${env.REMOTE_ADDR} ${JSON.stringify({ ...env, 'rack.input': 0, 'tspuma.request': 0, 'tspuma.response': 0 }).includes('203.0.113.7')}`]];
      }),
    });
    // Keep-alive (a plain value) and the connection's last request (read on first use).
    expect(await (await fetch(t.url)).text()).toBe('127.0.0.1 true 203.0.113.7 true');
    const last = await rawRequest(t.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(last.text.endsWith('\r\n\r\n127.0.0.1 true 203.0.113.7 true')).toBe(true);
  });

  it('gives REMOTE_ADDR to a copy of the env made before anyone read it, to the error handler and through a frozen env', async () => {
    const t = await startTest({
      app: rack((env) => {
        if (env.PATH_INFO === '/frozen') return [200, {}, [`frozen ${String(Object.freeze(env).REMOTE_ADDR)}`]];
        const copy = { ...env };
        if (env.PATH_INFO === '/fail') throw new Error('boom');
        return [200, {}, [String(copy.REMOTE_ADDR)]];
      }),
      lowlevelErrorHandler: (_err: unknown, env: RackEnv) => [500, {}, [`handler saw ${String(env.REMOTE_ADDR)}`]],
    });
    const copied = await rawRequest(t.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(copied.text.endsWith('\r\n\r\n127.0.0.1')).toBe(true);
    const failed = await rawRequest(t.port, 'GET /fail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(statusOf(failed.text)).toBe(500);
    expect(failed.text.endsWith('handler saw 127.0.0.1')).toBe(true);
    const frozen = await rawRequest(t.port, 'GET /frozen HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(frozen.text.endsWith('\r\n\r\nfrozen 127.0.0.1')).toBe(true);
  });

  it('serves a fetch handler and streams the request body through', async () => {
    const t = await startTest({
      app: async (request: Request) => new Response(`${request.method} ${new URL(request.url).pathname} ${await request.text()}`),
    });
    const res = await fetch(`${t.url}/echo`, { method: 'POST', body: 'payload' });
    expect(await res.text()).toBe('POST /echo payload');
  });

  it('serves an object with fetch() and a node listener', async () => {
    const a = await startTest({ app: { fetch: () => new Response('from object', { status: 202 }) } });
    const r1 = await fetch(a.url);
    expect([r1.status, await r1.text()]).toEqual([202, 'from object']);
    const b = await startTest({ app: (_req: unknown, res: import('node:http').ServerResponse) => res.end('from listener') });
    expect(await (await fetch(b.url)).text()).toBe('from listener');
  });

  it('takes an event stream written by a node listener (setHeader, then flushHeaders) out of the pool', async () => {
    const open: import('node:http').ServerResponse[] = [];
    const t = await startTest({
      threads: { min: 1, max: 1 },
      app: nodeListener((req, res) => {
        if (req.url === '/events') {
          res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
          res.flushHeaders();
          res.write('data: first\n\n');
          open.push(res);
          return;
        }
        res.end('plain');
      }),
    });
    const streams = [new AbortController(), new AbortController()];
    for (const s of streams) {
      const res = await fetch(`${t.url}/events`, { signal: s.signal });
      const reader = res.body!.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: first\n\n');
    }
    // Two open streams, one slot: a plain request is still answered.
    expect(await (await fetch(t.url, { signal: AbortSignal.timeout(3000) })).text()).toBe('plain');
    const stats = t.running.server.stats();
    expect(stats.connections.streaming).toBe(2);
    expect(stats.running).toBe(0);
    for (const s of streams) s.abort();
    await waitFor(() => t.running.server.stats().connections.streaming === 0, 'streams closed');
  });

  it('tells a one-argument function returning a Rack array to use rack()', async () => {
    const t = await startTest({ app: (() => [200, {}, ['x']]) as never });
    const res = await fetch(t.url);
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('wrap a Rack app with rack()');
  });

  it('streams Readable, ReadableStream and async-iterable bodies chunked', async () => {
    const bodies: Record<string, () => unknown> = {
      readable: () => Readable.from(['a', 'b', 'c']),
      web: () =>
        new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode('a'));
            c.enqueue(new TextEncoder().encode('bc'));
            c.close();
          },
        }),
      iterable: () =>
        (async function* () {
          yield 'a';
          await new Promise((r) => setImmediate(r));
          yield 'bc';
        })(),
    };
    const t = await startTest({ app: rack((env) => [200, {}, bodies[env.PATH_INFO.slice(1)]!() as never]) });
    for (const name of Object.keys(bodies)) {
      const res = await fetch(`${t.url}/${name}`);
      expect(res.headers.get('transfer-encoding')).toBe('chunked');
      expect(await res.text()).toBe('abc');
    }
  });

  it('applies backpressure: a slow reader holds the producer back', async () => {
    let produced = 0;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const t = await startTest({
      app: rack(() => [
        200,
        {},
        (async function* () {
          for (let i = 0; i < 2000; i++) {
            produced++;
            yield chunk;
          }
        })(),
      ]),
    });
    const r = await import('node:http');
    await new Promise<void>((resolve, reject) => {
      const req = r.get(t.url, (res) => {
        res.pause(); // read nothing: the socket buffers fill and the producer must wait
        waitFor(() => produced > 0, 'production to start')
          .then(() => {
            // Poll until production stops advancing: the socket buffers are full and the
            // producer waits for 'drain'. Without backpressure it would run to all 2000 chunks.
            let seen = -1;
            return waitFor(() => {
              const stalled = produced === seen;
              seen = produced;
              return stalled;
            }, 'the producer to stall on backpressure', 10_000, 100);
          })
          .then(() => {
            expect(produced).toBeLessThan(2000);
            req.destroy();
            resolve();
          })
          .catch(reject);
      });
      req.on('error', () => undefined);
    });
  });
});

describe('lowlevel error handler', () => {
  it('answers an app throw with 500 and the development page', async () => {
    const t = await startTest({
      app: rack(() => {
        throw new TypeError('boom in app');
      }),
    });
    const res = await fetch(t.url);
    expect(res.status).toBe(500);
    expect(res.headers.get('connection')).toBe('close');
    const body = await res.text();
    expect(body).toMatch(/^tspuma caught this error: boom in app \(TypeError\)\n/);
    expect(body).toContain('http.test.ts');
    expect(t.lines.some((l) => l.level === 50 && String(l.msg).includes('boom in app'))).toBe(true);
  });

  it('answers an async rejection with 500 and hides details in production', async () => {
    const t = await startTest({
      environment: 'production',
      app: async () => {
        await new Promise((r) => setImmediate(r));
        throw new Error('secret detail');
      },
    });
    const res = await fetch(t.url, { headers: { 'x-request-id': 'prod-2' } });
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(body).not.toContain('secret detail');
    expect(body).toBe('500 Internal Server Error\nrequest id: prod-2\n');
  });

  it('uses a custom handler response, given err, env and status', async () => {
    const seen: unknown[] = [];
    const t = await startTest({
      app: rack(() => {
        throw new Error('Simulated crash before app');
      }),
      lowlevelErrorHandler: (err, env, status) => {
        seen.push(err.message, env.REQUEST_URI, status);
        return [500, { 'content-type': 'text/plain' }, ['An error has occurred. Try again.']];
      },
    });
    const res = await fetch(`${t.url}/x?y=1`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('An error has occurred. Try again.');
    expect(seen).toEqual(['Simulated crash before app', '/x?y=1', 500]);
  });

  it('falls back to the default when the handler throws, and logs it', async () => {
    const t = await startTest({
      app: rack(() => {
        throw new Error('app failed');
      }),
      lowlevelErrorHandler: () => {
        throw new Error('handler failed too');
      },
    });
    const res = await fetch(t.url);
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('tspuma caught this error: app failed');
    expect(t.lines.some((l) => l.code === 'TSPUMA_ERR_LOWLEVEL_HANDLER')).toBe(true);
  });

  it('a handler that returns a non-response is logged as returning it, naming the request, its id and the status, and the default answers', async () => {
    const t = await startTest({
      app: rack(() => {
        throw new Error('app failed');
      }),
      lowlevelErrorHandler: () => 'not a response' as never,
    });
    const res = await fetch(`${t.url}/orders?x=1`, { headers: { 'x-request-id': 'req-n10' } });
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('tspuma caught this error: app failed');
    const line = await waitFor(() => t.lines.find((l) => l.code === 'TSPUMA_ERR_LOWLEVEL_HANDLER'), 'the handler line');
    expect(line.msg).toBe('lowlevelErrorHandler returned string "not a response" for GET /orders?x=1 (status 500, request req-n10); it must return [status, headers, body], a Response or { status, headers, body }; the default 500 was sent.');
    expect(line).toMatchObject({ method: 'GET', url: '/orders?x=1', status: 500, requestId: 'req-n10' });
    expect(line.err).toBeUndefined();
    // A request node:http could not parse (a 400 on the socket) is named as such.
    const r = await rawRequest(t.port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n');
    expect(statusOf(r.text)).toBe(400);
    const raw = await waitFor(() => t.lines.filter((l) => l.code === 'TSPUMA_ERR_LOWLEVEL_HANDLER')[1], 'the second handler line');
    expect(raw.msg).toBe('lowlevelErrorHandler returned string "not a response" for a request node:http could not parse (status 400); it must return [status, headers, body], a Response or { status, headers, body }; the default 400 was sent.');
  });

  it("sends its Connection: close in place of the handler's Connection header, whatever its case", async () => {
    const t = await startTest({
      app: rack(() => {
        throw new Error('app failed');
      }),
      lowlevelErrorHandler: (_e, _env, status) => [status, { Connection: 'keep-alive', 'x-handled': '1' }, ['handled']],
    });
    const r = await rawRequest(t.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(statusOf(r.text)).toBe(500);
    expect(r.text).toContain('x-handled: 1');
    expect(r.text.match(/^connection:.*$/gim)).toEqual(['connection: close']);
    expect(r.closed).toBe(true);
  });

  it('gets parse errors too, without the app running', async () => {
    const { app, calls } = recording();
    const statuses: number[] = [];
    const t = await startTest({
      app,
      lowlevelErrorHandler: (_e, _env, status) => {
        statuses.push(status);
        return [status, { 'x-handled': '1' }, ['handled']];
      },
    });
    const r = await rawRequest(t.port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    expect(statusOf(r.text)).toBe(400);
    expect(r.text).toContain('x-handled: 1');
    expect(r.text).toContain('connection: close');
    expect(statuses).toEqual([400]);
    expect(calls).toEqual([]);
  });
});

describe('HTTP strictness', () => {
  it('rejects malformed requests with 400 before the app', async () => {
    const { app, calls } = recording();
    const t = await startTest({ app });
    for (const bad of ['GARBAGE\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n']) {
      const r = await rawRequest(t.port, bad);
      expect(statusOf(r.text), JSON.stringify(bad)).toBe(400);
      expect(r.closed).toBe(true);
    }
    const noHost = await rawRequest(t.port, 'GET / HTTP/1.1\r\n\r\n');
    expect(statusOf(noHost.text)).toBe(400);
    expect(calls).toEqual([]);
    // Host in any spelling counts.
    for (const name of ['host', 'HOST', 'hOsT']) {
      const ok = await rawRequest(t.port, `GET / HTTP/1.1\r\n${name}: x\r\nConnection: close\r\n\r\n`);
      expect(statusOf(ok.text), name).toBe(200);
    }
  });

  it('answers 431 for oversized headers and 414 for an oversized URI', async () => {
    const { app, calls } = recording();
    const t = await startTest({ app });
    const big = await rawRequest(t.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(statusOf(big.text)).toBe(431);
    // A URI over Puma's 12 KB that fits llhttp's 16 KB head: 414 from tspuma's own check.
    const uri = await rawRequest(t.port, `GET /${'a'.repeat(13_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(statusOf(uri.text)).toBe(414);
    // Past 16 KB the parser stops before the URI is complete: 431, as for any oversized head.
    const longer = await rawRequest(t.port, `GET /${'a'.repeat(17_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(statusOf(longer.text)).toBe(431);
    expect(calls).toEqual([]);
  });

  it('answers 501 for methods outside supportedHttpMethods, including CONNECT', async () => {
    const { app, calls } = recording();
    const t = await startTest({ app, supportedHttpMethods: ['GET', 'HEAD'] });
    expect(statusOf((await rawRequest(t.port, 'DELETE / HTTP/1.1\r\nHost: x\r\n\r\n')).text)).toBe(501);
    expect(statusOf((await rawRequest(t.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n')).text)).toBe(501);
    expect(calls).toEqual([]);
    expect((await fetch(t.url)).status).toBe(200);
  });

  it('answers 413 for a declared or chunked body over httpContentLengthLimit', async () => {
    const calls: string[] = [];
    const app = async (req: Request) => {
      calls.push(`${req.method} ${new URL(req.url).pathname}`);
      return new Response(`read ${(await req.text()).length}`);
    };
    // bodyBufferSize 0: bodies stream, so a chunked one reaches the app before its size is known.
    const t = await startTest({ app, httpContentLengthLimit: 10, bodyBufferSize: 0 });
    const declared = await rawRequest(t.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world');
    expect(statusOf(declared.text)).toBe(413);
    const chunked = await rawRequest(t.port, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n');
    expect(statusOf(chunked.text)).toBe(413);
    const small = await rawRequest(t.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
    expect(statusOf(small.text)).toBe(200);
    expect(small.text).toContain('read 5');
    // The declared one never reached the app; the chunked one did, and its reader was cut off.
    expect(calls).toEqual(['POST /', 'POST /']);
  });

  it('answers Expect: 100-continue with 100, or 413 when the body would be too large', async () => {
    const t = await startTest({ app: async (req: Request) => new Response(await req.text()), httpContentLengthLimit: 100 });
    const ok = await rawRequest(t.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhi');
    expect(ok.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200/);
    const big = await rawRequest(t.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\nExpect: 100-continue\r\n\r\n');
    expect(statusOf(big.text)).toBe(413);
  });

  it('sends no body for HEAD, 204 and 304', async () => {
    const t = await startTest({ app: rack((env) => [Number(env.PATH_INFO.slice(1)) || 200, {}, ['body!']]) });
    const head = await rawRequest(t.port, 'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(head.text).toMatch(/content-length: 5\r\n/i);
    expect(head.text.endsWith('\r\n\r\n')).toBe(true);
    for (const status of [204, 304]) {
      const r = await rawRequest(t.port, `GET /${status} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(statusOf(r.text)).toBe(status);
      expect(r.text).not.toContain('body!');
      expect(r.text).not.toMatch(/content-length/i);
    }
  });

  it('reads a chunked request body, caps requests per keep-alive connection, and never runs a request pipelined past the cap', async () => {
    let runs = 0;
    const t = await startTest({
      app: async (req: Request) => {
        runs++;
        return new Response(`got ${await req.text()}`);
      },
      maxKeepAlive: 2,
    });
    const one = 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    const r = await rawRequest(t.port, one + one + one);
    const responses = r.text.split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(2);
    expect(responses[0]).toContain('got abc');
    expect(responses[0]).toMatch(/connection: keep-alive/i);
    expect(responses[1]).toContain('got abc');
    expect(responses[1]).toMatch(/connection: close/i);
    // The third came after the connection's last response: not run (its answer could never be
    // sent); the clean close tells the client to send it again on a new connection.
    expect(r.closed).toBe(true);
    expect(runs).toBe(2);
  });

  it('closes at once after a client says Connection: close, and lingers only when the server chose to close', async () => {
    const t = await startTest({ app: hello, maxKeepAlive: 1 });
    const open = (request: string) =>
      new Promise<net.Socket>((resolve) => {
        const c = net.connect({ port: t.port, host: '127.0.0.1', allowHalfOpen: true }, () => c.write(request));
        c.once('data', () => resolve(c)); // the response arrived; this client never ends its side
      });
    const byClient = await open('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    // The client announced its last request: nothing to wait for (LINGER_MS is 2 s).
    await waitFor(() => t.running.server.deadlines.size === 0, 'the connection to be released', 1500);
    // maxKeepAlive 1: the server closes a connection the client meant to keep; it waits for
    // the client's FIN (a request already on its way would otherwise be reset).
    const byServer = await open('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(t.running.server.deadlines.size).toBe(1);
    byServer.end();
    await waitFor(() => t.running.server.deadlines.size === 0, 'the linger to end with the client FIN', 1500);
    byClient.destroy();
  });

  it('during a stop, closes a keep-alive connection after its last response lingering, as when the server chose to close: the client\'s FIN releases it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = await startTest({ app: nodeListener(async (_req, res) => {
      await gate;
      res.end('done');
    }) });
    let text = '';
    const c = net.connect({ port: t.port, host: '127.0.0.1', allowHalfOpen: true }, () => c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    c.on('data', (chunk: Buffer) => (text += chunk.toString()));
    await waitFor(() => t.running.server.inFlight().length === 1, 'the request in the app');
    const stopped = t.running.server.shutdown();
    release();
    await waitFor(() => text.includes('done'), 'the response');
    expect(text).toMatch(/\r\nConnection: close\r\n/i);
    // Our FIN is out and the connection waits for the client's (a request already on its way,
    // as clients that ignore Connection: close send, would otherwise turn the close into a reset).
    expect(t.running.server.deadlines.size).toBe(1);
    c.end();
    await waitFor(() => t.running.server.deadlines.size === 0, 'the linger to end with the client FIN', 1500);
    await stopped;
    c.destroy();
  });

  it('answers 408 when a request starts and then stalls for firstDataTimeout', async () => {
    const t = await startTest({ app: hello, firstDataTimeout: 0.3 });
    const started = Date.now();
    const r = await rawRequest(t.port, 'GET / HTTP/1.1\r\nHost: x\r\n', 5000);
    expect(statusOf(r.text)).toBe(408);
    expect(r.closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(4000);
    // A connection that sends nothing is closed without a response.
    const silent = await rawRequest(t.port, '', 5000);
    expect([silent.closed, silent.text]).toEqual([true, '']);
  });

  it('answers 503 through the handler when the app misses requestTimeout, and drops its late writes', async () => {
    let late: (() => void) | undefined;
    const t = await startTest({
      requestTimeout: 0.3,
      app: nodeListener((_req, res) => {
        late = () => {
          res.setHeader('x-late', '1');
          res.write('too late');
          res.end(' and more');
        };
      }),
      lowlevelErrorHandler: (err, _env, status) => [status, {}, [`timeout handled: ${(err as { code?: string }).code}`]],
    });
    // The app writes after the 503 went out, while the connection is still open (the server
    // lingers for the client's FIN): nothing of it reaches the client, and nothing throws.
    const received = await new Promise<string>((resolve) => {
      const c = net.connect(t.port, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      let text = '';
      c.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes('TSPUMA_ERR_REQUEST_TIMEOUT')) {
          late!();
          c.end(); // our FIN: the server's linger ends and it closes
        }
      });
      c.on('close', () => resolve(text));
    });
    expect(statusOf(received)).toBe(503);
    expect(received.endsWith('timeout handled: TSPUMA_ERR_REQUEST_TIMEOUT')).toBe(true);
    expect(received).not.toContain('late');
    expect(t.lines.some((l) => l.code === 'TSPUMA_ERR_REQUEST_TIMEOUT')).toBe(true);
    expect((await fetch(t.url)).status).toBe(503); // still serving
  });

  it("aborts a fetch app's request.signal when its 503 goes out in the app's place, so the work it passed the signal to stops (review20.9)", async () => {
    let reason: unknown = 'not aborted';
    const t = await startTest({
      requestTimeout: 0.3,
      app: fetchHandler(
        (request: Request) =>
          new Promise<Response>((resolve) => {
            // An upstream call given the request's signal: it stops only when the signal aborts.
            request.signal.addEventListener('abort', () => {
              reason = request.signal.reason;
              resolve(new Response('late'));
            });
          }),
      ),
    });
    expect((await fetch(t.url)).status).toBe(503);
    await waitFor(() => reason !== 'not aborted', 'the signal to abort', 5000);
    expect([(reason as DOMException).name, (reason as DOMException).message]).toEqual(['AbortError', "tspuma answered the request in the app's place (requestTimeout, a body over the limit, or a forced stop) before the app's response"]);
  });
});

describe('pool and stats', () => {
  it('queues requests beyond threads.max in FIFO order and reports Puma stats keys', async () => {
    const order: string[] = [];
    const gates: (() => void)[] = [];
    const t = await startTest({
      threads: { min: 0, max: 1 },
      app: rack(async (env) => {
        order.push(env.PATH_INFO);
        await new Promise<void>((r) => gates.push(r));
        return [200, {}, [env.PATH_INFO]];
      }),
    });
    const pending = ['/a', '/b', '/c'].map((p) => fetch(t.url + p).then((r) => r.text()));
    await waitFor(() => t.running.server.stats().backlog === 2, 'two queued requests');
    const stats = t.running.server.stats();
    expect(stats).toMatchObject({ backlog: 2, running: 1, pool_capacity: 0, busy_threads: 3, max_threads: 1 });
    expect(stats.connections.app).toBe(3);
    expect(typeof stats.started_at).toBe('string');
    for (let i = 0; i < 3; i++) {
      await waitFor(() => gates.length > i, `request ${i} to start`);
      gates[i]!();
    }
    expect(await Promise.all(pending)).toEqual(['/a', '/b', '/c']);
    expect(order).toEqual(['/a', '/b', '/c']);
    await waitFor(() => t.running.server.stats().running === 0, 'slots to free');
    expect(t.running.server.stats().requests_count).toBe(3);
  });
});
