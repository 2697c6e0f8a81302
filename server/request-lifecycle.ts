// One request's life, from node:http's `request` event to its response's `close`: admission, a
// small body held back from the app, the invocation queue, the app call, the server's answer in
// the app's place (refusal, app failure, timeout, forced stop), the release of the invocation
// slot, keep-alive or close, and the request log. Owns each request's state (RequestState,
// reached from the response through node-http.ts's kRequestState).
import type http from 'node:http';
import type { Socket } from 'node:net';
// node's own binding, not the global: globalThis.performance is a lazy accessor, and each of a
// request's clock reads (finished(), with the loop-block watch on by default) went through its getter.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Adapted } from './adapters.js';
import { armAbort, closeAfterResponse, closeLingering, closeUnattached, markBodyExpected, destroyAfterFlush, destroyResponse, destroySoon, dropAppWrites, isLastResponse, keepsAlive, kRequestState as kState } from './node-http.js';
import { admissionError, readFraming } from './admission.js';
import { TspumaError, formatMessage, isTspumaError } from './errors.js';
import type { DiagnosticsHook } from './debug-hook.js';
import type { AppCalls } from './app-calls.js';
import type { DumpPhase, ResponseCut } from '../diagnostics/model.js';
import { DUMP_ENV_KEY, type InFlight } from './shared-names.js';
import { answerOnResponse, type LowlevelContext } from './lowlevel.js';
import type { Options } from './options.js';
import type { InvocationLimit, Ticket } from './invocation-limit.js';
import { buildEnv } from './rack.js';
import { entryOf, requestOf, type ConnectionDeadlines, type Entry } from './deadlines.js';
import { watchBody, type BodyOwner } from './request-body.js';
import { requestIdOf, shownRequestId } from './request-id.js';
import { clientAddressOf, resolveClient, type Trust } from './trusted-proxy.js';
import type { Tracing } from './otel.js';
import { FailureFolder } from './logger.js';
import { readText, standInError, thrownMessage } from './error-stand-in.js';
import type { LoopBlockWatch } from './loop-block.js';
import { KeepAliveLimits } from './connection-limit.js';
import type { RecentRequests } from './console-redaction.js';
import type { AnswerCounts } from './answer-counts.js';

const hrtime = process.hrtime;
/** process.hrtime() in ms at performance.now()'s zero (both read libuv's uv_hrtime()): taken once. */
const hrtimeOrigin = ((): number => {
  const t = hrtime();
  return t[0] * 1e3 + t[1] / 1e6 - performance.now();
})();

/**
 * performance.now(), for the one clock read a request makes (finished()), read through
 * process.hrtime(): the same clock without Performance#now's receiver check (node's
 * validateInternalField behind hideStackFrames: a rest array, a Reflect.apply and a hasOwnProperty
 * on every call). 234 instructions a read against 308 (callgrind, a million reads in a loop).
 */
function clockNow(): number {
  const t = hrtime();
  return t[0] * 1e3 + t[1] / 1e6 - hrtimeOrigin;
}

export type { InFlight } from './shared-names.js';

export interface RequestState {
  readonly owner: RequestLifecycle;
  readonly entry: Entry;
  readonly req: http.IncomingMessage;
  readonly res: TrackedResponse;
  /** The request line's URL as it arrived, before a router rewrites `req.url`. */
  readonly url: string;
  /** performance.now() at admission, only taken when logRequests is on (0 otherwise). */
  readonly start: number;
  /** The socket's bytesWritten at admission, only read when logRequests is on. */
  readonly sent: number;
  /** Bytes written for this response, set when it finishes (logRequests only; -1 until then). */
  bytes: number;
  /** The client's address on arrival (logRequests only): the socket forgets it once destroyed. */
  readonly remote: string | undefined;
  /** The app holds an invocation slot for this request. */
  slot: boolean;
  ticket: Ticket | null;
  /** performance.now() when it was queued for a slot (0: it got one at once) and when it got it (0: not yet). */
  queuedAt: number;
  ranAt: number;
  /** The server answered instead of the app (timeout, 413, shutdown); the app's writes are dropped. */
  takenOver: boolean;
  /** The body is being read before the app runs (bodyBufferSize); bodyReady() lets it run. */
  waiting: boolean;
  /** Debug mode: capture was entered for this request and must be left once. */
  captured: boolean;
  /** Debug mode: an event stream left capture at its head (streaming()); its end is still settled with diagnostics. */
  settle: boolean;
  /** finished() ran: the slot is released, the connection moved on; later events are ignored. */
  done: boolean;
}
export type TrackedResponse = http.ServerResponse & { [kState]?: RequestState | null };

/** The state of the request `res` answers, if tspuma admitted it. */
/** The note of a requestTimeout dump: who answered, and why its frames are not where the request waits. */
export function requestTimeoutNote(seconds: number): string {
  return `tspuma answered 503 in the app's place: the app had not sent a response head within requestTimeout (${seconds} s), and its late writes are dropped. The frames are tspuma's deadline sweep: the app's work was not running (it waits on an await or a callback: a slow upstream, a lock, a missing res.end()); a logpoint or snapshot probe on the handler's awaits (DEBUGGING.md, Probes) shows where it stops`;
}

export function stateOf(res: http.ServerResponse | null | undefined): RequestState | null {
  return (res as TrackedResponse | null | undefined)?.[kState] ?? null;
}

/** Errors that mean the client left: the app's failure is not answered, only logged at debug. */
export const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ECONNABORTED']);

function erroredOf(socket: Socket): (Error & { code?: string }) | null {
  return (socket as Socket & { errored?: (Error & { code?: string }) | null }).errored ?? null;
}

/** The connection closed by its client: its FIN came (node ends the socket then), or a reset or broken pipe. */
function clientHungUp(socket: Socket): boolean {
  const code = erroredOf(socket)?.code;
  return socket.readableEnded || (code !== undefined && CLIENT_GONE.has(code));
}

/**
 * Responses whose cut tspuma has already said why (a failure after the head it logged, a stall,
 * an SSE stream it closed): their connection's close logs no TSPUMA_ERR_RESPONSE_CUT as well.
 */
const cutExplained = new WeakSet<http.ServerResponse>();

/**
 * node:http's close after a `Connection: close` response. The client said this was its last
 * request (Connection: close, or HTTP/1.0 without keep-alive): it sends nothing more, so there is
 * nothing to linger for, and closing at once saves a wakeup, a read and a timer per connection
 * (about 30 µs of CPU in the close loop). Otherwise close lingering (node-http.ts).
 */
export function closeAfterLastResponse(this: Socket): void {
  if (entryOf(this)?.clientClosing) return destroySoon(this);
  closeLingering(this);
}

/** node-http.ts's event-stream handler (set by each Server): a `text/event-stream` head gives up its invocation slot. */
export function onEventStream(res: http.ServerResponse): void {
  const state = stateOf(res);
  if (state) state.owner.streaming(res, state);
}

/**
 * node-http.ts's response-done handler (set by each Server): node:http detached a response that
 * finished from its socket. The request log's byte count, then finished(); no listener is added
 * per request. A response that never finishes (the client left, the server destroyed it) is
 * finished by its socket's 'close' (socketClosed).
 */
export function onResponseDone(res: http.ServerResponse): void {
  const state = (res as TrackedResponse)[kState];
  if (state && !state.done) {
    state.owner.responseFinished(state);
    state.owner.finished(res, state);
  }
}

/** What a request's life needs from the server that owns it. */
export interface LifecycleDeps {
  readonly options: Options;
  readonly app: Adapted;
  readonly log: Logger;
  readonly deadlines: ConnectionDeadlines;
  readonly invocations: InvocationLimit;
  readonly lowlevel: LowlevelContext;
  /** Debug mode's hook (null: debug off); app calls go through it. */
  readonly diagnostics: DiagnosticsHook | null;
  /** Which request each app call belongs to, while probes are set (null: never recorded). */
  readonly appCalls: AppCalls | null;
  readonly tracing: Tracing | null;
  /** trustProxy as a function; null: off, and no request pays for it. */
  readonly trust: Trust | null;
  /** A request URL as logs, coded errors and in-flight lists show it: secret query values redacted. */
  readonly shownUrl: (url: string | undefined) => string;
  /** A failing request's secret header values, remembered so the failure's line and 500 page redact them where the app's message quotes them. */
  readonly rememberSecrets?: (headers: http.IncomingHttpHeaders) => void;
  /** The last requests that left the app, which a console line written after their response may quote (console-redaction.ts). */
  readonly recent?: RecentRequests;
  /** ctl stats' counts of requests the app did not answer (clients gone; error answers are counted by lowlevel.ts). */
  readonly counts?: AnswerCounts;
  /** Blocked event loops: told of each request's end (null: loopBlockedWarning 0). */
  readonly loopWatch: LoopBlockWatch<RequestState> | null;
  /** Where this process's keep-alive limits start (connection-limit.ts; tests): Math.random() when absent. */
  readonly keepAliveSeed?: number;
  /** Responses admitted now say Connection: close (the server is draining, or the worker is busy). */
  closing(): boolean;
  /** A response on `entry` closed: a parse error waiting for it may go out now (client-errors.ts). */
  afterResponse(entry: Entry): void;
}

export class RequestLifecycle implements BodyOwner<RequestState> {
  /** Request lines: at info even under `quiet`, since logRequests asked for them. */
  private readonly requestLog: Logger | null;
  /** Cluster: called when the last request in the app finished (Puma's out_of_band). */
  onOutOfBand: (() => Promise<void>) | null = null;
  private outOfBandRunning = false;

  /** Repeated app failures: one full error line per kind per interval, then a count. */
  readonly failures: FailureFolder;
  /** Clients that left a request in the app: the first line in full per interval, then a count (one kind). */
  readonly clientsLeft: FailureFolder;
  /** maxKeepAlive, spread per connection (connection-limit.ts): a pool's connections do not close together. */
  private readonly keepAlive: KeepAliveLimits;

  constructor(private readonly d: LifecycleDeps) {
    const { options, log } = d;
    this.failures = new FailureFolder((sample, folded, seconds) => log.error({ folded, seconds }, `${folded} more failure(s) like "${sample}" in the last ${seconds} s (folded: the first was logged in full)`));
    this.clientsLeft = new FailureFolder((_sample, folded, seconds) =>
      log.warn({ code: 'TSPUMA_ERR_CLIENT_LEFT', folded, seconds }, `${folded} more request(s) whose client closed the connection before their response, in the last ${seconds} s (folded: the first was logged in full; ctl stats counts them all as clients_gone)`),
    );
    this.requestLog = options.logRequests ? (log.isLevelEnabled('info') ? log : log.child({}, { level: 'info' })) : null;
    this.keepAlive = new KeepAliveLimits(options.maxKeepAlive, d.keepAliveSeed ?? Math.random());
  }

  /** node:http's `request` (or `checkContinue`): admission, then the app (now, queued, or once its body is in). */
  onRequest(req: http.IncomingMessage, res: TrackedResponse, expectsContinue = false): void {
    const { options, deadlines } = this.d;
    const socket = req.socket;
    if (!socket.writable) {
      // Sent after our `Connection: close` response, during the lingering close: nobody can
      // answer it on this connection; the client sees our FIN and retries on a new one.
      req.resume();
      return;
    }
    const entry = entryOf(socket) ?? deadlines.add(socket);
    if (entry.closeAfter) {
      // Pipelined behind a request whose response says Connection: close (maxKeepAlive,
      // shutdown, a refusal): not run, since its answer could never be sent. The connection
      // closes after that response and the client retries this one on a new connection.
      this.d.log.debug({ method: req.method, url: this.d.shownUrl(req.url) }, 'request pipelined after the connection\'s last one: not run');
      req.resume();
      return;
    }
    // node:http's verdict from the request alone, before the server adds its own reasons to close.
    if (!keepsAlive(res)) entry.clientClosing = true;
    // One pass over rawHeaders for Host and the body's framing (req.id is made when first read).
    const framing = readFraming(req);
    if (this.d.trust) resolveClient(req, this.d.trust, options.trustProxyHeaders);
    this.d.tracing?.request(req); // the server span, before a queue can run the app in another request's context
    const refused = admissionError(req, options, framing);
    const chunked = framing.transferEncoding !== undefined;
    const length = chunked || framing.length === undefined ? 0 : Number(framing.length);
    // A small body (and the start of a chunked one) is read before the app runs: Puma's way.
    const hold = options.bodyBufferSize;
    const held = refused === null && hold > 0 && (chunked || (length > 0 && length <= hold));
    deadlines.toApp(entry, req, res, held);
    const logged = this.requestLog !== null;
    const state: RequestState = {
      owner: this,
      entry,
      req,
      res,
      url: req.url!,
      start: logged ? performance.now() : 0,
      sent: logged ? socket.bytesWritten : 0,
      bytes: -1,
      remote: logged ? clientAddressOf(req) : undefined,
      slot: false, ticket: null, queuedAt: 0, ranAt: 0, takenOver: false, waiting: false, captured: false, settle: false, done: false };
    res[kState] = state; // its end reaches finished() through onResponseDone, or its socket's close through socketClosed
    // The connection's own limit (at most maxKeepAlive) is only looked up near it.
    if (this.d.closing() || (entry.requests >= this.keepAlive.lowest && this.keepAlive.isLast(entry.requests, entry.id))) {
      closeAfterResponse(res);
      entry.closeAfter = true;
    }

    if (refused) {
      // The server answers in the app's place, with Connection: close; a body is read and dropped.
      state.takenOver = true;
      entry.closeAfter = true;
      if (refused.status === 413) req.resume();
      void this.answer(state, refused, refused.status!, { dump: 'request' });
      return;
    }
    if (chunked || length > 0) markBodyExpected(res);
    if (expectsContinue) res.writeContinue();
    const limit = chunked ? options.httpContentLengthLimit : null;
    if (held || limit !== null) watchBody(req, state, this, limit, held ? hold : 0);
    if (!state.waiting) this.admit(state);
  }

  /** To the app now, or to the invocation queue. */
  private admit(state: RequestState): void {
    if (this.d.invocations.tryAcquire()) return this.run(state);
    // The pool is full (the slow path): when it waited is kept for its timeout line, and the
    // worker's next check-in shows the queue.
    state.queuedAt = performance.now();
    state.ticket = this.d.invocations.submit(() => this.run(state));
    this.d.deadlines.appEntered();
  }

  /** BodyOwner: the body held back from the app is in (or larger than the hold). */
  bodyReady(state: RequestState): void {
    if (state.takenOver) return;
    this.d.deadlines.bodyRead(state.entry, state.res);
    this.admit(state);
  }

  /** BodyOwner: a chunked body passed httpContentLengthLimit. */
  bodyTooLarge(state: RequestState, seen: number): void {
    const err = new TspumaError('TSPUMA_ERR_HTTP_BODY_TOO_LARGE', { length: `at least ${seen}`, limit: this.d.options.httpContentLengthLimit });
    void this.answer(state, err, 413, { takeOver: true });
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
      state.settle = true; // an error its work logs later (Hono's streamSSE) is dumped when it ends
      this.d.diagnostics?.leave();
    }
    let closing = false;
    this.d.deadlines.toLongLived(state.entry, 'streaming', () => {
      cutExplained.add(res); // closed by its deadline (idle, a stop): not a cut to report
      if (closing || res.destroyed) return void destroyResponse(res);
      closing = true;
      res.end(); // the end of the stream: EventSource reconnects (elsewhere, during a restart)
      dropAppWrites(res); // the app may keep writing to it
    });
  }

  private run(state: RequestState): void {
    const { req, res } = state;
    state.slot = true;
    if (state.ticket !== null) {
      state.ranAt = performance.now();
      state.ticket = null;
    }
    if (state.done || state.takenOver || res.destroyed) {
      // The client left (or the server answered) while this request was queued.
      if (state.done || res.destroyed) this.release(state);
      return;
    }
    const { diagnostics, appCalls } = this.d;
    this.d.deadlines.appEntered();
    if (diagnostics) {
      diagnostics.enter('app'); // left in finished(), after the last await of the app
      state.captured = true;
    }
    let result;
    try {
      result = appCalls?.tracking ? appCalls.run(req, () => this.invoke(req, res)) : this.invoke(req, res);
    } catch (err) {
      this.appError(state, err);
      return;
    }
    if (result) result.catch((err: unknown) => this.appError(state, err));
  }

  /**
   * The app call itself, entered and left by debug mode's hook when it is on: one call expression
   * for both modes, so the app's stack texts hold the same frames with and without -d (T6).
   */
  private invoke(req: http.IncomingMessage, res: http.ServerResponse): ReturnType<Adapted['invoke']> {
    const { diagnostics, app } = this.d;
    const before = diagnostics ? diagnostics.enterCall(req, res) : undefined;
    try {
      return app.invoke(req, res);
    } finally {
      if (diagnostics) diagnostics.leaveCall(before);
    }
  }

  private release(state: RequestState): void {
    if (state.slot) {
      state.slot = false;
      const invocations = this.d.invocations;
      invocations.release();
      if (this.onOutOfBand && invocations.running === 0 && invocations.backlog === 0 && !this.outOfBandRunning) {
        this.outOfBandRunning = true;
        setImmediate(() => void this.onOutOfBand!().finally(() => (this.outOfBandRunning = false)));
      }
    }
  }

  /**
   * The app's call failed: its line and its 500. Whatever the value is, the request is answered:
   * when tspuma's own failure path throws on it (a throwing getter, an `errors` list that holds
   * itself), the line and the 500 are made again from a stand-in that cannot throw.
   */
  private appError(state: RequestState, err: unknown): void {
    try {
      this.failed(state, err, (inner) => this.failedOnStandIn(state, err, inner));
    } catch (inner) {
      this.failedOnStandIn(state, err, inner);
    }
  }

  /** appError's fallback: the failure path threw `inner` on `err`. */
  private failedOnStandIn(state: RequestState, err: unknown, inner: unknown): void {
    const { req, res } = state;
    const standIn = standInError(err);
    const url = this.d.shownUrl(state.url);
    try {
      const message = `${req.method} ${url} failed: ${this.d.shownUrl(`${standIn.name}: ${standIn.message}`)} (logged without its details: reading the error threw ${readText(() => (inner as Error).message, 'an unreadable error')})`;
      this.d.log.error({ err: standIn, method: req.method, url, status: 500 }, message);
    } catch {
      /* the 500 below still goes out */
    }
    if (state.takenOver || res.writableEnded) return;
    if (res.headersSent) {
      destroyResponse(res);
      return;
    }
    answerOnResponse(this.d.lowlevel, res, standIn, buildEnv(req, res), 500).catch(() => destroyResponse(res));
  }

  private failed(state: RequestState, err: unknown, onAnswerError: (inner: unknown) => void): void {
    const { req, res } = state;
    const { log, shownUrl } = this.d;
    // Before any text of the error goes out: `key ${req.headers['x-api-key']}` in its message.
    this.d.rememberSecrets?.(req.headers);
    const code = (err as NodeJS.ErrnoException | null)?.code;
    // The client left and the app stopped on it: a socket error, or the AbortError of the
    // request.signal tspuma aborted (a fetch app passes it to fetch(), a timer: U6).
    const clientLeft = res.destroyed || req.destroyed;
    if (state.takenOver || (clientLeft && ((code !== undefined && CLIENT_GONE.has(code)) || (err as Error | null)?.name === 'AbortError'))) {
      log.debug({ err, url: shownUrl(state.url) }, 'app error after the response was taken over or the client left');
      return;
    }
    this.d.tracing?.exception(req, err);
    if (res.headersSent) {
      // Folded like the failures answered with a 500: the first of a kind in full, then a count.
      // A counted repeat builds no coded error (its stack, its message): only a logged line does.
      const code = 'TSPUMA_ERR_RESPONSE_STREAM';
      // A throw after the app ended its response (a writeHead or end after end) cut nothing: it went out whole.
      const whole = res.writableEnded;
      const where = whole ? { lead: '', after: 'its response was complete (the client got the whole of it)' } : { lead: 'The response body for ', after: 'the headers were sent' };
      const line = (): string => formatMessage(code, { ...where, method: req.method, url: shownUrl(state.url), message: (err as Error)?.message ?? String(err) });
      if (this.failures.admit(FailureFolder.kindOf(err, `${req.method} after head`), line)) log.error({ err, code }, line());
      this.d.diagnostics?.report(err, { phase: 'app', request: req }); // a body that failed after its head went out
      cutExplained.add(res);
      destroyAfterFlush(res); // what the body wrote before it failed reaches the client first
      return;
    }
    const status = isTspumaError(err) && err.status ? err.status : 500;
    const url = shownUrl(state.url); // as it arrived: a router may have rewritten req.url
    // The first failure of a kind in full; the ones like it in the next interval are counted
    // (logger.ts), without building their line.
    const message = (): string => `${req.method} ${url} failed: ${shownUrl(thrownMessage(err))}`;
    if (this.failures.admit(FailureFolder.kindOf(err, `${req.method}`), message)) log.error({ err, method: req.method, url, status }, message());
    this.answer(state, err, status, { dump: 'app' }).catch(onAnswerError);
  }

  /**
   * The server's error answer to a request, through the lowlevel handler, with Connection: close.
   * `dump`: in debug mode the failure is dumped and the dump goes to the handler's env (a refusal,
   * the app's own failure). `takeOver`: the app may still be running (timeouts, a body too large,
   * a forced stop): the request counts as answered, leaves the queue, and the app's writes are dropped.
   */
  answer(state: RequestState, err: unknown, status: number, how: { dump?: DumpPhase; takeOver?: boolean }): Promise<void> {
    const { req, res } = state;
    if (how.takeOver) {
      if (state.takenOver || res.writableEnded) return Promise.resolve();
      state.takenOver = true;
      state.ticket?.cancel();
      state.ticket = null;
      if (res.headersSent) {
        destroyResponse(res);
        return Promise.resolve();
      }
    }
    const env = buildEnv(req, res);
    const diagnostics = this.d.diagnostics;
    if (how.dump && diagnostics) env[DUMP_ENV_KEY] = diagnostics.report(err, { phase: how.dump, request: req });
    return answerOnResponse(this.d.lowlevel, res, err, env, status, how.takeOver === true);
  }

  /** The sweep: the app has not answered by requestTimeout; 503 in its place. */
  requestTimeout(entry: Entry): void {
    const res = entry.res;
    const req = requestOf(entry);
    if (!req || !res) return;
    const state = stateOf(res);
    const url = this.d.shownUrl(state?.url ?? req.url);
    const seconds = this.d.options.requestTimeout;
    const where = state ? this.timedOutWhere(state, entry) : null;
    const err = new TspumaError('TSPUMA_ERR_REQUEST_TIMEOUT', { method: req.method, url, seconds, where: where?.text ?? '' });
    if (where) this.d.log.warn({ code: err.code, method: req.method, url, request: where.request, pool: where.pool }, `${err.message}${where.oldest}`);
    else this.d.log.warn({ code: err.code, method: req.method, url }, err.message);
    if (!state) return;
    // Under -d the dump is tspuma's 503, said so; left to the call's end it would read as a 503
    // the app answered itself. One site per server: a slow upstream times out every request alike.
    this.d.diagnostics?.report(err, { phase: 'request', request: req, site: `requestTimeout (${seconds} s)`, note: requestTimeoutNote(seconds), noCulprit: true });
    void this.answer(state, err, 503, { takeOver: true });
    // The deadline frees the slot whatever becomes of the 503 (the app's late writes are dropped),
    // once this sweep is over: a queued request whose deadline passed in the same sweep is answered
    // as never having reached the app, rather than entering it for a moment before its own 503.
    queueMicrotask(() => this.release(state));
  }

  /**
   * Where a timed-out request spent its time: queued for a slot (the pool was full) or in the app,
   * with its id and the pool; `oldest` (the log line only, not the client's 503) names the request
   * that held a slot longest when it never got one.
   */
  private timedOutWhere(state: RequestState, entry: Entry): { text: string; oldest: string; request: { id: string; queuedMs: number; inAppMs: number }; pool: { busy: number; threads: number } } {
    const now = performance.now();
    const { running, max } = this.d.invocations;
    const pool = { busy: running, threads: max };
    const busy = `threads: ${running} of ${max} busy`;
    const s = (ms: number) => (ms / 1000).toFixed(1);
    const id = requestIdOf(state.req);
    if (state.queuedAt > 0 && state.ranAt === 0) {
      const queuedMs = Math.round(now - state.queuedAt);
      const oldest = this.inFlight().find((r) => !r.queued && r.url !== undefined);
      return {
        text: `: it waited ${s(queuedMs)} s for a free slot (${busy}) and never reached the app (request ${id})`,
        oldest: oldest ? ` The oldest in the app: ${oldest.method} ${oldest.url} (${s(oldest.ms)} s).` : '',
        request: { id, queuedMs, inAppMs: 0 },
        pool,
      };
    }
    const queuedMs = state.queuedAt > 0 ? Math.round(state.ranAt - state.queuedAt) : 0;
    const inAppMs = state.ranAt > 0 ? Math.round(now - state.ranAt) : this.d.deadlines.inAppMs(entry, now);
    return {
      text: `: it was in the app for ${s(inAppMs)} s${queuedMs > 0 ? ` after ${s(queuedMs)} s waiting for a slot` : ''} (${busy}; request ${id})`,
      oldest: '',
      request: { id, queuedMs, inAppMs },
      pool,
    };
  }

  /** The sweep: a response whose head is out moved no byte for responseStallTimeout; its connection is closed. */
  responseStalled(entry: Entry, sent: number): void {
    const res = entry.res;
    const req = requestOf(entry);
    if (req && res) {
      const url = this.d.shownUrl(stateOf(res)?.url ?? req.url);
      const err = new TspumaError('TSPUMA_ERR_RESPONSE_STALLED', { method: req.method, url, status: res.statusCode, seconds: this.d.options.responseStallTimeout, bytes: sent });
      this.d.log.warn({ code: err.code, method: req.method, url, bytes: sent }, err.message);
      cutExplained.add(res);
    }
    armAbort(req);
    entry.socket.destroy();
  }

  /**
   * The connection's socket closed: every request still on it is finished, once. node emits no
   * 'close' for a response it never attached to the socket (one pipelined behind another when the
   * client hung up), so without this its invocation slot would be held for good.
   */
  socketClosed(entry: Entry): void {
    const open: http.ServerResponse[] = [];
    if (entry.res) open.push(entry.res);
    for (const p of entry.pipelined ?? []) open.push(p.res);
    for (const res of open) {
      const state = stateOf(res);
      if (!state || state.done) continue;
      // In the app (or queued for it), not answered by tspuma, and the client hung up: said once.
      if ((state.slot || state.ticket !== null) && !state.takenOver && !res.writableEnded && !cutExplained.has(res) && clientHungUp(entry.socket)) this.clientLeft(state, entry);
      // Its head went out, its end did not: the client holds a truncated response (N27).
      const cut = res.headersSent && !res.writableFinished && !state.takenOver && !cutExplained.has(res) ? this.responseCut(state, entry) : undefined;
      // A response never attached gets the 'close' node does not emit (its listeners, such as
      // a fetch request's signal, learn the client left); that close reaches finished().
      if (!closeUnattached(res) || !state.done) this.finished(res, state, cut);
    }
  }

  /**
   * The client closed the connection while `state` was in the app or queued for it (a proxy whose
   * read timeout is shorter than the request, a user who gave up): counted, and a warn line with
   * the request and its time, folded after the first in each interval. Its answer goes nowhere.
   */
  private clientLeft(state: RequestState, entry: Entry): void {
    this.d.counts?.clientGone();
    const { req, res } = state;
    if (!this.clientsLeft.admit('client left', '')) return;
    const url = this.d.shownUrl(state.url);
    const queued = !state.slot;
    const ms = queued ? performance.now() - state.queuedAt : this.d.deadlines.inAppMs(entry, performance.now());
    const seconds = (ms / 1000).toFixed(1);
    const before = res.headersSent ? `after its response head (${res.statusCode}) and before its end` : 'before any response';
    const err = new TspumaError('TSPUMA_ERR_CLIENT_LEFT', { method: req.method, url, seconds, where: queued ? 'waiting for a free slot' : 'in the app', before, id: requestIdOf(req) });
    this.d.log.warn({ code: err.code, method: req.method, url, ms: Math.round(ms), requestId: requestIdOf(req) }, err.message);
  }

  /**
   * A response closed after its head and before its end, with no word from tspuma yet: closed by
   * the app or its framework (Express's final handler, for an error after the head), or by a
   * stream piped into it that failed; a warn line with the status and the bytes that went out.
   * A client that hung up (its FIN, a reset) is only logged at debug. Returns the cut for -d's dump.
   */
  private responseCut(state: RequestState, entry: Entry): ResponseCut | undefined {
    const { req, res } = state;
    const socket = entry.socket;
    const errored = erroredOf(socket);
    const url = this.d.shownUrl(state.url);
    if (clientHungUp(socket)) {
      this.d.log.debug({ method: req.method, url, status: res.statusCode }, 'the client closed the connection before the response ended');
      return undefined;
    }
    // What went out on the connection: this response's own bytes where its start is known (the
    // request log marks it; the connection's first response starts at 0).
    const total = Math.max(0, socket.bytesWritten - socket.writableLength);
    const start = this.requestLog !== null ? Math.max(state.sent, entry.finishedBytes) : entry.requests <= 1 ? 0 : null;
    const bytes = total - (start ?? 0);
    const sent = start !== null ? `${bytes} bytes in all (head and body)` : `${bytes} bytes on its connection (its ${entry.requests - 1} earlier response(s) included)`;
    const why = errored
      ? `the connection was closed before the response ended, on an error: ${this.d.shownUrl(`${errored.name}: ${errored.message}`)}`
      : "the connection was closed before the response ended (by the app or its framework: Express's final handler does so for an error after the head went out)";
    const code = 'TSPUMA_ERR_RESPONSE_CUT';
    const id = requestIdOf(req);
    this.d.log.warn({ code, method: req.method, url, status: res.statusCode, bytes, requestId: id }, formatMessage(code, { method: req.method, url, status: res.statusCode, sent, why, id }));
    return { bytes, sent, why };
  }

  /** Responses a forced stop answered (forceAnswers). */
  private readonly forced = new WeakSet<http.ServerResponse>();

  /** A forced stop (`when`: what ran out, for the error line): 503 for each request still in the app. */
  forceAnswers(when: string): Promise<void>[] {
    const pending: Promise<void>[] = [];
    for (const entry of [...this.d.deadlines.inApp()]) {
      const res = entry.res;
      const req = requestOf(entry);
      const state = stateOf(res);
      // Answered by an earlier forced stop whose 503 is still being written (the stop's
      // forceShutdownAfter and an uncaught exception's grace both end one): one line, one answer.
      if (!req || !res || this.forced.has(res)) continue;
      this.forced.add(res);
      const err = new TspumaError('TSPUMA_ERR_FORCED_SHUTDOWN', { method: req.method, url: this.d.shownUrl(state?.url ?? req.url), when });
      this.d.log.warn({ code: err.code }, err.message);
      if (state) pending.push(this.answer(state, err, 503, { takeOver: true }));
    }
    return pending;
  }

  /**
   * The response finished (all of it handed to the socket, the next pipelined one not yet
   * attached): with logRequests, its bytes run from the end of the one before it to here.
   */
  responseFinished(state: RequestState): void {
    if (this.requestLog === null) return;
    const entry = state.entry;
    const at = state.req.socket.bytesWritten;
    state.bytes = Math.max(0, at - Math.max(state.sent, entry.finishedBytes));
    entry.finishedBytes = at;
  }

  /** The response closed (finished, or the client left): free the slot, back to keep-alive. */
  finished(res: http.ServerResponse, state: RequestState, cut?: ResponseCut): void {
    if (state.done) return;
    state.done = true;
    const { entry, req } = state;
    this.d.tracing?.closed(req, res); // before the HTTP instrumentation's 'close' listener ends the span
    state.ticket?.cancel();
    state.ticket = null;
    this.release(state);
    this.d.recent?.add(req);
    if (state.captured) {
      state.captured = false;
      const diagnostics = this.d.diagnostics!; // captured only in debug mode
      diagnostics.leave();
      diagnostics.settled(req, res, cut); // a 5xx the app answered itself after a captured throw, a cut response
    } else if (state.settle) {
      state.settle = false;
      this.d.diagnostics!.settled(req, res, cut); // an event stream: capture was left at its head
    }
    // Puma closes a connection after a `Connection: close` response. A body the app left unread
    // is not drained for another request either: the connection closes (lingering, so the client
    // reads the response) and what still arrives is dropped. A response node:http marked as the
    // connection's last is closed by node itself right after it detaches it (through the socket's
    // destroySoon, which is closeAfterLastResponse): not here, and not evicted by a drain
    // meanwhile either. After a socket's close nothing is writable.
    const nodeCloses = isLastResponse(res);
    const last = !nodeCloses && (!keepsAlive(res) || !req.complete);
    if (last && entry.socket.writable) closeAfterLastResponse.call(entry.socket);
    this.d.deadlines.toKeepalive(entry, res, nodeCloses);
    this.d.afterResponse(entry);
    // The request a blocked loop is blamed on has ended by the time the watch's timer runs.
    // One clock read for both (clockNow), and none for neither.
    const loopWatch = this.d.loopWatch;
    const requestLog = this.requestLog;
    if (loopWatch === null && requestLog === null) return;
    const now = clockNow();
    loopWatch?.ended(state, now);
    if (requestLog) this.logRequest(requestLog, res, state, now);
  }

  /**
   * One line per request: the URL as received (secret query values redacted), status, time,
   * bytes sent (head and body) and the request id. The fields are one `request` object, which a
   * TTY's pretty printer leaves out: the message already says it all on one line.
   */
  private logRequest(log: Logger, res: http.ServerResponse, state: RequestState, now: number): void {
    const { req } = state;
    const ms = Math.round((now - state.start) * 100) / 100;
    const url = this.d.shownUrl(state.url);
    // Not finished (the client left): what went out of it, nothing if it was never attached.
    const bytes = state.bytes >= 0 ? state.bytes : res.socket ? Math.max(0, req.socket.bytesWritten - Math.max(state.sent, state.entry.finishedBytes)) : 0;
    const remote = state.remote;
    const id = requestIdOf(req);
    // No byte of it reached the client: no status was sent (null, `-` in the message).
    const status = bytes > 0 ? res.statusCode : null;
    const request = { id, method: req.method, url, status, ms, bytes, remote };
    log.info({ request }, `${req.method} ${url} ${status ?? '-'} ${ms}ms ${bytes}B ${remote ?? '-'} ${shownRequestId(id)}`);
  }

  /**
   * With logRequests, the line of an answer written on the raw socket to a request whose head
   * never completed or could not be parsed (408, 400, 431): no method, path, time or id is known, so they are `-` (null in the
   * JSON); its bytes are the answer's. No byte written (the client had gone): no status either.
   */
  socketAnswered(entry: Entry, status: number): void {
    const log = this.requestLog;
    if (log === null) return;
    const socket = entry.socket;
    const bytes = Math.max(0, socket.bytesWritten - entry.finishedBytes);
    const remote = socket.remoteAddress;
    const shown = bytes > 0 ? status : null;
    const request = { id: null, method: null, url: null, status: shown, ms: null, bytes, remote };
    log.info({ request }, `- - ${shown ?? '-'} -ms ${bytes}B ${remote ?? '-'} -`);
  }

  /** The requests in the app (or queued for it) now: their per-request records, for probes (app-calls.ts). */
  *requestsInApp(): IterableIterator<http.IncomingMessage> {
    for (const e of this.d.deadlines.inApp()) {
      const req = requestOf(e);
      if (req) yield req;
    }
  }

  /** A request as a blocked loop's warning names it. */
  describe(state: RequestState): string {
    return `${state.req.method} ${this.d.shownUrl(state.url)} (request ${requestIdOf(state.req)})`;
  }

  /** Requests running in the app now (not queued), oldest first, with their ids (a blocked loop's warning). */
  inAppDescribed(): { text: string; ms: number }[] {
    const now = performance.now();
    const out: { text: string; ms: number }[] = [];
    for (const e of this.d.deadlines.inApp()) {
      const req = requestOf(e);
      if (!req) continue;
      const state = stateOf(e.res);
      if (state?.ticket) continue; // queued: it did not run
      out.push({ text: `${req.method} ${this.d.shownUrl(state?.url ?? req.url)} (request ${requestIdOf(req)})`, ms: this.d.deadlines.inAppMs(e, now) });
    }
    return out.sort((a, b) => b.ms - a.ms);
  }

  /**
   * Requests in the app now, oldest first (read by a hung-worker autopsy through the inspector),
   * each by the URL it arrived with, as the request log names it, not what a router left in req.url.
   */
  inFlight(): InFlight[] {
    const now = performance.now();
    const out: InFlight[] = [];
    for (const e of this.d.deadlines.inApp()) {
      const req = requestOf(e);
      if (!req) continue;
      const state = stateOf(e.res);
      const shown: InFlight = { method: req.method ?? '', url: this.d.shownUrl(state?.url ?? req.url), ms: this.d.deadlines.inAppMs(e, now) };
      if (state && state.ticket !== null) shown.queued = true;
      out.push(shown);
    }
    return out.sort((a, b) => b.ms - a.ms);
  }
}
