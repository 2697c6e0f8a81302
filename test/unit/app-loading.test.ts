// Unit: server/app-loading.ts's watch over an app's import, on vitest's fake timers: the
// still-loading warning every LOADING_WARN_S seconds with the seconds so far, and none once the
// import settled. (test/integration/app-loading.test.ts boots the CLI on an app whose import never
// finishes: the loading line and the SIGTERM line; waiting there for the 10 s warning cost the
// file 10 s of wall time.)
import type { Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LOADING_WARN_S, watchLoading } from '../../server/app-loading.js';

interface Line {
  level: 'info' | 'warn';
  fields: Record<string, unknown>;
  msg: string;
}

function recorder(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: Line['level']) => (fields: Record<string, unknown>, msg: string) => void lines.push({ level, fields, msg });
  return { log: { info: at('info'), warn: at('warn') } as unknown as Logger, lines };
}

describe('watchLoading', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('has its stop-signal handlers in place before the loading line is written (a supervisor that signals on seeing the line finds them there, not node\'s default: exit 143)', () => {
    const before = process.listenerCount('SIGTERM');
    const seen: number[] = [];
    const log = { info: () => void seen.push(process.listenerCount('SIGTERM')), warn: () => undefined } as unknown as Logger;
    const done = watchLoading(log, `${process.cwd()}/tla-app.ts`);
    done();
    expect(seen).toEqual([before + 1]);
  });

  it(`says it is loading at once, warns every ${LOADING_WARN_S} s while the import has not finished, and stops warning once it has`, () => {
    const { log, lines } = recorder();
    const signals = process.listenerCount('SIGTERM');
    const done = watchLoading(log, `${process.cwd()}/tla-app.ts`);
    try {
      expect(lines.map((l) => [l.level, l.msg])).toEqual([['info', '* Loading the app tla-app.ts ...']]);
      // Its SIGTERM handler is there while the import is pending (the integration test sends one).
      expect(process.listenerCount('SIGTERM')).toBe(signals + 1);
      vi.advanceTimersByTime(LOADING_WARN_S * 1000 - 1);
      expect(lines).toHaveLength(1);
      vi.advanceTimersByTime(1);
      expect(lines[1]).toMatchObject({ level: 'warn', fields: { app: `${process.cwd()}/tla-app.ts`, seconds: LOADING_WARN_S } });
      expect(lines[1]!.msg).toMatch(new RegExp(`^Still loading the app tla-app\\.ts after ${LOADING_WARN_S} s: its import has not finished \\(a top-level await that does not settle`));
      vi.advanceTimersByTime(LOADING_WARN_S * 1000);
      expect(lines.map((l) => l.fields.seconds)).toEqual([undefined, LOADING_WARN_S, 2 * LOADING_WARN_S]);
    } finally {
      done();
    }
    expect(process.listenerCount('SIGTERM')).toBe(signals);
    vi.advanceTimersByTime(5 * LOADING_WARN_S * 1000);
    expect(lines).toHaveLength(3);
  });

  it('names what it loads as the --preload check does (a file outside the working folder by its whole path), at the interval it is given', () => {
    const { log, lines } = recorder();
    const done = watchLoading(log, '/elsewhere/app.ts', { everyS: 2, what: 'the app (preload check)' });
    try {
      vi.advanceTimersByTime(2000);
      expect(lines.map((l) => l.msg.split(':')[0])).toEqual(['* Loading the app (preload check) /elsewhere/app.ts ...', 'Still loading the app (preload check) /elsewhere/app.ts after 2 s']);
    } finally {
      done();
    }
  });
});
