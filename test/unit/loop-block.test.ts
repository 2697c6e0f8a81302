// Unit: the blocked-loop watch on an injected clock (its timer is not started: each tick is given
// its time): which request it blames, the fold of later blocks, the stats.
import { describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { LoopBlockWatch } from '../../server/loop-block.js';
import { DumpBuilder } from '../../diagnostics/dumps.js';
import { Redactor } from '../../diagnostics/redact.js';
import { DUMP_WORK, clientWorkTold, debuggerPaused, dumpWorkRan, forgetOwnWork, heapLimitReached, ownWork } from '../../server/own-work.js';
import { captureLogger } from '../helpers/server.js';
import { kLoopTurn } from '../../server/shared-names.js';
import { BLOCKED_TURN_MS, pausedIdle } from '../../inspector/remote.js';

function watch(inApp: { text: string; ms: number }[] = [], thread: () => [number, number] | null = () => null) {
  const { logger, lines } = captureLogger();
  const w = new LoopBlockWatch<string>({ log: logger, thresholdSeconds: 1, inApp: () => inApp, describe: (r) => `GET /${r} (request ${r})`, thread });
  return { w, lines: () => lines.filter((l) => l.code === 'TSPUMA_ERR_LOOP_BLOCKED') as { msg: string; seconds: number; folded?: number }[] };
}

/**
 * Puts `w` on the real clock own-work.ts records on (start() sets it to now; stop() leaves it so)
 * and gives it its first tick at now + `ahead` ms; returns that time, for the ticks that follow.
 */
function onRealClock(w: LoopBlockWatch<string>, ahead = 0): number {
  w.start();
  w.stop();
  const t0 = performance.now() + ahead;
  w.tick(t0);
  return t0;
}

describe('blocked event loop watch (loopBlockedWarning 1 s, ticks every 250 ms)', () => {
  it('blames the first request to end after the block, not one that ended before it began', () => {
    const { w, lines } = watch();
    w.tick(1000);
    w.ended('before', 1100);
    w.ended('spin', 3900);
    w.ended('after', 3950);
    w.tick(4000); // due at 1250: 2.75 s late
    expect(lines()).toHaveLength(1);
    expect(lines()[0]!.msg).toMatch(/^The event loop of this process \(PID \d+\) was blocked for 2\.8 s: nothing else ran meanwhile \(timers, I\/O, every other request waited\); it ended with GET \/spin \(request spin\), answered as the loop came back; the process used [\d.]+ s of CPU meanwhile/);
    expect(lines()[0]!.seconds).toBe(2.8);
    expect(w.stats()).toEqual({ count: 1, longest_ms: 2750 });
  });

  it("names tspuma's own work that ran in the block's span (a probe set or removed) instead of blaming the app or the request that ended after it, and not work that ended before the block (N2)", () => {
    forgetOwnWork();
    const before = watch();
    ownWork('removing probe 7', () => undefined);
    const t0 = onRealClock(before.w, 1);
    before.w.ended('spin', t0 + 2900);
    before.w.tick(t0 + 3000);
    expect(before.lines()[0]!.msg).toContain('; it ended with GET /spin (request spin), answered as the loop came back;');
    const { w, lines } = watch([{ text: 'GET /a (request a)', ms: 3000 }]);
    const t1 = onRealClock(w);
    ownWork('setting probe 1 at src/db.ts:10', () => undefined);
    w.ended('after', t1 + 2900);
    w.tick(t1 + 3000);
    expect(lines()).toHaveLength(1);
    expect(lines()[0]!.msg).toContain("; tspuma's own work ran then, not the app's code: setting probe 1 at src/db.ts:10;");
    expect(lines()[0]!.msg).not.toContain('GET /after');
    forgetOwnWork();
  });

  it("names debug mode's work on a failure when it took at least half of the block (a first dump reading the source maps), and not when it was a sliver of the app's own block (review16.2)", () => {
    /** The lines of a block from the first tick to `tickAt` (ms after it), with dump work over `dump` and request `id` ending at `endAt`. */
    const blockWithDump = (dump: [number, number], id: string, endAt: number, tickAt: number) => {
      forgetOwnWork();
      const { w, lines } = watch();
      const t = onRealClock(w);
      dumpWorkRan(t + dump[0], t + dump[1]);
      w.ended(id, t + endAt);
      w.tick(t + tickAt);
      forgetOwnWork();
      return lines();
    };
    // The requestTimeout's dump held the loop 1.1 s of a 1.4 s block; the timed-out request ended as it came back.
    const dumped = blockWithDump([200, 1300], 'slow', 1600, 1650);
    expect(dumped).toHaveLength(1);
    expect(dumped[0]!.msg).toContain(`; tspuma's own work ran then, not the app's code: ${DUMP_WORK}; GET /slow (request slow) ended as the loop came back;`);
    // An app's 2.75 s loop that threw once: its capture took 5 ms of it.
    const app = blockWithDump([2000, 2005], 'spin', 2900, 3000);
    expect(app[0]!.msg).toContain('; it ended with GET /spin (request spin), answered as the loop came back;');
    expect(app[0]!.msg).not.toContain(DUMP_WORK);
  });

  it("names a debugger's pause in the block's span (a DevTools client, seen by -d's session) instead of the app's code (N9)", () => {
    forgetOwnWork();
    const { w, lines } = watch();
    const t0 = onRealClock(w);
    debuggerPaused(t0 + 100, t0 + 2800);
    w.tick(t0 + 3000);
    expect(lines()[0]!.msg).toContain("; a debugger held it paused then (DevTools, tspuma inspect stack or a debugger statement), not the app's code;");
    forgetOwnWork();
  });

  it("names the heap reaching V8's limit in the block's span (V8's break there, seen by -d's session), with the request that ended after it, not a debugger (review9.2)", () => {
    forgetOwnWork();
    const { w, lines } = watch();
    const t0 = onRealClock(w);
    heapLimitReached(t0 + 1500);
    w.ended('leak', t0 + 2900);
    w.tick(t0 + 3000);
    expect(lines()[0]!.msg).toContain("; the JavaScript heap reached V8's limit then (the app's memory: collecting garbage near the limit holds the loop; with a debugger session enabled, -d's or a probe's, V8 raises the limit rather than end the process, so it grows past --max-old-space-size: DEBUGGING.md, Memory); it ended with GET /leak (request leak), answered as the loop came back;");
    expect(lines()[0]!.msg).not.toContain('a debugger held it paused');
    forgetOwnWork();
  });

  it("names a DevTools client's heap snapshot told only after the block (the primary's IPC, read once the loop is back) when the report waits for it, and not one that ended before the block (review7.5)", () => {
    forgetOwnWork();
    const { logger, lines } = captureLogger();
    const waiting: (() => void)[] = [];
    const w = new LoopBlockWatch<string>({ log: logger, thresholdSeconds: 1, inApp: () => [], describe: (r) => `GET /${r}`, thread: () => null, settle: (report) => void waiting.push(report) });
    const blocked = () => lines.filter((l) => l.code === 'TSPUMA_ERR_LOOP_BLOCKED').map((l) => String(l.msg));
    const t0 = onRealClock(w, 1);
    const epoch = (t: number) => t + performance.timeOrigin;
    clientWorkTold({ id: '1.1', what: 'heap snapshot', since: epoch(t0 - 900), until: epoch(t0 - 200) }); // an earlier snapshot, over before this block
    w.ended('after', t0 + 2900);
    w.tick(t0 + 3000);
    // Nothing written until the report has waited: the primary's word comes after the block.
    expect(blocked()).toEqual([]);
    clientWorkTold({ id: '1.2', what: 'heap snapshot', since: epoch(t0 + 100), until: null });
    clientWorkTold({ id: '1.2', what: 'heap snapshot', since: epoch(t0 + 100), until: epoch(t0 + 2900) }); // its end: the same snapshot
    waiting.splice(0).forEach((report) => report());
    expect(blocked()).toHaveLength(1);
    expect(blocked()[0]).toContain("; a DevTools client was taking a heap snapshot of it then (tspuma inspect heap, or DevTools' Memory panel through discovery), not the app's code;");
    expect(blocked()[0]).not.toContain('GET /after');
    // The next block (10 s later, past the fold) after that snapshot ended blames the request.
    for (let t = t0 + 3250; t <= t0 + 13_000; t += 250) w.tick(t);
    w.ended('late', t0 + 15_900);
    w.tick(t0 + 16_000);
    waiting.splice(0).forEach((report) => report());
    expect(blocked()).toHaveLength(2);
    expect(blocked()[1]).toContain('; it ended with GET /late, answered as the loop came back;');
    forgetOwnWork();
  });

  it('names a heap snapshot still running (its end not told yet) over the request that ended after the block', () => {
    forgetOwnWork();
    const { w, lines } = watch();
    const t0 = onRealClock(w);
    clientWorkTold({ id: '2.1', what: 'heap snapshot', since: t0 + 50 + performance.timeOrigin, until: null });
    w.ended('after', t0 + 2900);
    w.tick(t0 + 3000);
    expect(lines()[0]!.msg).toContain('; a DevTools client was taking a heap snapshot of it then');
    forgetOwnWork();
  });

  it("names a DevTools client's long evaluation (its console, a watch expression, a snippet) in the block's span, not the app's code", () => {
    forgetOwnWork();
    const { w, lines } = watch();
    const t0 = onRealClock(w);
    clientWorkTold({ id: '3.4', what: 'evaluation', since: t0 + 20 + performance.timeOrigin, until: t0 + 2950 + performance.timeOrigin });
    w.tick(t0 + 3000);
    expect(lines()[0]!.msg).toContain("; a DevTools client's evaluation ran then (its console, a watch expression or a snippet, through discovery), not the app's code;");
    forgetOwnWork();
  });

  it("names a probe's hit, not a debugger, when -d's session saw the probe's own pause as one it did not ask for", () => {
    forgetOwnWork();
    const { w, lines } = watch();
    const t0 = onRealClock(w);
    debuggerPaused(t0, t0 + 2800);
    ownWork('a probe hit (its values read while paused)', () => undefined);
    w.tick(t0 + 3000);
    expect(lines()[0]!.msg).toContain("; tspuma's own work ran then, not the app's code: a probe hit (its values read while paused);");
    expect(lines()[0]!.msg).not.toContain('a debugger held it paused');
    forgetOwnWork();
  });

  it('names the requests in the app when none ended, and says none was when none was', () => {
    const a = watch([{ text: 'GET /a (request a)', ms: 3000 }]);
    a.w.tick(1000);
    a.w.tick(3500);
    expect(a.lines()[0]!.msg).toContain('; in the app then: GET /a (request a) (in the app 3.0 s);');
    const b = watch();
    b.w.tick(1000);
    b.w.tick(3500);
    expect(b.lines()[0]!.msg).toContain('; no request was in the app (module code, a timer or an event handler of the app ran);');
  });

  it('ignores a timer late by less than the threshold, and folds blocks within 10 s of a line into one later count', () => {
    const { w, lines } = watch();
    w.tick(1000);
    w.tick(2100); // 0.85 s late: under 1 s
    expect(lines()).toHaveLength(0);
    w.tick(4000); // 1.65 s: a line
    w.tick(6000); // 1.75 s, 2 s after the line: counted
    for (let t = 6250; t < 14_000; t += 250) w.tick(t);
    expect(lines()).toHaveLength(1);
    w.tick(14_000); // 10 s after the line, with a fold waiting
    expect(lines()).toHaveLength(2);
    expect(lines()[1]!.msg).toMatch(/^The event loop of this process \(PID \d+\) was blocked 1 more time\(s\) over loopBlockedWarning in the 10 s after the line above, the longest 1\.8 s/);
    expect(lines()[1]!.folded).toBe(1);
    expect(w.stats()).toEqual({ count: 2, longest_ms: 1750 });
  });

  it("tells from the thread's own clocks a block that computed, one the machine slowed down (runnable, no CPU), and one that slept", () => {
    const cases: [ran: number, waited: number, expected: RegExp][] = [
      [2600, 100, /; its thread ran 2\.6 s on a CPU meanwhile \(computing: the code that ran held it\)/],
      // newuser7's U4: a busy loop on a loaded host got 40 % of a CPU; it was never asleep.
      [1100, 1600, /; its thread ran 1\.1 s on a CPU meanwhile and waited 1\.6 s for one \(computing, slowed down by a busy host or the container's CPU limit: the code that ran held it\)/],
      [50, 10, /; its thread ran 0\.1 s on a CPU meanwhile and waited 0\.0 s for one \(asleep the rest: a synchronous call \(fs \*Sync, .*\), a debugger holding it paused, or a stopped process \(SIGSTOP\)\)/],
    ];
    for (const [ran, waited, expected] of cases) {
      let figures: [number, number] = [10_000, 500];
      const { w, lines } = watch([], () => figures);
      w.tick(1000);
      figures = [10_000 + ran, 500 + waited];
      w.tick(4000); // 2.75 s late
      expect(lines()[0]!.msg).toMatch(expected);
      expect(lines()[0]!.msg).not.toContain('the process used');
      expect(lines()[0]).toMatchObject({ threadRanSeconds: Number((ran / 1000).toFixed(1)), threadWaitedSeconds: Number((waited / 1000).toFixed(1)) });
    }
  });

  it('falls back to the process CPU time where the thread has no clocks (off Linux)', () => {
    const { w, lines } = watch();
    w.tick(1000);
    w.tick(4000); // the injected clock says 2.75 s late; the process used far less than half of that between the two calls
    expect(lines()[0]!.msg).toMatch(/; the process used 0\.\d s of CPU meanwhile \(mostly waiting, not computing: a synchronous call .*, or a machine that did not schedule it\)/);
  });

  it("keeps no request that ended in an ordinary interval (a block's culprit ends at least half the threshold late), and still blames a late one", async () => {
    const { logger, lines } = captureLogger();
    const w = new LoopBlockWatch<{ name: string }>({ log: logger, thresholdSeconds: 1, inApp: () => [], describe: (r) => `GET /${r.name}`, thread: () => null });
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    w.tick(1000);
    let ordinary: { name: string } | null = { name: 'ordinary' };
    const ref = new WeakRef(ordinary);
    w.ended(ordinary, 1200); // 200 ms after the timer's run: on time, whatever comes next
    ordinary = null;
    await new Promise((resolve) => setImmediate(resolve)); // a WeakRef holds its target to the end of the job
    gc();
    expect(ref.deref()).toBeUndefined();
    w.ended({ name: 'spin' }, 3900);
    w.tick(4000);
    expect(lines.find((l) => l.code === 'TSPUMA_ERR_LOOP_BLOCKED')?.msg).toContain('; it ended with GET /spin, answered as the loop came back;');
  });
});

describe('the loop turn a paused process reports (kLoopTurn, read by inspector/remote.ts)', () => {
  it('exposes the ms since the watch last ran while it runs, growing while nothing turns the loop, and removes it at stop', () => {
    const { w } = watch();
    const g = globalThis as Record<symbol, unknown>;
    w.start();
    try {
      const turn = g[kLoopTurn] as () => number;
      expect(turn).toBe(w.sinceTurn);
      w.tick(performance.now() - 3000); // as if the timer last ran 3 s ago (a blocked thread)
      expect(turn()).toBeGreaterThanOrEqual(3000);
      w.tick(performance.now());
      expect(turn()).toBeLessThan(BLOCKED_TURN_MS);
    } finally {
      w.stop();
    }
    expect(g[kLoopTurn]).toBeUndefined();
  });

  it('tells a late pause of blocked code from an idle process (review10.1): late is idle only while the loop turned', () => {
    // No turn figure (a process without the watch): as before, late or at the loop's entry is idle.
    expect(pausedIdle(20, false, null)).toBe(false);
    expect(pausedIdle(258, false, null)).toBe(true);
    expect(pausedIdle(20, true, null)).toBe(true);
    // The loop turned 200 ms ago: a late pause is its next callback.
    expect(pausedIdle(258, false, 200)).toBe(true);
    // It had not turned for 7 s (an execSync loop, a GC-bound loop): late, and still the running code.
    expect(pausedIdle(258, false, 7000)).toBe(false);
    expect(pausedIdle(685, true, 7000)).toBe(false);
  });
});

describe("a dump's event-loop delay (process.eventLoopDelayMs) comes from the watch's ticks (tests16.2)", () => {
  it('is the lateness of the running watch, p50 and max, with no timer of its own; null with no watch running', () => {
    const builder = new DumpBuilder(new Redactor(), 8);
    const figure = () => builder.build(new Error('x'), null, { phase: 'app' }).process.eventLoopDelayMs;
    expect(figure()).toBeNull();
    const { w } = watch();
    w.start();
    try {
      const t0 = performance.now();
      w.tick(t0); // on time (a start's first tick: no lateness)
      w.tick(t0 + 250 + 37.4); // 37.4 ms late
      w.tick(t0 + 2 * 250 + 37.4 + 3);
      w.tick(t0 + 3 * 250 + 37.4 + 6);
      w.tick(t0 + 4 * 250 + 37.4 + 9);
      expect(figure()).toEqual({ p50: 3, max: 37.4 });
    } finally {
      w.stop();
    }
    expect(figure()).toBeNull();
  });
});
