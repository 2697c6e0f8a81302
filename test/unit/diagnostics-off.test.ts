// Debug off (the default): the diagnostics layer does not exist, so it costs nothing.
import inspector from 'node:inspector';
import { afterEach, expect, it, vi } from 'vitest';
import { rack } from '../../server/adapters.js';
import { startTest, stopAll } from '../helpers/server.js';

afterEach(async () => {
  await stopAll();
  vi.restoreAllMocks();
});

it('creates no inspector session and no hook when debug is off, even when the app throws', async () => {
  // Capture (diagnostics/capture.ts) works through an in-process node:inspector Session: one that
  // never connects costs nothing, so a connect is what debug-off must not do.
  const connect = vi.spyOn(inspector.Session.prototype, 'connect');
  const connectToMainThread = vi.spyOn(inspector.Session.prototype, 'connectToMainThread');
  const t = await startTest({
    app: rack(() => {
      throw new Error('no dump for me');
    }),
  });
  const res = await fetch(t.url);
  expect(res.status).toBe(500);
  expect(await res.text()).not.toContain('tspuma dump');
  expect(t.lines.some((l) => String(l.msg).includes('no dump for me'))).toBe(true); // the throw happened
  expect(t.running.server.diagnostics).toBeNull();
  expect(connect).not.toHaveBeenCalled();
  expect(connectToMainThread).not.toHaveBeenCalled();
  // No inspector server either.
  expect(inspector.url()).toBeUndefined();
});
