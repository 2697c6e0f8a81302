// Every use of node:http's (and node:net's) undocumented fields and every method tspuma replaces
// on their objects, in one place: the request and response classes node:http is told to build,
// the event-stream check in writeHead, the response's detachSocket (where node:http hands back a
// finished response: the server's end of it), the lingering close that replaces a socket's destroySoon (and its end, set at its connection),
// the request's destroy for an abort the server caused, the dump of an unread request at its end, the response methods dropped once the
// server answers in the app's place, the request body's push, a server's emit held back for the
// PROXY protocol and a socket's peer replaced by the one its header names, the private fields read
// (_httpMessage, _last, _consuming, _dumped, _readableState, _peername, _handle, shouldKeepAlive, _header, the kOutHeaders
// record) and the ones set for a known body length (_contentLength) and known headers (kOutHeaders);
// a cluster primary's sockets bound without listening (net's _createServerHandle) and a worker's
// listen on its copy.
// test/unit/node-http.test.ts pins each assumption by name, so a Node upgrade that changes one
// fails there first. undici's one private member read (a Response's `state` symbol) lives in
// fetch-response.ts's nativeBody, pinned by test/unit/undici-internals.test.ts; node:module's
// CommonJS internals (Module._extensions, Module._resolveFilename, a module's _compile) in
// ts-loader.ts, for CommonJS TypeScript, pinned by test/unit/node-module-internals.test.ts; node's
// async_wrap binding (the async id fields and the stack of running resources, read through
// process.binding) in diagnostics/call-context.ts's asyncIds, for debug mode's tick lookup, pinned
// by test/unit/async-wrap-internals.test.ts.
import http from 'node:http';
import { createRequire } from 'node:module';
import net, { type Socket } from 'node:net';
import util from 'node:util';

const require = createRequire(import.meta.url);

/** The request has a body (markBodyExpected): if it is not all in when the head goes out, the head says close. */
const kBodyExpected = Symbol('tspuma.bodyExpected');
/** The server's state for the request a response answers (null until the request is admitted). */
export const kRequestState = Symbol('tspuma.requestState');

/**
 * The symbol of node's record of the headers set on a response (setHeader, appendHeader; null
 * until the first, then an object keyed by the lower-cased name: `{ 'content-type':
 * ['Content-Type', value] }`), found on the first response read (outHeaders): undefined until
 * then, null on a Node without it. Not from an OutgoingMessage built here: one built at load put
 * a map of its own in node's constructor and made its stores megamorphic (fetch-invoke's rows).
 */
let kOutHeaders: symbol | null | undefined;

type OutHeaders = Record<string, [string, unknown] | undefined>;

/** node's header record of `res` (null: no header set), or undefined on a Node without one (use node's methods). */
function outHeaders(res: http.OutgoingMessage): OutHeaders | null | undefined {
  if (kOutHeaders === undefined) kOutHeaders = Object.getOwnPropertySymbols(res).find((s) => s.description === 'kOutHeaders') ?? null;
  return kOutHeaders === null ? undefined : (res as unknown as Record<symbol, OutHeaders | null>)[kOutHeaders];
}

/** The two usual spellings compare without lowercasing (toLowerCase was a tenth of tspuma's own cost per response). */
const isContentType = (name: unknown): boolean =>
  name === 'content-type' || name === 'Content-Type' || (typeof name === 'string' && name.length === 12 && name.toLowerCase() === 'content-type');

/**
 * A Content-Type that says `text/event-stream`. Its sixth character first: TurboFan inlines
 * startsWith() as a loop of about 35 instructions a character, and every `text/...` type (a fetch
 * app's `text/plain;charset=UTF-8`, Hono's c.text()) ran it five characters deep before failing,
 * about 200 instructions a head (bench/README.md, session 20, fetch13).
 */
function isEventStream(type: unknown): boolean {
  return typeof type === 'string' && type.length >= 17 && type.charCodeAt(5) === 101 /* e */ && type.startsWith('text/event-stream');
}

/** writeHead(code, [message], [headers]): the content type it sends, without allocating. */
function contentTypeOf(res: http.ServerResponse, a: unknown, b: unknown): unknown {
  const headers = a !== null && typeof a === 'object' ? a : b !== null && typeof b === 'object' ? b : null;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      // [[name, value], ...]
      for (const pair of headers as unknown[][]) if (isContentType(pair[0])) return pair[1];
    } else {
      // [name, value, name, value]
      for (let i = 0; i + 1 < headers.length; i += 2) if (isContentType(headers[i])) return headers[i + 1];
    }
  } else if (headers) {
    // The usual spellings by name first (two property loads), the walk over the keys only when
    // neither is there: a for-in over an app's { 'content-type', 'content-length' } cost about
    // 110 instructions a response (callgrind, 400,000 heads), the loads about 3.
    const h = headers as Record<string, unknown>;
    const lower = h['content-type'];
    if (lower !== undefined) return lower;
    const usual = h['Content-Type'];
    if (usual !== undefined) return usual;
    for (const name in h) if (isContentType(name)) return h[name];
  }
  return headerOf(res, 'content-type');
}

/**
 * res.getHeader(name) for a lower-case `name`, read from node's record (kOutHeaders): node's
 * getHeader validates the name first (validateString, ~100 instructions), and an Express response
 * (its Content-Type set, then an implicit head) or a fetch response whose type was preset
 * (presetContentType) is looked up at every head.
 */
function headerOf(res: http.ServerResponse, name: string): unknown {
  const set = outHeaders(res);
  if (set === undefined) return res.getHeader(name);
  if (set === null) return undefined;
  const entry = set[name];
  return entry === undefined ? undefined : entry[1];
}

/** The 5xx-head handler (setServerErrorHeadHandler), one per process: debug mode's only. */
let onServerErrorHead: ((res: http.ServerResponse, code: number) => void) | null = null;

/**
 * Called (set once per process, null to stop) as a response's head with a 5xx status is about to
 * be written, whoever writes it, while the code answering it is still on the stack (debug mode
 * looks there for the error behind a 5xx the app answered itself).
 */
export function setServerErrorHeadHandler(handler: ((this: void, res: http.ServerResponse, code: number) => void) | null): void {
  onServerErrorHead = handler;
}

/** The event-stream handler (setEventStreamHandler), one per process. */
let onEventStream: ((res: http.ServerResponse) => void) | null = null;

const writeHead = http.ServerResponse.prototype.writeHead;

/**
 * writeHead plus two checks when the head goes out (writeHead is also what an implicit head
 * calls): a response to a request whose body is still arriving says `Connection: close` (the
 * server closes after it rather than read the rest), and a `text/event-stream` response goes to
 * the event-stream handler, whichever kind of app wrote it.
 */
function writeHeadChecked(this: TspumaResponse, code: number, a?: unknown, b?: unknown): TspumaResponse {
  if (this[kBodyExpected] && !this.req.complete) (this as { shouldKeepAlive?: boolean }).shouldKeepAlive = false;
  if (code >= 500 && onServerErrorHead !== null) onServerErrorHead(this, code);
  (writeHead as (...args: unknown[]) => unknown).call(this, code, a, b);
  if (onEventStream) {
    if (isEventStream(contentTypeOf(this, a, b))) onEventStream(this);
  }
  return this;
}

/** The response-done handler (setResponseDoneHandler), one per process. */
let onResponseDone: ((res: http.ServerResponse) => void) | null = null;

const detachSocket = http.ServerResponse.prototype.detachSocket;

/**
 * detachSocket, which node:http calls once for each response that finished (every byte handed to
 * the socket: resOnFinish, node's first 'finish' listener), before the app's 'finish' listeners,
 * before it closes the connection after a last response or attaches the next pipelined response,
 * and a tick before the response's 'close'. The server learns that a response is done here,
 * without a listener or a closure per response and without wrapping each of its events (an own
 * emit cost every prefinish, finish and close a call through it). A response whose socket closes
 * before it finishes is never detached: the socket's 'close' reaches it (deadlines.ts, whose
 * listener runs before the response's 'close'), and so does one never attached (closeUnattached).
 */
function detachSocketChecked(this: TspumaResponse, socket: Socket): void {
  detachSocket.call(this, socket);
  if (onResponseDone !== null) onResponseDone(this);
}

/**
 * Called (set once per process) with each response node:http detaches from its socket once it
 * finished (detachSocketChecked): socket.bytesWritten is then this response's end, no later
 * pipelined response is attached yet, and node closes the connection right after if the response
 * said `Connection: close` (isLastResponse).
 */
export function setResponseDoneHandler(handler: ((this: void, res: http.ServerResponse) => void) | null): void {
  onResponseDone = handler;
}

/**
 * The socket of `res` closed before node attached `res` to it (a request pipelined behind the
 * current one): node never emits its 'close'. Marks it closed (res.closed) and emits 'close' as
 * node does for the attached response, so its listeners (a fetch signal's abort) run. False if
 * `res` was attached or already closed.
 */
export function closeUnattached(res: http.ServerResponse): boolean {
  const r = res as http.ServerResponse & { _closed?: boolean };
  if (r.socket !== null || r._closed === true) return false;
  r._closed = true;
  r.emit('close');
  return true;
}

/**
 * node:http's response, with writeHeadChecked and detachSocketChecked as own methods: Express gives each
 * response its own prototype (app.response, over ServerResponse's), which a method on this
 * class's prototype would not survive.
 */
export class TspumaResponse extends http.ServerResponse {
  declare [kRequestState]: unknown;
  declare [kBodyExpected]: boolean;

  constructor(req: http.IncomingMessage, options?: object) {
    // Explicit parameters: the implicit derived constructor spreads its arguments (slower).
    // @ts-expect-error node:http passes its options (highWaterMark...) as a second argument; the types omit it
    super(req, options);
    // Set here so every response has the field from birth: setting it later would give each one a new shape.
    this[kRequestState] = null;
    this[kBodyExpected] = false;
    (this as { writeHead: unknown }).writeHead = writeHeadChecked;
    (this as { detachSocket: unknown }).detachSocket = detachSocketChecked;
  }
}
/** Where a request keeps its id (request-id.ts), once read or assigned. */
const kRequestId = Symbol('tspuma.requestId');

type WithId = http.IncomingMessage & { [kRequestId]?: unknown };

/**
 * `req.id` of every request a node:http server builds, made by `make` when first read (most apps
 * never read it: nothing is made for them, and requests stay node's own IncomingMessage, with no
 * subclass to construct). An accessor on IncomingMessage.prototype: Express replaces a request's
 * prototype with one that inherits from it. Assigning `req.id` (pino-http does) stores the value.
 * A node:http client response (no method) reads undefined until assigned, as before.
 */
export function defineRequestId(make: (req: http.IncomingMessage) => string): void {
  Object.defineProperty(http.IncomingMessage.prototype, 'id', {
    configurable: true,
    enumerable: false,
    get(this: WithId): unknown {
      const id = this[kRequestId];
      if (id !== undefined || typeof this.method !== 'string') return id;
      return (this[kRequestId] = make(this));
    },
    set(this: WithId, value: unknown): void {
      this[kRequestId] = value;
    },
  });
}

/** Called (set once per process: no closure per response) when a head says `text/event-stream`. */
export function setEventStreamHandler(handler: (this: void, res: http.ServerResponse) => void): void {
  onEventStream = handler;
}

export const SERVER_OPTIONS: http.ServerOptions = {
  ServerResponse: TspumaResponse as unknown as typeof http.ServerResponse,
  // The connection deadlines (deadlines.ts) own every timeout; node's own timers are switched off.
  requestTimeout: 0,
  headersTimeout: 0,
  keepAliveTimeout: 0,
  requireHostHeader: false,
};

// ---- Closing a connection after its last response ----

const LINGER_MS = 2000;

type ClosingSocket = Socket & { destroySoon: (this: Socket) => void; end: Socket['end'] };
const plainDestroySoon = (net.Socket.prototype as ClosingSocket).destroySoon;
const plainEnd = net.Socket.prototype.end as (this: Socket, data?: unknown, encoding?: unknown, cb?: unknown) => Socket;

/**
 * Socket.end, but a bare end() on a socket whose write side has finished returns at once. node's
 * would build an ERR_STREAM_ALREADY_FINISHED with its stack (about 20 µs) and drop it, as it does
 * with every error of an end() without a callback; node:http makes that call when the client's FIN
 * arrives after our own (socketOnEnd), on every lingering close. With data or a callback, node's.
 */
function endUnlessFinished(this: Socket, data?: unknown, encoding?: unknown, cb?: unknown): Socket {
  if (data === undefined && encoding === undefined && cb === undefined && this.writableFinished) return this;
  return plainEnd.call(this, data, encoding, cb);
}

/**
 * Gives a connection's socket, at its connection and never later, the two methods tspuma replaces
 * for its whole life: `end` (endUnlessFinished) and, with `close` (pass a shared function: no
 * closure per connection), `destroySoon`, which node:http calls to close a connection after a
 * `Connection: close` response. Set at birth, every socket of a server goes through the same
 * shapes: an own property added later (at its close) gives closing sockets a map of their own, and
 * from the first reconnection wave on (maxKeepAlive) node's Readable.read and Readable.destroy
 * meet one map more and go megamorphic for the process (bench/README.md, session 18, fetch11).
 */
export function adoptConnection(socket: Socket, close: ((this: Socket) => void) | null): void {
  const s = socket as ClosingSocket;
  s.end = endUnlessFinished as Socket['end'];
  if (close !== null) s.destroySoon = close;
}

/** node:net's own destroySoon: end, then destroy once the write side has finished. */
export function destroySoon(socket: Socket): void {
  plainDestroySoon.call(socket);
}

/** An 'end' listener (one function for every socket): the client's FIN releases a lingering socket. */
function destroyOnEnd(this: Socket): void {
  this.destroy();
}

/** The linger's timer: the client never sent its FIN. */
function destroyLingering(socket: Socket): void {
  socket.destroy();
}

/**
 * Closes lingering: FIN now, then wait for the client's FIN (or LINGER_MS) before releasing the
 * socket, so bytes the client already sent (a request pipelined after our last response) do not
 * turn the close into a reset that loses the response. Listeners that are never removed ('end'
 * fires once, and the socket is gone after 'close'): a once() would remove its wrapper under
 * another event name than node's own removals ('close'), and removeListener's keyed load would go
 * megamorphic for the process at the first such close (findings fetch10.2).
 */
export function closeLingering(socket: Socket): void {
  if (socket.writable) socket.end();
  if (socket.destroyed) return;
  const timer = setTimeout(destroyLingering, LINGER_MS, socket);
  timer.unref();
  socket.on('end', destroyOnEnd);
  socket.on('close', () => clearTimeout(timer));
}

/**
 * Stops accepting only (http.Server#close would also close idle keep-alive connections at once).
 * With `drainQueue` (the process owns the listening socket, so closing it closes the socket),
 * first takes the connections the kernel holds in its accept queue: closing a listening socket
 * resets each of them though its client (a proxy) has sent its request (fix9.1: nginx's second
 * try of a GET, queued on an instance as a SIGTERM stopped it, failed the GET). node 20 accepts
 * one queued connection per turn of the event loop, so the listener stays open for turns until
 * one accepts nothing (at most DRAIN_MS); what it took is served as any connection of a stopping
 * server (Connection: close). Puma's drain_on_shutdown does the same. `done` runs once every
 * connection has closed; `taken`, once the listener takes no more (at once without `drainQueue`).
 */
export function stopAccepting(server: net.Server, done: () => void, drainQueue = false, taken: () => void = () => {}): void {
  if (!drainQueue) {
    net.Server.prototype.close.call(server, () => done());
    return taken();
  }
  let accepted = 0;
  const count = () => void accepted++;
  server.on('connection', count);
  const until = performance.now() + DRAIN_MS;
  let seen = -1;
  // Each setImmediate set in a check phase runs in the next turn, after its poll phase's accepts.
  const turn = () => {
    if (accepted !== seen && performance.now() < until) {
      seen = accepted;
      setImmediate(turn);
      return;
    }
    server.off('connection', count);
    net.Server.prototype.close.call(server, () => done());
    taken();
  };
  setImmediate(turn);
}

/** The longest a stopping listener keeps taking connections from its queue (stopAccepting). */
const DRAIN_MS = 500;

// ---- Destroying a response node:http's request list still holds ----

/**
 * node's own stack formatter, as node 20 installs it (`Error.prepareStackTrace` is node's
 * ErrorPrepareStackTrace: with source maps on, a source-map lookup for every frame).
 */
const nodePrepareStackTrace = Error.prepareStackTrace;
/** The one error formatAbortStack formats itself, while destroyAborted reads its stack. */
let abortError: unknown = null;

/**
 * Set on a formatter that only filters the call sites and hands them on (debug mode's, in
 * diagnostics/app-stacks.ts, which takes its own frames out): the formatter it hands them to.
 */
export const kFormatterInside = Symbol('tspuma.formatterInside');

/** Is `current` node's formatter, bare or behind debug mode's frame filter? */
function formatsAsNode(current: unknown): boolean {
  return current === nodePrepareStackTrace || (typeof current === 'function' && (current as { [kFormatterInside]?: unknown })[kFormatterInside] === nodePrepareStackTrace);
}

/**
 * Error.prepareStackTrace for the moment destroyAborted reads the abort error's stack: when every
 * frame is a `node:` one (no source map can cover it), the text node's formatter makes for it
 * (its header, then each call site) without looking up a source map per frame, which with source
 * maps on (a .ts app, -d) resolves each `node:` name as a file path and URL. Any other error, or
 * a frame of another file, goes to node's formatter.
 */
function formatAbortStack(error: Error, trace: NodeJS.CallSite[]): unknown {
  if (error === abortError) {
    let plain = true;
    for (const site of trace) {
      const file = site.getFileName();
      if (typeof file !== 'string' || !file.startsWith('node:')) plain = false;
    }
    if (plain) {
      const head = Error.prototype.toString.call(error);
      return trace.length === 0 ? head : `${head}\n    at ${trace.join('\n    at ')}`;
    }
  }
  return nodePrepareStackTrace!(error, trace);
}

/**
 * A request's destroy() once its response is destroyed by the server: node:http aborts the
 * request (its socket closed with the request still in its list) with a new ECONNRESET `aborted`
 * error, and node's stream destroy reads that error's `stack` at once. Read here first, through
 * formatAbortStack; the request then gets the very same error object, with the same stack text,
 * through its own destroy.
 */
function destroyAborted(this: http.IncomingMessage, err?: Error, cb?: unknown): unknown {
  // Under -d, Error.prepareStackTrace is debug mode's accessor: setting it sets the formatter its
  // filter hands the call sites to, and setting back what it read restores node's behind it.
  const current = Error.prepareStackTrace;
  if (err instanceof Error && nodePrepareStackTrace !== undefined && formatsAsNode(current)) {
    abortError = err;
    Error.prepareStackTrace = formatAbortStack;
    try {
      void err.stack;
    } finally {
      Error.prepareStackTrace = current;
      abortError = null;
    }
  }
  return (Object.getPrototypeOf(this) as { destroy: (...args: unknown[]) => unknown }).destroy.call(this, err, cb);
}

/**
 * Arms `req` (which node:http still holds: its response did not finish) for the abort that
 * follows when the server destroys its response or socket (destroyAborted): nothing is added to
 * a request that is never destroyed this way. A request with a destroy of its own is left as is.
 */
export function armAbort(req: http.IncomingMessage | null | undefined): void {
  if (req && !req.destroyed && !Object.hasOwn(req, 'destroy')) (req as { destroy: unknown }).destroy = destroyAborted;
}

/** res.destroy() by the server (a failure after the head, a deadline): its request's abort is armed first (armAbort). */
export function destroyResponse(res: http.ServerResponse): void {
  armAbort(res.req);
  res.destroy();
}

/** The longest a failed body's written bytes may take to reach the kernel before its connection is cut anyway. */
const FLUSH_BEFORE_CUT_MS = 5000;

/**
 * A response whose body failed after its head went out: what the app wrote before the failure
 * reaches the client, then the response is destroyed (destroyResponse), so the client sees a cut
 * body (no last chunk, or fewer bytes than Content-Length), never a complete one. node:http corks
 * the socket for the rest of the tick, and destroying it at once drops the chunks written in that
 * tick: with a stream that fails right after its last rows, all of them. A write of nothing on the
 * socket calls back once everything before it was handed to the kernel; a client that does not
 * read is cut after FLUSH_BEFORE_CUT_MS.
 */
export function destroyAfterFlush(res: http.ServerResponse): void {
  const socket = res.socket;
  if (socket === null || socket.destroyed || res.destroyed || !socket.writable) return destroyResponse(res);
  armAbort(res.req);
  let cut = false;
  const timer = setTimeout(() => destroyOnce(), FLUSH_BEFORE_CUT_MS);
  timer.unref();
  const destroyOnce = () => {
    if (cut) return;
    cut = true;
    clearTimeout(timer);
    res.destroy();
  };
  socket.write('', () => destroyOnce());
}

// ---- Responses the server took over ----

const APP_WRITES = ['write', 'end', 'writeHead', 'setHeader', 'appendHeader', 'removeHeader', 'flushHeaders', 'writeContinue'] as const;

/** Makes the app's writes to `res` no-ops (own properties shadowing the prototype's methods). */
export function dropAppWrites(res: http.ServerResponse): void {
  for (const name of APP_WRITES) {
    Object.defineProperty(res, name, {
      configurable: true,
      writable: true,
      value: name === 'write' ? () => true : function (this: unknown) {
        return this;
      },
    });
  }
}

/** Gives `res` back ServerResponse's own methods (from its prototype; writeHeadChecked for a TspumaResponse). */
export function restoreAppWrites(res: http.ServerResponse): void {
  for (const name of APP_WRITES) delete (res as unknown as Record<string, unknown>)[name];
  if (kBodyExpected in res) (res as { writeHead: unknown }).writeHead = writeHeadChecked;
}

/** node:http's verdict on keeping the connection open after `res` (from the request, then from what the server decided). */
export function keepsAlive(res: http.ServerResponse): boolean {
  return (res as { shouldKeepAlive?: boolean }).shouldKeepAlive === true;
}

/**
 * `res` answers a request with a body: if the body is not all in when its head goes out, the head
 * says `Connection: close`, since the server closes after a response that left its body unread
 * (a keep-alive client would otherwise send its next request on a closing connection).
 */
export function markBodyExpected(res: http.ServerResponse): void {
  (res as TspumaResponse)[kBodyExpected] = true;
}

/**
 * Has node:http write `length` as the response's Content-Length from its own field
 * (`_contentLength`), as node does for an implicit head, rather than from a header passed to
 * writeHead, which node validates and matches by name (a token check, a character check of the
 * value, a lower-cased match: about 200 instructions a response). Only where node writes that
 * field into the head: a response with a body (not HEAD, 204, 304), a client that takes one with
 * a length (node frames an HTTP/1.0 response without TE: chunked by the connection's close), and
 * nothing set Content-Length, Transfer-Encoding or Trailer on it. False: send the header instead.
 * Call before writeHead, whose head then carries it.
 */
export function presetContentLength(res: http.ServerResponse, length: number): boolean {
  const r = res as { _contentLength?: unknown; _hasBody?: unknown; useChunkedEncodingByDefault?: unknown; _removedContLen?: unknown };
  if (r._contentLength !== null || r._hasBody !== true || r.useChunkedEncodingByDefault !== true || r._removedContLen !== false) return false;
  if (setsFraming(res)) return false;
  r._contentLength = length;
  return true;
}

/**
 * Whether Content-Length, Transfer-Encoding or Trailer is set on `res` (what res.hasHeader says):
 * one read of node's header record, null for a response with no header set (a fetch app's, whose
 * headers go to writeHead), where three hasHeader() calls, each through node's validateString,
 * cost about 220 instructions a response (bench/README.md, session 20, fetch13). Pinned by
 * node-http.test.ts.
 */
function setsFraming(res: http.ServerResponse): boolean {
  const set = outHeaders(res);
  if (set === undefined) return res.hasHeader('content-length') || res.hasHeader('transfer-encoding') || res.hasHeader('trailer');
  return set !== null && (set['content-length'] !== undefined || set['transfer-encoding'] !== undefined || set.trailer !== undefined);
}

/**
 * The prototype of the records presetContentType makes: no Object.prototype above them, as node's
 * own `{ __proto__: null }` has none (a header named `constructor` or `__proto__` is an own
 * property like any other), but a record built on it keeps V8's fast properties, where a
 * null-prototype literal is a dictionary from its birth (node's for-in over it in _storeHeader and
 * V8's runtime calls to build it cost more than the validation spared: fetch-invoke's rows).
 */
const RECORD = Object.create(null) as object;

/** The last Content-Type presetContentType found valid (node's validateHeaderValue), up to 1,024 characters. */
let validType = '';

/**
 * Puts `type` in node's record of `res`'s headers (kOutHeaders) as its Content-Type, as
 * setHeader('content-type', type) would, so that the writeHead that follows (with no headers of
 * its own, or only headers node then sets through setHeader) writes it from the record: a header
 * passed to writeHead is validated at every head (node's token check of the name and character
 * check of the value, two regular expressions: about 500 instructions a response), where an app
 * sends the same type (its literal, undici's `text/plain;charset=UTF-8`) response after response,
 * which is checked once (node's own validateHeaderValue) and then compared. False, nothing done:
 * the response already has a header set or its head out, this Node keeps no such record, or node
 * refuses the value (the caller passes it to writeHead, which throws node's own error).
 * Call before writeHead. Pinned by node-http.test.ts.
 */
export function presetContentType(res: http.ServerResponse, type: string): boolean {
  if (outHeaders(res) !== null || (res as { _header?: unknown })._header !== null) return false;
  if (type !== validType) {
    try {
      http.validateHeaderValue('content-type', type);
    } catch {
      return false;
    }
    if (type.length <= 1024) validType = type;
  }
  const record = Object.create(RECORD) as OutHeaders;
  record['content-type'] = ['content-type', type];
  (res as unknown as Record<symbol, OutHeaders>)[kOutHeaders!] = record;
  return true;
}

/** How many header names and values presetHeaders keeps as checked before it starts its sets afresh. */
const CHECKED_MAX = 256;
/** Header names node's validateHeaderName accepted, with their lower-case form (node's record's key). */
const checkedNames = new Map<string, string>();
/** Header values (up to 1,024 characters) node's validateHeaderValue accepted. */
const checkedValues = new Set<string>();

/** `name`'s lower-case form if node accepts it as a header name (checked once), else undefined. */
function checkedName(name: string): string | undefined {
  let lower = checkedNames.get(name);
  if (lower !== undefined) return lower;
  try {
    http.validateHeaderName(name);
  } catch {
    return undefined;
  }
  lower = name.toLowerCase();
  if (checkedNames.size >= CHECKED_MAX) checkedNames.clear();
  checkedNames.set(name, lower);
  return lower;
}

/** Whether node accepts `value` as a header value (a value seen before: a compare, not node's expression). */
function checkedValue(name: string, value: unknown): boolean {
  if (typeof value !== 'string') return false;
  if (checkedValues.has(value)) return true;
  try {
    http.validateHeaderValue(name, value);
  } catch {
    return false;
  }
  if (value.length <= 1024) {
    if (checkedValues.size >= CHECKED_MAX) checkedValues.clear();
    checkedValues.add(value);
  }
  return true;
}

/** The last list presetHeaders made a record of (its values all strings), and that record. */
let lastList: readonly (string | string[])[] = [];
let lastRecord: OutHeaders | undefined;

/**
 * Whether `list` holds the names and values of the last list preset, in its order: a compare a
 * string (an app's literals and undici's lower-cased names are the same strings response after
 * response), where a record built again costs a store a header through V8's megamorphic keyed
 * store (about 150 instructions each: fetch-invoke's rows).
 */
function sameAsLast(list: readonly (string | string[])[]): boolean {
  const last = lastList;
  if (list.length !== last.length || lastRecord === undefined) return false;
  for (let i = 0; i < list.length; i++) if (list[i] !== last[i]) return false;
  return true;
}

/** The most headers presetHeaders takes (more: writeHead validates them as before). */
const PRESET_MAX = 16;
/** presetHeaders' lower-case names, one array for every call. */
const LOWERS: string[] = new Array<string>(PRESET_MAX).fill('');

/**
 * Puts a flat header list ([name, value, name, value...], a value a string or a list of strings:
 * a set-cookie list) in node's record of `res`'s headers (kOutHeaders), as setHeader would for
 * each, so that the writeHead that follows, given no headers, writes them from the record: headers
 * passed to writeHead are validated at every head (node's token check of each name and character
 * check of each value: about 350-450 instructions a header), where an app sends the same names and
 * mostly the same values response after response. Each name and value is checked with node's own
 * validateHeaderName/validateHeaderValue the first time and found in a set of checked ones after
 * (a value never seen is checked as node would check it at the head); the same list as the last
 * one gets that one's record again (sameAsLast). False, nothing done: the
 * response already has a header set or its head out, this Node keeps no such record, a name is
 * given twice (in any case: node's list writes both lines, a record one), more than PRESET_MAX
 * headers, a name starts with a digit (an index-like key would be enumerated first, out of order),
 * or node refuses a name or a value (the caller passes the list to writeHead, which throws node's
 * own error).
 * Call before writeHead. Pinned by header-preset.test.ts.
 */
export function presetHeaders(res: http.ServerResponse, list: readonly (string | string[])[]): boolean {
  if ((list.length & 1) !== 0 || outHeaders(res) !== null || (res as { _header?: unknown })._header !== null) return false;
  const count = list.length >> 1;
  if (count > PRESET_MAX) return false;
  if (sameAsLast(list)) {
    // The headers of the last response preset, again (an app's route answers alike): its record,
    // which node only reads once the head is out (it refuses setHeader and removeHeader then).
    (res as unknown as Record<symbol, OutHeaders>)[kOutHeaders!] = lastRecord!;
    return true;
  }
  // The lower-case names, to find a name given twice by compares: checkedName hands out one string
  // a name, so equal names are one string (a lookup in the record by name was a megamorphic load,
  // about 130 instructions a header).
  const lowers = LOWERS;
  for (let i = 0; i < count; i++) {
    const name = list[i * 2];
    if (typeof name !== 'string') return false;
    const lower = checkedName(name);
    if (lower === undefined) return false;
    const first = lower.charCodeAt(0);
    if (first >= 48 && first <= 57) return false;
    for (let j = 0; j < i; j++) if (lowers[j] === lower) return false;
    const value = list[i * 2 + 1];
    if (Array.isArray(value)) {
      for (let j = 0; j < value.length; j++) if (!checkedValue(name, value[j])) return false;
    } else if (!checkedValue(name, value)) return false;
    lowers[i] = lower;
  }
  const record = Object.create(RECORD) as OutHeaders;
  let shared = true;
  for (let i = 0; i < count; i++) {
    const value = list[i * 2 + 1];
    // A list value is node's to change (a Content-Disposition's, to latin1 bytes): never shared.
    if (typeof value !== 'string') shared = false;
    record[lowers[i]!] = [list[i * 2] as string, value];
  }
  (res as unknown as Record<symbol, OutHeaders>)[kOutHeaders!] = record;
  if (shared) {
    lastList = list.slice();
    lastRecord = record;
  }
  return true;
}

/**
 * Undoes what a writeHead that threw before its head was made (node's checks of a header, the
 * status text, a Trailer on a body of known length) left on `res`: the status text it set and the
 * length presetContentLength set (a response written in the app's place then says "500 Internal
 * Server Error", not the app's "OK", and gets its own length), and with `headers` the record
 * presetHeaders filled (that response then carries none of the app's headers). Pinned by
 * header-preset.test.ts.
 */
export function undoHead(res: http.ServerResponse, headers: boolean): void {
  const r = res as { _header?: unknown; _contentLength?: unknown; statusMessage?: unknown };
  if (r._header !== null) return;
  r.statusMessage = undefined;
  r._contentLength = null;
  if (headers && outHeaders(res)) (res as unknown as Record<symbol, null>)[kOutHeaders!] = null;
}

/** `res` will say `Connection: close` and node:http closes the connection after it (if its head is not out yet). */
export function closeAfterResponse(res: http.ServerResponse): void {
  (res as { shouldKeepAlive?: boolean }).shouldKeepAlive = false;
}

/** node:http marked `res` as its connection's last response (a `Connection: close` it sent). */
export function isLastResponse(res: http.ServerResponse): boolean {
  return (res as { _last?: boolean })._last === true;
}

/** The response node:http is writing on this connection (the first unfinished one when requests are pipelined). */
export function currentResponse<R extends http.ServerResponse>(socket: Socket): R | null {
  return (socket as { _httpMessage?: R | null })._httpMessage ?? null;
}

/** A socket's stream handle as readCounterOf gives it: what it has read so far. */
export interface ReadCounter {
  readonly bytesRead: number;
}

/**
 * The socket's stream handle (node:net's `_handle`: a TCP or TLS wrap), to read its bytesRead
 * without node's getter, or null (no handle: a socket not connected yet, a test's stand-in).
 * Read once per connection: node's `socket.bytesRead` reads `this._handle` twice, and `_handle`
 * is itself a getter over a symbol (`this[kHandle]`) that every kind of socket in a process goes
 * through, so in a server process its keyed load is megamorphic: about 470 instructions a read,
 * paid by every keep-alive request (deadlines.ts). The handle object stays readable after the
 * socket's destroy() (which sets `_handle` to null and closes it) until its close callback, the
 * one that emits the socket's 'close'. Pinned by node-http.test.ts.
 */
export function readCounterOf(socket: Socket): ReadCounter | null {
  const handle = (socket as { _handle?: unknown })._handle;
  return handle !== null && typeof handle === 'object' && typeof (handle as ReadCounter).bytesRead === 'number' ? (handle as ReadCounter) : null;
}

/** node:http's parser of a connection as requestBegun reads it: `duration()`, ms since the message it reads began, 0 between messages. */
interface MessageClock {
  duration(): number;
}

/**
 * Whether node:http's parser of `socket` (`socket.parser`) is inside a request now: a byte of one
 * arrived and its end has not (llhttp's message begin and complete, which set and clear the
 * parser's start time that `duration()` reads: 0 between requests). Parsing runs as bytes are
 * read, so with no request begun every byte read so far belonged to requests that ended. null:
 * no such parser (not node:http's connection, one that left HTTP or closed, whose parser node
 * took back, or a test's stand-in). Read per sweep, not per request. Pinned by node-http.test.ts.
 */
export function requestBegun(socket: Socket): boolean | null {
  const parser = (socket as { parser?: unknown }).parser as MessageClock | null | undefined;
  if (parser === null || typeof parser !== 'object' || typeof parser.duration !== 'function') return null;
  return parser.duration() !== 0;
}

/** node:net has already read the peer address (getpeername()) of this socket. */
export function peerAddressKnown(socket: Socket): boolean {
  return (socket as { _peername?: unknown })._peername !== undefined;
}

/**
 * The peer address node:net has read for this socket (what `socket.remoteAddress` gives), or
 * undefined before its first read. node's getter goes through `_getpeername()`, which reads
 * `this._handle` twice, itself a getter over a symbol that every kind of socket in a process
 * goes through: in a server process a megamorphic keyed load, 473 of the 580 instructions a read
 * cost the Rack env of every keep-alive request (bench/README.md, session 18, perf16).
 * replacePeer keeps `_peername` the peer it names. Pinned by node-http.test.ts.
 */
export function knownPeerAddress(socket: Socket): string | undefined {
  return (socket as { _peername?: { address?: string } })._peername?.address;
}

/** The socket's peer address as `socket.remoteAddress` gives it: node's cache once read (knownPeerAddress), the getter only for the first read. */
export function peerAddressOf(socket: Socket): string | undefined {
  return knownPeerAddress(socket) ?? socket.remoteAddress;
}

// ---- Request bodies ----

export type Push = (chunk: unknown, encoding?: BufferEncoding) => boolean;

/**
 * The parser delivers a body through the request's push(), ending with push(null): `push`
 * replaces it on this request. Returns node's own push, bound to `req`, for `push` to call.
 */
export function interceptPush(req: http.IncomingMessage, push: Push): Push {
  const own = req.push.bind(req) as Push;
  req.push = push;
  return own;
}

type Dumped = http.IncomingMessage & {
  _dumped: boolean;
  _dump(): void;
  _readableState: { ended: boolean; length: number; endEmitted: boolean; destroyed: boolean; errored: unknown };
};
const requestProto = http.IncomingMessage.prototype as Dumped;
const dump = requestProto._dump;

/**
 * node:http's dump of a request the app never read (resOnFinish, once the response finished:
 * _dump sets _dumped, drops the 'data' listeners and resumes the stream), for a request whose
 * body is all in and empty (a GET: the parser pushed its end before the app ran): one read() ends
 * it as the resume would, 'end' and then the stream's auto-destroy and 'close', in one tick where
 * the resume took five (resume_, then read(0) twice and flow twice each queuing the end again;
 * three of those find it emitted). A tick is ~400 instructions, ~900 under -d (its lookup and
 * nextTick's argument check under the liveness flag): bench/README.md, session 25, dhappy.
 * What differs: such a request emits no 'resume' and is left not flowing (readableFlowing null).
 * Any other request (a body left unread, one already ended or destroyed) is node's dump.
 */
function dumpEnded(this: Dumped): void {
  const state = this._readableState;
  if (this._dumped || !state.ended || state.length !== 0 || state.endEmitted || state.destroyed || (state.errored ?? null) !== null) return dump.call(this);
  this._dumped = true;
  this.removeAllListeners('data');
  this.read();
}

/** Ends every unread request already at its end with a read, not node's resume (dumpEnded); once a process. */
export function endUnreadByRead(): void {
  if (typeof dump === 'function') requestProto._dump = dumpEnded;
}

/**
 * Marks `req` as consumed. A body that is wholly in the stream's buffer is read without _read(),
 * where node marks a request as consumed; unmarked, node "dumps" it after the response
 * (removeAllListeners('data'), resume(): about 1 µs a request for nothing to drain).
 */
export function markConsumed(req: http.IncomingMessage): void {
  (req as unknown as { _consuming: boolean })._consuming = true;
}

/**
 * Listens on an inherited socket (systemd socket activation, or a socket the cluster primary
 * keeps) in this process. In a cluster worker node:cluster would send listen({ fd }) to the
 * primary, which opens the fd as a shared handle and closes it (for good) when its last worker
 * exits; a worker has its own copy instead (fd 4.., see systemd.ts and cluster/listeners.ts), so
 * node is told, for this synchronous call, to listen as a primary does. `backlog`: the listen()
 * backlog (node's 511 when absent); with { fd } node reads it only from the second argument.
 * Node internals relied on: net's listen reads `cluster.isPrimary` when called, and the property
 * is writable (pinned by test/integration/systemd.test.ts's respawn test and node-http.test.ts).
 */
export function listenOnOwnFd(server: net.Server, fd: number, backlog?: number): void {
  const cluster = require('node:cluster') as { isPrimary: boolean };
  const was = cluster.isPrimary;
  cluster.isPrimary = true;
  try {
    if (backlog === undefined) server.listen({ fd });
    else server.listen({ fd }, backlog);
  } finally {
    cluster.isPrimary = was;
  }
}

/** A socket bound and not listening, held by this process: its fd is handed to the processes that listen on it. */
export interface BoundSocket {
  readonly fd: number;
  /** The TCP port it is bound to; null for a unix socket. */
  readonly port: number | null;
  /** Closes this process's copy (a unix socket's file is removed by libuv, which bound it). */
  close(): void;
  /**
   * Puts the socket in LISTEN state with `backlog`, this process never accepting on it: null, or
   * the OS error code of listen(2). Throws where this node's handles do not allow it (a caller
   * then has another process listen on a copy).
   */
  listen(backlog: number): string | null;
}

interface RawServerHandle {
  readonly fd: number;
  getsockname?(out: { port?: number }): number;
  listen(backlog: number): number;
  readStart(): number;
  readStop(): number;
  close(cb?: () => void): void;
}

type CreateServerHandle = (address: string | undefined, port: number, addressType?: number, fd?: number, flags?: number) => RawServerHandle | number;

/**
 * Binds a socket without listening on it: what node:cluster's primary does for a shared handle.
 * A process whose libuv listens on a socket accepts its connections too, so the cluster primary,
 * which keeps its sockets for its whole life and never serves, holds them bound only; the first
 * worker's listen() on its copy puts the socket in LISTEN state, and it stays there (a state of
 * the socket, not of the fd) while the primary holds it, so connections queue in the backlog
 * between workers. `address` is an IP address (already resolved) or, with `port` null, a unix
 * socket path. Throws the OS error (code, syscall 'bind'); libuv reports EADDRINUSE only at
 * listen(), so callers check the address with a real listen first (binder.ts).
 * Node internal relied on: net._createServerHandle(address, port, addressType, fd, flags), which
 * node:cluster uses, returns a TCP or Pipe handle (with `fd`, `getsockname`, `close`) or a negative
 * errno (pinned by node-http.test.ts).
 */
export function bindWithoutListening(address: string, port: number | null, family: 4 | 6 | null): BoundSocket {
  const create = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;
  const handle = port === null ? create(address, -1, -1) : create(address, port, family ?? 4, undefined, 0);
  if (typeof handle === 'number') {
    const code = util.getSystemErrorName(handle);
    const where = port === null ? address : `${address}:${port}`;
    throw Object.assign(new Error(`bind ${code} ${where}`), { code, errno: handle, syscall: 'bind', address, port: port ?? undefined });
  }
  let bound: number | null = null;
  if (port !== null) {
    const out: { port?: number } = {};
    handle.getsockname?.(out);
    bound = out.port ?? null;
  }
  let closed = false;
  /** The handle listen() listened through, held while the socket is open and never closed (see listenWithoutAccepting). */
  let listening: RawServerHandle | null = null;
  return {
    fd: handle.fd,
    port: bound,
    close: () => {
      if (closed) return;
      closed = true;
      handle.close();
      if (listening) LISTENING_COPIES.delete(listening);
    },
    listen: (backlog) => {
      if (closed) throw new Error('the socket is closed');
      const result = listenWithoutAccepting(create, handle.fd, backlog);
      if (typeof result === 'string') return result;
      listening = result;
      LISTENING_COPIES.add(result);
      return null;
    },
  };
}

/** The second handles of the listening sockets bound here: referenced until their socket closes. */
const LISTENING_COPIES = new Set<RawServerHandle>();

/**
 * listen(2) on a socket this process holds, without accepting on it: the cluster primary's
 * backlog before any worker listens, as Puma's master has (a child process did it before: about
 * 17 ms of CPU and a process start at each cluster start, issue 31). libuv's uv_listen() also
 * polls the socket, and the loop would accept. So a second handle opens the same fd
 * (net._createServerHandle with an fd: uv_tcp_open or uv_pipe_open, which make it readable),
 * starts reading, listens, and stops reading in the same turn: uv_read_stop() takes the fd out
 * of the loop's poll before the loop ever ran, and the listen(2) stays (a state of the socket).
 * That handle is never closed: its fd is the bound handle's, which closes it (and removes a unix
 * socket's file); closing both would close the fd twice. Throws where reading cannot start (then
 * nothing listened and the loop polls nothing); returns the handle, or listen's OS error code.
 * Node internals relied on: _createServerHandle(undefined, 0, undefined, fd) opens an existing
 * fd; a TCP or Pipe handle has readStart/listen/readStop returning 0 or a negative errno (pinned
 * by node-http.test.ts: a connection waits in the backlog, this process accepting nothing).
 */
function listenWithoutAccepting(create: CreateServerHandle, fd: number, backlog: number): RawServerHandle | string {
  const copy = create(undefined, 0, undefined, fd);
  if (typeof copy === 'number') throw new Error(`cannot open a second handle on fd ${fd}: ${util.getSystemErrorName(copy)}`);
  const reading = copy.readStart();
  if (reading !== 0) throw new Error(`cannot start reading on fd ${fd}: ${util.getSystemErrorName(reading)}`);
  const err = copy.listen(backlog);
  copy.readStop();
  return err === 0 ? copy : util.getSystemErrorName(err);
}

/**
 * Holds each new connection of `server` back from node:http (and every other `connection`
 * listener) until `hold` calls `release`: the server's own emit is replaced by one that passes
 * every other event through. Node internal relied on: net.Server announces a connection through
 * `this.emit('connection', socket)`, which an own property shadows (pinned by node-http.test.ts).
 */
export function holdConnections(server: net.Server, hold: (socket: Socket, release: () => void) => void): void {
  const emit = server.emit as (this: net.Server, event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = function (this: net.Server, event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'connection') return emit.call(this, event, ...args);
    const socket = args[0] as Socket;
    hold(socket, () => emit.call(this, 'connection', socket));
    return true;
  } as typeof server.emit;
}

/**
 * Makes the socket's remoteAddress, remotePort and remoteFamily the given peer's (own properties
 * over node:net's getters), for every reader: REMOTE_ADDR, the request log, a framework's req.ip,
 * trustProxy's first hop. Pinned by node-http.test.ts: node:net reads them through getters an
 * own property shadows, and node:http's req.socket is the same object.
 */
export function replacePeer(socket: Socket, peer: { address: string; port: number; family: string }): void {
  // What node's getters return once read, for a reader of node's cache (knownPeerAddress).
  (socket as { _peername?: unknown })._peername = { address: peer.address, port: peer.port, family: peer.family };
  Object.defineProperties(socket, {
    remoteAddress: { value: peer.address, configurable: true },
    remotePort: { value: peer.port, configurable: true },
    remoteFamily: { value: peer.family, configurable: true },
  });
}
