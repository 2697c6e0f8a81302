// A cluster worker's watch on its primary, so no worker outlives it (an orphan would keep serving
// on its copies of the primary's sockets, listeners.ts). Two signs that the primary is gone: the
// IPC channel's disconnect, and, as a backstop checked every second (as Puma's workers check
// their pipe to the parent), a parent pid other than the primary's. With an inspector open (a
// DevTools client can hold the main thread paused, and then no timer or event of its runs), the
// process's side thread (../side-thread.ts, primary-watch-thread.ts) checks the parent too and
// kills the process (SIGKILL) once the main thread has had its time to stop.
import { startDuty } from '../side-thread.js';
import { realClock, unref, type Clock } from './clock.js';

/** How often the parent pid is read. */
export const PARENT_CHECK_MS = 1000;
/** How often the main thread beats for the watch thread. */
export const HEARTBEAT_MS = 500;
/** A main thread with no heartbeat this long after its primary went is killed at once (it cannot stop by itself). */
export const STALL_MS = 5000;

/** What the watch reads of the process (a test passes a fake). */
export interface WatchedProcess {
  /** The parent's pid now (node reads it anew each time). */
  readonly ppid: number;
  /** False once the IPC channel has closed (before the watch began, too). */
  readonly connected?: boolean;
  once(event: 'disconnect', listener: () => void): unknown;
  removeListener(event: 'disconnect', listener: () => void): unknown;
}

export interface PrimaryWatch {
  /** The primary's pid (the parent when the watch started). */
  readonly primaryPid: number;
  stop(): void;
}

/**
 * Calls `gone` once, with why (`its IPC channel closed`, `its parent process is now PID N`), when
 * the primary (`primaryPid`: by default the parent now) goes away, at once when it is gone
 * already. The timer never keeps the process alive.
 */
export function watchPrimary(gone: (why: string) => void, proc: WatchedProcess = process, clock: Clock = realClock, primaryPid: number = proc.ppid): PrimaryWatch {
  let done = false;
  const end = (why: string) => {
    if (done) return;
    stop();
    gone(why);
  };
  const onDisconnect = () => end('its IPC channel closed');
  const timer = unref(
    clock.setInterval(() => {
      const now = proc.ppid;
      if (now !== primaryPid) end(`its parent process is now PID ${now}`);
    }, PARENT_CHECK_MS),
  );
  const stop = () => {
    done = true;
    clock.clearInterval(timer);
    proc.removeListener('disconnect', onDisconnect);
  };
  proc.once('disconnect', onDisconnect);
  // Gone already (it died as this worker started; the cluster's IPC guard kept node from exiting
  // on the closed channel): `gone` is called now, before this returns.
  if (proc.connected === false) onDisconnect();
  else if (proc.ppid !== primaryPid) end(`its parent process is now PID ${proc.ppid}`);
  return { primaryPid, stop };
}

/** What the watch thread is started with. */
export interface WatchThreadData {
  primaryPid: number;
  /** Worker index, for its line. */
  index: number;
  /** How long after it sees the parent change the thread kills the process, if it is still there. */
  graceMs: number;
  /** One Int32 the main thread adds to every HEARTBEAT_MS (startWatchThread does). */
  heartbeat: SharedArrayBuffer;
}

/**
 * The backstop for a main thread that cannot run (held paused by a debugger, or a loop that never
 * yields): a duty of the side thread that reads the parent pid every second and, `graceMs` after
 * it changed (or STALL_MS, when the main thread's heartbeat has stopped), writes one log line and
 * kills the process. It never keeps the process alive; when no thread can start, the main
 * thread's watch stays alone. Returns whether it started.
 */
export function startWatchThread(data: Omit<WatchThreadData, 'heartbeat'>): boolean {
  const heartbeat = new SharedArrayBuffer(4);
  const beats = new Int32Array(heartbeat);
  if (!startDuty(new URL('./primary-watch-thread.js', import.meta.url), { ...data, heartbeat } satisfies WatchThreadData)) return false;
  // The main thread's sign of life for the thread (it never keeps the process alive).
  setInterval(() => Atomics.add(beats, 0, 1), HEARTBEAT_MS).unref();
  return true;
}
