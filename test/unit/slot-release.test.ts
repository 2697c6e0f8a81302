// Every invocation slot is released exactly once, whichever comes first: the response finishing,
// the request closing, the socket closing, or the request's deadline. Clients that pipeline and
// hang up (node emits neither 'close' nor 'finish' for a response never attached to its socket)
// must not leave slots, deadlines or sockets behind.
import { afterEach, describe, expect, it } from 'vitest';
import { rack } from '../../server/adapters.js';
import { get, sendAndHangUp, SLOWNESS, waitFor } from '../helpers/net.js';
import { startTest, stopAll, type TestServer } from '../helpers/server.js';

afterEach(stopAll);

/** Answers after a timer: long enough for the client to be gone by then. */
const sleepy = rack(async () => {
  await new Promise((r) => setTimeout(r, 1));
  return [200, { 'content-type': 'text/plain' }, ['slept\n']];
});

const PIPELINED = 'GET /sleep HTTP/1.1\r\nHost: t\r\n\r\nGET /sleep HTTP/1.1\r\nHost: t\r\n\r\n';

/** The status of a GET on a connection of its own that closes after it (no keep-alive: nothing of the client's is left to wait for). */
async function answeredWithin(t: TestServer, ms: number): Promise<number> {
  return (await get(`${t.url}/after`, undefined, ms * SLOWNESS)).status;
}

describe('invocation slots', () => {
  it('pipelined requests on connections closed at once leave no slot held: a later request is answered within 2 s and running returns to 0', async () => {
    const t = await startTest({ app: sleepy, threads: { min: 0, max: 8 } });
    for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 40 }, () => sendAndHangUp(t.port, PIPELINED)));
    // Every slot comes back (a freeze never gets there), and then a request is answered at once.
    await waitFor(() => t.running.server.stats().running === 0 && t.running.server.stats().backlog === 0, 'every slot released', 10_000);
    expect(await answeredWithin(t, 2000)).toBe(200);
    await waitFor(() => t.running.server.deadlines.size === 0, 'every connection entry removed', 5000);
  });

  it('a pipelined request queued behind a full pool is dropped from the queue when its connection closes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = await startTest({
      app: rack(async (env) => {
        if (env.PATH_INFO === '/hold') await gate;
        return [200, {}, ['ok']];
      }),
      threads: { min: 0, max: 1 },
    });
    const holder = fetch(`${t.url}/hold`);
    await waitFor(() => t.running.server.stats().running === 1, 'the slot taken');
    await Promise.all(Array.from({ length: 10 }, () => sendAndHangUp(t.port, PIPELINED)));
    release();
    expect((await holder).status).toBe(200);
    expect(await answeredWithin(t, 2000)).toBe(200);
    await waitFor(() => t.running.server.stats().running === 0 && t.running.server.stats().backlog === 0, 'slots and queue empty', 5000);
  });
});
