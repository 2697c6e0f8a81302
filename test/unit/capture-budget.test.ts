// The capture budget on a hand-moved clock: once per site per window, the global rate trips a
// backoff that doubles while trips follow each other and resets after a quiet minute.
import { describe, expect, it } from 'vitest';
import { CaptureBudget } from '../../diagnostics/capture-budget.js';

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
});
