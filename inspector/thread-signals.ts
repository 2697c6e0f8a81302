// Stop signals as seen from discovery's worker thread. Node delivers process.on('SIGTERM') to the
// main thread only, and a main thread paused in the debugger runs no JavaScript, so its handlers
// wait; libuv hands a signal to every loop that watches it, so a watcher on this thread's loop
// hears it at once. Node exposes such a watcher only through process.binding('signal_wrap')
// (deprecated, with a warning this thread silences for itself); without it, nothing is watched.
import { constants } from 'node:os';

/** The signals that stop tspuma (docs/architecture.md, Signals). */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

interface SignalHandle {
  onsignal: ((signum: number) => void) | null;
  start(signum: number): number;
  unref(): void;
  close(): void;
}

/**
 * Calls `heard` with each stop signal the process receives, without taking it from the main
 * thread's handlers. Returns a stop function, or null where the watcher is not available.
 */
export function watchStopSignals(heard: (signal: StopSignal) => void, binding: (name: string) => unknown = defaultBinding): (() => void) | null {
  let Signal: (new () => SignalHandle) | undefined;
  try {
    Signal = (binding('signal_wrap') as { Signal?: new () => SignalHandle }).Signal;
  } catch {
    return null;
  }
  if (typeof Signal !== 'function') return null;
  const handles: SignalHandle[] = [];
  for (const name of STOP_SIGNALS) {
    const handle = new Signal();
    handle.onsignal = () => heard(name);
    if (handle.start(constants.signals[name]) !== 0) {
      handle.close();
      continue;
    }
    handle.unref(); // never what keeps the thread alive
    handles.push(handle);
  }
  return () => {
    for (const h of handles) h.close();
  };
}

/** process.binding with its one-time deprecation warning silenced: this runs in discovery's own thread, whose `process` is its own. */
function defaultBinding(name: string): unknown {
  const quiet = process.noDeprecation;
  process.noDeprecation = true;
  try {
    return (process as unknown as { binding(n: string): unknown }).binding(name);
  } finally {
    process.noDeprecation = quiet;
  }
}
