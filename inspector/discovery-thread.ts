// The worker-thread entry of discovery: discovery, the DevTools proxy and the bridge to the main
// thread keep answering while the main thread spins or sits paused; every request goes to Discovery.
import { Session } from 'node:inspector';
import { parentPort, workerData } from 'node:worker_threads';
import { MainThreadBridge, type BridgeSession } from './bridge.js';
import { Discovery, type Target } from './discovery.js';
import { readNodeProtocol } from './node-protocol.js';

/** Main thread -> discovery thread. */
export type ToThread = { type: 'targets'; targets: Target[] };

/** Discovery thread -> main thread. */
export type FromThread =
  | { type: 'listening'; port: number }
  | { type: 'failed'; message: string; code: string | null }
  | { type: 'log'; level: 'warn' | 'debug'; obj: Record<string, unknown>; msg: string };

export interface ThreadData {
  host: string;
  port: number;
  targets: Target[];
}

const port = parentPort;
if (port) {
  const data = workerData as ThreadData;
  let targets = data.targets;
  const post = (message: FromThread) => port.postMessage(message);
  const log = {
    warn: (obj: Record<string, unknown>, msg: string) => post({ type: 'log', level: 'warn', obj, msg }),
    debug: (obj: Record<string, unknown>, msg: string) => post({ type: 'log', level: 'debug', obj: { ...obj, err: obj.err instanceof Error ? obj.err.message : obj.err }, msg }),
  };
  const connect = (): BridgeSession => {
    const session = new Session();
    session.connectToMainThread();
    return session as unknown as BridgeSession;
  };
  const discovery = new Discovery(() => targets, log, new MainThreadBridge(connect, log), () => readNodeProtocol());
  port.on('message', (message: ToThread) => {
    switch (message.type) {
      case 'targets':
        targets = message.targets;
        return;
      default: {
        const never: never = message.type;
        log.warn({ message: never }, 'discovery thread: unknown message');
      }
    }
  });
  discovery.listen(data.host, data.port).then(
    (bound) => post({ type: 'listening', port: bound }),
    (err: NodeJS.ErrnoException) => post({ type: 'failed', message: err.message, code: err.code ?? null }),
  );
}
