// The per-request work of the request path, pinned by what it provides: the response's end frees
// its invocation slot and returns the connection to keep-alive on every way a response ends; the
// request id is there for whoever reads it (and only made then); an event stream is seen whatever
// the form of its head. bench/cpu-per-request.ts measures what each of these costs.
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeListener } from '../../server/adapters.js';
import { waitFor } from '../helpers/net.js';
import { startTest, stopAll, type TestServer } from '../helpers/server.js';

afterEach(stopAll);

/** One keep-alive connection: sends raw requests, collects what comes back. */
function connection(port: number): { socket: net.Socket; received: () => string; send: (s: string) => void } {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
  socket.on('error', () => {});
  return { socket, received: () => text, send: (s) => socket.write(s) };
}

const idle = (t: TestServer) => {
  const s = t.running.server.stats();
  return s.running === 0 && s.connections.app === 0 ? s : null;
};

describe('the end of a response', () => {
  it('frees the slot and keeps the connection for the next request, whether the response finished, the app destroyed it or the client left', async () => {
    const held: http.ServerResponse[] = [];
    const t = await startTest({
      threads: { min: 1, max: 1 },
      app: nodeListener((req, res) => {
        if (req.url === '/destroy') return void res.destroy();
        if (req.url === '/hold') return void held.push(res);
        // Express's way: the response's prototype replaced before it is written.
        if (req.url === '/swapped') Object.setPrototypeOf(res, Object.create(http.ServerResponse.prototype));
        res.end(`ok ${req.url}`);
      }),
    });
    const c = connection(t.port);
    for (const path of ['/a', '/swapped', '/b']) c.send(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor(() => c.received().includes('ok /b'), 'three answers on one connection');
    expect(c.received().match(/HTTP\/1\.1 200/g)).toHaveLength(3);
    const kept = await waitFor(() => {
      const s = idle(t);
      return s && s.connections.keepalive === 1 ? s : null;
    }, 'the slot free and the connection in keepalive');
    expect(kept.requests_count).toBe(3);

    // The app destroys its response: the slot is free for the next client.
    const d = connection(t.port);
    d.send('GET /destroy HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => d.socket.once('close', r));
    await waitFor(() => idle(t), 'the slot freed after the app destroyed its response');

    // The client leaves while the app holds the response: the slot is freed, the connection dropped.
    const h = connection(t.port);
    h.send('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => held.length === 1, 'the held request in the app');
    expect(t.running.server.stats().running).toBe(1);
    h.socket.destroy();
    await waitFor(() => idle(t), 'the slot freed after the client left');
    expect(await (await fetch(`${t.url}/after`)).text()).toBe('ok /after');
    c.socket.destroy();
  });

  it('adds no listener to a response, a request or a connection beyond what bare node:http adds', async () => {
    const events = ['close', 'finish', 'prefinish', 'error', 'drain', 'end', 'data'] as const;
    const listen = (into: number[][]) => (req: http.IncomingMessage, res: http.ServerResponse) => {
      into.push([...events.map((e) => res.listenerCount(e)), ...events.map((e) => req.listenerCount(e)), ...events.map((e) => req.socket.listenerCount(e))]);
      res.end('ok');
    };
    const tspuma: number[][] = [];
    const bare: number[][] = [];
    const t = await startTest({ app: nodeListener(listen(tspuma)) });
    const b = http.createServer(listen(bare));
    await new Promise<void>((r) => b.listen(0, '127.0.0.1', r));
    try {
      for (const [port, counts] of [[t.port, tspuma], [(b.address() as net.AddressInfo).port, bare]] as const) {
        const c = connection(port);
        for (let i = 0; i < 3; i++) c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        await waitFor(() => counts.length === 3 && c.received().split('HTTP/1.1 200').length === 4, 'three answers');
        c.socket.destroy();
      }
    } finally {
      b.close();
    }
    // Per request: what node:http itself hangs on the response and the request, nothing more.
    expect(tspuma.map((c) => c.slice(0, 14))).toEqual(bare.map((c) => c.slice(0, 14)));
    // Per connection: the same listeners on its third request as on its first.
    expect(tspuma[2]).toEqual(tspuma[0]);
  });
});

describe('request ids', () => {
  it("gives req.id the client's well-formed X-Request-Id or a new one, the same on every read, and lets the app set its own, under Express's prototype swap too", async () => {
    const seen: unknown[] = [];
    const t = await startTest({
      logRequests: true,
      app: nodeListener((req, res) => {
        if (req.url === '/swapped') Object.setPrototypeOf(req, Object.create(http.IncomingMessage.prototype));
        const r = req as http.IncomingMessage & { id: unknown };
        if (req.url === '/assign') r.id = 'mine-1';
        if (req.url === '/number') r.id = 42;
        seen.push(r.id === r.id ? r.id : 'changed between reads');
        res.end();
      }),
    });
    const get = (path: string, id?: string) => fetch(t.url + path, { headers: id === undefined ? {} : { 'x-request-id': id } }).then((r) => r.text());
    await get('/given', 'trace-7');
    await get('/odd', 'not well formed!');
    await get('/made');
    await get('/swapped', 'swap-1');
    await get('/swapped');
    await get('/assign', 'trace-8');
    await get('/number');
    expect(seen[0]).toBe('trace-7');
    expect(seen[1]).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
    expect(seen[2]).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
    expect(seen[2]).not.toBe(seen[1]);
    expect(seen[3]).toBe('swap-1');
    expect(seen[4]).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
    expect(seen.slice(5)).toEqual(['mine-1', 42]);
    // The request log names the id the app read or set.
    const ids = await waitFor(() => {
      const lines = t.lines.filter((l) => l.request !== undefined).map((l) => (l.request as { id: string }).id);
      return lines.length === 7 ? lines : null;
    }, 'seven request lines');
    expect(ids).toEqual(seen.map(String));
  });

  it('leaves node:http client responses without an id', async () => {
    const t = await startTest({ app: nodeListener((_req, res) => res.end('ok')) });
    const id = await new Promise<unknown>((resolve, reject) => {
      http.get(`${t.url}/`, (res) => {
        resolve((res as { id?: unknown }).id);
        res.resume();
      }).on('error', reject);
    });
    expect(id).toBeUndefined();
  });
});

describe('event streams', () => {
  it('takes a text/event-stream head out of the pool whatever its header name case and whichever writeHead form wrote it', async () => {
    const heads: Record<string, (res: http.ServerResponse) => void> = {
      '/object': (res) => res.writeHead(200, { 'content-type': 'text/event-stream' }),
      '/capitalised': (res) => res.writeHead(200, { 'Content-Type': 'text/event-stream' }),
      '/shouting': (res) => res.writeHead(200, 'OK', { 'CONTENT-TYPE': 'text/event-stream' }),
      '/flat': (res) => res.writeHead(200, ['Content-Type', 'text/event-stream']),
      '/pairs': (res) => res.writeHead(200, [['content-Type', 'text/event-stream']] as unknown as http.OutgoingHttpHeaders),
      '/set': (res) => {
        res.setHeader('CoNtEnT-TyPe', 'text/event-stream');
        res.writeHead(200);
      },
    };
    const t = await startTest({
      threads: { min: 1, max: 1 },
      app: nodeListener((req, res) => {
        const head = heads[req.url!];
        if (!head) return void res.end('plain');
        head(res);
        res.write('data: first\n\n');
      }),
    });
    const streams: AbortController[] = [];
    for (const path of Object.keys(heads)) {
      const abort = new AbortController();
      streams.push(abort);
      const res = await fetch(t.url + path, { signal: abort.signal });
      expect(new TextDecoder().decode((await res.body!.getReader().read()).value)).toBe('data: first\n\n');
    }
    // Six open streams, one slot: a plain request is still answered.
    expect(await (await fetch(t.url, { signal: AbortSignal.timeout(5000) })).text()).toBe('plain');
    expect(t.running.server.stats().connections.streaming).toBe(6);
    for (const s of streams) s.abort();
    await waitFor(() => t.running.server.stats().connections.streaming === 0, 'streams closed');
  });
});
