// Inspector discovery (in a worker thread of the primary or single process):
// serves /json/list, /json/version and /json/protocol for every process as Node's inspector does,
// proxies DevTools' WebSocket to each worker's inspector (worker-proxy.ts), hands the process's own target to the
// main-thread bridge (bridge.ts), and refuses web pages (their Origin) and rebound Host names.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { VERSION } from '../server/version.js';
import { TspumaError } from '../server/errors.js';
import { findPortHolder } from '../server/port-holder.js';
import { SIDE_LIMITS, allowedHost, createSideServer, hostLines, markUpgraded, webOrigin } from '../server/side-listener.js';
import type { MainThreadBridge } from './bridge.js';
import { devtoolsUrl } from './open.js';
import { WorkerProxy, type ClientWorkListener, type SnapshotListener } from './worker-proxy.js';

export interface Target {
  /** Stable across respawns: "tspuma-primary", "tspuma-worker-1". */
  id: string;
  title: string;
  pid: number;
  /** Worker index; null for the primary or the single process. */
  worker: number | null;
  /**
   * A worker's own inspector (ws://HOST:PORT/UUID); for the bridged target, its address on
   * discovery (ws://HOST:BASE/tspuma-single).
   */
  ws: string;
  /** Served by this thread's bridge to the main thread: the process discovery runs in. */
  bridge?: true;
}

/** Where discovery reports; the thread forwards it to the process's logger. */
export interface DiscoveryLog {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  debug(obj: Record<string, unknown>, msg: string): void;
}

/** One entry of /json/list, in the shape Node and Chrome use, plus where it really is. */
export interface ListEntry {
  description: string;
  devtoolsFrontendUrl: string;
  devtoolsFrontendUrlCompat: string;
  faviconUrl: string;
  id: string;
  title: string;
  type: 'node';
  url: string;
  webSocketDebuggerUrl: string;
  /** `clients`: WebSocket clients attached through this server now (`tspuma replay` reads it). */
  tspuma: { pid: number; worker: number | null; direct: string; clients: number };
}

/** Why a request is refused (403), or null when it may go on. */
function refusal(req: IncomingMessage): { reason: string; origin: string | null } | null {
  if (hostLines(req) > 1) return { reason: 'the request has more than one Host line (RFC 9112 §3.2)', origin: null };
  if (!allowedHost(req.headers.host)) return { reason: 'Host must be an IP address or localhost', origin: null };
  const origin = webOrigin(req);
  if (origin !== null) return { reason: `Origin ${origin} is a web page; inspectors accept DevTools (devtools://) and clients that send no Origin`, origin };
  return null;
}

/** Longest Origin or User-Agent quoted in a line (a client chooses them). */
const MAX_HEADER_SHOWN = 160;

/** Who a WebSocket client is, as far as its connection and headers say (values quoted: the client chose them). */
function clientOf(req: IncomingMessage, socket: Socket): { peer: string; origin: string | null; userAgent: string | null; text: string } {
  const peer = socket.remoteAddress ?? 'an unknown address';
  const header = (v: string | string[] | undefined) => (typeof v === 'string' && v !== '' ? v.slice(0, MAX_HEADER_SHOWN) : null);
  const origin = header(req.headers.origin);
  const userAgent = header(req.headers['user-agent']);
  const said = [origin !== null ? `Origin ${JSON.stringify(origin)}` : 'no Origin', userAgent !== null ? `User-Agent ${JSON.stringify(userAgent)}` : 'no User-Agent'];
  return { peer, origin, userAgent, text: `${peer} (${said.join(', ')})` };
}

const JSON_TYPE = 'application/json; charset=UTF-8';
const TEXT_TYPE = 'text/plain; charset=UTF-8';

/** Every answer with its Content-Length, as Node's inspector sends it (Chrome's discovery needs it). */
function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-cache', 'Content-Length': bytes.length }).end(bytes);
}

export class Discovery {
  private server: Server | null = null;
  /** Node's /json/protocol as one target's inspector served it (every process runs the same node). */
  private protocol: Promise<Buffer> | null = null;
  /** Refusals so far, by kind: logged at the 1st, 10th, 100th... so a page retrying cannot flood the log. */
  private readonly refused = { host: 0, origin: 0 };
  /** Clients proxied to each worker now, by target id. */
  private readonly attached = new Map<string, number>();
  port = 0;

  constructor(
    private readonly targets: () => Target[],
    private readonly log: DiscoveryLog,
    /** Serves the bridged target; null: it is refused with 502. */
    private readonly bridge: MainThreadBridge | null,
    /** Node's /json/protocol when no listed process has an inspector port to ask. */
    private readonly fallbackProtocol: () => Promise<Buffer>,
    /** Debug mode captures at throws in every listed process (bridge.ts keptFromClient). */
    capture = false,
    /** Told of each heap snapshot a client takes of a worker (the primary then does not count its missed check-ins). */
    onSnapshot: SnapshotListener | null = null,
    /** Told of a client's heap snapshots and long evaluations in a worker (the worker's blocked-loop warning names them). */
    onWork: ClientWorkListener | null = null,
  ) {
    this.workers = new WorkerProxy(log, capture, onSnapshot, onWork);
  }

  /** Client connections to workers' inspectors. */
  private readonly workers: WorkerProxy;

  /** The list as served, with addresses through this server (host as the client named it). */
  list(host: string): ListEntry[] {
    return this.targets().map((t) => {
      // Through this proxy, which runs off the main thread, so it carries a paused process's resume.
      const ws = `${host}/${t.id}`;
      return {
        description: `tspuma ${VERSION} ${t.worker !== null ? `worker ${t.worker}` : t.id === 'tspuma-single' ? 'server' : 'primary'}`,
        devtoolsFrontendUrl: devtoolsUrl(`ws://${ws}`),
        devtoolsFrontendUrlCompat: `devtools://devtools/bundled/inspector.html?experiments=true&v8only=true&ws=${ws}`,
        faviconUrl: 'https://nodejs.org/static/images/favicons/favicon.ico',
        id: t.id,
        title: t.title,
        type: 'node',
        url: `file://${process.cwd()}`,
        webSocketDebuggerUrl: `ws://${ws}`,
        tspuma: { pid: t.pid, worker: t.worker, direct: t.ws, clients: this.attached.get(t.id) ?? 0 },
      };
    });
  }

  /** Logs a refusal (throttled) and returns the 403 body. */
  private refuse(req: IncomingMessage, why: { reason: string; origin: string | null }): string {
    const count = ++this.refused[why.origin === null ? 'host' : 'origin'];
    if (/^10*$/.test(String(count))) {
      const err = new TspumaError('TSPUMA_ERR_INSPECT_REFUSED', { what: req.headers.upgrade ? 'a WebSocket' : 'a request', path: req.url ?? '/', reason: why.reason });
      this.log.warn({ code: err.code, remote: req.socket.remoteAddress ?? 'local', origin: why.origin, host: req.headers.host ?? null, path: req.url ?? '/', count }, `${err.message}${count > 1 ? ` (${count} times)` : ''}`);
    }
    return `tspuma inspector discovery: ${why.reason}\n`;
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const why = refusal(req);
    if (why) return send(res, 403, TEXT_TYPE, this.refuse(req, why));
    const path = (req.url ?? '/').split('?')[0];
    const reply = (body: unknown) => send(res, 200, JSON_TYPE, `${JSON.stringify(body, null, 2)}\n`);
    if (req.method === 'GET' && (path === '/json' || path === '/json/list')) return reply(this.list(req.headers.host!));
    if (req.method === 'GET' && path === '/json/version') return reply({ Browser: `tspuma/${VERSION} node.js/${process.version}`, 'Protocol-Version': '1.1' });
    if (req.method === 'GET' && path === '/json/protocol') {
      try {
        return send(res, 200, JSON_TYPE, await this.protocolJson());
      } catch (err) {
        return send(res, 502, TEXT_TYPE, `tspuma inspector discovery: no inspector answered /json/protocol (${(err as Error).message})\n`);
      }
    }
    send(res, 404, TEXT_TYPE, 'Not found: try /json/list\n');
  }

  /**
   * The protocol description, from the first worker whose inspector serves it, else from
   * fallbackProtocol (the bridged target has no inspector port).
   */
  private protocolJson(): Promise<Buffer> {
    this.protocol ??= (async () => {
      const failures: string[] = [];
      const direct = this.targets().filter((t) => !t.bridge);
      if (direct.length === 0) return this.fallbackProtocol();
      for (const t of direct) {
        try {
          const res = await fetch(`http://${new URL(t.ws).host}/json/protocol`, { signal: AbortSignal.timeout(2000) });
          if (res.ok) return Buffer.from(await res.arrayBuffer());
          failures.push(`${t.id}: ${res.status}`);
        } catch (err) {
          failures.push(`${t.id}: ${(err as Error).message}`);
        }
      }
      try {
        return await this.fallbackProtocol();
      } catch (err) {
        throw new Error(`${failures.join('; ')}; ${(err as Error).message}`);
      }
    })();
    // A failure is not kept: the next request asks again.
    this.protocol.catch(() => (this.protocol = null));
    return this.protocol;
  }

  /** Listens on host:port; a busy port is replaced by a free one with a warning. */
  async listen(host: string, port: number): Promise<number> {
    // tspuma's header deadline, an idle timeout and a connection cap (WebSockets, once upgraded, are not cut).
    const server = createSideServer('inspector discovery', SIDE_LIMITS.discovery, this.log, (req, res) => void this.answer(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.proxy(req, socket, head));
    const bind = (p: number) =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(p, host, () => {
          server.off('error', reject);
          resolve((server.address() as { port: number }).port);
        });
      });
    try {
      this.port = await bind(port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw err;
      // Named as a busy bind's holder is: usually an earlier server still running, whose targets chrome://inspect now shows.
      const holder = findPortHolder(port);
      const held = holder ? `held by pid ${holder.pid} (${holder.command})` : `its holder could not be found (\`ss -ltnp 'sport = :${port}'\` shows it)`;
      const warning = new TspumaError('TSPUMA_ERR_INSPECT_PORT_BUSY', { port, holder: held, host });
      this.log.warn({ code: warning.code, port, ...(holder ? { holderPid: holder.pid } : {}) }, warning.message);
      this.port = await bind(0);
    }
    this.server = server;
    return this.port;
  }

  /**
   * DevTools connects to ws://HOST:BASE/tspuma-worker-1; the bytes go to that worker's inspector.
   * The bridged target's connection goes to the bridge, after the same refusals.
   */
  private proxy(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const id = (req.url ?? '/').slice(1).split('?')[0];
    const target = this.targets().find((t) => t.id === id);
    const refuse = (status: string, body = '') =>
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: ${TEXT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    const why = refusal(req);
    if (why) return void refuse('403 Forbidden', this.refuse(req, why));
    if (!target) return void refuse('404 Not Found', `tspuma inspector discovery: no target ${id}; try /json/list\n`);
    if (target.bridge && !this.bridge) return void refuse('502 Bad Gateway', `tspuma inspector discovery: no bridge to ${id}\n`);
    // A DevTools session from now on: out of its client's cap (every local client is 127.0.0.1).
    markUpgraded(socket as Socket);
    // Counted while connected: `tspuma replay` stops only a worker (or single mode's process) a debugger is attached to.
    this.attached.set(target.id, (this.attached.get(target.id) ?? 0) + 1);
    // A client can run any code in the process it attaches to: each one is logged, who and from
    // where, as a probe is with who set it (U2); and when it leaves, after how long.
    const client = clientOf(req, socket as Socket);
    const since = performance.now();
    const fields = { target: target.id, targetPid: target.pid, ...(target.worker !== null ? { worker: target.worker } : {}), peer: client.peer, origin: client.origin, userAgent: client.userAgent };
    this.log.info(fields, `DevTools client attached to ${target.title} from ${client.text}`);
    socket.once('close', () => {
      const n = (this.attached.get(target.id) ?? 1) - 1;
      if (n > 0) this.attached.set(target.id, n);
      else this.attached.delete(target.id);
      const seconds = Math.round((performance.now() - since) / 100) / 10;
      this.log.info({ ...fields, seconds }, `DevTools client of ${target.title} from ${client.peer} left after ${seconds} s`);
    });
    if (target.bridge) return this.bridge!.accept(req, socket, head, target.id);
    // Message by message, so a client's evaluations run silent (worker-proxy.ts).
    this.workers.accept(req, socket, head, target.ws, target.id, target.pid);
  }

  close(): void {
    this.workers.close();
    this.bridge?.close();
    this.server?.close();
    this.server?.closeAllConnections();
  }
}
