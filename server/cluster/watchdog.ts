// The cluster primary's watch on its workers: every second, a booted worker that missed its
// check-ins for workerTimeout and one still booting after workerBootTimeout are killed (a
// primary that did not run moves those deadlines by as long instead); a worker taking a heap
// snapshot for a DevTools client is spared while it reports progress; a worker told to stop is
// killed after workerShutdownTimeout. Each kill has its line (what the worker was serving at its
// last check-in) and, with DevTools, an autopsy of its stack first.
import type { Logger } from 'pino';
import { TspumaError } from '../errors.js';
import type { Options } from '../options.js';
import { unref, type Clock, type TimerHandle } from './clock.js';
import type { WorkerHandle } from './worker-handle.js';
import type { ClientWorkReport } from '../own-work.js';

/** A heap snapshot may report no progress for this long (or workerTimeout, if longer) before it counts as a hang. */
export const SNAPSHOT_QUIET_S = 60;
/** How often the primary checks its workers' check-ins and boots. */
const HEALTH_EVERY_MS = 1000;
/** A gap between two checks longer than this means the primary itself was stopped. */
const STALLED_MS = 5 * HEALTH_EVERY_MS;

/** What the watch needs of the primary. */
export interface WatchdogHost {
  readonly options: Options;
  readonly log: Logger;
  /** The current worker of each index: the ones whose deadlines are checked. */
  readonly current: ReadonlyMap<number, WorkerHandle>;
  /** Workers being replaced or stopped (a heap snapshot may be taken of one). */
  readonly old: ReadonlySet<WorkerHandle>;
  /**
   * DevTools' autopsy (--inspect or -d), else null: pauses a worker about to be killed and writes
   * its `[hang]` dump; settles (never rejects) within workerAutopsyTimeout, or is null.
   */
  readonly devtools: { autopsy(h: WorkerHandle, why: TspumaError): Promise<unknown> | null } | null;
}

/** What an autopsy's dump says of a worker a DevTools client holds paused ("it is paused in a debugger (…)"), or null. */
function pausedIn(dump: unknown): string | null {
  const message = (dump as { error?: { message?: unknown } } | null)?.error?.message;
  const m = typeof message === 'string' ? /is paused in a debugger \(a DevTools client holds it, reason "[^"]*"\)/.exec(message) : null;
  return m ? `it ${m[0]}` : null;
}

export class Watchdog {
  private timer: TimerHandle | null = null;
  /** When the check last ran: a longer gap means the primary itself did not run. */
  private lastCheck = 0;

  constructor(
    private readonly host: WatchdogHost,
    private readonly clock: Clock,
  ) {}

  /** Starts the checks (the first workers were forked). */
  start(): void {
    this.lastCheck = this.clock.now();
    this.timer = unref(this.clock.setInterval(() => this.check(), HEALTH_EVERY_MS));
  }

  /** Stops the checks (the primary stops); a stop already under way still escalates to its kill. */
  stop(): void {
    if (this.timer !== null) this.clock.clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * A graceful stop within workerShutdownTimeout; a worker still running then is killed, and the
   * log says so with what it was serving, after its autopsy as at workerTimeout.
   */
  term(h: WorkerHandle): Promise<unknown> {
    const seconds = this.host.options.workerShutdownTimeout;
    return h.term(seconds * 1000, () => {
      const err = new TspumaError('TSPUMA_ERR_WORKER_SHUTDOWN_TIMEOUT', { index: h.index, pid: h.pid, seconds });
      const autopsy = this.host.devtools?.autopsy(h, err) ?? null;
      if (!autopsy) return void this.killLine(h, err, { workerShutdownTimeout: seconds });
      // After its autopsy (bounded by workerAutopsyTimeout), so the kill line can say what the
      // autopsy found: a worker a DevTools client holds paused is not hung (T9).
      return autopsy.then(
        (dump) => this.killLine(h, err, { workerShutdownTimeout: seconds }, pausedIn(dump)),
        () => this.killLine(h, err, { workerShutdownTimeout: seconds }),
      );
    });
  }

  /**
   * The line before a worker is killed for `err`: what it was doing at its last check-in (sent at
   * least once a second as requests enter the app, at most 4 times a second: the request that
   * stuck it, even when no autopsy can pause it), and without DevTools how to get an autopsy.
   */
  private killLine(h: WorkerHandle, err: TspumaError, fields: Record<string, unknown>, paused: string | null = null): void {
    const news = h.lastNews(this.clock.now());
    const hint = this.host.devtools ? '' : '; start with --inspect (or -d) for an autopsy of its stack before the kill';
    const level = err.code === 'TSPUMA_ERR_WORKER_TIMEOUT' ? 'error' : 'warn';
    const prefix = err.code === 'TSPUMA_ERR_WORKER_TIMEOUT' ? '' : '- ';
    this.host.log[level]({ worker: h.index, workerPid: h.pid, code: err.code, ...fields, ...(paused ? { pausedInDebugger: true } : {}), inFlight: h.lastStatus?.in_flight ?? [] }, `${prefix}${err.message}${paused ? `; ${paused}` : ''}${news ? `; ${news}` : ''}${hint}`);
  }

  private check(): void {
    const now = this.clock.now();
    const gap = now - this.lastCheck;
    this.lastCheck = now;
    if (gap > STALLED_MS) {
      // The primary itself did not run (paused in a debugger, the process suspended): the
      // workers' check-ins waited in the IPC channel, so their deadlines move by the gap rather
      // than healthy workers being killed for the primary's pause.
      for (const h of this.host.current.values()) {
        if (h.lastCheckin) h.lastCheckin = new Date(h.lastCheckin.getTime() + gap);
        h.startedAt = new Date(h.startedAt.getTime() + gap);
      }
      this.host.log.warn({ seconds: Math.round(gap / 100) / 10 }, `The primary did not run for ${Math.round(gap / 100) / 10} s (paused in a debugger, or the process was suspended): worker check-in and boot deadlines move by as much`);
      return;
    }
    for (const h of this.host.current.values()) {
      if (h.stopping || h.exited) continue;
      if (h.booted && now - h.lastCheckin!.getTime() > this.host.options.workerTimeout * 1000 && !this.inSnapshot(h, now)) {
        const err = new TspumaError('TSPUMA_ERR_WORKER_TIMEOUT', { index: h.index, pid: h.pid, seconds: this.host.options.workerTimeout });
        this.killLine(h, err, {});
        h.stopping = true;
        const autopsy = this.host.devtools?.autopsy(h, err) ?? null;
        if (autopsy) {
          void autopsy.then(
            (dump) => {
              if ((dump as { error?: { name?: string } } | null)?.error?.name !== 'WorkerPausedInDebugger') return h.kill();
              // A DevTools client holds it paused: not hung. Its deadline starts again from now.
              h.stopping = false;
              h.lastCheckin = new Date(this.clock.now());
              this.host.log.warn({ worker: h.index, workerPid: h.pid }, `Worker ${h.index} (PID: ${h.pid}) is paused in a debugger (a DevTools client holds it): not killed; resume it in DevTools`);
            },
            () => h.kill(),
          );
        } else h.kill();
      } else if (!h.booted && now - h.startedAt.getTime() > this.host.options.workerBootTimeout * 1000) {
        this.host.log.error({ worker: h.index, workerPid: h.pid }, `Worker ${h.index} (PID: ${h.pid}) failed to boot within ${this.host.options.workerBootTimeout} seconds; terminating it`);
        h.bootError ??= { code: null, message: `it did not boot within workerBootTimeout (${this.host.options.workerBootTimeout} s)` };
        h.kill();
      }
    }
  }

  /**
   * A heap snapshot holds a worker's thread for as long as it takes (minutes for a heap of a few
   * GiB): while its inspector reports progress, its missed check-ins are not counted. V8 reports
   * nothing during the garbage collections that start a snapshot (seconds on a large heap or a
   * loaded machine), so the silence allowed is workerTimeout or SNAPSHOT_QUIET_S, whichever is
   * longer. A snapshot silent for longer is a hang like any other.
   */
  private inSnapshot(h: WorkerHandle, now: number): boolean {
    return h.snapshot !== null && now - h.snapshot.progressAt <= Math.max(this.host.options.workerTimeout, SNAPSHOT_QUIET_S) * 1000;
  }

  /**
   * Discovery's proxy saw a client have worker process `pid` do work its blocked-loop warning
   * names (a heap snapshot, a long evaluation): the worker is told, and reads it once its loop is back.
   */
  clientWork(pid: number, work: ClientWorkReport): void {
    const h = this.live(pid);
    h?.send({ tspuma: 1, type: 'client-work', work });
  }

  /** The running worker (current, or old during a restart) whose process is `pid`. */
  private live(pid: number): WorkerHandle | undefined {
    return [...this.host.current.values(), ...this.host.old].find((x) => x.pid === pid && !x.exited);
  }

  /** Discovery's proxy saw a client's heap snapshot of worker process `pid` begin, go on, or end. */
  snapshotReport(pid: number, state: 'start' | 'progress' | 'end'): void {
    const h = this.live(pid);
    if (!h) return;
    const now = this.clock.now();
    if (state === 'start') {
      h.snapshot = { since: now, progressAt: now };
      this.host.log.info({ worker: h.index, workerPid: h.pid }, `Worker ${h.index} (PID: ${h.pid}) is taking a heap snapshot for a DevTools client: its missed check-ins are not counted while it reports progress (it serves no request until the snapshot is written)`);
      return;
    }
    if (h.snapshot === null) return;
    if (state === 'progress') {
      h.snapshot.progressAt = now;
      return;
    }
    const seconds = ((now - h.snapshot.since) / 1000).toFixed(1);
    h.snapshot = null;
    // Its deadline starts again now: its first check-in after the snapshot is on its way.
    if (h.lastCheckin) h.lastCheckin = new Date(Math.max(h.lastCheckin.getTime(), now));
    this.host.log.info({ worker: h.index, workerPid: h.pid, seconds: Number(seconds) }, `Worker ${h.index} (PID: ${h.pid}) finished its heap snapshot after ${seconds} s; its check-ins count again`);
  }
}
