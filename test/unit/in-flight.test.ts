// Unit: the requests in flight (read by `tspuma inspect stack`, a hung worker's autopsy and an
// uncaught error's dump) name each request by the URL it arrived with, as the request log does,
// not by the path a mounted router left in req.url.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';
import type { Running } from '../../server/single.js';
import { start } from '../../server/start.js';
import { waitFor } from '../helpers/net.js';

const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

describe('requests in flight', () => {
  it('name the URL as received after the app rewrote req.url (an Express router mounted at /api)', async () => {
    let release = () => {};
    const app = (req: IncomingMessage, res: ServerResponse) => {
      req.url = req.url!.replace(/^\/api/, ''); // what router.handle does for a mounted router
      release = () => res.end('done');
    };
    const r = await start({ bind: 'tcp://127.0.0.1:0', app }, { logger: createLogger({ pretty: false, destination: new Writable({ write: (_c, _e, cb) => cb() }) }) });
    running.push(r);
    const answered = fetch(`http://127.0.0.1:${r.listeners[0]!.port}/api/spin?n=1`).then((res) => res.text());
    try {
      const inFlight = await waitFor(() => (r.server.inFlight().length === 1 ? r.server.inFlight() : null), 'the request in the app');
      expect(inFlight.map((f) => [f.method, f.url])).toEqual([['GET', '/api/spin?n=1']]);
    } finally {
      release();
    }
    expect(await answered).toBe('done');
  });
});

describe('the time a request in flight has been in the app', () => {
  it('is never more than the request has existed (review11.2: the sweep clock lags by up to a tick, 1 s by default)', async () => {
    let release = () => {};
    const app = (_req: IncomingMessage, res: ServerResponse) => {
      release = () => res.end('done');
    };
    const r = await start({ bind: 'tcp://127.0.0.1:0', app }, { logger: createLogger({ pretty: false, destination: new Writable({ write: (_c, _e, cb) => cb() }) }) });
    running.push(r);
    // Most of a tick after the deadlines' clock was last set (at listen): a request that enters now
    // was stamped with that clock, 0.7 s before it arrived.
    await new Promise((resolve) => setTimeout(resolve, 700));
    const sent = performance.now();
    const answered = fetch(`http://127.0.0.1:${r.listeners[0]!.port}/slow`).then((res) => res.text());
    try {
      const inFlight = await waitFor(() => (r.server.inFlight().length === 1 ? r.server.inFlight() : null), 'the request in the app');
      const existed = performance.now() - sent;
      // A late timer on a loaded machine may still add its lateness: 250 ms of slack for that.
      expect(inFlight[0]!.ms).toBeLessThanOrEqual(existed + 250);
    } finally {
      release();
    }
    expect(await answered).toBe('done');
  });
});

describe('a request forced out after an uncaught exception', () => {
  it('is said to have outlived the 5 s grace, or forceShutdownAfter when that is shorter', async () => {
    const { uncaughtGraceEnded } = await import('../../server/single.js');
    expect(uncaughtGraceEnded(Infinity)).toBe('5 s after the uncaught exception (the most a stop after one waits)');
    expect(uncaughtGraceEnded(30)).toBe('5 s after the uncaught exception (the most a stop after one waits)');
    expect(uncaughtGraceEnded(2)).toBe('when forceShutdownAfter (2 s) expired');
  });
});
