// Which request an app call's async work belongs to, for code that asks while that work runs: a
// probe hit on a line of a helper module, after an await, where no frame holds the request. Off by
// default: a worker switches it on with its first probe (and off with its last), so requests pay
// for it (one AsyncLocalStorage run per app call) only while a probe is set.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';

export class AppCalls {
  private readonly store = new AsyncLocalStorage<IncomingMessage>();
  /** App calls that begin now are recorded. */
  tracking = false;

  /** Runs fn as the app call for req: its awaits, timers and promises carry req. */
  run<T>(req: IncomingMessage, fn: () => T): T {
    return this.store.run(req, fn);
  }

  /** The request whose app call's async context is running now (also while V8 is paused in it). */
  current(): IncomingMessage | null {
    return this.store.getStore() ?? null;
  }
}
