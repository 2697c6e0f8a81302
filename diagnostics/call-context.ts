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
// - a tick is known by its async id: node numbers each tick as it is queued (one counter for
//   every async resource) and holds the running tick's id and its trigger's (the id of the
//   work that queued it) where async_hooks.executionAsyncId() reads them. The ticks a call queues
//   in one stretch of one tick, callback or call (until the call current changes) have ids
//   between the counter's value when the stretch opened and when it closed, and one trigger: a
//   lookup inside a tick (current(), when no call was made current synchronously) finds the
//   stretch by the running tick's id and trigger. The counter and the stack of running resources
//   are read from node's async_wrap binding (process.binding, no hooks). Where that is not
//   available, the ticks are queued
//   between two of ours that make the call current and restore the one before, as a microtask
//   always is: the queue runs in order and what the callback queues goes after. The ids cost no
//   tick: a keep-alive GET queued 16 ticks with the pairs, 10 without (bench/README.md).
// The app call itself is entered and left by its caller (enter(), leave()), not run through a
// function of ours. What still runs through one (the request's stream events, attribution.ts)
// is taken out of stack texts by app-stacks.ts.
import { AsyncResource } from 'node:async_hooks';
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

/** What of node's async_wrap binding the tick lookup reads (lib/internal/async_hooks.js keeps them there). */
interface AsyncIds {
  /** kExecutionAsyncId, kTriggerAsyncId, kAsyncIdCounter, kDefaultTriggerAsyncId. */
  readonly ids: Float64Array;
  /** kStackLength: how many resources are running, nested. */
  readonly fields: Uint32Array;
  /** The running resources, innermost last (a tick's is its queue entry: { callback, args }). */
  readonly resources: unknown[];
  /** The ids (execution, trigger) saved under each nested resource; replaced when node grows it. */
  readonly binding: { async_ids_stack: Float64Array };
  readonly kExecutionAsyncId: number;
  readonly kTriggerAsyncId: number;
  readonly kAsyncIdCounter: number;
  readonly kDefaultTriggerAsyncId: number;
  readonly kStackLength: number;
}

/**
 * Node's async id fields and resource stack, or null where process.binding or the fields are not as
 * lib/internal/async_hooks.js (Node 20, 22) leaves them. Node warns once (DEP0111) at the first
 * process.binding('async_wrap'): debug mode's own read is made with deprecation warnings off, so
 * the app's output shows none of it. test/unit/call-context.test.ts pins what the lookup assumes.
 */
export function asyncIds(): AsyncIds | null {
  const binding = (process as unknown as { binding?: (name: string) => unknown }).binding;
  if (typeof binding !== 'function') return null;
  const quiet = process.noDeprecation;
  try {
    process.noDeprecation = true;
    const b = binding.call(process, 'async_wrap') as {
      async_id_fields?: unknown;
      async_hook_fields?: unknown;
      execution_async_resources?: unknown;
      async_ids_stack?: unknown;
      constants?: Record<string, number>;
    };
    const c = b.constants;
    if (!(b.async_id_fields instanceof Float64Array) || !(b.async_hook_fields instanceof Uint32Array) || !Array.isArray(b.execution_async_resources) || !(b.async_ids_stack instanceof Float64Array) || !c) return null;
    const names = ['kExecutionAsyncId', 'kTriggerAsyncId', 'kAsyncIdCounter', 'kDefaultTriggerAsyncId', 'kStackLength'] as const;
    if (names.some((n) => typeof c[n] !== 'number')) return null;
    return {
      ids: b.async_id_fields,
      fields: b.async_hook_fields,
      resources: b.execution_async_resources,
      binding: b as { async_ids_stack: Float64Array },
      kExecutionAsyncId: c.kExecutionAsyncId!,
      kTriggerAsyncId: c.kTriggerAsyncId!,
      kAsyncIdCounter: c.kAsyncIdCounter!,
      kDefaultTriggerAsyncId: c.kDefaultTriggerAsyncId!,
      kStackLength: c.kStackLength!,
    };
  } catch {
    return null;
  } finally {
    process.noDeprecation = quiet;
  }
}

/** A running resource that is a tick's queue entry (`{ callback, args }`, a plain object). */
function isTick(resource: unknown): boolean {
  return typeof resource === 'object' && resource !== null && (resource as { constructor?: unknown }).constructor === Object;
}

/** Closed stretches kept at most (a power of 2): one is dropped once a later tick ran, or past this many. */
const MAX_STRETCHES = 1024;
/** How many AsyncResource scopes (runInAsyncScope) inside a tick the lookup looks through. */
const MAX_SCOPES = 4;

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
    if (this.open) this.closeStretch();
    this.now = call;
  };
  /**
   * Whether a stretch is open: a call's ticks are being queued now, until `now` changes
   * (closeStretch), or, with async ids, until a tick is queued for another call or from other work.
   * With async ids the stretch is the ids above `stretchLo` queued from `stretchTrigger`, and its
   * call is already in the ring's next slot (`calls[tail]`, reserved when it opened: one store of
   * the call a stretch, each a write barrier, the call being young and the ring old); without them
   * our enter tick is queued before its ticks and our leave tick when it closes, so the ticks a call
   * queues in one go share one pair (a response queues several: 6 per request on a plain listener).
   */
  private open = false;
  private stretchLo = 0;
  private stretchTrigger = 0;
  /**
   * Closed stretches whose ticks may not all have run, a ring from `head` (oldest) to `tail`: ids
   * (lo, hi], trigger, call. Typed arrays and fixed slots: no array grows or shrinks per request.
   */
  private readonly lo = new Float64Array(MAX_STRETCHES);
  private readonly hi = new Float64Array(MAX_STRETCHES);
  private readonly trigger = new Float64Array(MAX_STRETCHES);
  private readonly calls: (T | undefined)[] = new Array<T | undefined>(MAX_STRETCHES).fill(undefined);
  private head = 0;
  private tail = 0;
  /** The last execution id looked up with a tick (not a scope) innermost, and its call: a tick looks up once. */
  private lastId = -1;
  private lastCall: T | undefined = undefined;
  /**
   * The execution id whose ticks the open stretch takes as they are queued, or -1: set by lookup
   * when it leaves a stretch open for the call it returns, with that id as its trigger (no
   * default trigger set); cleared whenever the stretch closes, which every change of `now` does.
   * While it holds, the nextTick wrapper queues without a lookup: the lookup would find the same
   * call and the same open stretch (a response queues several ticks from one tick: 3 of the 10
   * lookups a request on the bench listener).
   */
  private openFor = -1;
  /** process.nextTick as it was (the leave tick goes through it). */
  private queueTick: ((...args: unknown[]) => unknown) | null = null;
  /** Node's async ids, or null: ticks are then followed with a pair of ticks of ours. */
  private readonly ids: AsyncIds | null;

  /** @param options.pairs follow ticks with enter and leave ticks of ours even where async ids can be read. */
  constructor(options: { pairs?: boolean } = {}) {
    this.ids = options.pairs === true ? null : asyncIds();
  }

  /** Closes the open stretch: called before `now` changes. */
  private closeStretch(): void {
    this.open = false;
    this.openFor = -1;
    const a = this.ids;
    if (a === null) {
      this.queueTick?.call(processObject, this.leaveQueued);
      return;
    }
    // Its call is in the slot already (put there by lookup as the stretch opened).
    const i = this.tail++ & (MAX_STRETCHES - 1);
    this.lo[i] = this.stretchLo;
    this.hi[i] = a.ids[a.kAsyncIdCounter]!;
    this.trigger[i] = this.stretchTrigger;
  }

  /**
   * The call whose work is running now when none is current synchronously (`now` unset): the call
   * of the stretch the running tick was queued in, if a tick is running (under at most MAX_SCOPES
   * AsyncResource scopes: on-finished runs its listeners in one). Ticks run in the order queued,
   * with rising ids, so the closed stretches below this tick's id are done: dropped. With
   * `queued` a function (the nextTick wrapper's callback, about to be queued) and a call found or
   * current, it also opens a stretch for the call unless one is open for it.
   *
   * One function, not a lookup, a stretch search and an opener calling each other, on purpose:
   * its bytecode is over V8's size limit for inlining a function (max-inlined-bytecode-size, 460
   * bytes; test/unit/call-context.test.ts checks), so it is never inlined into the nextTick
   * wrapper. The wrapper stays a few dozen bytes that node's callers of process.nextTick inline,
   * and node's nextTick is inlined with it as without debug mode. Inlined, this function's ~600
   * bytes took V8's inlining budget in the wrapper, which node's callers then called out of line,
   * and node's nextTick behind it (bench/README.md, session 19).
   */
  private lookup(queued: unknown): T | undefined {
    const a = this.ids;
    if (a === null) return this.now;
    const mask = MAX_STRETCHES - 1;
    let call = this.now;
    const depth = a.fields[a.kStackLength]!;
    if (call === undefined && depth !== 0 && (this.open || this.head !== this.tail)) {
      let id = a.ids[a.kExecutionAsyncId]!;
      if (id === this.lastId) call = this.lastCall;
      else {
        let k = depth - 1;
        let resource = a.resources[k];
        // A tick's queue entry is a plain object; timers, immediates, scopes and handles are not.
        if (!isTick(resource)) for (let scopes = 0; resource instanceof AsyncResource && scopes < MAX_SCOPES && k > 0; scopes++) resource = a.resources[--k];
        if (!isTick(resource)) return undefined;
        let trigger: number;
        if (k === depth - 1) trigger = a.ids[a.kTriggerAsyncId]!;
        else {
          const stack = a.binding.async_ids_stack;
          id = stack[2 * (k + 1)]!;
          trigger = stack[2 * (k + 1) + 1]!;
        }
        if (this.open && id > this.stretchLo && trigger === this.stretchTrigger) call = this.calls[this.tail & mask];
        else {
          let h = this.head;
          while (h !== this.tail && this.hi[h & mask]! < id) this.calls[h++ & mask] = undefined;
          this.head = h;
          const i = h & mask;
          if (h !== this.tail && id > this.lo[i]! && trigger === this.trigger[i]) call = this.calls[i];
        }
        if (k === depth - 1) {
          this.lastId = id;
          // Stored only when it changes: a young call into this old object is a write barrier each time.
          if (this.lastCall !== call) this.lastCall = call;
        }
      }
    }
    if (call === undefined || typeof queued !== 'function') return call;
    // Opens a stretch for call (a tick is about to be queued in it), unless it is open.
    const fixed = a.ids[a.kDefaultTriggerAsyncId]!;
    const trigger = fixed >= 0 ? fixed : a.ids[a.kExecutionAsyncId]!;
    if (this.open) {
      if (this.calls[this.tail & mask] === call && this.stretchTrigger === trigger) {
        if (fixed < 0) this.openFor = trigger;
        return call;
      }
      this.closeStretch();
    }
    // The oldest closed stretch goes when the ring is full; the call takes the slot it will close in.
    if (this.tail - this.head === MAX_STRETCHES) this.calls[this.head++ & mask] = undefined;
    this.calls[this.tail & mask] = call;
    this.open = true;
    this.stretchLo = a.ids[a.kAsyncIdCounter]!;
    this.stretchTrigger = trigger;
    if (fixed < 0) this.openFor = trigger;
    return call;
  }

  private dropStretches(): void {
    this.calls.fill(undefined);
    this.head = this.tail = 0;
    this.lastId = -1;
    this.lastCall = undefined;
    this.openFor = -1;
  }

  private readonly leaveQueued = (): void => {
    if (this.open) this.closeStretch();
    this.now = this.queuedSaved.pop();
  };

  /** Starts following calls into promises and timers; until then only the synchronous part is known. */
  enable(): void {
    if (this.stopHooks) return;
    this.stopHooks = <() => unknown>promiseHooks.createHook({
      init: (promise) => {
        const call = this.current();
        if (call !== undefined) (promise as Marked)[kCall] = call;
      },
      before: (promise) => {
        this.saved.push(this.now);
        if (this.open) this.closeStretch();
        this.now = (promise as Marked)[kCall] as T | undefined;
      },
      after: () => {
        if (this.open) this.closeStretch();
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
    if (this.open) this.closeStretch();
    this.dropStretches();
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
    if (this.open) this.closeStretch();
    this.now = call;
    return before;
  }

  leave(before: T | undefined): void {
    if (this.open) this.closeStretch();
    this.now = before;
  }

  /** Runs fn(a, b) with `call` current; the call before it is current again afterwards. */
  run<A, B, R>(call: T, fn: (a: A, b: B) => R, a: A, b: B): R {
    const before = this.now;
    if (this.open) this.closeStretch();
    this.now = call;
    try {
      return fn(a, b);
    } finally {
      if (this.open) this.closeStretch();
      this.now = before;
    }
  }

  /** The call whose work is running now (also while V8 is paused in it). */
  current(): T | undefined {
    const now = this.now;
    if (now !== undefined || this.ids === null || (!this.open && this.head === this.tail)) return now;
    return this.lookup(undefined);
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
      const call = context.current();
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
        if (this.open) this.closeStretch();
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
          if (this.open) this.closeStretch();
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
    const ids = this.ids;
    if (tick && ids !== null) {
      // Small enough (95 bytes of bytecode) for node's callers of process.nextTick to inline it: the
      // lookup and the stretch are one function V8 never inlines (lookup), called only when the
      // running resource is not the one whose ticks the open stretch takes (openFor) or a default
      // trigger is set. Inlined, Reflect.apply of the caller's own arguments calls node's nextTick
      // with them, as many as given (node reads arguments.length for the callback's own). The 43-byte
      // wrapper before it (lookup at every tick) had node's nextTick inlined with it where a caller
      // makes one call of it; at 95 bytes V8 no longer does (a lab loop: bench/README.md, session 21). The
      // switch on arguments.length this replaces (session 17) split the call into four call sites
      // and, with the lookup inlined, left the wrapper too big to inline anywhere (session 19).
      // What it closes over stays const: node's nextTick, read from an immutable slot, is a known
      // target where the wrapper is inlined (from a parameter, a mutable slot, it is not).
      const fields = ids.ids;
      const running = ids.kExecutionAsyncId;
      const fixed = ids.kDefaultTriggerAsyncId;
      const lean = function (this: unknown, callback: unknown): unknown {
        if (fields[running] !== context.openFor || fields[fixed]! >= 0) context.lookup(callback);
        // eslint-disable-next-line prefer-rest-params
        return Reflect.apply(original, this, arguments);
      };
      this.replace(owner, name, original, lean);
      return;
    }
    const wrapper = function (this: unknown, callback: unknown): unknown {
      const call = context.current();
      // eslint-disable-next-line prefer-rest-params
      if (call === undefined || typeof callback !== 'function') return Reflect.apply(original, this, arguments);
      if (tick) {
        // One enter tick for the ticks the call queues until `now` changes (its leave tick is queued then).
        if (!context.open) {
          original.call(this, context.enterQueued, call);
          context.open = true;
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
