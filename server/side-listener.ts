// The limits of tspuma's own small HTTP listeners (health checks, the control app, inspector
// discovery), which answer outside the app: a head must arrive within tspuma's header deadline, an
// idle keep-alive connection closes, and connections are capped in total and per client address,
// so a client holding thousands of idle connections cannot take the process's descriptors (and
// with them its ability to fork workers). Refusals are logged throttled (1st, 10th, 100th...).
import http from 'node:http';
import { isIP, type Socket } from 'node:net';

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
  discovery: { headersMs: SIDE_HEADERS_MS, idleMs: SIDE_IDLE_MS, maxConnections: 64, perClient: 64 },
} as const satisfies Record<string, ListenerLimits>;

/**
 * Counts events by kind and says when one should be logged: the 1st, 10th, 100th... of each kind,
 * so a client retrying in a loop cannot flood the log, while the count in each line tells how many.
 */
export class Throttle {
  private readonly counts = new Map<string, number>();
  /** Kinds kept at most (past it, counts restart: a client cycling addresses cannot grow the map). */
  constructor(private readonly maxKinds = 1024) {}

  /** The new count of `kind` when this one should be logged, else null. */
  hit(kind: string): number | null {
    if (!this.counts.has(kind) && this.counts.size >= this.maxKinds) this.counts.clear();
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    return /^10*$/.test(String(n)) ? n : null;
  }
}

/** The client a connection counts against: its address, or `local` on a unix socket. */
function clientOf(socket: Socket): string {
  return socket.remoteAddress ?? 'local';
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

/** Caps `server`'s connections (total and per client) and logs refusals throttled. */
export function limitConnections(server: http.Server, name: string, limits: ListenerLimits, log: WarnLog): void {
  const throttle = new Throttle();
  const perClient = new Map<string, number>();
  const refused = (kind: 'total' | 'client', client: string, open: number) => {
    const count = throttle.hit(kind);
    if (count === null) return;
    const limit = kind === 'total' ? `its cap of ${limits.maxConnections} connections` : `${limits.perClient} connections from ${client}`;
    log.warn({ listener: name, remote: client, open, count }, `${name}: refused a connection from ${client}: ${limit} reached${count > 1 ? ` (${count} refusals so far)` : ''}`);
  };
  // node closes a connection past maxConnections as soon as it is accepted, and says so with 'drop'.
  server.maxConnections = limits.maxConnections;
  server.on('drop', (data?: { remoteAddress?: string }) => refused('total', data?.remoteAddress ?? 'local', limits.maxConnections));
  server.on('connection', (socket: Socket) => {
    const client = clientOf(socket);
    const open = (perClient.get(client) ?? 0) + 1;
    if (open > limits.perClient) {
      refused('client', client, open - 1);
      socket.destroy();
      return;
    }
    perClient.set(client, open);
    socket.once('close', () => {
      const left = (perClient.get(client) ?? 1) - 1;
      if (left <= 0) perClient.delete(client);
      else perClient.set(client, left);
    });
  });
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
