// The worker-thread entry of discovery: discovery, the DevTools proxy and the bridge to the main
// thread keep answering while the main thread spins or sits paused; every request goes to Discovery;
// a stop signal releases a main thread a client holds paused.
import { Session } from 'node:inspector';
import { parentPort, workerData } from 'node:worker_threads';
import { MainThreadBridge, type BridgeSession } from './bridge.js';
import { Discovery, type Target } from './discovery.js';
import { readNodeProtocol } from './node-protocol.js';
import { watchStopSignals } from './thread-signals.js';
import type { SnapshotState } from './worker-proxy.js';
import type { ClientWorkReport } from '../server/own-work.js';
import { serveDuties } from '../server/side-thread-duties.js';
import type { ToSideThread } from '../server/side-thread.js';

/** Main thread -> discovery thread (it also runs the process's side-thread duties: ../server/side-thread.ts). */
export type ToThread = { type: 'targets'; targets: Target[] } | ToSideThread;

/** Discovery thread -> main thread. */
export type FromThread =
  | { type: 'listening'; port: number }
  | { type: 'failed'; message: string; code: string | null }
  | { type: 'log'; level: 'info' | 'warn' | 'debug'; obj: Record<string, unknown>; msg: string }
  /** A client's heap snapshot of process `pid` (a worker) began, goes on, or ended. */
  | { type: 'snapshot'; pid: number; state: SnapshotState }
  /** What a client has process `pid` (a worker, or this process through the bridge) do: a heap snapshot, a long evaluation. */
  | { type: 'client-work'; pid: number; work: ClientWorkReport };

export interface ThreadData {
  host: string;
  port: number;
  targets: Target[];
  /** Debug mode captures at throws in every listed process: clients keep off its pause-on-exceptions state. */
  capture: boolean;
}

const port = parentPort;
if (port) {
  const data = workerData as ThreadData;
  let targets = data.targets;
  const post = (message: FromThread) => port.postMessage(message);
  const log = {
    info: (obj: Record<string, unknown>, msg: string) => post({ type: 'log', level: 'info', obj, msg }),
    warn: (obj: Record<string, unknown>, msg: string) => post({ type: 'log', level: 'warn', obj, msg }),
    debug: (obj: Record<string, unknown>, msg: string) => post({ type: 'log', level: 'debug', obj: { ...obj, err: obj.err instanceof Error ? obj.err.message : obj.err }, msg }),
  };
  const connect = (): BridgeSession => {
    const session = new Session();
    session.connectToMainThread();
    return session as unknown as BridgeSession;
  };
  const bridge = new MainThreadBridge(connect, log, data.capture, (work) => post({ type: 'client-work', pid: process.pid, work }));
  const discovery = new Discovery(() => targets, log, bridge, () => readNodeProtocol(), data.capture, (pid, state) => post({ type: 'snapshot', pid, state }), (pid, work) => post({ type: 'client-work', pid, work }));
  // A stop signal's handler runs on the main thread, which waits while a DevTools client holds it
  // paused: the signal releases the pause, so stopping never waits on a forgotten DevTools window.
  watchStopSignals((signal) => {
    const closed = bridge.release(`tspuma is stopping (${signal}): the paused main thread was resumed`);
    if (closed > 0) log.warn({ signal, clients: closed }, `Resumed the main thread, paused by a DevTools client, to handle ${signal} (${closed} DevTools client(s) closed)`);
  });
  // The process's side-thread duties (the pause rescuer under -d) run here: no thread of their own.
  serveDuties(port);
  port.on('message', (message: ToThread) => {
    switch (message.type) {
      case 'targets':
        targets = message.targets;
        return;
      case 'start':
      case 'stop':
        return; // serveDuties'
      default: {
        const never: never = message;
        log.warn({ message: never }, 'discovery thread: unknown message');
      }
    }
  });
  discovery.listen(data.host, data.port).then(
    (bound) => post({ type: 'listening', port: bound }),
    (err: NodeJS.ErrnoException) => post({ type: 'failed', message: err.message, code: err.code ?? null }),
  );
}
