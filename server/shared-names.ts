// The names tspuma's modules and processes agree on, in one place: the global symbols (reached
// across copies of a module, and by expressions the inspector evaluates in a paused process),
// the Rack env key a request's dump travels under, and the environment variables a process
// hands its children.

/** Set on an error whose dump was already emitted where it happened (a listen error). */
export const DUMPED_KEY = 'tspuma.dumped';
export const kDumped = Symbol.for(DUMPED_KEY);

/** On globalThis: a function returning the requests in the app (read by a paused-process autopsy). */
export const IN_FLIGHT_KEY = 'tspuma.inFlight';
export const kInFlight = Symbol.for(IN_FLIGHT_KEY);

/**
 * A request in flight, as the check-ins, autopsies and the heap-limit line show it (defined here,
 * not in request-lifecycle.ts, which re-exports it: this module imports nothing, so nothing that
 * reads these names reaches the request path's modules through it).
 */
export interface InFlight {
  method: string;
  url: string;
  /** How long it has been in the app (or, queued, waiting for a slot). */
  ms: number;
  /** Waiting for a free invocation slot (threads): it has not reached the app yet. */
  queued?: true;
}

/**
 * Lets an autopsy (through the inspector) or debug mode's heap-limit line (diagnostics/heap-limit.ts)
 * read the requests in flight while the process is paused.
 */
export function exposeInFlight(read: () => InFlight[]): void {
  (globalThis as Record<symbol, unknown>)[kInFlight] = read;
}

/**
 * On globalThis while the blocked-loop watch runs (server/loop-block.ts): a function returning how
 * many ms ago its timer last ran (the event loop's last turn it saw), read by a paused-process
 * live stack or autopsy (inspector/remote.ts) to tell a blocked thread from an idle one.
 */
export const LOOP_TURN_KEY = 'tspuma.loopTurn';
export const kLoopTurn = Symbol.for(LOOP_TURN_KEY);

/** On globalThis for one synchronous moment: the thrown value, handed over by the inspector. */
export const THROWN_KEY = 'tspuma.diagnostics.thrown';
export const kThrown = Symbol.for(THROWN_KEY);

/**
 * On globalThis, once probes run in a worker (inspector/probe-resumer.ts): the function an
 * in-process inspector session calls last when it resumes a pause, so the resumer thread carries
 * the resume out (with a session of its own attached, Node waits for one from another session).
 */
export const RESUME_REQUESTED_KEY = 'tspuma.resumeRequested';
export const kResumeRequested = Symbol.for(RESUME_REQUESTED_KEY);

/**
 * On globalThis while debug mode's capture runs (diagnostics/capture.ts): runs a synchronous
 * piece of tspuma's own code with pausing at exceptions off, so the throws it catches itself
 * (a /proc scan meeting other users' processes, a lookup of an optional package) never pause
 * the process. See ownCode.
 */
export const OWN_CODE_KEY = 'tspuma.diagnostics.ownCode';
export const kOwnCode = Symbol.for(OWN_CODE_KEY);

/** Runs fn (synchronous tspuma code that may throw and catch) without debug mode's pauses; plain fn() otherwise. */
export function ownCode<T>(fn: () => T): T {
  const run = (globalThis as Record<symbol, unknown>)[kOwnCode] as (<U>(f: () => U) => U) | undefined;
  return run ? run(fn) : fn();
}

/**
 * On globalThis: the V8 flags this process set at run time (diagnostics/capture.ts, once it serves),
 * each with the flag that sets it back. server/chunk-run.ts reads them (code-cache.ts
 * kRunTimeFlagsHere, the same key): a V8 code cache holds the flag hash it was made under, and a
 * cache serialized after these flags was refused by every boot, which reads before them.
 */
export const RUN_TIME_FLAGS_KEY = 'tspuma.runTimeV8Flags';
export const kRunTimeFlags = Symbol.for(RUN_TIME_FLAGS_KEY);

/** A V8 flag set at run time, and the one that undoes it. */
export type RunTimeFlag = readonly [set: string, undo: string];

/** Notes a V8 flag the caller sets at run time (it sets it itself, with node:v8's setFlagsFromString). */
export function noteRunTimeFlag(flag: RunTimeFlag): void {
  ((globalThis as Record<symbol, RunTimeFlag[] | undefined>)[kRunTimeFlags] ??= []).push(flag);
}

/**
 * On globalThis: whether this process can be attached from outside its main thread (a DevTools
 * client on its own inspector port, or through discovery's bridge). Debug mode's capture keeps a
 * function here (diagnostics/capture.ts: it then starts its pause rescuer); before capture runs,
 * `true` remembers that the process already could be attached.
 */
export const ATTACHABLE_KEY = 'tspuma.diagnostics.attachable';
export const kAttachable = Symbol.for(ATTACHABLE_KEY);

/**
 * On globalThis: `true` once this process could be attached from outside (whoever runs), and the
 * probe engine's function (inspector/probes.ts: it then starts its resumer thread, which a process
 * nothing can attach to goes without) while probes run.
 */
export const PROBES_ATTACHABLE_KEY = 'tspuma.probes.attachable';
export const kProbesAttachable = Symbol.for(PROBES_ATTACHABLE_KEY);

/** Says this process can now be attached from outside (an inspector port opened, discovery's bridge started). */
export function attachable(): void {
  const g = globalThis as Record<symbol, unknown>;
  const onAttachable = g[kAttachable];
  if (typeof onAttachable === 'function') (onAttachable as () => void)();
  else g[kAttachable] = true;
  const onProbes = g[kProbesAttachable];
  if (typeof onProbes === 'function') (onProbes as () => void)();
  else g[kProbesAttachable] = true;
}

/**
 * On a request (IncomingMessage): the body bytes tspuma's own fetch Request delivered to the app
 * (text(), json(), arrayBuffer()...), so a dump can show what a framework then failed to parse.
 */
export const kDeliveredBody = Symbol.for('tspuma.deliveredBody');

/** On a wrapped app: which kind it is (rack, fetch, node), so two copies of tspuma agree. */
export const kAppKind = Symbol.for('tspuma.appKind');

/** Where a request's dump is in the Rack env handed to the lowlevel error handler: env['tspuma.dump']. */
export const DUMP_ENV_KEY = 'tspuma.dump';

/**
 * Set (to `1`) by a cluster primary with --preload for the process it forks to load the app once
 * and exit: the check that a broken app fails once, fast, without the app running in the primary.
 */
export const PRELOAD_CHECK_ENV = 'TSPUMA_PRELOAD_CHECK';

/**
 * Set (to the folder) by a process whose dump folder could not be used at boot, after its
 * TSPUMA_ERR_DUMP_DIR warning: the workers it forks inherit it and do not repeat the warning.
 */
export const DUMP_DIR_REFUSED_ENV = 'TSPUMA_DUMP_DIR_REFUSED';

/**
 * Environment a worker is forked with when its stderr is a pipe to the primary (which filters
 * Node's inspector lines) and the primary's stderr is a terminal: colour dumps as on a terminal.
 */
export const STDERR_TTY_ENV = 'TSPUMA_STDERR_TTY';

/** Whether this process's stderr is a terminal, or a pipe the primary passes on to one. */
export function stderrIsTerminal(env: NodeJS.ProcessEnv = process.env): boolean {
  return process.stderr.isTTY === true || env[STDERR_TTY_ENV] === '1';
}

/** Environment a worker is forked with: its index. */
export const WORKER_INDEX_ENV = 'TSPUMA_WORKER_INDEX';
/** Environment a worker is forked with: its cluster phase (the restart generation it belongs to; stats' `phase`). */
export const WORKER_PHASE_ENV = 'TSPUMA_WORKER_PHASE';
/**
 * Environment a worker is forked with: how many boots in a row have failed in its cluster so far.
 * A worker that fails to boot dumps why (-d) only when none has yet: a crash loop's respawns fail
 * the same way, and their dumps would repeat the first one.
 */
export const WORKER_BOOT_FAILURES_ENV = 'TSPUMA_WORKER_BOOT_FAILURES';
/**
 * Environment the primary sets before forking: `<primary pid>-<start>`, the run id its workers
 * claim dump sites under in the dump folder (diagnostics/dump-budget.ts).
 */
export const CLUSTER_RUN_ENV = 'TSPUMA_CLUSTER_RUN';
/**
 * Environment a -d primary sets before forking: a private folder of its own (removed when it
 * stops) where its workers claim dump sites when they have no dump folder to claim them in, so a
 * crash loop's respawns print a site's dump once between them (diagnostics/dump-budget.ts).
 */
export const SITE_CLAIMS_ENV = 'TSPUMA_SITE_CLAIMS';
/** Environment a socket-activated primary forks its workers with: the activated sockets' fds and names. */
export const WORKER_LISTEN_FDS_ENV = 'TSPUMA_LISTEN_FDS';
/** Environment a cluster primary forks its workers with: the binds it keeps, each with the worker's fd of its socket (JSON). */
export const WORKER_BINDS_ENV = 'TSPUMA_BINDS';
/** How .ts files load: auto or tsx. */
export const TS_LOADER_ENV = 'TSPUMA_TS_LOADER';
