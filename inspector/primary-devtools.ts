// The cluster primary's DevTools work, loaded only with --inspect or -d (cluster/run.ts imports
// it then and hands it to Primary as a dependency, like its fork function and clock): discovery
// of every worker's inspector under ids stable across respawns, the DevTools link when a
// worker's inspector opens, live stacks for the control app's /stack, and the `[hang]` autopsy
// of a worker that missed workerTimeout, written through the diagnostics sinks.
import type { ClientWorkReport } from '../server/own-work.js';
import type { Logger } from 'pino';
import { appFileOf } from '../server/app-files.js';
import type { WorkerHandle } from '../server/cluster/worker-handle.js';
import type { TspumaError } from '../server/errors.js';
import { noInspectTarget, type DevTools } from '../server/cluster/primary-deps.js';
import type { DiagnosticsHook } from '../server/debug-hook.js';
import type { InspectAddress, Options } from '../server/options.js';
import type { Dump } from '../diagnostics/model.js';
import { deliveryFor, standaloneSinks } from '../diagnostics/index.js';
import { autopsy, type Emitted } from './autopsy.js';
import type { Target } from './discovery.js';
import { liveStackDump } from './remote.js';
import { inspectorState, startInspector, targetId, targetTitle, type InspectorSetup, type InspectorState } from './setup.js';

export class PrimaryDevTools implements DevTools {
  /** Discovery (its thread, the primary's own target); set by start(). */
  private setup: InspectorSetup | null = null;
  /** Set by the primary: told of each heap snapshot a client takes of a worker. */
  onSnapshot: ((pid: number, state: 'start' | 'progress' | 'end') => void) | null = null;
  onWork: ((pid: number, work: ClientWorkReport) => void) | null = null;
  /** The primary's workers by index (Primary.current). */
  private workers: ReadonlyMap<number, WorkerHandle> = new Map();

  constructor(
    private readonly options: Options,
    private readonly log: Logger,
    /** Where autopsy dumps go: debug mode's sinks, else sinks of their own (the dump folder, onDump). */
    private readonly emitDump: (dump: Dump) => Emitted,
  ) {}

  /** Starts discovery in its thread, listing the primary and each of `workers` (read as they change). */
  async start(addr: InspectAddress, workers: ReadonlyMap<number, WorkerHandle>): Promise<void> {
    this.workers = workers;
    this.setup = await startInspector(addr, { kind: 'primary' }, () => this.targets(), this.log, (pid, state) => this.onSnapshot?.(pid, state), (pid, work) => this.onWork?.(pid, work));
  }

  /** Discovery's address (the state file's inspect_url). */
  get url(): string | null {
    return this.setup?.url ?? null;
  }

  /** What the state file says about the inspectors at boot. */
  state(): InspectorState {
    return inspectorState(this.setup, this.targets(), appFileOf(this.options.app, this.options.appBase));
  }

  /** Keeps the state file's inspectors current from now on, as workers come and go. */
  trackState(file: string): void {
    this.setup?.trackState(file);
  }

  close(): Promise<void> {
    return this.setup?.close() ?? Promise.resolve();
  }

  inspectorOpened(h: WorkerHandle): void {
    if (!this.setup) return;
    this.setup.refresh();
    const link = this.setup.devtools(targetId({ kind: 'worker', index: h.index }));
    this.log.info({ worker: h.index, workerPid: h.pid, devtools: link }, `* DevTools for worker ${h.index} (PID: ${h.pid}): ${link}`);
  }

  exited(): void {
    this.setup?.refresh();
  }

  autopsy(h: WorkerHandle, why: TspumaError): Promise<unknown> | null {
    const target = this.targetOf(h);
    const o = this.options;
    if (!target || o.workerAutopsyTimeout <= 0) return null;
    const opts = { timeoutMs: o.workerAutopsyTimeout * 1000, frames: o.dumpFrames, redact: o.redact };
    return autopsy({ ...target, worker: h.index }, h.pid, why, opts, this.emitDump, this.log);
  }

  stackOf(index: number): Promise<Dump> {
    const h = this.workers.get(index);
    const target = h ? this.targetOf(h) : null;
    if (!target) return Promise.reject(noInspectTarget(index, this.targets()));
    return liveStackDump(target, { frames: this.options.dumpFrames, redact: this.options.redact });
  }

  /** Every worker with an inspector, under ids stable across respawns. */
  targets(): Target[] {
    const out: Target[] = [];
    for (const h of [...this.workers.values()].sort((a, b) => a.index - b.index)) {
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
}

/** The primary's DevTools with --inspect (or -d): autopsy dumps through debug mode's sinks, or sinks of their own. */
export function primaryDevTools(options: Options, log: Logger, diagnostics: DiagnosticsHook | null): PrimaryDevTools {
  const sinks = diagnostics ? null : standaloneSinks(process.env, options.dumpDir, deliveryFor(options.onDump, log));
  return new PrimaryDevTools(options, log, (dump) => diagnostics ? diagnostics.emit(dump) : sinks!.emit(dump));
}
