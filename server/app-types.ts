// Types only: the shapes users write (apps, responses, hooks, the lowlevel error handler, upgrade
// and WebSocket handlers) and the app kinds the rack()/fetchHandler()/nodeListener() wrappers mark.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/** Node's request listener, as Express 5 and plain handlers are. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/** Second argument given to fetch-style handlers, as @hono/node-server gives it (c.env.incoming). */
export interface FetchBindings {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
}

export type FetchHandler = (request: Request, bindings: FetchBindings) => Response | Promise<Response>;
export interface FetchApp {
  fetch(request: Request, bindings: FetchBindings, ...rest: unknown[]): Response | Promise<Response>;
}

/** Rack's env: the CGI-style keys Rack defines plus HTTP_* for each request header. */
export interface RackEnv {
  REQUEST_METHOD: string;
  SCRIPT_NAME: string;
  PATH_INFO: string;
  QUERY_STRING: string;
  REQUEST_URI: string;
  SERVER_NAME: string;
  SERVER_PORT: string;
  SERVER_PROTOCOL: string;
  REMOTE_ADDR: string;
  'rack.url_scheme': 'http' | 'https';
  /** The request body as a Node stream (the IncomingMessage itself); empty when there is none. */
  'rack.input': Readable | null;
  /** The underlying node:http objects, for code that needs them. */
  'tspuma.request'?: IncomingMessage;
  'tspuma.response'?: ServerResponse;
  [header: string]: unknown;
}

export type HeaderValue = string | number | readonly string[];
export type RackHeaders = Record<string, HeaderValue | undefined>;

/**
 * A response body: a string or bytes, an array of them (Rack's usual ["Hello"]), a Blob, a Node
 * Readable, a web ReadableStream, or any (async) iterable of strings/bytes.
 */
export type Body =
  | string
  | Uint8Array
  | Blob
  | readonly (string | Uint8Array)[]
  | Readable
  | ReadableStream<Uint8Array | string>
  | AsyncIterable<string | Uint8Array>
  | Iterable<string | Uint8Array>
  | null
  | undefined;

export type RackResponse = [status: number, headers: RackHeaders, body: Body];
export type RackApp = (env: RackEnv) => RackResponse | Promise<RackResponse>;

/** A plain response object, accepted wherever a response is returned. */
export interface PlainResponse {
  status: number;
  headers?: RackHeaders;
  body?: Body;
}

/** Anything a handler may return as a response. */
export type AnyResponse = RackResponse | Response | PlainResponse;

export type LowlevelErrorHandler = (
  err: Error,
  env: RackEnv,
  status: number,
) => AnyResponse | null | undefined | void | Promise<AnyResponse | null | undefined | void>;

export type Hook = (...args: unknown[]) => unknown;

import type { kAppKind } from './shared-names.js';
export type AppKind = 'node' | 'fetch' | 'rack';

export type TaggedApp = ((...args: never[]) => unknown) & { [kAppKind]?: AppKind };
export type AppInput = NodeListener | FetchHandler | FetchApp | RackApp | TaggedApp;

/**
 * WebSocket handlers, exported by the app module as `websocket` (or as the `websocket` property
 * of a default-exported object, beside `fetch`). tspuma accepts the upgrade with `ws`; the
 * connection then gives up its invocation slot. `accept` may refuse an upgrade (return false or a
 * status code); `ws` is a `ws` WebSocket.
 */
export interface WebSocketHandler {
  accept?(req: IncomingMessage): boolean | number | Promise<boolean | number>;
  open?(ws: import('ws').WebSocket, req: IncomingMessage): unknown;
  message?(ws: import('ws').WebSocket, data: Buffer, isBinary: boolean): unknown;
  close?(ws: import('ws').WebSocket, code: number, reason: Buffer): unknown;
}

/**
 * A raw upgrade handler (export `upgrade`), for apps that run their own WebSocket server
 * (`wss.handleUpgrade(req, socket, head, ...)`): the socket is the app's from then on.
 */
export type UpgradeHandler = (req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => unknown;
