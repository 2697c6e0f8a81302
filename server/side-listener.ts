// The limits of tspuma's own small HTTP listeners (health checks, the control app, inspector
// discovery), which answer outside the app: a head must arrive within tspuma's header deadline, an
// idle keep-alive connection closes, and connections are capped in total and per client address,
// so a client holding thousands of idle connections cannot take the process's descriptors (and
// with them its ability to fork workers); at a cap a new connection replaces the longest-idle one,
// so held half-sent requests lock no one out. Refusals are logged throttled (1st, 10th, 100th...).
import http from 'node:http';
import { isIP, type Socket } from 'node:net';
import { TspumaError } from './errors.js';

/** Where a listener's refusals are logged (a pino Logger, or discovery's thread logger). */
export interface WarnLog {
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface ListenerLimits {
  /** A request head (and a request) must be complete within this many ms of the connection or its last response. */
  readonly headersMs: number;
  /** An idle keep-alive connection is closed after this many ms. */
  readonly idleMs: number;
  /** Open connections at most; the next is closed at once. */
  readonly maxConnections: number;
  /** Open connections at most from one client address. */
  readonly perClient: number;
}

/** The header deadline of these listeners: tspuma's `headersTimeout` default, 20 s. */
export const SIDE_HEADERS_MS = 20_000;
/** Idle keep-alive on these listeners: their clients poll, they do not hold connections. */
export const SIDE_IDLE_MS = 5_000;

/** Per listener: health checks (a kubelet, a balancer), the control app (ctl), discovery (chrome://inspect, DevTools windows). */
export const SIDE_LIMITS = {
  health: { headersMs: SIDE_HEADERS_MS, idleMs: 1000, maxConnections: 128, perClient: 32 },
  control: { headersMs: SIDE_HEADERS_MS, idleMs: SIDE_IDLE_MS, maxConnections: 32, perClient: 16 },
  // A DevTools window and chrome://inspect send their head at once: 5 s cuts a held one sooner. Its
  // per-client cap counts only connections not yet WebSockets (markUpgraded).
  discovery: { headersMs: 5_000, idleMs: SIDE_IDLE_MS, maxConnections: 64, perClient: 16 },
} as const satisfies Record<string, ListenerLimits>;

/**
 * Counts events by kind and says when one should be logged: the 1st, 10th, 100th... of each kind,
 * so a client retrying in a loop cannot flood the log, while the count in each line tells how many.
 * A kind quiet for `quietMs` starts again from 1: a new incident hours after a flood is logged at
 * its first event, not at the flood's next power of ten (review22.2).
 */
export class Throttle {
  private readonly counts = new Map<string, { n: number; last: number }>();
  /** `maxKinds`: kinds kept at most (past it, counts restart: a client cycling addresses cannot grow the map). */
  constructor(
    private readonly maxKinds = 1024,
    private readonly quietMs = THROTTLE_QUIET_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The new count of `kind` when this one should be logged, else null. */
  hit(kind: string): number | null {
    const now = this.now();
    let seen = this.counts.get(kind);
    if (!seen && this.counts.size >= this.maxKinds) this.counts.clear();
    if (!seen || now - seen.last >= this.quietMs) this.counts.set(kind, (seen = { n: 0, last: now }));
    seen.n++;
    seen.last = now;
    return /^10*$/.test(String(seen.n)) ? seen.n : null;
  }
}

/** How long a throttled kind stays quiet before its count starts again (10 minutes). */
export const THROTTLE_QUIET_MS = 10 * 60_000;

/** The client a connection counts against: its address, or `local` on a unix socket. */
function clientOf(socket: Socket): string {
  return socket.remoteAddress ?? 'local';
}

/** A connection as these caps count it. */
interface Tracked {
  readonly socket: Socket;
  readonly client: string;
  /** Requests in progress on it (a head parsed, its response not done). */
  active: number;
  /** Handed over as a WebSocket (discovery's DevTools sessions): never evicted, not in its client's count. */
  upgraded: boolean;
  /** Order in which it last became idle (connected, or its last response done): the lowest is evicted first. */
  idleSince: number;
}

const trackedOf = new WeakMap<Socket, Tracked>();
/** Removes an upgraded connection from its client's count (set by limitConnections). */
const upgradeHooks = new WeakMap<Socket, () => void>();

/** Refused connections still being answered (their 503 written, waiting to close); past it, one is reset unanswered. */
const MAX_ANSWERING_REFUSALS = 64;
/** How long a refused connection is kept for its client to read the 503. */
const REFUSAL_LINGER_MS = 1000;
let answeringRefusals = 0;

/**
 * A connection refused at a cap with every counted one busy: a 503 that says so (a client read a
 * reset, and `tspuma ctl` said the server was not running), then closed. What it sends is
 * discarded; it is kept at most REFUSAL_LINGER_MS, and at most MAX_ANSWERING_REFUSALS at once (a
 * flood past that is reset, as before), so refusing costs no lasting descriptor.
 */
function answerBusy(socket: Socket, err: TspumaError): void {
  if (answeringRefusals >= MAX_ANSWERING_REFUSALS) return void socket.destroy();
  answeringRefusals++;
  const body = `${JSON.stringify({ error: err.message, code: err.code })}\n`;
  const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
  timer.unref();
  socket.once('close', () => {
    answeringRefusals--;
    clearTimeout(timer);
  });
  socket.on('error', () => undefined);
  socket.resume();
  socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/**
 * A connection became a WebSocket (a DevTools session): it no longer counts against its client's
 * cap, which is for connections still sending or waiting for a request (every local client is
 * 127.0.0.1, and one Chrome opens a DevTools window per worker), and is never evicted. It still
 * counts in the listener's total.
 */
export function markUpgraded(socket: Socket): void {
  upgradeHooks.get(socket)?.();
}

/** An http.Server for one of tspuma's own listeners, with its deadlines and connection caps. */
export function createSideServer(name: string, limits: ListenerLimits, log: WarnLog, handler: http.RequestListener): http.Server {
  const server = http.createServer(
    {
      headersTimeout: limits.headersMs,
      requestTimeout: limits.headersMs * 2,
      keepAliveTimeout: limits.idleMs,
      // How often node looks for heads past their deadline (its default, 30 s, would let one live 50 s).
      connectionsCheckingInterval: Math.max(250, Math.min(1000, limits.headersMs / 4)),
    },
    handler,
  );
  limitConnections(server, name, limits, log);
  return server;
}

/**
 * Caps `server`'s connections (total and per client) and logs refusals throttled. At a cap, the
 * new connection takes the place of the oldest one that is idle (still sending its head, or
 * waiting for the next request on keep-alive), of the same client at the per-client cap, of any
 * client at the total cap: a stuck or hostile client holding half-sent requests delays no one (a
 * real client's head arrives at once and is answered, while a held one waits for nothing).
 * Only when every counted connection is busy answering is the new one refused: a 503 with
 * TSPUMA_ERR_LISTENER_BUSY, then closed.
 */
export function limitConnections(server: http.Server, name: string, limits: ListenerLimits, log: WarnLog): void {
  const throttle = new Throttle();
  const byClient = new Map<string, Set<Tracked>>();
  const all = new Set<Tracked>();
  let order = 0;
  const refused = (kind: 'total' | 'client', client: string, open: number) => {
    const count = throttle.hit(kind);
    if (count === null) return;
    const limit = kind === 'total' ? `its cap of ${limits.maxConnections} connections` : `${limits.perClient} connections from ${client}`;
    log.warn({ code: 'TSPUMA_ERR_LISTENER_BUSY', listener: name, remote: client, open, count }, `${name}: refused a connection from ${client}: ${limit} reached, every one of them busy${count > 1 ? ` (${count} refusals so far)` : ''}`);
  };
  const evicted = (kind: 'total' | 'client', victim: Tracked, client: string) => {
    const count = throttle.hit(`evict-${kind}`);
    if (count === null) return;
    const limit = kind === 'total' ? `its cap of ${limits.maxConnections} connections` : `${limits.perClient} connections from ${client}`;
    log.warn({ listener: name, remote: client, evicted: victim.client, count }, `${name}: ${limit} reached; closed the longest-idle connection (from ${victim.client}, no request in progress) to let the new one from ${client} in${count > 1 ? ` (${count} times so far)` : ''}`);
  };
  const forget = (t: Tracked) => {
    all.delete(t);
    const mine = byClient.get(t.client);
    if (mine?.delete(t) && mine.size === 0) byClient.delete(t.client);
  };
  const oldestIdle = (among: Iterable<Tracked>): Tracked | null => {
    let best: Tracked | null = null;
    for (const t of among) if (t.active === 0 && !t.upgraded && (best === null || t.idleSince < best.idleSince)) best = t;
    return best;
  };
  const makeRoom = (kind: 'total' | 'client', among: Iterable<Tracked>, client: string, open: number): boolean => {
    const victim = oldestIdle(among);
    if (!victim) {
      refused(kind, client, open);
      return false;
    }
    evicted(kind, victim, client);
    forget(victim);
    victim.socket.destroy();
    return true;
  };
  const busy = (kind: 'total' | 'client', client: string) =>
    new TspumaError('TSPUMA_ERR_LISTENER_BUSY', {
      listener: name,
      limit: kind === 'total' ? `its ${limits.maxConnections} connections` : `the ${limits.perClient} connections it allows from ${client}`,
      hint: name === 'control app' ? 'many tspuma commands at once? each probe set waits for every worker to arm it' : 'too many clients at once',
    });
  server.on('connection', (socket: Socket) => {
    const client = clientOf(socket);
    const mine = byClient.get(client);
    if ((mine?.size ?? 0) >= limits.perClient && !makeRoom('client', mine!, client, mine!.size)) return answerBusy(socket, busy('client', client));
    if (all.size >= limits.maxConnections && !makeRoom('total', all, client, all.size)) return answerBusy(socket, busy('total', client));
    const t: Tracked = { socket, client, active: 0, upgraded: false, idleSince: order++ };
    all.add(t);
    byClient.set(client, (byClient.get(client) ?? new Set()).add(t));
    trackedOf.set(socket, t);
    upgradeHooks.set(socket, () => {
      t.upgraded = true;
      const set = byClient.get(client);
      if (set?.delete(t) && set.size === 0) byClient.delete(client);
    });
    socket.once('close', () => forget(t));
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const t = trackedOf.get(req.socket as Socket);
    if (!t) return;
    t.active++;
    res.once('close', () => {
      t.active = Math.max(0, t.active - 1);
      if (t.active === 0) t.idleSince = order++;
    });
  });
}

/**
 * How many Host lines a request sent. Node keeps the first of several, so a check of
 * `req.headers.host` would pass a request whose second Host names another server; RFC 9112 §3.2
 * refuses any request with more than one.
 */
export function hostLines(req: http.IncomingMessage): number {
  let n = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') n++;
  return n;
}

/**
 * Host header check against DNS rebinding (as Node's own inspector does): a page on evil.example
 * resolving to 127.0.0.1 must not reach a listener that can steer or inspect the server.
 */
export function allowedHost(header: string | undefined): boolean {
  if (!header) return false;
  const host = header.startsWith('[') ? header.slice(1, header.indexOf(']')) : header.replace(/:\d+$/, '');
  return host === 'localhost' || isIP(host) !== 0;
}

/**
 * The web origin a request came from, or null. DevTools' front end sends devtools:// (or
 * chrome-devtools://); command-line clients and chrome://inspect's own polling send none. A
 * browser tab always sends its page's origin on a WebSocket handshake and on cross-site requests.
 */
export function webOrigin(req: http.IncomingMessage): string | null {
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() !== 'origin') continue;
    const origin = req.rawHeaders[i + 1]!;
    if (!/^(chrome-)?devtools:\/\//i.test(origin)) return origin;
  }
  return null;
}
