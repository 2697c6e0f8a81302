// Unit: server/app-loading.ts's watch over an app's import, on vitest's fake timers: the
// still-loading warning every LOADING_WARN_S seconds with the seconds so far, and none once the
// import settled. (test/integration/app-loading.test.ts boots the CLI on an app whose import never
// finishes: the loading line and the SIGTERM line; waiting there for the 10 s warning cost the
// file 10 s of wall time.) And the stop signals' owner (server/stop-signal-owner.ts) the watch
// takes them from and gives them back to.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LOADING_WARN_S, watchLoading } from '../../server/app-loading.js';
import { StopSignalOwner, bootSignalOwner, type SignalSource, type StopSignal } from '../../server/stop-signal-owner.js';

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

  it('has the stop signals before the loading line is written (a supervisor that signals on seeing the line finds its handler, not node\'s default: exit 143)', () => {
    const source = new EventEmitter();
    const exits: number[] = [];
    const exit = vi.spyOn(process, 'exit').mockImplementation(((code: number) => void exits.push(code)) as never);
    try {
      const boot: StopSignal[] = [];
      const signals = new StopSignalOwner((signal) => boot.push(signal), source as unknown as SignalSource);
      const seen: string[] = [];
      const log = { info: (_: unknown, msg: string) => {
        seen.push(msg);
        if (msg.startsWith('* Loading')) source.emit('SIGTERM', 'SIGTERM');
      }, warn: () => undefined } as unknown as Logger;
      const done = watchLoading(log, `${process.cwd()}/tla-app.ts`, signals);
      done();
      expect(seen).toEqual(['* Loading the app tla-app.ts ...', expect.stringMatching(/^Received SIGTERM while the app tla-app\.ts was loading/)]);
      expect({ exits, boot }).toEqual({ exits: [0], boot: [] });
    } finally {
      exit.mockRestore();
    }
  });

  it('gives the stop signals back to their owner when the import settles: a SIGTERM between the import and single mode\'s graceful stop ends the boot with a line (findings lead.1: node\'s default killed the process, exit 143, no line)', () => {
    const source = new EventEmitter();
    const exits: number[] = [];
    const lines: string[] = [];
    const log = { info: (_: unknown, msg: string) => void lines.push(msg), warn: () => undefined } as unknown as Logger;
    const signals = bootSignalOwner(log, { exit: (code) => void exits.push(code), source: source as unknown as SignalSource });
    const done = watchLoading(log, `${process.cwd()}/tla-app.ts`, signals);
    done();
    source.emit('SIGTERM', 'SIGTERM');
    expect(lines).toEqual(['* Loading the app tla-app.ts ...', 'Received SIGTERM while booting (before serving): exiting before serving']);
    expect(exits).toEqual([0]);
    // Single mode's graceful stop takes them for good; the loading watch's late give-back does not undo that.
    const stops: StopSignal[] = [];
    signals.take((signal) => stops.push(signal));
    done();
    source.emit('SIGINT', 'SIGINT');
    expect(stops).toEqual(['SIGINT']);
    expect(source.listenerCount('SIGTERM')).toBe(1);
    signals.close();
    expect(source.listenerCount('SIGTERM')).toBe(0);
  });

  it(`says it is loading at once, warns every ${LOADING_WARN_S} s while the import has not finished, and stops warning once it has`, () => {
    const { log, lines } = recorder();
    const signals = new StopSignalOwner(() => undefined, new EventEmitter() as unknown as SignalSource);
    const done = watchLoading(log, `${process.cwd()}/tla-app.ts`, signals);
    try {
      expect(lines.map((l) => [l.level, l.msg])).toEqual([['info', '* Loading the app tla-app.ts ...']]);
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
    vi.advanceTimersByTime(5 * LOADING_WARN_S * 1000);
    expect(lines).toHaveLength(3);
  });

  it('names what it loads as the --preload check does (a file outside the working folder by its whole path), at the interval it is given', () => {
    const { log, lines } = recorder();
    const done = watchLoading(log, '/elsewhere/app.ts', new StopSignalOwner(() => undefined, new EventEmitter() as unknown as SignalSource), { everyS: 2, what: 'the app (preload check)' });
    try {
      vi.advanceTimersByTime(2000);
      expect(lines.map((l) => l.msg.split(':')[0])).toEqual(['* Loading the app (preload check) /elsewhere/app.ts ...', 'Still loading the app (preload check) /elsewhere/app.ts after 2 s']);
    } finally {
      done();
    }
  });
});
