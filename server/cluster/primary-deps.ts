// What the cluster primary does to the world, as dependencies that tests replace with fakes:
// the fork (node:cluster running this same CLI, with the IPC guard preloaded into each worker and,
// with DevTools, the worker's stderr passed through the primary), the clock, the binding of the
// listening sockets, and DevTools and the probe registry where they are on; and what it tells
// the service manager (PrimaryEvents).
import type { ClientWorkReport } from '../own-work.js';
import cluster from 'node:cluster';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { KeptBind } from '../binder.js';
import type { DiagnosticsHook } from '../debug-hook.js';
import { TspumaError } from '../errors.js';
import type { Options } from '../options.js';
import { STDERR_TTY_ENV } from '../shared-names.js';
import type { Target } from '../../inspector/discovery.js';
import type { Dump } from '../../diagnostics/model.js';
import { realClock, type Clock } from './clock.js';
import { bindListeners } from './listeners.js';
import type { ProbeRegistry } from './probe-registry.js';
import type { ForkedWorker, WorkerHandle } from './worker-handle.js';

/** What the primary tells the service manager (run.ts wires it to sd_notify). */
export interface PrimaryEvents {
  /** The first worker booted: every bind listens. */
  serving(urls: readonly string[]): void;
  /** A phased or hot restart starts. */
  reloading(what: string): void;
  /** The restart ended (finished, or rolled back); `phase` is the generation serving. */
  reloaded(phase: number): void;
}

/** The primary's DevTools work (inspector/primary-devtools.ts), with --inspect or -d. */
export interface DevTools {
  /** A worker's inspector opened (handle.inspector is its URL): discovery lists it, its DevTools link is logged. */
  inspectorOpened(h: WorkerHandle): void;
  /** A worker exited: discovery drops it. */
  exited(h: WorkerHandle): void;
  /**
   * A worker about to be killed (`why`: it missed workerTimeout, or is still running at
   * workerShutdownTimeout): pauses it and writes its `[hang]` dump; settles (never rejects) within
   * workerAutopsyTimeout. Null: no autopsy (no inspector, or autopsies off).
   */
  autopsy(h: WorkerHandle, why: TspumaError): Promise<unknown> | null;
  /** A live stack of worker `index`; rejects with TSPUMA_ERR_INSPECT_TARGET when it has no inspector. */
  stackOf(index: number): Promise<Dump>;
  /** Set by the primary: a client's heap snapshot of worker process `pid` began, goes on, or ended. */
  onSnapshot?: ((pid: number, state: 'start' | 'progress' | 'end') => void) | null;
  /** Set by the primary: what a client has worker process `pid` do (a heap snapshot, a long evaluation), passed on to it. */
  onWork?: ((pid: number, work: ClientWorkReport) => void) | null;
}

/** Passes a worker's stderr pipe on to the primary's stderr. */
export type PassStderr = (stderr: Readable) => unknown;

/** What the primary does to the world, replaced by fakes in tests. */
export interface PrimaryDeps {
  /**
   * Forks one worker process whose environment adds `env`; `fds` are passed after its IPC channel;
   * with `passStderr` its stderr is a pipe, passed on by that function.
   */
  fork(env: Record<string, string>, fds?: readonly number[], passStderr?: PassStderr | null): ForkedWorker;
  clock: Clock;
  /**
   * Binds every bind but systemd's, before the first fork, for the primary's whole life (rejects
   * with the coded listen error): each worker is forked with copies of the sockets.
   */
  bindListeners(options: Options, log: Logger, diagnostics: DiagnosticsHook | null): Promise<readonly KeptBind[]>;
  /** DevTools work; null or absent (no --inspect, no -d): none, and no inspector module is loaded. */
  devtools?: DevTools | null;
  /**
   * With DevTools (the workers open inspectors): passes each worker's stderr on without Node's
   * `Debugger attached.` lines (worker-stderr.ts). Null or absent: workers write to fd 2 themselves.
   */
  passStderr?: PassStderr | null;
  /**
   * The cluster's probes; null or absent (no --control-url, through which alone a probe is set):
   * none, and the registry's modules are not loaded.
   */
  probes?: ProbeRegistry | null;
}

/** /stack of a worker that has no inspector: the targets there are, or a hint when there are none. */
export function noInspectTarget(index: number, available: readonly Target[]): TspumaError {
  return new TspumaError('TSPUMA_ERR_INSPECT_TARGET', { wanted: `worker ${index}`, url: 'the control app', available: available.map((t) => t.title).join(', ') || 'none (is --inspect or --debug on?)' });
}

/**
 * Preloaded into each worker (ipc-guard.cts): a primary gone before or while the worker starts
 * leaves it to say so in one line instead of node's raw EPIPE stack or a silent exit 0.
 */
const IPC_GUARD = fileURLToPath(new URL('./ipc-guard.cjs', import.meta.url));

let clusterReady = false;
/**
 * node:cluster's fork, running this same CLI with the same arguments. With `passStderr` (the
 * workers open inspectors) each worker's stderr comes through the primary, which drops Node's
 * `Debugger attached.` lines and passes every other byte on (worker-stderr.ts).
 */
function clusterFork(env: Record<string, string>, fds: readonly number[] = [], passStderr: PassStderr | null = null): ForkedWorker {
  const filterStderr = passStderr !== null;
  if (!clusterReady) {
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    // The listening sockets (systemd's, the kept ones) go to each worker as fds 4.. (3 is its IPC channel).
    const stdio = fds.length > 0 || filterStderr ? { stdio: [0, 1, filterStderr ? 'pipe' : 2, 'ipc', ...fds] } : {};
    cluster.setupPrimary({ exec: process.argv[1]!, args: process.argv.slice(2), execArgv: [...process.execArgv, '--require', IPC_GUARD], silent: false, ...stdio });
    clusterReady = true;
  }
  // The worker's stderr is a pipe then: what tspuma colours on a terminal follows the primary's.
  const worker = cluster.fork(filterStderr && process.stderr.isTTY === true ? { ...env, [STDERR_TTY_ENV]: '1' } : env);
  if (passStderr && worker.process.stderr) void passStderr(worker.process.stderr);
  return worker;
}

export const defaultDeps: PrimaryDeps = { fork: clusterFork, clock: realClock, bindListeners };
