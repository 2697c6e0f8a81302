// The cluster primary's bookkeeping: binds the listening sockets and keeps them for its whole
// life, forks the workers (each listens on its copies of them: one accept queue per bind,
// cluster/listeners.ts), takes their messages (boot, check-in, inspector, probes), stops them,
// scales them (TTIN, TTOU) and serves stats. Its parts get what they need of it as a host:
// the watch on its workers (watchdog.ts), what follows a worker's failure (respawn.ts) and the
// restarts (restarts.ts). What it does to the world (the fork, the clock, the binding, DevTools,
// the probes) comes in as dependencies (primary-deps.ts).
import type { Logger } from 'pino';
import type { KeptBind } from '../binder.js';
import type { DiagnosticsHook } from '../debug-hook.js';
import { runHooks } from '../hooks.js';
import type { Options } from '../options.js';
import { VERSION } from '../version.js';
import type { Dump } from '../../diagnostics/model.js';
import { TspumaError } from '../errors.js';
import type { Clock } from './clock.js';
import { isWorkerMessage, type WorkerMessage } from './messages.js';
import type { ProbeRegistry } from './probe-registry.js';
import { WORKER_BOOT_FAILURES_ENV, WORKER_PHASE_ENV, WORKER_INDEX_ENV } from '../shared-names.js';
import { WorkerHandle, type ForkedWorker } from './worker-handle.js';
import { workerListeners, type WorkerListeners } from './listeners.js';
import { defaultDeps, noInspectTarget, type DevTools, type PrimaryDeps, type PrimaryEvents } from './primary-deps.js';
import { Restarts, type RestartHost } from './restarts.js';
import { Watchdog, type WatchdogHost } from './watchdog.js';
import { Respawn, bootFailureOf, type RespawnHost } from './respawn.js';
import { excessConnections, movable } from './connection-share.js';

/** A forced stop (a second signal): a worker still running this long after it was told is killed (it exits 1 s after answering). */
export const FORCE_KILL_MS = 3000;

/** The stand-in for a worker whose fork threw: no process, no events. */
const NOT_STARTED: ForkedWorker = {
  process: { pid: undefined, kill: () => false },
  isConnected: () => false,
  send: () => false,
  on: () => undefined,
  once: () => undefined,
};

/** What a control command's --wait allows beyond the timeout that bounds the state it waits for. */
const WAIT_SLACK_S = 10;

export class Primary implements RestartHost, WatchdogHost, RespawnHost {
  // The workers.
  /** The current worker of each index. */
  readonly current = new Map<number, WorkerHandle>();
  /** Workers being replaced or stopped. */
  readonly old = new Set<WorkerHandle>();
  /** The generation new workers are forked with: a restart moves it on (restarts.ts). */
  phase = 0;
  /** How many workers run: the workers option, then TTIN and TTOU. */
  workerCount: number;
  /** The binds' URLs, as the first booted worker reported them. */
  urls: string[] = [];
  readonly startedAt = new Date();

  // Where the primary is in its life.
  /** Some worker has booted (and "serving" was announced): boot failures no longer end the primary. */
  servingOnce = false;
  /** Every worker of the first generation booted (afterBooted ran). */
  private bootedOnce = false;
  stopping = false;
  /** Set when the primary gave up (no worker could boot); run.ts reports it after the stop. */
  failure: TspumaError | null = null;
  private stoppedOnce = false;
  private resolveStopped!: (code: number) => void;
  /** Resolves with the exit code once every worker has exited and afterStopped ran. */
  readonly stopped = new Promise<number>((r) => (this.resolveStopped = r));

  // What it was given.
  private readonly clock: Clock;
  /** DevTools (--inspect or -d), else null. */
  readonly devtools: DevTools | null;
  /** Probes set on the cluster (`tspuma probe`, the control app's /probes): each worker gets them. Null without a control app. */
  readonly probes: ProbeRegistry | null;
  /** Set by run.ts: boot and restart events for sd_notify. */
  events: PrimaryEvents | null = null;
  /** The sockets the primary holds for its life (closed at stop), and what each fork gets of them. */
  private kept: readonly KeptBind[] = [];
  private listeners: WorkerListeners = { stdio: [], env: {} };

  // Its parts, each given this primary as its host.
  /** Check-in and boot deadlines, and stops that escalate to kills. */
  private readonly watchdog: Watchdog;
  /** Fork failures, boot failures (backoff, giving up) and deaths: what each says and what follows. */
  private readonly respawn: Respawn;
  /** Phased and hot restarts, and those asked for while one runs. */
  private readonly restarts = new Restarts(this);

  /** Re-checked on every worker event: the conditions until() waits for. */
  private readonly waiters = new Set<() => void>();
  /** The TypeScript loader the primary last logged for its workers. */
  private tsLoaderSaid: string | null = null;
  /** balanceConnections: when each worker was last told to close connections (primary clock ms). */
  private readonly shedAt = new WeakMap<WorkerHandle, number>();

  constructor(
    readonly options: Options,
    readonly log: Logger,
    private readonly deps: PrimaryDeps = defaultDeps,
    /** Debug mode's hook: hook failures in the primary are dumped through it. */
    readonly diagnostics: DiagnosticsHook | null = null,
  ) {
    this.workerCount = options.workers;
    this.clock = deps.clock;
    this.devtools = deps.devtools ?? null;
    this.watchdog = new Watchdog(this, this.clock);
    this.respawn = new Respawn(this, this.clock);
    if (this.devtools) {
      this.devtools.onSnapshot = (pid, state) => this.watchdog.snapshotReport(pid, state);
      this.devtools.onWork = (pid, work) => this.watchdog.clientWork(pid, work);
    }
    this.probes = deps.probes ?? null;
  }

  /** Binds every bind (coded errors, exit 1), then forks the workers. */
  async start(): Promise<void> {
    const { threads } = this.options;
    this.log.info(`tspuma ${VERSION} starting in cluster mode...`);
    this.log.info(`* Node version: ${process.version}, tspuma version: ${VERSION}`);
    this.log.info(`*  Min threads: ${threads.min}, max threads: ${threads.max} (per worker)`);
    this.log.info(`*  Environment: ${this.options.environment}`);
    this.log.info(`*   Master PID: ${process.pid}`);
    this.log.info(`*      Workers: ${this.workerCount}${this.options.workersAuto ? ` (${this.options.workersAuto})` : ''}`);
    this.kept = await this.deps.bindListeners(this.options, this.log, this.diagnostics);
    this.listeners = workerListeners(this.options.bind, this.kept);
    try {
      await runHooks('beforeFork', this.options.beforeFork, this);
    } catch (err) {
      this.closeListeners();
      throw err;
    }
    for (let i = 0; i < this.workerCount; i++) this.fork(i, this.phase);
    this.watchdog.start();
  }

  /** Forks worker `index` at `phase` as its index's current worker (the one it replaces, still running, joins `old`). */
  fork(index: number, phase: number): WorkerHandle {
    void runHooks('beforeWorkerFork', this.options.beforeWorkerFork, this, [index]);
    const env = { [WORKER_INDEX_ENV]: String(index), [WORKER_PHASE_ENV]: String(phase), [WORKER_BOOT_FAILURES_ENV]: String(this.respawn.reportedBootFailures()) };
    let worker: ForkedWorker;
    let thrown: unknown = null;
    try {
      // With DevTools on, workers open inspectors: Node's attach lines are kept off stderr.
      worker = this.deps.fork({ ...env, ...this.listeners.env }, this.listeners.stdio, this.devtools ? (this.deps.passStderr ?? null) : null);
    } catch (err) {
      // fork/spawn refused synchronously (ENOMEM, say): a worker that never started.
      thrown = err;
      worker = NOT_STARTED;
    }
    const handle = new WorkerHandle(worker, index, phase, this.clock);
    const previous = this.current.get(index);
    if (previous && !previous.exited) this.old.add(previous);
    this.current.set(index, handle);
    // Out of descriptors, processes or memory, node reports the failed spawn as an 'error' (an
    // unhandled one would end the primary and every worker with it): the worker counts as one
    // that exited before booting, so its index respawns with backoff.
    worker.on('error', (err: Error) => this.respawn.forkFailed(handle, err));
    if (thrown !== null) {
      this.respawn.forkFailed(handle, thrown);
      void handle.exit.then(({ code, signal }) => this.onExit(handle, code, signal));
      return handle;
    }
    this.log.info(`- Worker ${index} (PID: ${handle.pid}) booting, phase ${phase}`);
    void runHooks('afterWorkerFork', this.options.afterWorkerFork, this, [index]);
    worker.on('message', (m: unknown) => {
      if (isWorkerMessage(m)) this.onMessage(handle, m);
    });
    void handle.exit.then(({ code, signal }) => this.onExit(handle, code, signal));
    return handle;
  }

  /**
   * A graceful stop within workerShutdownTimeout; a worker still running then is killed, and the
   * log says so with what it was serving, after its autopsy as at workerTimeout (watchdog.ts).
   */
  term(h: WorkerHandle): Promise<unknown> {
    return this.watchdog.term(h);
  }

  private onMessage(handle: WorkerHandle, message: WorkerMessage): void {
    switch (message.type) {
      case 'booted':
        // Told to stop before it could hear it (the stop went again at its hello; this is the last chance).
        if (handle.stopping) handle.send({ tspuma: 1, type: 'stop' });
        handle.booted = true;
        handle.bootedAt = new Date(this.clock.now());
        handle.lastCheckin = new Date(this.clock.now());
        this.restarts.settled(handle);
        this.respawn.booted(handle.index);
        if (this.urls.length === 0) this.urls = message.urls;
        // Which TypeScript loader the workers use, as single mode says it: once, and again when a
        // restart's workers use another (T12.8: it was at debug level in each worker only).
        if (message.tsLoader && message.tsLoader.text !== this.tsLoaderSaid) {
          this.tsLoaderSaid = message.tsLoader.text;
          this.log.info({ tsLoader: message.tsLoader.kind, ...(handle.phase > 0 ? { phase: handle.phase } : {}) }, `*   TypeScript${handle.phase > 0 ? ` (phase ${handle.phase})` : ''}: ${message.tsLoader.text}`);
        }
        this.notify();
        // A stop that began before the first boot: no "serving" announced (the worker was told to stop).
        if (!this.servingOnce && !this.stopping) {
          // The first booted worker serves: say so even if a sibling is still booting or failing.
          this.servingOnce = true;
          for (const url of this.urls) this.log.info({ url }, `* Listening on ${url}`);
          this.log.info({ urls: this.urls }, 'Use Ctrl-C to stop');
          this.events?.serving(this.urls);
        }
        if (!this.bootedOnce && [...this.current.values()].every((h) => h.booted)) {
          this.bootedOnce = true;
          this.log.info(`- All ${this.workerCount} workers booted`);
          void runHooks('afterBooted', this.options.afterBooted, this);
        }
        return;
      case 'checkin':
        handle.lastCheckin = new Date(this.clock.now());
        handle.lastStatus = message.stats;
        this.log.debug({ worker: handle.index, workerPid: handle.pid }, 'check-in');
        if (this.options.balanceConnections) this.shareConnections(handle);
        return;
      case 'inspector':
        handle.inspector = message.url;
        this.devtools?.inspectorOpened(handle);
        return;
      case 'probe-hello':
        // Its first message, sent as tspuma's worker code starts: a stop sent before it listened
        // for one was lost (node drops a message no listener takes), so it goes again.
        if (handle.stopping && !handle.booted) handle.send({ tspuma: 1, type: 'stop' });
        this.probes?.onMessage(handle, message);
        return;
      case 'probe-state':
      case 'probe-hits':
      case 'probe-event':
        this.probes?.onMessage(handle, message);
        return;
      case 'boot-failed':
        handle.bootError = { code: message.code, message: message.message };
        handle.bootFailureReported = true;
        this.log.error({ worker: handle.index, workerPid: handle.pid, code: message.code }, `Worker ${handle.index} (PID: ${handle.pid}) failed to boot: ${message.message}`);
        return;
      default: {
        const never: never = message;
        this.log.warn({ message: never }, 'unknown worker message');
      }
    }
  }

  /**
   * balanceConnections: after a worker's check-in, the connections it holds against its siblings'
   * last check-ins (serving workers of the current generation only); one over its share is told
   * to close the excess after their next responses (connection-share.ts). Check-ins come every
   * 250 ms while requests arrive, so a skew moves within about that.
   */
  private shareConnections(handle: WorkerHandle): void {
    if (this.stopping || handle.stopping || !handle.booted || this.current.get(handle.index) !== handle) return;
    const shed = this.shedAt.get(handle);
    const held: number[] = [];
    let at = -1;
    for (const h of this.current.values()) {
      const connections = h.lastStatus?.connections;
      if (!h.booted || h.stopping || !connections) continue;
      // Where the connections it closed went shows in its siblings' next check-ins: until then it is not judged again.
      if (shed !== undefined && h !== handle && (h.lastCheckin?.getTime() ?? 0) <= shed) return;
      if (h === handle) at = held.length;
      held.push(movable(connections));
    }
    const count = at === -1 ? 0 : excessConnections(held, at);
    if (count === 0) return;
    this.shedAt.set(handle, this.clock.now());
    handle.send({ tspuma: 1, type: 'shed', count });
  }

  private onExit(handle: WorkerHandle, code: number | null, signal: string | null): void {
    this.old.delete(handle);
    this.probes?.gone(handle.pid);
    this.devtools?.exited(handle);
    const isCurrent = this.current.get(handle.index) === handle;
    // A restart's worker that has not booted: the restart sees the exit and decides.
    const pending = this.restarts.settled(handle);
    void runHooks('afterWorkerShutdown', this.options.afterWorkerShutdown, this, [handle]);
    this.notify();
    if (this.stopping) {
      if (isCurrent) this.current.delete(handle.index);
      this.maybeStopped();
      return;
    }
    if (!isCurrent || pending) return;
    if (handle.index >= this.workerCount) {
      this.current.delete(handle.index);
      return;
    }
    if (!handle.booted) return this.bootFailed(handle);
    if (!handle.stopping) this.respawn.died(handle, code, signal);
    this.fork(handle.index, this.phase);
  }

  /** A current worker never booted: its index respawns with backoff, or the primary gives up (respawn.ts). */
  bootFailed(handle: WorkerHandle): void {
    this.respawn.bootFailed(handle);
  }

  /** No worker could ever boot: the primary stops, and run.ts exits 1 with `err`. */
  gaveUp(err: TspumaError): void {
    this.failure = err;
    this.halt();
  }

  /** A live stack of worker `index` (the control app's /stack), through DevTools. */
  stackOf(index: number): Promise<Dump> {
    return this.devtools ? this.devtools.stackOf(index) : Promise.reject(noInspectTarget(index, []));
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves when pred() holds, re-checked on every worker event; rejects after ms. */
  until(pred: () => boolean, ms: number, what: string): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred()) return;
        cleanup();
        resolve();
      };
      const timer = this.clock.setTimeout(() => {
        cleanup();
        reject(new Error(`${what} did not happen within ${ms / 1000} s`));
      }, ms);
      const cleanup = () => {
        this.clock.clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** USR1: one worker at a time; each new one is booted before the old one is told to stop (restarts.ts). */
  phasedRestart(): Promise<string[]> {
    return this.restarts.phased();
  }

  /** USR2: every worker replaced at once, new ones booted before old ones stop (restarts.ts). */
  hotRestart(): Promise<string[]> {
    return this.restarts.hot();
  }

  /**
   * Logs a restart that rejected (SIGUSR1/SIGUSR2, the control app with or without --wait): one a stop cut
   * short (TSPUMA_ERR_RESTART_STOPPING: it ran, was queued, or was asked for during the stop) is an
   * info line with that code, not an error with a stack; another coded error (a rollback) is an error.
   */
  restartFailed(what: string, err: Error): void {
    const stopped = err instanceof TspumaError ? err.code === 'TSPUMA_ERR_RESTART_STOPPING' : this.stopping;
    if (stopped) this.log.info({ code: (err as TspumaError).code }, `- ${what[0]!.toUpperCase()}${what.slice(1)} not finished: the server is stopping`);
    else this.log.error({ err }, `${what} failed: ${err.message}`);
  }

  /** Whether a restart runs now (one asked for is then queued). */
  get restartRunning(): boolean {
    return this.restarts.running;
  }

  /** TTIN: one worker more; returns its index. */
  workerCountUp(): number {
    const index = this.workerCount++;
    this.fork(index, this.phase);
    return index;
  }
  /** TTOU: one worker less (never below 1); returns the worker told to stop, if one ran. */
  workerCountDown(): WorkerHandle | null {
    if (this.workerCount <= 1) return null;
    const index = --this.workerCount;
    const h = this.current.get(index);
    if (h) void this.term(h);
    return h ?? null;
  }

  /**
   * `worker-count-up --wait`: resolves once worker `index` has booted; rejects with
   * TSPUMA_ERR_CONTROL_WAIT when it fails to boot (it respawns with backoff), its index is
   * removed, the primary stops, or workerBootTimeout and WAIT_SLACK_S pass.
   */
  async workerBooted(index: number): Promise<void> {
    const seconds = this.options.workerBootTimeout + WAIT_SLACK_S;
    const failed = (problem: string) => new TspumaError('TSPUMA_ERR_CONTROL_WAIT', { command: 'worker-count-up', problem });
    let h = this.current.get(index);
    try {
      await this.until(() => {
        h = this.current.get(index);
        return this.stopping || h === undefined || h.booted || h.exited;
      }, seconds * 1000, 'boot');
    } catch {
      throw failed(`worker ${index}${h ? ` (PID: ${h.pid})` : ''} had not booted ${seconds} s after it was forked (workerBootTimeout ${this.options.workerBootTimeout} s and ${WAIT_SLACK_S} s)`);
    }
    if (h?.booted) return;
    if (this.stopping) throw failed(`the primary is stopping; worker ${index} did not boot`);
    if (h === undefined) throw failed(`worker ${index} was removed (worker-count-down) before it booted`);
    throw failed(`worker ${index} (PID: ${h.pid}) failed to boot: ${bootFailureOf(h)}; it respawns with backoff`);
  }

  /**
   * `worker-count-down --wait`: resolves once `h` has exited; rejects with TSPUMA_ERR_CONTROL_WAIT
   * when it runs on past workerShutdownTimeout (its kill included, and its autopsy with DevTools)
   * and WAIT_SLACK_S.
   */
  async workerExited(h: WorkerHandle): Promise<void> {
    const seconds = this.options.workerShutdownTimeout + (this.devtools ? this.options.workerAutopsyTimeout : 0) + WAIT_SLACK_S;
    try {
      await this.until(() => h.exited, seconds * 1000, 'exit');
    } catch {
      throw new TspumaError('TSPUMA_ERR_CONTROL_WAIT', { command: 'worker-count-down', problem: `worker ${h.index} (PID: ${h.pid}) was still running ${seconds} s after it was told to stop` });
    }
  }

  /** TERM / INT: every worker stops gracefully, then the primary exits 0. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.clearTimers();
    // The workers stop accepting as they stop; once the last copy closes, connections are refused
    // rather than left waiting in a backlog no one will accept from.
    this.closeListeners();
    this.log.info('- Gracefully shutting down workers...');
    await Promise.all([...this.current.values(), ...this.old].map((h) => this.term(h)));
    this.maybeStopped();
  }

  /**
   * A second stop signal: every worker answers the requests it still runs 503 and exits
   * (TSPUMA_ERR_FORCED_SHUTDOWN names each, as in single mode); one still running FORCE_KILL_MS
   * later is killed.
   */
  force(when: string): void {
    this.stopping = true;
    this.clearTimers();
    this.closeListeners();
    for (const h of [...this.current.values(), ...this.old]) void h.force(when, FORCE_KILL_MS);
    this.maybeStopped();
  }

  /** Immediate stop (halt): SIGKILL every worker. */
  halt(): void {
    this.stopping = true;
    this.clearTimers();
    this.closeListeners();
    for (const h of [...this.current.values(), ...this.old]) h.kill();
    this.maybeStopped();
  }

  private clearTimers(): void {
    this.restarts.dropQueued();
    this.probes?.close();
    this.watchdog.stop();
    this.respawn.stop();
  }

  /** Closes the primary's copies of the listening sockets (a unix socket's file goes with it). */
  private closeListeners(): void {
    for (const k of this.kept) k.close();
    this.kept = [];
  }

  private maybeStopped(): void {
    if (!this.stopping || this.stoppedOnce) return;
    if ([...this.current.values(), ...this.old].some((h) => !h.exited)) return;
    this.stoppedOnce = true;
    void runHooks('afterStopped', this.options.afterStopped, this).then(() => {
      this.log.info('- Goodbye!');
      this.resolveStopped(this.failure ? 1 : 0);
    });
  }

  /** Puma's cluster stats. */
  stats(): Record<string, unknown> {
    const all = [...this.current.values()].sort((a, b) => a.index - b.index);
    return {
      started_at: this.startedAt.toISOString(),
      workers: this.workerCount,
      phase: this.phase,
      booted_workers: all.filter((h) => h.booted).length,
      old_workers: this.old.size,
      worker_status: all.map((h) => h.status()),
      versions: { tspuma: VERSION, node: process.version },
    };
  }
}
