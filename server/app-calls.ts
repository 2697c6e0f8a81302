// Which request an app call's async work belongs to, for code that asks while that work runs: a
// probe hit on a line of a helper module, after an await, where no frame holds the request. Off by
// default: a worker switches it on with its first probe (and off with its last), so requests pay
// for it (one AsyncLocalStorage run per app call) only while a probe is set. Debug mode's own call
// context (diagnostics/attribution.ts) follows every app call from its start, so under -d a
// request already in the app when the first probe came is named as exactly; without -d such a
// request is named when it is the only one in the app from before the probe (`inferred`), else
// the candidates are given.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';

/** Where the requests of app calls come from besides this module's own record. */
export interface AppCallSources {
  /** Debug mode's call context: the request whose app call's work runs now (every call, from its start). */
  context?: (() => IncomingMessage | null) | null;
  /** The requests in the app now (the server's per-request records). */
  inApp?: (() => Iterable<IncomingMessage>) | null;
}

/** The request a piece of work belongs to, and how it was found. */
export type FoundRequest =
  | { req: IncomingMessage; inferred: false }
  /** The only request in the app that began before tracking did, and no context names another. */
  | { req: IncomingMessage; inferred: true }
  /** Several requests began before tracking and are still in the app: one of them, or none. */
  | { req: null; oneOf: IncomingMessage[] };

export class AppCalls {
  private readonly store = new AsyncLocalStorage<IncomingMessage>();
  private sources: AppCallSources = {};
  /** Requests in the app when tracking began (their calls carry no record of this module). */
  private before: WeakSet<IncomingMessage> | null = null;
  /** App calls that begin now are recorded (a plain field: the request path reads it on every call). */
  tracking = false;

  /** Set once the server exists. */
  observe(sources: AppCallSources): void {
    this.sources = sources;
  }

  /** Starts (or stops) recording app calls; the requests in the app now are noted as begun before. */
  track(on: boolean): void {
    if (on === this.tracking) return;
    this.tracking = on;
    this.before = on ? new WeakSet(this.sources.inApp?.() ?? []) : null;
  }

  /** Runs fn as the app call for req: its awaits, timers and promises carry req. */
  run<T>(req: IncomingMessage, fn: () => T): T {
    // Queued when tracking began, run now: recorded from here on.
    this.before?.delete(req);
    return this.store.run(req, fn);
  }

  /** The request whose app call's async context is running now (also while V8 is paused in it), found exactly. */
  current(): IncomingMessage | null {
    return this.store.getStore() ?? this.sources.context?.() ?? null;
  }

  /**
   * For work no context names: the requests in the app now that began before tracking (their
   * calls were not recorded): the one, inferred, or the candidates. Null when there are none.
   */
  untracked(): FoundRequest | null {
    const before = this.before;
    if (!before) return null;
    const left: IncomingMessage[] = [];
    for (const req of this.sources.inApp?.() ?? []) if (before.has(req)) left.push(req);
    if (left.length === 0) return null;
    return left.length === 1 ? { req: left[0]!, inferred: true } : { req: null, oneOf: left };
  }
}
