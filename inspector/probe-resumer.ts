// Why probes may need a second thread in a worker: Node keeps a paused thread in its pause loop
// while any session from outside the thread is attached (DevTools, chrome-remote-interface),
// and a resume asked for by an in-process session during the pause is then lost: the worker
// would stay stopped at a logpoint until the DevTools user pressed resume. So in a process such a
// session can reach (--inspect, discovery's bridge, an inspector the app opened), a thread with
// its own session (probe-resume-thread.ts) carries out every resume an in-process session asked
// for (probes, and debug mode's capture at throws), once their handlers have returned: the loop
// then always runs, and always ends with that resume. That session is itself one from outside the
// thread: with it, every pause waits for the thread to get a CPU and answer, and V8 builds each
// pause's call frames twice (once per session; about 30 µs a frame at a load of 15). A process
// nothing can attach to has no such thread, and its pauses are resumed in-process at once
// (inspector/probes.ts; bench/README.md "Session 8").
import inspector from 'node:inspector';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { kProbesAttachable, kResumeRequested } from '../server/shared-names.js';

export interface Resumer {
  /** Whether the thread hears pauses now (its session enabled): from then on each must be claimed (request). */
  live(): boolean;
  /**
   * Asks for the current pause to be resumed (call last in a Debugger.paused handler): at once,
   * or, once the thread is live, for a pause left to a debugger, after holdMs unless the debugger
   * resumes it first.
   */
  request(holdMs?: number): void;
  /** Ends the thread; resolves once it is gone (its session with it). */
  close(): Promise<void>;
}

/**
 * Starts the thread. `resumer` may be used at once (a pause is claimed only once the thread is
 * live); `ready` resolves once its session listens, so no pause goes unanswered from then on.
 */
export function spawnResumer(): { resumer: Resumer; ready: Promise<void> } {
  const shared = new SharedArrayBuffer(12);
  const counter = new Int32Array(shared);
  const worker = new Worker(new URL('./probe-resume-thread.js', import.meta.url), { workerData: { shared }, execArgv: [], stdout: false, stderr: false, name: 'tspuma probe resumer' });
  const g = globalThis as Record<symbol, unknown>;
  const live = () => Atomics.load(counter, 2) === 1;
  /**
   * The handler of the current pause is done: resume it now, or after holdMs unless a debugger
   * does. Counted while the thread starts too: once its session has connected, Node drops the
   * in-process resume and waits in its pause loop for one from the thread, which carries out the
   * claims made since it started as soon as it hears pauses (a pause in that window never ended).
   */
  const request = (holdMs = 0) => {
    Atomics.store(counter, 1, live() ? Math.max(0, Math.round(holdMs)) : 0);
    Atomics.add(counter, 0, 1);
    Atomics.notify(counter, 0);
  };
  // Debug mode's capture (diagnostics/capture.ts) claims its pauses through this too.
  g[kResumeRequested] = () => request();
  const resumer: Resumer = {
    request,
    live,
    close: async () => {
      if (g[kResumeRequested] !== undefined) delete g[kResumeRequested];
      await worker.terminate();
    },
  };
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', () => {
      worker.unref(); // never what keeps the process alive
      resolve();
    });
  });
  return { resumer, ready };
}

/** Starts the thread; resolves once its session listens, so no pause goes unanswered. */
export async function startResumer(): Promise<Resumer> {
  const { resumer, ready } = spawnResumer();
  try {
    await ready;
  } catch (err) {
    await resumer.close().catch(() => undefined);
    throw err;
  }
  return resumer;
}

/**
 * How the probe engine's pauses are resumed in this process: in-process alone while nothing from
 * outside the thread can attach; through the resumer thread once something can (started with the
 * engine where --inspect or discovery's bridge made the process attachable before, else when it
 * becomes so: attachable(), or an inspector the app opened, seen at a pause).
 */
export class Resumption {
  /** The process could be attached from outside (kept for the next engine when this one closes). */
  private attachableSeen: boolean;
  private closed = false;

  private constructor(
    private resumer: Resumer | null,
    private readonly log: Logger,
  ) {
    const g = globalThis as Record<symbol, unknown>;
    this.attachableSeen = g[kProbesAttachable] === true || resumer !== null;
    g[kProbesAttachable] = this.onAttachable;
  }

  /** Starts it, with the thread first where a session from outside the thread can reach the process now (`devtools`: --inspect). */
  static async start(devtools: boolean, log: Logger): Promise<Resumption> {
    const attachable = devtools || inspector.url() !== undefined || (globalThis as Record<symbol, unknown>)[kProbesAttachable] === true;
    return new Resumption(attachable ? await startResumer() : null, log);
  }

  /** The resumer thread: none (pauses resumed in-process), starting, or live (it resumes every pause). */
  get thread(): 'none' | 'starting' | 'live' {
    return this.resumer === null ? 'none' : this.resumer.live() ? 'live' : 'starting';
  }

  /** The thread, when it listens: a pause can be left to a debugger (a hold) only through it. */
  holder(): Resumer | null {
    return this.resumer?.live() ? this.resumer : null;
  }

  /** The process became attachable while probes run: the resumer thread starts (once). */
  private readonly onAttachable = (): void => {
    this.attachableSeen = true;
    this.startLater('the process can be attached from outside now');
  };

  private startLater(why: string): void {
    if (this.resumer !== null || this.closed) return;
    const { resumer, ready } = spawnResumer();
    this.resumer = resumer;
    ready.then(
      () => this.log.debug(`Probes: ${why}: pauses are resumed by the resumer thread from now on`),
      (err: Error) => {
        this.log.warn({ err }, `Probes: ${why}, and the resumer thread did not start (${err.message}): a DevTools client attached here would hold every probe's pause until it resumes`);
        if (this.resumer === resumer) this.resumer = null;
        void resumer.close().catch(() => undefined);
      },
    );
  }

  /** Resumes the pause being handled (`inProcess`: the session's Debugger.resume), and through the thread once it listens: the last thing a handler does. */
  resume(inProcess: () => void): void {
    try {
      inProcess();
    } catch (err) {
      this.log.error({ err }, `Probe: cannot resume: ${(err as Error).message}`);
    }
    // An inspector the app opened itself (inspector.open()) can bring an outside client too.
    if (this.resumer === null && inspector.url() !== undefined) {
      this.attachableSeen = true;
      this.startLater('an inspector was opened in this process');
    }
    // Node waits for the resume from the resumer thread once it listens.
    this.resumer?.request();
  }

  /** Ends the thread, if any; the process's attachability stays known to the next engine. */
  close(): Promise<void> {
    this.closed = true;
    const g = globalThis as Record<symbol, unknown>;
    if (g[kProbesAttachable] === this.onAttachable) {
      if (this.attachableSeen) g[kProbesAttachable] = true;
      else delete g[kProbesAttachable];
    }
    return this.resumer?.close() ?? Promise.resolve();
  }
}
