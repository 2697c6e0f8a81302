// A probe's rate limit in a worker (inspector/probe-rate.ts) on an injected clock: "100 log lines
// a second" holds for every second, the first second of load after an idle spell included (what
// bench:probes' firing logpoint, loaded in 2 s bursts between the other servers' bursts, wrote
// 3,796 lines against a 2,600 ceiling for).
import { describe, expect, it } from 'vitest';
import { RateLimit } from '../../inspector/probe-rate.js';

/** Hits every `stepMs` from `from` to `to` (ms); the times let through. */
function drive(limit: RateLimit, clock: { t: number }, from: number, to: number, stepMs: number): number[] {
  const taken: number[] = [];
  for (clock.t = from; clock.t < to; clock.t += stepMs) if (limit.take()) taken.push(clock.t);
  return taken;
}

/** The most hits within any window of `ms` (sliding, from each hit). */
function mostWithin(times: number[], ms: number): number {
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= ms) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

describe('a probe\'s rate limit', () => {
  it('lets at most `rate` hits through within any one second, also in the first second of load after an idle spell', () => {
    const clock = { t: 0 };
    const limit = new RateLimit(100, () => clock.t);
    // Idle for 5 s (the bucket, if any, fills), then a hit every millisecond for 3 s.
    const taken = drive(limit, clock, 5000, 8000, 1);
    expect(mostWithin(taken, 1000)).toBeLessThanOrEqual(100);
    expect(taken.filter((t) => t < 6000)).toHaveLength(100);
  });

  it('under steady load lets `rate` hits a second through, no fewer', () => {
    const clock = { t: 0 };
    const limit = new RateLimit(100, () => clock.t);
    expect(drive(limit, clock, 0, 10_000, 1)).toHaveLength(1000);
  });

  it('bench:probes\' pattern, 2 s bursts of load between 8 s idle spells, 12 times: at most 200 hits a burst', () => {
    const clock = { t: 0 };
    const limit = new RateLimit(100, () => clock.t);
    let all = 0;
    for (let burst = 0; burst < 12; burst++) {
      const taken = drive(limit, clock, burst * 10_000, burst * 10_000 + 2000, 0.5);
      expect(taken.length).toBeLessThanOrEqual(200);
      all += taken.length;
    }
    expect(all).toBe(2400);
  });

  it('a snapshot probe\'s 1 a second: one hit, then none until a second after it', () => {
    const clock = { t: 0 };
    const limit = new RateLimit(1, () => clock.t);
    expect(drive(limit, clock, 0, 3500, 10)).toEqual([0, 1000, 2000, 3000]);
  });
});
