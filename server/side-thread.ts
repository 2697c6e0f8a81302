// One helper thread per process for the work that must go on while the main thread cannot run
// (held paused by a debugger, or in a loop that never yields): debug mode's pause rescuer
// (inspector/pause-rescuer.ts) and a cluster worker's primary watch (cluster/primary-watch.ts).
// Each is a duty: a module whose `runDuty(data)` the thread calls (importing it when first asked)
// and whose returned function stops it. A thread costs 25-35 ms of CPU to start (bench/README,
// "bench:boot"); a -d worker, which needs both, starts one instead of two, and a process that runs
// inspector discovery's thread (single mode or the primary, with --inspect or -d) has its duties
// run there (hostDuties), starting none. The thread never keeps the process alive, and a thread
// that fails leaves the main thread's own work as it was.
import { Worker } from 'node:worker_threads';

/** Main thread -> side thread. */
export type ToSideThread = { type: 'start'; id: number; module: string; data: unknown } | { type: 'stop'; id: number };

/** What a duty's module exports. */
export interface DutyModule<T> {
  /** Starts the duty in the side thread; returns what stops it. */
  runDuty(data: T): () => void;
}

export interface Duty {
  /** Stops the duty; the thread ends (resolved once it has) when no other duty runs in it (a hosting thread stays). */
  stop(): Promise<void>;
}

let thread: Worker | null = null;
/** `thread` is another module's thread (hostDuties): never terminated here. */
let hosted = false;
let nextId = 1;
/** Duties started in `thread` and not stopped. */
const running = new Set<number>();

/**
 * Makes `worker` (a thread that serves duties: side-thread-duties.ts) the process's side thread
 * when none runs yet: duties started from now on run in it, until it exits. Its owner ends it.
 */
export function hostDuties(worker: Worker): void {
  if (thread) return;
  thread = worker;
  hosted = true;
  worker.once('exit', () => {
    if (thread !== worker) return;
    thread = null;
    hosted = false;
    running.clear();
  });
}

function spawn(): Worker {
  const worker = new Worker(new URL('./side-thread-entry.js', import.meta.url), { execArgv: [], stdout: false, stderr: false, name: 'tspuma side thread' });
  worker.unref(); // never what keeps the process alive
  worker.on('error', () => {
    // Its duties are gone with it; a duty started later gets a new thread.
    if (thread !== worker) return;
    thread = null;
    running.clear();
  });
  return worker;
}

/**
 * Starts `module`'s duty (a URL of a module with a runDuty export) in the process's side thread,
 * starting the thread if none runs. `data` is posted (a SharedArrayBuffer in it is shared).
 * Returns null when no thread can be started.
 */
export function startDuty<T>(module: URL, data: T): Duty | null {
  let worker: Worker;
  try {
    worker = thread ??= spawn();
  } catch {
    return null;
  }
  const id = nextId++;
  running.add(id);
  worker.postMessage({ type: 'start', id, module: module.href, data } satisfies ToSideThread);
  return {
    stop: async () => {
      if (thread !== worker || !running.delete(id)) return;
      if (running.size > 0 || hosted) {
        worker.postMessage({ type: 'stop', id } satisfies ToSideThread);
        return;
      }
      thread = null;
      await worker.terminate();
    },
  };
}
