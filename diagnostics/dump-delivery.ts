// Hands each new dump to the user's `onDump(dump, { text, path })` (an error tracker, a bucket),
// after the failure's own response: called on the next turn of the event loop, never awaited by
// anything that answers a request. A throw, a rejection or a call still unsettled after
// `slowMs` is reported through `warn` with TSPUMA_ERR_DUMP_SINK; the server goes on.
import { TspumaError } from '../server/errors.js';
import type { Dump } from './model.js';

/** What onDump is given beside the dump: the rendered text and the .json file written, if any. */
export interface DumpExtras {
  readonly text: string;
  readonly path: string | null;
}

export type OnDump = (dump: Dump, extras: DumpExtras) => unknown;

export interface DeliveryTimers {
  /** Runs fn after the current turn (setImmediate). */
  readonly soon: (fn: () => void) => void;
  /** Runs fn after ms unless cancelled; must not keep the process alive. */
  readonly after: (ms: number, fn: () => void) => () => void;
  readonly now: () => number;
}

export const SYSTEM_TIMERS: DeliveryTimers = {
  soon: (fn) => void setImmediate(fn),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
  now: () => performance.now(),
};

/** An onDump call still running after this long is reported as slow (it is not cut short). */
export const SLOW_DELIVERY_MS = 10_000;

export class DumpDelivery {
  constructor(
    private readonly onDump: OnDump,
    private readonly warn: (err: TspumaError) => void,
    private readonly timers: DeliveryTimers = SYSTEM_TIMERS,
    private readonly slowMs = SLOW_DELIVERY_MS,
  ) {}

  /** Schedules one call; returns at once. The dump is a copy: the caller's stays as written. */
  deliver(dump: Dump, extras: DumpExtras): void {
    const copy = structuredClone(dump);
    this.timers.soon(() => this.call(copy, extras));
  }

  private call(dump: Dump, extras: DumpExtras): void {
    const what = `dump #${dump.id} (${dump.error.name}: ${dump.error.message})`;
    const fail = (problem: string, cause?: unknown) =>
      this.warn(new TspumaError('TSPUMA_ERR_DUMP_SINK', { dump: what, problem }, cause === undefined ? undefined : { cause }));
    const started = this.timers.now();
    let result: unknown;
    try {
      result = this.onDump(dump, extras);
    } catch (err) {
      return fail(`threw ${describe(err)}`, err);
    }
    const elapsed = this.timers.now() - started;
    if (!isThenable(result)) {
      if (elapsed > this.slowMs) fail(`ran synchronously for ${Math.round(elapsed)} ms, blocking the server meanwhile; make it asynchronous`);
      return;
    }
    let settled = false;
    const cancel = this.timers.after(this.slowMs, () => {
      if (!settled) fail(`has not settled after ${this.slowMs} ms (still running; nothing waits for it)`);
    });
    result.then(
      () => {
        settled = true;
        cancel();
      },
      (err: unknown) => {
        settled = true;
        cancel();
        fail(`rejected with ${describe(err)}`, err);
      },
    );
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
