// Makes node's stream, event and HTTP functions forget what tspuma's boot taught V8 about them,
// once, at the first request: from then on they learn the request path's objects alone.
//
// Why (bench/README.md, session 17, fetch10): V8 keeps one feedback vector per function, shared by
// every caller in the process. Node's EventEmitter.init, ReadableState, WritableState, the Socket,
// Duplex and OutgoingMessage constructors and the emitter methods run for every request, and in a
// tspuma process they have also run during boot for its loggers, pipes, workers, watchers and
// servers, each with options objects and emitters of other shapes. Past four shapes a property
// access goes megamorphic, for the process's life: V8's generic IC builtins on every request
// (LoadIC_Megamorphic, KeyedStoreIC_Megamorphic, StoreIC), where @hono/node-server's process, whose
// boot runs little, stays monomorphic. Cleared (and their optimized code dropped) after boot, the
// same functions re-learn from requests and most of their accesses stay mono- or polymorphic.
//
// V8 has no public API for it: %ClearFunctionFeedback and %DeoptimizeFunction, V8 runtime calls,
// compiled in one function while --allow-natives-syntax is on for that one synchronous
// compilation (and off again before any other code runs). A V8 without them compiles nothing here
// and nothing is reset. Each kind of app gets it (adapters.ts); the first request's start comes
// from node:http's diagnostics channel, unsubscribed at once.
import dc from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import stream from 'node:stream';
import { setFlagsFromString } from 'node:v8';

type Reset = (fn: Function) => void;

/** The reset function, compiled once (null: this V8 lacks the runtime calls). */
let reset: Reset | null | undefined;

function compileReset(): Reset | null {
  if (reset !== undefined) return reset;
  reset = null;
  // Left on when the process was started with it (a profiling session's own %-calls).
  const given = process.execArgv.some((a) => /^--allow[-_]natives[-_]syntax$/.test(a));
  if (!given) setFlagsFromString('--allow-natives-syntax');
  try {
    reset = new Function('fn', '%ClearFunctionFeedback(fn); %DeoptimizeFunction(fn);') as Reset;
  } catch {
    /* a V8 without these runtime calls: nothing is reset */
  } finally {
    if (!given) setFlagsFromString('--no-allow-natives-syntax');
  }
  return reset;
}

/** Own methods and accessors of `proto` (not its constructor), as `Owner.name` (`get name` for a getter). */
function methodsOf(owner: string, proto: object, out: Map<Function, string>): void {
  for (const key of Reflect.ownKeys(proto)) {
    if (key === 'constructor') continue;
    const d = Object.getOwnPropertyDescriptor(proto, key)!;
    const name = String(key);
    for (const [f, how] of [[d.value, ''], [d.get, 'get '], [d.set, 'set ']] as const) if (typeof f === 'function' && !out.has(f)) out.set(f, `${owner}.${how}${name}`);
  }
}

/**
 * The node functions every request runs through that user land can reach, each with a name for
 * reports (bench/feedback-states.ts): the constructors and prototype methods of EventEmitter, the
 * streams, net.Socket, node:http's messages and servers, EventEmitter.init and the stream state
 * constructors. A method inherited unchanged is named once, by the first class that has it.
 */
export function requestPathFunctionsNamed(): Map<Function, string> {
  const out = new Map<Function, string>();
  const OutgoingMessage = Object.getPrototypeOf(http.ServerResponse) as Function;
  const Stream = Object.getPrototypeOf(stream.Readable) as Function;
  const classes: [string, Function][] = [
    ['EventEmitter', EventEmitter], ['Stream', Stream], ['Readable', stream.Readable], ['Writable', stream.Writable], ['Duplex', stream.Duplex],
    ['Socket', net.Socket], ['net.Server', net.Server], ['http.Server', http.Server], ['OutgoingMessage', OutgoingMessage], ['ServerResponse', http.ServerResponse], ['IncomingMessage', http.IncomingMessage],
  ];
  for (const [name, C] of classes) {
    if (!out.has(C)) out.set(C, `new ${name}`);
    methodsOf(name, C.prototype as object, out);
  }
  out.set((EventEmitter as unknown as { init: Function }).init, 'EventEmitter.init');
  const r = new stream.Readable({ read() {} });
  const w = new stream.Writable({ write(_c, _e, cb) { cb(); } });
  out.set((r as unknown as { _readableState: object })._readableState.constructor as Function, 'new ReadableState');
  out.set((w as unknown as { _writableState: object })._writableState.constructor as Function, 'new WritableState');
  r.destroy();
  w.destroy();
  return out;
}

/** requestPathFunctionsNamed's functions. */
export function requestPathFunctions(): Function[] {
  return [...requestPathFunctionsNamed().keys()];
}

/** Clears the feedback and optimized code of requestPathFunctions(); how many (0: not supported here). */
export function resetNodeFeedback(): number {
  const fn = compileReset();
  if (fn === null) return 0;
  const all = requestPathFunctions();
  for (const f of all) fn(f);
  return all.length;
}

const requestStart = dc.channel('http.server.request.start');
let armed = false;
let fired = false;
/** How many functions the first request's reset cleared (null: not run yet). */
let resetCount: number | null = null;

function onFirstRequest(): void {
  requestStart.unsubscribe(onFirstRequest);
  fired = true;
  // After this request's own synchronous work: none of the functions is then on the stack.
  setImmediate(() => void (resetCount = resetNodeFeedback()));
}

/** Arms the reset for the first request this process serves (once per process; later calls do nothing). */
export function resetFeedbackAtFirstRequest(): void {
  if (armed) return;
  armed = true;
  requestStart.subscribe(onFirstRequest);
}

/** For tests: whether the reset waits for a request, and what it cleared once it ran. */
export function feedbackResetState(): { waiting: boolean; reset: number | null } {
  return { waiting: armed && !fired, reset: resetCount };
}
