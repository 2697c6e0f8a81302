// tspuma's own work on a serving process's main thread that can hold its event loop for a while:
// setting and removing probes (a live edit walks the whole heap), reading a probe hit's values
// while paused. Each run is remembered, what and when (the last few), so a blocked-loop warning
// (loop-block.ts) names it rather than blaming the app's code. Nothing here runs per request.
import { performance } from 'node:perf_hooks';

/** Runs remembered: a block is reported within a second of its end, and a burst of probe commands is short. */
const KEPT = 8;
const what: (string | null)[] = new Array<string | null>(KEPT).fill(null);
const began = new Float64Array(KEPT);
const ended = new Float64Array(KEPT);
let next = 0;

function remember(label: string, start: number, end: number): void {
  what[next] = label;
  began[next] = start;
  ended[next] = end;
  next = (next + 1) % KEPT;
}

/** Runs `fn` as tspuma's own work described by `label` ("setting probe 3 at src/db.ts:10"). */
export function ownWork<T>(label: string, fn: () => T): T {
  const start = performance.now();
  try {
    return fn();
  } finally {
    remember(label, start, performance.now());
  }
}

/** The same for work that awaits (its whole span counts: the probe engine's start). */
export async function ownWorkAsync<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    remember(label, start, performance.now());
  }
}

/** What of tspuma's own work ran between `from` and `to` (performance.now() times), oldest first, each named once. */
export function ownWorkBetween(from: number, to: number): string[] {
  const found: { label: string; at: number }[] = [];
  for (let i = 0; i < KEPT; i++) {
    const label = what[i];
    if (label !== null && ended[i]! >= from && began[i]! <= to && !found.some((f) => f.label === label)) found.push({ label, at: began[i]! });
  }
  return found.sort((a, b) => a.at - b.at).map((f) => f.label);
}

/** Forgets every run (tests). */
export function forgetOwnWork(): void {
  what.fill(null);
}
