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
//   every async resource: the tick takes the counter's next value) and holds the running one's
//   id where async_hooks.executionAsyncId() reads it. The nextTick wrapper notes, for a tick
//   queued while a call is current (synchronously, or because the running tick is one it noted),
//   the tick's id and the call, in a table indexed by the id's low bits; a lookup inside a tick
//   (current(), when no call was made current synchronously) reads the running tick's id there:
//   the entry is that tick's only if it holds that very id. The counter and the stack of running
//   resources are read from node's async_wrap binding (process.binding, no hooks). Where that is
//   not available, the ticks are queued
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
 * and reading it through the global each time a call's leave tick is queued (without async ids) was a
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

/**
 * Calls the tick table can name at most (a power of 2): a call gets a numbered slot when it first
 * has a tick noted; the slot is cleared once every tick noted for it ran, or taken by the call
 * MAX_CALLS later, and the ticks still noted for it then run with none (never with another call).
 */
const MAX_CALLS = 1024;
/** How many later calls a call's chain of ticks may outlive before it moves to a new slot. */
const MOVE_AFTER = 64;
/**
 * Entries of the tick table (a power of 2): a noted tick is named by the entry of its id's low
 * bits until a tick with the same low bits is noted, this many ids later at the soonest.
 */
const TICK_TABLE = 4096;
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
    if (this.open) this.nowChanging();
    this.now = call;
  };
  /**
   * Whether `now` has ticks noted: with async ids, it has a slot (numbered `nowSeq`), until `now`
   * changes (nowChanging); without them our enter tick is queued before its ticks and our leave
   * tick when it closes, so the ticks a call queues in one go share one pair (a response queues
   * several: 6 per request on a plain listener).
   */
  private open = false;
  private nowSeq = 0;
  /**
   * The calls ticks are noted for, by number (`seq`, counted up from 0) in slot `seq & (MAX_CALLS - 1)`:
   * the call, its number (a slot another call took no longer names it) and the highest tick id
   * noted for it. Typed arrays and fixed slots: no array grows or shrinks per request, and a tick
   * is noted with numbers only (the call itself is stored once a slot: a write barrier, the call
   * being young and the slots old).
   */
  private readonly calls: (T | undefined)[] = new Array<T | undefined>(MAX_CALLS).fill(undefined);
  private readonly callSeqs = new Float64Array(MAX_CALLS).fill(-1);
  private readonly callHi = new Float64Array(MAX_CALLS);
  /** The next call's number, and the oldest number whose slot may still hold its call. */
  private nextSeq = 0;
  private oldSeq = 0;
  /** Noted ticks: the id in the entry of its low bits, and its call's number. */
  private readonly tickIds = new Float64Array(TICK_TABLE).fill(-1);
  private readonly tickSeqs = new Float64Array(TICK_TABLE);
  /** process.nextTick as it was (the leave tick goes through it). */
  private queueTick: ((...args: unknown[]) => unknown) | null = null;
  /** Node's async ids, or null: ticks are then followed with a pair of ticks of ours. */
  private readonly ids: AsyncIds | null;

  /** @param options.pairs follow ticks with enter and leave ticks of ours even where async ids can be read. */
  constructor(options: { pairs?: boolean } = {}) {
    this.ids = options.pairs === true ? null : asyncIds();
  }

  /** Called before `now` changes: ticks queued from here on are not its (without async ids, its leave tick is queued). */
  private nowChanging(): void {
    this.open = false;
    if (this.ids === null) this.queueTick?.call(processObject, this.leaveQueued);
  }

  /**
   * The call whose work is running now when none is current synchronously (`now` unset): the call
   * noted for the running tick, if a tick is running (under at most MAX_SCOPES AsyncResource
   * scopes: on-finished runs its listeners in one). With `queued` a function (the nextTick
   * wrapper's callback, about to be queued) and a call found or current, it also notes the tick
   * node is about to queue (the counter's next id) for that call. Ticks run in the order queued,
   * with rising ids, so a call whose highest noted tick is below the running one's has no tick
   * left: its slot is cleared (the oldest first).
   *
   * One function, not a lookup, a slot keeper and a noter calling each other, on purpose: its
   * bytecode is over V8's size limit for inlining a function (max-inlined-bytecode-size, 460
   * bytes; test/unit/call-context.test.ts checks), so it is never inlined into the nextTick
   * wrapper. The wrapper stays a few dozen bytes that node's callers of process.nextTick inline,
   * and node's nextTick is inlined with it as without debug mode. Inlined, a lookup of ~600
   * bytes took V8's inlining budget in the wrapper, which node's callers then called out of line,
   * and node's nextTick behind it (bench/README.md, session 19).
   */
  private lookup(queued: unknown): T | undefined {
    const a = this.ids;
    if (a === null) return this.now;
    let call = this.now;
    let seq: number;
    if (call !== undefined) {
      if (typeof queued !== 'function') return call;
      if (this.open) seq = this.nowSeq;
      else {
        seq = this.keep(call);
        this.nowSeq = seq;
        this.open = true;
      }
    } else {
      const depth = a.fields[a.kStackLength]!;
      if (depth === 0 || this.nextSeq === 0) return undefined;
      let id = a.ids[a.kExecutionAsyncId]!;
      let i = id & (TICK_TABLE - 1);
      if (this.tickIds[i] !== id) {
        // Not a noted tick: an AsyncResource scope may be running inside one (the ids of the
        // resource under each are those saved as it was pushed).
        let k = depth - 1;
        for (let scopes = 0; ; scopes++) {
          if (k === 0 || scopes === MAX_SCOPES || !(a.resources[k] instanceof AsyncResource)) return undefined;
          id = a.binding.async_ids_stack[2 * k]!;
          k--;
          i = id & (TICK_TABLE - 1);
          if (this.tickIds[i] === id) break;
        }
      }
      seq = this.tickSeqs[i]!;
      const slot = seq & (MAX_CALLS - 1);
      // Its call's slot was taken by a later call: the tick runs with none.
      if (this.callSeqs[slot] !== seq) return undefined;
      call = this.calls[slot];
      // Calls whose noted ticks all ran: their slots are cleared, the oldest first.
      let old = this.oldSeq;
      while (old < seq && this.callHi[old & (MAX_CALLS - 1)]! < id) this.calls[old++ & (MAX_CALLS - 1)] = undefined;
      this.oldSeq = old;
      if (call === undefined || typeof queued !== 'function') return call;
      // A chain of ticks that outlives MOVE_AFTER later calls moves to a new slot: its old one, no
      // longer noted for, is cleared in turn, and does not hold the clearing of the calls after it.
      if (this.nextSeq - seq > MOVE_AFTER) seq = this.keep(call);
    }
    const next = a.ids[a.kAsyncIdCounter]! + 1;
    const j = next & (TICK_TABLE - 1);
    this.tickIds[j] = next;
    this.tickSeqs[j] = seq;
    this.callHi[seq & (MAX_CALLS - 1)] = next;
    return call;
  }

  /** Gives call the next slot (the oldest call's, once all are taken); returns its number. */
  private keep(call: T): number {
    const seq = this.nextSeq++;
    if (seq - this.oldSeq === MAX_CALLS) this.oldSeq++;
    const slot = seq & (MAX_CALLS - 1);
    this.calls[slot] = call;
    this.callSeqs[slot] = seq;
    return seq;
  }

  private forgetTicks(): void {
    this.calls.fill(undefined);
    this.callSeqs.fill(-1);
    this.tickIds.fill(-1);
    this.nextSeq = this.oldSeq = 0;
  }

  private readonly leaveQueued = (): void => {
    if (this.open) this.nowChanging();
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
        if (this.open) this.nowChanging();
        this.now = (promise as Marked)[kCall] as T | undefined;
      },
      after: () => {
        if (this.open) this.nowChanging();
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
    if (this.open) this.nowChanging();
    this.forgetTicks();
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
    if (this.open) this.nowChanging();
    this.now = call;
    return before;
  }

  leave(before: T | undefined): void {
    if (this.open) this.nowChanging();
    this.now = before;
  }

  /** Runs fn(a, b) with `call` current; the call before it is current again afterwards. */
  run<A, B, R>(call: T, fn: (a: A, b: B) => R, a: A, b: B): R {
    const before = this.now;
    if (this.open) this.nowChanging();
    this.now = call;
    try {
      return fn(a, b);
    } finally {
      if (this.open) this.nowChanging();
      this.now = before;
    }
  }

  /** The call whose work is running now (also while V8 is paused in it). */
  current(): T | undefined {
    const now = this.now;
    if (now !== undefined || this.ids === null || this.nextSeq === 0) return now;
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
        if (this.open) this.nowChanging();
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
          if (this.open) this.nowChanging();
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
    if (tick && this.ids !== null) {
      // Small enough (43 bytes of bytecode) for node's callers of process.nextTick to inline it,
      // and node's nextTick with it where a caller makes one call: the lookup is one function V8
      // never inlines (lookup). Inlined, Reflect.apply of the caller's own arguments calls node's
      // nextTick with them, as many as given (node reads arguments.length for the callback's own).
      // The switch on arguments.length this replaces (session 17) split the call into four call
      // sites and, with the lookup inlined, left the wrapper too big to inline anywhere (session 19).
      const lean = function (this: unknown, callback: unknown): unknown {
        context.lookup(callback);
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
