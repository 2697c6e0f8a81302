// Created by single.ts and cluster/run.ts when inspect is on: opens the process's own inspector,
// starts discovery in a worker thread (discovery-thread.ts) and prints the DevTools addresses.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { InspectAddress } from '../server/options.js';
import type { Target } from './discovery.js';
import type { FromThread, ThreadData, ToThread } from './discovery-thread.js';
import { devtoolsUrl, openInspector, type Role } from './open.js';

export interface InspectorSetup {
  /** http://HOST:PORT of discovery (/json/list). */
  readonly url: string;
  /** This process's own target. */
  readonly self: Target | null;
  /** The DevTools address of a process through discovery (stable across respawns). */
  devtools(id: string): string;
  /** Tells discovery the targets changed (a worker registered or exited). */
  refresh(): void;
  close(): void;
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
function startThread(addr: InspectAddress, targets: Target[], log: Logger): Promise<{ worker: Worker; port: number }> {
  const data: ThreadData = { host: addr.host, port: addr.port, targets };
  const worker = new Worker(new URL('./discovery-thread.js', import.meta.url), { workerData: data, execArgv: [], stdout: false, stderr: false, name: 'tspuma inspector discovery' });
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

export async function startInspector(addr: InspectAddress, role: Role, others: () => Target[], log: Logger): Promise<InspectorSetup> {
  const ws = openInspector(addr, role, log);
  const self: Target | null = ws ? { id: targetId(role), title: targetTitle(role, process.pid), pid: process.pid, worker: null, ws } : null;
  const targets = () => (self ? [self, ...others()] : others());
  const { worker, port } = await startThread(addr, targets(), log);
  const url = `http://${hostPort(addr.host, port)}`;
  const devtools = (id: string) => devtoolsUrl(`ws://${hostPort(addr.host, port)}/${id}`);
  log.info({ inspect: `${url}/json/list` }, `* Inspector discovery: ${url}/json/list${port === 9229 && addr.host === '127.0.0.1' ? ' (chrome://inspect lists it with no setup)' : ` (add ${hostPort(addr.host, port)} in chrome://inspect, Configure)`}`);
  if (self) log.info({ devtools: devtools(self.id) }, `* DevTools for the ${role.kind} (PID: ${process.pid}): ${devtools(self.id)}`);
  return {
    url,
    self,
    devtools,
    refresh: () => worker.postMessage({ type: 'targets', targets: targets() } satisfies ToThread),
    close: () => void worker.terminate(),
  };
}
