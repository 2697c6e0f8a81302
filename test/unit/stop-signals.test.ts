// StopRequests (server/stop-signals.ts) on an injected clock: a SIGTERM repeated within the window
// is the same stop (GNU timeout signals the process and its group); later, or another signal, forces.
import { describe, expect, it } from 'vitest';
import { REPEAT_WINDOW_MS, SIGINT_REPEAT_MS, StopRequests } from '../../server/stop-signals.js';

function at(times: number[]) {
  let i = 0;
  return new StopRequests(() => times[i++]!);
}

describe('StopRequests', () => {
  it('counts a SIGTERM within the window after the first as the same stop, and one after it as a force', () => {
    const r = at([100, 100.05, 100 + REPEAT_WINDOW_MS - 1, 100 + REPEAT_WINDOW_MS]);
    expect(r.next('SIGTERM')).toEqual({ kind: 'first' });
    expect(r.next('SIGTERM')).toEqual({ kind: 'repeat', sinceMs: expect.closeTo(0.05, 5) });
    expect(r.next('SIGTERM')).toEqual({ kind: 'repeat', sinceMs: REPEAT_WINDOW_MS - 1 });
    expect(r.next('SIGTERM')).toEqual({ kind: 'force' });
  });

  it('counts a SIGINT within SIGINT_REPEAT_MS of the first as the same stop (`timeout -s INT` signals the process and its group), and forces on a later one (Ctrl-C pressed again); a SIGTERM right after a ctl stop is the same stop', () => {
    const dup = at([0, 0.2, SIGINT_REPEAT_MS - 1]);
    expect(dup.next('SIGINT')).toEqual({ kind: 'first' });
    expect(dup.next('SIGINT')).toEqual({ kind: 'repeat', sinceMs: 0.2 });
    expect(dup.next('SIGINT')).toEqual({ kind: 'repeat', sinceMs: SIGINT_REPEAT_MS - 1 });
    const int = at([0, SIGINT_REPEAT_MS]);
    expect(int.next('SIGINT')).toEqual({ kind: 'first' });
    expect(int.next('SIGINT')).toEqual({ kind: 'force' });
    const ctl = at([0, 1]);
    expect(ctl.next('ctl stop')).toEqual({ kind: 'first' });
    expect(ctl.next('SIGTERM')).toEqual({ kind: 'repeat', sinceMs: 1 });
  });
});
