// Set by cli.ts (or start()) only when debug is on; read by binder, server, reactor and
// single.ts, which hand failures to it. While it is null the diagnostics layer does not exist.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dump, DumpPhase } from '../diagnostics/model.js';

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
   * Runs fn as the app call for req: throws anywhere in its async work (awaits, timers and
   * promises it starts) are attributed to req.
   */
  call<T>(req: IncomingMessage, res: ServerResponse | null, fn: () => T): T;
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
  /** Stops capturing; prints the exit summary in CI. */
  close(): void;
}

/** The live hook; null when debug is off (the default). */
export let diagnostics: DiagnosticsHook | null = null;

export function installDiagnostics(hook: DiagnosticsHook | null): void {
  diagnostics = hook;
}
