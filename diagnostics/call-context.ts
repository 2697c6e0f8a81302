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
import { promiseHooks } from 'node:v8';
import { promisify } from 'node:util';

/** The call a promise was made in (set on promises made while a call is current). */
const kCall = Symbol('tspuma.call');
type Marked = Promise<unknown> & { [kCall]?: unknown };

const TIMERS = ['setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask'] as const;
type TimerName = (typeof TIMERS)[number] | 'nextTick';

export class CallContext<T extends object> {
  private now: T | undefined = undefined;
  /** Calls of the promise reactions running now (a reaction may run inside another's microtask checkpoint). */
  private readonly saved: (T | undefined)[] = [];
  private stopHooks: (() => unknown) | null = null;
  private readonly replaced = new Map<TimerName, { owner: Record<TimerName, unknown>; original: unknown; wrapper: unknown }>();

  /** Starts following calls into promises and timers; until then only the synchronous part is known. */
  enable(): void {
    if (this.stopHooks) return;
    this.stopHooks = <() => unknown>promiseHooks.createHook({
      init: (promise) => {
        if (this.now !== undefined) (promise as Marked)[kCall] = this.now;
      },
      before: (promise) => {
        this.saved.push(this.now);
        this.now = (promise as Marked)[kCall] as T | undefined;
      },
      after: () => {
        this.now = this.saved.pop();
      },
    });
    for (const name of TIMERS) this.wrapTimer(globalThis as unknown as Record<TimerName, unknown>, name);
    this.wrapTimer(process as unknown as Record<TimerName, unknown>, 'nextTick');
  }

  /** Stops following (the globals go back, unless something replaced them since). */
  disable(): void {
    this.stopHooks?.();
    this.stopHooks = null;
    for (const [name, { owner, original, wrapper }] of this.replaced) if (owner[name] === wrapper) owner[name] = original;
    this.replaced.clear();
  }

  /** Runs fn(a, b) with `call` current; the call before it is current again afterwards. */
  run<A, B, R>(call: T, fn: (a: A, b: B) => R, a: A, b: B): R {
    const before = this.now;
    this.now = call;
    try {
      return fn(a, b);
    } finally {
      this.now = before;
    }
  }

  /** The call whose work is running now (also while V8 is paused in it). */
  current(): T | undefined {
    return this.now;
  }

  /** fn, run with `call` current whenever it is called. */
  private bind<F extends (...args: never[]) => unknown>(call: T, fn: F): F {
    const context = this;
    // Up to three arguments passed on as they came without an arguments object (node's ticks pass
    // one or two); more through Reflect.apply.
    return function (this: unknown, a?: unknown, b?: unknown, c?: unknown) {
      const before = context.now;
      context.now = call;
      try {
        const f = fn as unknown as (...args: unknown[]) => unknown;
        switch (arguments.length) {
          case 0:
            return f.call(this);
          case 1:
            return f.call(this, a);
          case 2:
            return f.call(this, a, b);
          case 3:
            return f.call(this, a, b, c);
          default:
            // eslint-disable-next-line prefer-rest-params
            return Reflect.apply(fn, this, arguments);
        }
      } finally {
        context.now = before;
      }
    } as unknown as F;
  }

  /** Replaces owner[name] (a timer function, nextTick) with one that binds its callback to the current call, if any. */
  private wrapTimer(owner: Record<TimerName, unknown>, name: TimerName): void {
    const original = owner[name] as (...args: unknown[]) => unknown;
    if (typeof original !== 'function') return;
    const context = this;
    // Node's streams call process.nextTick several times in every response, inside the app call:
    // the bound callback goes on with the arguments as they came, without copying them into an
    // array for up to three (callgrind, -d on the listener hello world: the copy and the call
    // through it were about 2,000 instructions a request).
    const wrapper = function (this: unknown, callback: unknown, a?: unknown, b?: unknown, c?: unknown) {
      const call = context.now;
      // eslint-disable-next-line prefer-rest-params
      if (call === undefined || typeof callback !== 'function') return Reflect.apply(original, this, arguments);
      const bound = context.bind(call, callback as (...a: never[]) => unknown);
      switch (arguments.length) {
        case 1:
          return original.call(this, bound);
        case 2:
          return original.call(this, bound, a);
        case 3:
          return original.call(this, bound, a, b);
        case 4:
          return original.call(this, bound, a, b, c);
        default: {
          // eslint-disable-next-line prefer-rest-params
          const args = Array.prototype.slice.call(arguments);
          args[0] = bound;
          return Reflect.apply(original, this, args);
        }
      }
    };
    // util.promisify(setTimeout) and friends keep working.
    const custom = (original as { [promisify.custom]?: unknown })[promisify.custom];
    if (custom !== undefined) Object.defineProperty(wrapper, promisify.custom, { value: custom, configurable: true });
    Object.defineProperty(wrapper, 'name', { value: name });
    Object.defineProperty(wrapper, 'length', { value: original.length });
    owner[name] = wrapper;
    this.replaced.set(name, { owner, original, wrapper });
  }
}
