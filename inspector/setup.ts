// Inspect mode for a serving process: starts discovery in a worker thread (discovery-thread.ts),
// which also serves this process's own DevTools target through its bridge to the main thread (no
// inspector port of its own, so Node prints no line), and prints the DevTools addresses.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { InspectAddress } from '../server/options.js';
import type { Target } from './discovery.js';
import type { FromThread, ThreadData, ToThread } from './discovery-thread.js';
import type { ClientWorkListener, SnapshotListener } from './worker-proxy.js';
import { devtoolsUrl, quietChildInspectors, roleName, type Role } from './open.js';
import { updatePrivateJson } from '../server/private-file.js';
import { attachable, kOwnCode } from '../server/shared-names.js';
import { hostDuties } from '../server/side-thread.js';

export interface InspectorSetup {
  /** http://HOST:PORT of discovery (/json/list). */
  readonly url: string;
  /** This process's own target (served by discovery's bridge). */
  readonly self: Target | null;
  /** The DevTools address of a process through discovery (stable across respawns). */
  devtools(id: string): string;
  /** Tells discovery the targets changed (a worker registered or exited). */
  refresh(): void;
  /** Keeps the `inspectors` field of this state file current from now on, as workers come and go. */
  trackState(file: string): void;
  /** Stops discovery and its bridge (their sessions with this process end): resolves once the thread has exited. */
  close(): Promise<void>;
}

/** What a state file (-S) says about the inspectors, next to `inspect_url` (discovery). */
export interface InspectorState {
  /** The app file, so `tspuma inspect` can say which server it talks to. */
  app: string | null;
  /**
   * Each process's inspector as known at boot (a respawned worker's is in /json/list): a worker's
   * own, and for the primary or the single process its target on discovery.
   */
  inspectors: { id: string; pid: number; worker: number | null; ws: string }[];
}

const inspectorList = (targets: readonly Target[]): InspectorState['inspectors'] => targets.map((t) => ({ id: t.id, pid: t.pid, worker: t.worker, ws: t.ws }));

/** `app`: the app's file (app-loader.ts's appFileOf, or the file loaded). */
export function inspectorState(setup: InspectorSetup | null, others: readonly Target[], app: string | null): InspectorState {
  return {
    app,
    inspectors: inspectorList(setup ? [...(setup.self ? [setup.self] : []), ...others] : []),
  };
}

/** Rewrites the state file's `inspectors` (whole or not at all; 0600 like the file). */
function updateState(file: string, targets: readonly Target[], log: Logger): void {
  try {
    updatePrivateJson(file, { inspectors: inspectorList(targets) }, 'state file');
  } catch (err) {
    log.warn({ err, file }, `Cannot update the inspectors in state file ${file}: ${(err as Error).message}`);
  }
}

export function targetId(role: Role): string {
  return role.kind === 'worker' ? `tspuma-worker-${role.index}` : `tspuma-${role.kind}`;
}

export function targetTitle(role: Role, pid: number): string {
  return role.kind === 'worker' ? `tspuma worker ${role.index} (pid ${pid})` : role.kind === 'primary' ? `tspuma primary (pid ${pid})` : `tspuma (pid ${pid})`;
}

const hostPort = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/**
 * Discovery lives in a worker thread: a process spinning in a synchronous loop, or paused by
 * `tspuma inspect stack`, still lists itself and still carries the message that resumes it.
 */
function startThread(addr: InspectAddress, targets: Target[], log: Logger, onSnapshot: SnapshotListener | null, onWork: ClientWorkListener | null): Promise<{ worker: Worker; port: number }> {
  // Debug mode's capture runs in this process (it publishes ownCode), so in every worker too: one option for all.
  const capture = typeof (globalThis as Record<symbol, unknown>)[kOwnCode] === 'function';
  const data: ThreadData = { host: addr.host, port: addr.port, targets, capture };
  const worker = new Worker(new URL('./discovery-thread.js', import.meta.url), { workerData: data, execArgv: [], stdout: false, stderr: false, name: 'tspuma inspector discovery' });
  // The process's side-thread duties (debug mode's pause rescuer, started below) run in it.
  hostDuties(worker);
  return new Promise((resolve, reject) => {
    let listening = false;
    worker.on('message', (message: FromThread) => {
      switch (message.type) {
        case 'listening':
          listening = true;
          worker.unref(); // never what keeps the process alive
          resolve({ worker, port: message.port });
          return;
        case 'failed':
          reject(Object.assign(new Error(`inspector discovery cannot listen on ${hostPort(addr.host, addr.port)}: ${message.message}`), { code: message.code }));
          return;
        case 'log':
          log[message.level](message.obj, message.msg);
          return;
        case 'snapshot':
          onSnapshot?.(message.pid, message.state);
          return;
        case 'client-work':
          onWork?.(message.pid, message.work);
          return;
        default: {
          const never: never = message;
          log.warn({ message: never }, 'discovery thread: unknown message');
        }
      }
    });
    worker.on('error', (err) => {
      if (!listening) reject(err);
      else log.error({ err }, `Inspector discovery stopped: ${err.message}`);
    });
  });
}

export async function startInspector(addr: InspectAddress, role: Role, others: () => Target[], log: Logger, onSnapshot: SnapshotListener | null = null, onWork: ClientWorkListener | null = null): Promise<InspectorSetup> {
  // Before the first fork: workers open their inspector with no plain-text lines of Node's own.
  if (role.kind === 'primary') quietChildInspectors(process.execArgv);
  let self: Target | null = null;
  const targets = () => (self ? [self, ...others()] : others());
  const { worker, port } = await startThread(addr, targets(), log, onSnapshot, onWork);
  attachable(); // clients reach this process through discovery's bridge: debug mode's capture starts its pause rescuer
  const url = `http://${hostPort(addr.host, port)}`;
  const devtools = (id: string) => devtoolsUrl(`ws://${hostPort(addr.host, port)}/${id}`);
  const who = roleName(role);
  self = { id: targetId(role), title: targetTitle(role, process.pid), pid: process.pid, worker: null, ws: `ws://${hostPort(addr.host, port)}/${targetId(role)}`, bridge: true };
  worker.postMessage({ type: 'targets', targets: targets() } satisfies ToThread);
  let stateFile: string | null = null;
  log.info({ inspect: `${url}/json/list` }, `* Inspector discovery: ${url}/json/list${port === 9229 && addr.host === '127.0.0.1' ? ' (chrome://inspect lists it with no setup)' : ` (add ${hostPort(addr.host, port)} in chrome://inspect, Configure)`}`);
  log.info({ inspector: self.ws, pid: process.pid }, `* Inspector of ${who} (PID: ${process.pid}): ${self.ws} (through discovery: no inspector port of its own, no line of Node's)`);
  log.info({ devtools: devtools(self.id) }, `* DevTools for ${who} (PID: ${process.pid}): ${devtools(self.id)}`);
  return {
    url,
    self,
    devtools,
    refresh: () => {
      worker.postMessage({ type: 'targets', targets: targets() } satisfies ToThread);
      if (stateFile !== null) updateState(stateFile, targets(), log);
    },
    trackState: (file: string) => {
      stateFile = file;
      updateState(file, targets(), log);
    },
    close: async () => {
      stateFile = null;
      // Awaited before the process exits: a DevTools client still attached through the bridge
      // would otherwise make Node print "Waiting for the debugger to disconnect..." at exit.
      await worker.terminate();
    },
  };
}
