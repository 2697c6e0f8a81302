// The Capturer alone, in a file of its own: no other inspector session in this process pauses
// on exceptions, so pause counts are exact. Capture failures resume; the rate limit trips.
import { describe, expect, it } from 'vitest';
import { Redactor } from '../../diagnostics/redact.js';
import { waitFor } from '../helpers/net.js';

describe('Capturer', () => {
  it('resumes and reports when capture itself fails, and the throw still propagates', async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const failures: unknown[] = [];
    const broken = { isSecretName: () => { throw new Error('redactor broke'); }, isSecretHeader: () => false, isSecretValue: () => false } as unknown as Redactor;
    const c = new Capturer({ frames: 8, perSiteMs: 60_000, globalPerSecond: 20 }, broken, (err) => failures.push(err));
    c.start();
    try {
      const userId = 7;
      expect(() => c.scope('hook', () => { throw new Error(`boom ${userId}`); })).toThrow('boom 7');
      expect(c.stats.failures).toBe(1);
      expect((failures[0] as Error).message).toBe('redactor broke');
      expect(c.scope('hook', () => 'still running')).toBe('still running');
    } finally {
      c.stop();
    }
  });

  it('switches pausing off for a backoff when throws exceed the global rate', async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 5 }, new Redactor(), () => undefined);
    c.start();
    try {
      c.scope('app', () => {
        for (let i = 0; i < 200; i++) {
          try {
            throw new Error(`throw ${i}`);
          } catch {
            /* library-style caught throw */
          }
        }
      });
      expect(c.stats.trips).toBe(1);
      expect(c.stats.pauses).toBe(6); // 5 allowed, the 6th trips the limiter; the other 194 cost nothing
      // Every handled pause is timed, and the exit line reports it.
      expect(c.pauseTimes.n).toBe(6);
      expect(c.pauseTimes.quantile(0.5)).toBeGreaterThan(0);
      expect(c.costLine()).toMatch(/^tspuma: debug capture cost: 6 pause\(s\) at throws: p50 [\d.]+ ms, p99 [\d.]+ ms; 1 built a capture: .*; 4 repeat\(s\) and 1 throttled/);
    } finally {
      c.stop();
    }
  });

  it('keeps pausing on through a busy period and switches it off about a second after the last app call', async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 50 }, new Redactor(), () => undefined);
    const pausing = () => (c as unknown as { pausing: boolean }).pausing;
    c.start();
    try {
      const started = performance.now();
      // App calls coming and going (each ending before the next begins) for 1.5 s.
      while (performance.now() - started < 1500) {
        c.enter('app');
        c.leave();
        expect(pausing()).toBe(true);
        await new Promise((r) => setImmediate(r));
      }
      const last = performance.now();
      await waitFor(() => !pausing(), 'pausing to go off', 5000);
      const off = performance.now() - last;
      expect(off).toBeGreaterThanOrEqual(900);
      expect(off).toBeLessThan(3000);
      try {
        throw new Error('outside any phase');
      } catch {
        /* not paused on: pausing is off */
      }
      expect(c.stats.pauses).toBe(0);
    } finally {
      c.stop();
    }
  });

  it('keeps quantiles over the last durations only', async () => {
    const { Timings } = await import('../../diagnostics/capture.js');
    const t = new Timings(4);
    expect(t.quantile(0.5)).toBeNull();
    for (const ms of [100, 100, 100, 100, 1, 2, 3, 4]) t.add(ms);
    expect([t.n, t.quantile(0), t.quantile(0.5), t.quantile(0.99)]).toEqual([8, 1, 3, 4]);
  });
});
