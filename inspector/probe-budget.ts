// The pause budget (probePauseBudget): what the probes' pauses took from a worker's thread, per
// second of that thread's own time, and which probe to suspend once that is over the budget.
//
// Wall time misjudges a loaded machine. A thread taken off the CPU in the middle of a pause (two
// cores, a load of 6) made one logpoint hit's pause last 213 ms of wall time for a few ms of work,
// and that one outlier spent the whole default budget; and every pause waits, blocked, for the
// probe code's resumer thread (probe-resumer.ts) to carry out its resume, which a loaded machine
// makes a few ms late: a logpoint at its rate limit (100 a second) was charged about 2 ms a hit and
// suspended within two seconds (bench:probes logged 157 lines in 16 s). So a pause is charged the
// CPU time the thread itself ran during it (Linux counts it per thread, with the time it waited,
// runnable, for a CPU: /proc/thread-self/schedstat; the kernel brings the running thread's figure up
// to date at each tick, so one pause's reading is off by up to a tick, which the sum over a window
// evens out). A "second" is a second of the thread's own clock, wall time less that wait: on a
// machine loaded five times over, a probe that holds the thread for most of its turns on the CPU
// uses most of each such second and is suspended, where a second of wall time would give the
// thread only its share of the CPUs. Where the thread's figures cannot be read (not Linux), a pause
// is charged the smaller of its wall time and the process's CPU time meanwhile, per wall second.
// The probe that took most of the window is the one suspended (a long snapshot does not stop a
// logpoint beside it).
import { mainThreadFigures } from '../server/thread-clock.js';

/** Clocks the budget reads, in milliseconds: injected by tests. */
export interface PauseMeter {
  /** Wall time (performance.now()). */
  wall(): number;
  /** CPU time of this process, every thread (process.cpuUsage(): user + system). */
  cpu(): number;
  /** CPU time this thread has run, or null where unknown. */
  thread(): number | null;
  /** Time this thread has waited, runnable, for a CPU (0 where unknown). */
  waited(): number;
}

/** What a pause's start was on each clock. */
export interface PauseMark {
  wall: number;
  cpu: number;
  thread: number | null;
  waited: number;
}

/** Over the budget: the probe to suspend and the figures its warning gives. */
export interface Overrun<P> {
  probe: P;
  /** Charged in the window, in all and for this probe (ms). */
  spent: number;
  share: number;
}

const ownFigures = mainThreadFigures;

/** The process's clocks; the thread's are those of the thread that first reads them (the engine's: the main thread). */
export const processMeter: PauseMeter = {
  wall: () => performance.now(),
  cpu: () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  },
  thread: () => ownFigures()?.[0] ?? null,
  waited: () => ownFigures()?.[1] ?? 0,
};

export class PauseBudget<P> {
  private windowStart = -Infinity;
  private windowMs = 0;
  private readonly share = new Map<P, number>();

  constructor(
    private readonly budgetMs: number,
    private readonly meter: PauseMeter = processMeter,
  ) {}

  /** Call as a pause begins. */
  mark(): PauseMark {
    const thread = this.meter.thread();
    // The process's CPU time is read only where the thread's is not known (charge() uses it then):
    // a compiled logpoint marks every hit it writes, and process.cpuUsage() is a system call.
    return { wall: this.meter.wall(), cpu: thread === null ? this.meter.cpu() : 0, thread, waited: this.meter.waited() };
  }

  /** The budget's clock (ms): wall time less the time this thread waited for a CPU. */
  own(): number {
    return this.meter.wall() - this.meter.waited();
  }

  /**
   * What a pause that began at `mark` and ends now is charged (ms): the CPU time the thread ran
   * meanwhile, else (not known) the smaller of its own time and the process's CPU time; never
   * more than its own time.
   */
  charge(mark: PauseMark): number {
    const own = this.own() - (mark.wall - mark.waited);
    const thread = this.meter.thread();
    const ran = thread !== null && mark.thread !== null ? thread - mark.thread : this.meter.cpu() - mark.cpu;
    return Math.max(0, Math.min(own, ran));
  }

  /**
   * Charges a pause that began at `mark` and ended now to the probes it was for; past the budget,
   * the live probe (`live`) with the largest share of the window, if any, and the window starts over.
   */
  spend(mark: PauseMark, probes: readonly P[], live: (p: P) => boolean): Overrun<P> | null {
    const ms = this.charge(mark);
    const now = this.own();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowMs = 0;
      this.share.clear();
    }
    this.windowMs += ms;
    const unique = new Set(probes);
    for (const p of unique) this.share.set(p, (this.share.get(p) ?? 0) + ms / probes.length);
    if (this.windowMs <= this.budgetMs) return null;
    const spent = tenthUp(this.windowMs);
    let most: P | null = null;
    for (const [p, s] of this.share) if (live(p) && (most === null || s > this.share.get(most)!)) most = p;
    const overrun = most === null ? null : { probe: most, spent, share: tenthUp(this.share.get(most)!) };
    this.windowMs = 0;
    this.share.clear();
    return overrun;
  }
}

/**
 * ms rounded up to 0.1 ms, for the figures a suspension gives: a window past the budget never
 * reads as within it (200.04 ms read "200 ms" against a 200 ms budget when rounded to nearest).
 */
export function tenthUp(ms: number): number {
  const tenths = Math.ceil(ms * 10);
  // ms * 10 can round down to a whole number in floating point (200 plus one ulp): a tenth more then.
  return (tenths / 10 < ms ? tenths + 1 : tenths) / 10;
}
