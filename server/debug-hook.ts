// The diagnostics hook (its interface in debug-hook-types.ts): the one way to turn debug mode
// on (enableDebug, for the CLI and start() alike). Each module that reports gets the hook
// passed in; null (debug off, the default) means the diagnostics layer is never loaded.
import type { Logger } from 'pino';
import type { DiagnosticsHook } from './debug-hook-types.js';

export type { DebugCaptureStats, DiagnosticsHook, ReportContext, Reported } from './debug-hook-types.js';

/** What debug mode is built from: the options (or, in the CLI, their raw values before validation). */
export interface DebugSettings {
  /** Dump folder (null: TSPUMA_DUMP_DIR, or ./tspuma-dumps in CI). */
  readonly dir: string | null;
  /** Where dir was set ("TSPUMA_DUMP_DIR in environment"), for the warning when it cannot be used. */
  readonly dirSource?: string;
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
    ...(settings.dirSource !== undefined ? { dirSource: settings.dirSource } : {}),
    ...(settings.frames !== undefined ? { frames: settings.frames } : {}),
    redact: settings.redact,
    onInternalError: internalErrorReporter(logOf),
  });
}
