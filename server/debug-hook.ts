// The diagnostics hook: what the server hands failures to in debug mode, and the one way to turn
// it on (enableDebug, for the CLI and start() alike). Each module that reports gets the hook
// passed in; null (debug off, the default) means the diagnostics layer is never loaded.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dump, DumpPhase } from '../diagnostics/model.js';
import type { OnDump } from '../diagnostics/dump-delivery.js';

export interface ReportContext {
  phase: DumpPhase;
  kind?: Dump['kind'];
  request?: IncomingMessage | null;
  /** An earlier snapshot (from snapshot()) to use instead of the capture at the throw. */
  snapshot?: unknown;
  context?: Record<string, unknown>;
  /** The requests in the app at the time (an uncaught exception). */
  inFlight?: { method: string; url: string; ms: number }[];
}

export interface Reported {
  readonly dump: Dump;
  readonly text: string;
  /** The .json file written, if any. */
  readonly path: string | null;
  readonly repeat: boolean;
}

export interface DiagnosticsHook {
  /** Runs fn with throw-site capture on. */
  scope<T>(phase: DumpPhase, fn: () => T): T;
  /** Capture on until leave(): for work that continues asynchronously (app calls). */
  enter(phase: DumpPhase): void;
  leave(): void;
  /**
   * Runs fn(req, res) as the app call for req: throws anywhere in its async work (awaits, timers
   * and promises it starts) are attributed to req. (fn takes the pair so no closure is made per call.)
   */
  call<T>(req: IncomingMessage, res: ServerResponse, fn: (req: IncomingMessage, res: ServerResponse) => T): T;
  /**
   * req's response closed: a 5xx the app answered itself, after a throw captured in the call (a
   * framework caught it), gets its dump, unless one was already reported for req.
   */
  settled(req: IncomingMessage, res: ServerResponse): void;
  /** Frames and values of the caller, for failures reported later. */
  snapshot(phase: DumpPhase): unknown;
  /** Builds, redacts and emits a dump for err. */
  report(err: unknown, ctx: ReportContext): Reported;
  /** Emits a dump made elsewhere (live stack, autopsy) through the same sinks. */
  emit(dump: Dump): Reported;
  /** The request whose app call's work runs now (also while V8 is paused in it): probes name their hits' requests with it. */
  currentRequest(): IncomingMessage | null;
  /** The error captured in req's app call that its 5xx answer is for, if any (for its trace span). */
  capturedThrow(req: IncomingMessage): unknown;
  /** Hands each new dump to onDump from now on (null: no more); its failures are logged to log. */
  deliverDumps(onDump: OnDump | null, log: Logger): void;
  /** Stops capturing; prints the exit summary in CI. */
  close(): void;
}

/** What debug mode is built from: the options (or, in the CLI, their raw values before validation). */
export interface DebugSettings {
  /** Dump folder (null: TSPUMA_DUMP_DIR, or ./tspuma-dumps in CI). */
  readonly dir: string | null;
  /** Frames per dump (undefined: the default). */
  readonly frames?: number;
  /** Extra secret-name pattern. */
  readonly redact: string | null;
}

/**
 * Where capture's own failures go: the server's log once there is one (`logOf` returns it),
 * stderr before (the CLI turns debug on before options are resolved, so a bad option gets a dump).
 */
export function internalErrorReporter(logOf: () => Logger | null, write: (text: string) => void = (t) => process.stderr.write(t)): (err: unknown) => void {
  return (err) => {
    const log = logOf();
    if (log) log.error({ err }, 'diagnostics capture failed');
    else write(`tspuma: diagnostics capture failed: ${(err as Error)?.message ?? String(err)}\n`);
  };
}

/** Turns debug mode on: loads the diagnostics layer (only now) and starts capturing. */
export async function enableDebug(settings: DebugSettings, logOf: () => Logger | null): Promise<DiagnosticsHook> {
  const { enableDiagnostics } = await import('../diagnostics/index.js');
  return enableDiagnostics({
    dir: settings.dir,
    ...(settings.frames !== undefined ? { frames: settings.frames } : {}),
    redact: settings.redact,
    onInternalError: internalErrorReporter(logOf),
  });
}
