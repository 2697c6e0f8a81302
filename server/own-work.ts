// What held a serving process's main thread that was not the app's code: tspuma's own work
// (setting and removing probes: a live edit walks the whole heap; reading a probe hit's values
// while paused) and a debugger client's pause (DevTools, `tspuma inspect stack`, a `debugger`
// statement: seen by debug mode's capture session, diagnostics/capture.ts) or a heap snapshot a
// DevTools client took through discovery (told by the primary, whose proxy sees it: cluster
// worker.ts). Each run is remembered, what and when (the last few), so a blocked-loop warning
// (loop-block.ts) names it rather than blaming the app's code. Nothing here runs per request.
import { performance } from 'node:perf_hooks';

/** Runs remembered: a block is reported within a second of its end, and a burst of probe commands is short. */
const KEPT = 8;
const what: (string | null)[] = new Array<string | null>(KEPT).fill(null);
/** tspuma's work, a debugger's pause, or a DevTools client's heap snapshot, at that index. */
type Kind = 'own' | 'debugger' | 'snapshot';
const kinds: Kind[] = new Array<Kind>(KEPT).fill('own');
const began = new Float64Array(KEPT);
/** Infinity: still running (a heap snapshot whose end the primary has not told yet). */
const ended = new Float64Array(KEPT);
let next = 0;

function remember(label: string, start: number, end: number, kind: Kind = 'own'): void {
  what[next] = label;
  kinds[next] = kind;
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

/** A debugger client held the thread paused from `start` to `end` (performance.now() times). */
export function debuggerPaused(start: number, end: number): void {
  remember('a debugger held it paused (DevTools, tspuma inspect stack or a debugger statement)', start, end, 'debugger');
}

/**
 * A DevTools client's heap snapshot of this process began at `start` and ended at `end`, or runs
 * on (`end` null) (performance.now() times). Told by the primary as the snapshot begins and again
 * as it ends; both messages are read only once the loop is back, often after the snapshot's block
 * (loop-block.ts waits for them in a cluster worker). The same snapshot told again is updated.
 */
export function heapSnapshotTaken(start: number, end: number | null): void {
  for (let i = 0; i < KEPT; i++) {
    if (what[i] === null || kinds[i] !== 'snapshot' || began[i] !== start) continue;
    ended[i] = end ?? Infinity;
    return;
  }
  remember('a heap snapshot', start, end ?? Infinity, 'snapshot');
}

/**
 * Follows this process's heap snapshots as discovery reports them (pid, state, epoch ms: the primary
 * over IPC for a worker, discovery's thread for single mode's process), on this process's clock.
 */
export function heapSnapshotFollower(pid = process.pid): (of: number, state: 'start' | 'progress' | 'end', at?: number) => void {
  let since: number | null = null;
  return (of, state, at = Date.now()) => {
    if (of !== pid || state === 'progress') return;
    const now = at - performance.timeOrigin;
    if (state === 'start') heapSnapshotTaken((since = now), null);
    else if (since !== null) heapSnapshotTaken(since, now);
    if (state === 'end') since = null;
  };
}

/**
 * What ran between `from` and `to` (performance.now() times), oldest first, each named once:
 * tspuma's own work (`own`), a debugger's pauses (`debugger`) and a DevTools client's heap
 * snapshots (`snapshot`).
 */
export function ownWorkBetween(from: number, to: number): { own: string[]; debugger: boolean; snapshot: boolean } {
  const found: { label: string; at: number }[] = [];
  let held = false;
  let snapshot = false;
  for (let i = 0; i < KEPT; i++) {
    const label = what[i];
    if (label === null || ended[i]! < from || began[i]! > to) continue;
    if (kinds[i] === 'debugger') held = true;
    else if (kinds[i] === 'snapshot') snapshot = true;
    else if (!found.some((f) => f.label === label)) found.push({ label, at: began[i]! });
  }
  return { own: found.sort((a, b) => a.at - b.at).map((f) => f.label), debugger: held, snapshot };
}

/** Forgets every run (tests). */
export function forgetOwnWork(): void {
  what.fill(null);
}
