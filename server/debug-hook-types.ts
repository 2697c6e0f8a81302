// The diagnostics hook's shape: what the server hands failures to in debug mode (the interface
// every reporting module is given, the context of a report, what a report returns). Types only,
// apart from debug-hook.ts (which loads the diagnostics layer), so diagnostics/ can implement the
// interface without importing the module that imports it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dump, DumpPhase, ResponseCut } from '../diagnostics/model.js';
import type { OnDump } from '../diagnostics/dump-delivery.js';

export interface ReportContext {
  phase: DumpPhase;
  kind?: Dump['kind'];
  request?: IncomingMessage | null;
  /** An earlier snapshot (from snapshot()) to use instead of the capture at the throw. */
  snapshot?: unknown;
  context?: Record<string, unknown>;
  /** The dump's note, where the reporter knows why it has no values (a process.exit call). */
  note?: string;
  /** The requests in the app at the time (an uncaught exception). */
  inFlight?: { method: string; url: string; ms: number }[];
  /** The dump's site key, where the reporter knows it (one site for every requestTimeout). */
  site?: string;
  /** The frames are the reporter's own (tspuma's deadline sweep at a requestTimeout), not the failure's: none is marked the culprit. */
  noCulprit?: boolean;
  /**
   * The failure ends the process (an uncaught exception, the app's process.exit()): dumped even at
   * a site dumped before, never counted as its repeat (a crash by another path than the first
   * dump's, a timer's after a request's 500, is this process's last word), as every hang is.
   */
  final?: boolean;
  /** A promise nobody awaited rejected (rejections.ts): the dump says so (Dump.unhandled). */
  unhandled?: true;
}

export interface Reported {
  readonly dump: Dump;
  readonly text: string;
  /** The .json file written, if any. */
  readonly path: string | null;
  /** Why a new dump was not written (path null, not a repeat): no dump folder, or the coded write failure. */
  readonly problem?: string;
  readonly repeat: boolean;
  /**
   * A repeat whose `dump` was built for this failure (captured anew at a site dumped before, or
   * the first failure here at a site another process dumped): its request is this failure's, its
   * number was never shown. Unset on a repeat counted against the first dump (`dump` is that one).
   */
  readonly own?: true;
  /** A repeat of a site another process of this server dumped first: `path` is that process's file (null when none was written). */
  readonly elsewhere?: true;
}

/**
 * `ctl stats`' debug_capture: each figure read from its one owner: the dumps printed and the
 * repeats counted against them (sinks.ts), the functions muted (capture.ts), the error-storm
 * back-offs and those ended early (error-storm.ts). The exit record's debugCapture has the same.
 */
export interface DebugCaptureStats {
  dumps: number;
  repeats: number;
  muted: number;
  storms: number;
  calmed: number;
}

export interface DiagnosticsHook {
  /** Runs fn with throw-site capture on. */
  scope<T>(phase: DumpPhase, fn: () => T): T;
  /** Capture on until leave(): for work that continues asynchronously (app calls). */
  enter(phase: DumpPhase): void;
  leave(): void;
  /**
   * Makes the app call for req current: throws anywhere in its async work (awaits, timers and
   * promises it starts) are attributed to req. The caller calls the app itself, then leaveCall()
   * in a finally with what this returned: no frame of debug mode sits under the app's (T6).
   */
  enterCall(req: IncomingMessage, res: ServerResponse): unknown;
  leaveCall(before: unknown): void;
  /**
   * req's response closed: a 5xx the app answered itself, after a throw captured in the call (a
   * framework caught it), gets its dump, unless one was already reported for req. `cut`: it was
   * cut after its head (request-lifecycle.ts): an error in its work gets a dump that says so.
   */
  settled(req: IncomingMessage, res: ServerResponse, cut?: ResponseCut): void;
  /** Frames and values of the caller, for failures reported later. */
  snapshot(phase: DumpPhase): unknown;
  /** The process has begun serving (listening, its app loaded): the boot's throws no longer count against the capture rate. */
  serving?(): void;
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
  /** Logs what capture cost this process, once (close() does it if this was not called). */
  reportCost(): void;
  /** The debug_capture figures of `ctl stats`. */
  stats?(): DebugCaptureStats;
}
