// Reading at a probe's pause: expressions evaluated on a paused frame within a time limit and with
// V8's side-effect check (a request's caching accessors let through where that is all that
// writes), names in a frame's scopes, a template name read in the enclosing function's frame (P11),
// the request a hit belongs to, and the stack text of the paused line.
import { readdirSync, type Dirent } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { findSourceMap } from 'node:module';
import type { CallFrame, PropertyDescriptor, RemoteObject } from '../diagnostics/frames.js';
import { renameIdentifiers, renamesOf } from '../server/name-tables.js';
import type { FoundRequest } from '../server/app-calls.js';
import { memberChains, requestRoot, urlRoot } from '../server/probe-spec.js';

export type PausedFrame = CallFrame & { callFrameId: string };

export interface Evaluated {
  result: RemoteObject;
  exceptionDetails?: { exception?: RemoteObject; text?: string };
}

/** What the reads need from the engine. */
export interface FrameReadsDeps {
  /** A same-thread session's post, answered synchronously. */
  post<T = unknown>(method: string, params?: object): T;
  /** The request whose app call is running now (server/app-calls.ts). */
  requestNow?: () => IncomingMessage | null;
  /** For a hit nothing names: the requests in the app from before the first probe. */
  requestUntracked?: () => FoundRequest | null;
}

/** V8's side-effect check refused an evaluation. */
export const SIDE_EFFECT = /Possible side-effect/;

/** Frames searched for the request a hit belongs to. */
export const REQUEST_FRAMES = 12;

/** A template expression gets this long to run (wall time, as V8 counts it). */
const EVAL_TIMEOUT_MS = 50;

/**
 * Decodes now, outside any bounded evaluation, the source maps of tspuma's chunk files this process
 * loaded. With source maps on, the first stack text through a chunk makes node decode that chunk's
 * whole map (the boot chunk's 470 KB: about 60 ms of CPU cold, bench/README.md session 17), and a
 * stack read at a paused line (STACK_EXPRESSION, EVAL_TIMEOUT_MS) ended by V8 mid-decode starts
 * over at the next read: a snapshot lost its awaiting callers so. Once each, at the probe engine's
 * start; nothing on a tsc build (no chunk files) or without source maps. The chunk files are found
 * under dist/ wherever the build put them (findSourceMap answers only for a file this process
 * loaded, so an unloaded chunk costs nothing).
 */
export function decodeChunkMaps(): void {
  if (!process.sourceMapsEnabled) return;
  const visit = (folder: URL): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) visit(new URL(`${e.name}/`, folder));
      else if (e.name.endsWith('.chunk.js')) findSourceMap(new URL(e.name, folder).href);
    }
  };
  visit(new URL('../', import.meta.url));
}
/** Tries of an evaluation V8 ended before it used its time (bounded()). */
const EVAL_TRIES = 4;
/** How the inspector says it ended an evaluation at its timeout. */
const TERMINATED = /Execution was terminated/;

/**
 * The stack at the paused line as Error().stack gives it, awaiting callers included: evaluated on
 * this thread, under this module's own frames, so with a limit that reaches below them.
 */
const STACK_EXPRESSION = '(() => { const limit = Error.stackTraceLimit; Error.stackTraceLimit = 200; try { return new Error().stack; } finally { Error.stackTraceLimit = limit; } })()';

export class FrameReads {
  constructor(private readonly deps: FrameReadsDeps) {}

  private post<T = unknown>(method: string, params: object = {}): T {
    return this.deps.post<T>(method, params);
  }

  evaluate(callFrameId: string, expression: string, checked = true): Evaluated {
    return this.bounded<Evaluated>({ callFrameId, expression, throwOnSideEffect: checked, generatePreview: true, silent: true });
  }

  /**
   * Debugger.evaluateOnCallFrame within EVAL_TIMEOUT_MS. V8 ends an evaluation at that much wall
   * time, and a loaded machine can keep a cheap read off the CPU that long (a full test run at a
   * load of 8-20 lost hits of `req.get("x-probe-ua")` so, as 'Execution was terminated'): an
   * evaluation ended having run less than half its time is tried again (up to EVAL_TRIES in all);
   * one that ran its time is tried once more (its first read compiled what it calls), and a slow
   * expression that runs its time twice is ended. Another session's message
   * dispatched inside the evaluation (a DevTools client's console evaluation, probe-devtools.ts's
   * state) makes this session's own listener run under the side-effect check, which throws out of
   * the post itself (not as the evaluation's exception): tried again too.
   */
  bounded<T>(params: Record<string, unknown>): T {
    let ranItsTime = 0;
    for (let tries = 1; ; tries++) {
      const cpu = process.cpuUsage();
      try {
        return this.post<T>('Debugger.evaluateOnCallFrame', { ...params, timeout: EVAL_TIMEOUT_MS });
      } catch (err) {
        const ran = process.cpuUsage(cpu);
        const message = (err as Error).message;
        if (tries >= EVAL_TRIES) throw err;
        if (SIDE_EFFECT.test(message)) continue;
        if (!TERMINATED.test(message)) throw err;
        // One that ran its time is tried once more: a first read compiles what it calls (Express's
        // req.get under the side-effect check), which a loaded machine can make last its whole time.
        if ((ran.user + ran.system) / 1000 >= EVAL_TIMEOUT_MS / 2 && (ranItsTime = ranItsTime + 1) >= 2) throw err;
      }
    }
  }

  /**
   * Whether an expression V8's side-effect check refused writes only through a request's caching
   * accessors (Hono's c.req.param(), Express's req.ip: probe-spec.ts memberChains): every other
   * member chain in it passes the check on its own.
   */
  onlyRequestReads(callFrameId: string, expression: string): boolean {
    const chains = memberChains(expression);
    if (chains === null || !chains.some((c) => c.requestRead)) return false;
    return chains.every((c) => {
      if (c.requestRead) {
        const url = urlRoot(c.text);
        return url !== null ? this.isA(callFrameId, url, IS_URL) : this.isA(callFrameId, requestRoot(c.text), IS_HTTP_REQUEST);
      }
      const r = this.evaluate(callFrameId, c.text);
      return !SIDE_EFFECT.test(r.exceptionDetails?.exception?.description ?? '');
    });
  }

  /**
   * Whether `check` (IS_HTTP_REQUEST, IS_URL: a function's text) says true of `root` (a chain's
   * object: requestRoot, urlRoot) at the paused frame. Anything else, or a failure, is false.
   */
  private isA(callFrameId: string, root: string | null, check: string): boolean {
    if (root === null) return false;
    let r = this.evaluate(callFrameId, `${check}(${root})`);
    // Hono's c.req is a getter that makes the request on first use: V8 calls that a write. A root
    // with no call in it that ends in a request's name is read unchecked once to see what it is;
    // the calls after it still need an HTTP request. Any other root (`_req`) is read checked only.
    if (r.exceptionDetails && SIDE_EFFECT.test(r.exceptionDetails.exception?.description ?? '') && !root.includes('(') && requestNamed(root)) r = this.evaluate(callFrameId, `${check}(${root})`, false);
    return !r.exceptionDetails && r.result.value === true;
  }

  /**
   * A template expression that threw a ReferenceError at the paused function because it names a
   * binding of a function that encloses it in the source (a handler's `id` inside its
   * `items.map((x) => …)` callback, which does not use it, so V8 keeps no copy of it there: P11),
   * read in that function's frame on the stack, with the side-effect check: its value and the
   * frame (`#2 items`), else null. Only a frame whose function's source range holds the paused
   * function's counts: a caller that merely has a binding of that name is not read.
   */
  enclosingRead(frames: PausedFrame[], expr: string, message: string): { result: RemoteObject; frame: string } | null {
    const missing = /^ReferenceError: (\S+) is not defined/.exec(message)?.[1];
    const inner = frames[0] ? rangeOf(frames[0]) : null;
    if (!missing || !inner) return null;
    for (let i = 1; i < Math.min(frames.length, REQUEST_FRAMES); i++) {
      const f = frames[i]!;
      const outer = rangeOf(f);
      if (!outer || !holds(outer, inner) || !this.scopeNames(f).includes(missing)) continue;
      const r = this.evaluate(f.callFrameId, expr);
      if (r.exceptionDetails) return null;
      return { result: r.result, frame: `#${i} ${sourceName(f) || '(anonymous)'}` };
    }
    return null;
  }

  /** The names a frame's local, block and closure scopes hold. */
  scopeNames(frame: PausedFrame): string[] {
    const names: string[] = [];
    for (const scope of frame.scopeChain) {
      if ((scope.type !== 'local' && scope.type !== 'closure' && scope.type !== 'block') || !scope.object.objectId) continue;
      try {
        const { result } = this.post<{ result: PropertyDescriptor[] }>('Runtime.getProperties', { objectId: scope.object.objectId, ownProperties: true });
        for (const p of result) if (!names.includes(p.name) && !p.name.startsWith('__')) names.push(p.name);
      } catch {
        /* a scope gone with the frame */
      }
    }
    return names;
  }

  /**
   * The request a hit belongs to: the app call whose async context is paused (however deep the
   * line, after any await; under -d also a call begun before the first probe), else the first
   * IncomingMessage among the paused frames' locals, else no request: the requests from before
   * the first probe are its candidates (app-calls.ts: never one of them as its request).
   */
  requestOf(callFrames: PausedFrame[]): FoundRequest | null {
    const now = this.deps.requestNow?.();
    if (now) return { req: now };
    for (const cf of callFrames.slice(0, REQUEST_FRAMES)) {
      for (const scope of cf.scopeChain) {
        if ((scope.type !== 'local' && scope.type !== 'closure' && scope.type !== 'block') || !scope.object.objectId) continue;
        const { result } = this.post<{ result: PropertyDescriptor[] }>('Runtime.getProperties', { objectId: scope.object.objectId, ownProperties: true });
        const req = result.find((p) => p.value?.type === 'object' && p.value.className === 'IncomingMessage' && p.value.objectId);
        if (req) return { req: this.handOver(req.value!.objectId!) as IncomingMessage };
      }
    }
    return this.deps.requestUntracked?.() ?? null;
  }

  /** The JS value behind a remote object id, handed over through a global for one moment. */
  private handOver(objectId: string): unknown {
    const key = Symbol.for('tspuma.probe.value');
    this.post('Runtime.callFunctionOn', { objectId, functionDeclaration: `function () { globalThis[Symbol.for('tspuma.probe.value')] = this; }` });
    const g = globalThis as Record<symbol, unknown>;
    const value = g[key];
    delete g[key];
    return value;
  }

  /** `Error().stack` at the paused line: its frames, the awaiting callers among them; '' when it cannot be read. */
  stackText(callFrameId: string): string {
    try {
      const r = this.bounded<Evaluated>({ callFrameId, expression: STACK_EXPRESSION, silent: true, returnByValue: true });
      return typeof r.result.value === 'string' ? r.result.value : '';
    } catch {
      return '';
    }
  }
}

/** A function, as text evaluated at a paused frame, telling whether its argument is an HTTP request (isA: node's IncomingMessage, Express's req that inherits it, Hono's HonoRequest, a fetch Request). */
const IS_HTTP_REQUEST =
  "((o) => { if (o === null || typeof o !== 'object') return false; if (Object.prototype.toString.call(o) === '[object Request]') return true; for (let p = Object.getPrototypeOf(o); p !== null; p = Object.getPrototypeOf(p)) { const c = Object.getOwnPropertyDescriptor(p, 'constructor'); const n = c && typeof c.value === 'function' ? c.value.name : ''; if (n === 'IncomingMessage' || n === 'HonoRequest') return true; } return false; })";

/** A root ending in a request's name (`c.req`): Hono's getter, the one read worth doing unchecked; another name is read checked only. */
function requestNamed(root: string): boolean {
  return /(?:^|\.)\s*(?:req|request)$/.test(root.trim());
}

/** Whether its argument is a WHATWG URL (urlRoot: a fetch handler's `new URL(request.url)`). */
const IS_URL = "((o) => o !== null && typeof o === 'object' && Object.prototype.toString.call(o) === '[object URL]')";

type Place = { scriptId: string; lineNumber: number; columnNumber: number };

/** The source range of a frame's function (its local scope's), or null. */
function rangeOf(frame: CallFrame): { start: Place; end: Place } | null {
  const local = frame.scopeChain.find((s) => s.type === 'local' && s.startLocation && s.endLocation);
  return local ? { start: local.startLocation!, end: local.endLocation! } : null;
}

/**
 * A paused frame's function as its source names it: V8 names it as the script does, and a bundled
 * chunk's script has esbuild's renames (`RequestLifecycle2.invoke2`), read back through the chunk's
 * name table as a dump does (server/name-tables.ts; names1.1). '' for an anonymous function.
 */
export function sourceName(frame: Pick<CallFrame, 'functionName' | 'url'>): string {
  const renames = frame.functionName && frame.url ? renamesOf(frame.url) : null;
  return renames ? renameIdentifiers(frame.functionName, renames) : frame.functionName;
}

/** Whether range `outer` holds range `inner` (the same script). */
function holds(outer: { start: Place; end: Place }, inner: { start: Place; end: Place }): boolean {
  const le = (a: Place, b: Place) => a.lineNumber < b.lineNumber || (a.lineNumber === b.lineNumber && a.columnNumber <= b.columnNumber);
  const same = outer.start.lineNumber === inner.start.lineNumber && outer.start.columnNumber === inner.start.columnNumber;
  return outer.start.scriptId === inner.start.scriptId && !same && le(outer.start, inner.start) && le(inner.end, outer.end);
}

/** A request's id (server/request-id.ts sets it), or null. */
export function idOf(req: IncomingMessage | null): string | null {
  return req ? String((req as { id?: unknown }).id ?? '') || null : null;
}
