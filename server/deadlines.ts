// Every connection's state and deadline (not Puma's select loop: node's event loop reads the
// sockets): the server reports each transition, a sweep every tick hands expiries back to it
// (408, 503, close), and idle connections are closed on stop.
import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { DiagnosticsHook } from './debug-hook.js';
import { TspumaError, isTspumaError } from './errors.js';
import { readCounterOf, requestBegun, type ReadCounter } from './node-http.js';

/**
 * A connection's state (the keys of the `connections` stats, Puma's names). first_data: accepted, no request yet. reading: bytes of a request
 * arrived but it is not complete (its head, or a body tspuma reads before calling the app). app:
 * a request is queued for or running in the app.
 * keepalive: idle between requests. upgraded: left HTTP (a WebSocket). streaming: a
 * long-lived response (server-sent events) that gave up its invocation slot. The last two hold no slot;
 * their deadline is upgradedIdleTimeout, pushed back by bytes in either direction.
 */
export type ConnectionState = 'first_data' | 'reading' | 'app' | 'keepalive' | 'upgraded' | 'streaming';
export const CONNECTION_STATES: readonly ConnectionState[] = ['first_data', 'reading', 'app', 'keepalive', 'upgraded', 'streaming'];

/** Closes a long-lived connection cleanly (a WebSocket close frame, the end of an event stream). */
export type LongLivedClose = (why: 'idle' | 'shutdown') => void;

export interface Entry {
  readonly id: number;
  /** The accepted socket (the TCP socket under TLS): its bytesRead tells progress. */
  readonly socket: Socket;
  /** The socket's handle, for its bytesRead on the request path (readOf); null: none, read the socket's. */
  readonly counter: ReadCounter | null;
  /** node:http's parser reads the socket (requestBegun): a keep-alive wait leaves its mark UNREAD. */
  readonly parsed: boolean;
  state: ConnectionState;
  /** Sweep clock milliseconds (performance.now() at the last tick); Infinity for none. */
  deadline: number;
  /** socket.bytesRead when the current wait began (reading: when the last byte was seen); UNREAD: not read yet. */
  mark: number;
  /** reading: the sweep clock by which the head (or the buffered body) must be complete. */
  until: number;
  /** The current request's response (its request: requestOf). */
  res: ServerResponse | null;
  requests: number;
  /** Requests of this connection in the app (more than one when the client pipelines). */
  inflight: number;
  /** Requests pipelined behind the current one, oldest first: each gets its deadline when it becomes current. */
  pipelined: Pipelined[] | null;
  /** Sweep clock when the current request entered the app (to the tick). */
  appSince: number;
  /** app: the response's head is out and requestTimeout passed: watched for write progress (mark) instead. */
  sending: boolean;
  /** upgraded/streaming: how to close it cleanly. */
  close: LongLivedClose | null;
  /** Removed from the deadlines (closed or evicted): later transitions are ignored. */
  gone: boolean;
  /** The client announced its last request (Connection: close, HTTP/1.0): closing needs no linger. */
  clientClosing: boolean;
  /** The server answers a request on it with Connection: close: requests pipelined after that one are not run. */
  closeAfter: boolean;
  /** socket.bytesWritten when its last response finished (request log only): where the next one's bytes start. */
  finishedBytes: number;
  /** The list of entries: newer and older neighbours (null at the ends and once removed). */
  newer: Entry | null;
  older: Entry | null;
}

/** A request pipelined behind the connection's current one. */
export interface Pipelined {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Its body is still being read before the app (bodyRead() not called yet). */
  held: boolean;
}

export interface DeadlineTimeouts {
  /** Seconds without a byte while a request is incomplete (and before the first one). */
  firstData: number;
  /** Seconds a request head may take from its first byte, however the bytes trickle in. */
  headers: number;
  /** Seconds a body read before the app (see Server) may take from the end of its head. */
  body: number;
  persistent: number;
  /** 0 disables. Bounds the time to the response head. */
  request: number;
  /** Seconds a response whose head is out may move no byte to the client (default 60). */
  stall?: number;
  /** null disables. */
  idle: number | null;
  /** Seconds without a byte either way before an upgraded or streaming connection is closed; null disables. */
  upgradedIdle: number | null;
}

/** Why an incomplete request was cut: no byte for firstDataTimeout, or its total deadline passed. */
export type ReadExpiry = 'stalled' | 'headers' | 'body';

export interface DeadlineHandlers {
  /** Part of a request arrived and it did not complete in time: answer 408 and close. */
  readTimeout(entry: Entry, why: ReadExpiry): void;
  /** The app has not answered within requestTimeout: answer 503. */
  requestTimeout(entry: Entry): void;
  /** A response whose head is out moved no byte for the stall timeout: log it and close the connection (default: close). */
  responseStalled?(entry: Entry, sentBytes: number): void;
  /** No request for idleTimeout seconds. */
  idle(): void;
  /**
   * The connection's socket closed: every request still on it (the current one and those
   * pipelined behind it) is over, whether or not node ever emits its response's 'close'.
   */
  closed?(entry: Entry): void;
}

export const kEntry = Symbol('tspuma.connectionEntry');
type Tracked = Socket & { [kEntry]?: Entry };

/** Bytes handed to the kernel (not those still queued in the stream): a response's progress. */
function dispatched(socket: Socket): number {
  return socket.bytesWritten - socket.writableLength;
}

/** Bytes moved either way: what keeps a long-lived connection alive. */
function progress(socket: Socket): number {
  return socket.bytesRead + socket.bytesWritten;
}

/**
 * socket.bytesRead on the request path (a request's end, a body held back): from the handle kept
 * at the connection's start, without node's getter (node-http.ts readCounterOf).
 */
function readOf(entry: Entry): number {
  const counter = entry.counter;
  return counter !== null ? counter.bytesRead : entry.socket.bytesRead;
}

/**
 * The mark of a keep-alive wait on a connection node:http's parser reads: the byte count is not
 * read at each keep-alive return (the handle's bytesRead, a native getter: about 176 instructions
 * a request), but by the first look that needs it (arrivedSince), from the parser's word that no
 * request began since.
 */
const UNREAD = -1;

/**
 * Whether bytes of a request arrived since the wait for it began (its mark). An UNREAD mark asks
 * node's parser: a request begun is an arrival; none begun, every byte read so far belonged to the
 * requests before, and the count now is the mark (also when the parser is gone: the socket closes).
 */
function arrivedSince(entry: Entry): boolean {
  const socket = entry.socket;
  if (entry.mark !== UNREAD) return socket.bytesRead !== entry.mark;
  if (requestBegun(socket) === true) return true;
  entry.mark = socket.bytesRead;
  return false;
}

/**
 * The connection's current request (node:http's `res.req` of its response), or null. Kept as its
 * response alone: a request's arrival stores one young object into the long-lived entry, one call
 * of V8's write barrier, not two.
 */
export function requestOf(entry: Entry): IncomingMessage | null {
  const res = entry.res;
  return res === null ? null : res.req;
}

export function entryOf(socket: Socket): Entry | undefined {
  return (socket as Tracked)[kEntry];
}

/**
 * Every connection is one entry in one list; a transition only rewrites the entry's state and
 * deadline (no list moves, no clock read on the request path). Deadlines are taken from a clock
 * the sweep advances every tick, plus one tick, so a timeout fires between its value and its
 * value plus two ticks, never early. Each tick looks at every entry: O(connections) per tick.
 *
 * The list is intrusive (each entry links its neighbours) rather than a Set: a long-lived Set's
 * table points from the old generation at every new connection, and under a new connection per
 * request that doubled the time of each young-generation collection (close loop, --trace-gc:
 * 112 against 62 ms of scavenges over 30,000 connections).
 */
/** Most often a request's entry into the app sends a worker's check-in (4 a second at most). */
const ENTRY_REPORT_MS = 250;

export class ConnectionDeadlines {
  /** The list's ends: entries in the order they were added. */
  private oldest: Entry | null = null;
  private newest: Entry | null = null;
  private count = 0;
  private readonly upgradedIdleMs: number;
  private readonly firstDataMs: number;
  private readonly headersMs: number;
  private readonly bodyMs: number;
  private readonly persistentMs: number;
  private readonly requestMs: number;
  private readonly stallMs: number;
  private readonly idleMs: number | null;
  private nextId = 1;
  private timer: NodeJS.Timeout | null = null;
  /** performance.now() at the last sweep (or at construction): the clock deadlines are set by. */
  private clock = performance.now();
  private lastActive = this.clock;
  private idleFired = false;
  /** The sweep the last timer tick asked for, after the next poll phase (tick()). */
  private pendingSweep: NodeJS.Immediate | null = null;
  private readonly faultSignatures = new Map<string, number>();
  /** Faults caught since start: an invalid entry or a handler that threw. */
  faults = 0;
  draining = false;

  constructor(
    timeouts: DeadlineTimeouts,
    private readonly handlers: DeadlineHandlers,
    private readonly log: Logger,
    /** Debug mode's hook: sweeps run under capture and faults are dumped (null: debug off). */
    private readonly diagnostics: DiagnosticsHook | null = null,
  ) {
    this.firstDataMs = timeouts.firstData * 1000;
    this.headersMs = timeouts.headers * 1000;
    this.bodyMs = timeouts.body * 1000;
    this.persistentMs = timeouts.persistent * 1000;
    this.requestMs = timeouts.request > 0 ? timeouts.request * 1000 : Infinity;
    this.stallMs = (timeouts.stall ?? 60) * 1000;
    this.idleMs = timeouts.idle === null ? null : timeouts.idle * 1000;
    this.upgradedIdleMs = timeouts.upgradedIdle === null ? Infinity : timeouts.upgradedIdle * 1000;
    const smallest = Math.min(this.firstDataMs, this.headersMs, this.bodyMs, this.persistentMs, this.requestMs, this.stallMs, this.idleMs ?? Infinity, this.upgradedIdleMs);
    this.tickMs = Math.max(20, Math.min(1000, Math.floor(smallest / 4)));
    const closed = (entry: Entry) => {
      this.remove(entry);
      // After node:http's socket 'close' listener (added at the connection, before this one: its
      // requests are aborted), before each response's own (added as node attaches it): a response
      // whose socket closed before it finished is finished here before its 'close' listeners run.
      this.handlers.closed?.(entry);
    };
    this.onSocketClose = function (this: Socket) {
      const entry = entryOf(this);
      if (entry) closed(entry);
    };
    this.refreshTracing();
  }

  /** Debug mode with debug logging on: accepts and transitions are logged. */
  private tracingOn = false;
  /** Stops following the logger's level (stop()). */
  private untrace: (() => void) | null = null;
  /**
   * pino's isLevelEnabled (a keyed lookup and a comparison call) costs about 190 instructions and a
   * request makes two or three transitions, so it is asked once, and again whenever this logger's
   * level changes while the deadlines run (pino emits 'level-change' on the logger whose level is
   * set; a child's level is its own).
   */
  private readonly refreshTracing = (): void => {
    this.tracingOn = this.diagnostics !== null && this.log.isLevelEnabled('debug');
  };

  readonly tickMs: number;

  /**
   * A cluster worker's extra check-in when a request enters the app or queues for it, at most every
   * ENTRY_REPORT_MS (set by cluster/worker.ts): a request that blocks the thread at once (a regex
   * spin, a native call) is then in the primary's last news of the worker, which names it when it
   * kills the worker. Entries within ENTRY_REPORT_MS of a report are reported together at its end,
   * so `ctl stats` sees a pile-up (slots busy, a queue) within a quarter second, not at the next
   * periodic check-in.
   */
  onAppEntry: (() => void) | null = null;
  /** A report went out less than ENTRY_REPORT_MS ago: entries now wait for the end of that window. */
  private entryWindowOpen = false;
  /** A request entered during the open window: reported at its end. */
  private entryPending = false;
  private entryReportTimer: NodeJS.Timeout | null = null;

  /**
   * A request enters the app (or its queue) now: onAppEntry, now or at the end of the current
   * ENTRY_REPORT_MS. No clock is read per request (a performance.now() was about 360 instructions
   * of every request a cluster worker served): the window is a timer, set once per report.
   */
  appEntered(): void {
    if (this.onAppEntry === null) return;
    if (this.entryWindowOpen) {
      this.entryPending = true;
      return;
    }
    this.reportEntry();
  }

  /** onAppEntry now, and a window of ENTRY_REPORT_MS whose entries are reported at its end. */
  private reportEntry(): void {
    this.entryWindowOpen = true;
    this.entryPending = false;
    this.entryReportTimer = setTimeout(() => {
      this.entryReportTimer = null;
      if (this.entryPending) this.reportEntry();
      else this.entryWindowOpen = false;
    }, ENTRY_REPORT_MS);
    this.entryReportTimer.unref();
    this.onAppEntry?.();
  }

  start(): void {
    if (this.diagnostics !== null && this.untrace === null && typeof this.log.on === 'function') {
      this.log.on('level-change', this.refreshTracing);
      this.untrace = () => this.log.removeListener('level-change', this.refreshTracing);
      this.refreshTracing();
    }
    if (this.timer) return;
    this.clock = performance.now();
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  /**
   * The timer's tick: it sweeps in the check phase of the same turn of the loop, after the poll
   * phase has read what arrived since the last turn. Swept in the timers phase, which comes first,
   * after a held loop (a long synchronous handler, a heap snapshot, a process waiting for a CPU) a
   * keep-alive connection whose next request came during the hold, past its idle deadline, was
   * closed with the request unread in the kernel (the client got a reset: findings order7.3).
   */
  private tick(): void {
    if (this.pendingSweep !== null) return;
    this.pendingSweep = setImmediate(() => {
      this.pendingSweep = null;
      this.sweep();
    });
    this.pendingSweep.unref();
  }

  stop(): void {
    this.untrace?.();
    this.untrace = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.pendingSweep) clearImmediate(this.pendingSweep);
    this.pendingSweep = null;
    if (this.entryReportTimer) clearTimeout(this.entryReportTimer);
    this.entryReportTimer = null;
    this.entryWindowOpen = false;
    this.entryPending = false;
  }

  get size(): number {
    return this.count;
  }

  /**
   * How long `entry`'s request has been in the app at `now` (performance.now()), in whole ms: its
   * stamp is the sweep clock, up to a tick before it entered, so a tick is taken off (never below
   * 0). A figure that is at most a tick short, rather than up to a tick long: a 40 ms request read
   * right after it entered shows 0, not 700 (review11.2). Read by reports, never per request.
   */
  inAppMs(entry: Entry, now: number): number {
    return Math.max(0, Math.round(now - entry.appSince - this.tickMs));
  }

  /** A deadline `ms` from now that cannot fire early: the clock lags real time by up to a tick (Infinity stays Infinity). */
  private after(ms: number): number {
    return this.clock + ms + this.tickMs;
  }

  /** One shared 'close' listener for every connection: no closure or once-wrapper per connection. */
  private readonly onSocketClose: (this: Socket) => void;

  /** A socket was accepted. `tracked` is the socket node:http hands to requests (TLS socket under TLS). */
  add(socket: Socket, tracked: Socket = socket): Entry {
    const entry: Entry = {
      id: this.nextId++,
      socket,
      counter: readCounterOf(socket),
      parsed: requestBegun(socket) !== null,
      state: 'first_data',
      deadline: this.after(this.firstDataMs),
      // Read: node's parser counts a connection's first request as begun from its start.
      mark: socket.bytesRead,
      until: Infinity,
      res: null,
      requests: 0,
      inflight: 0,
      pipelined: null,
      appSince: 0,
      sending: false,
      close: null,
      gone: false,
      clientClosing: false,
      closeAfter: false,
      finishedBytes: 0,
      newer: null,
      older: this.newest,
    };
    (socket as Tracked)[kEntry] = entry;
    if (tracked !== socket) (tracked as Tracked)[kEntry] = entry;
    // The peer address costs a getpeername() per connection: only when the line is written.
    if (this.tracing()) this.log.debug({ id: entry.id, remote: socket.remoteAddress }, 'accepted connection');
    if (this.newest) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
    this.count++;
    socket.on('close', this.onSocketClose);
    return entry;
  }

  private tracing(): boolean {
    return this.tracingOn;
  }

  private move(entry: Entry, state: ConnectionState, deadline: number): void {
    if (this.tracing()) this.log.debug({ id: entry.id, from: entry.state, to: state }, 'connection state change');
    entry.state = state;
    entry.deadline = deadline;
  }

  /**
   * A request arrived: to `app` (requestTimeout), or, when the server reads its body before
   * calling the app (`holdBody`), to `reading` (stall and bodyTimeout deadlines) until bodyRead().
   */
  toApp(entry: Entry, req: IncomingMessage, res: ServerResponse, holdBody = false): void {
    this.lastActive = this.clock;
    this.idleFired = false;
    entry.requests++;
    if (entry.inflight++ > 0) {
      // Pipelined: the current request's deadline stands; this one's starts when it becomes current.
      (entry.pipelined ??= []).push({ req, res, held: holdBody });
      return;
    }
    this.current(entry, res, holdBody);
  }

  /** The request whose deadline the connection keeps: `app`, or `reading` while its body is held. */
  private current(entry: Entry, res: ServerResponse, holdBody: boolean): void {
    entry.res = res;
    entry.sending = false;
    if (holdBody) {
      entry.mark = readOf(entry);
      entry.until = this.clock + this.bodyMs;
      this.move(entry, 'reading', Math.min(this.clock + this.firstDataMs, entry.until) + this.tickMs);
      return;
    }
    entry.appSince = this.clock;
    this.move(entry, 'app', this.after(this.requestMs));
  }

  /** The body toApp(..., true) held is in (or too large to wait for): the request goes to the app. */
  bodyRead(entry: Entry, res: ServerResponse): void {
    if (entry.gone) return;
    if (entry.res !== res) {
      const queued = entry.pipelined?.find((p) => p.res === res);
      if (queued) queued.held = false;
      return;
    }
    if (entry.state !== 'reading') return;
    entry.appSince = this.clock;
    this.move(entry, 'app', this.after(this.requestMs));
  }

  /**
   * The response finished and the connection stays open for another request. `closing`: its
   * owner closes it now (lingering): a drain leaves it to that close, as one whose FIN is out.
   */
  toKeepalive(entry: Entry, res: ServerResponse | null = entry.res, closing = false): void {
    this.lastActive = this.clock;
    if (entry.inflight > 0) entry.inflight--;
    const queue = entry.pipelined;
    if (queue !== null && queue.length > 0) {
      // A pipelined response closed before the current one (the connection is going): drop it.
      const at = res === entry.res ? -1 : queue.findIndex((p) => p.res === res);
      if (at >= 0) return void queue.splice(at, 1);
      // The next pipelined request becomes current, with its own deadline.
      const next = queue.shift()!;
      if (!entry.gone) this.current(entry, next.res, next.held);
      return;
    }
    if (entry.inflight > 0) return;
    entry.pipelined = null;
    entry.res = null;
    if (entry.gone) return;
    const socket = entry.socket;
    // Draining: evicted, unless it is closing lingeringly (our FIN is out, waiting for the
    // client's), which its 'close' removes. Read only while draining: each of a socket's stream
    // getters (writableEnded, destroyed) is a megamorphic keyed load of node's state bits, which
    // this line paid per request (430 instructions of the listener's). A socket destroyed and not
    // yet closed waits here for its 'close', which removes it.
    if (this.draining && !closing && !(socket.writableEnded && !socket.destroyed)) {
      this.evict(entry, 'draining');
      return;
    }
    entry.mark = entry.parsed ? UNREAD : readOf(entry);
    this.move(entry, 'keepalive', this.after(this.persistentMs));
  }

  /**
   * The connection left HTTP (upgraded) or its response became an event stream (streaming):
   * out of the app state, so requestTimeout no longer applies; closed by `close` when idle.
   */
  toLongLived(entry: Entry, state: 'upgraded' | 'streaming', close: LongLivedClose): void {
    if (entry.gone) return; // already closed
    entry.close = close;
    entry.inflight = 0;
    entry.pipelined = null;
    entry.mark = progress(entry.socket);
    this.move(entry, state, this.after(this.upgradedIdleMs));
  }

  /**
   * Every entry, oldest first. The next entry is taken before `e` is handed out, so the caller
   * may remove `e`; an entry removed meanwhile ends the walk (the next tick sees the rest).
   */
  private *all(): IterableIterator<Entry> {
    let e = this.oldest;
    while (e !== null) {
      const next = e.newer;
      yield e;
      e = next;
    }
  }

  private *inState(...states: ConnectionState[]): IterableIterator<Entry> {
    for (const e of this.all()) if (states.includes(e.state)) yield e;
  }

  /** Upgraded and streaming connections (to close them at shutdown). */
  longLived(): Entry[] {
    return [...this.inState('upgraded', 'streaming')];
  }

  remove(entry: Entry): void {
    if (entry.gone) return;
    entry.gone = true;
    if (entry.newer) entry.newer.older = entry.older;
    else this.newest = entry.older;
    if (entry.older) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    entry.newer = entry.older = null;
    this.count--;
    if (this.draining && this.onEmpty && this.count === 0) this.onEmpty();
  }

  /** Called once no connection is left while draining. */
  onEmpty: (() => void) | null = null;

  private evict(entry: Entry, why: string): void {
    this.remove(entry);
    this.log.debug({ id: entry.id, state: entry.state, why }, 'closing connection');
    entry.socket.destroy();
  }

  /** Counts per state; first_data/keepalive entries that received bytes count as reading. */
  counts(): Record<ConnectionState, number> {
    const out: Record<ConnectionState, number> = { first_data: 0, reading: 0, app: 0, keepalive: 0, upgraded: 0, streaming: 0 };
    for (const e of this.all()) {
      if ((e.state === 'first_data' || e.state === 'keepalive') && arrivedSince(e)) out.reading++;
      else out[e.state]++;
    }
    return out;
  }

  /** Entries currently running or queued for the app. */
  inApp(): IterableIterator<Entry> {
    return this.inState('app');
  }

  /** Entries with a request whose response has not finished: in the app, queued, or waiting for its held body. */
  withRequest(): IterableIterator<Entry> {
    return this.inState('app', 'reading');
  }

  /** Closes every connection that is waiting with no request bytes; returns how many. */
  closeIdle(): number {
    let closed = 0;
    for (const e of [...this.inState('first_data', 'keepalive')]) {
      if (!arrivedSince(e) && !e.socket.writableEnded) {
        this.evict(e, 'shutdown');
        closed++;
      }
    }
    return closed;
  }

  /** One pass over every entry, advancing the clock to `now`. Never throws; a faulty entry is evicted. */
  sweep(now: number = performance.now()): void {
    this.clock = now;
    if (this.diagnostics) this.diagnostics.scope('reactor', () => this.sweepAll(now));
    else this.sweepAll(now);
  }

  private sweepAll(now: number): void {
    let inApp = false;
    for (const entry of this.all()) {
      const state = entry.state;
      try {
        // Waiting for (more of) a request: a byte since the last look restarts the stall clock.
        if ((state === 'reading' || state === 'first_data' || state === 'keepalive') && arrivedSince(entry)) this.arrived(entry, now);
        const d = entry.deadline as unknown;
        if (typeof d !== 'number' || Number.isNaN(d)) {
          throw new TspumaError('TSPUMA_ERR_REACTOR_ENTRY', { id: entry.id, phase: state, deadline: String(d) });
        }
        // A response whose head went out leaves requestTimeout for the write-progress deadline.
        if (state === 'app' && !entry.sending && entry.res !== null && entry.res.headersSent) this.sendingSince(entry, now);
        if (entry.deadline <= now) this.expire(entry, state, now);
        if (entry.state === 'app') inApp = true;
      } catch (err) {
        this.fault(entry, state, err);
      }
    }
    if (this.idleMs !== null && !this.idleFired && !inApp && now - this.lastActive >= this.idleMs) {
      this.idleFired = true;
      this.handlers.idle();
    }
  }

  /**
   * Bytes arrived on a connection waiting for a request (seen at this tick, so up to a tick after
   * they came). The first byte of a head starts its headersTimeout; each byte pushes the stall
   * deadline (firstDataTimeout) back, never past the total one.
   */
  private arrived(entry: Entry, now: number): void {
    const socket = entry.socket;
    entry.mark = socket.bytesRead;
    // Closing lingeringly (our FIN is out): what the client still sends is read and dropped.
    if (socket.writableEnded) return;
    if (entry.state !== 'reading') entry.until = now + this.headersMs;
    this.move(entry, 'reading', Math.min(now + this.firstDataMs, entry.until) + this.tickMs);
  }

  /** The current response's head is out: from now on its deadline is write progress (responseStallTimeout). */
  private sendingSince(entry: Entry, now: number): void {
    entry.sending = true;
    entry.mark = dispatched(entry.socket);
    this.move(entry, 'app', now + this.stallMs + this.tickMs);
  }

  private expire(entry: Entry, state: ConnectionState, now: number): void {
    switch (state) {
      case 'first_data':
      case 'keepalive':
        this.evict(entry, state === 'first_data' ? 'firstDataTimeout' : 'persistentTimeout');
        return;
      case 'reading':
        this.remove(entry);
        this.handlers.readTimeout(entry, now < entry.until ? 'stalled' : entry.res !== null ? 'body' : 'headers');
        return;
      case 'app': {
        // requestTimeout bounds the time to the head. A response whose head is out is bounded by
        // its progress instead: each stall period that moved bytes grants another.
        if (entry.sending) {
          const sent = dispatched(entry.socket);
          if (sent > entry.mark || entry.res?.writableFinished) {
            entry.mark = sent;
            this.move(entry, 'app', now + this.stallMs + this.tickMs);
            return;
          }
          this.move(entry, 'app', Infinity);
          if (this.handlers.responseStalled) this.handlers.responseStalled(entry, sent);
          else entry.socket.destroy();
          return;
        }
        // No deadline first, so a throwing handler cannot fire twice.
        this.move(entry, 'app', Infinity);
        this.handlers.requestTimeout(entry);
        return;
      }
      case 'upgraded':
      case 'streaming': {
        // Looked at again after another period either way: closing takes a round trip, and a
        // second close() escalates.
        this.move(entry, state, now + this.upgradedIdleMs);
        const seen = progress(entry.socket);
        if (seen > entry.mark) {
          entry.mark = seen;
          return;
        }
        this.log.debug({ id: entry.id, state }, 'closing idle long-lived connection');
        entry.close?.('idle');
        return;
      }
    }
  }

  /** Logged and dumped with `phase` (the error codes' parameter name) holding the state. */
  private fault(entry: Entry, state: ConnectionState, err: unknown): void {
    this.faults++;
    const coded = isTspumaError(err)
      ? err
      : new TspumaError('TSPUMA_ERR_REACTOR_FAULT', { id: entry.id, phase: state, message: (err as Error)?.message ?? String(err) }, { cause: err });
    const signature = `${coded.code}:${state}`;
    const seen = this.faultSignatures.get(signature) ?? 0;
    this.faultSignatures.set(signature, seen + 1);
    const seenState = {
      id: entry.id,
      phase: state,
      deadline: String(entry.deadline),
      requests: entry.requests,
      bytesRead: entry.socket.bytesRead,
      remoteAddress: entry.socket.remoteAddress,
      url: requestOf(entry)?.url,
    };
    this.diagnostics?.report(err, { phase: 'reactor', kind: 'fault', context: seenState });
    if (seen === 0) this.log.error({ err: coded, code: coded.code, entry: seenState }, coded.message);
    else this.log.debug({ code: coded.code, entry: seenState, repeats: seen + 1 }, 'connection deadline fault repeated');
    this.remove(entry);
    entry.socket.destroy();
  }
}
