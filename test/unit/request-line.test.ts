// Request lines llhttp parses but HTTP/1.1 does not allow get 400 before the app: HTTP/0.9 and a
// #fragment in the target. What llhttp itself accepts (two spaces) is pinned here too.
import { afterEach, describe, expect, it } from 'vitest';
import { rawRequest, statusOf } from '../helpers/net.js';
import { recording, startTest, stopAll } from '../helpers/server.js';

afterEach(stopAll);

describe('request line', () => {
  it('answers an HTTP/0.9 request line (`GET /` with no version) with 400, the app never called', async () => {
    const { app, calls } = recording();
    const t = await startTest({ app });
    const reply = await rawRequest(t.port, 'GET /\r\n\r\n');
    expect(statusOf(reply.text)).toBe(400);
    expect(calls).toEqual([]);
  });

  it('answers a target carrying a #fragment with 400, the app never called', async () => {
    const { app, calls } = recording();
    const t = await startTest({ app });
    const reply = await rawRequest(t.port, 'GET /admin#/../public HTTP/1.1\r\nHost: t\r\n\r\n');
    expect(statusOf(reply.text)).toBe(400);
    expect(reply.closed).toBe(true);
    expect(calls).toEqual([]);
  });

  it('reads a request line with two spaces as llhttp does: the same target, not a different one', async () => {
    const { app, calls } = recording();
    const t = await startTest({ app });
    const reply = await rawRequest(t.port, 'GET  /x?a=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    expect(statusOf(reply.text)).toBe(200);
    expect(calls).toEqual(['GET /x?a=1']);
  });
});
