// Debug off (the default): the diagnostics layer does not exist, so it costs nothing.
import inspector from 'node:inspector';
import { afterEach, expect, it } from 'vitest';
import { rack } from '../../server/adapters.js';
import { diagnostics } from '../../server/debug-hook.js';
import { startTest, stopAll } from '../helpers/server.js';

afterEach(stopAll);

it('creates no inspector session and no hook when debug is off, even when the app throws', async () => {
  const t = await startTest({
    app: rack(() => {
      throw new Error('no dump for me');
    }),
  });
  const res = await fetch(t.url);
  expect(res.status).toBe(500);
  expect(await res.text()).not.toContain('tspuma dump');
  expect(diagnostics).toBeNull();
  expect(inspector.url()).toBeUndefined();
  // No Debugger domain is enabled in this process: a fresh session can still enable it, and a
  // throw costs no pause (nothing is listening for one).
  expect(process.execArgv.some((a) => a.startsWith('--inspect'))).toBe(false);
});
