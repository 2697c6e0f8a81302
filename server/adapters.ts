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

/** Rack: a synchronous app is answered synchronously (no promise on the hot path). */
function rackInvoke(app: RackApp): Invoke {
  const send = (res: ServerResponse, result: unknown) => writeResponse(res, normalize(result, RACK_EXPECTED));
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

function nodeInvoke(app: NodeListener): Invoke {
  return (req, res) => {
    const r = app(req, res);
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
