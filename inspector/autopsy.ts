// The autopsy of a hung worker (one that missed workerTimeout, with an inspector): pauses it and
// writes its stack and requests in flight as a `hang` dump through the sinks, all time-bounded. A
// worker a DevTools client holds paused is said to be "paused in a debugger", not hung.
import { availableParallelism, loadavg } from 'node:os';
import type { Logger } from 'pino';
import type { Dump } from '../diagnostics/model.js';
import { TspumaError } from '../server/errors.js';
import { liveStack, stackDump, type RemoteTarget } from './remote.js';

export interface AutopsyOptions {
  /** Whole autopsy bound; the worker is killed after it whatever happened. */
  timeoutMs: number;
  frames: number;
  redact: string | null;
}

/** The error name of an autopsy that found the worker paused by a DevTools client, not hung. */
export const PAUSED_IN_DEBUGGER = 'WorkerPausedInDebugger';

/** Whether an autopsy's dump says the worker is paused in a debugger (the primary then spares it). */
export function pausedInDebugger(dump: unknown): boolean {
  return (dump as Dump | null)?.error?.name === PAUSED_IN_DEBUGGER;
}

/** Where an emitted dump went: its .json file, or why it has none (its text is on stderr all the same). */
export interface Emitted {
  path: string | null;
  problem?: string;
}

/**
 * The line after an autopsy: where its dump went (a file, or stderr only and why: T9 read "written"
 * with no file when the folder was full), and, for a worker found paused by a DevTools client, so.
 */
export function autopsyLine(worker: number, pid: number, emitted: Emitted, paused: string | null): string {
  const where = emitted.path ? `written to ${emitted.path}` : `not written to a file (${emitted.problem ?? 'no file'}): its [hang] dump is on stderr`;
  return `Autopsy of worker ${worker} (PID: ${pid}) ${where}${paused ? `; ${paused}, not hung` : ''}`;
}

/**
 * The hint of an autopsy whose pause timed out: on a machine loaded beyond its CPUs (the load a
 * spinning worker adds to), the pause itself can take longer than the bound (review19.4).
 */
export function pauseTimeoutHint(timeoutMs: number, load = loadavg()[0]!, cpus = availableParallelism()): string {
  const killed = 'It is killed without an autopsy.';
  if (!(load > cpus)) return killed;
  return `${killed} The load average is ${load.toFixed(1)} on ${cpus} CPU(s), so the pause may take longer than ${timeoutMs / 1000} s: raise workerAutopsyTimeout.`;
}

/** Resolves (never rejects) within opts.timeoutMs, with the dump or null. */
export async function autopsy(
  target: RemoteTarget & { worker: number },
  pid: number,
  /** Why it is about to be killed: TSPUMA_ERR_WORKER_TIMEOUT, or TSPUMA_ERR_WORKER_SHUTDOWN_TIMEOUT at a stop. */
  err: TspumaError,
  opts: AutopsyOptions,
  emit: (dump: Dump) => Emitted,
  log: Logger,
): Promise<Dump | null> {
  const hung = err.code === 'TSPUMA_ERR_WORKER_TIMEOUT';
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const live = await Promise.race([
      liveStack(target, { timeoutMs: opts.timeoutMs, frames: opts.frames, redact: opts.redact }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TspumaError('TSPUMA_ERR_INSPECT_PAUSE_TIMEOUT', { target: target.title, ms: opts.timeoutMs, hint: pauseTimeoutHint(opts.timeoutMs) })), opts.timeoutMs);
      }),
    ]);
    // A worker a DevTools client holds paused (a breakpoint) missed its check-ins without being
    // hung; at a stop it is killed all the same (the stop's deadline is the service manager's too).
    const paused = `Worker ${target.worker} (PID: ${pid}) is paused in a debugger (a DevTools client holds it, reason "${live.pausedInDebugger}")`;
    const error = !live.pausedInDebugger
      ? { name: hung ? 'WorkerTimeout' : 'WorkerShutdownTimeout', message: err.message, code: err.code, causes: [] }
      : hung
        ? { name: PAUSED_IN_DEBUGGER, message: `${paused}: it missed its check-ins for ${String(err.params.seconds)} s without being hung, and is left paused for that client`, code: null, causes: [] }
        : { name: 'WorkerShutdownTimeout', message: `${err.message}; ${paused}`, code: err.code, causes: [] };
    const dump = stackDump(live, 'hang', error, target.worker);
    const emitted = emit(dump);
    const held = live.pausedInDebugger ? `it was paused in a debugger (a DevTools client held it, reason "${live.pausedInDebugger}")` : null;
    log.info(
      { worker: target.worker, workerPid: pid, ms: Math.round(performance.now() - started), path: emitted.path, ...(emitted.problem ? { problem: emitted.problem } : {}), ...(live.pausedInDebugger ? { pausedInDebugger: live.pausedInDebugger } : {}) },
      autopsyLine(target.worker, pid, emitted, held),
    );
    return dump;
  } catch (e) {
    log.warn({ worker: target.worker, workerPid: pid, err: e }, `Autopsy of worker ${target.worker} (PID: ${pid}) failed: ${(e as Error).message}`);
    return null;
  } finally {
    clearTimeout(timer);
  }
}
