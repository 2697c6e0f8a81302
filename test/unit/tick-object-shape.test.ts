// tick-object-shape.ts keeps one of node's tick objects alive so the hidden classes of node's
// tick literal survive a full GC run while no tick is queued (bench/README.md, session 13: without
// it, every process.nextTick after such a GC defines its two symbol keys through V8's runtime).
// What it relies on is pinned here, in a child with V8's natives: the running resource of a
// nextTick callback is node's tick object, and a tick queued after full GCs (none queued while they
// ran) gets the very map of the one kept. The time it saves is bench/tick-shape.ts's figure.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SLOWNESS } from '../helpers/net.js';

const MODULE = new URL('../../dist/server/tick-object-shape.js', import.meta.url).href;

/** Runs `body` (an async function's statements, `m` the module) in a child node with gc() and V8's natives; returns what it printed as JSON. */
function child(body: string): Record<string, unknown> {
  const script = `const { createHook, executionAsyncResource } = require('node:async_hooks');
import(${JSON.stringify(MODULE)}).then(async (m) => { ${body} }).catch((e) => { console.error(e); process.exit(1); });`;
  const run = spawnSync(process.execPath, ['--expose-gc', '--allow-natives-syntax', '-e', script], { encoding: 'utf8', timeout: 30_000 * SLOWNESS });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout.trim()) as Record<string, unknown>;
}

describe('keepTickObjectShape', () => {
  it("keeps node's own tick object (its two async-id symbol keys, callback and args), queuing one tick on the first call and none after", () => {
    const r = child(`
      let ticks = 0;
      const hook = createHook({ init(_id, type) { if (type === 'TickObject') ticks++; } }).enable();
      const before = m.keptTickObject();
      m.keepTickObjectShape();
      const first = ticks;
      m.keepTickObjectShape();
      m.keepTickObjectShape();
      hook.disable();
      await new Promise((r) => setImmediate(r));
      const k = m.keptTickObject();
      console.log(JSON.stringify({ before, first, total: ticks, symbols: Object.getOwnPropertySymbols(k).map((s) => s.description).sort(), keys: Object.keys(k).sort(), callback: typeof k.callback }));
    `);
    expect(r).toEqual({ before: null, first: 1, total: 1, symbols: ['async_id_symbol', 'trigger_async_id_symbol'], keys: ['args', 'callback'], callback: 'function' });
  });

  it('holds the map of the tick objects node makes after three full GCs run with no tick queued, and the kept object survives them', () => {
    const r = child(`
      m.keepTickObjectShape();
      await new Promise((r) => setImmediate(r));
      const k = m.keptTickObject();
      const ref = new WeakRef(k);
      // From a timer: no tick queued while the collections run.
      await new Promise((r) => setTimeout(() => { for (let i = 0; i < 3; i++) gc(); r(); }, 1));
      const fresh = await new Promise((r) => process.nextTick(() => r(executionAsyncResource())));
      console.log(JSON.stringify({ alive: ref.deref() === m.keptTickObject(), sameMap: %HaveSameMap(k, fresh), freshIsTick: Object.getOwnPropertySymbols(fresh).length === 2 && fresh !== k }));
    `);
    expect(r).toEqual({ alive: true, sameMap: true, freshIsTick: true });
  });
});
