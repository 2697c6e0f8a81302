// What held a serving process's main thread that was not the app's code: tspuma's own work
// (setting and removing probes: a live edit walks the whole heap; reading a probe hit's values
// while paused), a debugger client's pause (DevTools, `tspuma inspect stack`, a `debugger`
// statement: seen by debug mode's capture session, diagnostics/capture.ts), and what a DevTools
// client had it do through discovery: a heap snapshot, an evaluation that ran long (told by
// discovery, which sees the client's commands: over IPC by the primary for a cluster worker, by
// discovery's thread in single mode), and V8's own break at the heap limit (the app's allocations,
// not a debugger). Each run is remembered, what and when (the last few), so a
// blocked-loop warning (loop-block.ts) names it rather than blaming the app's code. Nothing here
// runs per request.
import { performance } from 'node:perf_hooks';

/** Runs remembered: a block is reported within a second of its end, and a burst of probe commands is short. */
const KEPT = 8;
const what: (string | null)[] = new Array<string | null>(KEPT).fill(null);
/** tspuma's work, a debugger's pause, a DevTools client's work (ClientWork), the heap limit, or debug mode's work on a failure, at that index. */
type Kind = 'own' | 'debugger' | 'client' | 'heap' | 'dump';
const kinds: Kind[] = new Array<Kind>(KEPT).fill('own');
const began = new Float64Array(KEPT);
/** Infinity: still running (a client's work whose end has not been told yet). */
const ended = new Float64Array(KEPT);
/** A client's work: its id as discovery told it (its end updates the same entry). */
const ids: (string | null)[] = new Array<string | null>(KEPT).fill(null);
let next = 0;

function remember(label: string, start: number, end: number, kind: Kind = 'own', id: string | null = null): void {
  what[next] = label;
  kinds[next] = kind;
  ids[next] = id;
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

/** What a block's warning calls debug mode's work on a failure. */
export const DUMP_WORK = "debug mode's work on a failure (capturing a throw's values, building and writing a dump)";

/**
 * Debug mode's work on a failure ran from `start` to `end` (performance.now() times): a throw's
 * capture while paused, a dump built and written. Unlike the rest of tspuma's own work it runs
 * inside the app's failures, so a block names it only when it took at least half of the block
 * (loop-block.ts): a first dump reading the source maps held a worker 1.1 s, and the warning blamed
 * the request that timed out (review16.2); a capture of 1 ms inside an app's 2 s loop is not it.
 */
export function dumpWorkRan(start: number, end: number): void {
  remember(DUMP_WORK, start, end, 'dump');
}

/** Runs `fn` as debug mode's work on a failure (dumpWorkRan). */
export function dumpWork<T>(fn: () => T): T {
  const start = performance.now();
  try {
    return fn();
  } finally {
    dumpWorkRan(start, performance.now());
  }
}

/** A debugger client held the thread paused from `start` to `end` (performance.now() times). */
export function debuggerPaused(start: number, end: number): void {
  remember('a debugger held it paused (DevTools, tspuma inspect stack or a debugger statement)', start, end, 'debugger');
}

/**
 * V8 broke at the heap limit (a pause of reason OOM, which V8 takes instead of ending the process
 * while a debugger session is enabled: -d's, a probe's; it raises the limit to do so). Not a
 * debugger's pause: the app's allocations brought the heap there, and collecting near the limit
 * is what held the loop.
 */
export function heapLimitReached(at: number): void {
  remember("the JavaScript heap reached V8's limit", at, at, 'heap');
}

/** What a DevTools client has a process's main thread do that tspuma follows. */
export type ClientWork = 'heap snapshot' | 'evaluation';

/**
 * One such run as discovery tells it: `id` names it (its end comes with the same), `since` and
 * `until` are epoch ms (discovery runs in another thread or process), `until` null while it runs.
 * An evaluation is told only once it has run LONG_EVALUATION_MS: the console's quick ones are not.
 */
export interface ClientWorkReport {
  id: string;
  what: ClientWork;
  since: number;
  until: number | null;
}

/** A client's evaluation is told once it has run this long (discovery's timer, off the main thread). */
export const LONG_EVALUATION_MS = 100;

/**
 * A DevTools client's work in this process, told by discovery: both messages are read only once the
 * loop is back, often after the block it caused (loop-block.ts waits for them when an inspector is
 * open). The same id told again (its end) updates its entry.
 */
export function clientWorkTold(work: ClientWorkReport): void {
  const start = work.since - performance.timeOrigin;
  const end = work.until === null ? Infinity : work.until - performance.timeOrigin;
  for (let i = 0; i < KEPT; i++) {
    if (what[i] === null || kinds[i] !== 'client' || ids[i] !== work.id) continue;
    ended[i] = end;
    return;
  }
  remember(work.what, start, end, 'client', work.id);
}

/**
 * What ran between `from` and `to` (performance.now() times), oldest first, each named once:
 * tspuma's own work (`own`), a debugger's pauses (`debugger`) and a DevTools client's work (`client`).
 */
export function ownWorkBetween(from: number, to: number): { own: string[]; debugger: boolean; client: ClientWork[]; heap: boolean; dumpMs: number } {
  const found: { label: string; at: number }[] = [];
  let held = false;
  let heap = false;
  let dumpMs = 0;
  const client = new Set<ClientWork>();
  for (let i = 0; i < KEPT; i++) {
    const label = what[i];
    if (label === null || ended[i]! < from || began[i]! > to) continue;
    if (kinds[i] === 'debugger') held = true;
    else if (kinds[i] === 'heap') heap = true;
    else if (kinds[i] === 'client') client.add(label as ClientWork);
    else if (kinds[i] === 'dump') dumpMs += Math.min(ended[i]!, to) - Math.max(began[i]!, from);
    else if (!found.some((f) => f.label === label)) found.push({ label, at: began[i]! });
  }
  return { own: found.sort((a, b) => a.at - b.at).map((f) => f.label), debugger: held, client: [...client], heap, dumpMs };
}

/** Forgets every run (tests). */
export function forgetOwnWork(): void {
  what.fill(null);
}
