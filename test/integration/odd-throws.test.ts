// Integration: whatever value the app throws, its request is answered 500 at once and the server
// logs a line for it: a throw inside tspuma's own failure path (the log serializer following an
// AggregateError that holds itself, a throwing getter, a null-prototype object, a Symbol name)
// falls back to a plain error instead of leaving the request to the request timeout.
import { afterEach, describe, expect, it } from 'vitest';
import { boot, killAll } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';

afterEach(killAll);

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
    it(`${debug ? 'with -d' : 'without -d'}: each gets its 500 well before requestTimeout, a log line naming it, and the server keeps serving`, async () => {
      const s = await boot([...(debug ? ['-d', '--inspect=off'] : []), '-b', 'tcp://127.0.0.1:0', APP]);
      for (const [path, said] of ROUTES) {
        const started = Date.now();
        const r = await fetch(`${s.url}${path}`, { signal: AbortSignal.timeout(30_000) });
        expect([path, r.status]).toEqual([path, 500]);
        await r.text();
        // requestTimeout is 60 s: an answer within 30 s is the failure path's, not the sweep's.
        expect(Date.now() - started).toBeLessThan(30_000);
        const line = await waitFor(() => s.lines().find((l) => typeof l.msg === 'string' && (l.msg as string).startsWith(`GET ${path} failed`)), `the failure line of ${path}`);
        expect([path, `${String(line.msg)} ${JSON.stringify(line.err ?? null)}`]).toEqual([path, expect.stringContaining(said)]);
      }
      expect(await (await fetch(`${s.url}/ok`)).text()).toBe('ok\n');
    });
  }
});
