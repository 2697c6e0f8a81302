// maxKeepAlive spread per connection (server/connection-limit.ts): each connection's own limit,
// drawn from its serial and the process's seed, lies in maxKeepAlive's top eighth; the process's
// first close brought forward to its FIRST_CLOSE_AT-th request when every limit lies above it.
import { describe, expect, it } from 'vitest';
import { FIRST_CLOSE_AT, KeepAliveLimits } from '../../server/connection-limit.js';

const serials = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe('KeepAliveLimits', () => {
  it('never gives a limit above maxKeepAlive or below its top eighth (999: 876-999), and uses both ends over many connections', () => {
    for (const seed of [0, 0.25, 0.5, 0.999999]) {
      const k = new KeepAliveLimits(999, seed);
      const limits = serials(1, 20_000).map((s) => k.limitOf(s));
      expect(Math.max(...limits)).toBe(999);
      expect(Math.min(...limits)).toBe(876);
      expect(new Set(limits).size).toBe(124);
    }
  });

  it('spreads the connections of a pool opened at once (consecutive serials): ten limits, each at least 6 requests from the others', () => {
    for (const seed of [0, 0.37, 0.81]) {
      const k = new KeepAliveLimits(999, seed);
      for (const first of [1, 11, 1234]) {
        const limits = serials(first, 10).map((s) => k.limitOf(s)).sort((a, b) => a - b);
        const gaps = limits.slice(1).map((l, i) => l - limits[i]!);
        expect(Math.min(...gaps), `limits ${limits.join(' ')}`).toBeGreaterThanOrEqual(6);
        expect(limits[9]! - limits[0]!, `limits ${limits.join(' ')}`).toBeGreaterThanOrEqual(90);
      }
    }
  });

  it('gives the same serials other limits under another seed (two workers numbering their connections alike)', () => {
    const a = new KeepAliveLimits(999, 0.1);
    const b = new KeepAliveLimits(999, 0.6);
    const differ = serials(1, 10).filter((s) => a.limitOf(s) !== b.limitOf(s));
    expect(differ.length).toBeGreaterThanOrEqual(8);
  });

  it('keeps a small maxKeepAlive exact (under 16 the top eighth is under two requests): 1, 2, 15 for every connection', () => {
    for (const max of [1, 2, 15]) {
      const k = new KeepAliveLimits(max, 0.42);
      expect(k.lowest).toBe(max);
      expect(new Set(serials(1, 100).map((s) => k.limitOf(s)))).toEqual(new Set([max]));
    }
    const k16 = new KeepAliveLimits(16, 0.42);
    expect(new Set(serials(1, 100).map((s) => k16.limitOf(s)))).toEqual(new Set([15, 16]));
  });

  it(`closes the process's ${FIRST_CLOSE_AT}th request (counted over every connection) when every limit lies above it, once, then each connection at its own limit`, () => {
    const k = new KeepAliveLimits(999, 0.3);
    expect(k.lowest).toBe(0); // every request counted until the first close
    const last: boolean[] = [];
    for (let i = 0; i < FIRST_CLOSE_AT; i++) last.push(k.isLast(i >> 2, 1 + (i & 3)));
    expect(last.indexOf(true)).toBe(FIRST_CLOSE_AT - 1);
    expect(last.filter(Boolean)).toHaveLength(1);
    expect(k.lowest).toBe(876);
    for (const serial of serials(1, 50)) {
      const limit = k.limitOf(serial);
      expect(k.isLast(limit - 1, serial)).toBe(false);
      expect(k.isLast(limit, serial)).toBe(true);
    }
  });

  it(`brings no close forward when a limit lies at or below ${FIRST_CLOSE_AT} (maxKeepAlive 40: 36-40; 72: 64-72) or there is none (0)`, () => {
    for (const [max, lowest] of [[40, 36], [72, 64], [0, Infinity]] as const) {
      const k = new KeepAliveLimits(max, 0.3);
      expect(k.lowest).toBe(lowest);
      for (let i = 0; i < 2 * FIRST_CLOSE_AT; i++) expect(k.isLast(i % 30, 1 + (i % 7))).toBe(false);
    }
  });

  it('maxKeepAlive 0 is unlimited: no request count reaches the lowest limit or a connection\'s own', () => {
    const k = new KeepAliveLimits(0, 0.5);
    expect(k.lowest).toBe(Infinity);
    expect(k.limitOf(7)).toBe(Infinity);
    expect(Number.MAX_SAFE_INTEGER >= k.lowest).toBe(false);
  });
});
