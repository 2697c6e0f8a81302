// Which request an app call's async work belongs to, for code that asks while that work runs: a
// probe hit on a line of a helper module, after an await, where no frame holds the request. Off by
// default: a worker switches it on with its first probe (and off with its last), so requests pay
// for it (one AsyncLocalStorage run per app call) only while a probe is set. Debug mode's own call
// context (diagnostics/attribution.ts) follows every app call from its start, so under -d a
// request already in the app when the first probe came is named as exactly; without -d work no
// context names is credited to no request: the requests from before the probe are given as its
// candidates, those still in the app and those that left it since alike (a handler goes on after
// its client hung up or after its response), and a request answered before the probe came may
// have left work running too, which nothing records.
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
  | { req: IncomingMessage }
  /**
   * No context names it: one of the requests that were in the app when tracking began (still in
   * it or not: their calls were not recorded and may still run), or work left by an earlier one.
   */
  | { req: null; oneOf: IncomingMessage[] };

/** Requests from before tracking kept as candidates (a worker with more in its app at once is rare). */
const MAX_BEFORE = 1000;

export class AppCalls {
  private readonly store = new AsyncLocalStorage<IncomingMessage>();
  private sources: AppCallSources = {};
  /**
   * Requests in the app when tracking began (their calls carry no record of this module), kept
   * until tracking stops: one whose client left or that was answered may still have work running.
   */
  private before: Set<IncomingMessage> | null = null;
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
    if (!on) {
      this.before = null;
      // An AsyncLocalStorage that ran keeps node's async hooks on, and with them V8's promise
      // hooks, paid at every promise of every request, until it is disabled: the last probe's
      // removal gives back what a worker cost before the first (run() enables it again).
      this.store.disable();
      return;
    }
    this.before = new Set();
    for (const req of this.sources.inApp?.() ?? []) {
      if (this.before.size >= MAX_BEFORE) break;
      this.before.add(req);
    }
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
   * For work no context names: the requests that began before tracking (their calls were not
   * recorded), as candidates, never one of them as its request: being the only one still in the
   * app does not make it the one (M8: a hit from a request whose client had left, or from work
   * after a response, was credited to another). Null when there are none.
   */
  untracked(): FoundRequest | null {
    const before = this.before;
    if (!before || before.size === 0) return null;
    return { req: null, oneOf: [...before] };
  }
}
