// The error-storm back-off (diagnostics/error-storm.ts) on a hand-moved clock: muted repeats over
// the rate switch pausing at throws off for a period; a failure that is no known repeat switches it
// on again at once, is dumped without values saying why, and its next throw is captured and dumped
// again with its values, naming the first; a failure of a dumped kind from another function is told
// at the latest at the back-off's STORM_CHECK_EVERY-th. In a file of its own: pause counts are exact.
import { describe, expect, it } from 'vitest';
import { ErrorStorm, type StormLimits } from '../../diagnostics/error-storm.js';
import { enableDiagnostics } from '../../diagnostics/index.js';
import { claimSite } from '../../diagnostics/dump-budget.js';
import { tempDir } from '../helpers/temp.js';
import type { Dump } from '../../diagnostics/model.js';
import { waitFor } from '../helpers/net.js';

const LIMITS: StormLimits = { perSecond: 5, periodMs: 1000, holdMs: 60_000, checkEvery: 4 };

function storm(limits = LIMITS) {
  let now = 0;
  return { s: new ErrorStorm(limits, () => now), at: (ms: number) => (now = ms) };
}

describe('ErrorStorm', () => {
  it('starts a back-off at the repeat one past the rate within a second, for its period', () => {
    const { s, at } = storm();
    at(1000);
    for (let i = 0; i < 5; i++) expect(s.repeat()).toBe(false);
    at(2000); // a new second: the count starts again
    for (let i = 0; i < 5; i++) expect(s.repeat()).toBe(false);
    expect(s.repeat()).toBe(true);
    expect([s.storms, s.until, s.on()]).toEqual([1, 3000, true]);
    at(2999);
    expect(s.on()).toBe(true);
    at(3000);
    expect(s.on()).toBe(false);
  });

  it('ends a back-off when calmed and starts none until a capture is built or the hold has passed', () => {
    const { s, at } = storm();
    at(0);
    for (let i = 0; i < 6; i++) s.repeat();
    expect(s.on()).toBe(true);
    at(10);
    s.calm();
    expect([s.on(), s.calmed]).toEqual([false, 1]);
    for (let i = 0; i < 20; i++) expect(s.repeat()).toBe(false);
    s.captured();
    at(2000);
    for (let i = 0; i < 5; i++) s.repeat();
    expect(s.repeat()).toBe(true);
    // Calmed again, and no capture follows: held for holdMs.
    s.calm();
    at(2000 + 59_999);
    for (let i = 0; i < 10; i++) expect(s.repeat()).toBe(false);
    at(2000 + 61_000); // a new second, the hold over
    for (let i = 0; i < 5; i++) expect(s.repeat()).toBe(false);
    expect(s.repeat()).toBe(true);
  });

  it('tells the first kind-matched failure of each back-off by its stack, then one in checkEvery', () => {
    const { s, at } = storm();
    at(0);
    for (let i = 0; i < 6; i++) s.repeat();
    expect(Array.from({ length: 9 }, () => s.checkDue())).toEqual([true, false, false, false, true, false, false, false, true]);
    at(1000);
    for (let i = 0; i < 6; i++) s.repeat();
    expect(s.checkDue()).toBe(true);
  });
});

// A dumped failure's site; another function failing with its class and message (review10.6); a
// failure of another kind.
function charge(n: number): number {
  const fee = n * 2;
  if (n >= 0) throw new Error('card declined');
  return fee;
}

function authorize(n: number): number {
  const limit = n * 7;
  if (n >= 0) throw new Error('card declined');
  return limit;
}

function ship(n: number): number {
  const box = n + 40;
  if (n >= 0) throw new TypeError(`no box ${box}`);
  return box;
}

// Two throws in one function: muting it after the first's repeats mutes the second (site-mutes.ts).
function settle(n: number): number {
  const due = n * 3;
  if (n > 100) throw new RangeError('due too large');
  throw new Error('settle refused');
}

const attempt = (f: (n: number) => number, n: number): unknown => {
  try {
    return f(n);
  } catch (err) {
    return err;
  }
};

/** -d with a hand clock and LIMITS; `written` holds what it wrote. */
function diagnostics(limits = LIMITS) {
  let now = 0;
  const written: string[] = [];
  const diag = enableDiagnostics({ write: (t) => written.push(t), colour: false, dir: null, env: {}, now: () => now, storm: limits });
  return { diag, written, at: (ms: number) => (now = ms) };
}

/** As diagnostics(), in worker 1 of a cluster whose site claims are in a dump folder of its own. */
function workerDiagnostics(limits = LIMITS) {
  let now = 0;
  const written: string[] = [];
  const dir = tempDir('storm-worker');
  const diag = enableDiagnostics({ write: (t) => written.push(t), colour: false, dir, env: { TSPUMA_WORKER_INDEX: '1', TSPUMA_CLUSTER_RUN: 'run-storm' }, now: () => now, storm: limits });
  return { diag, written, dir, at: (ms: number) => (now = ms) };
}

/** Reports `n` repeats of `f`'s failure (charge's by default) at the hand clock's current time; the dumps they were counted against. */
function repeats(diag: ReturnType<typeof diagnostics>['diag'], n: number, f = charge): unknown[] {
  const dumps: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const r = diag.report(attempt(f, i + 10), { phase: 'app' });
    expect(r.repeat).toBe(true);
    dumps.push(r.dump);
  }
  return dumps;
}

/** At 100 ms: charge's failure dumped, then its muted repeats past the rate: a back-off until 1100. */
function backOff(diag: ReturnType<typeof diagnostics>['diag'], at: (ms: number) => number): void {
  at(100);
  diag.report(attempt(charge, 1), { phase: 'app' });
  repeats(diag, 7);
  expect(diag.capturer.pausingNow).toBe(false);
}

describe('error-storm back-off', () => {
  it('switches pausing off once muted repeats pass the rate, says so in one line, counts the repeats with no pause, and switches it on after its period', async () => {
    // A period of 50 ms: the timer that ends it waits that long for real.
    const { diag, written, at } = diagnostics({ ...LIMITS, periodMs: 50 });
    try {
      at(100);
      const first = diag.report(attempt(charge, 1), { phase: 'app' });
      expect(first.dump.captured).toBe(true);
      repeats(diag, 6); // the first repeat pauses and mutes charge; five more muted
      expect(diag.capturer.pausingNow).toBe(true);
      const pauses = diag.capturer.stats.pauses;
      repeats(diag, 1); // the sixth muted repeat in the second
      expect(diag.capturer.pausingNow).toBe(false);
      expect(diag.capturer.storm.storms).toBe(1);
      const lines = () => written.filter((t) => t.includes('pausing at throws is off'));
      expect(lines()).toHaveLength(1);
      expect(lines()[0]).toContain(`dump #${first.dump.id} (at ${first.dump.site}) repeated more than 5 times in a second`);
      expect(repeats(diag, 20).every((d) => d === first.dump)).toBe(true);
      expect(diag.capturer.stats.pauses).toBe(pauses);
      // Its period over: the timer, set for what is left by the hand clock, finds it there.
      at(150);
      await waitFor(() => diag.capturer.pausingNow || undefined, 'pausing on again', 5000);
      // Another back-off within the minute: no second line.
      at(2200);
      repeats(diag, 6);
      expect(diag.capturer.storm.storms).toBe(2);
      expect(lines()).toHaveLength(1);
      expect(diag.capturer.costLine()).toContain('pausing off 2 time(s) for an error storm');
    } finally {
      diag.close();
    }
  });

  it('switches pausing on at once for a failure of another kind during a back-off; its next throw is dumped again with its values, naming the first', () => {
    const { diag, at } = diagnostics();
    try {
      backOff(diag, at);
      const during = diag.report(attempt(ship, 1), { phase: 'app' });
      expect(during.repeat).toBe(false);
      expect(during.dump.captured).toBe(false);
      expect(during.dump.frames[0]!.function).toBe('ship');
      expect(during.dump.note).toMatch(/pausing at throws was off for an error-storm back-off .*its next throw is captured/);
      expect(diag.capturer.pausingNow).toBe(true);
      expect(diag.capturer.storm.calmed).toBe(1);
      // ship might have thrown in a muted function (stormrev.2): every mute is lifted, so charge's
      // next repeat pauses once and mutes it again; no back-off starts before a capture.
      const pauses = diag.capturer.stats.pauses;
      repeats(diag, 10);
      expect([diag.capturer.stats.pauses, diag.capturer.pausingNow]).toEqual([pauses + 1, true]);
      const next = diag.report(attempt(ship, 2), { phase: 'app' });
      expect(next.repeat).toBe(false);
      expect(next.dump.captured).toBe(true);
      expect(next.dump.site).toBe(during.dump.site);
      expect(next.dump.frames[0]!.locals).toMatchObject({ n: 2, box: 42 });
      expect(next.dump.note).toContain(`its first throw was not paused at: it came during an error-storm back-off (pausing at throws off) and is dump #${during.dump.id}, without values`);
      // Then a repeat of it, as any dump's.
      expect(diag.report(attempt(ship, 3), { phase: 'app' }).dump).toBe(next.dump);
      // A capture was built: back-offs may start again.
      at(5000);
      repeats(diag, 6);
      expect(diag.capturer.pausingNow).toBe(false);
    } finally {
      diag.close();
    }
  });

  it("holds back-offs after a failure of another kind that came past the back-off's period while its timer was late (stormrev.1)", () => {
    // Under load the timer that ends a back-off fires late (a capture pausing the loop for 100 ms):
    // pausing is still off when the period is over, the failure has no values, and its next throw
    // must still find pausing on. The hand clock passes the period; the real timer has not run.
    const { diag, at } = diagnostics();
    try {
      backOff(diag, at);
      at(1150); // the period ended at 1100
      const during = diag.report(attempt(ship, 1), { phase: 'app' });
      expect(during.dump.captured).toBe(false);
      expect(diag.capturer.pausingNow).toBe(true);
      expect(diag.stats().calmed).toBe(1); // ctl stats' figure is the back-off's own count (one owner)
      // charge's muted repeats past the rate: no back-off starts before a capture is built.
      repeats(diag, 10);
      expect([diag.capturer.pausingNow, diag.capturer.storm.storms]).toEqual([true, 1]);
      const next = diag.report(attempt(ship, 2), { phase: 'app' });
      expect(next.dump.captured).toBe(true);
      expect(next.dump.frames[0]!.locals).toMatchObject({ n: 2, box: 42 });
    } finally {
      diag.close();
    }
  });

  it("captures the next throw of a failure of another kind that came during a back-off from the muted function's other throw (stormrev.2)", () => {
    const { diag, at } = diagnostics();
    try {
      at(100);
      diag.report(attempt(settle, 1), { phase: 'app' });
      repeats(diag, 7, settle); // the first repeat pauses and mutes settle
      expect(diag.capturer.pausingNow).toBe(false);
      const during = diag.report(attempt(settle, 200), { phase: 'app' });
      expect([during.repeat, during.dump.captured, diag.capturer.pausingNow]).toEqual([false, false, true]);
      const next = diag.report(attempt(settle, 201), { phase: 'app' });
      expect([next.repeat, next.dump.captured]).toEqual([false, true]);
      expect(next.dump.frames[0]!.locals).toMatchObject({ n: 201, due: 603 });
      expect(next.dump.note).toContain(`is dump #${during.dump.id}, without values`);
    } finally {
      diag.close();
    }
  });

  it("names a site another worker dumped by its place and that worker's file, not by this worker's number for it, never printed (review20.10)", () => {
    // charge's site, as a dump names it.
    const probe = diagnostics();
    let site: string;
    try {
      site = probe.diag.report(attempt(charge, 1), { phase: 'app' }).dump.site;
    } finally {
      probe.diag.close();
    }
    const { diag, written, dir, at } = workerDiagnostics();
    try {
      // Worker 0 of the run dumped it first.
      expect(claimSite(dir, 'run-storm-phase0', site, '/dumps/w0-0001.json')).toEqual({ mine: true });
      at(100);
      const first = diag.report(attempt(charge, 1), { phase: 'app' });
      expect([first.repeat, first.elsewhere]).toEqual([true, true]);
      repeats(diag, 8);
      expect(diag.capturer.storm.storms).toBe(1);
      const line = written.find((t) => t.includes('pausing at throws is off'))!;
      expect(line).toContain(`the failure at ${site} that another worker dumped (/dumps/w0-0001.json) repeated more than 5 times in a second`);
      expect(line).not.toMatch(/dump #\d/);
      // A failure of another kind during the back-off: its note names the storm's failure the same way.
      const during = diag.report(attempt(ship, 1), { phase: 'app' });
      expect(during.dump.note).toContain(`(the failure at ${site} that another worker dumped repeated more than 5 times a second in muted functions)`);
    } finally {
      diag.close();
    }
  });

  /** charge dumped and storming (pausing off); body runs with its first dump, then -d is closed. */
  function inStorm(body: (diag: ReturnType<typeof diagnostics>['diag'], first: Dump) => void): void {
    const { diag, at } = diagnostics();
    try {
      at(100);
      const first = diag.report(attempt(charge, 1), { phase: 'app' });
      repeats(diag, 7);
      expect(diag.capturer.pausingNow).toBe(false);
      body(diag, first.dump);
    } finally {
      diag.close();
    }
  }

  it("tells another function's failure of the dumped kind (review10.6) when it is the back-off's first failure", () => {
    inStorm((diag, first) => {
      const other = diag.report(attempt(authorize, 1), { phase: 'app' });
      expect(other.repeat).toBe(false);
      expect(other.dump).not.toBe(first);
      expect(other.dump.frames[0]!.function).toBe('authorize');
      expect(diag.capturer.pausingNow).toBe(true);
      expect(diag.report(attempt(authorize, 2), { phase: 'app' }).dump.captured).toBe(true);
    });
  });

  it("counts another function's failure of the dumped kind as a repeat until the back-off's checkEvery-th failure, which tells it (review10.6's limit)", () => {
    inStorm((diag, first) => {
      expect(repeats(diag, 1)).toEqual([first]); // the first: told by its stack, charge's
      expect(repeats(diag, 3, authorize)).toEqual([first, first, first]);
      const told = diag.report(attempt(authorize, 4), { phase: 'app' });
      expect(told.repeat).toBe(false);
      expect(told.dump.frames[0]!.function).toBe('authorize');
      expect(diag.capturer.pausingNow).toBe(true);
    });
  });
});
