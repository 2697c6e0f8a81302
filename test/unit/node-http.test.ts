// Pins each node:http internal server/node-http.ts relies on, one test per assumption, so a Node
// upgrade that changes one fails here by name rather than as a slow or wrong server elsewhere.
import { createHook } from 'node:async_hooks';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import stream from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  SERVER_OPTIONS,
  adoptConnection,
  bindWithoutListening,
  TspumaResponse,
  setResponseDoneHandler,
  closeAfterResponse,
  closeLingering,
  currentResponse,
  dropAppWrites,
  endUnreadByRead,
  holdConnections,
  interceptPush,
  isLastResponse,
  keepsAlive,
  markConsumed,
  peerAddressKnown,
  knownPeerAddress,
  presetContentLength,
  presetContentType,
  readCounterOf,
  requestBegun,
  replacePeer,
  restoreAppWrites,
  setEventStreamHandler,
  stopAccepting,
} from '../../server/node-http.js';
import { rawRequest, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const servers: http.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

async function serve(handler: http.RequestListener, options: http.ServerOptions = {}, onServer?: (s: http.Server) => void): Promise<number> {
  const server = http.createServer(options, handler);
  onServer?.(server);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

const KEEP_ALIVE = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
const CLOSE = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

describe('node:http internals used by node-http.ts', () => {
  it('builds responses from the ServerResponse class in the server options (requests stay IncomingMessage)', async () => {
    const seen: boolean[] = [];
    const port = await serve((req, res) => {
      seen.push(Object.getPrototypeOf(req) === http.IncomingMessage.prototype, res instanceof TspumaResponse, Object.getOwnPropertyNames(req).includes('id'));
      res.end('ok');
    }, SERVER_OPTIONS);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('ok');
    expect(seen).toEqual([true, true, false]);
  });

  it('detaches each finished response (done handler) before its finish listeners, its close, the next pipelined response and the close after a last response, and never a destroyed one', async () => {
    const seen: unknown[] = [];
    const responses: http.ServerResponse[] = [];
    setResponseDoneHandler((res) => {
      const url = (res as { req: http.IncomingMessage }).req.url;
      const next = responses[responses.indexOf(res) + 1];
      // Detached (its socket forgets it), the one pipelined behind it not attached yet, the socket still writable.
      seen.push(['done', url, res.socket === null, next ? next.socket === null : 'none', (res as { req: http.IncomingMessage }).req.socket.writable]);
    });
    try {
      const port = await serve((req, res) => {
        responses.push(res);
        res.on('finish', () => seen.push(['finish', req.url]));
        res.on('close', () => seen.push(['close', req.url]));
        if (req.url === '/destroy') res.destroy();
        else res.end('ok');
      }, SERVER_OPTIONS);
      // Two pipelined requests, the second the connection's last: node closes after it (destroySoon) once it is detached.
      const both = await rawRequest(port, `GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(both.closed).toBe(true);
      expect(both.text.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
      await fetch(`http://127.0.0.1:${port}/destroy`).catch(() => null);
      await waitFor(() => seen.length === 7, 'every response closed');
    } finally {
      setResponseDoneHandler(null);
    }
    // Each response's own order (another's events may fall between: /a's close is a tick after its detach).
    const of = (url: string) => seen.filter((e) => (e as unknown[])[1] === url);
    expect(of('/a')).toEqual([['done', '/a', true, true, true], ['finish', '/a'], ['close', '/a']]);
    expect(of('/b')).toEqual([['done', '/b', true, 'none', true], ['finish', '/b'], ['close', '/b']]);
    expect(of('/destroy')).toEqual([['close', '/destroy']]);
  });

  it('runs a socket close listener added at the connection before the close of the response node had attached, on a later request of the connection too', async () => {
    const seen: string[] = [];
    let inApp = 0;
    const port = await serve(
      (req, res) => {
        inApp++;
        res.on('close', () => seen.push(`response close ${req.url}`));
        if (req.url === '/first') res.end('ok');
        else res.write('partial'); // never ends: the client leaves mid-response
      },
      SERVER_OPTIONS,
      (server) => server.on('connection', (socket: net.Socket) => socket.on('close', () => seen.push('socket close listener'))),
    );
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.on('data', (c: Buffer) => (reply += c.toString()));
    socket.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => reply.includes('ok'), 'the first response');
    socket.write('GET /second HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => inApp === 2 && reply.includes('partial'), 'the second response under way');
    socket.destroy();
    await waitFor(() => seen.length === 3, 'the close seen by both');
    expect(seen).toEqual(['response close /first', 'socket close listener', 'response close /second']);
  });

  it('announces a connection through the server\'s own emit, so holdConnections keeps it from node:http until released', async () => {
    let release: (() => void) | null = null;
    let held: net.Socket | null = null;
    let requests = 0;
    const port = await serve(
      (_req, res) => {
        requests++;
        res.end('ok');
      },
      {},
      (server) =>
        holdConnections(server, (socket, go) => {
          held = socket;
          release = go;
        }),
    );
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.on('data', (c: Buffer) => (reply += c.toString()));
    socket.write(CLOSE);
    // The request's bytes wait in the held socket: node:http has not seen the connection.
    await waitFor(() => (held && held.readableLength >= CLOSE.length ? held : null), 'the request bytes in the held connection');
    expect(requests).toBe(0);
    release!();
    await waitFor(() => reply.includes('ok'), 'the request served once released');
    expect(requests).toBe(1);
    socket.destroy();
  });

  it('reads remoteAddress, remotePort and remoteFamily through getters an own property shadows (replacePeer), also as req.socket', async () => {
    const seen: string[] = [];
    const port = await serve(
      (req, res) => {
        seen.push(`${req.socket.remoteAddress} ${req.socket.remotePort} ${req.socket.remoteFamily}`, `known ${knownPeerAddress(req.socket)}`);
        res.end('ok');
      },
      {},
      (server) =>
        server.on('connection', (socket: net.Socket) => {
          void socket.remoteAddress; // as proxy-protocol.ts reads the real peer first
          replacePeer(socket, { address: '203.0.113.7', port: 4242, family: 'IPv4' });
        }),
    );
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('ok');
    expect(seen).toEqual(['203.0.113.7 4242 IPv4', 'known 203.0.113.7']);
  });

  it("gives node's cached peer address (knownPeerAddress) as remoteAddress gives it once read, and nothing before", async () => {
    const seen: (string | undefined)[] = [];
    const port = await serve((req, res) => {
      seen.push(knownPeerAddress(req.socket));
      seen.push(req.socket.remoteAddress);
      seen.push(knownPeerAddress(req.socket));
      res.end('ok');
    });
    await rawRequest(port, CLOSE);
    expect(seen).toEqual([undefined, '127.0.0.1', '127.0.0.1']);
  });

  it('calls writeHead for an implicit head (setHeader then write), so the event-stream check sees every head', async () => {
    const heads: unknown[] = [];
    const port = await serve((_req, res) => {
      const own = res.writeHead;
      res.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
        heads.push(this.getHeader('content-type'));
        return (own as (...a: unknown[]) => http.ServerResponse).apply(this, args);
      } as typeof res.writeHead;
      res.setHeader('content-type', 'text/event-stream');
      res.write('data: 1\n\n');
      res.end();
    });
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('data: 1\n\n');
    expect(heads).toEqual(['text/event-stream']);
  });

  it('closes a connection after a Connection: close response through socket.destroySoon()', async () => {
    let calls = 0;
    const port = await serve(
      (_req, res) => res.end('ok'),
      {},
      (s) =>
        s.on('connection', (socket: net.Socket) =>
          adoptConnection(socket, function (this: net.Socket) {
            calls++;
            this.destroy();
          }),
        ),
    );
    const reply = await rawRequest(port, CLOSE);
    expect(reply.closed).toBe(true);
    expect(calls).toBe(1);
  });

  it('closes lingering: our FIN goes out at once and the socket is released when the client\'s FIN arrives, adding no own property to it', async () => {
    // Half-open on both sides, as node:http's sockets are: a FIN does not end the other side.
    const srv = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
    const client = net.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
    const socket = await accepted;
    let clientSawEnd = false;
    client.on('end', () => (clientSawEnd = true));
    const keys = Reflect.ownKeys(socket);
    closeLingering(socket);
    // An own property added at the close gives closing sockets a map of their own (node's stream
    // functions go megamorphic at the first reconnection wave): everything is set at the connection.
    expect(Reflect.ownKeys(socket)).toEqual(keys);
    await waitFor(() => clientSawEnd, 'the client to see our FIN');
    expect(socket.destroyed).toBe(false); // still waiting for the client's FIN
    client.end();
    await waitFor(() => socket.destroyed, 'the socket to be released after the client\'s FIN');
    client.destroy();
    srv.close();
  });

  it('calls a bare end() when the client\'s FIN follows our own, which an adopted socket answers without node\'s end (no ERR_STREAM_ALREADY_FINISHED built to be dropped)', async () => {
    const nodeEnd = stream.Duplex.prototype.end;
    // Bare end() calls reaching node's stream end on a server socket whose write side had finished.
    const late = new Map<net.Socket, number>();
    const spy = vi.spyOn(stream.Duplex.prototype, 'end').mockImplementation(function (this: stream.Duplex, ...args: unknown[]) {
      const socket = this as net.Socket;
      if (late.has(socket) && socket.writableFinished && args.every((a) => a === undefined)) late.set(socket, late.get(socket)! + 1);
      return (nodeEnd as (...a: unknown[]) => stream.Duplex).apply(this, args);
    });
    const lingering = function (this: net.Socket) {
      closeLingering(this);
    };
    const counts: number[] = [];
    try {
      for (const adopt of [false, true]) {
        let socket: net.Socket | null = null;
        const port = await serve((_req, res) => res.end('ok'), SERVER_OPTIONS, (srv) =>
          srv.on('connection', (s: net.Socket) => {
            socket = s;
            late.set(s, 0);
            if (adopt) adoptConnection(s, lingering);
            else (s as net.Socket & { destroySoon: unknown }).destroySoon = lingering;
          }),
        );
        expect((await rawRequest(port, CLOSE)).closed).toBe(true);
        await waitFor(() => socket !== null && socket.destroyed, 'the server socket to be released at the client\'s FIN');
        counts.push(late.get(socket!)!);
        if (adopt) {
          // With a callback it is node's end: the callback gets node's error.
          const err = await new Promise<unknown>((r) => socket!.end(r as () => void));
          expect((err as NodeJS.ErrnoException).code).toBe('ERR_STREAM_ALREADY_FINISHED');
        }
      }
    } finally {
      spy.mockRestore();
    }
    expect(counts).toEqual([1, 0]);
  });

  it('reports keep-alive through shouldKeepAlive: false for a Connection: close request, and setting it false makes the response say close', async () => {
    const verdicts: boolean[] = [];
    const port = await serve((req, res) => {
      verdicts.push(keepsAlive(res));
      if (req.url === '/server-closes') closeAfterResponse(res);
      res.end('ok');
    });
    await rawRequest(port, CLOSE);
    const kept = await rawRequest(port, 'GET /server-closes HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(verdicts).toEqual([false, true]);
    expect(kept.text.toLowerCase()).toContain('connection: close');
    expect(kept.closed).toBe(true);
  });

  it('marks a response that closes its connection with _last, and only that one', async () => {
    const last: boolean[] = [];
    const port = await serve((_req, res) => {
      res.on('finish', () => last.push(isLastResponse(res)));
      res.end('ok');
    });
    await rawRequest(port, KEEP_ALIVE, 300);
    await rawRequest(port, CLOSE);
    await waitFor(() => last.length === 2, 'both responses to finish');
    expect(last).toEqual([false, true]);
  });

  it('keeps the response being written on the socket as _httpMessage', async () => {
    const same: boolean[] = [];
    const port = await serve((req, res) => {
      same.push(currentResponse(req.socket) === res);
      res.end('ok');
    });
    await (await fetch(`http://127.0.0.1:${port}/`)).text();
    expect(same).toEqual([true]);
  });

  it('caches the peer address in _peername only once remoteAddress is read', async () => {
    const known: boolean[] = [];
    const port = await serve((req, res) => {
      known.push(peerAddressKnown(req.socket));
      void req.socket.remoteAddress;
      known.push(peerAddressKnown(req.socket));
      res.end('ok');
    });
    await rawRequest(port, CLOSE);
    expect(known).toEqual([false, true]);
  });

  it("reads bytesRead from the socket's handle kept at its connection (readCounterOf) as node's getter does, also after destroy() until 'close'", async () => {
    const seen: [number, number][] = [];
    let counter: ReturnType<typeof readCounterOf> = null;
    const port = await serve(
      (req, res) => {
        seen.push([counter!.bytesRead, req.socket.bytesRead]);
        res.end('ok');
        if (seen.length === 3) {
          // node's getter now reads the count it kept at destroy (its _handle is null).
          req.socket.destroy();
          seen.push([counter!.bytesRead, req.socket.bytesRead]);
        }
      },
      {},
      (server) => server.on('connection', (socket: net.Socket) => (counter = readCounterOf(socket))),
    );
    await rawRequest(port, KEEP_ALIVE + KEEP_ALIVE + CLOSE).catch(() => '');
    const total = KEEP_ALIVE.length * 2 + CLOSE.length;
    expect(seen).toEqual([
      [total, total],
      [total, total],
      [total, total],
      [total, total],
    ]);
    expect(readCounterOf(new net.Socket())).toBe(null);
  });

  it("tells from a connection's parser whether a request began on it (requestBegun): false between requests, true from a head's first byte to its end and from the connection's start, null once node took the parser back", async () => {
    let socket: net.Socket | null = null;
    const port = await serve(
      (_req, res) => void res.end('ok'),
      SERVER_OPTIONS,
      (server) => server.on('connection', (s: net.Socket) => (socket = s)),
    );
    const client = net.connect(port, '127.0.0.1');
    let text = '';
    client.on('data', (c: Buffer) => (text += c.toString('latin1')));
    await waitFor(() => socket !== null, 'the connection');
    const server = socket! as net.Socket;
    const seen: (boolean | null)[] = [requestBegun(server)];
    const sendAndRead = async (bytes: string) => {
      const before = server.bytesRead;
      client.write(bytes);
      await waitFor(() => server.bytesRead >= before + bytes.length, 'the server to read the bytes');
    };
    await sendAndRead('GET / HT');
    seen.push(requestBegun(server));
    await sendAndRead('TP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => text.endsWith('ok'), 'the response');
    seen.push(requestBegun(server));
    await sendAndRead('G');
    seen.push(requestBegun(server));
    const closed = new Promise((r) => server.on('close', r));
    client.destroy();
    await closed;
    seen.push(requestBegun(server));
    // node times a connection's first head from its start (deadlines.ts reads the count there).
    expect(seen).toEqual([true, true, false, true, null]);
    expect(requestBegun(new net.Socket())).toBe(null);
  });

  it('writes a preset _contentLength into the head once (no chunking), and refuses it for HEAD, HTTP/1.0 and a framing header the app set', async () => {
    const preset: boolean[] = [];
    const port = await serve((req, res) => {
      if (req.url === '/te') res.setHeader('Transfer-Encoding', 'chunked');
      if (req.url === '/length') res.setHeader('Content-Length', '5');
      preset.push(presetContentLength(res, 5));
      res.writeHead(200, ['content-type', 'text/plain']);
      res.end('hello');
    });
    const get = (await rawRequest(port, CLOSE)).text;
    expect(get.match(/content-length: 5\r\n/gi)).toHaveLength(1);
    expect(get).not.toMatch(/transfer-encoding/i);
    expect(get.endsWith('\r\n\r\nhello')).toBe(true);
    expect(preset).toEqual([true]);
    await rawRequest(port, 'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await rawRequest(port, 'GET / HTTP/1.0\r\nHost: x\r\n\r\n');
    await rawRequest(port, 'GET /te HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await rawRequest(port, 'GET /length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(preset).toEqual([true, false, false, false, false]);
  });

  it("keeps a response's set headers in its own kOutHeaders record: null until the first, then keyed by lower-cased name (what presetContentLength reads for hasHeader)", () => {
    // An HTTP/1.1 GET as node's parser leaves it (HTTP/1.0 would turn the preset off).
    const request = () => Object.assign(new http.IncomingMessage(new net.Socket()), { method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1 });
    const res = new TspumaResponse(request());
    const key = Object.getOwnPropertySymbols(res).find((s) => s.description === 'kOutHeaders');
    expect(key).toBeTypeOf('symbol');
    const record = () => (res as unknown as Record<symbol, Record<string, unknown> | null>)[key!];
    expect(record()).toBeNull();
    res.setHeader('Content-Type', 'text/plain');
    expect(Object.keys(record()!)).toEqual(['content-type']);
    expect(presetContentLength(res, 5)).toBe(true);
    for (const name of ['Content-Length', 'TRANSFER-ENCODING', 'Trailer']) {
      const other = new TspumaResponse(request());
      other.setHeader(name, name === 'Content-Length' ? '5' : 'x');
      expect(Object.keys((other as unknown as Record<symbol, object>)[key!])).toEqual([name.toLowerCase()]);
      expect(other.hasHeader(name)).toBe(true);
      expect(presetContentLength(other, 5)).toBe(false);
      other.removeHeader(name);
      expect(other.hasHeader(name)).toBe(false);
      // A removed Content-Length is node's _removedContLen: no length for that response at all.
      expect(presetContentLength(other, 5)).toBe(name !== 'Content-Length');
    }
  });

  it("writes a type preset in node's kOutHeaders record (presetContentType) into the next head once, unvalidated there, and the event-stream check reads it", async () => {
    const streams: string[] = [];
    setEventStreamHandler((res) => streams.push(res.req.url!));
    const preset: Record<string, boolean> = {};
    const port = await serve(
      (req, res) => {
        const url = req.url!;
        if (url === '/set') res.setHeader('Content-Type', 'text/plain');
        if (url === '/sent') res.writeHead(200);
        preset[url] = presetContentType(res, url === '/sse' || url === '/set' ? 'text/event-stream' : url === '/bad' ? 'text/plain\u0001' : url === '/split' ? 'a\r\nb: c' : 'text/plain;charset=UTF-8');
        if (url === '/set') res.setHeader('Content-Type', 'text/event-stream');
        if (url !== '/sent') res.writeHead(200, []);
        res.end('x');
      },
      SERVER_OPTIONS,
    );
    try {
      const get = async (path: string) => (await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).text;
      const plain = await get('/');
      expect(plain.match(/content-type: [^\r]*\r\n/gi)).toEqual(['content-type: text/plain;charset=UTF-8\r\n']);
      expect(plain).toMatch(/^HTTP\/1.1 200 OK\r\n/);
      // The same type again: compared with the one validated, preset again.
      expect((await get('/again')).match(/content-type: [^\r]*\r\n/gi)).toEqual(['content-type: text/plain;charset=UTF-8\r\n']);
      expect((await get('/sse')).match(/content-type: [^\r]*\r\n/gi)).toEqual(['content-type: text/event-stream\r\n']);
      await get('/set');
      await get('/sent');
      // node refuses these values (ERR_INVALID_CHAR at the head): not preset, the head fails as before.
      await get('/bad');
      await get('/split');
      expect(preset).toEqual({ '/': true, '/again': true, '/sse': true, '/set': false, '/sent': false, '/bad': false, '/split': false });
      expect(streams).toEqual(['/sse', '/set']);
    } finally {
      setEventStreamHandler(() => {});
    }
  });

  it('lets own properties shadow the response methods, and deleting them restores the prototype\'s', async () => {
    const port = await serve((_req, res) => {
      dropAppWrites(res);
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('dropped');
      restoreAppWrites(res);
      res.end('written');
    });
    const reply = await rawRequest(port, CLOSE);
    expect(reply.text).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(reply.text).toMatch(/written$/);
    expect(reply.text).not.toContain('dropped');
  });

  it('stops accepting with net.Server#close while an idle keep-alive connection stays open', async () => {
    const port = await serve((_req, res) => res.end('ok'));
    const client = net.connect(port, '127.0.0.1');
    let reply = '';
    client.on('data', (c) => (reply += c.toString()));
    client.write(KEEP_ALIVE);
    await waitFor(() => reply.endsWith('ok'), 'the first response');
    let stopped = false;
    stopAccepting(servers[0]!, () => (stopped = true));
    const refused = await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').once('error', () => r(true)).once('connect', () => r(false)));
    expect(refused).toBe(true);
    client.write(KEEP_ALIVE); // the idle connection is still served
    await waitFor(() => reply.split('ok').length === 3, 'the second response on the idle connection');
    expect(stopped).toBe(false); // close waits for that connection
    client.destroy();
    await waitFor(() => stopped, 'the server to close once the connection went');
  });

  it('delivers a request body through the instance push(), ending with push(null)', async () => {
    const pushed: (string | null)[] = [];
    const port = await serve((req, res) => {
      const push = interceptPush(req, (chunk: unknown, enc?: BufferEncoding) => {
        pushed.push(chunk === null ? null : String(chunk));
        return push(chunk, enc);
      });
      req.on('end', () => res.end('ok'));
      req.resume();
    });
    const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'hello' });
    expect(await res.text()).toBe('ok');
    expect(pushed).toEqual(['hello', null]);
  });

  it('has a boolean _consuming that is false until the body is read, and node dumps an unconsumed request after the response', async () => {
    const seen: { before: unknown; dumped: boolean }[] = [];
    const port = await serve((req, res) => {
      const before = (req as unknown as { _consuming: unknown })._consuming;
      res.on('finish', () => setImmediate(() => seen.push({ before, dumped: (req as unknown as { _dumped: boolean })._dumped })));
      res.end('ok');
    });
    await (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'hello' })).text();
    await waitFor(() => seen.length > 0, 'the response to finish');
    expect(seen).toEqual([{ before: false, dumped: true }]);
  });

  it('ends an unread request at its end by one read once endUnreadByRead is set: its end, destroy and close as a dump gives them, in fewer ticks', async () => {
    endUnreadByRead();
    const seen: { ticks: number; events: string[]; destroyed: boolean; dumped: unknown; flowing: unknown }[] = [];
    let counting = false;
    let ticks = 0;
    // Each process.nextTick makes a TickObject resource.
    const hook = createHook({
      init: (_id, type) => {
        if (counting && type === 'TickObject') ticks++;
      },
    }).enable();
    try {
      const port = await serve((req, res) => {
        const events: string[] = [];
        req.on('end', () => events.push('end'));
        req.on('close', () => {
          counting = false;
          events.push('close');
          seen.push({ ticks, events, destroyed: req.destroyed, dumped: (req as unknown as { _dumped: unknown })._dumped, flowing: req.readableFlowing });
        });
        ticks = 0;
        counting = true;
        res.end('ok');
      });
      await rawRequest(port, CLOSE);
      await waitFor(() => seen.length > 0, "the request's close");
    } finally {
      hook.disable();
    }
    // From res.end() to the request's close: the write's, the request's readable, the response's close, one end
    // tick, the destroy's two. node's dump took ten: its resume_ and four end ticks (three finding the end emitted).
    expect(seen).toEqual([{ ticks: 6, events: ['end', 'close'], destroyed: true, dumped: true, flowing: null }]);
  });

  it('does not dump a request marked consumed', async () => {
    const dumped: boolean[] = [];
    const port = await serve((req, res) => {
      markConsumed(req);
      res.on('finish', () => setImmediate(() => dumped.push((req as unknown as { _dumped: boolean })._dumped)));
      res.end('ok');
    });
    await (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'hello' })).text();
    await waitFor(() => dumped.length > 0, 'the response to finish');
    expect(dumped).toEqual([false]);
  });
});

describe('a socket bound without listening (the cluster primary\'s, bindWithoutListening)', () => {
  const children: ChildProcess[] = [];
  const closers: (() => void)[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const close of closers.splice(0)) close();
  });

  /** Connects; 'connected' once the kernel completed the connection (accepted or not), else the error code. */
  const connect = (port: number) =>
    new Promise<{ outcome: string; socket: net.Socket }>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      closers.push(() => socket.destroy());
      socket.once('connect', () => resolve({ outcome: 'connected', socket }));
      socket.once('error', (err: NodeJS.ErrnoException) => resolve({ outcome: err.code ?? String(err), socket }));
    });

  it('is a TCP handle with its fd and port (net._createServerHandle); refused until another process listens on a copy with the backlog given after { fd }; then connections wait in that backlog once the process is gone', async () => {
    const bound = bindWithoutListening('127.0.0.1', 0, 4);
    closers.push(bound.close);
    expect(bound.fd).toBeGreaterThan(2);
    expect(bound.port).toBeGreaterThan(0);
    expect((await connect(bound.port!)).outcome).toBe('ECONNREFUSED');
    // What a worker does with its copy (listenOnOwnFd): listen({ fd }, backlog), backlog 2.
    const child = spawn(process.execPath, ['-e', "require('net').createServer((c) => c.end('child')).listen({ fd: 3 }, 2, () => console.log('up'))"], { stdio: ['ignore', 'pipe', 'inherit', bound.fd] });
    children.push(child);
    await new Promise((r) => child.stdout!.once('data', r));
    const served = await connect(bound.port!);
    expect(served.outcome).toBe('connected');
    expect(await new Promise((r) => served.socket.once('data', (d) => r(String(d))))).toBe('child');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // Nobody accepts now, and the socket still listens: of 6 connections, backlog 2 takes 2 (3 on
    // Linux, which counts backlog + 1); the others wait for room. Node's default (511) takes all 6.
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) void connect(bound.port!).then((r) => outcomes.push(r.outcome));
    await waitFor(() => outcomes.length >= 2, 'the backlog to take 2 connections');
    // Half a second in which a queue with room would have taken the rest (a dropped SYN is retried after 1 s).
    await new Promise((r) => setTimeout(r, 500));
    expect(outcomes.every((o) => o === 'connected')).toBe(true);
    expect(outcomes.length).toBeLessThanOrEqual(3);
    bound.close();
    await waitFor(async () => (await connect(bound.port!)).outcome === 'ECONNREFUSED', 'the closed socket to refuse');
  });

  it('listen(backlog) in this process: a connection made then waits in the backlog, this process accepting none (its bytes reach a child that listens on a copy later); the socket then refuses once closed', async () => {
    const bound = bindWithoutListening('127.0.0.1', 0, 4);
    closers.push(bound.close);
    expect(bound.listen(511)).toBeNull();
    const early = await connect(bound.port!);
    expect(early.outcome).toBe('connected');
    early.socket.write('early');
    // Turns of this process's loop in which it would accept (and, with no onconnection, lose) the connection.
    await new Promise((r) => setTimeout(r, 200));
    const child = spawn(process.execPath, ['-e', "require('net').createServer((c) => c.once('data', (d) => c.end('child read ' + d))).listen({ fd: 3 })"], { stdio: ['ignore', 'ignore', 'inherit', bound.fd] });
    children.push(child);
    expect(await new Promise((r) => early.socket.once('data', (d) => r(String(d))))).toBe('child read early');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    bound.close();
    await waitFor(async () => (await connect(bound.port!)).outcome === 'ECONNREFUSED', 'the closed socket to refuse');
  });

  it('listen(backlog) on a unix socket: connections wait in the backlog; closing removes the file as before', async () => {
    const dir = tempDir('bound');
    try {
      const path = join(dir, 'web.sock');
      const bound = bindWithoutListening(path, null, null);
      expect(bound.listen(16)).toBeNull();
      const outcome = await new Promise<string>((resolve) => {
        const c = net.connect(path);
        closers.push(() => c.destroy());
        c.once('connect', () => resolve('connected'));
        c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      });
      expect(outcome).toBe('connected');
      bound.close();
      expect(existsSync(path)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('binds a unix socket: its file is there from the bind, and libuv removes it when the handle closes', () => {
    const dir = tempDir('bound');
    try {
      const path = join(dir, 'web.sock');
      const bound = bindWithoutListening(path, null, null);
      expect([bound.fd > 2, bound.port, existsSync(path)]).toEqual([true, null, true]);
      bound.close();
      expect(existsSync(path)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('throws a bind error as the OS error: its code, syscall bind and the address', () => {
    // 192.0.2.1 (TEST-NET-1) is no address of this machine.
    expect(() => bindWithoutListening('192.0.2.1', 0, 4)).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL', syscall: 'bind', address: '192.0.2.1', message: 'bind EADDRNOTAVAIL 192.0.2.1:0' }));
  });
});
