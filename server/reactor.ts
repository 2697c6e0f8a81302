// Created by server.ts, one per process; server.ts reports each connection's transitions and
// the reactor hands expiries back to it (408, 503, close) and closes idle connections on stop.
import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { diagnostics } from './debug-hook.js';
import { TspumaError, isTspumaError } from './errors.js';

/**
 * A connection's phase. first_data: accepted, no request yet. reading: bytes arrived but the
 * request head is not complete. app: a request is queued for or running in the app.
 * keepalive: idle between requests. upgraded: left HTTP (a WebSocket). streaming: a
 * long-lived response (server-sent events) that left the pool. The last two hold no pool slot;
 * their deadline is upgradedIdleTimeout, pushed back by bytes in either direction.
 */
export type Phase = 'first_data' | 'reading' | 'app' | 'keepalive' | 'upgraded' | 'streaming';
export const PHASES: readonly Phase[] = ['first_data', 'reading', 'app', 'keepalive', 'upgraded', 'streaming'];

/** Closes a long-lived connection cleanly (a WebSocket close frame, the end of an event stream). */
export type LongLivedClose = (why: 'idle' | 'shutdown') => void;

export interface Entry {
  readonly id: number;
  /** The accepted socket (the TCP socket under TLS): its bytesRead tells progress. */
  readonly socket: Socket;
  phase: Phase;
  /** performance.now() milliseconds; Infinity for none. */
  deadline: number;
  /** socket.bytesRead when the current wait began. */
  mark: number;
  req: IncomingMessage | null;
  res: ServerResponse | null;
  requests: number;
  /** Requests of this connection in the app (more than one when the client pipelines). */
  inflight: number;
  /** performance.now() when the current request entered the app. */
  appSince: number;
  /** upgraded/streaming: how to close it cleanly. */
  close: LongLivedClose | null;
}

export interface ReactorTimeouts {
  /** Seconds. */
  firstData: number;
  persistent: number;
  /** 0 disables. */
  request: number;
  /** null disables. */
  idle: number | null;
  /** Seconds without a byte either way before an upgraded or streaming connection is closed; null disables. */
  upgradedIdle: number | null;
}

export interface ReactorHandlers {
  /** Part of a request arrived, then nothing for firstDataTimeout: answer 408 and close. */
  firstDataTimeout(entry: Entry): void;
  /** The app has not answered within requestTimeout: answer 503. */
  requestTimeout(entry: Entry): void;
  /** No request for idleTimeout seconds. */
  idle(): void;
}

export const kEntry = Symbol('tspuma.reactorEntry');
type Tracked = Socket & { [kEntry]?: Entry };

/** Bytes moved either way: what keeps a long-lived connection alive. */
function progress(socket: Socket): number {
  return socket.bytesRead + socket.bytesWritten;
}

export function entryOf(socket: Socket): Entry | undefined {
  return (socket as Tracked)[kEntry];
}

export class Reactor {
  private readonly sets: Record<Phase, Set<Entry>> = {
    first_data: new Set(),
    reading: new Set(),
    app: new Set(),
    keepalive: new Set(),
    upgraded: new Set(),
    streaming: new Set(),
  };
  private readonly upgradedIdleMs: number;
  private readonly firstDataMs: number;
  private readonly persistentMs: number;
  private readonly requestMs: number;
  private readonly idleMs: number | null;
  private nextId = 1;
  private timer: NodeJS.Timeout | null = null;
  private lastActive = performance.now();
  private idleFired = false;
  private readonly faultSignatures = new Map<string, number>();
  /** Faults caught since start: an invalid entry or a handler that threw. */
  faults = 0;
  draining = false;

  constructor(
    timeouts: ReactorTimeouts,
    private readonly handlers: ReactorHandlers,
    private readonly log: Logger,
  ) {
    this.firstDataMs = timeouts.firstData * 1000;
    this.persistentMs = timeouts.persistent * 1000;
    this.requestMs = timeouts.request > 0 ? timeouts.request * 1000 : Infinity;
    this.idleMs = timeouts.idle === null ? null : timeouts.idle * 1000;
    this.upgradedIdleMs = timeouts.upgradedIdle === null ? Infinity : timeouts.upgradedIdle * 1000;
    const smallest = Math.min(this.firstDataMs, this.persistentMs, this.requestMs, this.idleMs ?? Infinity);
    this.tickMs = Math.max(20, Math.min(1000, Math.floor(smallest / 4)));
  }

  readonly tickMs: number;

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get size(): number {
    let n = 0;
    for (const p of PHASES) n += this.sets[p].size;
    return n;
  }

  /** A socket was accepted. `tracked` is the socket node:http hands to requests (TLS socket under TLS). */
  add(socket: Socket, tracked: Socket = socket): Entry {
    const entry: Entry = {
      id: this.nextId++,
      socket,
      phase: 'first_data',
      deadline: performance.now() + this.firstDataMs,
      mark: socket.bytesRead,
      req: null,
      res: null,
      requests: 0,
      inflight: 0,
      appSince: 0,
      close: null,
    };
    (socket as Tracked)[kEntry] = entry;
    if (tracked !== socket) (tracked as Tracked)[kEntry] = entry;
    if (diagnostics) this.log.debug({ id: entry.id, remote: socket.remoteAddress }, 'accepted connection');
    this.sets.first_data.add(entry);
    socket.once('close', () => this.remove(entry));
    return entry;
  }

  private move(entry: Entry, phase: Phase, deadline: number): void {
    if (diagnostics) this.log.debug({ id: entry.id, from: entry.phase, to: phase }, 'reactor transition');
    this.sets[entry.phase].delete(entry);
    entry.phase = phase;
    entry.deadline = deadline;
    this.sets[phase].add(entry);
  }

  toApp(entry: Entry, req: IncomingMessage, res: ServerResponse): void {
    const now = performance.now();
    this.lastActive = now;
    this.idleFired = false;
    entry.requests++;
    if (entry.inflight++ > 0) return; // pipelined: the first request's deadline stands
    entry.req = req;
    entry.res = res;
    entry.appSince = now;
    this.move(entry, 'app', now + this.requestMs);
  }

  /** The response finished and the connection stays open for another request. */
  toKeepalive(entry: Entry): void {
    const now = performance.now();
    this.lastActive = now;
    if (entry.inflight > 0) entry.inflight--;
    if (entry.inflight > 0) return;
    entry.req = null;
    entry.res = null;
    if (!this.sets[entry.phase].has(entry)) return; // already removed (closed)
    if (entry.socket.writableEnded && !entry.socket.destroyed) {
      // Closing lingeringly (our FIN is out, waiting for the client's): 'close' removes it.
      entry.mark = entry.socket.bytesRead;
      this.move(entry, 'keepalive', now + this.persistentMs);
      return;
    }
    if (this.draining) {
      this.evict(entry, 'draining');
      return;
    }
    if (entry.socket.destroyed) {
      this.remove(entry);
      return;
    }
    entry.mark = entry.socket.bytesRead;
    this.move(entry, 'keepalive', now + this.persistentMs);
  }

  /**
   * The connection left HTTP (upgraded) or its response became an event stream (streaming):
   * out of the app phase, so requestTimeout no longer applies; closed by `close` when idle.
   */
  toLongLived(entry: Entry, phase: 'upgraded' | 'streaming', close: LongLivedClose): void {
    if (!this.sets[entry.phase].has(entry)) return; // already closed
    entry.close = close;
    entry.inflight = 0;
    entry.mark = progress(entry.socket);
    this.move(entry, phase, performance.now() + this.upgradedIdleMs);
  }

  /** Upgraded and streaming connections (to close them at shutdown). */
  longLived(): Entry[] {
    return [...this.sets.upgraded, ...this.sets.streaming];
  }

  remove(entry: Entry): void {
    if (this.sets[entry.phase].delete(entry) && this.draining && this.onEmpty && this.size === 0) this.onEmpty();
  }

  /** Called once the reactor holds no connection while draining. */
  onEmpty: (() => void) | null = null;

  private evict(entry: Entry, why: string): void {
    this.remove(entry);
    this.log.debug({ id: entry.id, phase: entry.phase, why }, 'reactor: closing connection');
    entry.socket.destroy();
  }

  /** Counts per phase; first_data/keepalive entries that received bytes count as reading. */
  counts(): Record<Phase, number> {
    const out = { first_data: 0, reading: this.sets.reading.size, app: this.sets.app.size, keepalive: 0, upgraded: this.sets.upgraded.size, streaming: this.sets.streaming.size };
    for (const phase of ['first_data', 'keepalive'] as const) {
      for (const e of this.sets[phase]) {
        if (e.socket.bytesRead > e.mark) out.reading++;
        else out[phase]++;
      }
    }
    return out;
  }

  /** Entries currently running or queued for the app. */
  inApp(): IterableIterator<Entry> {
    return this.sets.app.values();
  }

  /** Closes every connection that is waiting with no request bytes; returns how many. */
  closeIdle(): number {
    let closed = 0;
    for (const phase of ['first_data', 'keepalive'] as const) {
      for (const e of [...this.sets[phase]]) {
        if (e.socket.bytesRead === e.mark && !e.socket.writableEnded) {
          this.evict(e, 'shutdown');
          closed++;
        }
      }
    }
    return closed;
  }

  /** One pass over every phase's expired heads. Never throws; a faulty entry is evicted. */
  sweep(now: number = performance.now()): void {
    if (diagnostics) diagnostics.scope('reactor', () => this.sweepAll(now));
    else this.sweepAll(now);
  }

  private sweepAll(now: number): void {
    for (const phase of ['first_data', 'reading', 'keepalive', 'app', 'upgraded', 'streaming'] as const) {
      for (const entry of this.sets[phase]) {
        try {
          const d = entry.deadline as unknown;
          if (typeof d !== 'number' || Number.isNaN(d)) {
            throw new TspumaError('TSPUMA_ERR_REACTOR_ENTRY', { id: entry.id, phase, deadline: String(d) });
          }
          if (d > now) break; // each phase's set is in deadline order
          this.expire(entry, phase, now);
        } catch (err) {
          this.fault(entry, phase, err);
        }
      }
    }
    if (this.idleMs !== null && !this.idleFired && this.sets.app.size === 0 && now - this.lastActive >= this.idleMs) {
      this.idleFired = true;
      this.handlers.idle();
    }
  }

  private expire(entry: Entry, phase: Phase, now: number): void {
    const progressed = entry.socket.bytesRead > entry.mark;
    switch (phase) {
      case 'first_data':
      case 'keepalive':
      case 'reading':
        if (progressed) {
          entry.mark = entry.socket.bytesRead;
          this.move(entry, 'reading', now + this.firstDataMs);
        } else if (phase === 'reading') {
          this.remove(entry);
          this.handlers.firstDataTimeout(entry);
        } else {
          this.evict(entry, phase === 'first_data' ? 'firstDataTimeout' : 'persistentTimeout');
        }
        return;
      case 'app':
        // Re-queue without a deadline first, so a throwing handler cannot fire twice.
        this.move(entry, 'app', Infinity);
        this.handlers.requestTimeout(entry);
        return;
      case 'upgraded':
      case 'streaming': {
        // Looked at again after another period either way: closing takes a round trip, and a
        // second close() escalates.
        this.move(entry, phase, now + this.upgradedIdleMs);
        const seen = progress(entry.socket);
        if (seen > entry.mark) {
          entry.mark = seen;
          return;
        }
        this.log.debug({ id: entry.id, phase }, 'reactor: closing idle long-lived connection');
        entry.close?.('idle');
        return;
      }
    }
  }

  private fault(entry: Entry, phase: Phase, err: unknown): void {
    this.faults++;
    const coded = isTspumaError(err)
      ? err
      : new TspumaError('TSPUMA_ERR_REACTOR_FAULT', { id: entry.id, phase, message: (err as Error)?.message ?? String(err) }, { cause: err });
    const signature = `${coded.code}:${phase}`;
    const seen = this.faultSignatures.get(signature) ?? 0;
    this.faultSignatures.set(signature, seen + 1);
    const state = {
      id: entry.id,
      phase,
      deadline: String(entry.deadline),
      requests: entry.requests,
      bytesRead: entry.socket.bytesRead,
      remoteAddress: entry.socket.remoteAddress,
      url: entry.req?.url,
    };
    diagnostics?.report(err, { phase: 'reactor', kind: 'fault', context: state });
    if (seen === 0) this.log.error({ err: coded, code: coded.code, entry: state }, coded.message);
    else this.log.debug({ code: coded.code, entry: state, repeats: seen + 1 }, 'reactor fault repeated');
    this.remove(entry);
    entry.socket.destroy();
  }
}
