// A client that pipelines requests in one write and hangs up: the queued request (whose response
// node never attached to the socket, so it emits neither 'close' nor 'finish' for it) must end
// like the first: its fetch signal aborts, and its request line says the client went away. And
// pipelined requests answered in turn are each logged with their own bytes, not a neighbour's.
import net from 'node:net';
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

});
