// Which app call's work is running now, for debug mode's attribution (attribution.ts): set for the
// synchronous part of the call, and carried into the work the call starts through promises
// (awaits, then-callbacks: V8's promise hooks), process.nextTick and the global timer functions
// (setTimeout, setInterval, setImmediate, queueMicrotask), whose callbacks are wrapped only while
// a call is current. process.nextTick matters most: node's streams deliver what they already hold
// through it (a request body that was in before the app ran: express.json() hands the parsed
// body to the next handler from a 'data'/'end' event that nextTick scheduled).
//
// Why not AsyncLocalStorage: on Node 20 it turns on async_hooks for the whole process, so every
// async resource node makes (each response's write, each tick object), in every request, calls
// into JavaScript, and the current resource is tracked on every callback. On bare node:http's
// hello world that measured +10,600 instructions per request (callgrind, 56,589 → 67,170:
// +19%), most of what debug mode cost a request that never throws. Here a call that makes no
// promise and sets no timer costs two assignments.
//
// Not followed (attributed to no call): callbacks of I/O the call started and that completes
// later (fs, dns, a socket's next read), and timers taken from node:timers rather than the
// globals. A throw there is still captured and dumped; its dump does not name the request.
//
// No function of this module runs around the app's callbacks: node calls them as it would without
// debug mode, so the app's stack texts keep the same frames and names (T6: a wrapper showed as
// `at Immediate._onImmediate (…/call-context.js)` between the app's frame and node's, and the app's
// callback lost its name, `Timeout._onTimeout`). Instead:
// - a Timeout or Immediate the call made gets two accessors, on the property node reads just
//   before calling the callback (`_timerArgs`, `_argv`) and on one it reads just after, in a
//   `finally` (`_repeat`, `_idleNext`): the call is current between the two reads (node's
//   lib/internal/timers.js; test/unit/call-context.test.ts pins both reads);
// - a tick (and a microtask) is queued between two of ours, which make the call current and
//   restore the one before: the queue runs in order and what the callback queues goes after.
// The app call itself is entered and left by its caller (enter(), leave()), not run through a
// function of ours. What still runs through one (the request's stream events, attribution.ts)
// is taken out of stack texts by app-stacks.ts.
import { promiseHooks } from 'node:v8';
import { promisify } from 'node:util';

/** The call a promise was made in (set on promises made while a call is current). */
const kCall = Symbol('tspuma.call');
type Marked = Promise<unknown> & { [kCall]?: unknown };

type TimerName = 'setTimeout' | 'setInterval' | 'setImmediate' | 'queueMicrotask' | 'nextTick';

/**
 * The process object, read once: `process` is an accessor on globalThis (node's, for ES modules),
 * and reading it through the global each time a stretch closes (three times a request) was a
 * global load and a getter call each.
 */
const processObject = process;

/** No call saved (a timer's accessors between the read before the callback and the one after). */
const NOT_ENTERED = Symbol('tspuma.notEntered');

export class CallContext<T extends object> {
  private now: T | undefined = undefined;
  /** Calls of the promise reactions running now (a reaction may run inside another's microtask checkpoint). */
  private readonly saved: (T | undefined)[] = [];
  /** Calls before each followed tick or microtask now running (enterQueued/leaveQueued). */
  private readonly queuedSaved: (T | undefined)[] = [];
  private stopHooks: (() => unknown) | null = null;
  private readonly replaced = new Map<TimerName, { owner: Record<TimerName, unknown>; original: unknown; wrapper: unknown }>();
  /** Queued before and after a followed tick or microtask (made once: no closure per tick). */
  private readonly enterQueued = (call: T): void => {
    this.queuedSaved.push(this.now);
    if (this.stretch !== undefined) this.closeStretch();
    this.now = call;
  };
  /**
   * The call whose ticks are being queued now: our enter tick is queued before them, and our leave
   * tick is queued once, when `now` next changes (closeStretch), so the ticks a call queues in one
   * go share one pair (a response queues several: 6 per request on a plain listener).
   */
  private stretch: T | undefined = undefined;
  /** process.nextTick as it was (the leave tick goes through it). */
  private queueTick: ((...args: unknown[]) => unknown) | null = null;

  /** Queues the leave tick of the open stretch: called before `now` changes. */
  private closeStretch(): void {
    this.stretch = undefined;
    this.queueTick?.call(processObject, this.leaveQueued);
  }

  private readonly leaveQueued = (): void => {
    if (this.stretch !== undefined) this.closeStretch();
    this.now = this.queuedSaved.pop();
  };

  /** Starts following calls into promises and timers; until then only the synchronous part is known. */
  enable(): void {
    if (this.stopHooks) return;
    this.stopHooks = <() => unknown>promiseHooks.createHook({
      init: (promise) => {
        if (this.now !== undefined) (promise as Marked)[kCall] = this.now;
      },
      before: (promise) => {
        this.saved.push(this.now);
        if (this.stretch !== undefined) this.closeStretch();
        this.now = (promise as Marked)[kCall] as T | undefined;
      },
      after: () => {
        if (this.stretch !== undefined) this.closeStretch();
        this.now = this.saved.pop();
      },
    });
    const global = globalThis as unknown as Record<TimerName, unknown>;
    this.followTimer(global, 'setTimeout', '_timerArgs', '_repeat');
    this.followTimer(global, 'setInterval', '_timerArgs', '_repeat');
    this.followTimer(global, 'setImmediate', '_argv', '_idleNext');
    this.followQueue(global, 'queueMicrotask');
    this.followQueue(process as unknown as Record<TimerName, unknown>, 'nextTick');
  }

  /** Stops following (the globals go back, unless something replaced them since). */
  disable(): void {
    if (this.stretch !== undefined) this.closeStretch();
    this.stopHooks?.();
    this.stopHooks = null;
    for (const [name, { owner, original, wrapper }] of this.replaced) if (owner[name] === wrapper) owner[name] = original;
    this.replaced.clear();
  }

  /**
   * Makes `call` current; returns the call to hand back to leave() (in a finally). The caller
   * calls the app itself between the two, so no frame of debug mode is under the app's.
   */
  enter(call: T): T | undefined {
    const before = this.now;
    if (this.stretch !== undefined) this.closeStretch();
    this.now = call;
    return before;
  }

  leave(before: T | undefined): void {
    if (this.stretch !== undefined) this.closeStretch();
    this.now = before;
  }

  /** Runs fn(a, b) with `call` current; the call before it is current again afterwards. */
  run<A, B, R>(call: T, fn: (a: A, b: B) => R, a: A, b: B): R {
    const before = this.now;
    if (this.stretch !== undefined) this.closeStretch();
    this.now = call;
    try {
      return fn(a, b);
    } finally {
      if (this.stretch !== undefined) this.closeStretch();
      this.now = before;
    }
  }

  /** The call whose work is running now (also while V8 is paused in it). */
  current(): T | undefined {
    return this.now;
  }

  /**
   * Replaces owner[name] (setTimeout, setInterval, setImmediate) with one that, inside a call,
   * gives the timer object it returns the two accessors that make the call current while node
   * runs its callback: `before` is read just before the callback, `after` just after it.
   */
  private followTimer(owner: Record<TimerName, unknown>, name: TimerName, before: string, after: string): void {
    const original = owner[name] as (...args: unknown[]) => unknown;
    if (typeof original !== 'function') return;
    const context = this;
    const wrapper = function (this: unknown): unknown {
      // eslint-disable-next-line prefer-rest-params
      const timer = Reflect.apply(original, this, arguments) as Record<string, unknown> | undefined;
      const call = context.now;
      if (call !== undefined && timer !== null && typeof timer === 'object') context.follow(timer, call, before, after);
      return timer;
    };
    this.replace(owner, name, original, wrapper);
  }

  private follow(timer: Record<string, unknown>, call: T, before: string, after: string): void {
    let beforeValue = timer[before];
    let afterValue = timer[after];
    let saved: T | undefined | typeof NOT_ENTERED = NOT_ENTERED;
    // Not enumerable: an app logging the timer does not see accessors in place of its fields.
    Object.defineProperty(timer, before, {
      configurable: true,
      enumerable: false,
      get: () => {
        if (saved === NOT_ENTERED) saved = this.now;
        if (this.stretch !== undefined) this.closeStretch();
        this.now = call;
        return beforeValue;
      },
      set: (v: unknown) => {
        beforeValue = v;
      },
    });
    Object.defineProperty(timer, after, {
      configurable: true,
      enumerable: false,
      get: () => {
        if (saved !== NOT_ENTERED) {
          if (this.stretch !== undefined) this.closeStretch();
          this.now = saved;
          saved = NOT_ENTERED;
        }
        return afterValue;
      },
      set: (v: unknown) => {
        afterValue = v;
      },
    });
  }

  /**
   * Replaces owner[name] (process.nextTick, queueMicrotask) with one that, inside a call, queues
   * the callback between two of ours that make the call current and restore the one before. The
   * callback is queued as given: node calls it as it would without debug mode.
   */
  private followQueue(owner: Record<TimerName, unknown>, name: 'nextTick' | 'queueMicrotask'): void {
    const original = owner[name] as (...args: unknown[]) => unknown;
    if (typeof original !== 'function') return;
    const context = this;
    const tick = name === 'nextTick';
    if (tick) this.queueTick = original;
    const wrapper = function (this: unknown, callback: unknown): unknown {
      const call = context.now;
      // eslint-disable-next-line prefer-rest-params
      if (call === undefined || typeof callback !== 'function') return Reflect.apply(original, this, arguments);
      if (tick) {
        // One enter tick for the ticks the call queues until `now` changes (its leave tick is queued then).
        if (context.stretch === undefined) {
          original.call(this, context.enterQueued, call);
          context.stretch = call;
        }
        // eslint-disable-next-line prefer-rest-params
        return Reflect.apply(original, this, arguments);
      }
      original.call(this, () => context.enterQueued(call));
      // eslint-disable-next-line prefer-rest-params
      const result = Reflect.apply(original, this, arguments);
      original.call(this, context.leaveQueued);
      return result;
    };
    this.replace(owner, name, original, wrapper);
  }

  private replace(owner: Record<TimerName, unknown>, name: TimerName, original: (...args: unknown[]) => unknown, wrapper: (...args: unknown[]) => unknown): void {
    // util.promisify(setTimeout) and friends keep working.
    const custom = (original as { [promisify.custom]?: unknown })[promisify.custom];
    if (custom !== undefined) Object.defineProperty(wrapper, promisify.custom, { value: custom, configurable: true });
    Object.defineProperty(wrapper, 'name', { value: name });
    Object.defineProperty(wrapper, 'length', { value: original.length });
    owner[name] = wrapper;
    this.replaced.set(name, { owner, original, wrapper });
  }
}
