// A cluster's listening sockets, Puma's way: the primary binds every bind once (binder.ts
// bindForWorkers) and holds the sockets for its whole life; each worker is forked with copies of
// them (fds after its IPC channel, beside the sockets systemd passed) and listens on those. All
// workers share one accept queue per bind, and no worker's death (not even the only one's) closes
// one: connections made while no worker listens wait in its backlog, and a port-0 bind keeps its
// port across respawns and restarts.
import type { Logger } from 'pino';
import { bindForWorkers, type KeptBind } from '../binder.js';
import type { BindSpec } from '../binder-uri.js';
import type { DiagnosticsHook } from '../debug-hook.js';
import type { Options } from '../options.js';
import { WORKER_BINDS_ENV } from '../shared-names.js';
import { LISTEN_FDS_START, WORKER_LISTEN_FDS_ENV, isFdBind, workerListenFds, type FdBindSpec } from '../systemd.js';

/**
 * Binds every bind but systemd's (those listen already), in order; rejects with the first coded
 * listen error after closing the ones already bound.
 */
export async function bindListeners(options: Options, log: Logger, diagnostics: DiagnosticsHook | null): Promise<KeptBind[]> {
  const kept: KeptBind[] = [];
  try {
    for (const spec of options.bind) if (!isFdBind(spec)) kept.push(await bindForWorkers(spec, log, diagnostics));
  } catch (err) {
    for (const k of kept) k.close();
    throw err;
  }
  return kept;
}

/** What every worker is forked with: the fds passed after its IPC channel and the environment that names them. */
export interface WorkerListeners {
  readonly stdio: readonly number[];
  readonly env: Readonly<Record<string, string>>;
}

/**
 * The fds each fork gets (stdio [0, 1, 2, 'ipc', ...stdio], so the i-th is the worker's fd 4 + i):
 * systemd's activated sockets first (TSPUMA_LISTEN_FDS, systemd.ts), then the kept ones, whose
 * binds go in TSPUMA_BINDS as JSON, each with the worker's fd of its socket.
 */
export function workerListeners(binds: readonly BindSpec[], kept: readonly KeptBind[]): WorkerListeners {
  const systemd = workerListenFds(binds);
  const stdio = [...(systemd?.stdio ?? [])];
  const env: Record<string, string> = {};
  if (systemd) env[WORKER_LISTEN_FDS_ENV] = systemd.env;
  // Set even when empty (systemd's sockets only): a TSPUMA_BINDS in the primary's own environment never reaches a worker.
  const first = LISTEN_FDS_START + 1 + stdio.length;
  env[WORKER_BINDS_ENV] = JSON.stringify(kept.map((k, i) => ({ ...k.spec, fd: first + i })));
  stdio.push(...kept.map((k) => k.fd));
  return { stdio, env };
}

/** In a worker: the primary's kept binds with this process's fds, taken out of the environment (the app never sees them); null when none came. */
export function takeWorkerBinds(env: NodeJS.ProcessEnv): FdBindSpec[] | null {
  const text = env[WORKER_BINDS_ENV];
  delete env[WORKER_BINDS_ENV];
  if (text === undefined) return null;
  return (JSON.parse(text) as FdBindSpec[]).map((b) => Object.freeze({ ...b, kept: true as const }));
}

/** What names one socket: its path, or its host and port as written (port 0 included). */
function bindKey(spec: BindSpec): string {
  return spec.scheme === 'unix' ? `unix://${spec.path}` : `${spec.host}:${spec.port}`;
}

/**
 * A worker's options with the primary's binds: systemd's sockets as this worker found them, then
 * the kept ones, in the primary's order. A worker reads the config again at each fork, but the
 * binds are the primary's for its whole life (as with Puma's phased restart): `added` and
 * `removed` name the config's binds that changed since the primary started, for a warning.
 */
export function withWorkerBinds(options: Options, kept: readonly FdBindSpec[]): { options: Options; added: string[]; removed: string[] } {
  const own = options.bind.filter((b) => !isFdBind(b));
  const keys = new Set(kept.map(bindKey));
  const ownKeys = new Set(own.map(bindKey));
  const added = own.filter((b) => !keys.has(bindKey(b))).map((b) => b.uri);
  const removed = kept.filter((b) => !ownKeys.has(bindKey(b))).map((b) => b.uri);
  const bind = Object.freeze([...options.bind.filter(isFdBind), ...kept]);
  return { options: Object.freeze({ ...options, bind }), added, removed };
}
