// The time source of the cluster primary and its worker handles: wall-clock reads and timers
// behind one interface, so tests can drive backoff, boot and check-in deadlines by hand.

/** A timer handle as the clock hands it out; only clearTimeout/clearInterval read it. */
export type TimerHandle = { unref?: () => unknown } | number;

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(timer: TimerHandle): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(timer: TimerHandle): void;
}

/** Node's own clock and timers. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (t) => clearInterval(t as NodeJS.Timeout),
};

/** Lets the process exit while the timer is pending (a no-op for a test clock's handles). */
export function unref(timer: TimerHandle): TimerHandle {
  if (typeof timer === 'object') timer.unref?.();
  return timer;
}
