// What the cluster primary does when a worker fails as a process: a fork refused (a coded line
// with what the OS error usually means), a boot that failed (its index respawned after 1 s,
// doubling to 60 s; while no worker has ever booted, given up on after workerBootAttempts in a row),
// and a booted worker's death (a line that says what the signal usually means and what the worker
// last reported). The workers and forking are the primary's (RespawnHost).
import type { Logger } from 'pino';
import { TspumaError } from '../errors.js';
import type { Options } from '../options.js';
import type { Clock, TimerHandle } from './clock.js';
import type { WorkerHandle } from './worker-handle.js';

/** Backoff for a worker index that keeps failing at boot: 1 s doubling to 60 s. */
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 60_000;

/** What a failed fork's OS error usually means, for TSPUMA_ERR_WORKER_FORK. */
const FORK_HINTS: Record<string, string> = {
  EMFILE: 'the primary is out of file descriptors: raise `ulimit -n` (LimitNOFILE=) or find what holds them (ls /proc/PID/fd)',
  ENFILE: 'the system is out of file descriptors (fs.file-max)',
  EAGAIN: 'the user or cgroup is out of processes or threads: raise `ulimit -u` (LimitNPROC=, TasksMax=)',
  ENOMEM: 'not enough memory to start a process: lower the worker count or raise the memory limit',
};

/** What respawning needs of the primary. */
export interface RespawnHost {
  readonly options: Options;
  readonly log: Logger;
  /** The current worker of each index: a backoff's fork happens only if the failed one is still its index's. */
  readonly current: ReadonlyMap<number, WorkerHandle>;
  readonly phase: number;
  readonly stopping: boolean;
  /** Some worker has booted: boot failures no longer end the primary. */
  readonly servingOnce: boolean;
  /** Forks worker `index` at `phase` as the index's current worker. */
  fork(index: number, phase: number): WorkerHandle;
  /** No worker could ever boot: the primary stops with `err` (run.ts exits 1 with it). */
  gaveUp(err: TspumaError): void;
}

/** Why a worker that never booted is gone, as far as the primary knows. */
export function bootFailureOf(h: WorkerHandle): string {
  if (h.bootError) return h.bootError.message;
  if (!h.exited) return 'it did not boot';
  return h.exitSignal ? `it was killed by ${h.exitSignal} before booting` : `it exited with code ${h.exitCode} before booting`;
}

export class Respawn {
  /** Boots failed in a row per worker index, how many of them their workers reported, and the backoff's pending fork. */
  private readonly failures = new Map<number, { count: number; reported: number; timer: TimerHandle | null }>();

  constructor(
    private readonly host: RespawnHost,
    private readonly clock: Clock,
  ) {}

  /**
   * Boots failed in a row that their workers reported, over every index (each worker is forked with
   * it in TSPUMA_WORKER_BOOT_FAILURES: with -d only a worker forked at 0 dumps its boot failure). A
   * worker killed at workerBootTimeout reported nothing: counted, the next one's import error went
   * undumped, and a -d crash loop's give-up named a dump that was never written (tests22.3).
   */
  reportedBootFailures(): number {
    let reported = 0;
    for (const f of this.failures.values()) reported += f.reported;
    return reported;
  }

  /** Worker `index` booted: its count of failed boots starts again. */
  booted(index: number): void {
    this.failures.delete(index);
  }

  /** The primary stops: no backoff's fork will run. */
  stop(): void {
    for (const f of this.failures.values()) if (f.timer !== null) this.clock.clearTimeout(f.timer);
  }

  /** A worker's process could not be started (or failed as a process): a coded line, never its arguments. */
  forkFailed(handle: WorkerHandle, err: unknown): void {
    if (handle.exited || handle.booted) {
      this.host.log.warn({ worker: handle.index, workerPid: handle.pid, osCode: (err as NodeJS.ErrnoException)?.code }, `Worker ${handle.index} (PID: ${handle.pid}): process error ${(err as Error)?.message ?? String(err)}`);
      return;
    }
    const osCode = (err as NodeJS.ErrnoException)?.code ?? 'unknown';
    // Only the code and node's message ("spawn /usr/bin/node EMFILE"): the error's spawnargs hold the command line.
    const coded = new TspumaError('TSPUMA_ERR_WORKER_FORK', { index: handle.index, osCode, message: (err as Error)?.message ?? String(err), hint: FORK_HINTS[osCode] ?? 'see the OS error above' });
    this.host.log.error({ worker: handle.index, code: coded.code, osCode }, coded.message);
    handle.startFailed(coded.code, coded.message);
  }

  /**
   * A current worker never booted: respawn its index with backoff (never a hot crash loop), or,
   * while no worker has ever booted, give up after workerBootAttempts failures in a row (a deploy
   * that cannot boot fails instead of retrying for ever: TSPUMA_ERR_WORKER_BOOT).
   */
  bootFailed(handle: WorkerHandle): void {
    const f = this.failures.get(handle.index) ?? { count: 0, reported: 0, timer: null };
    f.count++;
    if (handle.bootFailureReported) f.reported++;
    this.failures.set(handle.index, f);
    if (!this.host.servingOnce && f.count >= this.host.options.workerBootAttempts) return this.giveUp(handle, f.count);
    const delay = Math.min(BACKOFF_MIN_MS * 2 ** (f.count - 1), BACKOFF_MAX_MS);
    this.host.log.error({ worker: handle.index, failures: f.count, delayMs: delay }, `Worker ${handle.index} failed to boot ${f.count} time(s) in a row; respawning in ${delay / 1000} s`);
    f.timer = this.clock.setTimeout(() => {
      f.timer = null;
      if (!this.host.stopping && this.host.current.get(handle.index) === handle) this.host.fork(handle.index, this.host.phase);
    }, delay);
  }

  /** No worker ever booted and one failed workerBootAttempts times: stop everything; run.ts exits 1 with the error. */
  private giveUp(handle: WorkerHandle, count: number): void {
    const code = handle.bootError?.code ?? null;
    const hint =
      this.host.options.preload || code === 'TSPUMA_ERR_HOOK' || this.host.options.debug
        ? `Fix the error${this.host.options.debug ? " (the worker's dump of it (-d) is above)" : ' above'} and start again; once a worker has booted, failed workers are respawned with backoff instead.`
        : 'Start with --preload to load the app in the primary before forking: an app that cannot load then fails at once, with its own error and stack.';
    const attempts = count === 1 ? 'at its first attempt (workerBootAttempts 1)' : `${count} times in a row`;
    const failure = new TspumaError('TSPUMA_ERR_WORKER_BOOT', { index: handle.index, attempts, reason: bootFailureOf(handle), hint });
    this.host.log.error({ worker: handle.index, workerPid: handle.pid, code: failure.code }, failure.message);
    this.host.gaveUp(failure);
  }

  /** A booted worker the primary did not stop is gone: the line says why as far as the primary can tell; the primary respawns it. */
  died(handle: WorkerHandle, code: number | null, signal: string | null): void {
    // Node aborts (SIGABRT) when the heap is full: its FATAL ERROR line goes to the worker's
    // stderr only, so the line says it (in either of node 20's wordings, which depend on the
    // collection that gave up: T4), with the heap the worker last reported. V8's own fatal errors
    // (V8_Fatal: a failed CHECK, an invalid size) end the process with a trap (SIGTRAP); with a
    // debugger session enabled, V8 pauses at the heap limit, and building that pause's scopes at
    // a function's entry fails a CHECK (node 20, seen in probe-oom.test), so an OOM can end so too.
    const news = handle.lastNews(this.clock.now());
    // A SIGKILL tspuma did not send (it sends one only to a worker it is stopping): the kernel's
    // out-of-memory killer, a container's memory limit, a supervisor or a person (N14).
    const cause =
      signal === 'SIGABRT'
        ? `Node aborts so when the heap limit is reached (out of memory: node's 'FATAL ERROR: Reached heap limit …' or 'FATAL ERROR: Ineffective mark-compacts near heap limit …', both ending 'JavaScript heap out of memory', on the worker's stderr) or on a fatal native error`
        : signal === 'SIGTRAP'
          ? `V8 ends a process so at a fatal error of its own ('# Fatal error in …' on the worker's stderr): 'Fatal JavaScript invalid size error' (an array, string or Map grown past the length V8 allows) or a failed internal check ('# Check failed: …'), as V8's pause at the heap limit can fail while a debugger session is enabled (-d, a probe set): then the worker was out of memory`
          : signal === 'SIGKILL'
            ? `tspuma did not send it; the kernel's out-of-memory killer (\`dmesg\` or \`journalctl -k\` says so), a container's memory limit, a supervisor or a kill -9 did`
            : null;
    const why = [cause, news].filter((part) => part).join('; ');
    this.host.log.error({ worker: handle.index, workerPid: handle.pid, code, signal, ...(news ? { lastNews: news } : {}) }, `Worker ${handle.index} (PID: ${handle.pid}) died (${signal ?? `exit ${code}`}); respawning${why ? `: ${why}` : ''}`);
  }
}
