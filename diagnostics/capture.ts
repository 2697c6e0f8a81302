// Capture at throw sites (debug mode only, never loaded otherwise): pauses V8 at throw sites
// (in app calls, timers, promises, emitters and streams alike) through a same-thread inspector
// session, within the budget of capture-budget.ts, and keeps frames with receivers and locals
// for the first throw of each error. Resume is guaranteed on every path.
import inspector from 'node:inspector';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import type { DumpPhase } from './model.js';
import type { Redactor } from './redact.js';
import type { CallRecord, Capture, Thrown } from './call-record.js';
import { CaptureBudget } from './capture-budget.js';
import { culpritIndex } from './culprit.js';
import { madeElsewhere, madeLine } from './stack-text.js';
import { THROWN_KEY, kAttachable, kOwnCode, kResumeRequested, kThrown, noteRunTimeFlag } from '../server/shared-names.js';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isAbsolute, resolve } from 'node:path';
import { originOf } from './culprit.js';
import { insideTry, offsetOf } from './try-scan.js';
import { original } from './sourcemap.js';
import { FrameReader, type CallFrame, type CapturedFrame, type PropertyDescriptor, type RemoteObject, type ScriptInfo } from './frames.js';
import { SiteMutes, type Position } from './site-mutes.js';
import { ErrorStorm, STORM_LIMITS, type StormLimits } from './error-storm.js';
import { callerSites } from './app-stacks.js';
import { startRescuer, type PauseRescuer } from '../inspector/pause-rescuer.js';
import { debuggerPaused, dumpWork, heapLimitReached } from '../server/own-work.js';
import { writeHeapLimitLine } from './heap-limit.js';

export type { CapturedFrame } from './frames.js';

interface PausedParams {
  reason: string;
  data?: RemoteObject;
  callFrames: (CallFrame & { functionLocation?: Position })[];
}

export type { Capture } from './call-record.js';

export interface CaptureLimits {
  /** Frames per capture. */
  frames: number;
  /** A site is captured again only after this long. */
  perSiteMs: number;
  /** Pauses per second before pausing is switched off for a backoff. */
  globalPerSecond: number;
}

/**
 * No script is blackboxed for pausing: a throw inside node's code or an installed package, under
 * an app frame (a strict template, a validator, `createDecipheriv` with a bad key), is paused at
 * and captured with the values of the app frames below it. Whose code a frame is decides how a
 * dump shows it (culprit, one line or in full), never whether values are taken. A throw with no
 * app frame under it is resumed at once and not counted (see onPaused).
 */
export const BLACKBOX_PATTERNS: string[] = [];
/** Primitive values thrown or rejected recently, matched by value when reported. */
const PRIMITIVES_KEPT = 32;
/** URL prefix of this folder's compiled files. */
const OWN_URL = new URL('./', import.meta.url).href;
/** URL prefix of all of tspuma's compiled files (dist/: server/, diagnostics/, inspector/). */
const DIST_URL = new URL('../', import.meta.url).href;

/**
 * Whose code a script URL is: the app's, tspuma's, or a library's (node internals, an installed
 * package, nowhere). tspuma's own files are tspuma's wherever it is installed: a user has them
 * under node_modules/tspuma/, and its coded errors there are still the failure a dump is for.
 */
function urlOrigin(url: string): 'app' | 'tspuma' | 'library' {
  if (url === '' || url.startsWith('node:')) return 'library';
  if (url.startsWith(OWN_URL)) return 'tspuma';
  let file = url;
  if (url.startsWith('file:')) {
    try {
      file = fileURLToPath(url);
    } catch {
      return 'app';
    }
  }
  const origin = originOf(file);
  return origin === 'tspuma' || origin === 'app' ? origin : 'library';
}

/** What a pause's stack holds: the first app frame, the first frame that is not a library's, and who threw. */
interface StackOwners {
  /** Index of the first frame in the app's own code, or -1. */
  app: number;
  /** Index of the first frame that is the app's or tspuma's (not node's, not a package's), or -1. */
  own: number;
}

export interface CapturerDeps {
  /** The clock of the budget (ms); performance.now by default. */
  now?: () => number;
  /** The app call whose async context is running (diagnostics/attribution.ts). */
  context?: () => CallRecord | undefined;
  /** Records a throw in that call's record. */
  noteThrown?: (record: CallRecord, thrown: Thrown) => void;
  /** Records in that call's record an error V8 paused at with no app frame (resumed, not captured). */
  noteSeen?: (record: CallRecord, value: unknown) => void;
  /** Whether a dump of this site (file:line) was emitted already (the sinks count its repeats). */
  dumped?: (site: string) => boolean;
  /** How many times the failure of this site's dump has happened (undefined: no dump of it): a muted site's window is renewed while it grows (site-mutes.ts). */
  count?: (site: string) => number | undefined;
  /** The error-storm back-off's limits (error-storm.ts's STORM_LIMITS by default). */
  storm?: StormLimits;
}

/**
 * Durations (ms) of the last `size` handled pauses, for the cost line printed at exit: what a
 * throw costs in debug mode, as measured in this process.
 */
export class Timings {
  private readonly ring: Float64Array;
  private count = 0;
  constructor(size = 4096) {
    this.ring = new Float64Array(size);
  }
  add(ms: number): void {
    this.ring[this.count++ % this.ring.length] = ms;
  }
  get n(): number {
    return this.count;
  }
  /** The q-quantile (0..1) of the kept durations; null when there are none. */
  quantile(q: number): number | null {
    const kept = this.ring.slice(0, Math.min(this.count, this.ring.length)).sort();
    return kept.length === 0 ? null : kept[Math.min(kept.length - 1, Math.floor(q * kept.length))]!;
  }
}

/**
 * A marker below, made with no stack: V8's pause event describes a thrown Error by its stack
 * text, and with source maps on Node maps each frame of it (parsing the source map of every file
 * on the stack, about 10 ms at a -d boot's listen snapshot). The pause handler reads the frames
 * from the debugger, never from this text.
 */
function stackless<T extends Error>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Thrown and caught on purpose to photograph the frames of a call site (listen). */
export class SnapshotMarker extends Error {}

/** Thrown and caught on purpose to learn whether V8 still pauses at throws (see pausingTaken). */
export class PausingCheck extends Error {}

/** Thrown and caught on purpose to look for the error the app's frames hold (see heldError). */
export class HeldErrorLook extends Error {}

/** App frames looked through for a held error, from the top; scopes of these kinds in each. */
const HELD_FRAMES = 6;
const HELD_SCOPES = new Set(['local', 'block', 'catch']);
/** Frames read for an app frame before a held-error look: a stack this deep with none of the app's is looked through all the same. */
const HELD_STACK = 64;

/**
 * Where the app's code answering is: the first app frame on the caller's stack (the frames a
 * held-error look reads), as its file, line and column (`file:line:column`); '' for a stack this
 * deep with none of the app's in reach (looked through all the same); null with no app frame.
 */
export function answeringFrame(): string | null {
  const sites = callerSites(HELD_STACK);
  for (const site of sites) {
    const file = site.getFileName() ?? '';
    if (urlOrigin(file) === 'app') return `${file}:${site.getLineNumber() ?? 0}:${site.getColumnNumber() ?? 0}`;
  }
  return sites.length >= HELD_STACK ? '' : null;
}

/** What heldError answers when looks are over their rate: nothing is known either way. */
export const LOOK_SKIPPED = Symbol('tspuma.lookSkipped');
/** Looks (one pause each) per second at most, whatever the app does. */
const HELD_LOOKS_PER_SECOND = 20;

/**
 * How often capture posts its pause-on-exceptions state again while pausing is on. The state is
 * one per isolate, shared by every session: the last `Debugger.setPauseOnExceptions` from any of
 * them wins (measured on Node 20, V8 11.3: a second session's `none` stops the first's pauses;
 * its `Debugger.disable` or its leaving does not). A client on discovery is kept from changing
 * it (inspector/bridge.ts); one attached to a worker's own port directly is undone within this.
 * Posted on this timer only once the process has an inspector port of its own open (inspector.url():
 * a worker's direct port, --inspect, the app's inspector.open()), seen when the process becomes
 * attachable or at a pause: a client on discovery's bridge (`-d`'s default) cannot change the
 * state, and without a port the only other sessions are the app's own, in-process, whose effect
 * on a failure pausingTaken tells and undoes. Each post is about 20 µs of protocol work, four a second whether
 * the process serves or idles (under callgrind's pace about 1,500 instructions a request).
 */
export const REASSERT_MS = 250;

let localsKept = false;

/**
 * Optimized code (TurboFan) keeps only the values it still needs: at a throw in a function V8 has
 * optimized (a helper called in a per-request loop, after a few thousand requests), the locals it
 * dropped read as undefined (`unit=undefined total=undefined` beside 'total 12000', review9.12).
 * Without the liveness analysis every local stays in the frame's state, so the dump has them. Set
 * once the process serves (serving()), not at start(): a V8 flag changed at run time changes the
 * flag hash node's embedded code cache was made under, so every node builtin compiled after it
 * compiles from source, the .ts module-hooks thread's whole isolate included (a -d boot of a .ts
 * app about 30 ms of CPU more, of an Express .ts app about 55 ms). Functions are optimized after
 * many calls, in serving; code optimized before the flag is not affected.
 */
function keepOptimizedLocals(): void {
  if (localsKept) return;
  localsKept = true;
  // A value V8 still has none for (a let/const not reached yet, code optimized before this)
  // comes without one, not as undefined: frames.ts shows it as VALUE_UNAVAILABLE. A flag of V8's
  // debugger, set here beside the other so the flag hash changes once. Both noted, so the chunks'
  // code caches are made under the flags their scripts were compiled under (server/chunk-run.ts).
  for (const flag of [['--no-analyze-environment-liveness', '--analyze-environment-liveness'], ['--experimental-value-unavailable', '--no-experimental-value-unavailable']] as const) {
    setFlagsFromString(flag[0]);
    noteRunTimeFlag(flag);
  }
}

export class Capturer {
  private readonly session = new inspector.Session();
  private pausing = false;
  /** Whether V8 pauses at throws now (off before start, after stop, and while the rate is tripped). */
  get pausingNow(): boolean {
    return this.pausing;
  }
  private started = false;
  private readonly phases: DumpPhase[] = [];
  private readonly budget: CaptureBudget;
  /** Errors thrown again at an already-captured site -> that site's key (no new capture). */
  private readonly repeatSite = new WeakMap<object, string>();
  private readonly byError = new WeakMap<object, Capture>();
  /** Recent primitive throws and rejections (`reject('timeout')`), newest last. */
  private readonly primitives: { key: string; capture: Capture | null; site: string | null }[] = [];
  private backoffTimer: NodeJS.Timeout | null = null;
  /** Ends an error-storm back-off (error-storm.ts). */
  private stormTimer: NodeJS.Timeout | null = null;
  /** The error-storm back-off: pausing off while muted repeats come faster than its rate. */
  readonly storm: ErrorStorm;
  /** Whether pausing is off for an error-storm back-off now (set when one starts, cleared by refresh). */
  private storming = false;
  private lastSnapshot: Capture | null = null;
  /** Posts the state again every REASSERT_MS (once the process has an inspector port of its own). */
  private reassertTimer: NodeJS.Timeout | null = null;
  /** Resumes a capture pause an outside client holds (inspector/pause-rescuer.ts). */
  private rescuer: PauseRescuer | null = null;
  /** Capture pauses the rescuers of stopped runs resumed. */
  private rescued = 0;
  /** Set by onPaused when a PausingCheck marker paused. */
  private checkPaused = false;
  private lastCheck = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;
  readonly stats = { pauses: 0, captures: 0, repeats: 0, rethrows: 0, throttled: 0, skipped: 0, failures: 0, trips: 0, ownCode: 0, muted: 0, reasserted: 0, checks: 0 };
  /** Functions whose throw site was captured and repeated: V8 does not pause in them for the window. */
  readonly mutes: SiteMutes;
  /** Pause to resume, for every pause this session handled, and for those that built a capture. */
  readonly pauseTimes = new Timings();
  readonly captureTimes = new Timings();

  constructor(
    private readonly limits: CaptureLimits,
    redactor: Redactor,
    private readonly onFailure: (err: unknown) => void,
    private readonly deps: CapturerDeps = {},
  ) {
    this.reader = new FrameReader(redactor);
    this.redactor = redactor;
    this.now = deps.now ?? (() => performance.now());
    this.budget = new CaptureBudget(limits, this.now);
    this.storm = new ErrorStorm(deps.storm ?? STORM_LIMITS, this.now);
    this.mutes = new SiteMutes((method, params) => this.post(method, params), limits.perSiteMs, (scriptId) => this.source(scriptId), deps.count);
  }

  /** scriptId -> URL: CallFrame.url is empty in current V8, so scripts are tracked as they parse. */
  private readonly scripts = new Map<string, ScriptInfo>();
  private readonly reader: FrameReader;
  /** The configured rules (the `redact` names too), for the heap-limit line's request URL. */
  private readonly redactor: Redactor;

  /** Pausing is on from here on, whenever the budget allows: throws outside app calls count too. */
  start(): void {
    this.session.connect();
    this.session.on('Debugger.scriptParsed', (message: { params: { scriptId: string; url: string; length?: number } }) => {
      const { scriptId, url, length } = message.params;
      if (url) this.scripts.set(scriptId, length !== undefined && url.startsWith(DIST_URL) ? { url, length } : { url });
    });
    this.post('Debugger.enable');
    this.post('Debugger.setBlackboxPatterns', { patterns: BLACKBOX_PATTERNS });
    this.session.on('Debugger.paused', (message: { params: PausedParams }) => dumpWork(() => this.onPaused(message.params)));
    // A pause someone else asked for, until it ends: a blocked-loop warning names the debugger (N9).
    this.session.on('Debugger.resumed', () => {
      if (this.othersPauseAt === null) return;
      debuggerPaused(this.othersPauseAt, performance.now());
      this.othersPauseAt = null;
    });
    this.started = true;
    this.refresh();
    (globalThis as Record<symbol, unknown>)[kOwnCode] = this.ownCode;
    // A process with an outside client (discovery's bridge, a worker's port): Node waits in its
    // pause loop for a resume from outside the thread, and a client that never resumes would hold
    // every capture pause (a request hung at a throw). The rescuer thread resumes a capture pause
    // still held RESCUE_MS after capture was done with it. It starts once such a client can come
    // (the process opened an inspector): a thread of its own costs about 30 ms of CPU at boot, for
    // nothing in a process nothing can attach to (--inspect=off; SIGUSR1 opens none under tspuma).
    const g = globalThis as Record<symbol, unknown>;
    if (g[kAttachable] === true || inspector.url() !== undefined) this.watchOutsideClients();
    g[kAttachable] = this.watchOutsideClients;
  }

  /** Starts the pause rescuer and the state's re-posting (once): the process can be attached from outside from now on. */
  private readonly watchOutsideClients = (): void => {
    if (!this.started) return;
    if (this.rescuer === null) this.rescuer = startRescuer();
    if (this.reassertTimer === null && inspector.url() !== undefined) {
      this.reassertTimer = setInterval(() => this.assertPausing(), REASSERT_MS);
      this.reassertTimer.unref();
    }
  };

  /** Whether the pause rescuer runs (once the process can be attached from outside). */
  get rescuing(): boolean {
    return this.rescuer !== null;
  }

  /** Posts pause-on-exceptions `all` again while pausing is on (a client may have set another state). */
  private assertPausing(): void {
    if (this.started && this.pausing) this.post('Debugger.setPauseOnExceptions', { state: 'all' });
  }

  /**
   * Whether another session took pausing away: with pausing on, a throw made here on purpose did
   * not pause. Then the state is posted again (the next throws pause) and true returned: a failure
   * with no capture had no values because of that session (a DevTools client's own
   * pause-on-exceptions setting), which its dump says. One pause (~0.2 ms) when pausing works;
   * false without a check when one ran within REASSERT_MS.
   */
  pausingTaken(): boolean {
    if (!this.started || !this.pausing) return false;
    // At most once per REASSERT_MS: a failure made without a throw (next(err)) in a loop costs no pauses.
    const now = this.now();
    if (now - this.lastCheck < REASSERT_MS) return false;
    this.lastCheck = now;
    this.checkPaused = false;
    this.stats.checks++;
    try {
      throw stackless(() => new PausingCheck('pausing check'));
    } catch {
      /* onPaused saw it, or nothing paused */
    }
    if (this.checkPaused) return false;
    this.assertPausing();
    this.stats.reasserted++;
    return true;
  }

  /**
   * Runs synchronous tspuma code with pausing off (server/shared-names.ts ownCode): its own
   * caught throws never pause the process. Two toggles, ~20 µs each; nothing else runs meanwhile.
   */
  readonly ownCode = <T>(fn: () => T): T => {
    if (!this.pausing) return fn();
    this.setPausing(false);
    this.stats.ownCode++;
    try {
      return fn();
    } finally {
      this.refresh();
    }
  };


  stop(): void {
    const g = globalThis as Record<symbol, unknown>;
    if (g[kOwnCode] === this.ownCode) delete g[kOwnCode];
    // Attachable stays known to a capture started later in this process.
    if (g[kAttachable] === this.watchOutsideClients) g[kAttachable] = this.rescuer !== null || undefined;
    this.started = false;
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    if (this.stormTimer) clearTimeout(this.stormTimer);
    if (this.reassertTimer) clearInterval(this.reassertTimer);
    this.reassertTimer = null;
    this.rescued += this.rescuer?.rescued ?? 0;
    void this.rescuer?.close();
    this.rescuer = null;
    this.mutes.clear();
    try {
      this.post('Debugger.setPauseOnExceptions', { state: 'none' });
      this.session.disconnect();
    } catch {
      /* already gone */
    }
  }

  /** Same-thread sessions answer synchronously. */
  private post<T = unknown>(method: string, params?: object): T {
    let error: Error | null = null;
    let result: T | undefined;
    this.session.post(method, params ?? {}, (err: Error | null, res?: object) => {
      error = err;
      result = res as T;
    });
    if (error) throw error;
    return result as T;
  }

  private setPausing(on: boolean): void {
    if (on === this.pausing) return;
    this.post('Debugger.setPauseOnExceptions', { state: on ? 'all' : 'none' });
    this.pausing = on;
  }

  private refresh(): void {
    if (this.storming && !this.storm.on()) this.storming = false;
    this.setPausing(this.started && !this.storming && this.budget.pausingAllowed());
  }

  /** Whether pausing is off for an error-storm back-off (error-storm.ts). */
  get backedOff(): boolean {
    return this.storming;
  }

  /**
   * A failure was counted as a repeat of a dump with nothing paused at while pausing was on (a
   * muted function's throw). True when it starts an error-storm back-off: pausing is off from now
   * until the storm's period ends or calm() (error-storm.ts).
   */
  mutedRepeat(): boolean {
    if (!this.started || !this.pausing || !this.storm.repeat()) return false;
    this.storming = true;
    this.setPausing(false);
    if (this.stormTimer) clearTimeout(this.stormTimer);
    this.refreshWhenDue(() => this.storm.until, (t) => (this.stormTimer = t));
    return true;
  }

  /**
   * A failure that is no known repeat was reported during a back-off: pausing goes on again at
   * once, so that failure's next throw pauses and is captured. False when no back-off was on.
   */
  calm(): boolean {
    if (!this.storming) return false;
    this.storm.calm();
    if (this.stormTimer) clearTimeout(this.stormTimer);
    this.stormTimer = null;
    this.refresh();
    return true;
  }

  /** The process has begun serving: a trip of the boot's throws no longer holds pausing off (CaptureBudget.forgive), and optimized code keeps its locals from now on (keepOptimizedLocals). */
  serving(): void {
    keepOptimizedLocals();
    this.budget.forgive();
    this.refresh();
  }

  /** A phase begins: captures taken until leave() are labelled with it (the default is `app`). */
  enter(phase: DumpPhase): void {
    this.phases.push(phase);
  }

  leave(): void {
    this.phases.pop();
  }

  /** Runs fn inside a phase. */
  scope<T>(phase: DumpPhase, fn: () => T): T {
    this.enter(phase);
    try {
      return fn();
    } finally {
      this.leave();
    }
  }

  /**
   * The capture of `err`'s first throw: by identity for objects; for a primitive (a string
   * rejection), the latest capture of an equal value.
   */
  captureFor(err: unknown): Capture | undefined {
    if (err !== null && (typeof err === 'object' || typeof err === 'function')) return this.byError.get(err);
    const key = primitiveKey(err);
    for (let i = this.primitives.length - 1; i >= 0; i--) if (this.primitives[i]!.key === key) return this.primitives[i]!.capture ?? undefined;
    return undefined;
  }

  /**
   * The first Error held in a local of an app frame on the caller's stack (an error handler's
   * `err` as it answers a 5xx), found through one pause made on purpose; undefined when none is,
   * or when pausing is off; LOOK_SKIPPED when looks are over their own rate (HELD_LOOKS_PER_SECOND).
   */
  heldError(answering: string | null = answeringFrame()): unknown {
    if (!this.started || !this.pausing) return undefined;
    // The look reads app frames only: with none on the stack (Express's own error handler answering
    // a route's throw, a muted repeat's 500), it could find nothing, so no pause is made for it.
    if (answering === null) return undefined;
    if (!this.lookAllowed()) return LOOK_SKIPPED;
    this.held = undefined;
    try {
      throw stackless(() => new HeldErrorLook('held error'));
    } catch {
      /* the pause handler looked */
    }
    const held = this.held;
    this.held = undefined;
    return held;
  }

  /** What lookForHeld found in the pause heldError made. */
  private held: unknown = undefined;
  /** Looks for a held error in the current second, and that second: a budget of their own, so looks never use up the captures'. */
  private looks = { second: -1, count: 0 };

  private lookAllowed(): boolean {
    const second = Math.floor(this.now() / 1000);
    if (second !== this.looks.second) this.looks = { second, count: 0 };
    return ++this.looks.count <= HELD_LOOKS_PER_SECOND;
  }

  private lookForHeld(callFrames: CallFrame[]): void {
    this.stats.pauses++;
    const started = performance.now();
    try {
      let looked = 0;
      for (const cf of callFrames) {
        const url = cf.url || this.scripts.get(cf.location.scriptId)?.url || '';
        if (url.startsWith(OWN_URL) || urlOrigin(url) !== 'app') continue;
        if (++looked > HELD_FRAMES) break;
        for (const scope of cf.scopeChain) {
          if (!HELD_SCOPES.has(scope.type) || !scope.object.objectId) continue;
          const { result } = this.post<{ result: PropertyDescriptor[] }>('Runtime.getProperties', { objectId: scope.object.objectId, ownProperties: true });
          const error = result.find((p) => p.value?.subtype === 'error' && p.value.objectId);
          if (error) {
            this.held = this.thrownValue(error.value);
            return;
          }
        }
      }
    } catch (err) {
      this.stats.failures++;
      this.onFailure(err);
    } finally {
      this.resume(callFrames[0]?.location);
      this.pauseTimes.add(performance.now() - started);
    }
  }

  /** Photographs the caller's frames with their values (used at listen(), whose errors arrive later). */
  snapshot(phase: DumpPhase): Capture | null {
    this.lastSnapshot = null;
    this.scope(phase, () => {
      try {
        throw stackless(() => new SnapshotMarker('snapshot'));
      } catch {
        /* the pause handler took the photograph */
      }
    });
    return this.lastSnapshot;
  }

  /** The site key of an error thrown at a site captured shortly before (a counted repeat). */
  siteFor(err: unknown): string | undefined {
    if (err !== null && typeof err === 'object') return this.repeatSite.get(err);
    const key = primitiveKey(err);
    for (let i = this.primitives.length - 1; i >= 0; i--) if (this.primitives[i]!.key === key) return this.primitives[i]!.site ?? undefined;
    return undefined;
  }

  /**
   * Runs refresh() once the budget's clock has reached `until()`. A timer may fire up to a
   * millisecond early by that clock (libuv counts whole milliseconds, performance.now does not),
   * and a refresh that came early left pausing off with no timer to turn it back on: every later
   * failure went uncaptured (review10.7). An early run sets the timer again for what is left.
   */
  private refreshWhenDue(until: () => number, keep: (timer: NodeJS.Timeout) => void): void {
    const left = until() - this.now();
    if (left <= 0 || !this.started) return this.refresh();
    const timer = setTimeout(() => this.refreshWhenDue(until, keep), Math.ceil(left));
    timer.unref();
    keep(timer);
  }

  private trip(): void {
    this.stats.trips++;
    this.setPausing(false);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.refreshWhenDue(() => this.budget.backoffUntil, (t) => (this.backoffTimer = t));
  }

  /** The first app frame and the first frame that is the app's or tspuma's (this folder's frames skipped). */
  private owners(callFrames: CallFrame[]): StackOwners {
    let own = -1;
    for (let i = 0; i < callFrames.length; i++) {
      const cf = callFrames[i]!;
      const url = cf.url || this.scripts.get(cf.location.scriptId)?.url || '';
      if (url.startsWith(OWN_URL)) continue;
      const origin = urlOrigin(url);
      if (origin === 'library') continue;
      if (own < 0) own = i;
      if (origin === 'app') return { app: i, own };
    }
    return { app: -1, own };
  }

  /** The heap-limit line was written (once a process: V8 raises the limit once). */
  private heapLimitTold = false;

  /** V8's pause at the heap limit: the one line of heap-limit.ts, with the first app frame mapped to its source. */
  private heapLimit(callFrames: CallFrame[]): void {
    if (this.heapLimitTold) return;
    this.heapLimitTold = true;
    let frame: string | null = null;
    try {
      const cf = callFrames[this.owners(callFrames).app];
      if (cf) {
        const script = this.scripts.get(cf.location.scriptId);
        const o = original(cf.url || script?.url || '', cf.location.lineNumber, cf.location.columnNumber, script?.sourceMapURL);
        frame = `${cf.functionName || '(anonymous)'} (${o.file}:${o.line}:${o.column})`;
      }
    } catch {
      /* the line goes out without its frame */
    }
    writeHeapLimitLine(this.deps.context?.(), frame, undefined, this.redactor);
  }

  /** When a pause this session did not ask for began (null: none now). */
  private othersPauseAt: number | null = null;

  private onPaused(params: PausedParams): void {
    // A pause this session did not ask for (a DevTools breakpoint, `tspuma inspect stack`, a
    // debugger statement) belongs to whoever asked: leave it paused.
    const atFailure = params.reason === 'exception' || params.reason === 'promiseRejection';
    // V8's own break at the heap limit (it raises the limit for a debugger, this session being
    // one): nobody's pause, and not a debugger's in a blocked-loop warning (review9.2).
    // In single mode nothing else names the request it happened in: one line now (review10.5).
    if (params.reason === 'OOM') {
      heapLimitReached(performance.now());
      return this.heapLimit(params.callFrames);
    }
    if (!atFailure) this.othersPauseAt ??= performance.now();
    if (!this.pausing || !atFailure) return;
    // pausingTaken's marker: pausing works, nothing else to do (not a pause at a failure).
    if (params.data?.className === 'PausingCheck') {
      this.checkPaused = true;
      return this.resume(params.callFrames[0]?.location);
    }
    if (params.data?.className === 'HeldErrorLook') return this.lookForHeld(params.callFrames);
    this.stats.pauses++;
    const started = performance.now();
    let built = false;
    // The deliberate throw that photographs a listen() call: not a failure, so not timed.
    const snapshot = params.data?.className === 'SnapshotMarker';
    try {
      const { app, own } = this.owners(params.callFrames);
      if (snapshot) {
        if (own < 0) return;
        this.lastSnapshot = this.build(params);
        built = true;
        this.stats.captures++;
        return;
      }
      // With no app frame on the stack, a throw is node's, a package's (a promise rejected from
      // its own code, an evaluation a DevTools client ran) or tspuma's own (a port-holder scan
      // reading /proc, a probe at boot): resumed at once and never counted towards the rate, so
      // none of it can switch pausing off for the app's first failure. tspuma's own throws are
      // captured only when they are the failure a dump is for: a coded error (a bad option, a
      // listen error) or a throw inside a phase tspuma dumps (a deadline sweep, a hook).
      if (app < 0) {
        const phase = this.phases[this.phases.length - 1];
        const tspumaFailure = own >= 0 && (params.data?.className === 'TspumaError' || (phase !== undefined && phase !== 'app'));
        if (!tspumaFailure) {
          this.stats.skipped++;
          // Kept, uncaptured, in the call it happened in: if the app then answers a 5xx and says
          // nothing more (Hono's c.req.json() on a malformed body, an app.onError that logs only
          // the message), this is what tspuma knows of why.
          const record = params.data?.subtype === 'error' ? this.deps.context?.() : undefined;
          if (record && this.deps.noteSeen) this.deps.noteSeen(record, this.thrownValue(params.data));
          return;
        }
      }
      const thrown = this.thrownValue(params.data);
      const isObject = thrown !== null && (typeof thrown === 'object' || typeof thrown === 'function');
      // The first throw wins: a re-throw, a re-emit or a re-rejection of the same error only
      // counts, and is not held against the rate (node:events and the streams re-throw).
      if (isObject && (this.byError.has(thrown as object) || this.repeatSite.has(thrown as object))) {
        this.stats.rethrows++;
        return;
      }
      // Every throw with an app frame counts towards the budget: past the rate, pausing goes off
      // for a backoff. tspuma's own failures (boot, a sweep) are not the app's and never count.
      if (app >= 0 && !this.budget.admit()) {
        this.stats.throttled++;
        this.trip();
        return;
      }
      const record = this.deps.context?.();
      const top = params.callFrames[0]!.location;
      const at = params.callFrames[app >= 0 ? app : own]!.location;
      // Keyed by where the error was made too: a catch-all that re-throws (an error middleware)
      // throws many errors made elsewhere at one line, and each is its own failure. And by the
      // frame that threw: node's code or a package throwing under one app line for two reasons.
      const key = `${top.scriptId}:${top.lineNumber}:${top.columnNumber}|${at.scriptId}:${at.lineNumber}:${at.columnNumber}${isObject ? `|${madeLine(thrown)}` : ''}`;
      let capture: Capture | null = null;
      let site: string | null = null;
      // A site whose window is over but whose dump the sinks hold is a repeat all the same: a
      // capture would be built into a dump, then dropped as a repeat (a pause reading every
      // frame's scopes, 65-276 ms at load 21-28, once a window per failing site, for nothing).
      const verdict = this.budget.site(key);
      const dumped = verdict === 'capture' ? this.siteKeys.get(key) : undefined;
      if (verdict === 'repeat' || (dumped !== undefined && this.deps.dumped?.(dumped) === true)) {
        this.stats.repeats++;
        site = this.siteKeys.get(key) ?? null;
        if (isObject && site) this.repeatSite.set(thrown as object, site);
        // A site that repeats within its window is hot: its function (the app's, where it threw)
        // stops pausing until the window ends, so the next repeats cost a plain throw.
        const fn = params.callFrames[0]!.functionLocation;
        if (app === 0 && fn && !this.mutes.has(fn) && this.mutes.mute(fn, { error: thrown, site })) this.stats.muted++;
      } else {
        capture = this.build(params, thrown);
        built = true;
        this.storm.captured();
        capture.request = record?.req ?? null;
        this.stats.captures++;
        if (this.siteKeys.size > 10_000) this.siteKeys.clear();
        this.siteKeys.set(key, capture.site);
        this.bySite.set(capture.site, capture);
        if (this.bySite.size > 1000) this.bySite.delete(this.bySite.keys().next().value!);
        if (isObject) this.byError.set(thrown as object, capture);
      }
      if (!isObject) {
        if (this.primitives.length >= PRIMITIVES_KEPT) this.primitives.shift();
        this.primitives.push({ key: primitiveKey(thrown), capture, site });
      }
      if (record) {
        this.deps.noteThrown?.(record, { value: thrown, capture, site });
        if (capture) {
          capture.url = record.url;
          if (record.remote !== undefined) capture.remote = record.remote;
        }
      }
    } catch (err) {
      this.stats.failures++;
      this.onFailure(err);
    } finally {
      this.resume(params.callFrames[0]?.location);
      if (!snapshot) {
        const ms = performance.now() - started;
        this.pauseTimes.add(ms);
        if (built) this.captureTimes.add(ms);
      }
    }
  }

  /** Resumes the pause being handled: the last thing its handler does. */
  private resume(top?: CallFrame['location']): void {
    try {
      this.post('Debugger.resume');
      // An inspector the app opened itself (inspector.open()) can bring an outside client too.
      if ((this.rescuer === null || this.reassertTimer === null) && inspector.url() !== undefined) this.watchOutsideClients();
      if (top) this.rescuer?.claim(top);
      // With an outside session attached, Node waits for this resume from another thread (inspector/probe-resumer.ts).
      const resumer = (globalThis as Record<symbol, unknown>)[kResumeRequested];
      if (typeof resumer === 'function') (resumer as () => void)();
    } catch (err) {
      this.onFailure(err);
    }
  }

  /** Dump site -> the latest capture taken there (a cause thrown at a site captured earlier in the window). */
  private readonly bySite = new Map<string, Capture>();

  /** The capture taken at a dump site (`file:line`) in the current window, if any. */
  captureAt(site: string): Capture | undefined {
    return this.bySite.get(site);
  }

  /** V8 site (script:line:column) -> the dump site key of its capture. */
  private readonly siteKeys = new Map<string, string>();

  /** What pausing cost in this process, as the fields of its log record (costLine() in numbers), or null if it never paused. */
  costRecord(): Record<string, number> | null {
    if (this.pauseTimes.n === 0) return null;
    const ms = (t: Timings, q: number) => Math.round(t.quantile(q)! * 100) / 100;
    return {
      pauses: this.pauseTimes.n,
      pauseP50Ms: ms(this.pauseTimes, 0.5),
      pauseP99Ms: ms(this.pauseTimes, 0.99),
      captures: this.captureTimes.n,
      ...(this.captureTimes.n > 0 ? { captureP50Ms: ms(this.captureTimes, 0.5), captureP99Ms: ms(this.captureTimes, 0.99) } : {}),
      repeats: this.stats.repeats,
      throttled: this.stats.throttled,
      rethrows: this.stats.rethrows,
      noAppFrame: this.stats.skipped,
      muted: this.stats.muted,
      rescued: this.rescued + (this.rescuer?.rescued ?? 0),
      ...(this.storm.storms > 0 ? { storms: this.storm.storms, calmed: this.storm.calmed } : {}),
    };
  }

  /** One line on what pausing cost in this process, or null if it never paused. */
  costLine(): string | null {
    if (this.pauseTimes.n === 0) return null;
    const rescued = this.rescued + (this.rescuer?.rescued ?? 0);
    const f = (t: Timings) => `p50 ${t.quantile(0.5)!.toFixed(2)} ms, p99 ${t.quantile(0.99)!.toFixed(2)} ms`;
    const built = this.captureTimes.n > 0 ? `; ${this.captureTimes.n} built a capture: ${f(this.captureTimes)}` : '';
    const extra = `${this.stats.rethrows > 0 ? `; ${this.stats.rethrows} re-throw(s) of a captured error` : ''}${this.stats.skipped > 0 ? `; ${this.stats.skipped} with no app frame` : ''}${this.stats.muted > 0 ? `; ${this.stats.muted} function(s) muted after a repeat (their later throws did not pause)` : ''}${rescued > 0 ? `; ${rescued} held by a debugger client that did not resume, resumed by tspuma` : ''}${this.storm.storms > 0 ? `; pausing off ${this.storm.storms} time(s) for an error storm (muted repeats over ${this.storm.perSecond} a second), ${this.storm.calmed} ended early by a new failure` : ''}`;
    return `tspuma: debug capture cost: ${this.pauseTimes.n} pause(s) at throws: ${f(this.pauseTimes)}${built}; ${this.stats.repeats} repeat(s) and ${this.stats.throttled} throttled (rate limit)${extra}`;
  }

  /** The thrown JS value itself, fetched through the protocol while paused. */
  private thrownValue(data: RemoteObject | undefined): unknown {
    if (!data) return null;
    if (!data.objectId) return data.type === 'undefined' ? undefined : data.subtype === 'null' ? null : data.unserializableValue ?? data.value;
    const g = globalThis as Record<symbol, unknown>;
    this.post('Runtime.callFunctionOn', {
      objectId: data.objectId,
      functionDeclaration: `function () { globalThis[Symbol.for(${JSON.stringify(THROWN_KEY)})] = this; }`,
    });
    const value = g[kThrown];
    delete g[kThrown];
    return value;
  }

  private build(params: PausedParams, thrown?: unknown): Capture {
    const { frames, redactions } = this.reader.read(params.callFrames, {
      frames: this.limits.frames,
      scripts: this.scripts,
      skipUrl: OWN_URL, // the diagnostics layer's own frames (scope, snapshot)
      // The whole answer: a function's internal [[FunctionLocation]] names where it is defined.
      properties: (objectId) => this.post<{ result: PropertyDescriptor[]; internalProperties?: PropertyDescriptor[]; privateProperties?: PropertyDescriptor[] }>('Runtime.getProperties', { objectId, ownProperties: true, generatePreview: true }),
      call: (objectId, functionDeclaration) => this.post<{ result: { value?: unknown } }>('Runtime.callFunctionOn', { objectId, functionDeclaration, returnByValue: true }).result.value,
      source: (scriptId) => this.source(scriptId),
    });
    const phase = this.phases[this.phases.length - 1] ?? 'app';
    // Dumps are grouped by the culprit's line: a throw re-emitted by node:events or a stream
    // still groups under the app line it started at.
    // An error made elsewhere and first thrown here (re-thrown by a catch-all) groups under
    // where it was made, as it would have without the catch-all.
    const at = frames[culpritIndex(frames)] ?? frames[0];
    const siteOf = (): string => (at ? `${at.file}:${at.line}` : phase);
    const caughtBy = params.reason === 'exception' ? this.caughtInApp(params.callFrames) : null;
    if (thrown === undefined) {
      // A snapshot (listen's): used only if that listen fails, so its site, which reads the
      // culprit frame's source-mapped line, is worked out then.
      const capture = { phase, reason: params.reason, site: '', frames, redactions, ...(caughtBy ? { caughtBy } : {}) };
      let site: string | null = null;
      return Object.defineProperty(capture, 'site', {
        enumerable: true,
        get: () => (site ??= siteOf()),
        set: (value: string) => {
          site = value;
        },
      });
    }
    const thrownAt = siteOf();
    const made = at && thrown !== null && typeof thrown === 'object' ? madeElsewhere(thrown, thrownAt, this.limits.frames) : null;
    const site = made ?? thrownAt;
    return { phase, reason: params.reason, site, frames, redactions, ...(made !== null && this.madeInAnotherThread(thrown) ? { madeInThread: true } : {}), ...(caughtBy ? { caughtBy } : {}) };
  }

  /** Script sources read for the try scan, by script id (a few, the latest kept). */
  private readonly sources = new Map<string, string | null>();

  private source(scriptId: string): string | null {
    if (this.sources.has(scriptId)) return this.sources.get(scriptId)!;
    let text: string | null = this.ownFileSource(scriptId);
    if (text === null) {
      try {
        text = this.post<{ scriptSource: string }>('Debugger.getScriptSource', { scriptId }).scriptSource;
      } catch {
        text = null;
      }
    }
    if (this.sources.size >= 32) this.sources.delete(this.sources.keys().next().value!);
    this.sources.set(scriptId, text);
    return text;
  }

  /**
   * A script of tspuma's own (a chunk of dist/): the text server/chunk-run.ts compiled under its
   * URL, else its file's, when that text has the length V8 reported for the script (a loader that changed it gives another length); else null.
   * Through the protocol a 230 KB chunk's source cost ~20 ms of CPU at load 17, at every -d boot
   * (the listen snapshot's frames are tspuma's: the async-arrow check reads their script); the file
   * ~0.3 ms.
   */
  private ownFileSource(scriptId: string): string | null {
    const info = this.scripts.get(scriptId);
    if (info?.length === undefined) return null;
    // A chunk run from its code file under its shell's URL (server/chunk-run.ts): the text it ran.
    const ran = (globalThis as Record<symbol, Map<string, string> | undefined>)[Symbol.for('tspuma.chunkSources')]?.get(info.url);
    if (ran !== undefined) return ran.length === info.length ? ran : null;
    try {
      const text = readFileSync(new URL(info.url), 'utf8');
      return text.length === info.length ? text : null;
    } catch {
      return null;
    }
  }

  /**
   * The app frame (from the first app frame down, while frames are the app's) whose position is
   * inside a try block of its own function: the app catches this throw itself. Null otherwise.
   */
  private caughtInApp(callFrames: CallFrame[]): string | null {
    const { app } = this.owners(callFrames);
    if (app < 0) return null;
    for (let i = app; i < callFrames.length; i++) {
      const cf = callFrames[i]!;
      const script = this.scripts.get(cf.location.scriptId);
      const url = cf.url || script?.url || '';
      if (url.startsWith(OWN_URL)) continue;
      if (urlOrigin(url) !== 'app') break;
      const src = this.source(cf.location.scriptId);
      if (src === null) continue;
      const start = cf.scopeChain.find((s) => s.type === 'local')?.startLocation;
      const from = start ? offsetOf(src, start.lineNumber, start.columnNumber) : 0;
      if (insideTry(src, from, offsetOf(src, cf.location.lineNumber, cf.location.columnNumber))) {
        const o = original(url, cf.location.lineNumber, cf.location.columnNumber, script?.sourceMapURL);
        return `${o.file}:${o.line}`;
      }
    }
    return null;
  }

  /**
   * Whether none of the files an error's stack text names (as V8 wrote them, before source maps)
   * is a script this thread has loaded: it was made in another thread (a worker_threads worker)
   * and cloned here. An error made in a module both threads load is taken as made here.
   */
  private madeInAnotherThread(err: unknown): boolean {
    const files = stackFiles(err);
    if (files.length === 0) return false;
    const loaded = new Set<string>();
    for (const s of this.scripts.values()) loaded.add(fileUrl(s.url));
    // tspuma's own files run in every thread: its stacks name their .ts sources (source maps on),
    // not the compiled scripts this thread loaded.
    return !files.some((f) => loaded.has(fileUrl(f)) || isOwnFile(f));
  }
}

/** A script's URL or path as a file: URL without its query (tsx adds one), for comparing the two spellings. */
function fileUrl(urlOrPath: string): string {
  const bare = urlOrPath.replace(/[?#].*$/, '');
  return isAbsolute(bare) ? pathToFileURL(bare).href : bare;
}

/** A stack's file (a path or a file: URL) in tspuma's own code. */
function isOwnFile(f: string): boolean {
  try {
    return originOf(f.startsWith('file:') ? fileURLToPath(f) : f) === 'tspuma';
  } catch {
    return false;
  }
}

/** The files an error's stack text names, node's own left out. */
function stackFiles(err: unknown): string[] {
  let stack: unknown;
  try {
    stack = (err as { stack?: unknown } | null)?.stack;
  } catch {
    return [];
  }
  if (typeof stack !== 'string') return [];
  const files: string[] = [];
  for (const line of stack.split('\n').slice(1, 21)) {
    const m = /^\s*at (?:.+? \()?(.+?):\d+:\d+\)?$/.exec(line);
    if (m && !m[1]!.startsWith('node:') && (m[1]!.startsWith('file:') || isAbsolute(m[1]!))) files.push(m[1]!);
  }
  return files;
}

/** The key under which a primitive thrown value is matched when it is reported. */
function primitiveKey(v: unknown): string {
  return `${typeof v}:${String(v)}`;
}
