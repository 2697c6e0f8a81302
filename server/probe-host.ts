// The serving process's side of probes (a cluster worker, or the single-mode process): takes the
// primary's probe-set and probe-rm messages one at a time, loads the probe engine
// (inspector/probes.ts) with the first probe and closes it with the last, so a process with no
// probe set runs none of their code; and switches the per-app-call request record on while it is
// loaded (server/app-calls.ts).
import type { Logger } from 'pino';
import type { AppCalls } from './app-calls.js';
import type { PrimaryMessage, WorkerMessage } from './cluster/messages.js';
import type { Options } from './options.js';
import type { ProbeEngine } from '../inspector/probes.js';
import { ownWork, ownWorkAsync } from './own-work.js';
import { relative } from 'node:path';

export interface ProbeHost {
  /** A probe-set, probe-rm or probe-flush message (others are ignored). */
  handle(message: PrimaryMessage): void;
  /** Closes the engine (at stop): its resumer thread's session would make Node wait at exit. */
  close(): Promise<void>;
}

/**
 * How long a process with no probe keeps its probe session for guards still in the app's code: a
 * removed probe's, restored a few seconds after the removal (inspector/probe-live-edit.ts
 * RESTORE_AFTER_MS), then each second while V8 refuses.
 */
const UNEDIT_WAIT_MS = 10 * 60_000;

export function probeHost(options: Options, log: Logger, index: number, appCalls: AppCalls, send: (message: WorkerMessage) => void): ProbeHost {
  let engine: ProbeEngine | null = null;
  // One message at a time: the engine starts (its resumer thread) before the first is handled.
  let queue = Promise.resolve();
  let waiting: NodeJS.Timeout | null = null;
  /** Closes the engine when it has no probe and no pending un-edit (checked each second until `deadline`). */
  const closeWhenDone = (deadline: number): void => {
    if (waiting) clearTimeout(waiting);
    waiting = null;
    queue = queue.then(async () => {
      if (!engine || engine.size > 0) return;
      if (engine.editsPending) {
        if (Date.now() < deadline) {
          waiting = setTimeout(() => closeWhenDone(deadline), 1000).unref();
          return;
        }
        log.warn(`Probes: a removed probe's guard is still in the app's code in this process (PID: ${process.pid}) after ${UNEDIT_WAIT_MS / 60_000} min (V8 refuses the edit while its function runs or waits at an await); its gate answers no, and a restart gives the code back`);
      }
      const closing = ownWork('closing probes (the inspector session)', () => engine!.close());
      engine = null;
      await closing;
    });
  };
  return {
    handle(m) {
      if (m.type === 'probe-flush') {
        // Answered at once, engine or not (no engine yet: nothing counted here).
        if (engine) engine.flush(m.seq);
        else send({ tspuma: 1, type: 'probe-hits', index, hits: [], flushed: m.seq });
        return;
      }
      if (m.type !== 'probe-set' && m.type !== 'probe-rm') return;
      queue = queue
        .then(async () => {
          if (!engine && m.type === 'probe-rm') return;
          engine ??= await ownWorkAsync('starting probes (the inspector session)', async () => (await import('../inspector/probes.js')).ProbeEngine.start({
            worker: index, log, send, redact: options.redact, frames: options.dumpFrames, dumpDir: options.dumpDir, budgetMs: options.probePauseBudget,
            // Resumed with two check-ins, or a quarter of workerTimeout, to spare (whichever is more):
            // a loaded machine runs the first check-in after the resume late (a full test run at a
            // load of 17 saw workerTimeout 12 s, 1 s check-ins and a 10 s hold kill the worker).
            holdMs: Math.max(1, options.workerTimeout - Math.max(2 * options.workerCheckInterval, options.workerTimeout / 4)) * 1000,
            requestNow: () => appCalls.current(),
            requestUntracked: () => appCalls.untracked(),
            devtools: options.inspect !== null,
            liveEdit: options.probeLiveEdit,
          }));
          // From now on each app call records its request, for hits where no frame holds it.
          appCalls.track(true);
          const started = engine;
          ownWork(m.type === 'probe-set' ? `setting probe ${m.probe.id} at ${relative(process.cwd(), m.probe.file)}:${m.probe.line}` : `removing probe ${m.id}`, () => started.handle(m));
          // The last probe gone: the session, its breakpoints and the resumer thread go too, once
          // the removed probes' guards are out of the app's code (a few seconds later, or more
          // while V8 refuses: a function waiting at an await).
          if (engine.size === 0) {
            appCalls.track(false);
            closeWhenDone(Date.now() + UNEDIT_WAIT_MS);
          }
        })
        .catch((err: Error) => log.error({ err }, `Probes cannot start here (PID: ${process.pid}): ${err.message}`));
    },
    close() {
      if (waiting) clearTimeout(waiting);
      return (queue = queue.then(async () => {
        // The process stops: guards left in the app's code go with it (no edit).
        const closing = engine?.close(true);
        engine = null;
        await closing;
      }));
    },
  };
}
