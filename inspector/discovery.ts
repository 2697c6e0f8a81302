// Created in inspector/discovery-thread.ts (a worker thread of the primary or single process):
// serves /json/list and /json/version for every process and proxies DevTools' WebSocket to each.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { VERSION } from '../server/version.js';
import { devtoolsUrl } from './open.js';

export interface Target {
  /** Stable across respawns: "tspuma-primary", "tspuma-worker-1". */
  id: string;
  title: string;
  pid: number;
  /** Worker index; null for the primary or the single process. */
  worker: number | null;
  /** The process's own inspector: ws://HOST:PORT/UUID. */
  ws: string;
}

/** Where discovery reports; the thread forwards it to the process's logger. */
export interface DiscoveryLog {
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
  tspuma: { pid: number; worker: number | null; direct: string };
}

/**
 * Host header check against DNS rebinding (as Node's own inspector does): a page on evil.example
 * resolving to 127.0.0.1 must not read the list or attach.
 */
function allowedHost(header: string | undefined): boolean {
  if (!header) return false;
  const host = header.startsWith('[') ? header.slice(1, header.indexOf(']')) : header.replace(/:\d+$/, '');
  return host === 'localhost' || isIP(host) !== 0;
}

export class Discovery {
  private server: Server | null = null;
  port = 0;

  constructor(
    private readonly targets: () => Target[],
    private readonly log: DiscoveryLog,
  ) {}

  /** The list as served, with addresses through this server (host as the client named it). */
  list(host: string): ListEntry[] {
    return this.targets().map((t) => {
      // Through this proxy, which runs off the main thread, so it carries a paused process's resume.
      const ws = `${host}/${t.id}`;
      return {
        description: `tspuma ${VERSION} ${t.worker === null ? 'primary' : `worker ${t.worker}`}`,
        devtoolsFrontendUrl: devtoolsUrl(`ws://${ws}`),
        devtoolsFrontendUrlCompat: `devtools://devtools/bundled/inspector.html?experiments=true&v8only=true&ws=${ws}`,
        faviconUrl: 'https://nodejs.org/static/images/favicons/favicon.ico',
        id: t.id,
        title: t.title,
        type: 'node',
        url: `file://${process.cwd()}`,
        webSocketDebuggerUrl: `ws://${ws}`,
        tspuma: { pid: t.pid, worker: t.worker, direct: t.ws },
      };
    });
  }

  /** Listens on host:port; a busy port is replaced by a free one with a warning. */
  async listen(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      if (!allowedHost(req.headers.host)) {
        res.writeHead(403, { 'content-type': 'text/plain' }).end('tspuma inspector discovery: Host must be an IP address or localhost\n');
        return;
      }
      const path = (req.url ?? '/').split('?')[0];
      const reply = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' }).end(`${JSON.stringify(body, null, 2)}\n`);
      if (req.method === 'GET' && (path === '/json' || path === '/json/list')) return reply(this.list(req.headers.host!));
      if (req.method === 'GET' && path === '/json/version') return reply({ Browser: `tspuma/${VERSION} node.js/${process.version}`, 'Protocol-Version': '1.1' });
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: try /json/list\n');
    });
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
      this.log.warn({ port }, `Inspector discovery port ${port} is in use; using a free port instead`);
      this.port = await bind(0);
    }
    this.server = server;
    return this.port;
  }

  /** DevTools connects to ws://HOST:BASE/tspuma-worker-1; the bytes go to that worker's inspector. */
  private proxy(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const id = (req.url ?? '/').slice(1).split('?')[0];
    const target = this.targets().find((t) => t.id === id);
    const refuse = (status: string) => socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    if (!allowedHost(req.headers.host)) return void refuse('403 Forbidden');
    if (!target) return void refuse('404 Not Found');
    const url = new URL(target.ws);
    const upstream = connect(Number(url.port), url.hostname.replace(/^\[|\]$/g, ''));
    const lines = [`GET ${url.pathname} HTTP/1.1`, `Host: ${url.host}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i]!.toLowerCase() !== 'host') lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    }
    upstream.once('connect', () => {
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket).pipe(upstream);
    });
    const close = () => {
      upstream.destroy();
      socket.destroy();
    };
    upstream.on('error', (err) => {
      this.log.debug({ err, target: target.id }, 'inspector proxy: upstream error');
      if (upstream.connecting) refuse('502 Bad Gateway'); // the process went away: say so, then close
      else close();
    });
    socket.on('error', close);
    socket.on('close', () => upstream.destroy());
  }

  close(): void {
    this.server?.close();
    this.server?.closeAllConnections();
  }
}
