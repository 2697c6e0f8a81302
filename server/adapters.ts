// App kinds: tells a Node listener, a fetch handler and a Rack app apart and turns each into one
// (req, res) => Promise<void> invoke, which runs inside an invocation slot.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { kAppKind } from './shared-names.js';
import {
  type AppKind,
  type FetchApp,
  type FetchBindings,
  type FetchHandler,
  type NodeListener,
  type RackApp,
  type RackHeaders,
  type UpgradeHandler,
  type WebSocketHandler,
} from './app-types.js';
import { TspumaError } from './errors.js';
import { buildEnv } from './rack.js';
import { normalize, writeResponse, writeTyped } from './response.js';
import { keptParts, writeKeptTyped } from './fetch-response.js';
import { IncomingRequest } from './fetch-request.js';
import { installFetchGlobals } from './fetch-globals.js';

/** What server.ts calls: resolves once the app has produced its response (or rejects with why not). */
export type Invoke = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface Adapted {
  readonly kind: AppKind;
  readonly invoke: Invoke;
  /** Long-lived connections (server.ts: onUpgrade); set by the app loader. */
  readonly websocket?: WebSocketHandler;
  readonly upgrade?: UpgradeHandler;
}

type Tagged<T> = T & { [kAppKind]: AppKind };

function tag<T extends object>(fn: T, kind: AppKind): Tagged<T> {
  Object.defineProperty(fn, kAppKind, { value: kind, enumerable: false });
  return fn as Tagged<T>;
}

/** Marks `(env) => [status, headers, body]` as a Rack app: one-argument functions are otherwise fetch handlers. */
export function rack(app: RackApp): RackApp {
  return tag(app, 'rack');
}
/** Marks a `(request) => Response` function as a fetch handler (the default for one argument). */
export function fetchHandler(app: FetchHandler): FetchHandler {
  return tag(app, 'fetch');
}
/** Marks a `(req, res)` function as a Node listener (the default for two or more arguments). */
export function nodeListener(app: NodeListener): NodeListener {
  return tag(app, 'node');
}

/**
 * How an export is told apart: an explicit wrapper's tag wins; an object with fetch() is a
 * fetch app (Hono); a function declaring two or more parameters is a Node listener (Express);
 * any other function is a fetch handler. Rack apps must be wrapped with rack().
 */
export function detectKind(app: unknown): AppKind | null {
  if (typeof app === 'function') {
    const tagged = (app as { [kAppKind]?: AppKind })[kAppKind];
    if (tagged) return tagged;
    return app.length >= 2 ? 'node' : 'fetch';
  }
  if (app !== null && typeof app === 'object' && typeof (app as FetchApp).fetch === 'function') return 'fetch';
  return null;
}

const RACK_EXPECTED = 'a Rack app must return [status, headers, body], e.g. [200, {"content-type": "text/plain"}, ["Hello"]]';
const FETCH_EXPECTED = 'a fetch handler must return a Response';

export const isThenable = (v: unknown): v is PromiseLike<unknown> => v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function';

/**
 * Writes a Rack response that is the usual hello, `[status, {'content-type': type}, [one string or
 * bytes]]` with a final status (200-999), a string Content-Type alone (named in lower case, as
 * Rack 3 has it) and an Array body with no close() of its own, with writeTyped: the head and body
 * the general writer sends for it, without the normalised record, the header list and the pass
 * over it. True if it did, false for any other response (the general writer's).
 */
function writeTypedRack(res: ServerResponse, result: unknown): boolean {
  if (!Array.isArray(result) || result.length !== 3) return false;
  const status: unknown = result[0];
  const headers: unknown = result[1];
  const body: unknown = result[2];
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 999) return false;
  if (!Array.isArray(body) || body.length !== 1 || typeof (body as { close?: unknown }).close === 'function') return false;
  const chunk: unknown = body[0];
  if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) return false;
  if (headers === null || typeof headers !== 'object') return false;
  // One name, as the general writer's pass (for...in) sees it, spelled as Rack 3 has it: writeTyped
  // sends it in lower case, the general writer as given.
  let type: unknown;
  for (const name in headers) {
    if (type !== undefined || name !== 'content-type') return false;
    type = (headers as RackHeaders)[name];
  }
  // A value the general writer would split (Rack's "a\nb"), or change (a number, a list): its own.
  if (typeof type !== 'string') return false;
  if (type !== lastPlainType) {
    if (type.includes('\n')) return false;
    lastPlainType = type;
  }
  writeTyped(res, status, '', type, chunk);
  return true;
}

/**
 * The last Content-Type writeTypedRack found to be one line. An app returns the same string
 * (its literal) on every response, and comparing it with this one is a pointer compare, where
 * the search for '\n' was V8's StringIndexOf, about 88 instructions a response (perf15.1).
 */
let lastPlainType = '';

/** Rack: a synchronous app is answered synchronously (no promise on the hot path). */
function rackInvoke(app: RackApp): Invoke {
  const send = (res: ServerResponse, result: unknown): void | Promise<void> => {
    if (writeTypedRack(res, result)) return;
    return writeResponse(res, normalize(result, RACK_EXPECTED));
  };
  return (req, res) => {
    const result = app(buildEnv(req, res));
    if (isThenable(result)) return Promise.resolve(result).then((r) => send(res, r));
    return send(res, result);
  };
}

/**
 * The Request a fetch app is called with (fetch-request.ts): the method at once; URL, headers and
 * body when read, undici's Request only when needed. Its URL has the scheme and host a trusted
 * proxy named (trustProxy), else the target's or Host's validated authority (authority.ts).
 */
export function toRequest(req: IncomingMessage, res: ServerResponse): Request {
  return new IncomingRequest(req, res) as unknown as Request;
}

/**
 * A rejection whose error is named TimeoutError (AbortSignal.timeout() on an upstream call) is a
 * gateway timeout: 504, as @hono/node-server answers it; the error stays its cause.
 */
function timeoutAs504(err: unknown): never {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.constructor?.name === 'TimeoutError')) {
    throw new TspumaError('TSPUMA_ERR_APP_TIMEOUT', { message: err.message }, { cause: err });
  }
  throw err;
}

function fetchInvoke(app: FetchHandler | FetchApp): Invoke {
  const handler: FetchHandler | null = typeof app === 'function' ? app : null;
  const send = (res: ServerResponse, result: unknown): void | Promise<void> => {
    // tspuma's own Response, as almost every app returns it: with no headers of its own (Hono's
    // c.text()), its status, type and body straight to the socket; else its kept parts to the writer.
    if (writeKeptTyped(result, res, writeTyped)) return;
    const kept = keptParts(result);
    if (kept !== null) return writeResponse(res, kept);
    if (result === undefined && res.writableEnded) return; // the handler answered through bindings.outgoing
    if (Array.isArray(result)) {
      throw new TspumaError('TSPUMA_ERR_APP_RESULT', {
        got: `a Rack-style array`,
        expected: 'one-argument functions are fetch handlers; wrap a Rack app with rack() from "tspuma"',
      });
    }
    return writeResponse(res, normalize(result, FETCH_EXPECTED));
  };
  return (req, res) => {
    const bindings: FetchBindings = { incoming: req, outgoing: res };
    const request = toRequest(req, res);
    let result: unknown;
    try {
      result = handler !== null ? handler(request, bindings) : (app as FetchApp).fetch(request, bindings);
    } catch (err) {
      timeoutAs504(err);
    }
    if (isThenable(result)) return Promise.resolve(result).then((r) => send(res, r), timeoutAs504);
    return send(res, result);
  };
}

/** What Express adds to each request (its router's matched-route symbol is found at run time) and response. */
const EXPRESS_REQUEST_FIELDS = ['res', 'next', 'baseUrl', 'originalUrl', '_parsedUrl', 'route', 'params'] as const;
/** Requests looked at for the router's matched-route symbol before giving up (a router without one). */
const SYMBOL_LOOKS = 64;

/**
 * An Express app (4 or 5: `app.handle`, `app.set`, `app.request`, `app.response`) moves each
 * request and response onto its own prototypes, then adds properties to them (res.locals;
 * req.next, baseUrl, originalUrl, _parsedUrl, route, params and the router's matched-route
 * symbol). V8 does not keep the map transitions of an object whose prototype was changed, so every
 * request's req and res get maps no other request has, and each access to them in Express and
 * node misses its inline cache: about 340,000 of Express's ~570,000 instructions a request (on
 * node:http as on tspuma; bench/README.md, ninth round). Given those properties (undefined, as
 * Express finds them) before the app runs, Express's stores write fields the objects already have
 * and the maps are shared from request to request. null for any other listener.
 */
function expressSeed(app: NodeListener): { before(req: IncomingMessage, res: ServerResponse): void; after(req: IncomingMessage): void } | null {
  const a = app as unknown as { handle?: unknown; set?: unknown; request?: unknown; response?: unknown };
  if (typeof a.handle !== 'function' || typeof a.set !== 'function' || typeof a.request !== 'object' || typeof a.response !== 'object') return null;
  let matched: symbol | undefined;
  let looks = 0;
  return {
    before(req, res) {
      const r = req as unknown as Record<string | symbol, unknown>;
      for (const name of EXPRESS_REQUEST_FIELDS) if (!(name in r)) r[name] = undefined;
      if (matched !== undefined && !(matched in r)) r[matched] = undefined;
      if (!('locals' in res)) (res as unknown as { locals: unknown }).locals = undefined;
    },
    after(req) {
      if (matched !== undefined || looks >= SYMBOL_LOOKS) return;
      looks++;
      matched = matchedRouteSymbol(req);
    },
  };
}

/** The router's matched-route symbol on a request Express has routed (router 2.x), if any. */
function matchedRouteSymbol(req: IncomingMessage): symbol | undefined {
  return Object.getOwnPropertySymbols(req).find((s) => s.description === 'router.tracing.matchedRoute');
}

function nodeInvoke(app: NodeListener): Invoke {
  const seed = expressSeed(app);
  return (req, res) => {
    if (seed !== null) seed.before(req, res);
    const r = app(req, res);
    if (seed !== null) seed.after(req);
    // Express 5 and async listeners return a promise: a rejection is an app error.
    if (r && typeof (r as Promise<unknown>).then === 'function') return (r as Promise<unknown>).then(() => undefined);
    return undefined;
  };
}

export function adapt(app: unknown, kind: AppKind): Adapted {
  switch (kind) {
    case 'rack':
      return { kind, invoke: rackInvoke(app as RackApp) };
    case 'fetch':
      installFetchGlobals();
      return { kind, invoke: fetchInvoke(app as FetchHandler | FetchApp) };
    case 'node':
      return { kind, invoke: nodeInvoke(app as NodeListener) };
  }
}
