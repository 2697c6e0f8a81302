// The log throttle shared by the side listeners, client errors (408s), PROXY-protocol and TLS
// refusals and the descriptor watch: 1st, 10th, 100th... of a kind, again from 1 after a quiet spell.
import { describe, expect, it } from 'vitest';
import { THROTTLE_QUIET_MS, Throttle } from '../../server/side-listener.js';

function counted(t: Throttle, kind: string, times: number): (number | null)[] {
  return Array.from({ length: times }, () => t.hit(kind));
}

describe('Throttle', () => {
  it('says to log the 1st, 10th and 100th events of a kind, each kind counted apart', () => {
    let now = 0;
    const t = new Throttle(1024, THROTTLE_QUIET_MS, () => now);
    const logged = counted(t, 'a', 100).filter((n) => n !== null);
    expect(logged).toEqual([1, 10, 100]);
    now += 1000;
    expect(t.hit('b')).toBe(1);
  });

  it('starts a kind again from 1 once it was quiet for the quiet period, and not before (review22.2)', () => {
    let now = 0;
    const t = new Throttle(1024, 60_000, () => now);
    counted(t, 'a', 12); // a flood: logged at 1 and 10
    now += 59_999;
    expect(t.hit('a')).toBeNull(); // the 13th, within the period: still the flood
    now += 60_000;
    expect(t.hit('a')).toBe(1); // a new incident, logged at once
    expect(t.hit('a')).toBeNull();
  });

  it('restarts every count past maxKinds, so cycling kinds cannot grow its map', () => {
    const t = new Throttle(2, 60_000, () => 0);
    expect(t.hit('a')).toBe(1);
    expect(t.hit('a')).toBeNull();
    expect(t.hit('b')).toBe(1);
    expect(t.hit('c')).toBe(1); // the map was full: cleared
    expect(t.hit('a')).toBe(1); // a's count started again
  });
});
