// Dumps beyond one machine: file names carry the host (and a folder shared by hosts keeps the
// newest by time), and onDump gets each new site once, later than the failing request's
// answer, with its throw, rejection or slowness logged as TSPUMA_ERR_DUMP_SINK.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { trimFolder } from '../../diagnostics/dump-budget.js';
import { DumpDelivery, type DeliveryTimers, type DumpExtras } from '../../diagnostics/dump-delivery.js';
import type { Dump } from '../../diagnostics/model.js';
import { Sinks } from '../../diagnostics/sinks.js';
import type { TspumaError } from '../../server/errors.js';
import { fixtureDump } from '../helpers/dump-fixture.js';
import { tempDir } from '../helpers/temp.js';

const dump = (site: string, kind: Dump['kind'] = 'exception'): Dump => fixtureDump(kind, site, 'TypeError');

/** Timers run by hand: soon() queues, after() fires when advance() passes it, now() is set. */
function manualTimers() {
  const queue: (() => void)[] = [];
  const later: { at: number; fn: () => void; live: boolean }[] = [];
  let now = 0;
  const timers: DeliveryTimers = {
    soon: (fn) => void queue.push(fn),
    after: (ms, fn) => {
      const t = { at: now + ms, fn, live: true };
      later.push(t);
      return () => (t.live = false);
    },
    now: () => now,
  };
  return {
    timers,
    runSoon: () => queue.splice(0).forEach((fn) => fn()),
    queued: () => queue.length,
    setNow: (t: number) => (now = t),
    advance: (ms: number) => {
      now += ms;
      for (const t of later) if (t.live && t.at <= now) (t.live = false), t.fn();
    },
  };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe('DumpDelivery', () => {
  it('calls onDump only on a later turn, with a copy of the dump and its text and path', () => {
    const m = manualTimers();
    const got: [Dump, DumpExtras][] = [];
    const d = new DumpDelivery((dump, extras) => void got.push([dump, extras]), () => {}, m.timers, 100);
    const original = dump('app.ts:1');
    d.deliver(original, { text: 'TEXT', path: '/d/x.json' });
    expect(got).toHaveLength(0);
    m.runSoon();
    expect(got).toHaveLength(1);
    expect(got[0]![0]).toEqual(original);
    expect(got[0]![0]).not.toBe(original);
    expect(got[0]![1]).toEqual({ text: 'TEXT', path: '/d/x.json' });
  });

  it('logs a throw and a rejection as TSPUMA_ERR_DUMP_SINK naming the dump and the cause', async () => {
    const m = manualTimers();
    const warned: TspumaError[] = [];
    const thrower = new DumpDelivery(() => {
      throw new Error('tracker down');
    }, (e) => warned.push(e), m.timers, 100);
    const rejecter = new DumpDelivery(() => Promise.reject(new Error('403 from tracker')), (e) => warned.push(e), m.timers, 100);
    const a = dump('app.ts:2');
    thrower.deliver(a, { text: '', path: null });
    rejecter.deliver(dump('app.ts:3'), { text: '', path: null });
    expect(() => m.runSoon()).not.toThrow();
    await flush();
    expect(warned.map((e) => e.code)).toEqual(['TSPUMA_ERR_DUMP_SINK', 'TSPUMA_ERR_DUMP_SINK']);
    expect(warned[0]!.message).toContain(`dump #${a.id} (TypeError: at app.ts:2) threw Error: tracker down`);
    expect(warned[1]!.message).toContain('rejected with Error: 403 from tracker');
  });

  it('logs a promise unsettled after the bound once, and says nothing for one that settles in time', async () => {
    const m = manualTimers();
    const warned: TspumaError[] = [];
    let settle!: () => void;
    const slow = new DumpDelivery(() => new Promise<void>(() => {}), (e) => warned.push(e), m.timers, 100);
    const quick = new DumpDelivery(() => new Promise<void>((r) => (settle = r)), (e) => warned.push(e), m.timers, 100);
    slow.deliver(dump('app.ts:4'), { text: '', path: null });
    quick.deliver(dump('app.ts:5'), { text: '', path: null });
    m.runSoon();
    settle();
    await flush();
    m.advance(99);
    expect(warned).toHaveLength(0);
    m.advance(1);
    expect(warned).toHaveLength(1);
    expect(warned[0]!.message).toContain('at app.ts:4) has not settled after 100 ms');
  });

  it('logs a synchronous call that ran past the bound', () => {
    const m = manualTimers();
    const warned: TspumaError[] = [];
    const d = new DumpDelivery(() => m.setNow(250), (e) => warned.push(e), m.timers, 100);
    d.deliver(dump('app.ts:6'), { text: '', path: null });
    m.runSoon();
    expect(warned).toHaveLength(1);
    expect(warned[0]!.message).toContain('ran synchronously for 250 ms');
  });
});

describe('Sinks beyond one machine', () => {
  it('names files <time>-<host>-<pid>-<id>, with the host made file-safe', () => {
    const dir = tempDir('host');
    const sinks = new Sinks({ dir, maxFiles: 10, githubActions: false, colour: false, write: () => {}, host: 'web-7f9c/pod 2' });
    const { path } = sinks.emit(dump('app.ts:7'));
    expect(path).toMatch(/\/2026-01-01T00-00-\d\d-000Z-web-7f9c_pod_2-4242-\d{4}\.json$/);
    expect(readdirSync(dir).filter((n) => n.includes('web-7f9c_pod_2'))).toHaveLength(2);
  });

  it('hands each new site to onDump once (repeats are not delivered), hangs each time', () => {
    const m = manualTimers();
    const sites: string[] = [];
    const dir = tempDir('deliver');
    const sinks = new Sinks({ dir, maxFiles: 10, githubActions: false, colour: false, write: () => {}, host: 'h' });
    sinks.deliverTo(new DumpDelivery((d, x) => void sites.push(`${d.kind} ${d.site} ${x.path === null ? 'no file' : 'file'} ${x.text.includes('at') ? 'text' : 'no text'}`), () => {}, m.timers));
    sinks.emit(dump('app.ts:8'));
    sinks.emit(dump('app.ts:8'));
    sinks.emit(dump('app.ts:9'));
    sinks.emit(dump('app.ts:9', 'hang'));
    sinks.emit(dump('app.ts:9', 'hang'));
    m.runSoon();
    expect(sites).toEqual(['exception app.ts:8 file text', 'exception app.ts:9 file text', 'hang app.ts:9 file text', 'hang app.ts:9 file text']);
  });

  it('keeps the newest dumps by time in a folder shared by hosts, old host-less names counted too', () => {
    const dir = tempDir('shared');
    const names = [
      '2026-01-01T00-00-00-000Z-7-0001', // before host names
      '2026-01-01T00-00-01-000Z-pod-b-8-0001',
      '2026-01-01T00-00-02-000Z-pod-a-9-0001',
      '2026-01-01T00-00-03-000Z-7-0002',
      '2026-01-01T00-00-04-000Z-pod-b-8-0002',
    ];
    for (const n of names) {
      writeFileSync(join(dir, `${n}.json`), '{}');
      writeFileSync(join(dir, `${n}.txt`), '');
    }
    trimFolder(dir, 3);
    expect(readdirSync(dir).filter((n) => n.endsWith('.json')).sort()).toEqual(names.slice(2).map((n) => `${n}.json`));
    expect(readdirSync(dir).filter((n) => n.endsWith('.txt'))).toHaveLength(3);
  });
});
