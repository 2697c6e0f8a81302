// One HTTP server over every bind: owns the bound node:http servers, the connection deadlines and
// the invocation limit; admits each request, hands it to the app, answers in its place when
// it must (refusals, timeouts, parse errors, shutdown), and stops gracefully.
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Adapted } from './adapters.js';
import type { RackEnv } from './app-types.js';
import { createHttpServer, listen, removeUnixSocket, type BoundServer } from './binder.js';
import { closeAfterResponse, closeLingering, markBodyExpected, currentResponse, destroySoon, dropAppWrites, isLastResponse, keepsAlive, kRequestState as kState, replaceDestroySoon, restoreAppWrites, setEventStreamHandler, stopAccepting } from './node-http.js';
import { MAX_URI_LENGTH, admissionError, readFraming, supportedText } from './admission.js';
import { TspumaError, isTspumaError } from './errors.js';
import type { DiagnosticsHook } from './debug-hook.js';
import { DUMP_ENV_KEY } from './shared-names.js';
import { handlerErrorResponse, answerWithError, answerOnRawSocket, writeErrorResponse, type LowlevelContext } from './lowlevel.js';
import type { Options } from './options.js';
import { InvocationLimit, type Ticket } from './invocation-limit.js';
import { buildEnv, socketEnv } from './rack.js';
import { ConnectionDeadlines, entryOf, type ConnectionState, type Entry, type ReadExpiry } from './deadlines.js';
import { watchBody, type BodyOwner } from './request-body.js';
import { assignRequestId, requestIdOf, shownRequestId } from './request-id.js';
import { Upgrades } from './upgrade.js';
import { urlRedactor } from '../diagnostics/redact.js';
import { clientAddressOf, compileTrust, resolveClient, type Trust } from './trusted-proxy.js';
import type { Tracing } from './otel.js';

export { MAX_URI_LENGTH };
/** node:http's header limit (llhttp), stricter than Puma's 112 KB. */
export const MAX_HEADER_SIZE = 16 * 1024;

export interface InFlight {
  method: string;
  url: string;
  /** How long it has been in the app. */
  ms: number;
}

export interface Stats {
  started_at: string;
  backlog: number;
  running: number;
  pool_capacity: number;
  busy_threads: number;
  max_threads: number;
  requests_count: number;
  connections: Record<ConnectionState, number>;
}

interface RequestState {
  readonly server: Server;
  readonly entry: Entry;
  readonly req: http.IncomingMessage;
  readonly res: TrackedResponse;
  /** The request line's URL as it arrived, before a router rewrites `req.url`. */
  readonly url: string;
  /** performance.now() at admission, only taken when logRequests is on (0 otherwise). */
  readonly start: number;
  /** The socket's bytesWritten at admission, only read when logRequests is on. */
  readonly sent: number;
  /** The app holds an invocation slot for this request. */
  slot: boolean;
  ticket: Ticket | null;
  /** The server answered instead of the app (timeout, 413, shutdown); the app's writes are dropped. */
  takenOver: boolean;
  /** The body is being read before the app runs (bodyBufferSize); bodyReady() lets it run. */
  waiting: boolean;
  /** Debug mode: capture was entered for this request and must be left once. */
  captured: boolean;
}
type TrackedResponse = http.ServerResponse & { [kState]?: RequestState | null };

/**
 * node:http's close after a `Connection: close` response. The client said this was its last
 * request (Connection: close, or HTTP/1.0 without keep-alive): it sends nothing more, so there is
 * nothing to linger for, and closing at once saves a wakeup, a read and a timer per connection
 * (about 30 µs of CPU in the close loop). Otherwise close lingering (node-http.ts).
 */
function closeAfterLastResponse(this: Socket): void {
  if (entryOf(this)?.clientClosing) return destroySoon(this);
  closeLingering(this);
}

const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ECONNABORTED']);

/** Long-lived connections that do not answer a clean close within this long are cut. */
const CLOSE_GRACE_MS = 5000;

/** Once per process: a `text/event-stream` head gives up its invocation slot. */
setEventStreamHandler((res) => {
  const state = (res as TrackedResponse)[kState];
  if (state) state.server.streaming(res, state);
});

/** One shared 'close' listener for every response: no closure per request. */
function onResponseClose(this: TrackedResponse): void {
  const state = this[kState];
  if (state) state.server.finished(this, state);
}

export interface ServerDeps {
  /** Debug mode's hook; null or absent: debug off. */
  readonly diagnostics?: DiagnosticsHook | null;
  /** Called when idleTimeout passes with no request. */
  readonly onIdle?: () => void;
  /** OpenTelemetry's server spans (server/otel.ts); null or absent: no @opentelemetry/api. */
  readonly tracing?: Tracing | null;
}

export class Server implements BodyOwner<RequestState> {
  readonly deadlines: ConnectionDeadlines;
  readonly invocations: InvocationLimit;
  readonly boundServers: BoundServer[] = [];
  readonly startedAt = new Date();
  private readonly lowlevel: LowlevelContext;
  private draining = false;
  /** Remove unix socket files at stop (single mode); a cluster worker shares them and must not. */
  ownsSockets = true;
  /** Cluster (balanceBusyWorkers): true while this worker's event loop is saturated. */
  private busy = false;
  private busyTimer: NodeJS.Timeout | null = null;

  /**
   * Cluster: while the event loop is over 90% utilised, responses say Connection: close, so
   * keep-alive clients reconnect and the kernel hands them to a worker that is free to accept
   * (a saturated one rarely gets to accept). Puma's wait_for_less_busy_worker, for event loops.
   */
  balanceWhenBusy(): void {
    let last = performance.eventLoopUtilization();
    this.busyTimer = setInterval(() => {
      const now = performance.eventLoopUtilization();
      this.busy = performance.eventLoopUtilization(now, last).utilization > 0.9;
      last = now;
    }, 100);
    this.busyTimer.unref();
  }
  private drained: Promise<void> | null = null;
  /** A request URL as logs, coded errors and in-flight lists show it: secret query values redacted. */
  private readonly shownUrl: (url: string | undefined) => string;

  /** Debug mode's hook (null: debug off); failures and app calls go through it. */
  readonly diagnostics: DiagnosticsHook | null;
  /** trustProxy as a function; null: off, and no request pays for it. */
  private readonly trust: Trust | null;
  private readonly tracing: Tracing | null;

  constructor(
    readonly options: Options,
    readonly app: Adapted,
    readonly log: Logger,
    deps: ServerDeps = {},
  ) {
    const diagnostics = (this.diagnostics = deps.diagnostics ?? null);
    this.tracing = deps.tracing ?? null;
    this.invocations = new InvocationLimit(options.threads.min, options.threads.max);
    this.shownUrl = urlRedactor(options.redact);
    this.trust = options.trustProxy ? compileTrust(options.trustProxy) : null;
    this.requestLog = options.logRequests ? (log.isLevelEnabled('info') ? log : log.child({}, { level: 'info' })) : null;
    this.lowlevel = { handler: options.lowlevelErrorHandler, production: options.environment === 'production', log, diagnostics };
    this.deadlines = new ConnectionDeadlines(
      {
        firstData: options.firstDataTimeout,
        headers: options.headersTimeout,
        body: options.bodyTimeout,
        persistent: options.persistentTimeout,
        request: options.requestTimeout,
        idle: options.idleTimeout,
        upgradedIdle: options.upgradedIdleTimeout,
      },
      {
        readTimeout: (entry, why) => this.readTimeout(entry, why),
        requestTimeout: (entry) => this.requestTimeout(entry),
        idle: deps.onIdle ?? (() => {}),
      },
      log,
      diagnostics,
    );
  }

  /** WebSocket and raw upgrades, when the app exports a handler for them. */
  private upgrades: Upgrades | null = null;

  /** Creates and listens on every bind, in order. Rejects with the first coded listen error. */
  async bind(): Promise<BoundServer[]> {
    this.deadlines.start();
    if (this.app.websocket || this.app.upgrade) {
      this.upgrades = new Upgrades(this.deadlines, this.app, this.log, (req, socket, err, status) => {
        this.log.debug({ code: err.code, url: this.shownUrl(req.url) }, err.message);
        void answerOnRawSocket(this.lowlevel, socket, err, buildEnv(req), status).catch(() => socket.destroy());
      }, this.diagnostics);
      await this.upgrades.init();
    }
    for (const spec of this.options.bind) {
      const server = createHttpServer(spec, this.options.firstDataTimeout * 1000, this.log);
      this.attach(server, spec.tls !== null);
      this.boundServers.push(await listen(spec, server, this.log, this.diagnostics));
    }
    return this.boundServers;
  }

  /** Wires a node:http server into the connection deadlines, the invocation limit and the lowlevel handler. */
  attach(server: http.Server, tls = false): void {
    // maxKeepAlive is enforced in onRequest (Puma's way: the last response says close), not by
    // node's maxRequestsPerSocket, which answers requests pipelined past the cap with 503.
    // Under TLS the deadlines track the TLS socket from the end of the handshake (bounded by handshakeTimeout).
    if (tls) server.on('secureConnection', (socket: TLSSocket) => this.deadlines.add(socket));
    else
      server.on('connection', (socket: Socket) => {
        this.deadlines.add(socket);
        // node:http closes after a `Connection: close` response with destroySoon(): if the
        // client already sent its next request (clients that ignore the header do), the unread
        // bytes turn the close into a reset. Close lingering instead: FIN, then wait for the
        // client's FIN (or LINGER_MS) before releasing the socket.
        replaceDestroySoon(socket, closeAfterLastResponse);
      });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res));
    // Without a handler node:http answers an upgrade request as a plain request (the app's).
    if (this.upgrades) {
      server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
        if (this.trust) resolveClient(req, this.trust, this.options.trustProxyHeaders);
        const refused = this.draining
          ? { err: new TspumaError('TSPUMA_ERR_UPGRADE_REFUSED', { method: req.method, url: this.shownUrl(req.url), protocol: String(req.headers.upgrade ?? ''), reason: 'the server is shutting down' }), status: 503 }
          : this.admissionRefusal(req);
        this.upgrades!.handle(req, socket, head, refused);
      });
    }
    server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res, true));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    // After listen, a server 'error' is an accept failure (EMFILE, ENFILE): log it and keep serving.
    server.on('listening', () => server.on('error', (err: NodeJS.ErrnoException) => this.onAcceptError(err)));
    server.on('connect', (req: http.IncomingMessage, socket: Socket) => {
      const err = new TspumaError('TSPUMA_ERR_HTTP_METHOD_NOT_SUPPORTED', { method: 'CONNECT', supported: supportedText(this.options.supportedHttpMethods) });
      entryOf(socket) && this.deadlines.remove(entryOf(socket)!);
      void answerOnRawSocket(this.lowlevel, socket, err, buildEnv(req), 501);
    });
  }

  private onRequest(req: http.IncomingMessage, res: TrackedResponse, expectsContinue = false): void {
    if (!req.socket.writable) {
      // Sent after our `Connection: close` response, during the lingering close: nobody can
      // answer it on this connection; the client sees our FIN and retries on a new one.
      req.resume();
      return;
    }
    const entry = entryOf(req.socket) ?? this.deadlines.add(req.socket);
    if (entry.closeAfter) {
      // Pipelined behind a request whose response says Connection: close (maxKeepAlive,
      // shutdown, a refusal): not run, since its answer could never be sent. The connection
      // closes after that response and the client retries this one on a new connection.
      this.log.debug({ method: req.method, url: this.shownUrl(req.url) }, 'request pipelined after the connection\'s last one: not run');
      req.resume();
      return;
    }
    // node:http's verdict from the request alone, before the server adds its own reasons to close.
    if (!keepsAlive(res)) entry.clientClosing = true;
    // One pass over rawHeaders for Host, the body's framing and X-Request-Id.
    const framing = readFraming(req);
    assignRequestId(req, framing.requestId);
    if (this.trust) resolveClient(req, this.trust, this.options.trustProxyHeaders);
    this.tracing?.request(req, res); // the server span, before a queue can run the app in another request's context
    const refused = admissionError(req, this.options, framing);
    const chunked = framing.transferEncoding !== undefined;
    const length = chunked || framing.length === undefined ? 0 : Number(framing.length);
    // A small body (and the start of a chunked one) is read before the app runs: Puma's way.
    const hold = this.options.bodyBufferSize;
    const held = refused === null && hold > 0 && (chunked || (length > 0 && length <= hold));
    this.deadlines.toApp(entry, req, res, held);
    const logged = this.requestLog !== null;
    const state: RequestState = {
      server: this,
      entry,
      req,
      res,
      url: req.url!,
      start: logged ? performance.now() : 0,
      sent: logged ? req.socket.bytesWritten : 0,
      slot: false, ticket: null, takenOver: false, waiting: false, captured: false };
    res[kState] = state;
    res.on('close', onResponseClose);
    const max = this.options.maxKeepAlive;
    if (this.draining || this.busy || (max > 0 && entry.requests >= max)) {
      closeAfterResponse(res);
      entry.closeAfter = true;
    }

    if (refused) {
      // The server answers in the app's place, with Connection: close; a body is read and dropped.
      state.takenOver = true;
      entry.closeAfter = true;
      if (refused.status === 413) req.resume();
      void this.answer(req, res, refused, refused.status!);
      return;
    }
    if (chunked || length > 0) markBodyExpected(res);
    if (expectsContinue) res.writeContinue();
    const limit = chunked ? this.options.httpContentLengthLimit : null;
    if (held || limit !== null) watchBody(req, state, this, limit, held ? hold : 0);
    if (!state.waiting) this.admit(req, res, state);
  }

  /** To the app now, or to the invocation queue. */
  private admit(req: http.IncomingMessage, res: TrackedResponse, state: RequestState): void {
    if (this.invocations.tryAcquire()) this.run(req, res, state);
    else state.ticket = this.invocations.submit(() => this.run(req, res, state));
  }

  /** BodyOwner: the body held back from the app is in (or larger than the hold). */
  bodyReady(state: RequestState): void {
    if (state.takenOver) return;
    this.deadlines.bodyRead(state.entry, state.res);
    this.admit(state.req, state.res, state);
  }

  /** BodyOwner: a chunked body passed httpContentLengthLimit. */
  bodyTooLarge(state: RequestState, seen: number): void {
    void this.takeOver(state.req, state.res, new TspumaError('TSPUMA_ERR_HTTP_BODY_TOO_LARGE', { length: `at least ${seen}`, limit: this.options.httpContentLengthLimit }), 413);
  }

  private admissionRefusal(req: http.IncomingMessage): { err: TspumaError; status: number } | null {
    const err = admissionError(req, this.options, readFraming(req));
    return err ? { err, status: err.status ?? 400 } : null;
  }

  /**
   * The response's head says `text/event-stream`: it gives up its invocation slot (to the next
   * request) and leaves the app state (no requestTimeout); its deadline closes it when idle or at stop.
   */
  streaming(res: http.ServerResponse, state: RequestState): void {
    if (state.takenOver || res.writableEnded) return;
    this.release(state);
    if (state.captured) {
      state.captured = false;
      this.diagnostics?.leave();
    }
    let closing = false;
    this.deadlines.toLongLived(state.entry, 'streaming', () => {
      if (closing || res.destroyed) return void res.destroy();
      closing = true;
      res.end(); // the end of the stream: EventSource reconnects (elsewhere, during a restart)
      dropAppWrites(res); // the app may keep writing to it
    });
  }

  private run(req: http.IncomingMessage, res: TrackedResponse, state: RequestState): void {
    state.slot = true;
    state.ticket = null;
    if (state.takenOver || res.destroyed) {
      // The client left (or the server answered) while this request was queued.
      if (res.destroyed) this.release(state);
      return;
    }
    const diagnostics = this.diagnostics;
    if (diagnostics) {
      diagnostics.enter('app'); // left in finished(), after the last await of the app
      state.captured = true;
    }
    let result;
    try {
      result = diagnostics ? diagnostics.call(req, res, () => this.app.invoke(req, res)) : this.app.invoke(req, res);
    } catch (err) {
      this.appError(req, res, state, err);
      return;
    }
    if (result) result.catch((err: unknown) => this.appError(req, res, state, err));
  }

  /** Cluster: called when the last request in the app finished (Puma's out_of_band). */
  onOutOfBand: (() => Promise<void>) | null = null;
  private outOfBandRunning = false;

  private release(state: RequestState): void {
    if (state.slot) {
      state.slot = false;
      this.invocations.release();
      if (this.onOutOfBand && this.invocations.running === 0 && this.invocations.backlog === 0 && !this.outOfBandRunning) {
        this.outOfBandRunning = true;
        setImmediate(() => void this.onOutOfBand!().finally(() => (this.outOfBandRunning = false)));
      }
    }
  }

  private appError(req: http.IncomingMessage, res: TrackedResponse, state: RequestState, err: unknown): void {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    if (state.takenOver || (code !== undefined && CLIENT_GONE.has(code) && (res.destroyed || req.destroyed))) {
      this.log.debug({ err, url: this.shownUrl(req.url) }, 'app error after the response was taken over or the client left');
      return;
    }
    this.tracing?.exception(req, err);
    if (res.headersSent) {
      const coded = new TspumaError('TSPUMA_ERR_RESPONSE_STREAM', { method: req.method, url: this.shownUrl(req.url), message: (err as Error)?.message ?? String(err) }, { cause: err });
      this.log.error({ err, code: coded.code }, coded.message);
      this.diagnostics?.report(err, { phase: 'app', request: req }); // a body that failed after its head went out
      res.destroy();
      return;
    }
    const status = isTspumaError(err) && err.status ? err.status : 500;
    const url = this.shownUrl(req.url);
    this.log.error({ err, method: req.method, url, status }, `${req.method} ${url} failed: ${this.shownUrl((err as Error)?.message ?? String(err))}`);
    void this.answer(req, res, err, status, 'app');
  }

  /** Answers through the lowlevel handler with Connection: close; in debug mode with a dump in env. */
  private answer(req: http.IncomingMessage, res: http.ServerResponse, err: unknown, status: number, dumpPhase: 'app' | 'request' = 'request'): Promise<void> {
    const env = buildEnv(req, res);
    if (this.diagnostics) env[DUMP_ENV_KEY] = this.diagnostics.report(err, { phase: dumpPhase, request: req });
    return answerWithError(this.lowlevel, res, err, env, status);
  }

  /** The server answers in the app's place; later writes by the app are dropped. */
  private async takeOver(req: http.IncomingMessage, res: TrackedResponse, err: TspumaError, status: number): Promise<void> {
    const state = res[kState];
    if (!state || state.takenOver || res.writableEnded) return;
    state.takenOver = true;
    state.ticket?.cancel();
    state.ticket = null;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    dropAppWrites(res); // the app may keep writing while the handler runs
    const response = await handlerErrorResponse(this.lowlevel, err, buildEnv(req, res), status);
    restoreAppWrites(res);
    if (res.headersSent || res.destroyed) res.destroy();
    else await writeErrorResponse(this.lowlevel, res, response);
    dropAppWrites(res);
  }

  private requestTimeout(entry: Entry): void {
    const { req, res } = entry;
    if (!req || !res) return;
    const url = this.shownUrl(req.url);
    const err = new TspumaError('TSPUMA_ERR_REQUEST_TIMEOUT', { method: req.method, url, seconds: this.options.requestTimeout });
    this.log.warn({ code: err.code, method: req.method, url }, err.message);
    void this.takeOver(req, res, err, 503);
  }

  /** A request head (or a body read before the app) stalled or missed its total deadline: 408. */
  private readTimeout(entry: Entry, why: ReadExpiry): void {
    const o = this.options;
    const err =
      why === 'stalled'
        ? new TspumaError('TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT', { seconds: o.firstDataTimeout })
        : why === 'headers'
          ? new TspumaError('TSPUMA_ERR_HTTP_HEADERS_TIMEOUT', { seconds: o.headersTimeout })
          : new TspumaError('TSPUMA_ERR_HTTP_BODY_TIMEOUT', { seconds: o.bodyTimeout });
    this.log.debug({ code: err.code, remote: entry.socket.remoteAddress }, err.message);
    const state = (entry.res as TrackedResponse | null)?.[kState];
    if (state?.waiting) void this.takeOver(state.req, state.res, err, 408);
    else void answerOnRawSocket(this.lowlevel, entry.socket, err, socketEnv(entry.socket), 408);
  }

  /**
   * Parse errors that wait for the responses to the requests before them on their connection:
   * `run` answers once none is in flight, or once only `held` is left (a request whose held body
   * the error cut short: it never runs, so its response never comes).
   */
  private readonly afterResponses = new Map<Entry, { run: () => void; held: RequestState | null }>();

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const entry = entryOf(socket);
    if ((err.code && CLIENT_GONE.has(err.code)) || !socket.writable) {
      if (entry) this.deadlines.remove(entry);
      this.log.debug({ code: err.code, remote: socket.remoteAddress }, 'client connection error');
      socket.destroy();
      return;
    }
    // The unfinished response at the head of this connection's queue, when a request came first.
    const ahead = currentResponse<TrackedResponse>(socket);
    const state = ahead?.[kState];
    // Already answered by the server with Connection: close; or the parser repeating its error.
    if (state?.takenOver || (entry && this.afterResponses.has(entry))) return;
    let coded: TspumaError;
    let status: number;
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      coded = new TspumaError('TSPUMA_ERR_HTTP_HEADERS_TOO_LARGE', { limit: MAX_HEADER_SIZE }, { cause: err });
      status = 431;
    } else {
      const reason = String((err as { reason?: string }).reason ?? err.message).replace(/^Parse Error: /, '');
      coded = new TspumaError('TSPUMA_ERR_HTTP_PARSE', { reason, osCode: err.code ?? 'unknown' }, { cause: err });
      status = 400;
    }
    this.log.debug({ code: coded.code, remote: socket.remoteAddress, parser: err.code }, coded.message);
    // The connection's last request, when it is not the current one: pipelined behind it.
    const lastRes = entry?.pipelined?.at(-1)?.res as TrackedResponse | undefined;
    const held = lastRes?.[kState]?.waiting ? lastRes[kState]! : null;
    if (held) {
      // The bad bytes are in that request's held body: the app never runs it.
      held.takenOver = true;
      held.waiting = false;
    }
    if (state && entry && !state.waiting) {
      // A good request before the bad bytes is in the app: its response goes out first, then
      // the 400 and the close (finished() runs this once the connection has none in flight).
      const env = held ? buildEnv(held.req) : socketEnv(socket);
      this.afterResponses.set(entry, { run: () => this.refuseRaw(socket, coded, status, env), held });
      return;
    }
    // No request before it, or a body held back from the app (which now never runs).
    if (state) state.takenOver = true;
    this.refuseRaw(socket, coded, status, state ? buildEnv(state.req) : socketEnv(socket));
  }

  /** Answers on the raw socket through the lowlevel handler, then closes it. */
  private refuseRaw(socket: Socket, coded: TspumaError, status: number, env: RackEnv): void {
    const entry = entryOf(socket);
    if (entry) this.deadlines.remove(entry);
    if (!socket.writable) return void socket.destroy();
    if (this.diagnostics) env[DUMP_ENV_KEY] = this.diagnostics.report(coded, { phase: 'request' });
    void answerOnRawSocket(this.lowlevel, socket, coded, env, status).catch(() => socket.destroy());
  }

  private onAcceptError(err: NodeJS.ErrnoException): void {
    const hint = err.code === 'EMFILE' || err.code === 'ENFILE' ? ' (out of file descriptors: raise `ulimit -n` or lower the connection count)' : '';
    this.log.error({ err, code: err.code, connections: this.deadlines.size }, `accept failed: ${err.code ?? err.message}${hint}`);
    this.diagnostics?.report(err, { phase: 'accept', context: { connections: this.deadlines.size } });
  }

  /** The response closed (finished, or the client left): free the slot, back to keep-alive. */
  finished(res: http.ServerResponse, state: RequestState): void {
    const { entry, req } = state;
    state.ticket?.cancel();
    state.ticket = null;
    this.release(state);
    if (state.captured) {
      state.captured = false;
      const diagnostics = this.diagnostics!; // captured only in debug mode
      diagnostics.leave();
      diagnostics.settled(req, res); // a 5xx the app answered itself after a captured throw
    }
    // Puma closes a connection after a `Connection: close` response. A body the app left unread
    // is not drained for another request either: the connection closes (lingering, so the client
    // reads the response) and what still arrives is dropped.
    const last = !keepsAlive(res) || isLastResponse(res) || !req.complete;
    if (last && entry.socket.writable) closeAfterLastResponse.call(entry.socket);
    this.deadlines.toKeepalive(entry, res);
    if (this.afterResponses.size !== 0) {
      const after = this.afterResponses.get(entry);
      if (after && (entry.inflight === 0 || (after.held !== null && entry.res === after.held.res))) {
        this.afterResponses.delete(entry);
        after.run();
      }
    }
    if (this.requestLog) this.logRequest(this.requestLog, res, state);
  }

  /** Request lines: at info even under `quiet`, since logRequests asked for them. */
  private readonly requestLog: Logger | null;

  /**
   * One line per request: the URL as received (secret query values redacted), status, time,
   * bytes sent (head and body) and the request id. The fields are one `request` object, which a
   * TTY's pretty printer leaves out: the message already says it all on one line.
   */
  private logRequest(log: Logger, res: http.ServerResponse, state: RequestState): void {
    const { req } = state;
    const ms = Math.round((performance.now() - state.start) * 100) / 100;
    const url = this.shownUrl(state.url);
    const bytes = Math.max(0, req.socket.bytesWritten - state.sent);
    const remote = clientAddressOf(req);
    const id = requestIdOf(req);
    const request = { id, method: req.method, url, status: res.statusCode, ms, bytes, remote };
    log.info({ request }, `${req.method} ${url} ${res.statusCode} ${ms}ms ${bytes}B ${remote ?? '-'} ${shownRequestId(id)}`);
  }

  stats(): Stats {
    return { started_at: this.startedAt.toISOString(), ...this.invocations.stats(), connections: this.deadlines.counts() };
  }

  /**
   * Requests in the app now, oldest first (read by a hung-worker autopsy through the inspector),
   * each by the URL it arrived with, as the request log names it, not what a router left in req.url.
   */
  inFlight(): InFlight[] {
    const now = performance.now();
    const out: InFlight[] = [];
    for (const e of this.deadlines.inApp()) {
      if (!e.req) continue;
      const received = (e.res as TrackedResponse | null)?.[kState]?.url ?? e.req.url;
      out.push({ method: e.req.method ?? '', url: this.shownUrl(received), ms: Math.round(now - e.appSince) });
    }
    return out.sort((a, b) => b.ms - a.ms);
  }

  /**
   * Graceful stop: stop accepting, close idle connections now, let requests in flight
   * finish; after forceShutdownAfter seconds answer what is left with 503. Resolves once
   * every connection is closed.
   */
  shutdown(opts: { lingerMs?: number } = {}): Promise<void> {
    if (this.drained) return this.drained;
    const linger = opts.lingerMs ?? 0;
    this.draining = true;
    this.deadlines.draining = true;
    this.drained = new Promise<void>((resolve) => {
      let forceTimer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(forceTimer);
        if (this.busyTimer) clearInterval(this.busyTimer);
        this.deadlines.stop();
        if (this.ownsSockets) for (const b of this.boundServers) removeUnixSocket(b.spec);
        resolve();
      };
      // Stop accepting only: closing idle keep-alive connections at once is what the linger below avoids.
      const closed = Promise.all(this.boundServers.map((b) => new Promise<void>((r) => stopAccepting(b.server, r))));
      // Their responses say the connection closes, as the ones onRequest admits from now on do.
      for (const entry of this.deadlines.withRequest()) if (entry.res && !entry.res.headersSent) closeAfterResponse(entry.res);
      this.deadlines.onEmpty = () => void closed.then(done);
      // With a linger (cluster restarts), idle keep-alive clients get time to send their next
      // request, which is answered with Connection: close: closing under a client that is
      // sending would fail its request. Without one (SIGTERM), idle connections close at once.
      let closedIdle = 0;
      if (linger > 0) setTimeout(() => this.deadlines.closeIdle(), linger).unref();
      else closedIdle = this.deadlines.closeIdle();
      // WebSockets get a close frame (1001) and event streams their end, now: their clients
      // reconnect, to another worker during a restart. Cut if not closed within CLOSE_GRACE_MS.
      const longLived = this.deadlines.longLived();
      for (const e of longLived) e.close?.('shutdown');
      if (longLived.length > 0) {
        setTimeout(() => {
          for (const e of longLived) if (!e.socket.destroyed) e.close?.('shutdown');
        }, CLOSE_GRACE_MS).unref();
      }
      this.log.info({ closedIdle, remaining: this.deadlines.size }, `Gracefully stopping, waiting for ${this.deadlines.size} connection(s) to finish`);
      if (this.deadlines.size === 0) {
        void closed.then(done);
        return;
      }
      const after = this.options.forceShutdownAfter;
      if (Number.isFinite(after)) {
        forceTimer = setTimeout(() => this.force(), after * 1000);
      }
    });
    return this.drained;
  }

  /** forceShutdownAfter expired: 503 for requests still in the app, then close everything. */
  force(): void {
    const pending: Promise<void>[] = [];
    for (const entry of [...this.deadlines.inApp()]) {
      const { req, res } = entry;
      if (!req || !res) continue;
      const err = new TspumaError('TSPUMA_ERR_FORCED_SHUTDOWN', { method: req.method, url: this.shownUrl(req.url), seconds: this.options.forceShutdownAfter });
      this.log.warn({ code: err.code }, err.message);
      pending.push(this.takeOver(req, res, err, 503));
    }
    void Promise.allSettled(pending).then(() => {
      for (const b of this.boundServers) b.server.closeAllConnections();
    });
  }
}
