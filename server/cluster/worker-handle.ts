// Created by primary.ts for every worker it forks: the primary's record of one worker (pid,
// index, phase, check-ins, last stats) and the term that escalates to kill.
import type { Worker } from 'node:cluster';
import type { Stats } from '../server.js';
import type { PrimaryMessage } from './messages.js';

export class WorkerHandle {
  readonly startedAt = new Date();
  booted = false;
  bootedAt: Date | null = null;
  lastCheckin: Date | null = null;
  lastStatus: Stats | null = null;
  /** Its inspector's ws:// URL, once it reported one. */
  inspector: string | null = null;
  /** term() or kill() was called: its exit is expected. */
  stopping = false;
  exited = false;
  readonly exit: Promise<{ code: number | null; signal: string | null }>;
  private killTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly worker: Worker,
    readonly index: number,
    /** Restart generation: 0 at boot, +1 per phased or hot restart. */
    readonly phase: number,
  ) {
    this.exit = new Promise((resolve) => {
      worker.once('exit', (code, signal) => {
        this.exited = true;
        if (this.killTimer) clearTimeout(this.killTimer);
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.worker.process.pid ?? -1;
  }

  send(message: PrimaryMessage): void {
    if (!this.exited && this.worker.isConnected()) this.worker.send(message);
  }

  /** Graceful stop; SIGKILL after timeoutMs. Resolves when the process has exited. */
  term(timeoutMs: number): Promise<unknown> {
    if (!this.exited && !this.stopping) {
      this.stopping = true;
      this.send({ tspuma: 1, type: 'stop' });
      if (!this.worker.isConnected()) this.worker.process.kill('SIGTERM');
      this.killTimer = setTimeout(() => this.kill(), timeoutMs);
      this.killTimer.unref();
    }
    return this.exit;
  }

  kill(): void {
    this.stopping = true;
    if (!this.exited) this.worker.process.kill('SIGKILL');
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
        ? { backlog: s.backlog, running: s.running, pool_capacity: s.pool_capacity, max_threads: s.max_threads, requests_count: s.requests_count, busy_threads: s.busy_threads, connections: s.connections }
        : {},
    };
  }
}
