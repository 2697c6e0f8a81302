// A client that pipelines requests in one write and hangs up: the queued request (whose response
// node never attached to the socket, so it emits neither 'close' nor 'finish' for it) must end
// like the first: its fetch signal aborts, and its request line says the client went away. And
// pipelined requests answered in turn are each logged with their own bytes, not a neighbour's.
import net from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchHandler } from '../../server/adapters.js';
import { waitFor } from '../helpers/net.js';
import { startTest, stopAll } from '../helpers/server.js';

afterEach(stopAll);

const TWO_WAITS = 'GET /wait HTTP/1.1\r\nHost: t\r\n\r\nGET /wait HTTP/1.1\r\nHost: t\r\n\r\n';

/** Connects, writes `payload` in one write, returns the socket and what it has received so far. */
async function pipeline(port: number, payload: string) {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => {});
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(payload);
  return { socket, received: () => received };
}

type Line = { request?: { url: string; status: number | string; bytes: number; remote?: string } };
const requestLines = (lines: Record<string, unknown>[]) => (lines as Line[]).filter((l) => l.request).map((l) => l.request!);

describe('pipelined requests when the client hangs up', () => {
  it('both pipelined requests\' fetch signals abort when the client hangs up while the app is running them', async () => {
    let arrived = 0;
    let aborted = 0;
    const app = fetchHandler(async (request: Request) => {
      arrived++;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 20_000);
        request.signal.addEventListener('abort', () => {
          aborted++;
          clearTimeout(timer);
          resolve();
        });
      });
      return new Response('late');
    });
    const t = await startTest({ app, threads: { min: 0, max: 4 } });
    const c = await pipeline(t.port, TWO_WAITS);
    await waitFor(() => arrived === 2, 'both requests in the app');
    c.socket.destroy();
    await waitFor(() => aborted === 2, 'both signals aborted', 5000);
    expect(aborted).toBe(2);
  });

  it('the request log gives each pipelined response its own bytes, and a request whose client left unanswered no status (null, `-` in the message)', async () => {
    let hangs = 0;
    const app = (req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/hang') return void hangs++;
      res.setHeader('content-type', 'application/json');
      res.end('{"id":1,"name":"a user"}');
    };
    const t = await startTest({ app, logRequests: true, threads: { min: 0, max: 4 } });
    // One request alone: its size on the wire.
    const one = await pipeline(t.port, 'GET /id HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    await waitFor(() => one.socket.readyState === 'closed' || one.socket.readableEnded, 'the single response');
    const single = one.received().length;
    const three = await pipeline(t.port, 'GET /id HTTP/1.1\r\nHost: t\r\n\r\n'.repeat(2) + 'GET /id HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    await waitFor(() => requestLines(t.lines).length === 4, 'four request lines');
    await waitFor(() => three.socket.readyState === 'closed' || three.socket.readableEnded, 'the three responses');
    const lines = requestLines(t.lines);
    expect(lines[0]!.bytes).toBe(single);
    // Keep-alive and close heads differ by a few bytes; together the three are exactly what was sent.
    const piped = lines.slice(1, 4).map((l) => l.bytes);
    expect(piped.reduce((a, b) => a + b, 0)).toBe(three.received().length);
    for (const b of piped) expect(Math.abs(b - single)).toBeLessThan(20);

    const gone = await pipeline(t.port, 'GET /hang HTTP/1.1\r\nHost: t\r\n\r\nGET /hang HTTP/1.1\r\nHost: t\r\n\r\n');
    await waitFor(() => hangs === 2, 'both hanging requests in the app');
    gone.socket.destroy();
    await waitFor(() => requestLines(t.lines).length === 6, 'six request lines');
    const abandoned = requestLines(t.lines).slice(4);
    expect(abandoned.map((l) => [l.url, l.status, l.bytes, l.remote])).toEqual([
      ['/hang', null, 0, '127.0.0.1'],
      ['/hang', null, 0, '127.0.0.1'],
    ]);
  });
});
