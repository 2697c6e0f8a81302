// A fetch app that passes request.signal on (to a timer, an upstream fetch) rejects with an
// AbortError when the client leaves: that is the abort tspuma asked for, not the app failing
// (newuser7's U6: an error-level "GET / failed" line with status 500 for every client that hung up).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boot, killAll, type Booted } from '../helpers/cli.js';
import { hold } from '../helpers/http-raw.js';
import { waitFor } from '../helpers/net.js';

const APP = 'test/fixtures/apps/fetch-abort-app.mjs';
let s: Booted;
let port: number;

beforeAll(async () => {
  s = await boot(['--log-level', 'debug', '-b', 'tcp://127.0.0.1:0', APP]);
  port = Number(new URL(s.url).port);
});
afterAll(killAll);

const about = (path: string) => s.lines().filter((l) => l.url === path || String(l.msg).includes(`GET ${path} `));

describe('a client that leaves while a fetch app waits on request.signal', () => {
  for (const path of ['/upstream', '/reason']) {
    it(`${path}: the app's AbortError is a debug line, not an error with status 500`, async () => {
      const c = await hold(port, `GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`);
      // In the app (the server counts it busy) before the client leaves.
      await waitFor(async () => ((await (await fetch(`${s.url}/`)).text()) === 'ok\n' ? true : undefined), 'the server to answer');
      c.hangUp();
      // Whichever line the server writes about the app's rejection: the debug line, or an error line.
      const seen = await waitFor(() => about(path).find((l) => String(l.msg).includes('client left') || String(l.msg).includes('failed')), `a line about ${path}'s rejection`);
      expect({ level: seen.level, msg: seen.msg }).toEqual({ level: 20, msg: 'app error after the response was taken over or the client left' });
      expect(about(path).filter((l) => (l.level as number) >= 50)).toEqual([]);
    });
  }

  it('a real failure of the same app is still an error line with status 500', async () => {
    expect((await fetch(`${s.url}/broken`)).status).toBe(500);
    const line = await waitFor(() => about('/broken').find((l) => l.level === 50), 'the error line');
    expect(line).toMatchObject({ status: 500, msg: 'GET /broken failed: a real failure' });
  });
});
