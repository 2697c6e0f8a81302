// Errors of the client and of its socket, answered on the raw socket because node:http made no
// response for them (or gave the connection up): bytes llhttp cannot parse (400, 431), a head or
// held body too slow (408), CONNECT (501), a refused upgrade, a client gone mid-body. A parse error
// pipelined behind a request still in the app waits for that request's response.
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { RackEnv } from './app-types.js';
import { currentResponse } from './node-http.js';
import { supportedText } from './admission.js';
import { TspumaError } from './errors.js';
import type { DiagnosticsHook } from './debug-hook.js';
import { DUMP_ENV_KEY } from './shared-names.js';
import { answerOnSocket, type LowlevelContext } from './lowlevel.js';
import type { Options } from './options.js';
import { buildEnv, socketEnv } from './rack.js';
import { entryOf, type ConnectionDeadlines, type Entry, type ReadExpiry } from './deadlines.js';
import { CLIENT_GONE, stateOf, type RequestLifecycle, type RequestState } from './request-lifecycle.js';
import { Throttle } from './side-listener.js';

/** node:http's header limit (llhttp), stricter than Puma's 112 KB. */
export const MAX_HEADER_SIZE = 16 * 1024;

export interface ClientErrorDeps {
  readonly options: Options;
  readonly log: Logger;
  readonly deadlines: ConnectionDeadlines;
  readonly lowlevel: LowlevelContext;
  readonly diagnostics: DiagnosticsHook | null;
  /** A request whose held body is too slow is answered on its response, by its lifecycle. */
  readonly requests: RequestLifecycle;
  readonly shownUrl: (url: string | undefined) => string;
}

export class ClientErrors {
  /**
   * Parse errors that wait for the responses to the requests before them on their connection:
   * `run` answers once none is in flight, or once only `held` is left (a request whose held body
   * the error cut short: it never runs, so its response never comes).
   */
  private readonly afterResponses = new Map<Entry, { run: () => void; held: RequestState | null }>();

  /** 408s by code: a warn line at the 1st, 10th, 100th... of each, the others at debug. */
  private readonly timeouts = new Throttle();

  constructor(private readonly d: ClientErrorDeps) {}

  /** node:http's `clientError`: the client left (closed quietly), or its bytes cannot be parsed (400, 431). */
  onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const entry = entryOf(socket);
    if ((err.code && CLIENT_GONE.has(err.code)) || !socket.writable) {
      if (entry) this.d.deadlines.remove(entry);
      this.d.log.debug({ code: err.code, remote: socket.remoteAddress }, 'client connection error');
      socket.destroy();
      return;
    }
    // The unfinished response at the head of this connection's queue, when a request came first.
    const state = stateOf(currentResponse(socket));
    if (err.code === 'HPE_INVALID_EOF_STATE' && state && !state.req.complete) {
      // The client closed its side in the middle of a body the app is reading: it is gone for
      // this request, whose body can never end. Closing the socket ends the request stream with
      // an error and closes the response, so the app's request.signal aborts.
      if (entry) this.d.deadlines.remove(entry);
      this.d.log.debug({ code: err.code, remote: socket.remoteAddress }, 'client closed the connection during a request body');
      socket.destroy();
      return;
    }
    // Already answered by the server with Connection: close; or the parser repeating its error.
    if (state?.takenOver || (entry && this.afterResponses.has(entry))) return;
    if (err.code === 'HPE_INVALID_EOF_STATE') return this.closedMidRequest(socket, entry, state);
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
    this.d.log.debug({ code: coded.code, remote: socket.remoteAddress, parser: err.code }, coded.message);
    // The connection's last request, when it is not the current one: pipelined behind it.
    const lastState = stateOf(entry?.pipelined?.at(-1)?.res);
    const held = lastState?.waiting ? lastState : null;
    if (held) {
      // The bad bytes are in that request's held body: the app never runs it.
      held.takenOver = true;
      held.waiting = false;
    }
    if (state && entry && !state.waiting) {
      // A good request before the bad bytes is in the app: its response goes out first, then
      // the 400 and the close (afterResponse() runs this once the connection has none in flight).
      const env = held ? buildEnv(held.req) : socketEnv(socket);
      this.afterResponses.set(entry, { run: () => this.refuse(socket, coded, status, env), held });
      return;
    }
    // No request before it, or a body held back from the app (which now never runs).
    if (state) state.takenOver = true;
    this.refuse(socket, coded, status, state ? buildEnv(state.req) : socketEnv(socket));
  }

  /** A response on `entry` closed: the parse error waiting for it goes out once nothing is left in flight. */
  afterResponse(entry: Entry): void {
    if (this.afterResponses.size === 0) return;
    const after = this.afterResponses.get(entry);
    if (after && (entry.inflight === 0 || (after.held !== null && entry.res === after.held.res))) {
      this.afterResponses.delete(entry);
      after.run();
    }
  }

  /** A request head (or a body read before the app) stalled or missed its total deadline: 408. */
  readTimeout(entry: Entry, why: ReadExpiry): void {
    const o = this.d.options;
    const err =
      why === 'stalled'
        ? new TspumaError('TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT', { seconds: o.firstDataTimeout })
        : why === 'headers'
          ? new TspumaError('TSPUMA_ERR_HTTP_HEADERS_TIMEOUT', { seconds: o.headersTimeout })
          : new TspumaError('TSPUMA_ERR_HTTP_BODY_TIMEOUT', { seconds: o.bodyTimeout });
    const remote = entry.socket.remoteAddress;
    const count = this.timeouts.hit(err.code);
    if (count !== null) this.d.log.warn({ code: err.code, remote, count }, `${err.message} (client ${remote ?? 'on a unix socket'}${count > 1 ? `; ${count} such 408s so far` : ''})`);
    else this.d.log.debug({ code: err.code, remote }, err.message);
    const state = stateOf(entry.res);
    // A held body's request gets its request line as its response closes; a head never parsed gets one here.
    if (state?.waiting) void this.d.requests.answer(state, err, 408, { takeOver: true });
    else void answerOnSocket(this.d.lowlevel, entry.socket, err, socketEnv(entry.socket), 408).then(() => this.d.requests.socketAnswered(entry, 408));
  }

  /** node:http's `connect`: tspuma is no forward proxy (501). */
  onConnect(req: http.IncomingMessage, socket: Socket): void {
    const err = new TspumaError('TSPUMA_ERR_HTTP_METHOD_NOT_SUPPORTED', { method: 'CONNECT', supported: supportedText(this.d.options.supportedHttpMethods) });
    const entry = entryOf(socket);
    if (entry) this.d.deadlines.remove(entry);
    void answerOnSocket(this.d.lowlevel, socket, err, buildEnv(req), 501);
  }

  /** An upgrade request refused (admission, shutdown, the app's websocket.accept). */
  upgradeRefused(req: http.IncomingMessage, socket: Socket, err: TspumaError, status: number): void {
    this.d.log.debug({ code: err.code, url: this.d.shownUrl(req.url) }, err.message);
    void answerOnSocket(this.d.lowlevel, socket, err, buildEnv(req), status).catch(() => socket.destroy());
  }

  /**
   * The client closed its side in the middle of a request head (or of a pipelined request's body
   * held back from the app): a hang-up, not a malformed request. No 400 and no dump (N6): a request
   * in the app before it gets its answer, then the connection closes; with none, it closes now.
   */
  private closedMidRequest(socket: Socket, entry: Entry | undefined, state: RequestState | null): void {
    this.d.log.debug({ code: 'HPE_INVALID_EOF_STATE', remote: socket.remoteAddress }, 'client closed the connection in the middle of a request');
    const held = stateOf(entry?.pipelined?.at(-1)?.res);
    if (held?.waiting) {
      // The cut request is that held one: the app never runs it.
      held.takenOver = true;
      held.waiting = false;
    }
    const close = () => {
      if (entry) this.d.deadlines.remove(entry);
      socket.end();
    };
    if (state && entry && !state.waiting) this.afterResponses.set(entry, { run: close, held: held?.takenOver ? held : null });
    else {
      if (state) state.takenOver = true;
      close();
    }
  }

  /** Answers on the raw socket through the lowlevel handler (with a dump in debug mode), then closes it. */
  private refuse(socket: Socket, coded: TspumaError, status: number, env: RackEnv): void {
    const entry = entryOf(socket);
    if (entry) this.d.deadlines.remove(entry);
    if (!socket.writable) return void socket.destroy();
    if (this.d.diagnostics) env[DUMP_ENV_KEY] = this.d.diagnostics.report(coded, { phase: 'request' });
    void answerOnSocket(this.d.lowlevel, socket, coded, env, status).then(
      () => entry && this.d.requests.socketAnswered(entry, status),
      () => socket.destroy(),
    );
  }
}
