// The record of one app call (a request), carried through its
// async context, in which the capturer notes every throw captured while the call's work runs
// (awaits, timers, fire-and-forget promises it started) and what the app logged, so a 5xx the
// app (or its framework) answered itself can be explained by the throw behind it.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Capture } from './capture.js';
import { clientAddressOf } from '../server/trusted-proxy.js';

/** A throw seen inside a call: its value and what the budget allowed (a capture, or a repeat's site). */
export interface Thrown {
  value: unknown;
  capture: Capture | null;
  /** Site key of an earlier capture, for a throw only counted as a repeat. */
  site: string | null;
}

export interface CallRecord {
  readonly req: IncomingMessage;
  readonly res: ServerResponse | null;
  /** Throws seen in this call's async context, oldest first (bounded). */
  readonly thrown: Thrown[];
  /** Errors (or stack texts) the app passed to console.error during the call (bounded). */
  readonly logged: unknown[];
  /** tspuma already dumped a failure of this call (the adapter saw the throw). */
  reported: boolean;
  /** The client's address when the call began (the socket may be closed by the time of a dump). */
  readonly remote: string | undefined;
}

const MAX_KEPT = 8;

export class Attribution {
  private readonly als = new AsyncLocalStorage<CallRecord>();
  private readonly byRequest = new WeakMap<IncomingMessage, CallRecord>();

  /** Runs fn as the app call for req: its async work carries the record. */
  run<T>(req: IncomingMessage, res: ServerResponse | null, fn: () => T): T {
    const record: CallRecord = { req, res, thrown: [], logged: [], reported: false, remote: clientAddressOf(req) };
    this.byRequest.set(req, record);
    return this.als.run(record, fn);
  }

  /** The record of the call whose async context is running now (also while V8 is paused). */
  current(): CallRecord | undefined {
    return this.als.getStore();
  }

  of(req: IncomingMessage): CallRecord | undefined {
    return this.byRequest.get(req);
  }

  forget(req: IncomingMessage): void {
    this.byRequest.delete(req);
  }

  noteThrown(record: CallRecord, thrown: Thrown): void {
    if (record.thrown.length >= MAX_KEPT) record.thrown.shift();
    record.thrown.push(thrown);
  }

  /** console.error's arguments, when called inside an app call: errors and stack texts are kept. */
  noteLogged(args: unknown[]): void {
    const record = this.als.getStore();
    if (!record) return;
    for (const a of args) {
      const keep = (a instanceof Error) || (typeof a === 'string' && /\n\s+at \S/.test(a));
      if (!keep) continue;
      if (record.logged.length >= MAX_KEPT) record.logged.shift();
      record.logged.push(a);
    }
  }
}
