// The pause budget (probePauseBudget): what the probes' pauses took from a worker, per second of
// the worker's own time, and which probe to suspend once that is over the budget.
//
// Wall time alone misjudges a loaded machine: a thread taken off the CPU in the middle of a pause
// (two cores, a load of 6) made one logpoint hit's pause last 213 ms of wall time for a few ms of
// work, and one such outlier spent the whole default budget. So a pause is charged the time it
// kept the thread busy: its wall time less the time the thread waited, runnable, for a CPU (Linux
// counts that per thread: /proc/thread-self/schedstat), and never more than the CPU time the
// process used meanwhile (process.cpuUsage()). A "second" is one second of the same clock, wall
// time less that wait: on a machine loaded five times over, a probe that holds the thread for most
// of its turns on the CPU still uses most of each such second and is suspended, where a budget
// per second of wall time would charge it only its CPU share. Where the wait cannot be read (not
// Linux), both are wall time, the pause also capped by CPU time. The probe that took most of the
// window is the one suspended (a long snapshot does not stop a logpoint beside it).
import { closeSync, openSync, readSync } from 'node:fs';

/** Clocks the budget reads, in milliseconds: injected by tests. */
export interface PauseMeter {
  /** Wall time (performance.now()). */
  wall(): number;
  /** CPU time of this process, every thread (process.cpuUsage(): user + system). */
  cpu(): number;
  /** Time this thread has waited, runnable, for a CPU since it started (0 where unknown). */
  waited(): number;
}

/** What a pause's start was on each clock. */
export interface PauseMark {
  wall: number;
  cpu: number;
  waited: number;
}

/** Over the budget: the probe to suspend and the figures its warning gives. */
export interface Overrun<P> {
  probe: P;
  /** Charged in the window, in all and for this probe (ms). */
  spent: number;
  share: number;
}

/** The calling thread's run-queue wait (ns, the second field of schedstat), or null off Linux. */
function runQueueReader(): (() => number) | null {
  let fd: number;
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return null;
  }
  const buf = Buffer.alloc(96);
  const read = (): number | null => {
    try {
      const text = buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0));
      const waited = Number(text.split(' ')[1]);
      return Number.isFinite(waited) ? waited / 1e6 : null;
    } catch {
      return null;
    }
  };
  if (read() === null) {
    closeSync(fd);
    return null;
  }
  // Opened once, per process: the engine reads it on its own (main) thread only.
  return () => read() ?? 0;
}

let waitedReader: (() => number) | null | undefined;

/** The process's clocks; the wait is the thread's that first reads it (the engine's: the main thread). */
export const processMeter: PauseMeter = {
  wall: () => performance.now(),
  cpu: () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  },
  waited: () => {
    if (waitedReader === undefined) waitedReader = runQueueReader();
    return waitedReader === null ? 0 : waitedReader();
  },
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
    return { wall: this.meter.wall(), cpu: this.meter.cpu(), waited: this.meter.waited() };
  }

  /** The budget's clock (ms): wall time less the time this thread waited for a CPU. */
  own(): number {
    return this.meter.wall() - this.meter.waited();
  }

  /** What a pause that began at `mark` and ends now is charged (ms): its own time, at most the CPU time used meanwhile. */
  charge(mark: PauseMark): number {
    const own = this.own() - (mark.wall - mark.waited);
    return Math.max(0, Math.min(own, this.meter.cpu() - mark.cpu));
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
    const spent = round(this.windowMs);
    let most: P | null = null;
    for (const [p, s] of this.share) if (live(p) && (most === null || s > this.share.get(most)!)) most = p;
    const overrun = most === null ? null : { probe: most, spent, share: round(this.share.get(most)!) };
    this.windowMs = 0;
    this.share.clear();
    return overrun;
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
