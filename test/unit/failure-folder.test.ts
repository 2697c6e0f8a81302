// Repeated error lines are folded: the first failure of a kind in full, the same kind within the
// interval counted, and the count logged once when the interval ends (on a hand-moved clock).
import { describe, expect, it } from 'vitest';
import { FailureFolder } from '../../server/logger.js';

describe('FailureFolder', () => {
  it('logs the first failure of a kind, counts the rest of its interval, and flushes the count once', () => {
    let now = 0;
    const flushed: [string, number, number][] = [];
    const f = new FailureFolder((sample, n, s) => flushed.push([sample, n, s]), 10_000, () => now);
    const kind = (id: number) => FailureFolder.kindOf(new Error(`user ${id} not found`), 'GET');
    expect(f.admit(kind(7), 'GET /u/7 failed')).toBe(true);
    for (let i = 0; i < 2999; i++) expect(f.admit(kind(i), `GET /u/${i} failed`)).toBe(false);
    // Another kind is its own line.
    expect(f.admit(FailureFolder.kindOf(new TypeError('x is undefined'), 'GET'), 'GET /t failed')).toBe(true);
    expect(flushed).toEqual([]);
    now = 10_500;
    f.sweep();
    expect(flushed).toEqual([['GET /u/7 failed', 2999, 11]]);
    // A new interval starts with a full line again.
    expect(f.admit(kind(1), 'GET /u/1 failed')).toBe(true);
    f.close();
  });

  it('builds a line given as a function only for the failure it logs in full, never for a counted repeat', () => {
    let now = 0;
    const flushed: [string, number][] = [];
    const f = new FailureFolder((sample, n) => flushed.push([sample, n]), 10_000, () => now);
    const built: number[] = [];
    const line = (id: number) => () => (built.push(id), `GET /u/${id} failed`);
    const kind = FailureFolder.kindOf(new Error('user 7 not found'), 'GET');
    expect(f.admit(kind, line(7))).toBe(true);
    for (let i = 0; i < 100; i++) expect(f.admit(kind, line(i))).toBe(false);
    expect(built).toEqual([7]);
    now = 10_500;
    f.sweep();
    // The count names the first failure's line, as text.
    expect(flushed).toEqual([['GET /u/7 failed', 100]]);
    f.close();
  });

  it('tells kinds apart by class and message, digits aside, without reading the stack', () => {
    const err = new Error('order 12 of 3 failed');
    Object.defineProperty(err, 'stack', { get: () => { throw new Error('stack read'); } });
    expect(FailureFolder.kindOf(err, 'POST')).toBe('POST|Error: order # of # failed');
    expect(FailureFolder.kindOf('plain string 5')).toBe('|string: plain string #');
  });
});
