// HTTP upgrades, for apps that export `websocket` or `upgrade`: each one leaves the invocation
// limit for the `upgraded` connection state and goes to ws or to the app's own handler.
import type http from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import { isThenable } from './adapters.js';
import type { UpgradeHandler, WebSocketHandler } from './app-types.js';
import type { DiagnosticsHook } from './debug-hook.js';
import { TspumaError } from './errors.js';
import { entryOf, type ConnectionDeadlines, type Entry } from './deadlines.js';
import { ownCode } from './shared-names.js';
import { Redactor } from '../diagnostics/redact.js';

/** The URL in a handler's error line and message, with the query rules of request lines. */
const urlRedactor = new Redactor();
const shown = (url: string | undefined) => urlRedactor.query(url ?? '');

/** Answers a refused upgrade on the raw socket (through the lowlevel handler) and closes it. */
export type Refuse = (req: http.IncomingMessage, socket: Socket, err: TspumaError, status: number) => void;

export class Upgrades {
  private wss: WebSocketServer | null = null;

  constructor(
    private readonly deadlines: ConnectionDeadlines,
    private readonly handlers: { websocket?: WebSocketHandler; upgrade?: UpgradeHandler },
    private readonly log: Logger,
    private readonly refuse: Refuse,
    private readonly diagnostics: DiagnosticsHook | null,
  ) {}

  /**
   * Loads ws only for apps that export `websocket`: required (its CommonJS index, which its ESM
   * wrapper re-exports) with debug mode's pausing off, since both ways of loading it throw and
   * catch: node's ESM resolver at a bare `import('ws')` ('Invalid URL', twice), ws itself at its
   * optional `require('bufferutil')` (review12.5, review12.8).
   */
  async init(): Promise<void> {
    if (!this.handlers.websocket || this.wss) return;
    const { WebSocketServer } = ownCode(() => createRequire(import.meta.url)('ws') as typeof import('ws'));
    // clientTracking off: the connection deadlines already track every connection.
    this.wss = new WebSocketServer({ noServer: true, clientTracking: false });
  }

  /** node:http's 'upgrade': `refused` is the server's admission verdict (method, URI, Host, draining). */
  handle(req: http.IncomingMessage, socket: Socket, head: Buffer, refused: { err: TspumaError; status: number } | null): void {
    const entry = entryOf(socket) ?? this.deadlines.add(socket);
    if (refused) return this.refuse(req, socket, refused.err, refused.status);
    if (this.handlers.upgrade) return this.raw(req, socket, head, entry, this.handlers.upgrade);
    const protocol = String(req.headers.upgrade ?? '');
    if (protocol.toLowerCase() !== 'websocket' || !this.wss) {
      const err = new TspumaError('TSPUMA_ERR_UPGRADE_REFUSED', { method: req.method, url: shown(req.url), protocol, reason: 'only WebSocket upgrades are served (the app exports `websocket`)' });
      return this.refuse(req, socket, err, 400);
    }
    // Out of first_data/keepalive at once: no request deadline while accept() decides.
    this.deadlines.toLongLived(entry, 'upgraded', () => socket.destroy());
    void this.websocket(req, socket, head, entry, this.handlers.websocket!);
  }

  private raw(req: http.IncomingMessage, socket: Socket, head: Buffer, entry: Entry, handler: UpgradeHandler): void {
    let closing = false;
    this.deadlines.toLongLived(entry, 'upgraded', () => {
      // No protocol is known here: a FIN first, the socket's end if that is not enough.
      if (closing) socket.destroy();
      else {
        closing = true;
        socket.end();
      }
    });
    this.call(() => handler(req, socket, head), (err) => {
      this.failed('upgrade', req, err);
      socket.destroy();
    });
  }

  private async websocket(req: http.IncomingMessage, socket: Socket, head: Buffer, entry: Entry, handler: WebSocketHandler): Promise<void> {
    let verdict: boolean | number = true;
    if (handler.accept) {
      try {
        verdict = await (this.diagnostics ? this.diagnostics.scope('app', () => handler.accept!(req)) : handler.accept(req));
      } catch (err) {
        this.failed('accept', req, err);
        return this.refuse(req, socket, new TspumaError('TSPUMA_ERR_UPGRADE_HANDLER', { handler: 'websocket.accept', url: shown(req.url), message: (err as Error)?.message ?? String(err) }, { cause: err }), 500);
      }
    }
    if (verdict === false || (typeof verdict === 'number' && verdict >= 400 && verdict <= 599)) {
      const status = typeof verdict === 'number' ? verdict : 403;
      const err = new TspumaError('TSPUMA_ERR_UPGRADE_REFUSED', { method: req.method, url: shown(req.url), protocol: 'websocket', reason: `websocket.accept() answered ${verdict}` });
      return this.refuse(req, socket, err, status);
    }
    if (socket.destroyed) return;
    this.wss!.handleUpgrade(req, socket, head, (ws) => this.open(ws, req, entry, handler));
  }

  private open(ws: WebSocket, req: http.IncomingMessage, entry: Entry, handler: WebSocketHandler): void {
    let closing = false;
    entry.close = (why) => {
      if (closing) return void ws.terminate();
      closing = true;
      ws.close(1001, why === 'idle' ? 'idle timeout' : 'server shutting down');
    };
    const fail = (name: string) => (err: unknown) => {
      this.failed(`websocket.${name}`, req, err);
      if (ws.readyState === ws.OPEN) ws.close(1011, 'internal error');
    };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (handler.message) this.call(() => handler.message!(ws, data, isBinary), fail('message'));
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (handler.close) this.call(() => handler.close!(ws, code, reason), (err) => this.failed('websocket.close', req, err));
    });
    ws.on('error', (err) => this.log.debug({ err, url: shown(req.url) }, 'websocket protocol error'));
    if (handler.open) this.call(() => handler.open!(ws, req), fail('open'));
  }

  /** Runs an app handler in the `app` dump phase (captured with -d); a throw or rejection goes to onError. */
  private call(fn: () => unknown, onError: (err: unknown) => void): void {
    let result: unknown;
    try {
      result = this.diagnostics ? this.diagnostics.scope('app', fn) : fn();
    } catch (err) {
      onError(err);
      return;
    }
    if (isThenable(result)) Promise.resolve(result).catch(onError);
  }

  private failed(handler: string, req: http.IncomingMessage, err: unknown): void {
    const coded = new TspumaError('TSPUMA_ERR_UPGRADE_HANDLER', { handler, url: shown(req.url), message: (err as Error)?.message ?? String(err) }, { cause: err });
    this.log.error({ err, code: coded.code, url: shown(req.url) }, urlRedactor.query(coded.message));
    this.diagnostics?.report(err, { phase: 'app', request: req });
  }
}
