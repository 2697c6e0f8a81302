// Why probes need a second thread in each worker: Node keeps a paused thread in its pause loop
// while any session from outside the thread is attached (DevTools, chrome-remote-interface),
// and a resume asked for by an in-process session during the pause is then lost: the worker
// would stay stopped at a logpoint until the DevTools user pressed resume. So once probes run, a
// thread with its own session (probe-resume-thread.ts) carries out every resume an in-process
// session asked for (probes, and debug mode's capture at throws), once their handlers have
// returned: the loop then always runs, and always ends with that resume.
import { Worker } from 'node:worker_threads';
import { kResumeRequested } from '../server/shared-names.js';

export interface Resumer {
  /**
   * Asks for the current pause to be resumed (call last in a Debugger.paused handler): at once,
   * or, for a pause left to a debugger, after holdMs unless the debugger resumes it first.
   */
  request(holdMs?: number): void;
  /** Ends the thread; resolves once it is gone (its session with it). */
  close(): Promise<void>;
}

/** Starts the thread; resolves once its session listens, so no pause goes unanswered. */
export function startResumer(): Promise<Resumer> {
  const shared = new SharedArrayBuffer(8);
  const counter = new Int32Array(shared);
  const worker = new Worker(new URL('./probe-resume-thread.js', import.meta.url), { workerData: { shared }, execArgv: [], stdout: false, stderr: false, name: 'tspuma probe resumer' });
  const g = globalThis as Record<symbol, unknown>;
  /** The handler of the current pause is done: resume it now, or after holdMs unless a debugger does. */
  const request = (holdMs = 0) => {
    Atomics.store(counter, 1, Math.max(0, Math.round(holdMs)));
    Atomics.add(counter, 0, 1);
    Atomics.notify(counter, 0);
  };
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', () => {
      worker.unref(); // never what keeps the process alive
      g[kResumeRequested] = () => request();
      resolve({
        request,
        close: async () => {
          delete g[kResumeRequested];
          await worker.terminate();
        },
      });
    });
  });
}
