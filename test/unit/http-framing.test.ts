// In-process tests on 127.0.0.1:0: request framing (Transfer-Encoding, pipelined errors, body
// limits), bodies read before the app, and the deadlines that bound slow clients.
import http from 'node:http';
import net from 'node:net';
import express from 'express';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchHandler, nodeListener, rack } from '../../server/adapters.js';
import { entryOf } from '../../server/deadlines.js';
import { resolveOptions } from '../../server/options.js';
import { rawRequest, statusOf, waitFor } from '../helpers/net.js';
import { recording, startTest, stopAll, type TestServer } from '../helpers/server.js';

afterEach(stopAll);

/** The error code the lowlevel handler was given, echoed in the body. */
const echoCode = (err: unknown, _env: unknown, status: number) => [status, {}, [`code ${(err as { code?: string }).code}`]] as [number, Record<string, string>, string[]];

/** Opens a connection and resolves with what it received and when it closed (ms after open). */
function openDrip(port: number): { socket: net.Socket; done: Promise<{ text: string; closedAfter: number }> } {
  const socket = net.connect(port, '127.0.0.1');
  const opened = Date.now();
  let text = '';
  socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
  socket.on('error', () => undefined);
  const done = new Promise<{ text: string; closedAfter: number }>((resolve) => socket.on('close', () => resolve({ text, closedAfter: Date.now() - opened })));
  return { socket, done };
}

/**
 * The server's connection deadlines on a clock the test turns: its own sweep timer stops, and
 * `at(ms)` sweeps as if `ms` had passed since the start, so deadlines are tested through the
 * clock, not through wall-clock windows a loaded machine would miss. `sockets` are the server's
 * side of each connection, to wait until it has read what the client sent.
 */
function sweptByTest(t: TestServer) {
  const deadlines = t.running.server.deadlines;
  deadlines.stop();
  const t0 = performance.now();
  deadlines.sweep(t0);
  const sockets: net.Socket[] = [];
  t.running.listeners[0]!.server.on('connection', (s: net.Socket) => sockets.push(s));
  return {
    at: (ms: number) => deadlines.sweep(t0 + ms),
    tick: deadlines.tickMs,
    sockets,
    /** Writes `bytes`, then waits until the server's side of the connection has read them. */
    async send(socket: net.Socket, bytes: string): Promise<void> {
      const before = sockets.reduce((n, s) => n + s.bytesRead, 0);
      socket.write(bytes);
      await waitFor(() => sockets.reduce((n, s) => n + s.bytesRead, 0) >= before + Buffer.byteLength(bytes, 'latin1'), 'the server to read the bytes');
    },
  };
}

/** Whether the server logged (at debug, synchronously in the expiry handler) a timeout with `code`. */
const expired = (t: TestServer, code: string) => t.lines.some((l) => l.code === code);

describe('Transfer-Encoding', () => {
  it('refuses a Transfer-Encoding that does not end in one chunked with 400 and Connection: close, before the app', async () => {
    const { app, calls } = recording();
    const t = await startTest({ app, lowlevelErrorHandler: echoCode });
    const cases = {
      gzip: 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc',
      xchunked: 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      'HTTP/1.0': 'POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const r = await rawRequest(t.port, bytes);
      expect(statusOf(r.text), name).toBe(400);
      expect(r.text, name).toMatch(/connection: close/i);
      expect(r.text, name).toContain('code TSPUMA_ERR_HTTP_TRANSFER_ENCODING');
      expect(r.closed, name).toBe(true);
    }
    // llhttp itself refuses chunked followed by another coding, as a parse error.
    const parsed = await rawRequest(t.port, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    expect(statusOf(parsed.text)).toBe(400);
    expect(parsed.text).toContain('code TSPUMA_ERR_HTTP_PARSE');
    expect(calls).toEqual([]);
    // gzip applied before chunked is valid framing: the app gets it.
    const ok = await rawRequest(t.port, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    expect(statusOf(ok.text)).toBe(200);
    expect(calls).toEqual(['POST /']);
  });

  it('answers a transfer coding it does not know, before chunked, with 501 and Connection: close, before the app (Puma too); gzip, deflate, compress and empty list elements pass', async () => {
    const { app, calls } = recording();
    const t = await startTest({ app, lowlevelErrorHandler: echoCode });
    const body = '\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    for (const te of ['foo, chunked', 'gzip, br, chunked', 'Transfer-Encoding: identity\r\nTransfer-Encoding: chunked', 'gzip;level=9, chunked']) {
      const head = te.startsWith('Transfer-Encoding') ? te : `Transfer-Encoding: ${te}`;
      const r = await rawRequest(t.port, `POST / HTTP/1.1\r\nHost: x\r\n${head}${body}`);
      expect(statusOf(r.text), te).toBe(501);
      expect(r.text, te).toMatch(/connection: close/i);
      expect(r.text, te).toContain('code TSPUMA_ERR_HTTP_TRANSFER_CODING');
      expect(r.closed, te).toBe(true);
    }
    expect(calls).toEqual([]);
    for (const te of ['GZIP, chunked', 'x-gzip, deflate, chunked', 'compress,chunked', ', gzip ,, chunked']) {
      const r = await rawRequest(t.port, `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${te}\r\nConnection: close${body}`);
      expect(statusOf(r.text), te).toBe(200);
    }
    expect(calls).toHaveLength(4);
  });
});

describe('pipelined requests', () => {
  it('answers a malformed request pipelined behind a good one with 400, after the good response, then closes', async () => {
    const t = await startTest({
      app: rack(async (env) => {
        await new Promise((r) => setTimeout(r, 30)); // still in the app when the bad bytes are parsed
        return [200, {}, [`good ${env.PATH_INFO}`]];
      }),
      lowlevelErrorHandler: echoCode,
    });
    const r = await rawRequest(t.port, 'GET /first HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE / HTTP/1.1\r\n\r\n');
    const responses = r.text.split(/(?=HTTP\/1\.1 )/);
    expect(responses.map(statusOf)).toEqual([200, 400]);
    expect(responses[0]).toContain('good /first');
    expect(responses[1]).toContain('code TSPUMA_ERR_HTTP_PARSE');
    expect(r.closed).toBe(true);
  });

  it('does the same when the good request was answered synchronously', async () => {
    const t = await startTest({ app: rack(() => [200, {}, ['sync']]) });
    const r = await rawRequest(t.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n');
    expect(r.text.split(/(?=HTTP\/1\.1 )/).map(statusOf)).toEqual([200, 400]);
    expect(r.closed).toBe(true);
  });
});

describe('a client that closes its side in the middle of a request (N6)', () => {
  /** Writes `payload`, then half-closes (FIN); resolves with what came back once the server closed. */
  function sendThenClose(port: number, payload: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.end(payload));
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
    });
  }

  it('is a hang-up, not a malformed request: no 400 and no call of the lowlevel handler for a head cut short, the connection closed', async () => {
    const handled: string[] = [];
    const t = await startTest({ app: rack(() => [200, {}, ['ok']]), lowlevelErrorHandler: (err, env, status) => (handled.push(String((err as { code?: string }).code)), echoCode(err, env, status)) });
    expect(await sendThenClose(t.port, 'GET /users/1 HTTP/1.1\r\nHost: x\r\nX-A: ')).toBe('');
    expect(handled).toEqual([]);
    expect(t.lines.filter((l) => l.code === 'TSPUMA_ERR_HTTP_PARSE')).toEqual([]);
  });

  it('answers the request in the app before the cut one, then closes, with no 400 after it', async () => {
    const t = await startTest({
      app: rack(async (env) => {
        await new Promise((r) => setTimeout(r, 30)); // still in the app when the cut head is parsed
        return [200, {}, [`good ${env.PATH_INFO}`]];
      }),
      lowlevelErrorHandler: echoCode,
    });
    const text = await sendThenClose(t.port, 'GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHo');
    expect(text.split(/(?=HTTP\/1\.1 )/).map(statusOf)).toEqual([200]);
    expect(text).toContain('good /first');
  });
});

describe('requests pipelined behind one in the app', () => {
  /** Answers /fast after 30 ms (so what is pipelined behind it is parsed first); /hang never. */
  const slowThenHang = rack(async (env) => {
    if (env.PATH_INFO === '/hang') return new Promise<never>(() => undefined);
    await new Promise((r) => setTimeout(r, 30));
    return [200, {}, [`fast ${env.REQUEST_METHOD}`]];
  });

  /** Records each request it runs, and answers it 30 ms later. */
  function recordingAfter30ms() {
    const calls: string[] = [];
    const app = rack(async (env) => {
      calls.push(`${env.REQUEST_METHOD} ${env.PATH_INFO}`);
      await new Promise((r) => setTimeout(r, 30));
      return [200, {}, ['ok']];
    });
    return { app, calls };
  }

  it('gives the pipelined request its own requestTimeout once the one before it is answered', async () => {
    const t = await startTest({ app: slowThenHang, requestTimeout: 1, lowlevelErrorHandler: echoCode });
    const r = await rawRequest(t.port, 'GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /hang HTTP/1.1\r\nHost: x\r\n\r\n', 5000);
    const responses = r.text.split(/(?=HTTP\/1\.1 )/);
    expect(responses.map(statusOf)).toEqual([200, 503]);
    expect(responses[1]).toContain('code TSPUMA_ERR_REQUEST_TIMEOUT');
    expect(r.closed).toBe(true);
  });

  it('bounds a held body pipelined behind it with firstDataTimeout, and never runs the app for it', async () => {
    const { app, calls } = recordingAfter30ms();
    const t = await startTest({ app, firstDataTimeout: 0.5, lowlevelErrorHandler: echoCode });
    const r = await rawRequest(t.port, 'GET /first HTTP/1.1\r\nHost: x\r\n\r\nPOST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc', 5000);
    const responses = r.text.split(/(?=HTTP\/1\.1 )/);
    expect(responses.map(statusOf)).toEqual([200, 408]);
    expect(responses[1]).toContain('code TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT');
    expect(r.closed).toBe(true);
    expect(calls).toEqual(['GET /first']);
  });

  it('answers a malformed chunk in a held body pipelined behind it with 400 after its response, and never runs the app for it', async () => {
    const { app, calls } = recordingAfter30ms();
    const t = await startTest({ app, lowlevelErrorHandler: echoCode });
    const r = await rawRequest(t.port, 'GET /first HTTP/1.1\r\nHost: x\r\n\r\nPOST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 5000);
    const responses = r.text.split(/(?=HTTP\/1\.1 )/);
    expect(responses.map(statusOf)).toEqual([200, 400]);
    expect(responses[1]).toContain('code TSPUMA_ERR_HTTP_PARSE');
    expect(r.closed).toBe(true);
    expect(calls).toEqual(['GET /first']);
  });
});

describe('body limit', () => {
  it('has a default limit of 100 MiB: a larger declared body gets 413 before a byte of it is sent', async () => {
    expect(resolveOptions([]).httpContentLengthLimit).toBe(100 * 1024 * 1024);
    const { app, calls } = recording();
    const t = await startTest({ app });
    const r = await rawRequest(t.port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 ** 3}\r\n\r\n`);
    expect(statusOf(r.text)).toBe(413);
    expect(r.closed).toBe(true);
    expect(calls).toEqual([]);
  });

  it('closes the connection after a response that left its request body unread, instead of reading it to the end', async () => {
    // Larger than bodyBufferSize, so the app runs at once; it answers without reading.
    const t = await startTest({ app: nodeListener((_req, res) => res.end('not reading that')), bodyBufferSize: 0 });
    const { socket, done } = openDrip(t.port);
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nx');
    await waitFor(() => t.running.server.stats().requests_count === 1, 'the app to answer');
    // A byte every 50 ms keeps arriving; the server closes within its 2 s linger anyway.
    const drip = setInterval(() => socket.writable && socket.write('x'), 50);
    const { text, closedAfter } = await done;
    clearInterval(drip);
    expect(statusOf(text)).toBe(200);
    expect(text).toContain('not reading that');
    expect(closedAfter).toBeLessThan(4000);
  });
});

describe('the Connection header of a response that leaves its request body unread', () => {
  /** POSTs `size` bytes on a keep-alive agent of one socket: the status and Connection header. */
  function post(agent: http.Agent, port: number, path: string, size: number): Promise<{ status: number; connection: string | undefined }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-length': size } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
      });
      req.on('error', reject);
      req.end(Buffer.alloc(size, 97));
    });
  }

  it('says close when the body is still arriving, so a keep-alive client sends its next request on a new connection', async () => {
    const app = nodeListener((req, res) => {
      if (req.url === '/ignore') return void res.end('not reading that');
      req.resume();
      req.on('end', () => res.end('read'));
    });
    const t = await startTest({ app });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // Over bodyBufferSize, so the app answers before the body is in: the server closes after it.
      expect(await post(agent, t.port, '/ignore', 200_000)).toEqual({ status: 200, connection: 'close' });
      expect(await post(agent, t.port, '/read', 10)).toEqual({ status: 200, connection: 'keep-alive' });
      // A held body is complete when the app runs: ignoring it keeps the connection.
      expect(await post(agent, t.port, '/ignore', 10)).toEqual({ status: 200, connection: 'keep-alive' });
      // A request without a body, answered synchronously, keeps it too.
      expect(await post(agent, t.port, '/ignore', 0)).toEqual({ status: 200, connection: 'keep-alive' });
    } finally {
      agent.destroy();
    }
  });
});

describe('bodies read before the app', () => {
  it('refuses a malformed chunk size with 400 and never runs the app', async () => {
    const { app, calls } = recording();
    const t = await startTest({ app, lowlevelErrorHandler: echoCode });
    const r = await rawRequest(t.port, 'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nabc\r\n0\r\n\r\n');
    expect(statusOf(r.text)).toBe(400);
    expect(r.text).toContain('code TSPUMA_ERR_HTTP_PARSE');
    expect(r.closed).toBe(true);
    expect(calls).toEqual([]);
    // With bodyBufferSize 0 the body streams: the app runs on the head, as documented.
    const streaming = await startTest({ app, bodyBufferSize: 0 });
    await rawRequest(streaming.port, 'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n\r\n');
    expect(calls).toEqual(['POST /upload']);
  });

  it('holds no invocation slot while a slow body arrives, and hands the whole body to the app', async () => {
    const t = await startTest({
      threads: { min: 0, max: 1 },
      app: async (req: Request) => new Response(`${req.method} read ${(await req.text()).length}`),
    });
    const { socket, done } = openDrip(t.port);
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello');
    await waitFor(() => t.running.server.stats().connections.reading === 1, 'the body to be read before the app');
    expect(t.running.server.stats().running).toBe(0);
    // The only slot is free: another request is served while the upload is half done.
    expect(await (await fetch(t.url)).text()).toBe('GET read 0');
    socket.write('world');
    const { text } = await done;
    expect(statusOf(text)).toBe(200);
    expect(text).toContain('POST read 10');
  });

  it('gives 408 to a held body that stalls for firstDataTimeout, and to one that misses bodyTimeout', async () => {
    const { app, calls } = recording();
    const t = await startTest({ app, firstDataTimeout: 0.4, bodyTimeout: 1, lowlevelErrorHandler: echoCode }, true);
    const clock = sweptByTest(t);
    // Stalled: nothing after the first 5 bytes of 10.
    const stalled = openDrip(t.port);
    await clock.send(stalled.socket, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello');
    await waitFor(() => t.running.server.stats().connections.reading === 1, 'the body held before the app');
    clock.at(10); // the sweep that sees the bytes: the stall deadline runs from here
    clock.at(10 + 399);
    expect(expired(t, 'TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT')).toBe(false);
    clock.at(10 + 400 + 2 * clock.tick);
    expect(expired(t, 'TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT')).toBe(true);
    const { text } = await stalled.done;
    expect(statusOf(text)).toBe(408);
    expect(text).toContain('code TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT');
    // A byte every 100 ms never stalls, but the whole body must be in within bodyTimeout of its head.
    const { socket, done } = openDrip(t.port);
    const head = 1000;
    clock.at(head); // the clock the head's deadlines are set by
    await clock.send(socket, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
    for (let ms = head + 100; ms < head + 1000; ms += 100) {
      await clock.send(socket, 'x');
      clock.at(ms);
    }
    expect(expired(t, 'TSPUMA_ERR_HTTP_BODY_TIMEOUT')).toBe(false);
    await clock.send(socket, 'x');
    clock.at(head + 1000 + 2 * clock.tick);
    expect(expired(t, 'TSPUMA_ERR_HTTP_BODY_TIMEOUT')).toBe(true);
    const dripped = await done;
    expect(statusOf(dripped.text)).toBe(408);
    expect(dripped.text).toContain('code TSPUMA_ERR_HTTP_BODY_TIMEOUT');
    expect(calls).toEqual([]);
  });

  it('answers a body held when a graceful stop begins with Connection: close, as a request in the app', async () => {
    const t = await startTest({ app: async (req: Request) => new Response(`read ${(await req.text()).length}`) });
    const { socket, done } = openDrip(t.port);
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello');
    await waitFor(() => t.running.server.stats().connections.reading === 1, 'the body to be read before the app');
    const stopping = t.running.stop();
    await waitFor(() => t.lines.some((l) => String(l.msg).startsWith('Gracefully stopping, waiting')), 'the graceful stop to begin');
    socket.write('world');
    const { text } = await done;
    expect(statusOf(text)).toBe(200);
    expect(text).toContain('read 10');
    // The server closes the connection after this response: the response must say so.
    expect(text).toMatch(/^connection: close\r$/im);
    await stopping;
  });

  it('leaves the held body readable by Express (express.json) and Hono (c.req.json)', async () => {
    const ex = express();
    ex.use(express.json({ limit: '1mb' }));
    ex.post('/echo', (req, res) => void res.json({ got: req.body as unknown }));
    const hono = new Hono().post('/echo', async (c) => c.json({ got: await c.req.json() }));
    for (const app of [ex, hono]) {
      const t = await startTest({ app });
      const small = await fetch(`${t.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 1 }) });
      expect(await small.json()).toEqual({ got: { a: 1 } });
      // Over bodyBufferSize (64 KiB), by Content-Length: streamed to the app from its head, still whole.
      const text = 'y'.repeat(200_000);
      const large = await fetch(`${t.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
      expect(((await large.json()) as { got: { text: string } }).got.text).toBe(text);
    }
  });
});

describe('slow request heads', () => {
  it('answers 408 when a head is dripped past headersTimeout, though no gap reaches firstDataTimeout', async () => {
    const { app, calls } = recording();
    const t = await startTest({ app, firstDataTimeout: 0.5, headersTimeout: 1, lowlevelErrorHandler: echoCode }, true);
    const clock = sweptByTest(t);
    const { socket, done } = openDrip(t.port);
    // A byte of the head every 100 ms (of the test's clock) from 0 ms: no gap near 500 ms.
    for (let ms = 0; ms < 1000; ms += 100) {
      await clock.send(socket, ms === 0 ? 'GET / HTTP/1.1\r\n' : 'X');
      clock.at(ms);
    }
    expect(expired(t, 'TSPUMA_ERR_HTTP_HEADERS_TIMEOUT')).toBe(false);
    await clock.send(socket, 'X');
    clock.at(1000 + 2 * clock.tick);
    expect(expired(t, 'TSPUMA_ERR_HTTP_HEADERS_TIMEOUT')).toBe(true);
    const { text } = await done;
    expect(statusOf(text)).toBe(408);
    expect(text).toContain('code TSPUMA_ERR_HTTP_HEADERS_TIMEOUT');
    expect(calls).toEqual([]);
  });

  it('answers a stalled partial head with 408 firstDataTimeout after its last byte, not twice that', async () => {
    const t = await startTest({ app: recording().app, firstDataTimeout: 1, lowlevelErrorHandler: echoCode }, true);
    const clock = sweptByTest(t);
    const { socket, done } = openDrip(t.port);
    await clock.send(socket, 'GET / HTTP/1.1\r\nHost: x\r\n');
    clock.at(300); // the sweep that sees the last byte
    clock.at(300 + 999);
    expect(expired(t, 'TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT')).toBe(false);
    // Late by at most two ticks, never by a second firstDataTimeout.
    clock.at(300 + 1000 + 2 * clock.tick);
    expect(expired(t, 'TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT')).toBe(true);
    const { text } = await done;
    expect(statusOf(text)).toBe(408);
    expect(text).toContain('code TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT');
  });
});

describe('the next request on a keep-alive connection', () => {
  /** A connection that has had one response: its text so far, read as it comes. */
  async function afterOneResponse(t: TestServer, clock: ReturnType<typeof sweptByTest>) {
    const socket = net.connect(t.port, '127.0.0.1');
    const got = { text: '', closed: false };
    socket.on('data', (c: Buffer) => (got.text += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => (got.closed = true));
    await clock.send(socket, 'GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => got.text.endsWith('ok'), 'the first response');
    return { socket, got };
  }

  it('sees part of a head that arrived before any sweep since the response: counted reading, 408 firstDataTimeout after the sweep that saw it', async () => {
    const t = await startTest({ app: recording().app, firstDataTimeout: 1, lowlevelErrorHandler: echoCode }, true);
    const clock = sweptByTest(t);
    const partial = await afterOneResponse(t, clock);
    const idle = await afterOneResponse(t, clock);
    // Watched without a look at their byte counts (the stats would take one).
    await waitFor(() => clock.sockets.every((s) => entryOf(s)?.state === 'keepalive'), 'both connections back to keep-alive');
    // No sweep between the response and these bytes.
    await clock.send(partial.socket, 'GET /second HTTP/1.1\r\nHost');
    expect(t.running.server.stats().connections).toMatchObject({ reading: 1, keepalive: 1 });
    clock.at(300); // the sweep that sees the bytes: the stall deadline runs from here
    clock.at(300 + 999);
    expect(expired(t, 'TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT')).toBe(false);
    clock.at(300 + 1000 + 2 * clock.tick);
    expect(expired(t, 'TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT')).toBe(true);
    await waitFor(() => partial.got.closed, 'the partial request to be answered and closed');
    expect(partial.got.text.split(/(?=HTTP\/1\.1 )/).map(statusOf)).toEqual([200, 408]);
    expect(partial.got.text).toContain('code TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT');
    // The idle one stays, with no deadline of a request (persistentTimeout is 20 s).
    expect(idle.got.closed).toBe(false);
    expect(t.running.server.stats().connections).toMatchObject({ reading: 0, keepalive: 1 });
  });

  it('on a graceful stop closes the connection idle since its response at once, and answers the one whose next head had begun', async () => {
    const { app, calls } = recording();
    const t = await startTest({ app }, true);
    const clock = sweptByTest(t);
    const partial = await afterOneResponse(t, clock);
    const idle = await afterOneResponse(t, clock);
    // Watched without a look at their byte counts (the stats would take one).
    await waitFor(() => clock.sockets.every((s) => entryOf(s)?.state === 'keepalive'), 'both connections back to keep-alive');
    await clock.send(partial.socket, 'GET /second HTTP/1.1\r\n');
    const stopping = t.running.stop();
    await waitFor(() => idle.got.closed, 'the idle connection to close');
    expect(partial.got.closed).toBe(false);
    partial.socket.write('Host: x\r\n\r\n');
    await waitFor(() => partial.got.closed, 'the second response and the close');
    const second = partial.got.text.split(/(?=HTTP\/1\.1 )/)[1]!;
    expect(statusOf(second)).toBe(200);
    expect(second).toMatch(/^connection: close\r$/im);
    expect(calls).toEqual(['GET /first', 'GET /first', 'GET /second']);
    await stopping;
  });

  it('on a graceful stop closes a connection taken from the accept queue as the listener closed that has sent nothing, and answers one taken then that sent its request (tests25.1)', async () => {
    // The listener of a server that owns its sockets keeps taking connections from its queue for a
    // moment after the stop began (node-http.ts stopAccepting), after the stop closed the idle ones.
    const { app, calls } = recording();
    // firstDataTimeout far past the waits below: only the stop may close the quiet connection.
    const t = await startTest({ app, firstDataTimeout: 600 });
    const stopping = t.running.stop();
    const open = (request?: string) => {
      const socket = net.connect(t.port, '127.0.0.1');
      const got = { text: '', closed: false };
      socket.on('data', (c: Buffer) => (got.text += c.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => (got.closed = true));
      if (request) socket.write(request);
      return got;
    };
    const quiet = open();
    const sending = open('GET /late HTTP/1.1\r\nHost: x\r\n\r\n');
    // Before: the quiet one stayed open until its client or firstDataTimeout (30 s by default) closed
    // it, and the stop waited for it (request-path.test's stop waited 4 s for fetch's idle connections).
    await waitFor(() => quiet.closed, 'the connection that sent nothing to be closed');
    expect(quiet.text).toBe('');
    await waitFor(() => sending.closed, 'the late request to be answered and closed');
    expect(statusOf(sending.text)).toBe(200);
    expect(calls).toEqual(['GET /late']);
    await stopping;
  });
});

describe('response framing (RFC 9110 §6.4.1, §8.6; RFC 9112 §6.3)', () => {
  const head = (path: string, method = 'GET') => `${method} ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`;

  it('a Rack app: HEAD gets the GET\'s Content-Length and no body; 204 and 304 lose Content-Length, Transfer-Encoding and the body', async () => {
    const app = rack((env) => {
      if (env.PATH_INFO === '/nc') return [204, { 'content-length': '5', 'transfer-encoding': 'chunked' }, ['hello']];
      if (env.PATH_INFO === '/nm') return [304, { etag: '"e"', 'content-length': '5' }, ['hello']];
      return [200, { 'content-type': 'text/plain' }, ['twelve bytes']];
    });
    const t = await startTest({ app });
    const h = await rawRequest(t.port, head('/', 'HEAD'));
    expect(h.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(h.text).toMatch(/\r\ncontent-length: 12\r\n/i);
    expect(h.text.endsWith('\r\n\r\n')).toBe(true);
    for (const [path, status] of [['/nc', 204], ['/nm', 304]] as const) {
      const r = await rawRequest(t.port, head(path));
      expect(statusOf(r.text)).toBe(status);
      expect(r.text).not.toMatch(/content-length|transfer-encoding/i);
      expect(r.text.endsWith('\r\n\r\n')).toBe(true);
    }
  });

  it('a Rack app returning a 1xx status as its final answer gets TSPUMA_ERR_APP_RESULT (500), not a response with no end', async () => {
    const t = await startTest({ app: rack(() => [103, {}, []]), lowlevelErrorHandler: echoCode });
    const r = await rawRequest(t.port, head('/'));
    expect(statusOf(r.text)).toBe(500);
    expect(r.text).toContain('code TSPUMA_ERR_APP_RESULT');
  });

  it('a fetch handler: HEAD of a string body gets its Content-Length and no body; a null body gets no Content-Length', async () => {
    const t = await startTest({ app: fetchHandler((request) => new Response(new URL(request.url).pathname === '/null' ? null : 'twelve bytes')) });
    const h = await rawRequest(t.port, head('/', 'HEAD'));
    expect(h.text).toMatch(/\r\ncontent-length: 12\r\n/i);
    expect(h.text.endsWith('\r\n\r\n')).toBe(true);
    const n = await rawRequest(t.port, head('/null', 'HEAD'));
    expect(statusOf(n.text)).toBe(200);
    expect(n.text).not.toMatch(/content-length/i);
  });

  it('a fetch handler that throws a TimeoutError synchronously or rejects with one gets 504 TSPUMA_ERR_APP_TIMEOUT', async () => {
    const timeout = () => new DOMException('upstream took too long', 'TimeoutError');
    const t = await startTest({
      app: fetchHandler((request) => {
        if (request.url.endsWith('/sync')) throw timeout();
        return Promise.reject(timeout());
      }),
      lowlevelErrorHandler: echoCode,
    });
    for (const path of ['/sync', '/async']) {
      const r = await rawRequest(t.port, head(path));
      expect(statusOf(r.text)).toBe(504);
      expect(r.text).toContain('code TSPUMA_ERR_APP_TIMEOUT');
    }
  });
});
