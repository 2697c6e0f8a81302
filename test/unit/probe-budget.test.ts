// The pause budget (inspector/probe-budget.ts) on injected clocks, and once on this process's
// real CPU clock: what a pause is charged, which probe is suspended, and when.
import { describe, expect, it } from 'vitest';
import { PauseBudget, processMeter, tenthUp, type PauseMeter } from '../../inspector/probe-budget.js';

/** Clocks that move only when told. */
/** Clocks that move only when told; `known: false`, a platform where the thread's own figures cannot be read. */
function clocks(known = true): PauseMeter & { pass(wallMs: number, cpuMs: number, waitedMs?: number, threadMs?: number): void } {
  let wall = 10_000;
  let cpu = 500;
  let thread = 300;
  let waited = 40;
  return {
    wall: () => wall,
    cpu: () => cpu,
    thread: () => (known ? thread : null),
    waited: () => (known ? waited : 0),
    pass(wallMs, cpuMs, waitedMs = 0, threadMs = cpuMs) {
      wall += wallMs;
      cpu += cpuMs;
      waited += waitedMs;
      thread += threadMs;
    },
  };
}

const live = () => true;

describe('the probe pause budget', () => {
  it('a 213 ms pause in which the process ran 5 ms of CPU (descheduled on a loaded machine) does not suspend a probe under the default 200 ms budget', () => {
    const m = clocks();
    const budget = new PauseBudget<string>(200, m);
    const mark = budget.mark();
    m.pass(213, 5, 200);
    expect(budget.spend(mark, ['logpoint'], live)).toBeNull();
    // Where the thread's figures are not known, the process's CPU time bounds the charge.
    const other = clocks(false);
    const elsewhere = new PauseBudget<string>(200, other);
    const unknown = elsewhere.mark();
    other.pass(213, 5);
    expect(elsewhere.spend(unknown, ['logpoint'], live)).toBeNull();
    // Nor do the ordinary 1 ms hits that follow it in the same second.
    for (let i = 0; i < 50; i++) {
      const hit = budget.mark();
      m.pass(1, 1);
      expect(budget.spend(hit, ['logpoint'], live)).toBeNull();
    }
  });

  it('pauses that keep the CPU busy past the budget within one second suspend the probe that took most of it, with the window\'s figures', () => {
    const m = clocks();
    const budget = new PauseBudget<string>(200, m);
    const results = [];
    for (let i = 0; i < 21; i++) {
      const snap = budget.mark();
      m.pass(9, 9);
      results.push(budget.spend(snap, ['snapshot'], live));
      const log = budget.mark();
      m.pass(1, 1);
      results.push(budget.spend(log, ['logpoint'], live));
    }
    const over = results.filter((r) => r !== null);
    // Twenty rounds fill the budget exactly (200 ms); the 21st snapshot goes over it.
    expect(over).toEqual([{ probe: 'snapshot', spent: 209, share: 189 }]);
  });

  it('a pause is charged the CPU time its thread ran: not the time it waited, blocked, for the resumer thread, nor what the process\'s other threads ran', () => {
    const m = clocks();
    const budget = new PauseBudget<string>(200, m);
    const mark = budget.mark();
    // 2 ms of wall time: 0.4 ms of the thread's work, the rest blocked on the resume; the resumer and a GC thread ran 1.5 ms.
    m.pass(2, 1.9, 0, 0.4);
    expect(budget.charge(mark)).toBeCloseTo(0.4, 6);
    // A logpoint at its rate limit so (100 such pauses a second) stays far within the budget.
    for (let i = 0; i < 300; i++) {
      const hit = budget.mark();
      m.pass(2, 1.9, 0, 0.4);
      expect(budget.spend(hit, ['logpoint'], live)).toBeNull();
      m.pass(8, 1, 0, 1);
    }
    // Where the thread's figures are not known: at most the wall time, however much CPU the process used.
    const other = clocks(false);
    const elsewhere = new PauseBudget<string>(200, other);
    const at = elsewhere.mark();
    other.pass(150, 290);
    expect(elsewhere.charge(at)).toBe(150);
  });

  it('on a machine loaded five times over, a probe holding the thread for most of its turns on the CPU is suspended within one second of the thread\'s own time', () => {
    const m = clocks();
    const budget = new PauseBudget<string>(200, m);
    let over = null;
    let pauses = 0;
    // Each pause: 1 ms of work, 4 ms waiting for a CPU; between pauses, 0.2 ms of the app's, 0.8 ms waiting.
    while (over === null && pauses < 1000) {
      const mark = budget.mark();
      m.pass(5, 1, 4);
      over = budget.spend(mark, ['hot'], live);
      m.pass(1, 0.2, 0.8);
      pauses++;
    }
    // 201 pauses: about one second of wall time, a fifth of a second of the thread's own.
    expect(pauses).toBe(201);
    expect(over).toEqual({ probe: 'hot', spent: 201, share: 201 });
  });

  it('a window starts over after one second: 150 ms of pauses a second for three seconds is never suspended', () => {
    const m = clocks();
    const budget = new PauseBudget<string>(200, m);
    for (let second = 0; second < 3; second++) {
      for (let i = 0; i < 15; i++) {
        const mark = budget.mark();
        m.pass(10, 10);
        expect(budget.spend(mark, ['p'], live)).toBeNull();
      }
      m.pass(1000 - 150, 0);
    }
  });

  it('a window that crosses the budget by less than 0.05 ms reads over it: the overrun is rounded up, never down to the budget (tests16.1)', () => {
    const m = clocks();
    const budget = new PauseBudget<string>(200, m);
    let over = null;
    let pauses = 0;
    // Pauses of 2.0004 ms: the 100th takes the window to 200.04 ms, past the 200 ms budget.
    while (over === null && pauses < 200) {
      const mark = budget.mark();
      m.pass(2.0004, 2.0004);
      over = budget.spend(mark, ['hot'], live);
      pauses++;
    }
    expect(pauses).toBe(100);
    // probes.ts's line: "probes kept it paused 200.1 ms within one second, 200.1 ms of it for this one".
    expect(over).toEqual({ probe: 'hot', spent: 200.1, share: 200.1 });
    // A figure whose tenths round to a whole number in floating point (200 plus one ulp) still reads over.
    expect(tenthUp(200 + 2 ** -45)).toBe(200.1);
    expect(tenthUp(209)).toBe(209);
  });

  it('a probe already suspended or removed is not picked again: the next live one with the largest share is', () => {
    const m = clocks();
    const budget = new PauseBudget<string>(100, m);
    const a = budget.mark();
    m.pass(80, 80);
    expect(budget.spend(a, ['gone'], live)).toBeNull();
    const b = budget.mark();
    m.pass(30, 30);
    expect(budget.spend(b, ['kept'], (p) => p !== 'gone')).toEqual({ probe: 'kept', spent: 110, share: 30 });
  });

  it('on this process\'s real clocks, a hot loop of pauses each burning 2 ms of CPU is suspended within the budget\'s worth of them', () => {
    const budget = new PauseBudget<string>(200, processMeter);
    let pauses = 0;
    let over = null;
    // Bounded: 200 ms of CPU needs about 101 such pauses; a busy machine slows each, it does not lower what is charged.
    const deadline = Date.now() + 60_000;
    while (over === null && pauses < 500 && Date.now() < deadline) {
      const mark = budget.mark();
      // 2 ms of this thread's CPU (the process's, where the thread's is not known): the handler's work.
      const ran = () => processMeter.thread() ?? processMeter.cpu();
      const start = ran();
      while (ran() - start < 2) {
        /* busy */
      }
      pauses++;
      over = budget.spend(mark, ['hot'], live);
      // A descheduled stretch can split the 101 pauses over two windows: the test fails only if none ever suspends.
    }
    expect(over).toMatchObject({ probe: 'hot' });
    // Over the budget, as the overrun reports it: rounded up to 0.1 ms, so a window that crossed
    // 200 ms by less than 0.05 reads 200.1 (session 14's FORKS=6 run failed `expected 200 to be
    // greater than 200` when it was rounded to nearest: tests16.1).
    expect(over!.spent).toBeGreaterThan(200);
  });
});
