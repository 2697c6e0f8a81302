// The Capturer alone, in a file of its own: no other inspector session in this process pauses
// on exceptions, so pause counts are exact. Capture failures resume; the rate limit trips.
import { describe, expect, it } from 'vitest';
import { Redactor } from '../../diagnostics/redact.js';

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
    } finally {
      c.stop();
    }
  });
});
