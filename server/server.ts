// One HTTP server over every bind: creates and listens on the bound node:http servers and wires
// their events to the connection deadlines, the request lifecycle (request-lifecycle.ts: each
// request from admission to its response's close), the client errors (client-errors.ts: parse
// errors, slow heads, CONNECT) and accept failures (descriptor-watch.ts); balances a busy cluster
// worker, stops gracefully and serves stats.
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Adapted } from './adapters.js';
import { createHttpServer, listen, removeUnixSocket, type BoundServer } from './binder.js';
import { adoptConnection, closeAfterResponse, setEventStreamHandler, setResponseDoneHandler, stopAccepting, endUnreadByRead } from './node-http.js';
import { MAX_URI_LENGTH, admissionError, readFraming } from './admission.js';
import { TspumaError } from './errors.js';
import type { DebugCaptureStats, DiagnosticsHook } from './debug-hook.js';
import type { LowlevelContext } from './lowlevel.js';
import type { Options } from './options.js';
import { InvocationLimit } from './invocation-limit.js';
import { ConnectionDeadlines, type ConnectionState } from './deadlines.js';
import { Upgrades } from './upgrade.js';
import { headerSecrets, urlRedactor } from '../diagnostics/redact.js';
import { showsErrorDetails } from './exposure.js';
import { compileTrust, resolveClient, type Trust } from './trusted-proxy.js';
import type { AppCalls } from './app-calls.js';
import type { Tracing } from './otel.js';
import { RequestLifecycle, type RequestState, closeAfterLastResponse, onEventStream, onResponseDone, type InFlight } from './request-lifecycle.js';
import { ClientErrors, MAX_HEADER_SIZE } from './client-errors.js';
import { DescriptorWatch } from './descriptor-watch.js';
import { takeErroredStreamTransitions } from './errored-stream-shape.js';
import { LoopBlockWatch, type LoopBlockStats } from './loop-block.js';
import { RecentRequests, watchConsoleRequests, type RequestSeen } from './console-redaction.js';
import { AnswerCounts } from './answer-counts.js';

export { MAX_URI_LENGTH, MAX_HEADER_SIZE, type InFlight };

export interface Stats {
  started_at: string;
  backlog: number;
  running: number;
  pool_capacity: number;
  busy_threads: number;
  max_threads: number;
  requests_count: number;
  connections: Record<ConnectionState, number>;
  /** A worker's check-in: its oldest requests in the app (at most 3), by the URL they arrived with. */
  in_flight?: InFlight[];
  /** A worker's check-in: its memory (bytes), and V8's heap limit. */
  rss_bytes?: number;
  heap_used_bytes?: number;
  heap_limit_bytes?: number;
  /** Event-loop blocks over loopBlockedWarning since boot (absent when it is 0). */
  loop_blocked?: LoopBlockStats;
  /** Error responses tspuma wrote in the app's place since boot, by status (answer-counts.ts). */
  error_answers?: Record<string, number>;
  /** Requests whose client closed the connection while they were in the app or queued, since boot. */
  clients_gone?: number;
  /** -d: dumps printed, repeats counted, functions muted, error-storm back-offs (DebugCaptureStats). */
  debug_capture?: DebugCaptureStats;
}

/** Long-lived connections that do not answer a clean close within this long are cut. */
const CLOSE_GRACE_MS = 5000;

/**
 * Debug mode: asks a new connection for its peer, which node then keeps on the socket, so a dump of
 * work that fails after the client hung up still names where its request came from. Once a
 * connection, not once a request: asked from each request's call record (attribution.ts) the read
 * went through node's `_handle` getter, a megamorphic keyed load inlined into every app call
 * (~435 instructions a request, bench/README.md session 23, debug21).
 */
function askPeer(socket: Socket): void {
  void socket.remoteAddress;
}

export interface ServerDeps {
  /** Debug mode's hook; null or absent: debug off. */
  readonly diagnostics?: DiagnosticsHook | null;
  /** Called when idleTimeout passes with no request. */
  readonly onIdle?: () => void;
  /** OpenTelemetry's server spans (server/otel.ts); null or absent: no @opentelemetry/api. */
  readonly tracing?: Tracing | null;
  /** Which request each app call belongs to, while probes are set (cluster workers); absent: never recorded. */
  readonly appCalls?: AppCalls | null;
  /** How a blocked-loop report waits for what other processes saw (LoopBlockDeps.settle); absent: at once. */
  readonly loopSettle?: (report: () => void) => void;
}

export class Server {
  readonly deadlines: ConnectionDeadlines;
  readonly invocations: InvocationLimit;
  readonly boundServers: BoundServer[] = [];
  readonly startedAt = new Date();
  /** Each request's life: admission, the app call, the server's answers on a response, the request log. */
  private readonly requests: RequestLifecycle;
  /** Errors answered on the raw socket: parse errors, slow heads, CONNECT, refused upgrades. */
  private readonly clientErrors: ClientErrors;
  /** Accept failures, including the EMFILE libuv hides from node (descriptor-watch.ts). */
  private readonly descriptors: DescriptorWatch;
  /** Blocked event loops (loopBlockedWarning; null when 0). */
  private readonly loopWatch: LoopBlockWatch<RequestState> | null;
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
  /** Cluster (balanceConnections): keep-alive connections still to close after their next response. */
  private shedLeft = 0;

  /**
   * Cluster (balanceConnections): the primary found this worker over its share of the cluster's
   * connections; the next `count` responses say Connection: close (cluster/connection-share.ts).
   */
  shedConnections(count: number): void {
    this.shedLeft = count;
  }
  private drained: Promise<void> | null = null;
  /** Stops console-redaction.ts reading this server's requests (at the end of the stop). */
  private readonly unwatchConsole: () => void;
  /** A request URL as logs, coded errors and in-flight lists show it: secret query values redacted. */
  private readonly shownUrl: (url: string | undefined) => string;

  /** Debug mode's hook (null: debug off); failures and app calls go through it. */
  readonly diagnostics: DiagnosticsHook | null;
  /** trustProxy as a function; null: off, and no request pays for it. */
  private readonly trust: Trust | null;

  constructor(
    readonly options: Options,
    readonly app: Adapted,
    readonly log: Logger,
    deps: ServerDeps = {},
  ) {
    // Before any request: a client's first reset must not deoptimize node's stream functions (errored-stream-shape.ts).
    takeErroredStreamTransitions();
    const diagnostics = (this.diagnostics = deps.diagnostics ?? null);
    this.invocations = new InvocationLimit(options.threads.min, options.threads.max);
    const shownUrl = (this.shownUrl = urlRedactor(options.redact));
    const trust = (this.trust = options.trustProxy ? compileTrust(options.trustProxy) : null);
    const counts = this.counts;
    const lowlevel: LowlevelContext = { handler: options.lowlevelErrorHandler, hideDetails: !showsErrorDetails(options.environment), log, diagnostics, counts };
    this.deadlines = new ConnectionDeadlines(
      {
        firstData: options.firstDataTimeout,
        headers: options.headersTimeout,
        body: options.bodyTimeout,
        persistent: options.persistentTimeout,
        request: options.requestTimeout,
        stall: options.responseStallTimeout,
        idle: options.idleTimeout,
        upgradedIdle: options.upgradedIdleTimeout,
      },
      {
        readTimeout: (entry, why) => this.clientErrors.readTimeout(entry, why),
        requestTimeout: (entry) => this.requests.requestTimeout(entry),
        responseStalled: (entry, sent) => this.requests.responseStalled(entry, sent),
        closed: (entry) => this.requests.socketClosed(entry),
        idle: deps.onIdle ?? (() => {}),
      },
      log,
      diagnostics,
    );
    const deadlines = this.deadlines;
    const loopWatch = (this.loopWatch = options.loopBlockedWarning > 0 ? new LoopBlockWatch({ log, thresholdSeconds: options.loopBlockedWarning, inApp: () => this.requests.inAppDescribed(), describe: (r) => this.requests.describe(r), settle: deps.loopSettle }) : null);
    this.requests = new RequestLifecycle({
      options, app, log, deadlines, invocations: this.invocations, lowlevel, diagnostics, appCalls: deps.appCalls ?? null, tracing: deps.tracing ?? null, trust, shownUrl, rememberSecrets: headerSecrets(options.redact), loopWatch, recent: this.recent, counts,
      closing: () => this.draining || this.busy || (this.shedLeft > 0 && this.shedLeft-- > 0),
      afterResponse: (entry) => this.clientErrors.afterResponse(entry),
    });
    this.descriptors = new DescriptorWatch({ log, diagnostics, connections: () => this.deadlines.size });
    this.clientErrors = new ClientErrors({ options, log, deadlines, lowlevel, diagnostics, requests: this.requests, shownUrl });
    // node-http.ts's TspumaResponse sees every `text/event-stream` head; its requests (of any Server) leave the app state.
    setEventStreamHandler(onEventStream);
    // ... and every response node:http detaches once finished: the request log's bytes, then its
    // slot and connection released, without a listener per request (a response whose socket
    // closes first is released by the deadlines' socket 'close').
    setResponseDoneHandler(onResponseDone);
    // ... and ends an unread request that is at its end (a GET) with one tick, not five.
    endUnreadByRead();
    // What the app writes to console.error/warn (a framework's own error line) while its requests
    // run has their secret header values redacted where it quotes them: read then, never per request.
    this.unwatchConsole = watchConsoleRequests(() => this.requestsNow());
  }

  /** The last requests that left the app (a framework's error line may come after the response). */
  private readonly recent = new RecentRequests();
  /** ctl stats' error answers by status and clients gone. */
  private readonly counts = new AnswerCounts();

  /** The request whose work runs now (debug mode's call context knows it), then those in the app, then the last to leave it. */
  private *requestsNow(): IterableIterator<RequestSeen | null> {
    yield this.diagnostics?.currentRequest() ?? null;
    yield* this.requests.requestsInApp();
    yield* this.recent.requests();
  }

  /** Cluster: called when the last request in the app finished (Puma's out_of_band). */
  get onOutOfBand(): (() => Promise<void>) | null {
    return this.requests.onOutOfBand;
  }
  set onOutOfBand(hook: (() => Promise<void>) | null) {
    this.requests.onOutOfBand = hook;
  }

  /** WebSocket and raw upgrades, when the app exports a handler for them. */
  private upgrades: Upgrades | null = null;

  /** Creates and listens on every bind, in order. Rejects with the first coded listen error. */
  async bind(): Promise<BoundServer[]> {
    this.deadlines.start();
    this.loopWatch?.start();
    if (this.app.websocket || this.app.upgrade) {
      this.upgrades = new Upgrades(this.deadlines, this.app, this.log, (req, socket, err, status) => this.clientErrors.upgradeRefused(req, socket, err, status), this.diagnostics);
      await this.upgrades.init();
    }
    for (const spec of this.options.bind) {
      const server = await createHttpServer(spec, this.options.firstDataTimeout * 1000, this.log);
      this.attach(server, spec.tls !== null);
      this.boundServers.push(await listen(spec, server, this.log, this.diagnostics));
    }
    // Once every bind listens: a failed bind leaves no probe timer or reserve descriptor behind.
    this.descriptors.start();
    return this.boundServers;
  }

  /** Wires a node:http server into the connection deadlines, the invocation limit and the lowlevel handler. */
  attach(server: http.Server, tls = false): void {
    // maxKeepAlive is enforced in RequestLifecycle.onRequest (Puma's way: the last response says close), not by
    // node's maxRequestsPerSocket, which answers requests pipelined past the cap with 503.
    // Under TLS the deadlines track the TLS socket from the end of the handshake (bounded by handshakeTimeout).
    // Each socket gets what tspuma sets on it at its connection, all at once (node-http.ts
    // adoptConnection: nothing is added to it later, so every socket keeps one shape).
    if (tls)
      server.on('secureConnection', (socket: TLSSocket) => {
        this.deadlines.add(socket);
        adoptConnection(socket, null);
        if (this.diagnostics !== null) askPeer(socket);
      });
    else
      server.on('connection', (socket: Socket) => {
        this.deadlines.add(socket);
        // node:http closes after a `Connection: close` response with destroySoon(): if the
        // client already sent its next request (clients that ignore the header do), the unread
        // bytes turn the close into a reset. Close lingering instead: FIN, then wait for the
        // client's FIN (or LINGER_MS) before releasing the socket.
        adoptConnection(socket, closeAfterLastResponse);
        if (this.diagnostics !== null) askPeer(socket);
      });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.requests.onRequest(req, res));
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
    server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => this.requests.onRequest(req, res, true));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.clientErrors.onClientError(err, socket));
    // After listen, a server 'error' is an accept failure: log it (throttled) and keep serving.
    server.on('listening', () => server.on('error', (err: NodeJS.ErrnoException) => this.descriptors.acceptFailed(err)));
    server.on('connect', (req: http.IncomingMessage, socket: Socket) => this.clientErrors.onConnect(req, socket));
  }

  private admissionRefusal(req: http.IncomingMessage): { err: TspumaError; status: number } | null {
    const err = admissionError(req, this.options, readFraming(req));
    return err ? { err, status: err.status ?? 400 } : null;
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
      let finished = false;
      const done = () => {
        if (finished) return;
        finished = true;
        clearTimeout(forceTimer);
        if (this.busyTimer) clearInterval(this.busyTimer);
        this.deadlines.stop();
        this.descriptors.stop();
        this.loopWatch?.stop();
        this.unwatchConsole();
        this.requests.failures.close(); // folded error lines' counts, before the stop's last lines
        this.requests.clientsLeft.close();
        if (this.ownsSockets) for (const b of this.boundServers) removeUnixSocket(b.spec);
        resolve();
      };
      // Stop accepting only: closing idle keep-alive connections at once is what the linger below avoids.
      // A socket of this process's own is closed once its queue is taken (a worker's copy leaves
      // the primary's socket and its queue to the other workers).
      let taking = this.boundServers.length;
      let allTaken!: () => void;
      const taken = new Promise<void>((r) => (allTaken = r));
      if (taking === 0) allTaken();
      const closed = Promise.all(this.boundServers.map((b) => new Promise<void>((r) => stopAccepting(b.server, r, this.ownsSockets, () => void (--taking === 0 && allTaken())))));
      // Their responses say the connection closes, as the ones onRequest admits from now on do.
      for (const entry of this.deadlines.withRequest()) if (entry.res && !entry.res.headersSent) closeAfterResponse(entry.res);
      this.deadlines.onEmpty = () => void closed.then(done);
      // With a linger (cluster restarts), idle keep-alive clients get time to send their next
      // request, which is answered with Connection: close: closing under a client that is
      // sending would fail its request. Without one (SIGTERM), idle connections close at once.
      let closedIdle = 0;
      const lingered = linger > 0 ? new Promise<void>((r) => setTimeout(r, linger).unref()) : null;
      if (!lingered) closedIdle = this.deadlines.closeIdle();
      // A listener of a socket this process owns takes what its queue holds first (stopAccepting):
      // a connection taken after the line above that has sent nothing once the listeners take no
      // more is idle too, closed then (after the linger, with one). Before, it stayed open until its
      // client or firstDataTimeout closed it, and the stop waited for it (findings tests25.1).
      void Promise.all([taken, lingered]).then(() => this.deadlines.closeIdle());
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
      // Connections taken from the accept queue as the listeners close (stopAccepting) are waited for too.
      if (this.deadlines.size === 0) void closed.then(() => this.deadlines.size === 0 && done());
      const after = this.options.forceShutdownAfter;
      if (Number.isFinite(after)) {
        forceTimer = setTimeout(() => this.force(), after * 1000);
      }
    });
    return this.drained;
  }

  /**
   * A stop that cannot wait longer: 503 for requests still in the app, then close everything.
   * `when` completes "was still running …" in their error lines: what ran out.
   */
  force(when = `when forceShutdownAfter (${this.options.forceShutdownAfter} s) expired`): void {
    const pending = this.requests.forceAnswers(when);
    void Promise.allSettled(pending).then(() => {
      for (const b of this.boundServers) b.server.closeAllConnections();
    });
  }

  stats(): Stats {
    const stats: Stats = { started_at: this.startedAt.toISOString(), ...this.invocations.stats(), connections: this.deadlines.counts(), ...this.counts.stats() };
    if (this.loopWatch) stats.loop_blocked = this.loopWatch.stats();
    if (this.diagnostics?.stats) stats.debug_capture = this.diagnostics.stats();
    return stats;
  }

  /** The request objects in the app (or queued for it) now. */
  requestsInApp(): IterableIterator<http.IncomingMessage> {
    return this.requests.requestsInApp();
  }

  /** Requests in the app now, oldest first, by the URL they arrived with (request-lifecycle.ts). */
  inFlight(): InFlight[] {
    return this.requests.inFlight();
  }
}
