// The DevTools target of the process discovery runs in (the single process or the cluster
// primary): each WebSocket client gets its own node:inspector session to the main thread, and
// the Chrome DevTools Protocol messages go through it both ways. No inspector port is opened, so
// Node prints no "Debugger listening" line; the main thread pausing does not stop this thread.
// The client's breakpoints and steps are written into the main thread as they change
// (probe-devtools.ts), so a probe there leaves its pauses to it.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { upgradeServer, type RawData, type WebSocket, type WebSocketServer } from './ws.js';
import { ClientWatch } from './probe-devtools.js';
import { ClientWorkWatch } from './client-work.js';
import type { ClientWorkReport } from '../server/own-work.js';

/** The part of a node:inspector Session the bridge uses (connected to the main thread). */
export interface BridgeSession {
  post(method: string, params: object, callback: (err: Error | null, result?: object) => void): void;
  on(event: 'inspectorNotification', listener: (message: { method: string; params?: object }) => void): void;
  disconnect(): void;
}

/** A protocol error as DevTools expects it: the inspector's own code and message when known. */
export function protocolError(err: Error): { code: number; message: string } {
  // node:inspector reports the inspector's {code, message} as "Inspector error CODE: MESSAGE".
  const parsed = /^Inspector error (-?\d+): ([\s\S]*)$/.exec(err.message);
  if (parsed) return { code: Number(parsed[1]), message: parsed[2]! };
  return { code: -32000, message: err.message };
}

/** What a client sent, checked: a command to post, or the error to answer. */
export function parseCommand(data: string): { id: number; method: string; params: object } | { id: number; error: { code: number; message: string } } {
  let msg: unknown;
  try {
    msg = JSON.parse(data);
  } catch {
    return { id: 0, error: { code: -32700, message: 'Message must be a valid JSON' } };
  }
  const m = (msg ?? {}) as { id?: unknown; method?: unknown; params?: unknown };
  if (typeof m.id !== 'number' || !Number.isInteger(m.id)) return { id: 0, error: { code: -32600, message: 'Message must have integer \'id\' property' } };
  if (typeof m.method !== 'string') return { id: m.id, error: { code: -32600, message: 'Message must have string \'method\' property' } };
  if (m.params !== undefined && (typeof m.params !== 'object' || m.params === null || Array.isArray(m.params))) {
    return { id: m.id, error: { code: -32602, message: 'Invalid parameters: \'params\' must be an object' } };
  }
  return { id: m.id, method: m.method, params: (m.params as object | undefined) ?? {} };
}

/** Commands that run a client's code (the console, watch expressions, hover previews, completions). */
const EVALUATIONS = new Set(['Runtime.evaluate', 'Runtime.callFunctionOn', 'Runtime.runScript']);

/**
 * A client's evaluation runs silent: a throw in it (a console typo) is answered as the
 * evaluation's exception and never pauses the process, whoever asked for pauses on exceptions
 * (debug mode's capture, or the client itself). Node loses the answer to an evaluation from a
 * session connected to the main thread when a pause interrupts it, so the process would wait
 * for a reply that never comes.
 */
export function quietEvaluation(method: string, params: object): object {
  return EVALUATIONS.has(method) ? { ...params, silent: true } : params;
}

/**
 * Commands a client may not send to a process whose debug mode captures at throws: its
 * pause-on-exceptions state, which V8 keeps once for all sessions (the last setter wins), so
 * DevTools' `setPauseOnExceptions({state: 'none'})` at opening would take every dump's values
 * away. Answered as done, not passed on: the client still sees capture's pauses, each resumed at
 * once (DEBUGGING.md, "Pause on exceptions in DevTools, with -d").
 */
export function keptFromClient(method: string, capture: boolean): boolean {
  return capture && method === 'Debugger.setPauseOnExceptions';
}

export interface BridgeLog {
  debug(obj: Record<string, unknown>, msg: string): void;
}

export class MainThreadBridge {
  /** Made at the first client's upgrade (ws.ts): a thread no client attaches to never loads ws. */
  private wss: WebSocketServer | null = null;
  /** Clients attached now, each with what ends its session, for close() and release(). */
  private readonly clients = new Map<WebSocket, () => void>();
  /** Clients whose session last saw the main thread pause (and not resume). */
  private readonly pausing = new Set<WebSocket>();

  constructor(
    private readonly connect: () => BridgeSession,
    private readonly log: BridgeLog,
    /** Debug mode captures at throws in the main thread: clients keep off its pause-on-exceptions state. */
    private readonly capture = false,
    /** Told of a client's heap snapshots and long evaluations in the main thread (its blocked-loop warning names them). */
    private readonly onWork: ((work: ClientWorkReport) => void) | null = null,
  ) {}

  /** Completes the handshake of an upgrade discovery has already checked (Host, Origin, target). */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, target: string): void {
    (this.wss ??= upgradeServer(256 * 1024 * 1024)).handleUpgrade(req, socket, head, (ws) => this.serve(ws, target));
  }

  private serve(ws: WebSocket, target: string): void {
    let session: BridgeSession;
    try {
      session = this.connect();
    } catch (err) {
      this.log.debug({ err, target }, 'inspector bridge: cannot connect to the main thread');
      ws.close(1011, 'cannot connect to the main thread');
      return;
    }
    const send = (message: object) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    };
    let gone = false;
    const work = new ClientWorkWatch((report) => this.onWork?.(report));
    const watch = new ClientWatch((expression) => {
      if (gone) return;
      try {
        session.post('Runtime.evaluate', { expression, silent: true }, (err, r) => watch.injected(!gone && (err !== null || (r as { exceptionDetails?: unknown } | undefined)?.exceptionDetails !== undefined)));
      } catch {
        /* the session is gone */
      }
    });
    session.on('inspectorNotification', (n) => {
      watch.event(n.method, n.params);
      if (n.method === 'Debugger.paused') this.pausing.add(ws);
      else if (n.method === 'Debugger.resumed') this.pausing.delete(ws);
      send({ method: n.method, params: n.params ?? {} });
    });
    // Node prints "Waiting for the debugger to disconnect..." when the process exits with a
    // session attached, unless a session asked for this notification instead.
    session.post('NodeRuntime.notifyWhenWaitingForDisconnect', { enabled: true }, () => undefined);
    ws.on('message', (data: RawData) => {
      // ws still emits what arrives while the connection closes: after leave() the session is
      // ended, and a post on it would throw here, ending this thread (a release() while the
      // client's next command was on its way).
      if (gone) return;
      const command = parseCommand(data.toString());
      if ('error' in command) return send(command);
      if (keptFromClient(command.method, this.capture)) return send({ id: command.id, result: {} });
      watch.command(command.id, command.method, command.params as Record<string, unknown>);
      if (this.onWork !== null) work.command(command.id, command.method, command.params);
      session.post(command.method, quietEvaluation(command.method, command.params), (err, result) => {
        work.answered(command.id);
        watch.answer(command.id, err ? undefined : result);
        send(err ? { id: command.id, error: protocolError(err) } : { id: command.id, result: result ?? {} });
      });
    });
    const leave = () => {
      if (gone) return;
      work.closed();
      watch.closed();
      gone = true;
      this.clients.delete(ws);
      this.pausing.delete(ws);
      // Disconnecting resumes a main thread this client left paused (as Node does for its own clients).
      session.disconnect();
    };
    this.clients.set(ws, leave);
    ws.on('close', leave);
    ws.on('error', (err) => {
      this.log.debug({ err, target }, 'inspector bridge: client socket error');
      leave();
    });
  }

  /**
   * When a client holds the main thread paused, closes every client (1001, with `reason`):
   * their sessions disconnect, which resumes the main thread and drops their breakpoints, so what
   * was waiting on it (a stop signal's handler) runs. Returns how many clients were closed.
   */
  release(reason: string): number {
    if (this.pausing.size === 0) return 0;
    const count = this.clients.size;
    for (const [ws, leave] of this.clients) {
      ws.close(1001, reason);
      leave(); // now, not after the client's closing handshake
    }
    return count;
  }

  close(): void {
    for (const ws of this.clients.keys()) ws.terminate();
    this.wss?.close();
  }
}
