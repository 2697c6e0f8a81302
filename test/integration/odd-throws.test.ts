// Integration: whatever value the app throws, its request is answered 500 at once and the server
// logs a line for it: a throw inside tspuma's own failure path (the log serializer following an
// AggregateError that holds itself, a throwing getter, a null-prototype object, a Symbol name)
// falls back to a plain error instead of leaving the request to the request timeout.
import { afterEach, describe, expect, it } from 'vitest';
import { boot, killAll } from '../helpers/cli.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';

afterEach(killAll);

/**
 * requestTimeout's default (60 s): the sweep answers 503 at that deadline, never sooner (the
 * server's own clock), so an answer before it is the failure path's whatever the load. A bound of
 * 30 s of wall time measured the machine as well (unscaled, issue 31); the fetch waits past the
 * sweep (scaled) so that a request left to it fails on its 503, not on an abort.
 */
const REQUEST_TIMEOUT_MS = 60_000;

const APP = 'test/fixtures/apps/odd-throws-app.ts';
const ROUTES: [string, string][] = [
  ['/agg', 'orders batch failed'],
  ['/message-getter', 'GET /message-getter failed'],
  ['/stack-getter', 'stack getter error'],
  ['/null-proto', 'bare object'],
  ['/symbol-name', 'named by a symbol'],
];

describe('odd thrown values', () => {
  for (const debug of [false, true]) {
    it(`${debug ? 'with -d' : 'without -d'}: each gets its 500 before requestTimeout's sweep (503 at 60 s), a log line naming it, and the server keeps serving`, async () => {
      const s = await boot([...(debug ? ['-d', '--inspect=off'] : []), '-b', 'tcp://127.0.0.1:0', APP]);
      for (const [path, said] of ROUTES) {
        const started = Date.now();
        const r = await fetch(`${s.url}${path}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS + 10_000 * SLOWNESS) });
        expect([path, r.status]).toEqual([path, 500]);
        await r.text();
        expect(Date.now() - started).toBeLessThan(REQUEST_TIMEOUT_MS);
        const line = await waitFor(() => s.lines().find((l) => typeof l.msg === 'string' && (l.msg as string).startsWith(`GET ${path} failed`)), `the failure line of ${path}`);
        expect([path, `${String(line.msg)} ${JSON.stringify(line.err ?? null)}`]).toEqual([path, expect.stringContaining(said)]);
      }
      expect(await (await fetch(`${s.url}/ok`)).text()).toBe('ok\n');
    });
  }
});
