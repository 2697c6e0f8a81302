// The autopsy of a hung worker (one that missed workerTimeout, with an inspector): pauses it and
// writes its stack and requests in flight as a `hang` dump through the sinks, all time-bounded.
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

/** Resolves (never rejects) within opts.timeoutMs, with the dump or null. */
export async function autopsy(
  target: RemoteTarget & { worker: number },
  pid: number,
  seconds: number,
  opts: AutopsyOptions,
  emit: (dump: Dump) => string | null,
  log: Logger,
): Promise<Dump | null> {
  const err = new TspumaError('TSPUMA_ERR_WORKER_TIMEOUT', { index: target.worker, pid, seconds });
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const live = await Promise.race([
      liveStack(target, { timeoutMs: opts.timeoutMs, frames: opts.frames, redact: opts.redact }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TspumaError('TSPUMA_ERR_INSPECT_PAUSE_TIMEOUT', { target: target.title, ms: opts.timeoutMs, hint: 'It is killed without an autopsy.' })), opts.timeoutMs);
      }),
    ]);
    const dump = stackDump(live, 'hang', { name: 'WorkerTimeout', message: err.message, code: err.code, causes: [] }, target.worker);
    const path = emit(dump);
    log.info({ worker: target.worker, pid, ms: Math.round(performance.now() - started), path }, `Autopsy of worker ${target.worker} (PID: ${pid}) written${path ? ` to ${path}` : ''}`);
    return dump;
  } catch (e) {
    log.warn({ worker: target.worker, pid, err: e }, `Autopsy of worker ${target.worker} (PID: ${pid}) failed: ${(e as Error).message}`);
    return null;
  } finally {
    clearTimeout(timer);
  }
}
