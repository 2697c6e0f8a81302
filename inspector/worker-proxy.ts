// The WebSocket proxy from a DevTools client (through discovery) to a worker's own inspector,
// message by message: each client command goes on as sent, except evaluations, which run silent
// (bridge.ts's quietEvaluation), so a console typo never pauses a worker, whoever asked for pauses
// on exceptions. Answers and events come back as they are. The client's breakpoints and steps are
// written into the worker as they change (probe-devtools.ts), so a probe leaves its pauses to it.
// A heap snapshot a client asks for is reported as it goes (start, the worker's progress, end): it
// blocks the worker for as long as it takes, and the primary must not take that for a hang.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { upgradeServer, wsPackage, type RawData, type WebSocket, type WebSocketServer } from './ws.js';
import { keptFromClient, quietEvaluation } from './bridge.js';
import { ClientWatch, fromClient, fromProcess } from './probe-devtools.js';
import { ClientWorkWatch, answerId, workCommand } from './client-work.js';
import type { ClientWorkReport } from '../server/own-work.js';

const MAX_PAYLOAD = 256 * 1024 * 1024;

/** A heap snapshot through the proxy: begun, the worker still sending (progress, chunks), over. */
export type SnapshotState = 'start' | 'progress' | 'end';
export type SnapshotListener = (pid: number, state: SnapshotState) => void;
/** Told of what a client has process `pid` do that its blocked-loop warning names (client-work.ts). */
export type ClientWorkListener = (pid: number, work: ClientWorkReport) => void;
/** The worker's messages during a snapshot are reported at most this often. */
const PROGRESS_EVERY_MS = 250;

/** The id of a client's `HeapProfiler.takeHeapSnapshot` command, else null (the text is parsed only when it names it). */
export function snapshotCommand(text: string): number | null {
  if (!text.includes('"HeapProfiler.takeHeapSnapshot"')) return null;
  try {
    const m = JSON.parse(text) as { id?: unknown; method?: unknown };
    return m.method === 'HeapProfiler.takeHeapSnapshot' && typeof m.id === 'number' ? m.id : null;
  } catch {
    return null;
  }
}

/** The id of a client's command the worker's inspector must not get (keptFromClient), else null. */
export function keptCommand(text: string, capture: boolean): number | null {
  if (!capture || !text.includes('"Debugger.setPauseOnExceptions"')) return null;
  try {
    const m = JSON.parse(text) as { id?: unknown; method?: unknown };
    return typeof m.id === 'number' && typeof m.method === 'string' && keptFromClient(m.method, capture) ? m.id : null;
  } catch {
    return null;
  }
}

/** A client's message with its evaluation made silent; anything that is not a command passes unchanged. */
export function quietMessage(text: string): string {
  if (!text.includes('"Runtime.')) return text;
  try {
    const m = JSON.parse(text) as { method?: unknown; params?: unknown };
    if (typeof m.method !== 'string' || (m.params !== undefined && (typeof m.params !== 'object' || m.params === null))) return text;
    const params = (m.params as object | undefined) ?? {};
    const quiet = quietEvaluation(m.method, params);
    return quiet === params ? text : JSON.stringify({ ...m, params: quiet });
  } catch {
    return text; // the inspector answers a malformed message itself
  }
}

export class WorkerProxy {
  /** Made at the first client's upgrade (ws.ts). */
  private wss: WebSocketServer | null = null;
  private readonly open = new Set<WebSocket>();

  constructor(
    private readonly log: { debug(obj: Record<string, unknown>, msg: string): void },
    /** Debug mode captures at throws in every worker: clients keep off their pause-on-exceptions state (bridge.ts keptFromClient). */
    private readonly capture = false,
    /** Told of each heap snapshot's course, by the worker's pid. */
    private readonly onSnapshot: SnapshotListener | null = null,
    /** Told of a client's heap snapshots and long evaluations, by the worker's pid. */
    private readonly onWork: ClientWorkListener | null = null,
  ) {}

  /** Completes the client's handshake (discovery has checked Host, Origin and the target) and connects it to `upstream`. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, upstream: string, target: string, pid = 0): void {
    (this.wss ??= upgradeServer(MAX_PAYLOAD)).handleUpgrade(req, socket, head, (client) => {
      const server = new (wsPackage())(upstream, { perMessageDeflate: false, maxPayload: MAX_PAYLOAD });
      this.open.add(client);
      const waiting: string[] = [];
      let injected = 0;
      const toServer = (text: string) => {
        if (server.readyState === server.OPEN) server.send(text);
        else waiting.push(text);
      };
      const watch = new ClientWatch((expression) => toServer(JSON.stringify({ id: -++injected, method: 'Runtime.evaluate', params: { expression, silent: true } })));
      // The client's heap snapshot under way: its command's id (its answer ends it), the last progress reported.
      let snapshot: { answer: string; reportedAt: number } | null = null;
      const snapshotOver = () => {
        if (snapshot === null) return;
        snapshot = null;
        this.onSnapshot?.(pid, 'end');
      };
      const work = new ClientWorkWatch((report) => this.onWork?.(pid, report));
      const close = (code: number, reason: string) => {
        snapshotOver();
        work.closed();
        if (server.readyState === server.OPEN) watch.closed();
        this.open.delete(client);
        if (client.readyState === client.OPEN || client.readyState === client.CONNECTING) client.close(code, reason);
        if (server.readyState === server.OPEN) server.close();
        else if (server.readyState === server.CONNECTING) server.terminate();
      };
      client.on('message', (data: RawData) => {
        const kept = keptCommand(data.toString(), this.capture);
        if (kept !== null) return void client.send(JSON.stringify({ id: kept, result: {} }));
        fromClient(watch, data.toString());
        const followed = this.onWork !== null ? workCommand(data.toString()) : null;
        if (followed) work.command(followed.id, followed.method);
        if (this.onSnapshot !== null && snapshot === null) {
          const id = snapshotCommand(data.toString());
          if (id !== null) {
            snapshot = { answer: `{"id":${id},`, reportedAt: Date.now() };
            this.onSnapshot(pid, 'start');
          }
        }
        toServer(quietMessage(data.toString()));
      });
      server.on('open', () => {
        for (const text of waiting.splice(0)) server.send(text);
      });
      server.on('message', (data: RawData, isBinary: boolean) => {
        const head = Buffer.isBuffer(data) ? data.toString('utf8', 0, 64) : '';
        if (work.waiting) {
          const id = answerId(head);
          if (id !== null) work.answered(id);
        }
        if (snapshot !== null) {
          // Progress events and chunks come while the worker's thread is in the snapshot; its answer ends it.
          if (head.startsWith(snapshot.answer)) snapshotOver();
          else if (Date.now() - snapshot.reportedAt >= PROGRESS_EVERY_MS) {
            snapshot.reportedAt = Date.now();
            this.onSnapshot?.(pid, 'progress');
          }
        }
        if (!isBinary && fromProcess(watch, head, () => data.toString()) === 'drop') return;
        if (client.readyState === client.OPEN) client.send(data, { binary: isBinary });
      });
      server.on('close', () => close(1001, 'the worker closed its inspector'));
      server.on('error', (err) => {
        this.log.debug({ err, target }, 'inspector proxy: upstream error');
        close(1011, `cannot reach ${target}: ${err.message}`);
      });
      client.on('close', () => close(1000, ''));
      client.on('error', (err) => {
        this.log.debug({ err, target }, 'inspector proxy: client socket error');
        close(1011, '');
      });
    });
  }

  close(): void {
    for (const c of this.open) c.terminate();
    this.wss?.close();
  }
}
