// The primary's record of one worker (pid, index, phase, check-ins, last stats) and the term
// that escalates to kill. The process behind it is anything shaped like a node:cluster Worker.
import type { Stats } from '../server.js';
import { realClock, unref, type Clock, type TimerHandle } from './clock.js';
import type { PrimaryMessage } from './messages.js';

/** The part of a node:cluster Worker the primary uses (a test passes a fake). */
export interface ForkedWorker {
  readonly process: { readonly pid?: number | undefined; kill(signal?: NodeJS.Signals): boolean };
  isConnected(): boolean;
  send(message: PrimaryMessage): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  /** The process could not be started (spawn's EMFILE, EAGAIN...) or signalled. */
  on(event: 'error', listener: (err: Error) => void): unknown;
  once(event: 'exit', listener: (code: number | null, signal: string | null) => void): unknown;
}

export class WorkerHandle {
  startedAt: Date;
  booted = false;
  bootedAt: Date | null = null;
  lastCheckin: Date | null = null;
  lastStatus: Stats | null = null;
  /** Its inspector's ws:// URL, once it reported one. */
  inspector: string | null = null;
  /**
   * A heap snapshot a DevTools client takes of it through discovery (primary clock ms): its thread
   * is in the snapshot, so its check-ins stop while its inspector reports progress.
   */
  snapshot: { since: number; progressAt: number } | null = null;
  /** Why its boot failed, for the primary's messages: what it reported (`boot-failed`), or what the primary saw (a kill at workerBootTimeout, a failed fork). */
  bootError: { code: string | null; message: string } | null = null;
  /** It reported its own boot failure (`boot-failed`): with -d it dumped its error, if it was the first to. */
  bootFailureReported = false;
  /** term() or kill() was called: its exit is expected. */
  stopping = false;
  exited = false;
  exitCode: number | null = null;
  exitSignal: string | null = null;
  readonly exit: Promise<{ code: number | null; signal: string | null }>;
  private killTimer: TimerHandle | null = null;
  private resolveExit!: (exit: { code: number | null; signal: string | null }) => void;

  constructor(
    readonly worker: ForkedWorker,
    readonly index: number,
    /** Restart generation: 0 at boot, +1 per phased or hot restart. */
    readonly phase: number,
    private readonly clock: Clock = realClock,
  ) {
    this.startedAt = new Date(clock.now());
    this.exit = new Promise((resolve) => {
      this.resolveExit = resolve;
      worker.once('exit', (code, signal) => {
        if (this.exited) return; // its start failed, and was taken as its exit already
        this.exited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        if (this.killTimer !== null) clock.clearTimeout(this.killTimer);
        resolve({ code, signal });
      });
    });
  }

  /**
   * The process could not be started: it is over as if it had exited before booting (node may
   * or may not emit 'exit' after a spawn error; a later one is ignored).
   */
  startFailed(code: string, message: string): void {
    if (this.exited) return;
    this.bootError = { code, message };
    this.exited = true;
    if (this.killTimer !== null) this.clock.clearTimeout(this.killTimer);
    this.resolveExit({ code: null, signal: null });
  }

  get pid(): number {
    return this.worker.process.pid ?? -1;
  }

  send(message: PrimaryMessage): void {
    if (!this.exited && this.worker.isConnected()) this.worker.send(message);
  }

  /**
   * Graceful stop; SIGKILL after timeoutMs. `killed` is told first; when it returns a promise (an
   * autopsy, bounded by its own timeout), the kill waits for it to settle. Resolves when the
   * process has exited.
   */
  term(timeoutMs: number, killed?: () => Promise<unknown> | null | void): Promise<unknown> {
    if (!this.exited && !this.stopping) {
      this.stopping = true;
      this.send({ tspuma: 1, type: 'stop' });
      if (!this.worker.isConnected()) this.worker.process.kill('SIGTERM');
      this.killTimer = unref(
        this.clock.setTimeout(() => {
          const before = this.exited ? null : killed?.();
          if (before) void before.then(() => this.kill(), () => this.kill());
          else this.kill();
        }, timeoutMs),
      );
    }
    return this.exit;
  }

  /**
   * A forced stop (a second stop signal): the worker answers what it still runs 503 and exits;
   * SIGKILL after `timeoutMs` if it has not (or at once when it cannot be told).
   */
  force(when: string, timeoutMs: number): Promise<unknown> {
    if (this.exited) return this.exit;
    this.stopping = true;
    if (!this.worker.isConnected()) {
      this.kill();
      return this.exit;
    }
    this.send({ tspuma: 1, type: 'force', when });
    if (this.killTimer !== null) this.clock.clearTimeout(this.killTimer);
    this.killTimer = unref(this.clock.setTimeout(() => this.kill(), timeoutMs));
    return this.exit;
  }

  kill(): void {
    this.stopping = true;
    if (!this.exited) this.worker.process.kill('SIGKILL');
  }

  /**
   * What the worker last said it was doing, for a line about its kill or death: its requests in the
   * app at its last check-in (ages then plus the time since) and its heap then. '' before any.
   */
  lastNews(now: number, heapFlag: HeapFlag | null = heapFlagOf(process.execArgv, process.env.NODE_OPTIONS)): string {
    const s = this.lastStatus;
    if (!s || !this.lastCheckin) return '';
    const since = Math.max(0, now - this.lastCheckin.getTime());
    const ago = `${(since / 1000).toFixed(1)} s before`;
    const requests = s.in_flight ?? [];
    const serving =
      requests.length > 0
        ? `at its last check-in (${ago}) it was serving ${requests.map((r) => `${r.method} ${r.url} (${r.queued ? 'waiting for a slot' : 'in the app'} ${(r.ms / 1000).toFixed(1)} s then)`).join(', ')}${s.running > requests.length ? ` and ${s.running - requests.length} more` : ''}`
        : `at its last check-in (${ago}) no request was in the app`;
    const mib = (b: number) => Math.round(b / 1048576);
    // V8's heap limit counts the young generation too: beside --max-old-space-size=64 it reads
    // about 112 MiB, which an operator who set 64 cannot place (T4).
    const flag = heapFlag ? `; V8's limit is the old space's ${heapFlag.mib} MiB (--max-old-space-size=${heapFlag.mib} in ${heapFlag.from}) plus the young generation` : '';
    const heap = s.heap_used_bytes !== undefined && s.heap_limit_bytes ? `; its heap was ${mib(s.heap_used_bytes)} of ${mib(s.heap_limit_bytes)} MiB (rss ${mib(s.rss_bytes ?? 0)} MiB${flag})` : '';
    return `${serving}${heap}`;
  }

  /** Puma's worker_status entry. */
  status(): Record<string, unknown> {
    const s = this.lastStatus;
    return {
      started_at: this.startedAt.toISOString(),
      pid: this.pid,
      index: this.index,
      phase: this.phase,
      booted: this.booted,
      last_checkin: this.lastCheckin?.toISOString() ?? null,
      last_status: s
        ? {
            backlog: s.backlog, running: s.running, pool_capacity: s.pool_capacity, max_threads: s.max_threads, requests_count: s.requests_count, busy_threads: s.busy_threads, connections: s.connections,
            ...(s.in_flight ? { in_flight: s.in_flight } : {}),
            ...(s.rss_bytes !== undefined ? { rss_bytes: s.rss_bytes, heap_used_bytes: s.heap_used_bytes, heap_limit_bytes: s.heap_limit_bytes } : {}),
            ...(s.loop_blocked ? { loop_blocked: s.loop_blocked } : {}),
            ...(s.error_answers ? { error_answers: s.error_answers, clients_gone: s.clients_gone } : {}),
            ...(s.debug_capture ? { debug_capture: s.debug_capture } : {}),
          }
        : {},
    };
  }
}

export interface HeapFlag {
  mib: number;
  from: 'the node command line' | 'NODE_OPTIONS';
}

/** The old-space cap the workers run with (they inherit node's flags and NODE_OPTIONS), or null when none is set. */
export function heapFlagOf(execArgv: readonly string[], nodeOptions: string | undefined): HeapFlag | null {
  const flag = /^--max[-_]old[-_]space[-_]size(?:=(\d+))?$/;
  const find = (args: readonly string[]): number | null => {
    let found: number | null = null;
    for (let i = 0; i < args.length; i++) {
      const m = flag.exec(args[i]!);
      if (!m) continue;
      const value = m[1] ?? args[i + 1];
      if (value !== undefined && /^\d+$/.test(value)) found = Number(value);
    }
    return found;
  };
  // Node reads NODE_OPTIONS first and its command line after: the command line's wins.
  const line = find(execArgv);
  if (line !== null) return { mib: line, from: 'the node command line' };
  const env = find((nodeOptions ?? '').split(/\s+/).filter(Boolean));
  return env !== null ? { mib: env, from: 'NODE_OPTIONS' } : null;
}
