// Created by cli.ts when workers > 0: forks the workers (they share the listening sockets,
// node:cluster SCHED_NONE), watches their check-ins, respawns, restarts, and serves stats.
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { listen as listenOnce, createHttpServer } from '../binder.js';
import { runHooks } from '../hooks.js';
import type { Options } from '../options.js';
import { VERSION } from '../version.js';
import { autopsy } from '../../inspector/autopsy.js';
import type { Target } from '../../inspector/discovery.js';
import { liveStackDump } from '../../inspector/remote.js';
import { targetId, targetTitle, type InspectorSetup } from '../../inspector/setup.js';
import type { Dump } from '../../diagnostics/model.js';
import { TspumaError } from '../errors.js';
import { WORKER_INDEX_ENV, isWorkerMessage, type WorkerMessage } from './messages.js';
import { WorkerHandle } from './worker-handle.js';

/** Backoff for a worker index that keeps failing at boot: 1 s doubling to 60 s. */
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 60_000;

export class Primary {
  /** The current worker of each index. */
  readonly current = new Map<number, WorkerHandle>();
  /** Workers being replaced or stopped. */
  readonly old = new Set<WorkerHandle>();
  readonly startedAt = new Date();
  phase = 0;
  workerCount: number;
  urls: string[] = [];
  stopping = false;
  private readonly failures = new Map<number, { count: number; timer: NodeJS.Timeout | null }>();
  private health: NodeJS.Timeout | null = null;
  private bootedOnce = false;
  private servingOnce = false;
  private restarting: Promise<void> | null = null;
  private resolveStopped!: (code: number) => void;
  readonly stopped = new Promise<number>((r) => (this.resolveStopped = r));
  private readonly waiters = new Set<() => void>();
  /** Set by run.ts when the inspector is on. */
  inspector: InspectorSetup | null = null;
  /** Where autopsy dumps go (the diagnostics sinks). */
  emitDump: ((dump: Dump) => string | null) | null = null;

  constructor(
    readonly options: Options,
    readonly log: Logger,
  ) {
    this.workerCount = options.workers;
  }

  /** Checks every bind can listen (coded errors, exit 1), then forks the workers. */
  async start(): Promise<void> {
    const { threads } = this.options;
    this.log.info(`tspuma ${VERSION} starting in cluster mode...`);
    this.log.info(`* Node version: ${process.version}, tspuma version: ${VERSION}`);
    this.log.info(`*  Min threads: ${threads.min}, max threads: ${threads.max} (per worker)`);
    this.log.info(`*  Environment: ${this.options.environment}`);
    this.log.info(`*   Master PID: ${process.pid}`);
    this.log.info(`*      Workers: ${this.workerCount}`);
    for (const spec of this.options.bind) {
      // Fail fast in the primary: workers would all hit the same error.
      const probe = createHttpServer(spec);
      await listenOnce(spec, probe, this.log);
      await new Promise((r) => probe.close(r));
    }
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: process.argv[1]!, args: process.argv.slice(2), silent: false });
    await runHooks('beforeFork', this.options.beforeFork, this.log);
    for (let i = 0; i < this.workerCount; i++) this.fork(i, this.phase);
    this.health = setInterval(() => this.checkHealth(), 1000);
    this.health.unref();
  }

  private fork(index: number, phase: number): WorkerHandle {
    void runHooks('beforeWorkerFork', this.options.beforeWorkerFork, this.log, [index]);
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index), TSPUMA_WORKER_PHASE: String(phase) });
    const handle = new WorkerHandle(worker, index, phase);
    const previous = this.current.get(index);
    if (previous) this.old.add(previous);
    this.current.set(index, handle);
    this.log.info(`- Worker ${index} (PID: ${handle.pid}) booting, phase ${phase}`);
    void runHooks('afterWorkerFork', this.options.afterWorkerFork, this.log, [index]);
    worker.on('message', (m: unknown) => {
      if (isWorkerMessage(m)) this.onMessage(handle, m);
    });
    void handle.exit.then(({ code, signal }) => this.onExit(handle, code, signal));
    return handle;
  }

  private onMessage(handle: WorkerHandle, message: WorkerMessage): void {
    switch (message.type) {
      case 'booted':
        handle.booted = true;
        handle.bootedAt = new Date();
        handle.lastCheckin = new Date();
        this.failures.delete(handle.index);
        if (this.urls.length === 0) this.urls = message.urls;
        this.notify();
        if (!this.servingOnce) {
          // The first booted worker serves: say so even if a sibling is still booting or failing.
          this.servingOnce = true;
          for (const url of this.urls) this.log.info({ url }, `* Listening on ${url}`);
          this.log.info({ urls: this.urls }, 'Use Ctrl-C to stop');
        }
        if (!this.bootedOnce && [...this.current.values()].every((h) => h.booted)) {
          this.bootedOnce = true;
          this.log.info(`- All ${this.workerCount} workers booted`);
          void runHooks('afterBooted', this.options.afterBooted, this.log);
        }
        return;
      case 'checkin':
        handle.lastCheckin = new Date();
        handle.lastStatus = message.stats;
        this.log.debug({ worker: handle.index, pid: handle.pid }, 'check-in');
        return;
      case 'inspector':
        handle.inspector = message.url;
        if (this.inspector) {
          this.inspector.refresh();
          const id = targetId({ kind: 'worker', index: handle.index });
          this.log.info({ worker: handle.index, pid: handle.pid, devtools: this.inspector.devtools(id) }, `* DevTools for worker ${handle.index} (PID: ${handle.pid}): ${this.inspector.devtools(id)}`);
        }
        return;
      case 'boot-failed':
        this.log.error({ worker: handle.index, pid: handle.pid, code: message.code }, `Worker ${handle.index} (PID: ${handle.pid}) failed to boot: ${message.message}`);
        return;
      default: {
        const never: never = message;
        this.log.warn({ message: never }, 'unknown worker message');
      }
    }
  }

  private onExit(handle: WorkerHandle, code: number | null, signal: string | null): void {
    this.old.delete(handle);
    this.inspector?.refresh();
    const isCurrent = this.current.get(handle.index) === handle;
    void runHooks('afterWorkerShutdown', this.options.afterWorkerShutdown, this.log, [handle]);
    this.notify();
    if (!isCurrent) return;
    if (this.stopping || handle.index >= this.workerCount) {
      this.current.delete(handle.index);
      this.maybeStopped();
      return;
    }
    if (!handle.booted) {
      // Failing at boot: back off, never a hot crash loop. The primary stays up.
      const f = this.failures.get(handle.index) ?? { count: 0, timer: null };
      f.count++;
      const delay = Math.min(BACKOFF_MIN_MS * 2 ** (f.count - 1), BACKOFF_MAX_MS);
      this.failures.set(handle.index, f);
      this.log.error({ worker: handle.index, failures: f.count, delayMs: delay }, `Worker ${handle.index} failed to boot ${f.count} time(s) in a row; respawning in ${delay / 1000} s`);
      f.timer = setTimeout(() => {
        f.timer = null;
        if (!this.stopping && this.current.get(handle.index) === handle) this.fork(handle.index, this.phase);
      }, delay);
      return;
    }
    if (!handle.stopping) this.log.error({ worker: handle.index, pid: handle.pid, code, signal }, `Worker ${handle.index} (PID: ${handle.pid}) died (${signal ?? `exit ${code}`}); respawning`);
    this.fork(handle.index, this.phase);
  }

  private checkHealth(): void {
    const now = Date.now();
    for (const h of this.current.values()) {
      if (h.stopping || h.exited) continue;
      if (h.booted && now - h.lastCheckin!.getTime() > this.options.workerTimeout * 1000) {
        const err = new TspumaError('TSPUMA_ERR_WORKER_TIMEOUT', { index: h.index, pid: h.pid, seconds: this.options.workerTimeout });
        this.log.error({ worker: h.index, pid: h.pid, code: err.code }, err.message);
        h.stopping = true;
        const target = this.targetOf(h);
        if (target && this.emitDump && this.options.workerAutopsyTimeout > 0) {
          const opts = { timeoutMs: this.options.workerAutopsyTimeout * 1000, frames: this.options.dumpFrames, redact: this.options.redact };
          void autopsy({ ...target, worker: h.index }, h.pid, this.options.workerTimeout, opts, this.emitDump, this.log).finally(() => h.kill());
        } else h.kill();
      } else if (!h.booted && now - h.startedAt.getTime() > this.options.workerBootTimeout * 1000) {
        this.log.error({ worker: h.index, pid: h.pid }, `Worker ${h.index} (PID: ${h.pid}) failed to boot within ${this.options.workerBootTimeout} seconds; terminating it`);
        h.kill();
      }
    }
  }

  /** Every process with an inspector, under ids stable across respawns. */
  targets(): Target[] {
    const out: Target[] = [];
    for (const h of [...this.current.values()].sort((a, b) => a.index - b.index)) {
      const t = this.targetOf(h);
      if (t) out.push(t);
    }
    return out;
  }

  private targetOf(h: WorkerHandle): Target | null {
    if (!h.inspector || h.exited) return null;
    const role = { kind: 'worker', index: h.index } as const;
    return { id: targetId(role), title: targetTitle(role, h.pid), pid: h.pid, worker: h.index, ws: h.inspector };
  }

  /** A live stack of worker `index` (the control app's /stack). */
  async stackOf(index: number): Promise<Dump> {
    const h = this.current.get(index);
    const target = h ? this.targetOf(h) : null;
    if (!target) {
      throw new TspumaError('TSPUMA_ERR_INSPECT_TARGET', { wanted: `worker ${index}`, url: 'the control app', available: this.targets().map((t) => t.title).join(', ') || 'none (is --inspect or --debug on?)' });
    }
    return liveStackDump(target, { frames: this.options.dumpFrames, redact: this.options.redact });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves when pred() holds, re-checked on every worker event; rejects after ms. */
  private until(pred: () => boolean, ms: number, what: string): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${what} did not happen within ${ms / 1000} s`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** USR1: one worker at a time; each new one is booted before the old one is told to stop. */
  phasedRestart(): Promise<void> {
    return this.exclusive('phased restart', async () => {
      this.phase++;
      for (let i = 0; i < this.workerCount; i++) {
        const old = this.current.get(i);
        const fresh = this.fork(i, this.phase);
        await this.until(() => fresh.booted || fresh.exited, this.options.workerBootTimeout * 1000, `worker ${i} boot`);
        if (!fresh.booted) throw new Error(`worker ${i} of phase ${this.phase} failed to boot; the old workers keep serving`);
        if (old) await old.term(this.options.workerShutdownTimeout * 1000);
      }
    });
  }

  /**
   * USR2: Node cannot exec in place, so the primary keeps its pid and its listening sockets;
   * every worker is replaced at once, new ones booted before old ones stop (config and app are
   * re-read by the new workers).
   */
  hotRestart(): Promise<void> {
    return this.exclusive('hot restart', async () => {
      this.phase++;
      const olds = [...this.current.values()];
      const fresh = Array.from({ length: this.workerCount }, (_, i) => this.fork(i, this.phase));
      await this.until(() => fresh.every((h) => h.booted || h.exited), this.options.workerBootTimeout * 1000, 'new workers boot');
      if (!fresh.every((h) => h.booted)) throw new Error('a new worker failed to boot; the restart is incomplete');
      await Promise.all(olds.map((h) => h.term(this.options.workerShutdownTimeout * 1000)));
    });
  }

  private exclusive(name: string, fn: () => Promise<void>): Promise<void> {
    if (this.restarting) return Promise.reject(new Error(`a restart is already running`));
    this.log.info(`- Starting ${name}, phase ${this.phase + 1}`);
    const run = (async () => {
      await runHooks('beforeRestart', this.options.beforeRestart, this.log);
      await fn();
      this.log.info(`- ${name[0]!.toUpperCase()}${name.slice(1)} finished, phase ${this.phase}`);
    })();
    this.restarting = run.finally(() => (this.restarting = null));
    return this.restarting;
  }

  /** TTIN / TTOU. */
  workerCountUp(): void {
    this.fork(this.workerCount++, this.phase);
  }
  workerCountDown(): void {
    if (this.workerCount <= 1) return;
    const index = --this.workerCount;
    void this.current.get(index)?.term(this.options.workerShutdownTimeout * 1000);
  }

  /** TERM / INT: every worker stops gracefully, then the primary exits 0. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.health) clearInterval(this.health);
    for (const f of this.failures.values()) if (f.timer) clearTimeout(f.timer);
    this.log.info('- Gracefully shutting down workers...');
    await Promise.all([...this.current.values(), ...this.old].map((h) => h.term(this.options.workerShutdownTimeout * 1000)));
    this.maybeStopped();
  }

  /** Immediate stop (halt): SIGKILL every worker. */
  halt(): void {
    this.stopping = true;
    for (const h of [...this.current.values(), ...this.old]) h.kill();
    this.maybeStopped();
  }

  private stoppedOnce = false;

  private maybeStopped(): void {
    if (!this.stopping || this.stoppedOnce) return;
    if ([...this.current.values(), ...this.old].some((h) => !h.exited)) return;
    this.stoppedOnce = true;
    void runHooks('afterStopped', this.options.afterStopped, this.log).then(() => {
      this.log.info('- Goodbye!');
      this.resolveStopped(0);
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
