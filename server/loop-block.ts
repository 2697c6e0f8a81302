// Blocked event loops: a request that keeps the thread for seconds (a regex backtracking, a large
// JSON.parse, a sync crypto or fs call) holds every other request of the process behind it, and
// nothing else would say so. A timer that should fire every few hundred milliseconds measures how
// late it comes; a lateness over loopBlockedWarning is one warning (TSPUMA_ERR_LOOP_BLOCKED) naming
// the request that ran as the loop came back, the CPU the process used meanwhile (computing, or
// waiting in a sync call), and how many requests waited; later blocks within the fold interval are
// counted into the next line. tspuma's own work in the block's span (own-work.ts: probes set,
// removed or read), a debugger's pause there, or a DevTools client's heap snapshot or evaluation, is named
// instead. The count and the longest block go to the stats (ctl stats). Every tick's lateness is
// also the event-loop delay a debug-mode dump reports (loopLateness), so -d needs no timer of its own.
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { TspumaError } from './errors.js';
import { mainThreadFigures, type ThreadFigures } from './thread-clock.js';
import { kLoopTurn, WORKER_INDEX_ENV } from './shared-names.js';
import { DUMP_WORK, ownWorkBetween, type ClientWork } from './own-work.js';

/** What the watch asks of the server at a block. R: a request as the server keeps it. */
export interface LoopBlockDeps<R> {
  readonly log: Logger;
  /** Seconds; 0: no watch. */
  readonly thresholdSeconds: number;
  /** Requests running in the app now, described, oldest first. */
  inApp(): { text: string; ms: number }[];
  /** `GET /search?q=… (request ID)`: only made when a block is reported. */
  describe(request: R): string;
  /** The main thread's [ran, waited for a CPU] ms (thread-clock.ts; tests inject). */
  thread?: () => ThreadFigures | null;
  /**
   * Runs a block's report (at once by default). A process with an inspector lets it wait a moment:
   * it hears of a DevTools client's heap snapshot or long evaluation from the primary over IPC (a cluster worker) or
   * from discovery's thread (single mode), and reads either only once its loop is back, after this
   * timer's first run (own-work.ts clientWorkTold).
   */
  settle?: (report: () => void) => void;
}

/** With an inspector, a block's report waits this long for the word of a client's work. */
export const SETTLE_MS = 250;

/** What a process with an inspector passes as LoopBlockDeps.settle. */
export function settleShortly(report: () => void): void {
  setTimeout(report, SETTLE_MS).unref();
}

/**
 * Requests remembered as they end (the one that blocked has ended by the time the timer runs), only
 * those that ended late enough to be a block's culprit (ended()).
 */
const RECENT = 8;
/** At most one warning line per this long; the blocks between are counted into the next. */
const FOLD_MS = 10_000;

export interface LoopBlockStats {
  count: number;
  longest_ms: number;
}

/** `worker 1 (PID 123)` in a cluster worker, `this process (PID 123)` in single mode. */
function loopName(): string {
  const index = process.env[WORKER_INDEX_ENV];
  return index !== undefined ? `worker ${index} (PID ${process.pid})` : `this process (PID ${process.pid})`;
}

/** The event loop's lateness as the watch saw it: p50 and max in ms (0.1 ms), since it started. */
export interface LoopLateness {
  p50: number;
  max: number;
}

/** The watch last started in this process (a server's), whose ticks loopLateness reads. */
let running: LoopBlockWatch<unknown> | null = null;

/**
 * The lateness of the running watch's ticks (a dump's `process.eventLoopDelayMs`): null with no
 * watch (loopBlockedWarning 0, a primary, before the server starts) or before its first tick.
 * It replaced debug mode's own monitorEventLoopDelay({ resolution: 20 }), a native timer waking an
 * idle -d process 50 times a second for this one figure (tests16.2).
 */
export function loopLateness(): LoopLateness | null {
  const h = running?.lateness;
  if (!h || h.count === 0) return null;
  return { p50: tenths(h.percentile(50)), max: tenths(h.max) };
}

/** µs recorded -> ms to 0.1. */
const tenths = (us: number) => Math.round(us / 100) / 10;

export class LoopBlockWatch<R> {
  private readonly thresholdMs: number;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  private last = 0;
  private cpu = process.cpuUsage();
  private readonly threadFigures: () => ThreadFigures | null;
  private readonly settle: (report: () => void) => void;
  private thread: ThreadFigures | null = null;
  /** The last RECENT requests to end late (ended()), and when (performance.now()): no allocation per request. */
  private readonly recent: (R | null)[] = new Array<R | null>(RECENT).fill(null);
  private readonly recentAt = new Float64Array(RECENT);
  private next = 0;
  /** Requests put in `recent` since the last tick emptied it. */
  private kept = 0;
  /** How long after the timer's last run a request must end to be the culprit of a block (ended()). */
  private readonly culpritAfterMs: number;
  private count = 0;
  private longestMs = 0;
  private lastLineAt = -Infinity;
  private folded = 0;
  private foldedLongestMs = 0;
  /** Each tick's lateness in µs (at least 1: the histogram's floor), since start (loopLateness). */
  readonly lateness: RecordableHistogram = createHistogram();

  constructor(private readonly d: LoopBlockDeps<R>) {
    this.thresholdMs = d.thresholdSeconds * 1000;
    // A quarter of the threshold, within 20..250 ms: a block is measured to within that.
    this.intervalMs = Math.max(20, Math.min(250, Math.floor(this.thresholdMs / 4)));
    this.culpritAfterMs = this.intervalMs + this.thresholdMs / 2;
    this.threadFigures = d.thread ?? mainThreadFigures;
    this.settle = d.settle ?? ((report) => report());
  }

  start(): void {
    if (this.timer || this.thresholdMs <= 0) return;
    this.last = performance.now();
    this.cpu = process.cpuUsage();
    this.thread = this.threadFigures();
    this.timer = setInterval(() => this.tick(performance.now()), this.intervalMs);
    this.timer.unref();
    (globalThis as Record<symbol, unknown>)[kLoopTurn] = this.sinceTurn;
    this.lateness.reset();
    running = this as LoopBlockWatch<unknown>;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const g = globalThis as Record<symbol, unknown>;
    if (g[kLoopTurn] === this.sinceTurn) delete g[kLoopTurn];
    if (running === (this as LoopBlockWatch<unknown>)) running = null;
    this.recent.fill(null);
  }

  /**
   * A request's response closed (request-lifecycle.ts's finished()). A block is reported at the
   * timer's next run, at least thresholdMs late, and blames the first request to end at least half
   * of its lateness after the timer was due (report()): one that ends sooner after the timer's last
   * run can never be blamed, and is not kept. Keeping every request until RECENT more had ended
   * kept the objects of the last eight (request, response, headers) alive through each
   * young-generation collection: 17 KB survived each scavenge instead of 0.3 KB, and V8 grows the
   * young generation by what survives (bench/README.md, issue 27's ninth round).
   */
  ended(request: R, at: number): void {
    if (at - this.last < this.culpritAfterMs) return;
    this.recent[this.next] = request;
    this.recentAt[this.next] = at;
    this.next = (this.next + 1) % RECENT;
    this.kept++;
  }

  stats(): LoopBlockStats {
    return { count: this.count, longest_ms: Math.round(this.longestMs) };
  }

  /**
   * Ms since the timer last ran: at most about intervalMs while the loop turns, however idle; the
   * length of the block so far while something holds the thread (kLoopTurn, read by a live stack).
   */
  readonly sinceTurn = (): number => performance.now() - this.last;

  /** The timer ran at `now`: a lateness over the threshold is a block. Exposed for tests. */
  tick(now: number): void {
    this.measure(now);
    // Kept only for this run's report: none of them can be blamed for a later block.
    if (this.kept > 0) {
      this.recent.fill(null);
      this.kept = 0;
    }
  }

  private measure(now: number): void {
    const since = this.last;
    this.last = now;
    const cpu = process.cpuUsage();
    const cpuMs = (cpu.user - this.cpu.user + cpu.system - this.cpu.system) / 1000;
    this.cpu = cpu;
    // The thread's own figures (a pread of /proc, a few µs, every interval): ran and waited for a CPU.
    const thread = this.threadFigures();
    const start = this.thread;
    this.thread = thread;
    // It started at `since` or later and lasted at least this long: nothing ran meanwhile.
    const blockedMs = now - since - this.intervalMs;
    this.lateness.record(Math.max(1, Math.round(blockedMs * 1000)));
    if (blockedMs < this.thresholdMs) {
      if (this.folded > 0 && now - this.lastLineAt >= FOLD_MS) this.flushFolded(now);
      return;
    }
    this.count++;
    if (blockedMs > this.longestMs) this.longestMs = blockedMs;
    if (now - this.lastLineAt < FOLD_MS) {
      this.folded++;
      this.foldedLongestMs = Math.max(this.foldedLongestMs, blockedMs);
      return;
    }
    try {
      const spent = thread !== null && start !== null ? { ran: thread[0] - start[0], waited: thread[1] - start[1] } : null;
      this.report(blockedMs, since, since + this.intervalMs + blockedMs / 2, cpuMs, spent, now);
    } catch (err) {
      this.d.log.debug({ err }, 'the blocked-loop warning could not be written');
    }
  }

  /** The blocks counted since the last line, once FOLD_MS has passed without another. */
  private flushFolded(now: number): void {
    const seconds = ((now - this.lastLineAt) / 1000).toFixed(0);
    const where = loopName();
    this.d.log.warn({ code: 'TSPUMA_ERR_LOOP_BLOCKED', folded: this.folded, seconds: Number((this.foldedLongestMs / 1000).toFixed(1)) }, `The event loop of ${where} was blocked ${this.folded} more time(s) over loopBlockedWarning in the ${seconds} s after the line above, the longest ${(this.foldedLongestMs / 1000).toFixed(1)} s (folded: one line per 10 s)`);
    this.lastLineAt = now;
    this.folded = 0;
    this.foldedLongestMs = 0;
  }

  /**
   * `after`: the block began by the timer's due time (since + interval) and ended at least half
   * its measure later; a request that ended before that ended before it began (nothing ran during
   * it). The first to end after it is the request whose code ran.
   */
  private report(blockedMs: number, since: number, after: number, cpuMs: number, thread: { ran: number; waited: number } | null, now: number): void {
    this.lastLineAt = now;
    let culprit = -1;
    for (let i = 0; i < RECENT; i++) if (this.recent[i] !== null && this.recentAt[i]! >= after && (culprit === -1 || this.recentAt[i]! < this.recentAt[culprit]!)) culprit = i;
    const ended = culprit === -1 ? null : this.d.describe(this.recent[culprit]!);
    const inApp = this.d.inApp();
    // What other processes saw during the block may come after it (settle): read then.
    this.settle(() => {
      try {
        this.write(blockedMs, since, now, cpuMs, thread, ended, inApp);
      } catch (err) {
        this.d.log.debug({ err }, 'the blocked-loop warning could not be written');
      }
    });
  }

  private write(blockedMs: number, since: number, now: number, cpuMs: number, thread: { ran: number; waited: number } | null, ended: string | null, inApp: { text: string; ms: number }[]): void {
    const s = (ms: number) => (ms / 1000).toFixed(1);
    let during: string;
    let waited = inApp.length;
    // tspuma's own work (a probe set or removed, a probe hit read) that ran in the block's span held
    // the loop, whatever request ended as it came back.
    const { own, debugger: held, client, heap, dumpMs } = ownWorkBetween(since, now);
    // A probe's own pause is one -d's session did not ask for either: tspuma's work names it first.
    if (own.length > 0) during = `; tspuma's own work ran then, not the app's code: ${own.join(', ')}`;
    // Debug mode's work on a failure, when it was most of the block (own-work.ts dumpWorkRan).
    else if (dumpMs >= blockedMs / 2) during = `; tspuma's own work ran then, not the app's code: ${DUMP_WORK}${ended !== null ? `; ${ended} ended as the loop came back` : ''}`;
    // What a client had this thread do (a snapshot walks the heap): the request that ended after it only waited.
    else if (client.length > 0) during = `; ${client.map((w) => CLIENT_WORK[w]).join(', and ')}, not the app's code`;
    // V8's break at the heap limit (-d's session, a probe's) is no debugger's: the app filled the heap.
    else if (heap) during = `; ${HEAP_LIMIT}${ended !== null ? `; it ended with ${ended}, answered as the loop came back` : ''}`;
    else if (held) during = `; a debugger held it paused then (DevTools, tspuma inspect stack or a debugger statement), not the app's code`;
    else if (ended !== null) during = `; it ended with ${ended}, answered as the loop came back`;
    else if (inApp.length > 0) {
      // Still in the app: the one that ran is among them (oldest first).
      during = `; in the app then: ${inApp.slice(0, 3).map((r) => `${r.text} (in the app ${s(r.ms)} s)`).join(', ')}${inApp.length > 3 ? ` and ${inApp.length - 3} more` : ''}`;
      waited = 0;
    } else during = '; no request was in the app (module code, a timer or an event handler of the app ran)';
    const cpu = thread === null ? processVerdict(cpuMs, blockedMs) : threadVerdict(thread.ran, thread.waited, blockedMs);
    const behind = waited > 0 ? `; ${waited} other request(s) in the app waited behind it` : '';
    const err = new TspumaError('TSPUMA_ERR_LOOP_BLOCKED', { loop: loopName(), seconds: s(blockedMs), during, detail: `${cpu}${behind}`, threshold: this.d.thresholdSeconds });
    const figures = thread === null ? {} : { threadRanSeconds: Number(s(thread.ran)), threadWaitedSeconds: Number(s(thread.waited)) };
    this.d.log.warn({ code: err.code, seconds: Number(s(blockedMs)), cpuSeconds: Number(s(cpuMs)), ...figures }, err.message);
  }
}

/** A block in whose span V8 broke at the heap limit (own-work.ts heapLimitReached), in the warning's words. */
const HEAP_LIMIT =
  "the JavaScript heap reached V8's limit then (the app's memory: collecting garbage near the limit holds the loop; with a debugger session enabled, -d's or a probe's, V8 raises the limit rather than end the process, so it grows past --max-old-space-size: DEBUGGING.md, Memory)";

/** What a DevTools client had the thread do (own-work.ts ClientWork), in the warning's words. */
const CLIENT_WORK: Record<ClientWork, string> = {
  'heap snapshot': "a DevTools client was taking a heap snapshot of it then (tspuma inspect heap, or DevTools' Memory panel through discovery)",
  evaluation: "a DevTools client's evaluation ran then (its console, a watch expression or a snippet, through discovery)",
};

const sec = (ms: number): string => (ms / 1000).toFixed(1);
const ASLEEP = 'a synchronous call (fs *Sync, execSync, Atomics.wait, a native addon, a console.log to a stdout or stderr pipe its reader stopped draining), a debugger holding it paused, or a stopped process (SIGSTOP)';

/**
 * What the thread did during the block, from its own clocks: it ran (its code computed), it was
 * runnable but got no CPU (a busy host or a container's CPU limit slowed that same code down), or it
 * slept. The first two blame the code that ran; only the third points elsewhere.
 */
export function threadVerdict(ranMs: number, waitedMs: number, blockedMs: number): string {
  const head = `; its thread ran ${sec(ranMs)} s on a CPU meanwhile`;
  if (ranMs >= blockedMs * 0.5) return `${head} (computing: the code that ran held it)`;
  if (ranMs + waitedMs >= blockedMs * 0.5) {
    return `${head} and waited ${sec(waitedMs)} s for one (computing, slowed down by a busy host or the container's CPU limit: the code that ran held it)`;
  }
  return `${head} and waited ${sec(waitedMs)} s for one (asleep the rest: ${ASLEEP})`;
}

/** The same off Linux, from the process's CPU time (all its threads), which cannot tell waiting for a CPU from sleeping. */
function processVerdict(cpuMs: number, blockedMs: number): string {
  const spent = cpuMs >= blockedMs * 0.5 ? 'computing' : `mostly waiting, not computing: ${ASLEEP}, or a machine that did not schedule it`;
  return `; the process used ${sec(cpuMs)} s of CPU meanwhile (${spent})`;
}
