// Phased and hot restarts in the cluster primary: the sequence of each (a new worker booted before
// an old one stops), what a failed boot does to it (rolled back until a worker of the new phase
// has booted, forward after), and the queue of restarts asked for while one runs. The workers,
// the phase, forking, stopping and waiting are the primary's (RestartHost); a failed worker's
// index respawns through it too (respawn.ts).
import type { Logger } from 'pino';
import { TspumaError } from '../errors.js';
import { runHooks, type HookReporting } from '../hooks.js';
import type { Options } from '../options.js';
import { bootFailureOf } from './respawn.js';
import type { WorkerHandle } from './worker-handle.js';

/** What the restarts need of the primary. */
export interface RestartHost extends HookReporting {
  readonly log: Logger;
  readonly options: Options;
  /** The current worker of each index: a restart replaces them, a rollback puts the old ones back. */
  readonly current: Map<number, WorkerHandle>;
  /** Workers being replaced or stopped. */
  readonly old: Set<WorkerHandle>;
  /** The generation new workers are forked with: a restart moves it on, a rollback back. */
  phase: number;
  readonly workerCount: number;
  readonly stopping: boolean;
  /** What the service manager is told (sd_notify's RELOADING and READY). */
  readonly events: { reloading(what: string): void; reloaded(phase: number): void } | null;
  /** Forks worker `index` at `phase` as the index's current worker. */
  fork(index: number, phase: number): WorkerHandle;
  /** Stops a worker gracefully, killing it after workerShutdownTimeout. */
  term(h: WorkerHandle): Promise<unknown>;
  /** Resolves when pred() holds, re-checked on every worker event; rejects after ms. */
  until(pred: () => boolean, ms: number, what: string): Promise<void>;
  /** A current worker never booted: its index respawns with backoff. */
  bootFailed(h: WorkerHandle): void;
}

/** A restart asked for while another runs: it starts when that one ends. */
interface QueuedRestart {
  readonly name: string;
  readonly fn: () => Promise<string[]>;
  readonly done: Promise<string[]>;
  resolve(problems: string[]): void;
  reject(err: Error): void;
}

const capitalized = (s: string) => `${s[0]!.toUpperCase()}${s.slice(1)}`;

/**
 * Restarts end with one generation serving. Until a worker of the new phase has booted, a
 * new worker that fails to boot rolls the restart back: the workers it started are killed,
 * the old ones stay, the phase number goes back (TSPUMA_ERR_RESTART_BOOT). Once one has
 * booted, the code is known to boot, so a later failure rolls forward: the failed index
 * respawns with backoff and its old worker stops like the others.
 */
export class Restarts {
  /** Workers a running restart forked that have not booted: the restart decides their fate, not the respawn logic. */
  private readonly pending = new Set<WorkerHandle>();
  /** The restart running (its kind and the phase it makes), and those asked for meanwhile, in order. */
  private restarting: { name: string; phase: number } | null = null;
  private readonly queued: QueuedRestart[] = [];

  constructor(private readonly host: RestartHost) {}

  /**
   * A worker booted or exited: no restart waits on it any more. True when it was a restart's
   * worker that had not booted (its exit is then the restart's to judge, not the respawn logic's).
   */
  settled(h: WorkerHandle): boolean {
    return this.pending.delete(h);
  }

  /** A new worker for index `index` at the restart's phase, whose boot the restart waits for. */
  private forkForRestart(index: number): WorkerHandle {
    const h = this.host.fork(index, this.host.phase);
    this.pending.add(h);
    return h;
  }

  /** A worker of the new phase already running (a respawn): the restart takes it as its new worker of that index. */
  private adoptForRestart(h: WorkerHandle): WorkerHandle {
    if (!h.booted) this.pending.add(h);
    this.host.log.info({ worker: h.index, workerPid: h.pid }, `- Worker ${h.index} (PID: ${h.pid}) already runs phase ${h.phase} (respawned during the restart): kept, not booted again`);
    return h;
  }

  /** Waits until each worker has booted or exited; one still booting after workerBootTimeout is killed. */
  private async awaitBoot(handles: WorkerHandle[]): Promise<WorkerHandle[]> {
    const seconds = this.host.options.workerBootTimeout;
    try {
      await this.host.until(() => handles.every((h) => h.booted || h.exited), seconds * 1000, 'boot');
    } catch {
      for (const h of handles) {
        if (h.booted || h.exited) continue;
        h.bootError ??= { code: null, message: `it did not boot within workerBootTimeout (${seconds} s)` };
        h.kill();
      }
    }
    if (this.host.stopping) throw this.stopped('while its new workers booted; they stop with the others');
    return handles.filter((h) => !h.booted);
  }

  /** Kills the restart's new workers and gives each index back its old worker. */
  private rollBack(fresh: WorkerHandle[], olds: ReadonlyMap<number, WorkerHandle>, fromPhase: number, failed: WorkerHandle): never {
    for (const h of fresh) {
      this.pending.delete(h);
      h.kill();
    }
    this.host.phase = fromPhase;
    for (const h of fresh) {
      const old = olds.get(h.index);
      if (this.host.current.get(h.index) !== h) continue;
      if (old && !old.exited) {
        this.host.old.delete(old);
        this.host.current.set(h.index, old);
      } else {
        this.host.current.delete(h.index);
        if (h.index < this.host.workerCount) this.host.fork(h.index, this.host.phase);
      }
    }
    throw new TspumaError('TSPUMA_ERR_RESTART_BOOT', { index: failed.index, phase: fromPhase + 1, reason: bootFailureOf(failed), kept: fromPhase });
  }

  /** A new worker failed after another of its phase booted: its index respawns with backoff. */
  private rollForward(h: WorkerHandle): string {
    this.pending.delete(h);
    const why = `worker ${h.index} of phase ${h.phase} failed to boot (${bootFailureOf(h)}); it respawns with backoff`;
    // Gone already: its exit was left to the restart. Still running: its exit will back off.
    if (h.exited && this.host.current.get(h.index) === h && !this.host.stopping) this.host.bootFailed(h);
    else h.kill();
    return why;
  }

  /** USR1: one worker at a time; each new one is booted before the old one is told to stop. Resolves with its roll-forward problems. */
  phased(): Promise<string[]> {
    return this.exclusive('phased restart', async () => {
      const from = this.host.phase++;
      const problems: string[] = [];
      let booted = 0;
      for (let i = 0; i < this.host.workerCount; i++) {
        // A stop (SIGTERM) that came while the previous old worker drained: no worker is forked
        // that would boot into a primary whose listeners are closed, with no one to stop it.
        if (this.host.stopping) throw this.stopped(`before worker ${i} was replaced; no worker was forked for it`);
        const old = this.host.current.get(i);
        // An old worker that died since the restart began was respawned with the new phase: that
        // worker is this index's new one (booted, or its boot is the restart's to judge), not a
        // second boot of the same code.
        const respawned = old !== undefined && old.phase === this.host.phase && !old.exited && !old.stopping;
        const fresh = respawned ? this.adoptForRestart(old) : this.forkForRestart(i);
        const kept = respawned ? undefined : old;
        const [failed] = await this.awaitBoot([fresh]);
        if (failed && booted === 0) this.rollBack([fresh], new Map(kept ? [[i, kept]] : []), from, failed);
        if (failed) problems.push(this.rollForward(failed));
        else booted++;
        if (kept) await this.host.term(kept);
      }
      return problems;
    });
  }

  /**
   * USR2: Node cannot exec in place, so the primary keeps its pid and its listening sockets;
   * every worker is replaced at once, new ones booted before old ones stop (config and app are
   * re-read by the new workers).
   */
  hot(): Promise<string[]> {
    return this.exclusive('hot restart', async () => {
      const from = this.host.phase++;
      const olds = new Map(this.host.current);
      const fresh = Array.from({ length: this.host.workerCount }, (_, i) => this.forkForRestart(i));
      const failed = await this.awaitBoot(fresh);
      if (failed.length > 0 && failed.length === fresh.length) this.rollBack(fresh, olds, from, failed[0]!);
      const problems = failed.map((h) => this.rollForward(h));
      await Promise.all([...olds.values()].map((h) => this.host.term(h)));
      return problems;
    });
  }

  /**
   * One restart at a time; fn returns what went wrong without undoing the restart. A restart asked
   * for (USR1, USR2, the control app) while one runs is queued and starts when it ends, as often
   * as it was asked for, less duplicates: one asked for while the same kind is already queued joins
   * it (a double `systemctl reload` restarts once more, not twice). Queued ones are refused when
   * the primary stops.
   */
  private exclusive(name: string, fn: () => Promise<string[]>): Promise<string[]> {
    if (this.host.stopping) return Promise.reject(this.stopped('it was asked for after the stop began', name));
    if (this.restarting === null) return this.begin(name, fn);
    const running = `the ${this.restarting.name} to phase ${this.restarting.phase}`;
    const same = this.queued.find((q) => q.name === name);
    if (same) {
      this.host.log.info(`- ${capitalized(name)} asked for while ${running} runs: joins the ${name} already queued`);
      return same.done;
    }
    let resolve!: (problems: string[]) => void;
    let reject!: (err: Error) => void;
    const done = new Promise<string[]>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.queued.push({ name, fn, done, resolve, reject });
    this.host.log.info(`- ${capitalized(name)} asked for while ${running} runs: queued, it starts when that one ends`);
    return done;
  }

  private begin(name: string, fn: () => Promise<string[]>): Promise<string[]> {
    this.restarting = { name, phase: this.host.phase + 1 };
    this.host.log.info(`- Starting ${name}, phase ${this.host.phase + 1}`);
    this.host.events?.reloading(`${capitalized(name)} to phase ${this.host.phase + 1}`);
    const run = (async () => {
      await runHooks('beforeRestart', this.host.options.beforeRestart, this.host);
      // A stop that came during the hooks: no worker is forked that no one would stop.
      if (this.host.stopping) throw this.stopped('during its beforeRestart hooks; no worker was forked');
      const problems = await fn();
      const done = `- ${capitalized(name)} finished, phase ${this.host.phase}`;
      if (problems.length === 0) this.host.log.info(done);
      else this.host.log.warn({ problems }, `${done}; ${problems.join('; ')}`);
      return problems;
    })();
    return run.finally(() => {
      this.restarting = null;
      if (!this.host.stopping) this.host.events?.reloaded(this.host.phase);
      const next = this.queued.shift();
      if (next) this.begin(next.name, next.fn).then(next.resolve, next.reject);
    });
  }

  /**
   * A restart a stop cut short (or refused, or dropped from the queue): TSPUMA_ERR_RESTART_STOPPING,
   * which the primary logs as an info line and the control app's ?wait=1 answers with its code.
   */
  private stopped(when: string, name = this.restarting?.name ?? 'restart'): TspumaError {
    return new TspumaError('TSPUMA_ERR_RESTART_STOPPING', { restart: capitalized(name), when });
  }

  /** The primary stops: no queued restart will run. */
  dropQueued(): void {
    for (const q of this.queued.splice(0)) q.reject(this.stopped('it was queued behind another restart and never ran', q.name));
  }

  /** Whether a restart runs now (one asked for is then queued). */
  get running(): boolean {
    return this.restarting !== null;
  }
}
