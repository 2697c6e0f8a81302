// Attaching to another process's inspector with chrome-remote-interface: live stacks, CPU
// profiles and heap snapshots; its paused frames go through the diagnostics layer's reader,
// redaction and Dump model.
import { createWriteStream } from 'node:fs';
import { FrameReader, scopeObjectIds, VALUE_UNAVAILABLE, type CallFrame, type PropertyDescriptor, type ScriptInfo } from '../diagnostics/frames.js';
import { dumpFrame, finishFrames, originOf } from '../diagnostics/finish.js';
import { nextDumpId, type Dump, type DumpError, type DumpFrame } from '../diagnostics/model.js';
import { Redactor } from '../diagnostics/redact.js';
import { beginFile, writeError } from '../server/private-file.js';
import { TspumaError } from '../server/errors.js';
import { DEFAULTS } from '../server/option-records.js';
import { IN_FLIGHT_KEY, LOOP_TURN_KEY, RUN_TIME_FLAGS_KEY } from '../server/shared-names.js';
import type { InFlight } from '../server/server.js';
import { mapProfile, type CpuProfile, type MapStats, type ProfileScript } from './profile-map.js';
import { processExits } from '../server/process-alive.js';

/** What to attach to: a name for messages and its WebSocket URL. */
export interface RemoteTarget {
  title: string;
  ws: string;
  worker: number | null;
  /** Its process, when discovery listed it: a connection that closes is told apart from an exit. */
  pid?: number;
}

/**
 * chrome-remote-interface's "WebSocket connection closed" (and a send on a closed socket) as a
 * coded error naming the target and what it was doing; other errors as they are.
 */
async function closedWhile(t: RemoteTarget, what: string, err: unknown): Promise<unknown> {
  const message = (err as Error | null)?.message ?? '';
  if (!/WebSocket connection closed|WebSocket is not open|readyState/i.test(message)) return err;
  const exited = t.pid !== undefined ? await processExits(t.pid, 1000) : null;
  const why =
    exited === true
      ? t.worker !== null
        ? "the worker's inspector closed (the process exited: the server log says why)"
        : 'the process exited'
      : exited === false
        ? 'the connection was cut while the process still runs (a proxy in between, or discovery stopped)'
        : 'the connection was cut';
  return new TspumaError('TSPUMA_ERR_INSPECT_CLOSED', { target: t.title, what, why });
}

/** The part of a chrome-remote-interface client used here. */
interface Session {
  send<T = unknown>(method: string, params?: object): Promise<T>;
  on(event: string, listener: (params: never) => void): void;
  close(): Promise<void>;
}

export const PAUSE_TIMEOUT_MS = 2000;

function bounded<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(onTimeout()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * How a bound's error says what sets it, when the caller has a setting for it: `tspuma inspect`'s
 * `--timeout MS`, the workerAutopsyTimeout option. A loaded machine can take longer than the
 * default to attach or pause; the user reads how to wait longer in the error itself.
 */
const raising = (raise: string | undefined) => (raise ? ` (${raise})` : '');

/**
 * The protocol description chrome-remote-interface is given: none. Node serves none, and the
 * bundled one (`local: true`, 1.3 MB of JSON parsed and turned into a method object per command
 * and event at each connect: about 14 ms of CPU) only adds `client.Domain.method()` shortcuts;
 * this module calls `send(method, params)` and listens with `on(event)`, which need no description.
 */
export const NO_PROTOCOL = Object.freeze({ version: { major: '1', minor: '3' }, domains: Object.freeze([]) as never[] });

/** Connects to the target's inspector. */
export async function attach(t: RemoteTarget, timeoutMs = PAUSE_TIMEOUT_MS, raise?: string): Promise<Session> {
  const fail = (message: string) => new TspumaError('TSPUMA_ERR_INSPECT_CONNECT', { target: t.title, ws: t.ws, message });
  // Loaded on first use: every cluster primary imports this module, few ever attach (about 45 ms).
  const { default: CDP } = await import('chrome-remote-interface');
  const pending = CDP({ target: t.ws, protocol: NO_PROTOCOL }) as unknown as Promise<Session>;
  try {
    return await bounded(pending, timeoutMs, () => fail(`no answer within ${timeoutMs} ms${raising(raise)}`));
  } catch (err) {
    // A connection that completes after the timeout is closed, not leaked.
    void pending.then((s) => s.close()).catch(() => undefined);
    throw err instanceof TspumaError ? err : fail((err as Error).message);
  }
}

interface Paused {
  reason: string;
  callFrames: CallFrame[];
}

export interface LiveStack {
  /**
   * Nothing was running when asked: frames is empty, or holds the next callback, which paused
   * waitedMs later.
   */
  idle: boolean;
  waitedMs: number;
  frames: DumpFrame[];
  redactions: string[];
  inFlight: InFlight[];
  process: { pid: number; node: string; rssBytes: number; heapUsedBytes: number; uptimeSeconds: number };
  /**
   * The process was already paused by another client (a DevTools breakpoint, its pause button,
   * a debugger statement) when asked, for this reason: the frames are where it is held, and it
   * was left paused for that client.
   */
  pausedInDebugger?: string;
}

export interface StackOptions {
  timeoutMs?: number;
  /** What sets timeoutMs, for its errors: "`--timeout MS` waits longer". */
  raise?: string;
  frames?: number;
  redact?: string | null;
}

/** What the paused process says about itself (and its requests in flight: inspector/open.ts). */
const SELF = `(() => {
  const f = globalThis[Symbol.for(${JSON.stringify(IN_FLIGHT_KEY)})];
  const turn = globalThis[Symbol.for(${JSON.stringify(LOOP_TURN_KEY)})];
  const m = process.memoryUsage();
  return { inFlight: typeof f === 'function' ? f() : [], pid: process.pid, node: process.version, rssBytes: m.rss, heapUsedBytes: m.heapUsed, uptimeSeconds: Math.round(process.uptime()), sinceTurnMs: typeof turn === 'function' ? turn() : null };
})()`;

/**
 * Run in the process before it is paused for its stack: V8's --experimental-value-unavailable (a
 * flag of its debugger: what scopes report, not what its compilers emit) makes a value optimized
 * code dropped come without one, shown as <value unavailable> (diagnostics/frames.ts). Set there
 * only when a stack is read (an autopsy, a live stack): a V8 flag changed at run time changes the
 * flag hash node's code cache was made under, a cost at boot (diagnostics/capture.ts). Noted as
 * capture notes its flags (server/shared-names.ts RUN_TIME_FLAGS_KEY, once), so the chunk code
 * caches the process writes at its exit carry the flags they were made under (review18.1: a cache
 * written under an unnoted flag was refused by the next boot). `require` is the inspector's
 * command-line one (node 20 before getBuiltinModule).
 */
export const VALUES_UNAVAILABLE = `(() => {
  const flag = '--experimental-value-unavailable';
  (globalThis.process.getBuiltinModule?.('node:v8') ?? require('node:v8')).setFlagsFromString(flag);
  const noted = (globalThis[Symbol.for('${RUN_TIME_FLAGS_KEY}')] ??= []);
  if (!noted.some((f) => f[0] === flag)) noted.push([flag, '--no-experimental-value-unavailable']);
})()`;

const IDLE_MS = 500;
/** Running JavaScript pauses within a round trip; a later pause is the process's next callback. */
const BUSY_PAUSE_MS = 100;
/**
 * A late pause is still running code, not an idle process's next callback, when the event loop had
 * not turned for this long as it paused (the blocked-loop watch's timer, every 250 ms at most, had
 * not run): code blocked outside JavaScript (execSync, a sync native call) or in long garbage
 * collections honours a pause only as it returns, seconds after its loop last turned.
 */
export const BLOCKED_TURN_MS = 1000;

/**
 * Whether a pause that took waitedMs shows an idle process (its next callback, or the event loop's
 * entry into JavaScript: `entering`) rather than the code that was running: sinceTurnMs, when the
 * process tracks it (null: it does not), is how long its loop had not turned at the pause.
 */
export function pausedIdle(waitedMs: number, entering: boolean, sinceTurnMs: number | null): boolean {
  if (sinceTurnMs !== null && sinceTurnMs >= BLOCKED_TURN_MS) return false;
  return waitedMs > BUSY_PAUSE_MS || entering;
}
/** How long a pause already held by another client takes to be told to a session that enables its debugger. */
const HELD_MS = 150;

type SelfInfo = { inFlight: InFlight[]; sinceTurnMs?: number | null } & LiveStack['process'];

function selfInfo(v: SelfInfo | undefined): Pick<LiveStack, 'inFlight' | 'process'> {
  return {
    inFlight: v?.inFlight ?? [],
    process: { pid: v?.pid ?? -1, node: v?.node ?? '', rssBytes: v?.rssBytes ?? 0, heapUsedBytes: v?.heapUsedBytes ?? 0, uptimeSeconds: v?.uptimeSeconds ?? 0 },
  };
}

/**
 * Pauses the target (a synchronous loop included: the inspector interrupts it), reads every frame
 * with receivers and locals, and resumes it on every path. Rejects with
 * TSPUMA_ERR_INSPECT_PAUSE_TIMEOUT when it cannot be paused in time.
 */
export async function liveStack(t: RemoteTarget, opts: StackOptions = {}): Promise<LiveStack> {
  const timeoutMs = opts.timeoutMs ?? PAUSE_TIMEOUT_MS;
  const cap = opts.frames ?? DEFAULTS.dumpFrames;
  const s = await attach(t, timeoutMs, opts.raise);
  const scripts = new Map<string, ScriptInfo>();
  s.on('Debugger.scriptParsed', (p: { scriptId: string; url: string; sourceMapURL?: string }) => {
    if (p.url) scripts.set(p.scriptId, { url: p.url, ...(p.sourceMapURL ? { sourceMapURL: p.sourceMapURL } : {}) });
  });
  const pauses: Paused[] = [];
  let wake: (() => void) | null = null;
  s.on('Debugger.paused', (p: Paused) => {
    pauses.push(p);
    wake?.();
  });
  /** The next pause, or null after ms. */
  const nextPause = (ms: number) =>
    new Promise<Paused | null>((resolve) => {
      if (pauses.length > 0) return resolve(pauses.shift()!);
      const timer = setTimeout(() => {
        wake = null;
        resolve(null);
      }, ms);
      wake = () => {
        wake = null;
        clearTimeout(timer);
        resolve(pauses.shift()!);
      };
    });
  const timeout = () =>
    new TspumaError('TSPUMA_ERR_INSPECT_PAUSE_TIMEOUT', { target: t.title, ms: timeoutMs, hint: `It is probably blocked outside JavaScript (a synchronous native call)${opts.raise ? `, or slow to answer on a loaded machine${raising(opts.raise)}` : ''}.` });
  /** Frames with their values, read while paused. */
  const readFrames = async (params: Paused): Promise<{ frames: DumpFrame[]; redactions: string[] }> => {
    const ids = scopeObjectIds(params.callFrames, { frames: cap, scripts });
    const props = new Map<string, PropertyDescriptor[]>();
    await Promise.all(
      ids.map(async (objectId) => {
        const { result } = await s.send<{ result: PropertyDescriptor[] }>('Runtime.getProperties', { objectId, ownProperties: true, generatePreview: true });
        props.set(objectId, result);
      }),
    );
    const redactor = new Redactor(opts.redact ?? null);
    const read = new FrameReader(redactor).read(params.callFrames, { frames: cap, scripts, properties: (id) => props.get(id) ?? [] });
    const frames: DumpFrame[] = read.frames.map(dumpFrame);
    finishFrames(frames, redactor);
    return { frames, redactions: read.redactions };
  };
  const evaluateSelf = () => s.send<{ result: { value?: SelfInfo } }>('Runtime.evaluate', { expression: SELF, returnByValue: true, silent: true });
  let pausedOnce = false;
  /** Another client holds the process paused: never resumed here. */
  let heldByClient: string | null = null;
  try {
    // A main thread stuck outside JavaScript cannot even answer this.
    await bounded(s.send('Debugger.enable'), timeoutMs, timeout);
    // A process another client holds paused tells a session that enables its debugger at once.
    const held = await nextPause(HELD_MS);
    if (held) {
      heldByClient = held.reason;
      const read = await readFrames(held);
      const self = await bounded(evaluateSelf(), timeoutMs, timeout);
      return { idle: false, waitedMs: 0, ...read, ...selfInfo(self.result.value), pausedInDebugger: held.reason };
    }
    const asked = Date.now();
    // Before the pause, whose scope objects hold the values as V8 reports them then: a local V8's
    // optimized code dropped comes without a value, not as undefined (review9.10). Not awaited (a
    // thread stuck outside JavaScript answers neither); the pause is dispatched after it.
    s.send('Runtime.evaluate', { expression: VALUES_UNAVAILABLE, includeCommandLineAPI: true, silent: true }).catch(() => undefined);
    await s.send('Debugger.pause');
    // Running JavaScript pauses at once (the inspector interrupts it). An idle process pauses at
    // its next callback, which may never come: then an evaluation of our own gives it one, and
    // a pause inside that evaluation (no frame with a script URL) means it was idle.
    let params = await nextPause(IDLE_MS);
    let evaluation: ReturnType<typeof evaluateSelf> | null = null;
    if (!params) {
      evaluation = evaluateSelf();
      evaluation.catch(() => undefined);
      params = await nextPause(Math.max(timeoutMs - IDLE_MS, 1));
      if (!params) throw timeout();
    }
    pausedOnce = true;
    const waitedMs = Date.now() - asked;
    if (params.callFrames.every((cf) => !cf.url && !scripts.get(cf.location.scriptId)?.url)) {
      await s.send('Debugger.resume');
      pausedOnce = false;
      const self = await bounded(evaluation ?? evaluateSelf(), timeoutMs, timeout);
      return { idle: true, waitedMs, frames: [], redactions: [], ...selfInfo(self.result.value) };
    }
    const read = await readFrames(params);
    // While paused, an evaluation runs in a nested loop; a pending one (above) answers after resume.
    const selfNow = evaluation ? null : await evaluateSelf();
    await s.send('Debugger.resume');
    pausedOnce = false;
    const self = selfNow ?? (await bounded(evaluation!, timeoutMs, timeout));
    // Idle: the pause waited for a callback, or landed where the event loop enters JavaScript
    // (only Node's own frames: a timer, a socket read), not inside running code; unless the loop
    // had not turned for a second (pausedIdle): then it came late because the code was blocked.
    const entering = read.frames.length > 0 && read.frames.every((f) => f.file.startsWith('node:'));
    return { idle: pausedIdle(waitedMs, entering, self.result.value?.sinceTurnMs ?? null), waitedMs, ...read, ...selfInfo(self.result.value) };
  } finally {
    // Resume on every path (a pause that lands late, after a timeout, too), but never a pause
    // another client holds.
    if (heldByClient === null && (pausedOnce || pauses.length > 0)) await s.send('Debugger.resume').catch(() => undefined);
    await s.send('Debugger.disable').catch(() => undefined);
    await s.close().catch(() => undefined);
  }
}

/** Pauses the target and gives its live stack as a `stack` dump (`tspuma inspect stack`, /stack). */
export async function liveStackDump(t: RemoteTarget, opts: StackOptions = {}): Promise<Dump> {
  const live = await liveStack(t, opts);
  return stackDump(live, 'stack', { name: 'LiveStack', message: `${t.title} paused for a live stack`, code: null, causes: [] }, t.worker);
}

/** A live stack as a Dump, so the renderer, `tspuma dump` and the sinks take it like any other. */
export function stackDump(live: LiveStack, kind: 'stack' | 'hang', error: DumpError, worker: number | null): Dump {
  const culprit = live.frames.findIndex((f) => !f.library);
  if (culprit >= 0) live.frames[culprit]!.culprit = true;
  const top = live.frames[culprit >= 0 ? culprit : 0];
  // Only where the text shows the values (the culprit, the app's frames): a let node's own code had
  // not reached in a folded frame made the note tell a -d server to start with -d (review19.5).
  const shown = (f: DumpFrame) => f.culprit === true || (f.origin ?? originOf(f.file)) === 'app';
  const unavailable = live.frames.some((f) => shown(f) && Object.values(f.locals).some((v) => typeof v === 'object' && v?.summary === VALUE_UNAVAILABLE));
  return {
    version: 1,
    id: nextDumpId(),
    kind,
    phase: kind,
    error,
    pid: live.process.pid,
    worker,
    time: new Date().toISOString(),
    site: top ? `${top.file}:${top.line}` : kind,
    culprit,
    captured: true,
    frames: live.frames,
    request: null,
    process: { node: live.process.node, rssBytes: live.process.rssBytes, heapUsedBytes: live.process.heapUsedBytes, uptimeSeconds: live.process.uptimeSeconds, eventLoopDelayMs: null },
    redactions: live.redactions,
    inFlight: live.inFlight,
    ...(live.idle ? { idle: true as const, pauseWaitMs: live.waitedMs } : {}),
    ...(unavailable ? { note: UNAVAILABLE_NOTE } : {}),
  };
}

/** Why a stack dump shows a local as <value unavailable> (review9.10). */
const UNAVAILABLE_NOTE = `a local shown as ${VALUE_UNAVAILABLE} has no value V8 could report: a let/const the code had not reached, or, without -d, a value V8's optimized code (a function or loop that ran hot) no longer needed; start with -d to keep every local of optimized code`;

/**
 * Samples the target for `seconds` and returns the profile (the .cpuprofile format DevTools
 * loads) with its call frames mapped to the original .ts positions (inspector/profile-map.ts).
 * The debugger is enabled only after sampling, to learn each script's source map.
 */
export async function cpuProfile(t: RemoteTarget, seconds: number, attachOpts: Pick<StackOptions, 'timeoutMs' | 'raise'> = {}): Promise<{ profile: CpuProfile; stats: MapStats }> {
  const s = await attach(t, attachOpts.timeoutMs, attachOpts.raise);
  try {
    await s.send('Profiler.enable');
    await s.send('Profiler.start');
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const { profile } = await s.send<{ profile: CpuProfile }>('Profiler.stop').catch(async (err: unknown) => {
      throw await closedWhile(t, 'it was being profiled', err);
    });
    await s.send('Profiler.disable');
    const scripts = new Map<string, ProfileScript>();
    s.on('Debugger.scriptParsed', (p: { scriptId: string; url: string; sourceMapURL?: string }) => {
      if (p.url) scripts.set(p.scriptId, { url: p.url, ...(p.sourceMapURL ? { sourceMapURL: p.sourceMapURL } : {}) });
    });
    // Every loaded script is announced before enable answers.
    await s.send('Debugger.enable');
    await s.send('Debugger.disable');
    return { profile, stats: mapProfile(profile, scripts) };
  } finally {
    await s.close().catch(() => undefined);
  }
}

/** Streams a heap snapshot of the target to `path` (the .heapsnapshot format DevTools loads). */
export async function heapSnapshot(t: RemoteTarget, path: string, attachOpts: Pick<StackOptions, 'timeoutMs' | 'raise'> = {}): Promise<number> {
  const s = await attach(t, attachOpts.timeoutMs, attachOpts.raise);
  // Every string in the heap is in it (tokens, passwords): owner-only, like a dump, written to a
  // temporary file renamed over `path` once complete (never through a symlink planted there).
  const file = beginFile(path, { what: 'heap snapshot' });
  const out = createWriteStream(path, { fd: file.fd, autoClose: false });
  let failed: Error | null = null;
  // A write that fails (a full disk: ENOSPC) is the file's error, coded and naming it (N12).
  out.on('error', (err) => (failed ??= writeError(path, { what: 'heap snapshot' }, err)));
  let bytes = 0;
  try {
    s.on('HeapProfiler.addHeapSnapshotChunk', (p: { chunk: string }) => {
      bytes += Buffer.byteLength(p.chunk);
      out.write(p.chunk);
    });
    await s.send('HeapProfiler.enable');
    // With progress: the primary sees the worker's progress through discovery's proxy, and does not
    // take the check-ins the snapshot makes it miss for a hang.
    await s.send('HeapProfiler.takeHeapSnapshot', { reportProgress: true });
    await s.send('HeapProfiler.disable');
  } catch (err) {
    failed ??= (await closedWhile(t, 'its heap snapshot was taken', err)) as Error;
  } finally {
    await new Promise<void>((r) => out.end(() => r()));
    await s.close().catch(() => undefined);
  }
  if (failed) {
    file.abort();
    throw failed;
  }
  file.commit();
  return bytes;
}
