// The capture budget on a hand-moved clock: once per site per window, the global rate trips a
// backoff that doubles while trips follow each other and resets after a quiet minute.
import { describe, expect, it } from 'vitest';
import { CaptureBudget, STORM_MS, STORM_REPEATS } from '../../diagnostics/capture-budget.js';

function budget(perSecond = 3) {
  let now = 0;
  const b = new CaptureBudget({ perSiteMs: 60_000, globalPerSecond: perSecond }, () => now);
  return { b, at: (ms: number) => (now = ms) };
}

describe('CaptureBudget', () => {
  it('captures a site once per minute and counts the throws in between as repeats', () => {
    const { b, at } = budget();
    expect(b.site('a:1:1')).toBe('capture');
    at(59_999);
    expect(b.site('a:1:1')).toBe('repeat');
    expect(b.site('b:2:1')).toBe('capture');
    at(60_000);
    expect(b.site('a:1:1')).toBe('capture');
  });

  it('admits globalPerSecond pauses a second, then backs off 1 s, doubling while it keeps tripping', () => {
    const { b, at } = budget(3);
    at(1000);
    expect([b.admit(), b.admit(), b.admit()]).toEqual([true, true, true]);
    expect(b.admit()).toBe(false);
    expect(b.trips).toBe(1);
    expect(b.backoffUntil).toBe(2000);
    at(1999);
    expect(b.pausingAllowed()).toBe(false);
    at(2000);
    expect(b.pausingAllowed()).toBe(true);
    // A library throwing and catching on every request trips it again at once: 2 s, then 4 s.
    for (let i = 0; i < 3; i++) expect(b.admit()).toBe(true);
    expect(b.admit()).toBe(false);
    expect(b.backoffUntil).toBe(4000);
    at(4000);
    for (let i = 0; i < 3; i++) b.admit();
    expect(b.admit()).toBe(false);
    expect(b.backoffUntil).toBe(8000);
  });

  it('resets the backoff to 1 s after a quiet minute and caps it at 60 s', () => {
    const { b, at } = budget(1);
    let t = 0;
    const backoffs: number[] = [];
    for (let i = 0; i < 9; i++) {
      at(t);
      b.admit();
      expect(b.admit()).toBe(false);
      backoffs.push(b.backoffUntil - t);
      t = b.backoffUntil;
    }
    expect(backoffs).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    at(t + 60_001);
    b.admit();
    expect(b.admit()).toBe(false);
    expect(b.backoffUntil).toBe(t + 60_001 + 1000);
  });

  it('starts a storm at the STORM_REPEATS-th unpaused repeat within a second: pausing off for STORM_MS, no count during it', () => {
    const { b, at } = budget();
    at(1000);
    for (let i = 1; i < STORM_REPEATS; i++) expect(b.repeatUnpaused()).toBe(false);
    // A second later the count starts again.
    at(2000);
    for (let i = 1; i < STORM_REPEATS; i++) expect(b.repeatUnpaused()).toBe(false);
    expect(b.repeatUnpaused()).toBe(true);
    expect(b.storms).toBe(1);
    expect(b.pausingAllowed()).toBe(false);
    expect(b.stormOnly()).toBe(true);
    for (let i = 0; i < 3 * STORM_REPEATS; i++) expect(b.repeatUnpaused()).toBe(false);
    at(2000 + STORM_MS - 1);
    expect(b.pausingAllowed()).toBe(false);
    at(2000 + STORM_MS);
    expect(b.pausingAllowed()).toBe(true);
    expect(b.stormOnly()).toBe(false);
    for (let i = 1; i < STORM_REPEATS; i++) b.repeatUnpaused();
    expect(b.repeatUnpaused()).toBe(true);
    expect(b.storms).toBe(2);
  });

  it('calms a storm for a failure dumped in it: pausing on at once, no storm until that site is captured or perSiteMs passes', () => {
    const { b, at } = budget();
    const storm = () => {
      let started = false;
      for (let i = 0; i < STORM_REPEATS; i++) started = b.repeatUnpaused() || started;
      return started;
    };
    at(1000);
    expect(storm()).toBe(true);
    b.calm('app.ts:12');
    expect(b.pausingAllowed()).toBe(true);
    at(3000);
    expect(storm()).toBe(false);
    b.captured('other.ts:1');
    at(5000);
    expect(storm()).toBe(false);
    b.captured('app.ts:12');
    at(7000);
    expect(storm()).toBe(true);
    b.calm('app.ts:30');
    at(7000 + 59_999);
    expect(storm()).toBe(false);
    at(7000 + 60_000);
    expect(storm()).toBe(true);
  });
});
